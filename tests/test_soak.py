"""Soak: thousands of real canvas repaints must not leak references to None (issue 11, 1.1).

PySide6-Essentials 6.12.0 on Python 3.10/3.11 drops a reference to None on every call that
returns nothing; after a few thousand repaints None's count reaches zero and the interpreter
aborts. On 3.12+ None is immortal, so only the soak itself runs there.
"""

import gc
import sys
from contextlib import contextmanager

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication

from app.document import Document
from widgets.canvas import CanvasView

REPAINTS = 3000
NONE_IS_IMMORTAL = sys.version_info >= (3, 12)


@pytest.fixture
def canvas(qtbot):
    doc = Document()
    doc.new_blank(280, 280, QColor(0, 0, 0))
    view = CanvasView()
    view.resize(400, 400)
    view.set_document(doc)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    return view


@contextmanager
def _no_collection():
    """The garbage of earlier tests collected first and none during the count: freeing an
    object that held None lowers the count as the binding's bug does."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _repaint(view: CanvasView, i: int) -> None:
    view.repaint()  # a synchronous paintEvent: every QPainter call of the real canvas
    if i % 50 == 0:
        QApplication.processEvents()


def test_canvas_repaints_do_not_leak_none(qtbot, canvas):
    for i in range(100):  # warm caches before counting
        _repaint(canvas, i)
    with _no_collection():
        before = sys.getrefcount(None)
        for i in range(REPAINTS):
            _repaint(canvas, i)
        lost = before - sys.getrefcount(None)
    if not NONE_IS_IMMORTAL:
        # A healthy binding leaves the count where it was, give or take a few transient holders.
        assert lost < 100, f"{lost} references to None lost over {REPAINTS} repaints"


def test_strokes_and_repaints_soak(qtbot, canvas):
    with _no_collection():
        before = sys.getrefcount(None)
        for i in range(300):
            y = 20 + i % 240
            qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=QPoint(20, y))
            qtbot.mouseMove(canvas, QPoint(200, y))
            qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(200, y))
            canvas.repaint()
        lost = before - sys.getrefcount(None)
    if not NONE_IS_IMMORTAL:
        assert lost < 100, f"{lost} references to None lost over 300 strokes"


def test_window_soak_runs_jobs_and_repaints(qtbot, tmp_path):
    """Hundreds of runs through the real window, each repainting the canvas and the previews."""
    from test_app import open_window, settings

    from engine.models.tiny import save_tiny_digit_model

    window = open_window(qtbot, str(save_tiny_digit_model(tmp_path / "tiny")), tmp_path / "w")
    before = sys.getrefcount(None)
    for i in range(200):
        mode = ("sample", "anagram", "hybrid")[i % 3]
        with qtbot.waitSignal(window.session.engine.finished, timeout=20_000):
            window.session.run_job(settings(window, mode, steps=2, preview_every=1, seed=i,
                                            prompt="6", prompt2="9"))  # both: illusions
        window.canvas.repaint()
        window.result_view.repaint()
        if len(window.session.history) > 20:
            window.session.history.clear()
    lost = before - sys.getrefcount(None)
    if not NONE_IS_IMMORTAL:
        assert lost < 200, f"{lost} references to None lost over 200 runs"
    assert window.isVisible()
