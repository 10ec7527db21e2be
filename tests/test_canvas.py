"""The canvas and the document: strokes under the cursor, undo, mask, region, paste, keys."""

import math

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QKeySequence

from app.actions import handler_keys
from app.document import Document, image_array
from widgets.canvas import CanvasView, Tool
from widgets.tool_options import ToolOptions

WHITE = QColor(255, 255, 255)
RED = QColor(255, 0, 0)
LEFT, MIDDLE = Qt.MouseButton.LeftButton, Qt.MouseButton.MiddleButton


@pytest.fixture
def doc():
    d = Document()
    d.new_blank(200, 150, WHITE)
    return d


@pytest.fixture
def canvas(qtbot, doc):
    view = CanvasView()
    view.resize(400, 300)
    view.set_document(doc)
    view.set_keys(handler_keys("canvas"))  # as the window gives them
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    return view


def pixels(doc) -> np.ndarray:
    return image_array(doc.image()).copy()


def mask(doc) -> np.ndarray:
    return image_array(doc.mask()).copy()


def under(canvas, pos: QPoint) -> tuple[int, int]:
    """The image pixel drawn under the view pixel `pos`."""
    p = canvas.map_to_image(QPointF(pos) + QPointF(0.5, 0.5))
    return math.floor(p.x()), math.floor(p.y())


def view_pos(canvas, x: int, y: int) -> QPoint:
    """A view pixel that shows image pixel (x, y) (zoom >= 1)."""
    p = canvas.map_from_image(QPointF(x + 0.5, y + 0.5))
    return QPoint(math.floor(p.x()), math.floor(p.y()))


def drag(qtbot, canvas, points, button=LEFT, modifier=Qt.KeyboardModifier.NoModifier):
    qtbot.mousePress(canvas, button, modifier, points[0])
    for p in points[1:]:
        qtbot.mouseMove(canvas, p)
    qtbot.mouseRelease(canvas, button, modifier, points[-1])


def brush(canvas, size, hardness=1.0, color=RED, tool=Tool.BRUSH):
    canvas.set_tool(tool)
    canvas.set_brush_size(size)
    canvas.set_hardness(hardness)
    canvas.set_color(color)


def zoom_and_pan(qtbot, canvas):
    canvas.set_zoom(2.7, QPointF(37, 53))
    before = canvas.offset()
    drag(qtbot, canvas, [QPoint(200, 150), QPoint(190, 140), QPoint(173, 131)], MIDDLE)
    assert canvas.offset() - before == QPointF(-27, -19)


def test_click_lands_under_the_cursor_when_zoomed_and_panned(qtbot, canvas, doc):
    zoom_and_pan(qtbot, canvas)
    brush(canvas, 5)
    ys, xs = np.mgrid[0:150, 0:200] + 0.5  # pixel centres
    for pos in (QPoint(151, 97), QPoint(302, 211), QPoint(47, 260)):
        before = pixels(doc)
        drag(qtbot, canvas, [pos])
        x, y = under(canvas, pos)
        assert doc.image().pixelColor(x, y) == RED
        # the painted blob is centred on the cursor's image point, to a tenth of a pixel
        weight = (before[..., 1] - pixels(doc)[..., 1]).astype(float)  # green: 255 -> 0
        target = canvas.map_to_image(QPointF(pos) + QPointF(0.5, 0.5))
        assert (weight * xs).sum() / weight.sum() == pytest.approx(target.x(), abs=0.1)
        assert (weight * ys).sum() / weight.sum() == pytest.approx(target.y(), abs=0.1)
        assert weight[np.hypot(xs - target.x(), ys - target.y()) > 3.6].sum() == 0


def test_fast_stroke_has_no_gaps_and_stays_on_its_path(qtbot, canvas, doc):
    zoom_and_pan(qtbot, canvas)
    brush(canvas, 3)
    a, b = QPoint(60, 60), QPoint(340, 240)  # one mouse event apart
    drag(qtbot, canvas, [a, b])
    (ax, ay), (bx, by) = under(canvas, a), under(canvas, b)
    for t in np.linspace(0, 1, 40):
        x, y = round(ax + t * (bx - ax)), round(ay + t * (by - ay))
        assert doc.image().pixelColor(x, y) == RED
    fx, fy = under(canvas, QPoint(340, 60))
    assert doc.image().pixelColor(fx, fy) == WHITE
    assert doc.image().pixelColor(ax, ay - 4) == WHITE


def test_soft_brush_falls_off(qtbot, canvas, doc):
    brush(canvas, 21, hardness=0.2, color=QColor(0, 0, 0))
    canvas.set_zoom(2.0)
    x, y = 100, 75
    drag(qtbot, canvas, [view_pos(canvas, x, y)])
    img = doc.image()
    assert img.pixelColor(x, y).red() == 0
    assert 0 < img.pixelColor(x + 7, y).red() < 255
    assert img.pixelColor(x + 12, y) == WHITE


