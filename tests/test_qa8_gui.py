"""QA walk 8's window leftovers: a cancelled Live preview is not called a result, the Training
panel remembers its folder and settings, the region's size label stays in the view, and an
illusion needs its named prompts before the run."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from test_app import RUN_TIMEOUT, open_window, slow_down

from app.main_window import MainWindow
from app.qt_images import scaling_for
from app.results_view import RESULT_SIDE


def shown_pixels(window: MainWindow) -> QImage:
    return window.result_view.image_label.pixmap().toImage().convertToFormat(
        QImage.Format.Format_RGB32)


def scaled_like_the_view(image: QImage) -> QImage:
    side = RESULT_SIDE - 8
    return QPixmap.fromImage(image).scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                           scaling_for(image)).toImage().convertToFormat(
        QImage.Format.Format_RGB32)


def test_a_cancelled_live_preview_gives_the_view_back_to_the_result_shown(qtbot, tiny_model,
                                                                          tmp_path):
    """A Live run's previews replaced the image under 'Live result'; cancelled, the half-made
    preview stayed there, and Keep would have kept the older result, not the image shown."""
    window = open_window(qtbot, tiny_model, tmp_path / "w")
    view, session = window.result_view, window.session
    window.modes.set_mode("sdedit")
    window.modes.steps.setValue(5)
    window.live_timer.setInterval(50)
    window.modes.live.setChecked(True)
    qtbot.waitUntil(lambda: view.title.text() == "<b>Live result</b>", timeout=RUN_TIMEOUT)
    qtbot.waitUntil(lambda: not session.engine.busy(), timeout=RUN_TIMEOUT)
    kept = session.shown_result
    assert shown_pixels(window) == scaled_like_the_view(kept.image)
    slow_down(window, 0.05)
    window.modes.steps.setValue(30)  # a change: Live runs again, slowly
    previews = []
    session.runner.preview.connect(lambda *args: previews.append(args))
    qtbot.waitUntil(lambda: len(previews) >= 2, timeout=RUN_TIMEOUT)
    assert view.title.text() == "<b>Live preview</b>", "a run on its way, not a result"
    assert not view.keep_button.isEnabled(), "Keep would keep another image than the one shown"
    with qtbot.waitSignal(session.engine.stopped, timeout=5000):
        window.modes.live.setChecked(False)  # cancels the Live run in flight
    assert session.shown_result is kept
    assert view.title.text() == "<b>Live result</b>"
    assert shown_pixels(window) == scaled_like_the_view(kept.image), "the preview is gone"
    assert view.keep_button.isEnabled() and view.apply_button.isEnabled()
    view.keep_button.click()
    assert session.history.results() == [kept]


def test_a_first_live_preview_cancelled_leaves_the_empty_view(qtbot, tiny_model, tmp_path):
    window = open_window(qtbot, tiny_model, tmp_path / "w")
    view, session = window.result_view, window.session
    slow_down(window, 0.05)
    window.modes.set_mode("sdedit")
    window.modes.steps.setValue(30)
    previews = []
    session.runner.preview.connect(lambda *args: previews.append(args))
    window.live_timer.setInterval(50)
    window.modes.live.setChecked(True)
    qtbot.waitUntil(lambda: len(previews) >= 1, timeout=RUN_TIMEOUT)
    assert view.title.text() == "<b>Live preview</b>"
    with qtbot.waitSignal(session.engine.stopped, timeout=5000):
        window.modes.live.setChecked(False)
    assert view.title.text() == "<b>Result</b>" and view.image_label.pixmap().isNull()
    assert view.image_label.text().startswith("No result yet")
    assert view.keep_button.isHidden() and not view.apply_button.isEnabled()
