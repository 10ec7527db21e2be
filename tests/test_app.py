"""The app end to end on a tiny digit model: every mode, previews, cancel, close, errors, undo."""

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPointF, QRect, QSettings, QSize
from PySide6.QtGui import QColor, QImage, QKeySequence
from PySide6.QtWidgets import QApplication

from app.document import image_array
from app.engine_thread import EngineThread
from app.jobs import Job
from app.main_window import TITLE, Asker, ExportChoice, MainWindow, NewDialog
from app.settings import Settings
from engine.images import read_parameters
from engine.models.tiny import save_tiny_digit_model

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "resources" / "models" / "mnist-class"
RUN_TIMEOUT = 20_000


class FakeAsker(Asker):
    """Answers the window's questions without a dialog, and records what was asked."""

    def __init__(self) -> None:
        self.unsaved = "discard"
        self.recovery = "restore"
        self.paths: list[str] = []  # the answers to file dialogs, first first
        self.export = ExportChoice()
        self.asked: list[str] = []
        self.details: list[str] = []  # what each unsaved-changes question said was at stake

    def unsaved_changes(self, parent, name, action="closing", detail=""):
        self.details.append(detail)
        self.asked.append(f"unsaved {name}" if action == "closing" else f"unsaved {name} {action}")
        return self.unsaved

    def offer_recovery(self, parent, recovery):
        self.asked.append("recovery")
        return self.recovery

    def open_damaged(self, parent, problem, lost):
        self.asked.append(f"damaged {problem}")
        return False

    def save_path(self, parent, title, start, filters):
        self.asked.append(f"save {title}")
        return self.paths.pop(0) if self.paths else ""

    def open_path(self, parent, title, start, filters):
        self.asked.append(f"open {title}")
        return self.paths.pop(0) if self.paths else ""

    def folder(self, parent, title, start):
        return self.paths.pop(0) if self.paths else ""

    def export_choice(self, parent, result):
        self.asked.append("export")
        return self.export


def make_window(qtbot, model: str | None, folder: Path, **kwargs) -> MainWindow:
    """A window whose settings, autosaves and questions all stay in `folder` / the test."""
    folder.mkdir(parents=True, exist_ok=True)
    ini = QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)
    kwargs = {"settings": Settings(ini), "asker": FakeAsker(),
              "autosave_folder": folder / "autosave"} | kwargs
    window = MainWindow(model=model, device="cpu", **kwargs)
    qtbot.addWidget(window)
    return window


def window_on_region(qtbot, folder: Path, size: tuple[int, int], region: QRect) -> MainWindow:
    """A shown window (no model) of a grey 4000² image with `region`, fitted in the view."""
    window = make_window(qtbot, None, folder)
    window.resize(*size)
    window.show()
    qtbot.waitExposed(window)
    doc = window.session.document
    doc.new_blank(4000, 4000, QColor(128, 128, 128))
    doc.set_region(region)
    window.canvas.fit()
    return window


def open_window(qtbot, model: str, folder: Path, **kwargs) -> MainWindow:
    window = make_window(qtbot, model, folder, **kwargs)
    with qtbot.waitSignal(window.session.engine.modelLoaded, timeout=RUN_TIMEOUT):
        window.show()
    return window


@pytest.fixture
def window(qtbot, tiny_model, tmp_path):
    """On the bundled digit model where it is present (each mode runs on it), else a tiny one."""
    model = "mnist" if (BUNDLED / "config.json").exists() else tiny_model
    return open_window(qtbot, model, tmp_path / "window")


def settings(window: MainWindow, mode: str, **changes) -> dict:
    window.modes.set_mode(mode)
    window.modes.steps.setValue(5)
    window.modes.preview_every.setValue(2)
    return window.session.settings.job_fields() | changes


def draw_digit(window: MainWindow) -> None:
    doc = window.session.document
    doc.begin_stroke("brush", QPointF(140, 60), 30, 0.8, QColor(255, 255, 255))
    doc.stroke_to(QPointF(140, 220))
    doc.end_stroke()


