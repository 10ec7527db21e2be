"""Issue 11: what an hour of real use found (lost work, controls that mislead)."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QColor, QDropEvent, QImage
from PySide6.QtWidgets import QApplication, QDialog, QLabel
from test_app import RUN_TIMEOUT, draw_digit, open_window, slow_down

from app.document import image_array
from app.main_window import MainWindow, NewDialog
from app.session.suggested import SUGGESTED


@pytest.fixture
def window(qtbot, tiny_model, tmp_path):
    return open_window(qtbot, tiny_model, tmp_path / "window")


@pytest.fixture
def photo(tmp_path) -> Path:
    path = tmp_path / "photo.png"
    Image.fromarray(np.full((64, 48, 3), 200, np.uint8)).save(path)
    return path


def pixels(window: MainWindow) -> np.ndarray:
    return image_array(window.session.document.image()).copy()


KEEP: list[QMimeData] = []  # an event only points at its data: keep it alive with the event


COPY_OR_MOVE = Qt.DropAction.CopyAction | Qt.DropAction.MoveAction


def drop(window: MainWindow, path: Path, action=COPY_OR_MOVE) -> QDropEvent:
    data = QMimeData()
    KEEP.append(data)
    data.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(10, 10), action, data, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    return event


@pytest.mark.parametrize("how", ["open", "drop"])
def test_opening_over_an_edited_canvas_asks_first(window, photo, tmp_path, how):
    asker = window.session.asker
    draw_digit(window)
    drawn = pixels(window)
    replace = (lambda: window.session.open_path(str(photo))) if how == "open" else (
        lambda: drop(window, photo))
    asker.unsaved = "cancel"
    replace()
    assert asker.asked == ["unsaved Untitled opening another file"]
    assert np.array_equal(pixels(window), drawn), "cancel keeps the drawing"
    asker.unsaved, asker.paths = "save", [str(tmp_path / "kept.dcproj")]
    replace()
    assert (tmp_path / "kept.dcproj").is_file(), "save writes the drawing first"
    assert window.session.document.size().width() == 48, "then the photo replaces it"
    asker.asked.clear()
    window.session.open_path(str(photo))
    assert asker.asked == [], "nothing unsaved: no question"


def test_discard_replaces_without_saving(window, photo, tmp_path):
    draw_digit(window)
    window.session.asker.unsaved = "discard"
    assert window.session.open_path(str(photo))
    assert window.session.document.size().width() == 48 and not list(tmp_path.rglob("*.dcproj"))


def test_a_broken_file_asks_nothing(window, tmp_path):
    draw_digit(window)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    assert not window.session.open_path(str(bad))
    assert window.session.asker.asked == [], "nothing would be replaced: no question"


def test_drops_are_copies_never_moves(window, photo):
    event = drop(window, photo)  # a file manager offers copy or move, and proposes a move
    assert event.isAccepted() and event.dropAction() == Qt.DropAction.CopyAction
    assert window.session.document.size().width() == 48
    event = drop(window, photo, Qt.DropAction.MoveAction)
    assert not event.isAccepted(), "a source that can only move is refused"


def test_new_asks_and_defaults_to_the_model_canvas(window, photo, monkeypatch):
    sizes = []

    def fake_exec(dialog):
        sizes.append((dialog.width_box.value(), dialog.height_box.value()))
        return QDialog.DialogCode.Rejected

    monkeypatch.setattr(NewDialog, "exec", fake_exec)
    assert window.session.open_path(str(photo))  # a 48 x 64 document
    window.new_dialog()
    assert sizes == [(280, 280)], "New offers the digit model's canvas, not the last document's"
    window.session.document.begin_stroke("brush", QPointF(20, 10), 8, 1.0, QColor(0, 0, 0))
    window.session.document.stroke_to(QPointF(20, 50))
    window.session.document.end_stroke()
    window.session.asker.unsaved = "cancel"
    window.new_dialog()
    assert window.session.asker.asked == ["unsaved photo.png starting a new image"]
    assert len(sizes) == 1, "cancelled before the New dialog"
    window.session.asker.unsaved = "discard"  # so that the test's teardown closes the window




def test_typing_a_step_count_keeps_the_strength(qtbot, window):
    modes = window.modes
    modes.set_mode("sdedit")
    modes.set_i_start(5)  # of 0-29 on the default 31 timesteps: strength 1 - 5/30
    modes.steps.selectAll()
    qtbot.keyClicks(modes.steps, "300")  # through 3 and 30 on the way
    assert modes.steps.value() == 300
    assert modes.i_start() == round(5 / 30 * 300), "the same share of noise, not pure noise"
    assert window.session.settings.job_fields()["i_start"] == modes.i_start()
    modes.steps.selectAll()
    qtbot.keyClicks(modes.steps, "5")
    modes.steps.selectAll()
    qtbot.keyClicks(modes.steps, "0")  # back to the default
    assert modes.i_start() == 5


@pytest.mark.parametrize("key", [Qt.Key.Key_Right, Qt.Key.Key_Up, Qt.Key.Key_PageUp])
def test_strength_keys_mean_more_change(qtbot, window, key):
    modes = window.modes
    modes.set_mode("sdedit")
    modes.set_i_start(10)
    modes.strength.setFocus()
    qtbot.keyClick(modes.strength, key)
    assert modes.i_start() < 10, "right / up / PgUp: more noise, a bigger change"
    assert not modes.strength.invertedControls() and not modes.strength.invertedAppearance()
    shown = f"strength {1 - modes.i_start() / 30:.2f} · i_start"
    assert modes.strength_label.text().startswith(shown)


@pytest.mark.parametrize("how", ["escape", "close"])
def test_leaving_the_sweep_dialog_cancels_the_whole_sweep(qtbot, window, how):
    calls = slow_down(window, 0.05)
    draw_digit(window)
    window.modes.steps.setValue(5)
    dialog = window.open_sweeps()
    finished = []
    window.session.engine.finished.connect(lambda *args: finished.append(args))
    sweep = dialog.run_sweep("i_start")
    assert sweep is not None and sweep.active
    qtbot.waitUntil(lambda: len(calls) > 0, timeout=RUN_TIMEOUT)
    if how == "escape":
        dialog.activateWindow()  # as the window manager does for a dialog just shown
        qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog)
        qtbot.keyClick(QApplication.focusWidget() or dialog, Qt.Key.Key_Escape)
    else:
        dialog.close()
    assert not dialog.isVisible() and not sweep.active
    made = len(calls)
    qtbot.wait(800)  # six jobs of five steps at 50 ms each would take 1.5 s
    assert len(calls) <= made + 1, "at most the step in flight ends: no later job runs"
    assert finished == [], "no job of the sweep finished after the dialog went"


def test_canvas_keys_work_wherever_the_focus_is(qtbot, window):
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    window.modes.run_button.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.modes.run_button)
    canvas, before = window.canvas, window.canvas.brush_size()
    qtbot.keyClick(window.modes.run_button, Qt.Key.Key_BracketRight)
    assert canvas.brush_size() > before
    qtbot.keyClick(window.modes.run_button, Qt.Key.Key_BracketLeft)
    assert canvas.brush_size() == before
    window.modes.prompt.setFocus()  # an editable prompt: the keys are typed, not taken
    editor = QApplication.focusWidget()
    if editor is not None and editor.testAttribute(Qt.WidgetAttribute.WA_InputMethodEnabled):
        qtbot.keyClick(editor, Qt.Key.Key_BracketRight)
        assert canvas.brush_size() == before


def test_space_drag_pans_and_never_paints(qtbot, window):
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    window.modes.mode.setFocus()
    canvas, drawn = window.canvas, pixels(window)
    offset = canvas.offset()
    qtbot.keyPress(window.modes.mode, Qt.Key.Key_Space)
    start, end = canvas.rect().center(), canvas.rect().center() + QPoint(40, 30)
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(canvas, end)
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=end)
    qtbot.keyRelease(QApplication.focusWidget(), Qt.Key.Key_Space)
    assert np.array_equal(pixels(window), drawn), "space-drag painted"
    assert canvas.offset() - offset == QPointF(40, 30)


def test_a_restored_seed_serves_one_run(window, photo):
    modes, run = window.modes, window.session.settings
    assert modes.random_seed.isChecked()
    run.apply_parameters({"mode": "sample", "seed": 1234})
    assert not modes.random_seed.isChecked() and modes.seed.value() == 1234
    assert run.job_fields()["seed"] == 1234, "the file's seed remakes its result"
    assert modes.random_seed.isChecked(), "then random again"
    seeds = {run.job_fields()["seed"] for _ in range(5)}
    assert len(seeds) > 1 and 1234 not in seeds


def test_a_fresh_image_goes_back_to_random_seeds(window, photo):
    modes, run = window.modes, window.session.settings
    run.apply_parameters({"mode": "sample", "seed": 99})
    assert window.session.open_path(str(photo))  # a PNG without settings
    assert modes.random_seed.isChecked()
    run.apply_parameters({"mode": "sample", "seed": 99})
    window.session.new_document(64, 64, QColor(0, 0, 0))
    assert modes.random_seed.isChecked()
    modes.dice.click()  # the dice: a fixed seed the user chose stays fixed
    window.session.new_document(64, 64, QColor(0, 0, 0))
    assert not modes.random_seed.isChecked()


def test_live_reruns_when_any_input_changes(qtbot, window):
    submitted: list[dict] = []
    submit = window.session.engine.submit
    window.session.engine.submit = lambda job: submitted.append(vars(job).copy()) or submit(job)
    window.live_timer.setInterval(50)
    modes = window.modes
    modes.set_mode("sdedit")
    modes.steps.setValue(5)
    modes.live.setChecked(True)
    qtbot.waitUntil(lambda: len(submitted) == 1, timeout=RUN_TIMEOUT)
    changes = [(lambda: modes.prompt.set_prompt("3"), "prompt", "3"),
               (lambda: modes.set_i_start(1), "i_start", 1),
               (lambda: modes.guidance.setValue(2.5), "guidance", 2.5),
               (lambda: modes.seed.setValue(77), "seed", 77)]
    for change, key, value in changes:
        before = len(submitted)
        change()
        qtbot.waitUntil(lambda b=before: len(submitted) == b + 1, timeout=RUN_TIMEOUT)
        assert submitted[-1][key] == value, f"Live re-ran with the new {key}"
    modes.live.setChecked(False)


def test_each_result_of_a_batch_has_its_own_seed_and_remakes_alone(qtbot, window):
    from test_app import settings

    with qtbot.waitSignal(window.session.engine.finished, timeout=RUN_TIMEOUT):
        window.session.run_job(settings(window, "sample", prompt="3", seed=40, count=3))
    batch = window.results[-3:]
    assert [r.parameters["seed"] for r in batch] == [40, 41, 42]
    assert [r.parameters["index"] for r in batch] == [0, 1, 2]
    titles = [r.title() for r in batch]
    assert titles == ["sample 3 · 40 #1", "sample 3 · 41 #2", "sample 3 · 42 #3"]
    assert len({r.summary() for r in batch}) == 3
    with qtbot.waitSignal(window.session.engine.finished, timeout=RUN_TIMEOUT):
        window.session.run_job(settings(window, "sample", prompt="3", seed=41, count=1))
    alone = window.results[-1]
    assert np.array_equal(image_array(alone.image), image_array(batch[1].image)), \
        "result #2 of the batch, made again alone from its own seed"


def test_history_titles_name_the_key_setting():
    from app.history import Result

    def title(**p):
        return Result(QImage(4, 4, QImage.Format.Format_RGB32), p).title()

    assert title(mode="sdedit", i_start=9, seed=1) == "sdedit i 9 · 1"
    assert title(mode="img2img", prompt="7", i_start=3, seed=1) == "img2img 7 i 3 · 1"
    assert title(mode="anagram", prompt="6", prompt2="9", view="rot180", seed=2) == \
        "anagram 6/9 rot180 · 2"
    assert title(mode="hybrid", prompt="0", prompt2="1", seed=3) == "hybrid 0/1 · 3"
    assert title(mode="sample", prompt="", seed=4) == "sample uncond. · 4"


def test_view_illusion_is_offered_only_for_illusions(qtbot, window):
    from test_app import settings

    with qtbot.waitSignal(window.session.engine.finished, timeout=RUN_TIMEOUT):
        window.session.run_job(settings(window, "sample", prompt="3", seed=1))
    with qtbot.waitSignal(window.session.engine.finished, timeout=RUN_TIMEOUT):
        window.session.run_job(settings(window, "anagram", prompt="6", prompt2="9", view="rot180"))

    def offered(index):
        menu = window.history_strip.context_menu(index)
        return next(a for a in menu.actions() if a.objectName() == "viewRequested").isVisible()

    assert not offered(0) and offered(1)
    window.session.show_result(window.results[0])
    assert not window.action("view_illusion").isEnabled()
    window.session.show_result(window.results[1])
    assert window.action("view_illusion").isEnabled()


def test_guidance_is_greyed_for_the_unconditional_prompt(window):
    modes = window.modes
    modes.set_mode("sample")
    modes.prompt.set_prompt("")
    assert not modes.guidance.isEnabled() and "unconditional" in modes.guidance.toolTip()
    modes.prompt.set_prompt("4")
    assert modes.guidance.isEnabled()
    modes.set_mode("anagram")
    modes.prompt.set_prompt("")
    modes.prompt2.set_prompt("9")
    assert modes.guidance.isEnabled(), "one prompt of two still steers"


def test_sdedit_and_img2img_look_different(window):
    modes = window.modes
    shown = {}
    for mode in ("sdedit", "img2img"):
        modes.set_mode(mode)
        shown[mode] = (modes.mode_hint.text(), modes.prompt_label.text())
    assert shown["sdedit"][0] != shown["img2img"][0]
    assert shown["img2img"][1] == "Pull towards" and shown["sdedit"][1] == "Prompt"


def test_view_menu_zooms_and_brings_back_every_dock(qtbot, window):
    window.action("fit").trigger()
    fitted = window.canvas.zoom()
    assert window.zoom_label.text() == f"{fitted * 100:.0f}%"
    window.action("zoom_in").trigger()
    assert window.canvas.zoom() == pytest.approx(fitted * 1.25)
    assert window.zoom_label.text() == f"{fitted * 125:.0f}%"
    window.action("actual_size").trigger()
    assert window.canvas.zoom() == 1.0 and window.zoom_label.text() == "100%"
    view_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    toggles = {a.text(): a for a in view_menu.actions()}
    for dock, text in ((window.modes_dock, "&Modes"), (window.history_dock, "&History"),
                       (window.tools_dock, "T&ool options")):
        dock.close() if dock is not window.tools_dock else toggles[text].trigger()
        assert not dock.isVisible()
        toggles[text].trigger()
        assert dock.isVisible(), f"View ▸ {text} brings the dock back"


def test_copy_result_and_export_the_canvas(qtbot, window, tmp_path):
    from test_app import settings

    assert not window.action("copy_result").isEnabled()
    with qtbot.waitSignal(window.session.engine.finished, timeout=RUN_TIMEOUT):
        window.session.run_job(settings(window, "sample", prompt="3", seed=1))
    window.action("copy_result").trigger()
    copied = QApplication.clipboard().image()
    assert copied.size() == window.results[-1].image.size()
    draw_digit(window)
    window.session.asker.paths = [str(tmp_path / "drawing")]
    assert window.session.export_canvas_dialog()
    saved = np.asarray(Image.open(tmp_path / "drawing.png").convert("RGB"))
    assert saved.shape == (280, 280, 3)
    assert np.array_equal(saved, pixels(window)[..., :3]), "the drawing, pixel for pixel"


def test_run_settings_come_back_at_the_next_launch(qtbot, tiny_model, tmp_path):
    from test_app import settings

    first = open_window(qtbot, tiny_model, tmp_path / "app")
    modes = first.modes
    modes.set_mode("img2img")
    modes.prompt.set_prompt("7")
    modes.set_i_start(12)
    modes.guidance.setValue(3.5)
    with qtbot.waitSignal(first.session.engine.finished, timeout=RUN_TIMEOUT):
        job = first.session.run_job(settings(first, "img2img", prompt="7", i_start=2, guidance=3.5))
        assert job is not None, getattr(first, "errors", None)
    # a crash: no close, the next launch reads what the last run left
    again = open_window(qtbot, tiny_model, tmp_path / "app")
    shown = again.session.settings.job_fields(draw=False)
    assert shown["mode"] == "img2img" and shown["prompt"] == "7"
    assert shown["guidance"] == 3.5 and again.modes.random_seed.isChecked()
    panel = again.modes  # and the panel shows them, as it did before the settings were properties
    assert (panel.current_mode(), panel.prompt.prompt(), panel.guidance.value()) == \
        ("img2img", "7", 3.5)
    first.close()
    again.close()


def test_a_colour_photo_says_what_the_digit_model_sees(qtbot, window, tmp_path):
    path = tmp_path / "colour.png"
    rgb = np.zeros((90, 120, 3), np.uint8)
    rgb[..., 0] = 220  # red
    Image.fromarray(rgb).save(path)
    assert window.session.open_path(str(path))
    assert "28×28 grey" in window.statusBar().currentMessage()
    assert "colour made grey" in window.result_view.input_caption.text()
    seen, caption = window.session.model_input()
    assert seen is not None and seen.width() == 28 and seen.isGrayscale()
    assert caption.startswith("28×28 grey (scaled from 90×90")


def test_clearing_a_history_with_a_selection_raises_nothing(qtbot, window):
    from app.history import Result

    for i in range(5):
        image = QImage(28, 28, QImage.Format.Format_Grayscale8)
        window.session.history.append(Result(image, {"seed": i}))
    window.history_strip.set_current(4)
    window.session.history.clear()  # pytest-qt fails the test on an exception in a slot
    assert window.history_strip.count() == 0 and window.current_result() is None


def test_apply_to_canvas_scales_as_the_result_view_does(window):
    from app.history import Result

    digit = np.zeros((28, 28), np.uint8)
    digit[:, 14:] = 255  # a hard edge: nearest keeps it, smoothing would blur it
    image = QImage(digit.data, 28, 28, 28, QImage.Format.Format_Grayscale8).copy()
    window.session.apply_result(Result(image, {"mode": "sample"}))
    row = pixels(window)[140, :, 0]
    assert set(np.unique(row)) <= {0, 255}, "square pixels, as the result view shows them"


def test_the_tool_bar_shows_the_active_tools_options_and_slider_values(qtbot, window):
    options = window.tool_options
    shown = {}
    for tool in ("brush", "eraser", "mask", "region"):
        window.canvas.set_tool(tool)
        shown[tool] = options.visible_options()
    assert shown == {"brush": ["size", "hardness", "colour"], "eraser": ["size", "hardness"],
                     "mask": ["size", "feather", "mask"], "region": []}
    window.canvas.set_tool("brush")
    options._hardness.setValue(35)
    assert "35%" in [w.text() for w in options._hardness_group.findChildren(QLabel)]


def test_the_modes_panel_keeps_one_width_across_modes(qtbot, window):
    widths = set()
    for index in range(window.modes.mode.count()):
        window.modes.mode.setCurrentIndex(index)
        qtbot.wait(10)
        widths.add(window.modes_dock.width())
    assert len(widths) == 1
    assert window.modes.prompt.maxVisibleItems() >= window.modes.prompt.count()


def test_a_grey_drawing_is_not_called_colour(window):
    draw_digit(window)
    _, caption = window.session.model_input()
    assert caption == "28×28 grey (scaled from 280×280)"


def test_small_dialogs_keep_their_titles_whole(window):
    from app.main_window import ExportDialog

    size = window.session.document.size()
    for dialog in (NewDialog(window, size, True), ExportDialog(window, True)):
        title = dialog.fontMetrics().horizontalAdvance(dialog.windowTitle())
        assert dialog.minimumWidth() >= title + 150


def test_an_opened_dark_sketch_gets_a_white_brush(window, tmp_path):
    path = tmp_path / "dark.png"
    Image.fromarray(np.zeros((50, 50), np.uint8)).save(path)
    window.canvas.set_color(QColor(0, 0, 0))
    assert window.session.open_path(str(path))
    assert window.canvas.color() == QColor(255, 255, 255)


def test_the_hybrid_hint_says_plainly_that_28_px_hybrids_fail(window):
    window.modes.set_mode("hybrid")
    assert "does not work" in window.modes.mode_hint.text()


def test_the_anagram_hint_suggests_the_views_that_work_on_digits(window):
    window.modes.set_mode("anagram")
    hint = window.modes.mode_hint.text()
    assert "Suggested lists the pairs and views" in hint and "pixel permutations fail" in hint
    assert "transpose" in {view for s in SUGGESTED["mnist"] for view in s.views}, (
        "the digit model's suggestions hold the views measured to work")


def test_a_long_hint_wraps_and_never_widens_the_panel(window):
    modes = window.modes
    modes.set_mode("anagram")
    wide = modes.sizeHint().width()
    modes.mode_hint.setText("word " * 200)
    assert modes.sizeHint().width() == wide


def test_a_question_that_fails_on_close_keeps_the_window_and_the_work(window, monkeypatch):
    draw_digit(window)
    drawn = pixels(window)

    def broken(parent, name, action="closing"):
        raise TypeError("unsaved_changes() got an unexpected keyword")

    monkeypatch.setattr(window.session.asker, "unsaved_changes", broken)
    assert not window.close(), "the close is refused"
    assert window.isVisible() and window.session.engine.is_running()
    assert np.array_equal(pixels(window), drawn)
    assert "stays open" in window.errors[-1]
    monkeypatch.undo()
    assert window.close(), "with the question working again, the window closes"
    assert not window.session.engine.is_running()


def test_closing_when_the_settings_cannot_be_saved_still_closes_cleanly(window, monkeypatch,
                                                                          capfd):
    def broken() -> None:
        raise OSError("settings file is read-only")

    monkeypatch.setattr(window.session.preferences, "sync", broken)
    assert window.close()
    assert not window.session.engine.is_running(), "the engine thread was joined"
    assert "settings were not saved: settings file is read-only" in capfd.readouterr().err
