"""Left by the ninth QA walk and review: the status bar said "scaled from 6000×6000" after the
region changed to 3600×3600; a Live run that a new stroke superseded left "Cancelled" in the
progress bar; a switched-out model waited for Python's cyclic GC (two large models in memory);
a preview repainted the whole document, not just the region under it."""

from __future__ import annotations

import gc
import weakref

import pytest
from PIL import Image
from PySide6.QtCore import QPointF, QRect
from PySide6.QtGui import QColor, QImage, QPaintEvent
from test_app import RUN_TIMEOUT, open_window, slow_down, window_on_region

from app.main_window import MainWindow
from app.session.jobs import JobKind, JobRecord
from app.status_line import STEP_FORMAT

# --- the status line and 'What the model sees' ----------------------------------------------


def caption_says(window: MainWindow, text: str) -> bool:
    return text in window.result_view.input_caption.text()


@pytest.fixture
def opened(qtbot, tiny_model, tmp_path) -> MainWindow:
    """A 600² grey photo opened on the tiny digit model: the bar says it is scaled from 600×600."""
    window = open_window(qtbot, tiny_model, tmp_path / "w")
    path = tmp_path / "photo.png"
    Image.new("RGB", (600, 600), (90, 90, 90)).save(path)
    assert window.session.open_path(str(path))
    assert "scaled from 600×600" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: caption_says(window, "scaled from 600×600"), timeout=RUN_TIMEOUT)
    return window


def test_a_new_region_updates_the_status_line_about_what_the_model_sees(qtbot, opened):
    opened.session.document.set_region(QRect(0, 0, 360, 360))
    qtbot.waitUntil(lambda: caption_says(opened, "scaled from 360×360"), timeout=RUN_TIMEOUT)
    said = opened.statusBar().currentMessage()
    assert "600×600" not in said, "the bar contradicted the caption"
    assert "sees the region as 28×28 grey (scaled from 360×360)" in said


def test_a_region_the_model_takes_as_it_is_clears_that_status_line(qtbot, opened):
    opened.session.document.set_region(QRect(10, 10, 28, 28))
    qtbot.waitUntil(lambda: opened.result_view.input_caption.text().endswith("28×28 grey"),
                    timeout=RUN_TIMEOUT)
    assert opened.statusBar().currentMessage() == ""


def test_another_status_line_is_left_as_it_is_by_a_region_change(qtbot, opened):
    opened.statusBar().showMessage("Saved somewhere.dcproj", 8000)
    opened.session.document.set_region(QRect(0, 0, 360, 360))
    qtbot.waitUntil(lambda: caption_says(opened, "scaled from 360×360"), timeout=RUN_TIMEOUT)
    assert opened.statusBar().currentMessage() == "Saved somewhere.dcproj"


# --- the progress bar after a Live run --------------------------------------------------------


def start_slow_live(qtbot, window: MainWindow) -> None:
    """Live on, with a slow model: waits for the Live run's second step in the bar."""
    slow_down(window, 0.05)
    window.modes.set_mode("sdedit")
    window.modes.steps.setValue(30)
    window.live_timer.setInterval(50)
    steps: list[int] = []
    window.session.runner.progress.connect(lambda job, step, *_: steps.append(step))
    window.modes.live.setChecked(True)
    qtbot.waitUntil(lambda: len(steps) >= 2, timeout=RUN_TIMEOUT)
    assert window.progress_bar.text().startswith("step ")


def test_a_cancelled_live_run_leaves_the_progress_bar_as_it_was(qtbot, tiny_model, tmp_path):
    window = open_window(qtbot, tiny_model, tmp_path / "w")
    bar = window.progress_bar
    before = (bar.format(), bar.isTextVisible(), bar.value(), bar.maximum())
    start_slow_live(qtbot, window)
    with qtbot.waitSignal(window.session.engine.stopped, timeout=5000):
        window.modes.live.setChecked(False)  # cancels the Live run in flight
    assert bar.text() != "Cancelled"
    assert (bar.format(), bar.isTextVisible(), bar.value(), bar.maximum()) == before
    assert window.eta_label.text() == ""


def test_a_live_run_superseded_by_a_stroke_never_says_cancelled(qtbot, tiny_model, tmp_path):
    window = open_window(qtbot, tiny_model, tmp_path / "w")
    start_slow_live(qtbot, window)
    formats: list[str] = []
    window.session.runner.cancelled.connect(lambda _job: formats.append(
        window.progress_bar.format()))
    doc = window.session.document
    doc.begin_stroke("brush", QPointF(100, 100), 20, 0.8, QColor(255, 255, 255))
    doc.stroke_to(QPointF(150, 150))
    doc.end_stroke()  # a new Live run supersedes the one in flight
    qtbot.waitUntil(lambda: bool(formats), timeout=RUN_TIMEOUT)
    assert "Cancelled" not in formats
    window.modes.live.setChecked(False)