def test_one_drag_is_one_undo_step_with_ctrl_z(qtbot, canvas, doc):
    stack = doc.undo_stack
    undo, redo = stack.createUndoAction(canvas), stack.createRedoAction(canvas)
    undo.setShortcut(QKeySequence("Ctrl+Z"))
    redo.setShortcut(QKeySequence("Ctrl+Shift+Z"))
    canvas.addActions([undo, redo])
    canvas.activateWindow()
    qtbot.waitActive(canvas)
    original = pixels(doc)
    brush(canvas, 9)
    drag(qtbot, canvas, [QPoint(100 + 15 * i, 100 + 5 * i) for i in range(12)])
    painted = pixels(doc)
    assert stack.count() == 1 and doc.modified
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(pixels(doc), original) and not doc.modified
    shift_ctrl = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(canvas, Qt.Key.Key_Z, shift_ctrl)
    assert np.array_equal(pixels(doc), painted)
    brush(canvas, 5, tool=Tool.ERASER)
    drag(qtbot, canvas, [QPoint(100, 100), QPoint(150, 110)])
    assert stack.count() == 2
    x, y = under(canvas, QPoint(100, 100))
    assert doc.image().pixelColor(x, y) == WHITE  # the eraser paints the background


def test_mask_brush_feathers_and_mask_commands(qtbot, canvas, doc):
    brush(canvas, 21, tool=Tool.MASK)
    canvas.set_feather(0.6)
    canvas.set_zoom(2.0)
    image_before = pixels(doc)
    x, y = 100, 75
    drag(qtbot, canvas, [view_pos(canvas, x, y)])
    m = mask(doc)
    assert m[y, x] == 255 and m[y, x + 3] == 255
    assert all(0 < m[y, x + d] < 255 for d in (7, 8, 9))
    assert m[y, x + 12] == 0 and m[0, 0] == 0
    assert np.array_equal(pixels(doc), image_before)  # the mask brush leaves the image alone
    shot = canvas.grab().toImage().pixelColor(view_pos(canvas, x, y))
    assert shot.red() > 200 and shot.green() < 200  # white under a red tint

    canvas.set_tool(Tool.MASK_ERASER)
    canvas.set_brush_size(5)
    drag(qtbot, canvas, [view_pos(canvas, x, y)])
    assert mask(doc)[y, x] == 0 and mask(doc)[y, x + 6] == m[y, x + 6]

    doc.invert_mask()
    assert mask(doc)[0, 0] == 255 and mask(doc)[y, x] == 255
    assert mask(doc)[y, x + 6] == 255 - m[y, x + 6]
    doc.clear_mask()
    assert not mask(doc).any()
    doc.undo_stack.undo()
    assert mask(doc)[0, 0] == 255
    doc.set_mask(QImage(20, 15, QImage.Format.Format_Grayscale8))  # scaled to the image
    assert doc.mask().size() == doc.image().size()
    assert doc.mask().format() == QImage.Format.Format_Grayscale8


def test_region_moves_and_resizes_square_inside_the_image(qtbot, canvas, doc):
    assert doc.region() == QRect(25, 0, 150, 150)  # centred, as large as fits
    canvas.set_tool(Tool.REGION)
    doc.set_region(QRect(50, 40, 60, 60))
    centre = canvas.map_from_image(QPointF(80, 70)).toPoint()
    drag(qtbot, canvas, [centre, centre + QPoint(-400, 10)])  # far past the left edge
    assert doc.region() == QRect(0, 40 + round(10 / canvas.zoom()), 60, 60)

    doc.set_region(QRect(50, 40, 60, 60))
    corner = canvas.map_from_image(QPointF(110, 100)).toPoint()  # bottom-right handle
    drag(qtbot, canvas, [corner, corner + QPoint(30, 5)])
    r = doc.region()
    assert r.topLeft() == QPoint(50, 40) and r.width() == r.height() > 60
    drag(qtbot, canvas, [canvas.map_from_image(QPointF(r.bottomRight()) + QPointF(1, 1))
                         .toPoint(), QPoint(399, 299)])
    assert doc.region() == QRect(50, 40, 110, 110)  # stopped by the bottom edge

    top_left = canvas.map_from_image(QPointF(50, 40)).toPoint()
    drag(qtbot, canvas, [top_left, top_left + QPoint(20, 60)])
    r = doc.region()
    assert r.bottomRight() == QPoint(159, 149) and r.width() == r.height() < 110


def test_paste_into_region_scales_and_undoes(doc):
    doc.set_region(QRect(20, 10, 100, 100))
    result = QImage(32, 32, QImage.Format.Format_RGB32)
    result.fill(QColor(0, 0, 255))
    for x in range(16):
        for y in range(16):
            result.setPixelColor(x, y, RED)
    doc.paste_into_region(result)
    img = doc.image()
    assert img.pixelColor(25, 15) == RED and img.pixelColor(110, 100) == QColor(0, 0, 255)
    assert img.pixelColor(10, 5) == WHITE and img.pixelColor(121, 50) == WHITE
    assert doc.region_image().width() == 100 and doc.region_mask().width() == 100
    doc.undo_stack.undo()
    assert doc.image().pixelColor(25, 15) == WHITE
    doc.undo_stack.redo()
    assert doc.image().pixelColor(25, 15) == RED


