"""The noise explorer opens as a tab beside Modes, as Training does: on the right it took half
the canvas (538 -> 270 px at 1280 x 800)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from test_app import make_window  # noqa: E402


def test_opening_the_explorer_leaves_the_canvas_its_width(qtbot, tmp_path):
    window = make_window(qtbot, None, tmp_path / "window")
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    before = window.canvas.width()
    window.explorer_dock.toggleViewAction().trigger()  # View > Noise explorer
    qtbot.waitUntil(lambda: window.explorer.isVisible())
    in_front = lambda dock: dock.geometry().left() >= 0  # noqa: E731 - a tab behind is moved off
    qtbot.waitUntil(lambda: in_front(window.explorer_dock))
    assert window.canvas.width() >= before - 2
    assert window.canvas.width() >= 0.35 * window.width()
    window.modes_dock.raise_()  # the modes are one tab away
    qtbot.waitUntil(lambda: in_front(window.modes_dock) and not in_front(window.explorer_dock))
    window.show_explorer()  # the Look inside action brings it back to the front
    qtbot.waitUntil(lambda: in_front(window.explorer_dock))
