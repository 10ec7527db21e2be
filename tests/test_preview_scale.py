"""A run's previews over a big region: the window scaled each small preview (28 px digits,
32/64 px emoji) to the region's size on the GUI thread (a 9000² image per preview, about half
a second), then the canvas drew that. Now the canvas keeps the small preview and scales it into
the region as it paints, with the same look: square pixels up to 64 px, smoothed above."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPointF, QRect, QSize
from PySide6.QtGui import QColor, QImage
from test_app import window_on_region

from app.main_window import MainWindow
from app.session.jobs import JobKind, JobRecord

GREY = QColor(128, 128, 128)
RED, BLUE = QColor(255, 0, 0), QColor(0, 0, 255)
REGION = QRect(1000, 500, 3000, 3000)  # inside a 4000² image, so an edge of it shows


@pytest.fixture
def window(qtbot, tmp_path) -> MainWindow:
    return window_on_region(qtbot, tmp_path / "w", (1800, 1200), REGION)


def halves(side: int) -> QImage:
    """Left half red, right half blue."""
    image = QImage(side, side, QImage.Format.Format_RGB32)
    image.fill(RED)
    for y in range(side):
        for x in range(side // 2, side):
            image.setPixelColor(x, y, BLUE)
    return image


def send_preview(window: MainWindow, image: QImage) -> None:
    job = JobRecord(1, JobKind.USER, None)
    window.session.runner.preview.emit(job, image, 1, 3)


def shown(window: MainWindow) -> QImage:
    return window.canvas.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)


def view_point(window: MainWindow, x: float, y: float) -> tuple[int, int]:
    """The view pixel over image point (x, y)."""
    p = window.canvas.map_from_image(QPointF(x, y))
    return int(p.x()), int(p.y())


def across_the_middle(window: MainWindow) -> list[QColor]:
    """The view's pixels along a row through the region's centre, a few either side of the
    line between the preview's halves."""
    canvas = shown(window)
    x, y = view_point(window, REGION.center().x() + 0.5, REGION.center().y())
    return [canvas.pixelColor(x + dx, y) for dx in range(-4, 5)]


def test_a_small_preview_is_kept_small_and_drawn_in_square_pixels(window):
    preview = halves(28)
    send_preview(window, preview)
    held = window.canvas.preview_image()
    assert held is not None and held.size() == QSize(28, 28), "not scaled to the region"
    row = across_the_middle(window)
    assert row[0] == RED and row[-1] == BLUE, "the preview is drawn over the region"
    assert all(c in (RED, BLUE) for c in row), "square pixels: no blend at the middle line"
    canvas = shown(window)
    assert canvas.pixelColor(*view_point(window, REGION.left() + 300, REGION.top() + 300)) == RED
    assert canvas.pixelColor(*view_point(window, REGION.right() - 300,
                                         REGION.bottom() - 300)) == BLUE
    assert canvas.pixelColor(*view_point(window, REGION.left() - 300,
                                         REGION.center().y())) == GREY, "only over the region"


def test_a_larger_preview_is_kept_at_its_size_and_smoothed(window):
    send_preview(window, halves(128))
    assert window.canvas.preview_image().size() == QSize(128, 128)
    row = across_the_middle(window)
    assert row[0] == RED and row[-1] == BLUE
    blended = [c for c in row if c not in (RED, BLUE)]
    assert blended and all(c.green() == 0 and c.red() + c.blue() > 200 for c in blended), \
        "smoothed between the halves, as the old full-size scaling was"


def test_the_preview_follows_the_region_and_goes_at_the_end(window):
    send_preview(window, halves(28))
    moved = REGION.translated(-1000, 0)
    window.session.document.set_region(moved)
    canvas = shown(window)
    assert canvas.pixelColor(*view_point(window, moved.left() + 300, moved.center().y())) == RED
    window._run_ended("Done")
    assert window.canvas.preview_image() is None
    assert shown(window).pixelColor(*view_point(window, moved.left() + 300,
                                                moved.center().y())) == GREY

