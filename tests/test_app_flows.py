"""The window's flows: history, export, projects, settings, unsaved changes, recovery, Live."""

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor, QKeySequence
from session_fakes import cut_member
from test_app import RUN_TIMEOUT, draw_digit, make_window, open_window, paint_mask, settings

from app.document import image_array
from app.export import settings_from_png
from app.main_window import LIVE_DELAY_MS, TITLE, ExportChoice, MainWindow
from engine.images import read_parameters


@pytest.fixture
def window(qtbot, tiny_model, tmp_path):
    return open_window(qtbot, tiny_model, tmp_path / "window")


def run(qtbot, window: MainWindow, **changes) -> None:
    with qtbot.waitSignal(window.session.engine.finished, timeout=RUN_TIMEOUT):
        assert window.session.run_job(settings(window, changes.pop("mode", "sample"), **changes))


def pixels(window: MainWindow) -> np.ndarray:
    return image_array(window.session.document.image()).copy()


def trigger(window: MainWindow, index: int, name: str) -> None:
    menu = window.history_strip.context_menu(index)
    next(a for a in menu.actions() if a.objectName() == name).trigger()
    menu.deleteLater()


def test_every_image_is_a_history_entry_with_its_actions(qtbot, window):
    run(qtbot, window, prompt="3", count=2, seed=5)
    assert len(window.session.history) == 2 and window.history_strip.count() == 2
    assert [r.parameters["index"] for r in window.results] == [0, 1]
    assert all(len(r.frames) == 3 for r in window.results), "5 steps, a frame every 2 (+ last)"
    assert not np.array_equal(*(image_array(r.image) for r in window.results))
    assert window.current_result() is window.session.history[0]
    assert "*" in window.windowTitle(), "a new result is an unsaved change"
    window.history_strip.set_current(1)
    assert window.current_result() is window.session.history[1]
    before = pixels(window)
    trigger(window, 1, "applyRequested")
    applied = pixels(window)
    assert not np.array_equal(applied, before)
    window.action("undo").trigger()
    assert np.array_equal(pixels(window), before), "apply is one undo step"
    assert window.modes.current_mode() == "sample"
    trigger(window, 0, "useAsInputRequested")
    assert window.modes.current_mode() == "sdedit", "the next run edits the result"
    assert not np.array_equal(pixels(window), before)
    second = window.session.history[1]
    trigger(window, 0, "removeRequested")
    assert window.results == [second] and window.history_strip.count() == 1


def test_export_scaled_png_and_frames_then_reopen_restores_settings(qtbot, window, tmp_path):
    run(qtbot, window, prompt="8", seed=123, guidance=3.5)
    asker = window.session.asker
    asker.export = ExportChoice("png", 4, "nearest")
    asker.paths = [str(tmp_path / "eight")]
    assert window.action("export").isEnabled() and window.action("export").shortcut() == \
        QKeySequence("Ctrl+E")
    assert window.session.export_dialog()
    png = tmp_path / "eight.png"
    params = read_parameters(png)
    assert params["seed"] == 123 and params["prompt"] == "8"
    from PIL import Image

    with Image.open(png) as im:
        assert im.size == (112, 112)
    asker.export = ExportChoice("gif", 9)  # the scale picked is the scale written
    asker.paths = [str(tmp_path / "steps.gif")]
    assert window.session.export_dialog()
    with Image.open(tmp_path / "steps.gif") as im:
        assert im.n_frames == 3 and im.size == (252, 252)
    assert settings_from_png(tmp_path / "steps.gif")["seed"] == 123
    window.modes.seed.setValue(1)
    window.modes.guidance.setValue(9.0)
    assert window.session.open_path(str(png))
    assert window.modes.seed.value() == 123 and window.modes.guidance.value() == 3.5
    assert window.windowTitle() == f"eight.png* — {TITLE}", "the session's results are unsaved"
    assert window.session.document.size().width() == 112


