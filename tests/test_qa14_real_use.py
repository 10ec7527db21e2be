"""Session 14's real-use fixes: each test failed before its fix."""

from __future__ import annotations

from PySide6.QtGui import QColor, QImage
from test_app import make_window

from widgets.message_log import MessageDialog


def open_image(window, path, size: int) -> None:
    image = QImage(size, size, QImage.Format.Format_RGB32)
    image.fill(QColor(0, 0, 0))
    image.save(str(path))
    assert window.session.open_path(str(path))


def test_the_brush_fits_an_opened_small_image_and_comes_back_on_a_large_one(qtbot, tmp_path):
    """A 28×28 digit opened with the 24 px brush was one dab from edge to edge; now the brush
    is at most an eighth of the image, and the size the user chose comes back on a larger one."""
    window = make_window(qtbot, None, tmp_path / "w", check_recovery=False)
    window.canvas.set_brush_size(24)
    open_image(window, tmp_path / "digit.png", 28)
    assert window.canvas.brush_size() == 3
    assert window.tool_options._size.value() == 3
    assert window.session.preferences.brush_size == 24
    open_image(window, tmp_path / "photo.png", 512)
    assert window.canvas.brush_size() == 24
    window.canvas.set_brush_size(40)  # the user's own choice is the preference
    assert window.session.preferences.brush_size == 40


def test_status_messages_are_kept_whole_in_view_messages(qtbot, tmp_path):
    """A status message was cut to the bar's width and gone after a few seconds; now View ▸
    Messages keeps each one whole, with its time, and the bar's tooltip holds the one shown."""
    window = make_window(qtbot, None, tmp_path / "w", check_recovery=False)
    long = "Live: tiny-if is loading: this runs once it is in " + "and more words " * 20
    window.session.status.emit(long)
    window.session.status.emit(long)  # said twice in a row: kept once
    window.statusBar().clearMessage()
    window.session.status.emit("Done in 1.0 s")
    assert "Done in 1.0 s" in window.statusBar().toolTip()
    action = next(a for a in window.menus["View"].actions() if a.text() == "Messa&ges…")
    action.trigger()
    dialog = window.findChild(MessageDialog)
    lines = dialog.text.toPlainText().splitlines()
    assert [line.split("  ", 1)[1] for line in lines] == [long.strip(), "Done in 1.0 s"]
    window.session.status.emit("Saved p.dcproj")
    assert dialog.text.toPlainText().splitlines()[-1].endswith("Saved p.dcproj")