def test_the_users_own_cancelled_run_still_says_cancelled(qtbot, tiny_model, tmp_path):
    window = open_window(qtbot, tiny_model, tmp_path / "w")
    slow_down(window, 0.05)
    window.modes.set_mode("sample")
    window.modes.steps.setValue(30)
    steps: list[int] = []
    window.session.runner.progress.connect(lambda job, step, *_: steps.append(step))
    assert window.session.run_job() is not None
    qtbot.waitUntil(lambda: len(steps) >= 2, timeout=RUN_TIMEOUT)
    with qtbot.waitSignal(window.session.engine.stopped, timeout=5000):
        window.session.cancel_run()
    assert window.progress_bar.text() == "Cancelled"
    assert window.progress_bar.format() != STEP_FORMAT


# --- a model switch frees the old model ---------------------------------------------------------


@pytest.fixture
def no_automatic_gc():
    """Python's cyclic GC runs only when asked: what is freed is freed by the code under test."""
    gc.collect()
    gc.disable()
    yield
    gc.enable()


def test_a_model_switch_frees_the_old_model_at_once(qtbot, if_environment, if_models, tiny_model,
                                                    tmp_path, no_automatic_gc):
    window = open_window(qtbot, str(if_models / "IF-I-tiny-v1.0"), tmp_path / "w")
    window.modes.set_mode("sample")
    window.modes.steps.setValue(2)
    with qtbot.waitSignal(window.session.runner.finished, timeout=RUN_TIMEOUT):
        assert window.session.run_job() is not None  # its UNet's speed levers are on now
    model = window.session.engine.loaded_model()
    assert model._applied_levers, "the wrappers whose cycles kept the model's modules"
    weights = [weakref.ref(p) for p in model.unet.parameters()]
    modules = [weakref.ref(m) for m in model.unet.modules()]
    old_model = weakref.ref(model)
    del model
    with qtbot.waitSignal(window.session.modelReady, timeout=RUN_TIMEOUT):
        window.session.load_model(tiny_model, "cpu")
    assert old_model() is None
    kept = sum(w() is not None for w in weights + modules)
    assert kept == 0, f"{kept} weights and modules of the old UNet kept until Python's GC runs"


# --- a preview repaints the region only -------------------------------------------------------

REGION = QRect(1000, 500, 2000, 2000)


@pytest.fixture
def canvas_window(qtbot, tmp_path) -> MainWindow:
    return window_on_region(qtbot, tmp_path / "w", (1400, 1000), REGION)


def painted_rects(qtbot, window: MainWindow, act) -> list[QRect]:
    """The rectangles of the canvas's paint events after `act()`."""
    canvas = window.canvas
    qtbot.wait(50)  # earlier repaints done
    rects: list[QRect] = []
    paint = canvas.paintEvent

    def record(event: QPaintEvent) -> None:
        rects.append(event.rect())
        paint(event)

    canvas.paintEvent = record
    try:
        act()
        qtbot.waitUntil(lambda: bool(rects), timeout=5000)
        qtbot.wait(50)
    finally:
        del canvas.paintEvent
    return rects


def preview_image(side: int = 28) -> QImage:
    image = QImage(side, side, QImage.Format.Format_RGB32)
    image.fill(QColor(255, 0, 0))
    return image


def test_a_preview_repaints_the_region_only(qtbot, canvas_window):
    canvas = canvas_window.canvas
    frame = canvas.transform().mapRect(REGION).adjusted(-3, -3, 3, 3)
    job = JobRecord(1, JobKind.USER, None)
    rects = painted_rects(qtbot, canvas_window, lambda: canvas_window.session.runner.preview.emit(
        job, preview_image(), 1, 3))
    assert all(frame.contains(rect) for rect in rects), (rects, frame, canvas.rect())
    rects = painted_rects(qtbot, canvas_window, lambda: canvas_window._run_ended("Done"))
    assert all(frame.contains(rect) for rect in rects), "the run's end too"


def test_an_opaque_preview_covers_the_region_up_to_its_edges(canvas_window):
    """The document is not drawn under an opaque preview: no gap of the view's background shows
    at the region's edges, and the document shows right outside it."""
    canvas = canvas_window.canvas
    canvas.preview(preview_image())
    shown = canvas.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    frame = canvas.transform().mapRect(REGION)
    y = frame.center().y()
    for x in range(frame.left() - 6, frame.left() + 6):
        assert shown.pixelColor(x, y) in (QColor(128, 128, 128), QColor(255, 0, 0)) or \
            x in (frame.left() - 1, frame.left()), (x, shown.pixelColor(x, y).name())
    assert shown.pixelColor(frame.left() - 6, y) == QColor(128, 128, 128)
    assert shown.pixelColor(frame.left() + 6, y) == QColor(255, 0, 0)
    assert shown.pixelColor(frame.center().x(), frame.top() + 6) == QColor(255, 0, 0)