def test_project_round_trip_through_the_window(qtbot, tiny_model, window, tmp_path):
    draw_digit(window)
    paint_mask(window)
    run(qtbot, window, prompt="4", seed=9)
    run(qtbot, window, mode="sdedit", seed=10)
    window.modes.seed.setValue(77)
    window.session.asker.paths = [str(tmp_path / "digits")]
    assert window.action("save").shortcut() == QKeySequence("Ctrl+S")
    window.action("save").trigger()
    path = tmp_path / "digits.dcproj"
    assert path.is_file()
    assert window.windowTitle() == f"digits — {TITLE}", "saved: no star"
    draw_digit(window)
    assert window.windowTitle() == f"digits* — {TITLE}"
    window.action("save").trigger()  # Ctrl+S again: same file, no question
    assert window.windowTitle() == f"digits — {TITLE}" and not window.session.asker.paths

    other = open_window(qtbot, tiny_model, tmp_path / "other")
    assert other.session.open_path(str(path))  # the same way as Ctrl+O and drag-and-drop
    assert np.array_equal(pixels(other), pixels(window))
    assert np.array_equal(image_array(other.session.document.mask()),
                          image_array(window.session.document.mask()))
    assert other.session.document.region() == window.session.document.region()
    assert [r.parameters for r in other.results] == [r.parameters for r in window.results]
    assert [len(r.frames) for r in other.results] == [3, len(window.results[1].frames)]
    assert other.history_strip.count() == 2 and other.current_result() is other.session.history[1]
    assert other.modes.seed.value() == 77
    assert other.windowTitle() == f"digits — {TITLE}" and not other.session.is_modified()
    assert other.session.document.undo_stack.count() == 0


def test_a_corrupt_project_leaves_the_document_untouched(qtbot, window, tmp_path):
    run(qtbot, window, prompt="1")
    draw_digit(window)
    before, title = pixels(window), window.windowTitle()
    good = tmp_path / "good.dcproj"
    assert window.session.save_to(str(good))
    draw_digit(window)
    undo = window.session.document.undo_stack.count()
    before, title = pixels(window), window.windowTitle()
    broken = tmp_path / "broken.dcproj"
    cut_member(good, broken, "image.png")  # the manifest survives, the image does not
    for bad in (broken, tmp_path / "missing.dcproj"):
        assert not window.session.open_path(str(bad))
        said = window.errors[-1] if bad is not broken else window.session.asker.asked[-1]
        assert bad.name in said  # the damaged one is offered to salvage; the asker declines
        assert np.array_equal(pixels(window), before)
        assert window.session.document.undo_stack.count() == undo
        assert window.windowTitle() == title and len(window.session.history) == 1


def test_closing_with_unsaved_changes_asks(qtbot, window, tmp_path):
    asker = window.session.asker
    draw_digit(window)
    asker.unsaved = "cancel"
    assert not window.close()
    assert window.isVisible() and asker.asked == ["unsaved Untitled"]
    assert window.session.engine.is_running(), "a cancelled close keeps the app working"
    asker.unsaved, asker.paths = "save", [str(tmp_path / "kept.dcproj")]
    assert window.close()
    assert (tmp_path / "kept.dcproj").is_file() and not window.session.engine.is_running()


def test_discard_closes_without_saving(qtbot, tiny_model, window, tmp_path):
    untouched = open_window(qtbot, tiny_model, tmp_path / "untouched")
    assert untouched.close() and untouched.session.asker.asked == [], "nothing changed: no question"
    draw_digit(window)
    window.session.asker.unsaved = "save"  # ...then the user cancels the file dialog: stay open
    assert not window.close() and window.isVisible()
    window.session.asker.unsaved = "discard"
    assert window.close() and not list(tmp_path.glob("*.dcproj"))


def test_recovery_is_offered_after_a_crash(qtbot, tiny_model, tmp_path):
    crashed = open_window(qtbot, tiny_model, tmp_path / "a")
    draw_digit(crashed)
    run(qtbot, crashed, prompt="2")
    assert crashed.session.autosaver.save_now()
    crashed.session.autosaver.close()  # what a crash leaves: the autosave, no lock
    drawn, params = pixels(crashed), crashed.results[0].parameters
    folder = tmp_path / "b"
    folder.mkdir()
    new = make_window(qtbot, tiny_model, tmp_path / "b", autosave_folder=tmp_path / "a/autosave")
    with qtbot.waitSignal(new.session.engine.modelLoaded, timeout=RUN_TIMEOUT):
        new.show()
    qtbot.waitUntil(lambda: "recovery" in new.session.asker.asked, timeout=5000)
    assert np.array_equal(pixels(new), drawn)
    assert [r.parameters for r in new.results] == [params]
    assert new.session.is_modified() and "*" in new.windowTitle()
    new.session.document.undo_stack.undo()  # the restore is one undo step
    assert not np.array_equal(pixels(new), drawn)