def paint_mask(window: MainWindow) -> None:
    doc = window.session.document
    doc.begin_stroke("mask", QPointF(200, 40), 60, 0.5)
    doc.stroke_to(QPointF(200, 240))
    doc.end_stroke()


def slow_down(window: MainWindow, seconds: float) -> list[float]:
    """Makes every model call take `seconds`; returns the list of call start times."""
    model = window.session.engine._worker.model
    calls: list[float] = []
    predict = model.predict

    def slow(*args, **kwargs):
        calls.append(time.monotonic())
        time.sleep(seconds)
        return predict(*args, **kwargs)

    model.predict = slow
    return calls


def run_and_wait(qtbot, window: MainWindow, settings_: dict) -> tuple[list, list]:
    previews, results = [], []
    engine = window.session.engine
    engine.preview.connect(lambda _id, image, step, total: previews.append((image, step)))
    engine.finished.connect(lambda _id, images, params, frames: results.append(params))
    with qtbot.waitSignal(window.session.engine.finished, timeout=RUN_TIMEOUT):
        assert window.session.run_job(settings_) is not None
    return previews, results


def test_title_default_document_and_model(window):
    assert window.windowTitle() == TITLE
    size = window.session.document.size()
    assert size.width() == 280 and size.height() == 280
    assert image_array(window.session.document.image())[..., :3].max() == 0, "a black canvas"
    assert window.canvas.color() == QColor(255, 255, 255), "a white brush"
    assert window.session.model_state.size == 28 and "28×28" in window.model_label.text()
    assert window.modes.prompt.itemText(window.modes.prompt.count() - 1) == "(unconditional)"
    window.modes.set_mode("sdedit")
    assert window.modes.strength_label.text() == "strength 0.30 · i_start 21 of 0–29 (t = 90)"


@pytest.mark.parametrize("mode,extra", [
    ("sample", {"prompt": "7", "count": 2}),
    ("sdedit", {}),
    ("inpaint", {"prompt": "3"}),
    ("img2img", {"prompt": "4"}),
    ("anagram", {"prompt": "6", "prompt2": "9", "view": "rot180"}),
    ("hybrid", {"prompt": "0", "prompt2": "1", "sigma": 1.0}),
])
def test_every_mode_previews_then_a_result(qtbot, window, mode, extra):
    draw_digit(window)
    if mode == "inpaint":
        paint_mask(window)
    previews, results = run_and_wait(qtbot, window, settings(window, mode, **extra))
    steps = [step for _, step in previews]
    # SDEdit starts at the digit model's default strength 0.3: i_start 4 of 0-4, one step
    total = 5 if mode not in ("sdedit", "img2img") else 5 - results[0]["i_start"]
    assert mode not in ("sdedit", "img2img") or results[0]["i_start"] == 4
    assert steps == [s for s in range(1, total + 1) if s % 2 == 0 or s == total]
    assert all(image.width() == 28 for image, _ in previews)
    assert results[0]["mode" if mode != "sample" else "command"] == mode
    assert window.results and window.current_result() in window.results
    assert window.results[-1].image.size().width() == 28
    assert [f.width() for f in window.results[-1].frames] == [28] * len(steps), "preview rate"
    assert window.canvas._preview is None, "the preview is cleared at the end"
    if mode == "sample":
        assert len(window.results) == 2


def test_sdedit_starts_at_the_chosen_i_start(qtbot, window):
    draw_digit(window)
    window.modes.set_mode("sdedit")
    window.modes.steps.setValue(5)
    window.modes.set_i_start(2)
    assert window.modes.strength_label.text() == "strength 0.60 · i_start 2 of 0–4 (t = 180)"
    _, results = run_and_wait(qtbot, window, window.session.settings.job_fields())
    assert results[0]["i_start"] == 2 and results[0]["timesteps"] == [300, 240, 180, 120, 60, 0]


