"""The table of actions (app/actions.py): the README's keys, no key twice, the menus it builds,
and keys that reach their action in a real (offscreen) window."""

import re
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QColor, QImage, QKeySequence
from PySide6.QtWidgets import QApplication, QToolButton
from test_app import make_window

from app import actions
from app.actions import BY_ID, MENUS, PLACES, PREDICATES, TABLE, key_names, resolve, sequences
from app.history import Result
from widgets.canvas import Tool

README = Path(__file__).resolve().parents[1] / "README.md"
MOUSE = ("wheel", "click", "drag")  # Ctrl+wheel, Shift+click: the mouse, not a key
# The menus as they were before the table (texts and order pinned: users' muscle memory).
TODAY = {
    "File": ["&New…", "&Open…", "Open &recent", "Open &project…", "-", "&Save project",
             "Save project &as…", "-", "&Paste image", "&Export result…", "Export &canvas…",
             "-", "&Quit"],
    "Edit": ["&Undo", "&Redo", "-", "&Copy result", "-", "Run", "Cancel run"],
    "View": ["Zoom &in", "Zoom &out", "&Fit", "&100%", "-", "T&ool options", "&Modes",
             "&History", "Noise &explorer", "&Training", "-", "&Sweep…", "View &illusion…",
             "-", "Messa&ges…"],
    "Help": ["&About Diffusion Canvas…"],
}


def normal(key: str | QKeySequence.StandardKey) -> str:
    return QKeySequence(key).toString(QKeySequence.SequenceFormat.PortableText)


