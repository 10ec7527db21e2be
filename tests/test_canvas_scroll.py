"""Scroll bars beside the canvas: they follow zoom and pan, and moving one moves the view."""

import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor
from test_app import make_window

from app.document import Document
from widgets.canvas import CanvasView
from widgets.canvas_scroll import MARGIN, ScrolledCanvas, bar_range


@pytest.fixture
def scrolled(qtbot):
    doc = Document()
    doc.new_blank(200, 100, QColor(255, 255, 255))
    canvas = CanvasView()
    canvas.set_document(doc)
    view = ScrolledCanvas(canvas)
    view.resize(420, 320)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    canvas.fit()
    return view


def test_a_fitted_image_leaves_both_bars_idle(scrolled):
    assert not scrolled.hbar.isEnabled()
    assert not scrolled.vbar.isEnabled()


def test_zooming_in_gives_bars_that_span_the_image(scrolled):
    canvas = scrolled.canvas
    canvas.set_zoom(4.0)  # 800 x 400 view pixels in a smaller view
    assert scrolled.hbar.isEnabled() and scrolled.vbar.isEnabled()
    hbar = scrolled.hbar
    assert hbar.minimum() == -MARGIN
    assert hbar.maximum() == 800 - canvas.width() + MARGIN
    assert hbar.pageStep() == canvas.width()
    assert hbar.value() == round(-canvas.offset().x())


def test_moving_a_bar_pans_the_canvas(scrolled):
    canvas = scrolled.canvas
    canvas.set_zoom(4.0)
    scrolled.hbar.setValue(0)  # the image's left edge at the view's left edge
    scrolled.vbar.setValue(scrolled.vbar.maximum())
    assert canvas.offset().x() == 0
    assert canvas.map_from_image(QPointF(0, 100)).y() == pytest.approx(
        canvas.height() - MARGIN)


def test_a_pan_moves_the_bars(scrolled, qtbot):
    canvas = scrolled.canvas
    canvas.set_zoom(4.0)
    before = scrolled.hbar.value()
    qtbot.mousePress(canvas, Qt.MouseButton.MiddleButton, pos=canvas.rect().center())
    qtbot.mouseMove(canvas, canvas.rect().center() + QPointF(-40, 0).toPoint())
    qtbot.mouseRelease(canvas, Qt.MouseButton.MiddleButton,
                       pos=canvas.rect().center() + QPointF(-40, 0).toPoint())
    assert scrolled.hbar.value() == before + 40


def test_a_pan_far_past_the_image_widens_the_range_instead_of_jumping_back(scrolled):
    canvas = scrolled.canvas
    canvas.set_zoom(4.0)
    canvas.pan_by(5000, 0)  # the image far to the right, out of view
    assert scrolled.hbar.value() == round(-canvas.offset().x())
    assert scrolled.hbar.minimum() == scrolled.hbar.value()
    assert scrolled.hbar.isEnabled()


def test_fit_after_zoom_idles_the_bars_again(scrolled):
    scrolled.canvas.set_zoom(4.0)
    scrolled.canvas.fit()
    assert not scrolled.hbar.isEnabled()


def test_bar_range_holds_the_current_value():
    assert bar_range(offset=-50, extent=1000, view=300) == (-MARGIN, 1000 - 300 + MARGIN, 50)
    low, high, value = bar_range(offset=500, extent=1000, view=300)
    assert low == value == -500


def test_the_window_puts_bars_beside_its_canvas(qtbot, tmp_path):
    window = make_window(qtbot, None, tmp_path / "w", check_recovery=False)
    scrolled = window.canvas.parent()
    assert isinstance(scrolled, ScrolledCanvas)
    window.canvas.set_zoom(8.0)
    assert scrolled.hbar.isEnabled()