def test_apply_export_and_undo_through_the_menu(qtbot, window, tmp_path):
    run_and_wait(qtbot, window, settings(window, "sample", prompt="2", seed=11))
    before = image_array(window.session.document.image()).copy()
    window.session.apply_result()
    assert not np.array_equal(image_array(window.session.document.image()), before)
    assert window.action("undo").shortcut() == QKeySequence("Ctrl+Z")
    window.action("undo").trigger()
    assert np.array_equal(image_array(window.session.document.image()), before)
    out = tmp_path / "result.png"
    assert window.session.export_result(str(out))
    params = read_parameters(out)
    assert params["prompt"] == "2" and params["seed"] == 11 and params["command"] == "sample"


def test_cancel_stops_within_one_step(qtbot, window):
    calls = slow_down(window, 0.05)
    steps_seen: list[int] = []
    window.session.engine.progress.connect(lambda _id, step, total, eta: steps_seen.append(step))
    window.session.run_job(settings(window, "sample", steps=200))
    qtbot.waitUntil(lambda: len(steps_seen) >= 3, timeout=RUN_TIMEOUT)
    finished = []
    window.session.engine.finished.connect(lambda *args: finished.append(args))
    with qtbot.waitSignal(window.session.engine.stopped, timeout=5000):
        cancelled_at, seen = time.monotonic(), len(steps_seen)
        window.session.cancel_run()
    assert sum(start > cancelled_at for start in calls) <= 1, "at most one more step"
    assert len(steps_seen) == seen, "nothing of the cancelled run reaches the window"
    assert not finished and window.canvas._preview is None
    assert not window.modes.cancel_button.isEnabled()
    del window.session.engine._worker.model.predict  # back to full speed
    run_and_wait(qtbot, window, settings(window, "sample"))  # the thread keeps working


def test_closing_during_a_run_joins_the_thread(qtbot, window):
    slow_down(window, 0.05)
    steps_seen: list[int] = []
    window.session.engine.progress.connect(lambda _id, step, total, eta: steps_seen.append(step))
    window.session.run_job(settings(window, "sample", steps=200))
    qtbot.waitUntil(lambda: len(steps_seen) >= 2, timeout=RUN_TIMEOUT)
    start = time.monotonic()
    window.close()
    assert not window.session.engine.is_running()
    assert time.monotonic() - start < 2.0


def test_errors_are_shown_and_the_next_job_runs(qtbot, window):
    draw_digit(window)
    assert window.session.run_job(settings(window, "inpaint")) is None, "the mask is empty"
    assert "mask is empty" in window.errors[-1]
    with qtbot.waitSignal(window.session.engine.failed, timeout=RUN_TIMEOUT) as failed:
        # fails in the engine thread
        window.session.run_job(settings(window, "sample", prompt="12"))
    assert "12" in failed.args[1] and "12" in window.errors[-1]
    run_and_wait(qtbot, window, settings(window, "sample", prompt="5"))


def test_corrupt_file_leaves_the_document_alone(window, tmp_path):
    draw_digit(window)
    before = image_array(window.session.document.image()).copy()
    undo_count = window.session.document.undo_stack.count()
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    assert not window.session.open_path(str(bad))
    assert "bad.png" in window.errors[-1]
    assert np.array_equal(image_array(window.session.document.image()), before)
    assert window.session.document.undo_stack.count() == undo_count
    assert window.windowTitle() == f"Untitled* — {TITLE}"


def test_opening_an_exported_png_restores_its_settings(qtbot, window, tmp_path):
    run_and_wait(qtbot, window, settings(window, "sample", prompt="8", seed=123))
    out = tmp_path / "eight.png"
    window.session.export_result(str(out))
    window.modes.seed.setValue(1)
    assert window.session.open_path(str(out))
    assert window.session.document.size().width() == 28
    assert window.modes.seed.value() == 123 and window.modes.prompt.prompt() == "8"
    assert window.session.document.undo_stack.count() == 0


