"""The window fits a laptop screen (1366 × 768, less a task bar): the result column and the
Training dock scroll instead of raising the window's least height (766 px, 822 with Training,
before they did)."""

import sys
from pathlib import Path

from PySide6.QtWidgets import QScrollArea

sys.path.insert(0, str(Path(__file__).parent))

from test_app import make_window  # noqa: E402

LAPTOP_HEIGHT = 700  # 768 px less a task bar and the title bar


def test_the_window_fits_a_laptop_screen_with_the_training_dock_open(qtbot, tmp_path):
    window = make_window(qtbot, None, tmp_path / "window")
    window.resize(1280, 800)
    window.show()
    assert window.minimumSizeHint().height() <= LAPTOP_HEIGHT
    window.training_dock.show()
    qtbot.waitUntil(lambda: window.training_dock.isVisible())
    assert window.minimumSizeHint().height() <= LAPTOP_HEIGHT
    window.resize(1280, LAPTOP_HEIGHT)
    qtbot.waitUntil(lambda: window.height() == LAPTOP_HEIGHT)
    view = window.result_view
    assert view.apply_button.isVisible() and view.input_view.isVisible(), "in its scroll area"
    assert view.findChild(QScrollArea) is not None
    panel = window.training_panel
    assert panel.start_button.isVisible() and panel.curve.isVisible()
    for column in (view, panel):  # scrolled up and down only: never cut at the side
        scroll = column.findChild(QScrollArea)
        assert scroll.width() >= scroll.widget().minimumSizeHint().width()
        assert not scroll.horizontalScrollBar().isVisible()
