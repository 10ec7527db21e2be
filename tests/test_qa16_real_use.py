"""Session 16's real-use fixes (a QA pass on the emoji model): each test failed before its fix."""

from __future__ import annotations

import re
import time

import pytest
from test_app import BUNDLED, RUN_TIMEOUT, open_window, settings, slow_down


@pytest.fixture
def window(qtbot, tiny_model, tmp_path):
    model = "mnist" if (BUNDLED / "config.json").exists() else tiny_model
    return open_window(qtbot, model, tmp_path / "window")


def test_queued_runs_are_counted_and_each_is_timed_from_its_own_start(qtbot, window):
    """Two runs asked for at once: the second waits (the status says so) and its "Done in"
    is its own time, not the time since the click that queued it."""
    slow_down(window, 0.05)
    job = settings(window, "sample", steps=8)
    asked = time.monotonic()
    window.session.run_job(job)
    window.session.run_job(job)
    runner, state = window.session.runner, window.status_line.state_label
    qtbot.waitUntil(lambda: runner.queue.running() is not None, timeout=RUN_TIMEOUT)
    assert runner.queued() == 1 and state.text().endswith("· 1 queued")
    qtbot.waitUntil(lambda: not runner.busy(), timeout=RUN_TIMEOUT)
    whole = time.monotonic() - asked
    took = float(re.search(r"Done in ([\d.]+) s", window.statusBar().currentMessage())[1])
    assert took < 0.75 * whole, (took, whole)  # the two runs take about the same time
    assert "queued" not in state.text()


def test_an_anagram_refuses_a_view_named_twice_or_the_identity():
    """Two prompts through one view (a seeded view shares the view seed, so jigsaw twice is
    the same permutation) ask one image to look like both: it ran and made a muddle."""
    from engine.errors import EngineError
    from engine.views import views_for

    assert len(views_for(["flip", "jigsaw"], 32, True, seed=3)) == 3
    with pytest.raises(EngineError, match="the jigsaw view is named twice"):
        views_for(["jigsaw", "jigsaw"], 32, True, seed=3)
    with pytest.raises(EngineError, match="identity view is the upright image"):
        views_for(["identity"], 32, True)


def test_the_app_refuses_an_anagram_with_the_same_view_twice(qtbot, window):
    modes = window.modes
    modes.set_mode("anagram")
    modes.view.setCurrentIndex(modes.view.findData("flip"))
    opts = modes.illusion
    opts.view3.setCurrentIndex(opts.view3.findData("flip"))
    opts.prompt3.set_prompt("7")
    job = settings(window, "anagram", prompt="0", prompt2="1")
    errors: list[tuple[str, str]] = []
    window.session.error.connect(lambda title, text: errors.append((title, text)))
    assert window.session.run_job(job) is None
    assert errors and "the flip view is named twice" in errors[-1][1]
    assert not window.session.runner.busy()


def test_opening_an_image_keeps_the_brush_colour_the_user_chose_where_it_shows(window,
                                                                                 tmp_path):
    """Opening a photo turned a red brush white: only a brush that would not show on the
    new image is changed."""
    import numpy as np
    from PIL import Image
    from PySide6.QtGui import QColor

    brown = tmp_path / "brown.png"
    Image.fromarray(np.full((60, 60, 3), (120, 90, 60), np.uint8)).save(brown)
    red = QColor(230, 20, 20)
    window.canvas.set_color(red)
    assert window.session.open_path(str(brown))
    assert window.canvas.color() == red and window.tool_options.color() == red
    window.canvas.set_color(QColor(125, 95, 65))  # all but the image's own colour
    assert window.session.open_path(str(brown))
    assert window.canvas.color() == QColor(255, 255, 255)


def live_then_off(qtbot, window) -> None:
    """One Live SDEdit result of a drawn digit, then Live switched off."""
    from test_app import draw_digit

    window.modes.set_mode("sdedit")
    window.modes.steps.setValue(5)
    draw_digit(window)
    with qtbot.waitSignal(window.session.runner.liveDone, timeout=RUN_TIMEOUT):
        window.modes.live.setChecked(True)
    window.modes.live.setChecked(False)