def test_missing_model_still_opens_and_says_so(qtbot, tmp_path):
    window = make_window(qtbot, str(ROOT / "no-such-model-folder"), tmp_path)
    with qtbot.waitSignal(window.session.engine.loadFailed, timeout=RUN_TIMEOUT):
        window.show()
    assert "No model loaded" in window.model_label.text()
    assert not window.errors, "said in the status bar, no box at startup"
    assert not window.modes.run_button.isEnabled()


def test_engine_loads_once_and_survives_errors(qtbot, tiny_model):
    engine = EngineThread()
    states: list[str] = []
    engine.stateChanged.connect(states.append)
    try:
        with qtbot.waitSignal(engine.modelLoaded, timeout=RUN_TIMEOUT):
            engine.load_model(tiny_model, "cpu")
        engine.load_model(tiny_model, "cpu")
        bad = Job(mode="inpaint", image=torch.zeros(1, 1, 28, 28), mask=torch.zeros(1, 1, 28, 28),
                  steps=3)
        with qtbot.waitSignal(engine.failed, timeout=RUN_TIMEOUT) as failed:
            bad_id = engine.submit(bad)
        assert failed.args[0] == bad_id and "mask is empty" in failed.args[1]
        with qtbot.waitSignal(engine.finished, timeout=RUN_TIMEOUT) as done:
            good_id = engine.submit(Job(mode="sample", prompt="1", steps=3, count=2))
        job_id, images, params, frames = done.args
        assert job_id == good_id != bad_id, "each signal carries its job's id"
        assert len(images) == 2 and params["prompt"] == "1"
        assert len(frames) == 2 and [len(f) for f in frames] == [3, 3], "frames of each image"
        assert states.count("loading") == 1
    finally:
        assert engine.shutdown()


@pytest.mark.skipif(not (BUNDLED / "config.json").exists(), reason="the bundled model is training")
def test_bundled_digit_model_samples(qtbot, tmp_path):
    window = open_window(qtbot, "mnist", tmp_path)
    _, results = run_and_wait(qtbot, window, settings(window, "sample", prompt="3"))
    assert results[0]["model"] == "mnist"


def test_keys_new_dialog_and_paste(qtbot, window):
    assert QKeySequence("Ctrl+Return") in window.modes.run_action.shortcuts()
    assert window.modes.cancel_action.shortcut() == QKeySequence("Esc")
    assert window.action("new").shortcut() == QKeySequence("Ctrl+N")
    assert window.action("export").shortcut() == QKeySequence("Ctrl+E")
    dialog = NewDialog(window, window.session.document.size(), black=True)
    assert dialog.choice() == (280, 280, QColor(0, 0, 0))
    dialog.deleteLater()
    pasted = QImage(40, 30, QImage.Format.Format_RGB32)
    pasted.fill(QColor(10, 200, 30))
    QApplication.clipboard().setImage(pasted)
    window.paste()
    assert window.session.document.size() == QSize(40, 30)
    window.action("undo").trigger()
    assert window.session.document.size() == QSize(280, 280)


def test_guidance_is_greyed_out_for_a_model_that_takes_no_prompt(qtbot, tmp_path):

    unconditional = save_tiny_digit_model(tmp_path / "tiny-time", kind="time")
    window = open_window(qtbot, str(unconditional), tmp_path / "w")
    assert not window.modes.guidance.isEnabled()
    assert "no prompt" in window.modes.guidance.toolTip()
    with qtbot.waitSignal(window.session.engine.modelLoaded, timeout=RUN_TIMEOUT):
        window.session.load_model(str(save_tiny_digit_model(tmp_path / "tiny-class")))
    window.modes.prompt.set_prompt("3")  # the unconditional default would grey it too
    assert window.modes.guidance.isEnabled()