def readme_keys() -> dict[str, set[str]]:
    """The README's table of keys: action label -> its keys."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### Keys", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    found: dict[str, set[str]] = {}
    for line in rows:
        keys, label = (cell.strip() for cell in line.strip("|").split(" | "))
        names = re.findall(r"`([^`]+)`", keys)
        for name in names:  # written as Qt writes it, so a misspelt key cannot pass
            assert QKeySequence(name).toString() == name, f"README: {name!r} is no key"
        assert label not in found, f"README lists {label} twice"
        found[label] = {normal(name) for name in names}
    return found


@pytest.fixture
def window(qtbot, tmp_path):
    window = make_window(qtbot, None, tmp_path / "window", check_recovery=False)
    window.session.new_document(200, 150, QColor(255, 255, 255))
    return window


def menu_items(menu) -> list[str]:
    return ["-" if a.isSeparator() else a.text() for a in menu.actions()]


def test_the_readmes_keys_are_the_tables(qapp):
    table = {row.label: {normal(k) for k in row.keys} for row in TABLE if row.keys}
    assert readme_keys() == table


def test_every_key_the_readmes_text_names_is_in_the_table(qapp):
    text = README.read_text(encoding="utf-8")
    named = set(re.findall(r"\b(?:Ctrl|Shift|Alt)\+(?:(?:Shift|Alt)\+)*[A-Za-z0-9]+\b|\bEsc\b",
                           text))
    keys = {normal(s) for row in TABLE for s in sequences(row)}
    missing = {k for k in named if not k.lower().endswith(MOUSE) and normal(k) not in keys}
    assert named and not missing


def test_no_key_is_bound_twice(qapp):
    bound = [s.toString() for row in TABLE for s in sequences(row)]
    assert len(bound) > 30 and len(bound) == len(set(bound)), sorted(bound)


def test_rows_are_well_formed(window):
    assert len(BY_ID) == len(TABLE), "an id is used twice"
    menus = {name for name, _ in MENUS}
    for row in TABLE:
        assert row.menu is None or row.menu in menus, row.id
        assert row.enabled is None or row.enabled in PREDICATES, row.id
        assert not (row.callback and row.source), f"{row.id}: its widget connects it"
        assert sum((row.menu is not None, row.toolbar, row.handler is not None)) == 1, row.id
        if isinstance(row.callback, str):
            assert callable(resolve(window, row.callback)), row.id
        elif row.callback is not None:
            assert callable(row.callback), row.id
        if row.handler:
            assert row.handler[0] in PLACES and row.keys, row.id
        elif not row.submenu:
            assert isinstance(window.action(row.id), QAction), row.id
            assert row.callback is not None or row.source is not None, f"{row.id} does nothing"


def test_each_menu_shows_the_tables_items_in_order(window):
    bar = [a.text() for a in window.menuBar().actions()]
    assert bar == [title for _, title in MENUS]
    for name, items in TODAY.items():
        assert menu_items(window.menus[name]) == items, name
        texts = [row.text for row in actions.rows_of(name)]
        assert [t for t in items if t != "-"] == texts, name
    model = menu_items(window.menus["Model"])  # the models and devices are filled at run time
    ours = [row.text for row in actions.rows_of("Model")]
    start = model.index(ours[0])
    assert model[start - 1] == "-" and model[start:start + len(ours)] == ours


def test_the_tool_bar_shows_the_tables_tools_in_order(window):
    buttons = [b.defaultAction() for b in window.tool_options.findChildren(QToolButton)
               if b.defaultAction() is not None]
    tools = [row for row in TABLE if row.toolbar]
    assert buttons == [window.action(row.id) for row in tools]
    assert [a.text() for a in buttons] == ["Brush", "Eraser", "Mask", "Erase mask", "Region"]
    assert window.action("brush").toolTip() == "Brush (B)"


def test_the_window_binds_the_tables_keys_and_no_other(window):
    bound = [s.toString() for a in window.findChildren(QAction) for s in a.shortcuts()]
    assert len(bound) == len(set(bound)), "a key is bound twice"
    expected = {s.toString() for row in TABLE if not row.handler for s in sequences(row)}
    assert set(bound) == expected


def test_keys_reach_their_actions(qtbot, window):
    """Keys typed into the window, as a user does: View ▸ 100% and Fit, a tool, a dock."""
    window.show()
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    canvas = window.canvas
    canvas.setFocus()
    canvas.actual_size()
    qtbot.keyClick(canvas, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    fitted = canvas.zoom()
    canvas.actual_size()
    canvas.fit()
    assert fitted == canvas.zoom() != 1.0, "Ctrl+0 fits"
    qtbot.keyClick(canvas, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert canvas.zoom() == 1.0, "Ctrl+1 from the fitted zoom"
    canvas.fit()
    qtbot.keyClick(canvas, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)
    assert canvas.zoom() == pytest.approx(fitted * 1.25)
    qtbot.keyClick(canvas, Qt.Key.Key_E)
    assert canvas.tool() == Tool.ERASER and window.action("eraser").isChecked()
    qtbot.keyClick(canvas, Qt.Key.Key_M, Qt.KeyboardModifier.ShiftModifier)
    assert canvas.tool() == Tool.MASK_ERASER
    assert not window.explorer_dock.isVisible()
    qtbot.keyClick(canvas, Qt.Key.Key_X, Qt.KeyboardModifier.ControlModifier
                   | Qt.KeyboardModifier.ShiftModifier)
    assert window.explorer_dock.isVisible()


def test_enabled_state_follows_the_predicates(window):
    gated = ("export", "copy_result", "view_illusion")
    assert [window.action(name).isEnabled() for name in gated] == [False, False, False]
    image = QImage(28, 28, QImage.Format.Format_RGB32)
    window.session.show_result(Result(image, {"mode": "sdedit", "seed": 1}))
    assert [window.action(name).isEnabled() for name in gated] == [True, True, False]
    window.session.show_result(Result(image, {"mode": "anagram", "seed": 1}))
    assert [window.action(name).isEnabled() for name in gated] == [True, True, True]
    window.session.show_result(None)
    assert [window.action(name).isEnabled() for name in gated] == [False, False, False]


def test_delete_removes_the_selected_result(qtbot, window):
    image = QImage(28, 28, QImage.Format.Format_RGB32)
    for seed in (1, 2):
        window.session.history.append(Result(image, {"mode": "sample", "seed": seed}))
    window.history_strip.set_current(0)
    qtbot.keyClick(window.history_strip.list_widget, Qt.Key.Key_Delete)
    assert [r.parameters["seed"] for r in window.results] == [2]
    qtbot.keyClick(window.history_strip.list_widget, Qt.Key.Key_A)
    assert len(window.results) == 1


def test_key_texts_show_in_the_tips(window):
    assert key_names(BY_ID["redo"]) == ["Ctrl+Shift+Z", "Ctrl+Y"]
    assert window.modes.cancel_button.toolTip() == "Stop the run (Esc)"
    assert "Ctrl+Return" in window.modes.run_button.toolTip()
    assert window.tool_options._size.toolTip() == "Brush size ([ and ])"