def test_set_image_resets_region_and_is_undoable(canvas, doc):
    doc.set_region(QRect(0, 0, 20, 20))
    photo = QImage(300, 400, QImage.Format.Format_RGB888)
    photo.fill(RED)
    doc.set_image(photo)
    assert doc.image().size() == photo.size() and doc.mask().size() == photo.size()
    assert doc.region() == QRect(0, 50, 300, 300)
    assert canvas.zoom() == pytest.approx((300 - 16) / 400)  # refitted
    doc.undo_stack.undo()
    assert doc.image().width() == 200 and doc.region() == QRect(0, 0, 20, 20)


def test_bracket_keys(qtbot, canvas):
    """(Ctrl+0 and Ctrl+1 are the window's View actions: tests/test_actions.py.)"""
    canvas.set_brush_size(10)
    sizes = []
    canvas.brushSizeChanged.connect(sizes.append)
    qtbot.keyClick(canvas, Qt.Key.Key_BracketRight)
    qtbot.keyClick(canvas, Qt.Key.Key_BracketRight)
    assert canvas.brush_size() > 12 and sizes[-1] == canvas.brush_size()
    for _ in range(30):
        qtbot.keyClick(canvas, Qt.Key.Key_BracketLeft)
    assert canvas.brush_size() == 1


def test_the_canvas_has_only_the_keys_it_is_given(qtbot, canvas):
    canvas.set_keys({"brush_larger": ["+"]})
    canvas.set_brush_size(10)
    qtbot.keyClick(canvas, Qt.Key.Key_BracketRight)
    assert canvas.brush_size() == 10
    qtbot.keyClick(canvas, Qt.Key.Key_Plus)
    assert canvas.brush_size() == 12
    with pytest.raises(ValueError, match="no key action 'paint'"):
        canvas.set_keys({"paint": ["P"]})
    with pytest.raises(ValueError, match="takes no modifier"):
        canvas.set_keys({"pan": ["Ctrl+Space"]})


def test_zoom_keeps_the_point_under_the_cursor(canvas):
    anchor = QPointF(123.0, 77.0)
    fixed = canvas.map_to_image(anchor)
    canvas.zoom_by(3.3, anchor)
    assert canvas.map_to_image(anchor).x() == pytest.approx(fixed.x())
    assert canvas.map_to_image(anchor).y() == pytest.approx(fixed.y())


def test_space_drag_pans(qtbot, canvas):
    before = canvas.offset()
    qtbot.keyPress(canvas, Qt.Key.Key_Space)
    drag(qtbot, canvas, [QPoint(100, 100), QPoint(130, 90)])
    qtbot.keyRelease(canvas, Qt.Key.Key_Space)
    assert canvas.offset() - before == QPointF(30, -10)


def test_preview_draws_over_the_region_until_cleared(canvas, doc):
    live = QImage(8, 8, QImage.Format.Format_RGB32)
    live.fill(QColor(0, 200, 0))
    centre = canvas.map_from_image(QPointF(doc.region().center())).toPoint()
    canvas.preview(live)
    assert canvas.grab().toImage().pixelColor(centre) == QColor(0, 200, 0)
    canvas.preview(None)
    assert canvas.grab().toImage().pixelColor(centre) == WHITE


def test_tool_options_drive_the_canvas(qtbot, canvas):
    panel = ToolOptions()
    qtbot.addWidget(panel)
    panel.attach(canvas)
    panel.tool_actions["mask"].trigger()
    assert canvas.tool() == Tool.MASK
    canvas.set_brush_size(40)
    panel.sizeChanged.emit(12)
    assert canvas.brush_size() == 12
    canvas.set_tool(Tool.ERASER)
    assert panel.tool_actions["eraser"].isChecked()


def test_region_label_stays_visible_after_fit(qtbot):
    """The "280 × 280" label went above the view after fit(); now it goes inside the frame."""
    doc = Document()
    doc.new_blank(280, 280, QColor(0, 0, 0))
    view = CanvasView()
    view.resize(300, 300)
    view.set_document(doc)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    view.fit()
    frame = view.transform().mapRect(QRectF(doc.region()))
    ascent = view.fontMetrics().ascent()
    assert frame.top() - 4 - ascent < 0, "no room above the frame"
    at = CanvasView.region_label_pos(frame, ascent)
    assert at.y() - ascent >= frame.top() and at.y() < frame.bottom()
    shot = view.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    top, left = round(frame.top()), round(frame.left())
    white = [(x, y) for y in range(top + 6, top + 30) for x in range(left + 10, left + 70)
             if shot.pixelColor(x, y) == QColor(255, 255, 255)]
    assert white, "the label is drawn inside the frame"
    free = CanvasView.region_label_pos(QRectF(20, 50, 100, 100), ascent)
    assert free == QPointF(28, 46), "with room above, it stays above"