def test_a_live_result_of_a_drawing_since_changed_is_dropped_once_live_is_off(qtbot, window):
    """The panel kept saying "Live result" with a Keep button for a stroke since undone."""
    session, view = window.session, window.result_view
    live_then_off(qtbot, window)
    assert session.shown_live and view.keep_button.isEnabled(), "unchanged: still keepable"
    window.modes.live.setChecked(True)
    qtbot.waitUntil(lambda: not session.runner.busy(), timeout=RUN_TIMEOUT)
    session.runner.live_timer.stop()
    assert session.shown_live
    session.document.undo_stack.undo()  # the stroke goes; Live would answer after its delay
    window.modes.live.setChecked(False)
    assert not session.shown_live and session.shownResult is None
    assert view.title.text() == "<b>Result</b>" and not view.keep_button.isEnabled()
    assert not session.keep_live_result(), "nothing left to keep"


def test_a_live_result_stays_keepable_after_a_settings_change(qtbot, window):
    """Only the drawing makes a Live result stale: it carries the settings it was made with."""
    session, view = window.session, window.result_view
    live_then_off(qtbot, window)
    window.modes.live.setChecked(True)
    qtbot.waitUntil(lambda: not session.runner.busy(), timeout=RUN_TIMEOUT)
    session.runner.live_timer.stop()
    shown = session.shownResult
    window.modes.steps.setValue(7)
    window.modes.live.setChecked(False)
    assert session.shown_live and session.shownResult is shown
    assert view.keep_button.isEnabled()


def test_a_live_result_applied_is_kept_in_the_history(qtbot, window):
    session = window.session
    live_then_off(qtbot, window)
    live = session.shownResult
    window.result_view.apply_button.click()
    assert list(session.history) == [live] and session.shownResult is live
    assert not session.shown_live


def test_the_close_question_says_save_makes_a_project_and_that_a_run_stops(qtbot, window):
    """"Save the changes to chelsea.png" read as if the photo would be overwritten, and the
    question never said that the run in progress would stop."""
    from test_app import draw_digit

    from app.dialogs import unsaved_question

    assert unsaved_question("chelsea.png", "closing") == (
        "Save your work on chelsea.png as a project before closing?")
    assert unsaved_question("proj1", "closing") == "Save the changes to proj1 before closing?"
    draw_digit(window)
    assert "run in progress" not in window.session.files.unsaved_detail()
    slow_down(window, 0.05)
    window.session.run_job(settings(window, "sample", steps=50))
    qtbot.waitUntil(lambda: window.session.runner.queue.running() is not None,
                    timeout=RUN_TIMEOUT)
    detail = window.session.files.unsaved_detail()
    assert "the canvas's edits" in detail and "The run in progress stops" in detail
    window.session.cancel_run()


def test_an_illusions_caption_names_every_prompt_and_where_to_see_it():
    """The caption named only the first prompt: "anagram prompt 'grinning face'"."""
    from app.results_view import result_caption

    anagram = result_caption({"mode": "anagram", "prompts": ["red heart", "star", "cat face"],
                              "views": ["flip", "jigsaw"], "seed": 4})
    assert anagram == ("anagram  upright 'red heart'  flip 'star'  jigsaw 'cat face'  seed 4  "
                       "(View ▸ View illusion…)")
    hybrid = result_caption({"mode": "hybrid", "prompt": "red heart", "prompt2": "cat face",
                             "seed": 2})
    assert "far 'red heart'  close 'cat face'" in hybrid
    assert result_caption({"mode": "sample", "prompt": "", "seed": 1}) == (
        "sample  prompt (unconditional)  seed 1")
    assert "the prompt is ignored" in result_caption(
        {"mode": "sample", "prompt": "red heart", "guidance": 0.0, "seed": 1})
    assert "ignored" not in result_caption(
        {"mode": "sample", "prompt": "red heart", "guidance": 3.0, "seed": 1})