def test_recovery_can_be_declined_without_blocking(qtbot, tiny_model, tmp_path):
    crashed = open_window(qtbot, tiny_model, tmp_path / "a")
    draw_digit(crashed)
    crashed.session.autosaver.save_now()
    crashed.session.autosaver.close()
    new = make_window(qtbot, tiny_model, tmp_path / "b", autosave_folder=tmp_path / "a/autosave",
                      check_recovery=False)
    new.session.asker.recovery = "discard"
    assert not new.session.offer_recovery() and new.session.asker.asked == ["recovery"]
    assert new.session.document.size().width() != 280 and not new.session.is_modified()
    assert new.session.autosaver.pending_recovery() is None, "discarded for good"


def test_live_answers_each_stroke_at_once_and_never_mid_stroke(qtbot, window):
    submitted: list[tuple[int, bool]] = []  # (seed, submitted while a stroke was held)
    drawing = [False]
    submit = window.session.engine.submit
    window.session.engine.submit = (
        lambda job: submitted.append((job.seed, drawing[0])) or submit(job))
    window.live_timer.setInterval(150)
    window.modes.set_mode("sdedit")
    window.modes.steps.setValue(5)
    window.modes.seed.setValue(31)
    window.modes.random_seed.setChecked(True)  # Live keeps the seed shown anyway
    window.modes.live.setChecked(True)
    assert window.modes.is_live()
    with qtbot.waitSignal(window.session.engine.finished, timeout=RUN_TIMEOUT):
        pass  # turning Live on runs once
    submitted.clear()
    for x in (60, 120, 180, 240):  # four quick strokes, well within the delay
        doc = window.session.document
        drawing[0] = True
        doc.begin_stroke("brush", QPointF(x, 40), 20, 0.8, QColor(255, 255, 255))
        doc.stroke_to(QPointF(x, 240))
        drawing[0] = False
        doc.end_stroke()  # Live runs now, not after the delay
        assert submitted and submitted[-1] == (31, False), "a run as the stroke ends"
        qtbot.wait(20)
    assert len(submitted) == 4 and not any(mid for _, mid in submitted), "never mid-stroke"
    qtbot.waitUntil(lambda: not window.session.engine.busy(), timeout=RUN_TIMEOUT)
    qtbot.wait(300)
    assert len(submitted) == 4, "no run after the delay as well: the stroke end was enough"
    assert window.canvas._preview is None, "the live result is not drawn over the sketch"
    assert window.result_view.title.text() == "<b>Live result</b>"
    assert len(window.session.history) == 0, "live results are not kept unless asked"
    window.result_view.keep_button.click()
    assert len(window.session.history) == 1
    window.modes.live.setChecked(False)
    draw_digit(window)
    qtbot.wait(250)
    assert len(submitted) == 4


def test_a_stroke_cancels_a_live_run_in_flight_and_runs_again_at_its_end(qtbot, window):
    from test_app import slow_down

    window.live_timer.setInterval(LIVE_DELAY_MS)
    window.modes.set_mode("sdedit")
    window.modes.steps.setValue(30)
    slow_down(window, 0.05)
    window.modes.live.setChecked(True)
    window.live_timer.stop()
    assert window.run_live() is not None
    qtbot.waitUntil(lambda: window.session.engine.state == "running", timeout=RUN_TIMEOUT)
    doc = window.session.document
    with qtbot.waitSignal(window.session.engine.stopped, timeout=5000):
        doc.begin_stroke("brush", QPointF(140, 60), 30, 0.8, QColor(255, 255, 255))
        doc.stroke_to(QPointF(140, 220))  # the first dab makes the run in flight stale
    assert not window.session.engine.busy()
    doc.end_stroke()
    assert window.session.engine.busy(), "the stroke's end starts the run at once"
    window.modes.live.setChecked(False)


def test_live_shows_the_first_estimate_after_one_step(qtbot, window):
    previews: list[int] = []
    window.session.engine.preview.connect(lambda _id, image, step, total: previews.append(step))
    window.modes.set_mode("sdedit")
    window.modes.live.setChecked(True)
    qtbot.waitUntil(lambda: not window.session.engine.busy() and bool(previews),
                    timeout=RUN_TIMEOUT)
    assert previews[0] == 1, "x̂_0 after the first model call, then it refines"
    window.modes.live.setChecked(False)