def test_the_mask_tint_shows_only_where_the_mask_is_used(qtbot, window):
    """After an inpaint, the mask's tint stayed over the image in every mode, where it looked
    like orange or pink paint."""
    from test_app import paint_mask

    from widgets.canvas import Tool

    window.modes.set_mode("inpaint")
    window.canvas.set_tool(Tool.MASK)
    paint_mask(window)
    assert window.canvas.mask_shown()
    window.canvas.set_tool(Tool.BRUSH)
    assert window.canvas.mask_shown(), "inpaint uses it"
    window.modes.set_mode("sample")
    assert not window.canvas.mask_shown()
    from app.qt_images import qimage_to_numpy

    assert qimage_to_numpy(window.session.document.mask(), "L").max() > 0, "hidden, not cleared"
    window.canvas.set_tool(Tool.MASK_ERASER)
    assert window.canvas.mask_shown(), "a mask tool shows what it edits"
    window.canvas.set_tool(Tool.BRUSH)
    window.modes.set_mode("inpaint")
    assert window.canvas.mask_shown()


def test_a_free_text_prompt_list_holds_the_prompts_run_lately(qtbot):
    """The Prompt list held only the model's default prompt, never the ones just run."""
    from widgets.modes_panel import RECENT_PROMPTS, PromptBox

    box = PromptBox()
    qtbot.addWidget(box)
    box.set_choices(None, "grinning face")
    for prompt in ("red heart", "cat face, twemoji", "red heart"):
        box.set_prompt(prompt)
        box.remember()
    items = [box.itemData(i) for i in range(box.count())]
    assert items == ["red heart", "cat face, twemoji", "grinning face"], "newest first, once"
    assert box.prompt() == "red heart"
    for i in range(2 * RECENT_PROMPTS):
        box.set_prompt(f"star {i}")
        box.remember()
    assert box.count() == RECENT_PROMPTS and box.itemData(0) == f"star {2 * RECENT_PROMPTS - 1}"
    digits = PromptBox()
    qtbot.addWidget(digits)
    digits.set_choices([*"0123456789", ""], "0")
    digits.set_prompt("7")
    digits.remember()
    assert [digits.itemData(i) for i in range(digits.count())] == [*"0123456789", ""], (
        "a model's fixed prompts keep their order")


def test_undoing_a_paste_gives_the_brush_its_size_back_and_the_paste_says_so(qtbot, window):
    """Paste fitted the brush to the small image (4 px) and Undo Paste left it there."""
    from PySide6.QtGui import QColor, QImage
    from PySide6.QtWidgets import QApplication

    window.canvas.set_brush_size(30)  # the user's size: kept as the preference
    assert window.session.preferences.brush_size == 30
    small = QImage(32, 32, QImage.Format.Format_RGB32)
    small.fill(QColor(200, 40, 40))
    QApplication.clipboard().setImage(small)
    window.paste()
    assert window.canvas.brush_size() == 4
    assert "Edit ▸ Undo brings the drawing back" in window.statusBar().currentMessage()
    window.action("undo").trigger()
    assert window.canvas.brush_size() == 30 and window.tool_options._size.value() == 30
    window.action("redo").trigger()
    assert window.canvas.brush_size() == 4


def test_opening_an_image_shows_the_wait_cursor_while_it_decodes(window, tmp_path, monkeypatch):
    """An 8000 × 6000 photo froze the window for 10 s with no sign of work."""
    import numpy as np
    from PIL import Image
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication

    from engine import images

    path = tmp_path / "photo.png"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(path)
    seen = []
    load = images.load_image

    def watched(*args, **kwargs):
        cursor = QGuiApplication.overrideCursor()
        seen.append(None if cursor is None else cursor.shape())
        return load(*args, **kwargs)

    monkeypatch.setattr(images, "load_image", watched)
    assert window.session.open_path(str(path))
    assert seen == [Qt.CursorShape.WaitCursor]
    assert QGuiApplication.overrideCursor() is None, "and it is given back"