def test_settings_and_recent_files_are_remembered(qtbot, tiny_model, tmp_path):
    first = open_window(qtbot, tiny_model, tmp_path / "w")
    first.canvas.set_tool("mask")
    first.canvas.set_brush_size(31)
    first.tool_options._hardness.setValue(30)
    image = tmp_path / "sketch.png"
    first.session.document.image().save(str(image))
    assert first.session.open_path(str(image))
    first.session.save_to(str(tmp_path / "p.dcproj"))
    recent = [a.data() for a in first.recent_actions()]
    assert [Path(p).name for p in recent] == ["p.dcproj", "sketch.png"]
    prefs = first.session.preferences
    assert prefs.model == tiny_model and prefs.device == "auto"
    first.session.set_device("cpu")
    assert first.close()

    second = open_window(qtbot, tiny_model, tmp_path / "w")  # the same INI file
    assert second.canvas.tool().value == "mask" and second.canvas.brush_size() == 31
    assert second.canvas.hardness() == pytest.approx(0.3)
    assert second.session.preferences.device == "cpu"
    assert second.session.preferences.last_folder("project") == str(tmp_path)
    second.recent_actions()[1].trigger()
    assert second.windowTitle() == f"sketch.png — {TITLE}"
    assert [Path(a.data()).name for a in second.recent_actions()] == ["sketch.png", "p.dcproj"]
    (tmp_path / "p.dcproj").unlink()
    assert not second.session.open_recent(str(tmp_path / "p.dcproj"))
    assert [Path(a.data()).name for a in second.recent_actions()] == ["sketch.png"]


def test_model_menu_lists_devices_by_availability(window, tiny_model):
    import torch

    actions = window.device_actions
    assert actions["auto"].isEnabled() and actions["cpu"].isEnabled()
    assert actions["cuda"].isEnabled() == torch.cuda.is_available()
    assert actions["cpu"].isChecked()
    folder = [a for a in window.model_actions() if a.data() == tiny_model]
    assert folder and folder[0].isChecked(), "the model folder opened has its own entry"


def test_drop_of_a_project_opens_it(qtbot, window, tmp_path):
    from PySide6.QtCore import QMimeData, QUrl

    draw_digit(window)
    assert window.session.save_to(str(tmp_path / "dropped.dcproj"))
    window.session.new_document(64, 64, QColor(0, 0, 0))
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(tmp_path / "dropped.dcproj"))])
    assert window._take_mime(data, "Drop")
    assert window.session.document.size().width() == 280 and window.session.project_path




def test_new_results_alone_are_autosaved(qtbot, window, tmp_path):
    assert window.session.save_to(str(tmp_path / "p.dcproj"))
    assert not window.session.is_modified()
    window.session.autosaver._tick()
    assert not window.session.autosaver.autosave_path.exists()
    run(qtbot, window, prompt="6")
    assert not window.session.document.modified and window.session.is_modified()
    window.session.autosaver._tick()  # what the timer does every interval
    window.session.autosaver.wait()  # the write runs in the background
    assert window.session.autosaver.autosave_path.is_file(), "the history is work to save too"


def test_an_embeddings_file_gives_an_if_model_its_prompts(qtbot, tmp_path):
    import torch
    from test_app import run_and_wait

    from engine.models.tiny import save_tiny_if, tiny_embeddings

    folder = save_tiny_if(tmp_path / "tiny-if")
    good, bad = tmp_path / "prompts.pth", tmp_path / "bad.pth"
    torch.save(tiny_embeddings(["a high quality photo", "", "a rocket ship"]), good)
    torch.save({"": torch.zeros(1, 77, 8)}, bad)
    window = open_window(qtbot, str(folder), tmp_path / "w")
    assert window.action("prompts").text().startswith("Prompt")
    with qtbot.waitSignal(window.session.engine.loadFailed, timeout=RUN_TIMEOUT) as failed:
        window.session.use_prompts_file(str(bad))
    assert "shape" in failed.args[0]
    with qtbot.waitSignal(window.session.engine.modelLoaded, timeout=RUN_TIMEOUT) as loaded:
        window.session.use_prompts_file(str(good))
    assert set(loaded.args[0].prompts) == {"a high quality photo", "", "a rocket ship"}
    _, results = run_and_wait(qtbot, window, settings(window, "sample", prompt="a rocket ship",
                                                      steps=2))
    assert results[0]["prompt"] == "a rocket ship"
    assert window.results[-1].image.width() == 32
