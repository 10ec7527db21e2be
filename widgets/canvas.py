"""The painting canvas: shows an image, its mask and the model region, and turns drags into strokes.

The canvas knows the document only through `CanvasDocument` (duck-typed): it draws what
`image()`/`mask()`/`region()` return and forwards cursor positions, in image pixels, to
`begin_stroke`/`stroke_to`/`end_stroke`. Painting and undo belong to the document.

Coordinates: view = image * zoom + offset, so image = (view - offset) / zoom, in float. Image
pixel (i, j) covers [i, i + 1) x [j, j + 1); the cursor's point is the centre of the view pixel
under it, so a one-pixel brush paints exactly the pixel drawn under the cursor.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any, Protocol

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPointF, QRect, QRectF, QSize, QSizeF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QRegion,
    QResizeEvent,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import QApplication, QWidget

MIN_ZOOM, MAX_ZOOM = 1 / 64, 64.0
HANDLE = 8  # corner handle size in view pixels
MAX_BRUSH = 2000
KEY_OPS = ("pan", "brush_smaller", "brush_larger")  # what a key of set_keys can do


class Tool(str, Enum):
    BRUSH = "brush"
    ERASER = "eraser"
    MASK = "mask"
    MASK_ERASER = "mask_eraser"
    REGION = "region"  # drag inside the region to move it, drag a corner to resize


PAINT_TOOLS = (Tool.BRUSH, Tool.ERASER, Tool.MASK, Tool.MASK_ERASER)


class CanvasDocument(Protocol):
    """What the canvas needs from a document. `changed`, `maskChanged` (dirty QRect in image
    pixels) and `regionChanged` (QRect) are Qt signals."""

    changed: Any
    maskChanged: Any
    regionChanged: Any

    def image(self) -> QImage: ...
    def mask(self) -> QImage: ...
    def region(self) -> QRect: ...
    def set_region(self, rect: QRect) -> None: ...
    def begin_stroke(
        self, tool: str, pos: QPointF, size: float, hardness: float, color: QColor | None = None
    ) -> None: ...
    def stroke_to(self, pos: QPointF) -> None: ...
    def end_stroke(self) -> None: ...


def _bytes_view(image: QImage) -> np.ndarray:
    h = image.height()
    return np.frombuffer(image.bits(), np.uint8).reshape(h, image.bytesPerLine())


class CanvasView(QWidget):
    """Zoomable, pannable view of a `CanvasDocument` with brush, mask and region tools."""

    toolChanged = Signal(str)
    brushSizeChanged = Signal(int)
    zoomChanged = Signal(float)
    viewChanged = Signal()  # the zoom, the offset, the view's size or the image's size moved
    cursorMoved = Signal(QPointF)  # image coordinates under the cursor

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setMinimumSize(64, 64)
        self._doc: CanvasDocument | None = None
        self._zoom = 1.0
        self._offset = QPointF(0, 0)
        self._auto_fit = True  # keep fitting on resize until the user zooms or pans
        self._tool = Tool.BRUSH
        self._size = 24
        self._hardness = 0.8
        self._feather = 0.5
        self._color = QColor(Qt.GlobalColor.black)
        self._tint = QColor(255, 0, 0, 115)  # ~45 %
        self._mask_shown = True
        self._overlay = QImage()
        self._preview: QImage | None = None
        self._preview_smooth = True
        self._hover: QPointF | None = None  # view position of the cursor
        self._drag: str | None = None  # "stroke", "pan", "move", "resize"
        self._drag_start = QPointF()
        self._drag_region = QRect()
        self._anchor = QPointF()  # fixed corner while resizing (image coordinates)
        self._corner = (1, 1)  # direction from the anchor to the dragged corner
        self._space = False
        self._key_ops: dict[int, str] = {}  # key code -> what it does; see set_keys
        self._last_stroke_end: QPointF | None = None
        app = QApplication.instance()
        if app is not None:  # its keys work wherever the focus is in this window
            app.installEventFilter(self)

    def set_keys(self, keys: Mapping[str, Iterable[QKeySequence | str]]) -> None:
        """The keys the canvas handles itself, by what they do (`KEY_OPS`): "pan" (held, a drag
        pans), "brush_smaller", "brush_larger". Plain keys only: Shift and the keypad are
        ignored when pressed. The canvas defines no key of its own; the app's table of actions
        (app/actions.py) gives them."""
        ops: dict[int, str] = {}
        for op, sequences in keys.items():
            if op not in KEY_OPS:
                raise ValueError(f"the canvas has no key action {op!r}; it has {KEY_OPS}")
            for sequence in sequences:
                combination = QKeySequence(sequence)[0]
                if combination.keyboardModifiers() != Qt.KeyboardModifier.NoModifier:
                    raise ValueError(f"a canvas key takes no modifier: {sequence!r}")
                ops[combination.key().value] = op
        self._key_ops = ops

    # --- document -------------------------------------------------------------------------------
    def set_document(self, doc: CanvasDocument | None) -> None:
        if self._doc is not None:
            for signal, slot in self._connections():
                signal.disconnect(slot)
        self._doc = doc
        if doc is not None:
            for signal, slot in self._connections():
                signal.connect(slot)
        self._last_stroke_end = None
        self._preview = None
        self._rebuild_overlay()
        self._auto_fit = True
        self.fit()

    def document(self) -> CanvasDocument | None:
        return self._doc

    def _connections(self) -> list[tuple[Any, Any]]:
        assert self._doc is not None
        return [
            (self._doc.changed, self._on_image_changed),
            (self._doc.maskChanged, self._on_mask_changed),
            (self._doc.regionChanged, self._on_region_changed),
        ]

    def _image_size(self) -> QSize:
        return self._doc.image().size() if self._doc is not None else QSize()

    # --- tool settings --------------------------------------------------------------------------
    def tool(self) -> Tool:
        return self._tool

    def set_tool(self, tool: str) -> None:
        tool = Tool(tool)
        if tool != self._tool:
            self._finish_drag()
            self._tool = tool
            self._update_cursor()
            self.update()
            self.toolChanged.emit(tool.value)

    def brush_size(self) -> int:
        """Brush diameter in image pixels."""
        return self._size

    def set_brush_size(self, size: float) -> None:
        size = int(min(max(round(size), 1), MAX_BRUSH))
        if size != self._size:
            self._size = size
            self.update()
            self.brushSizeChanged.emit(size)

    def hardness(self) -> float:
        return self._hardness

    def set_hardness(self, hardness: float) -> None:
        self._hardness = min(max(float(hardness), 0.0), 1.0)

    def feather(self) -> float:
        """Soft edge of the mask tools, as a fraction of the radius."""
        return self._feather

    def set_feather(self, feather: float) -> None:
        self._feather = min(max(float(feather), 0.0), 1.0)

    def color(self) -> QColor:
        return QColor(self._color)

    def set_color(self, color: QColor) -> None:
        self._color = QColor(color)

    def set_mask_shown(self, shown: bool) -> None:
        """Whether the mask's tint is drawn (it is kept either way): the window hides it where
        nothing uses it, as its tint over an image looks like paint."""
        if shown != self._mask_shown:
            self._mask_shown = shown
            self.update()

    def mask_shown(self) -> bool:
        return self._mask_shown

    def set_mask_tint(self, color: QColor) -> None:
        """Colour of the mask overlay; its alpha is the overlay's opacity."""
        self._tint = QColor(color)
        self._rebuild_overlay()
        self.update()

    def preview(self, image: QImage | None, smooth: bool = True) -> None:
        """Shows `image` over the region until called with None. It is scaled into the region
        as it is painted (smoothly, or in square pixels with `smooth` False): a small preview
        is never made as large as the region, which can be 9000² pixels."""
        self._preview = None if image is None or image.isNull() else image
        self._preview_smooth = smooth
        if self._doc is None:
            self.update()
        else:  # only the region changes: the rest of a 9000² document is not drawn again
            self._update_image_rect(self._doc.region())

    def preview_image(self) -> QImage | None:
        """The preview shown over the region, at the size it was given."""
        return self._preview

    # --- view transform -------------------------------------------------------------------------
    def zoom(self) -> float:
        return self._zoom

    def offset(self) -> QPointF:
        return QPointF(self._offset)

    def transform(self) -> QTransform:
        """Image -> view transform."""
        return QTransform(self._zoom, 0, 0, self._zoom, self._offset.x(), self._offset.y())

    def map_to_image(self, view_pos: QPointF) -> QPointF:
        return (QPointF(view_pos) - self._offset) / self._zoom

    def map_from_image(self, image_pos: QPointF) -> QPointF:
        return QPointF(image_pos) * self._zoom + self._offset

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        """Zooms keeping the image point under `anchor` (view coordinates; default the centre)."""
        zoom = min(max(zoom, MIN_ZOOM), MAX_ZOOM)
        anchor = QPointF(anchor) if anchor is not None else QRectF(self.rect()).center()
        fixed = self.map_to_image(anchor)
        self._zoom = zoom
        self._offset = anchor - fixed * zoom
        self._auto_fit = False
        self.update()
        self.zoomChanged.emit(zoom)
        self.viewChanged.emit()

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        self.set_zoom(self._zoom * factor, anchor)

    def pan_by(self, dx: float, dy: float) -> None:
        self._offset += QPointF(dx, dy)
        self._auto_fit = False
        self.update()
        self.viewChanged.emit()

    def fit(self) -> None:
        """Zooms so the whole image fits the view, centred."""
        size = self._image_size()
        if size.isEmpty() or self.width() < 2 or self.height() < 2:
            return
        margin = 8
        zoom = min((self.width() - 2 * margin) / size.width(),
                   (self.height() - 2 * margin) / size.height())
        self._zoom = min(max(zoom, MIN_ZOOM), MAX_ZOOM)
        self._centre_image()
        self._auto_fit = True
        self.update()
        self.zoomChanged.emit(self._zoom)
        self.viewChanged.emit()

    def actual_size(self) -> None:
        """One image pixel per screen pixel, centred."""
        self._zoom = 1.0
        self._centre_image()
        self._auto_fit = False
        self.update()
        self.zoomChanged.emit(1.0)
        self.viewChanged.emit()

    def image_extent(self) -> QSizeF:
        """The image's size on screen, in view pixels."""
        size = self._image_size()
        return QSizeF(size.width() * self._zoom, size.height() * self._zoom)

    def _centre_image(self) -> None:
        size = self._image_size()
        # whole view pixels, so 100 % stays pixel-sharp
        self._offset = QPointF(round((self.width() - size.width() * self._zoom) / 2),
                               round((self.height() - size.height() * self._zoom) / 2))

    def _view_rect(self, rect: QRect | QRectF) -> QRectF:
        return self.transform().mapRect(QRectF(rect))

    def _update_image_rect(self, rect: QRect, margin: int = 2) -> None:
        self.update(self._view_rect(rect).toAlignedRect().adjusted(-margin, -margin,
                                                                   margin, margin))

    # --- document signals -----------------------------------------------------------------------
    def _on_image_changed(self, rect: QRect) -> None:
        if self._doc is not None and self._doc.image().size() != self._overlay.size():
            self._rebuild_overlay()  # a new image: the mask follows it
            if self._auto_fit:
                self.fit()
            self.update()
            self.viewChanged.emit()
            return
        self._update_image_rect(rect)

    def _on_mask_changed(self, rect: QRect) -> None:
        if self._doc is None:
            return
        if self._doc.mask().size() != self._overlay.size():
            self._rebuild_overlay()
            self.update()
            return
        self._update_overlay(rect)
        self._update_image_rect(rect)

    def _on_region_changed(self, _rect: QRect) -> None:
        self.update()

    def _rebuild_overlay(self) -> None:
        if self._doc is None or self._doc.mask().isNull():
            self._overlay = QImage()
            return
        mask = self._doc.mask()
        self._overlay = QImage(mask.size(), QImage.Format.Format_ARGB32_Premultiplied)
        self._update_overlay(mask.rect())

    def _update_overlay(self, rect: QRect) -> None:
        """Tints the mask pixels of `rect` into the premultiplied overlay."""
        assert self._doc is not None
        rect = rect.intersected(self._overlay.rect())
        if rect.isEmpty():
            return
        rows = slice(rect.top(), rect.bottom() + 1)
        mask = _bytes_view(self._doc.mask())[rows, rect.left(): rect.right() + 1]
        w = self._overlay.width()
        out = _bytes_view(self._overlay)[:, : w * 4].reshape(-1, w, 4)
        out = out[rows, rect.left(): rect.right() + 1]
        alpha = mask.astype(np.float32) * (self._tint.alpha() / 255.0)
        tint = QColor(self._tint).rgba() & 0xFFFFFF  # 0xRRGGBB
        argb = np.array([255, (tint >> 16) & 255, (tint >> 8) & 255, tint & 255], np.float32)
        order = argb[::-1] if np.little_endian else argb
        out[...] = np.rint(alpha[..., None] * (order / 255.0)).astype(np.uint8)

    # --- painting -------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(event.rect(), QColor(58, 58, 62))
        if self._doc is not None and not self._doc.image().isNull():
            self._paint_layers(painter, event.rect())
            self._paint_region(painter)
        self._paint_brush_cursor(painter)
        painter.end()

    def _paint_layers(self, painter: QPainter, exposed: QRect) -> None:
        assert self._doc is not None
        image = self._doc.image()
        inverse = self.transform().inverted()[0]
        src = inverse.mapRect(QRectF(exposed)).toAlignedRect().adjusted(-1, -1, 1, 1)
        src = src.intersected(image.rect())
        if src.isEmpty():
            return
        painter.save()
        hidden = self._hidden_by_preview()
        if not hidden.isEmpty():  # the document is not drawn where an opaque preview covers it
            painter.setClipRegion(QRegion(exposed).subtracted(QRegion(hidden)))
        painter.setTransform(self.transform())
        smooth = self._zoom < 1.0  # magnified pixels stay crisp squares
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
        painter.drawImage(QRectF(src), image, QRectF(src))
        if self._mask_shown and not self._overlay.isNull():
            painter.drawImage(QRectF(src), self._overlay, QRectF(src))
        painter.setClipping(False)
        if self._preview is not None:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self._preview_smooth)
            painter.drawImage(QRectF(self._doc.region()), self._preview,
                              QRectF(self._preview.rect()))
        painter.restore()

    def _hidden_by_preview(self) -> QRect:
        """The view pixels an opaque preview covers whole (one pixel in from its edges, which
        may be covered in part), where the document need not be drawn; empty without one."""
        if self._doc is None or self._preview is None or self._preview.hasAlphaChannel():
            return QRect()
        return self._view_rect(self._doc.region()).toAlignedRect().adjusted(1, 1, -1, -1)

    def _paint_region(self, painter: QPainter) -> None:
        assert self._doc is not None
        frame = self._view_rect(self._doc.region())
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(QColor(0, 0, 0, 200), 1))
        painter.drawRect(frame)
        dashed = QPen(QColor(255, 255, 255), 1, Qt.PenStyle.DashLine)
        painter.setPen(dashed)
        painter.drawRect(frame)
        painter.setPen(QPen(QColor(0, 0, 0), 1))
        painter.setBrush(QColor(255, 255, 255))
        for corner in self._corners(frame):
            painter.drawRect(self._handle_rect(corner))
        side = self._doc.region().width()
        label = f"{side} × {side}"
        metrics = painter.fontMetrics()
        at = self.region_label_pos(frame, metrics.ascent(), metrics.horizontalAdvance(label),
                                   QRectF(self.rect()), metrics.descent())
        for color, shift in ((QColor(0, 0, 0), QPointF(1, 1)), (QColor(255, 255, 255), QPointF())):
            painter.setPen(color)  # white text with a shadow reads on any image
            painter.drawText(at + shift, label)
        painter.restore()

    @staticmethod
    def region_label_pos(frame: QRectF, ascent: int, width: float = 0.0,
                         bounds: QRectF | None = None, descent: int = 0) -> QPointF:
        """The baseline of the region's size label (`width` wide): above the frame, or just
        inside its top edge when there is no room above (after fit() the frame can touch the
        view's top); then moved into `bounds` (the view) where the frame runs past its edges."""
        at = frame.topLeft() + QPointF(HANDLE, -4)
        top = bounds.top() if bounds is not None else 0.0
        if at.y() - ascent < top:
            at = frame.topLeft() + QPointF(HANDLE, ascent + HANDLE / 2 + 2)
        if bounds is None:
            return at
        margin = 2.0
        x = min(at.x(), bounds.right() - width - margin)
        y = min(at.y(), bounds.bottom() - descent - margin)
        return QPointF(max(x, bounds.left() + margin), max(y, bounds.top() + ascent + margin))

    def _paint_brush_cursor(self, painter: QPainter) -> None:
        if self._hover is None or self._tool not in PAINT_TOOLS or self._drag == "pan":
            return
        radius = self._size * self._zoom / 2
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for color, r in ((QColor(0, 0, 0, 200), radius + 1), (QColor(255, 255, 255), radius)):
            painter.setPen(QPen(color, 1))
            painter.drawEllipse(self._hover_centre(), r, r)
        painter.restore()

    def _hover_centre(self) -> QPointF:
        assert self._hover is not None
        return self._hover + QPointF(0.5, 0.5)

    def _brush_cursor_rect(self) -> QRect:
        if self._hover is None:
            return QRect()
        r = self._size * self._zoom / 2 + 3
        c = self._hover_centre()
        return QRectF(c.x() - r, c.y() - r, 2 * r, 2 * r).toAlignedRect()

    @staticmethod
    def _corners(frame: QRectF) -> list[QPointF]:
        return [frame.topLeft(), frame.topRight(), frame.bottomLeft(), frame.bottomRight()]

    @staticmethod
    def _handle_rect(corner: QPointF) -> QRectF:
        return QRectF(corner.x() - HANDLE / 2, corner.y() - HANDLE / 2, HANDLE, HANDLE)

    # --- mouse ----------------------------------------------------------------------------------
    def _image_pos(self, event: QMouseEvent | QWheelEvent) -> QPointF:
        # the centre of the view pixel under the cursor
        return self.map_to_image(event.position() + QPointF(0.5, 0.5))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        button = event.button()
        if self._drag is not None:
            return
        if button == Qt.MouseButton.MiddleButton or (
            button == Qt.MouseButton.LeftButton and self._space
        ):
            self._drag = "pan"
            self._drag_start = event.position()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
        elif button == Qt.MouseButton.LeftButton and self._doc is not None:
            if self._tool == Tool.REGION:
                self._press_region(event)
            else:
                self._press_stroke(event)
        self.update(self._brush_cursor_rect())
        event.accept()

    def _press_stroke(self, event: QMouseEvent) -> None:
        assert self._doc is not None
        pos = self._image_pos(event)
        hardness = 1.0 - self._feather if self._tool in (Tool.MASK, Tool.MASK_ERASER) \
            else self._hardness
        shift = event.modifiers() & Qt.KeyboardModifier.ShiftModifier
        start = self._last_stroke_end if shift and self._last_stroke_end is not None else pos
        self._doc.begin_stroke(self._tool.value, start, float(self._size), hardness, self._color)
        self._doc.stroke_to(pos)  # Shift+click: a straight line from the last stroke
        self._drag = "stroke"

    def _press_region(self, event: QMouseEvent) -> None:
        assert self._doc is not None
        region = self._doc.region()
        frame = self._view_rect(region)
        pos = event.position()
        self._drag_start = self._image_pos(event)
        self._drag_region = region
        for i, corner in enumerate(self._corners(frame)):
            if self._handle_rect(corner).adjusted(-3, -3, 3, 3).contains(pos):
                sx, sy = (1 if i in (1, 3) else -1), (1 if i in (2, 3) else -1)
                r = QRectF(region)
                self._anchor = QPointF(r.x() + (0 if sx > 0 else r.width()),
                                       r.y() + (0 if sy > 0 else r.height()))
                self._corner = (sx, sy)
                self._drag = "resize"
                return
        if frame.contains(pos):
            self._drag = "move"
            self.setCursor(Qt.CursorShape.ClosedHandCursor)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        old_cursor = self._brush_cursor_rect()
        self._hover = event.position()
        if self._drag == "pan":
            delta = event.position() - self._drag_start
            self._drag_start = event.position()
            self.pan_by(delta.x(), delta.y())
        elif self._drag == "stroke" and self._doc is not None:
            self._doc.stroke_to(self._image_pos(event))
        elif self._drag == "move" and self._doc is not None:
            delta = self._image_pos(event) - self._drag_start
            self._doc.set_region(self._drag_region.translated(round(delta.x()),
                                                              round(delta.y())))
        elif self._drag == "resize":
            self._resize_region(self._image_pos(event))
        elif self._tool == Tool.REGION:
            self._update_region_cursor(event.position())
        self.update(old_cursor)
        self.update(self._brush_cursor_rect())
        self.cursorMoved.emit(self._image_pos(event))

    def _resize_region(self, pos: QPointF) -> None:
        """Resizes from the dragged corner; the opposite corner stays, the region stays square."""
        assert self._doc is not None
        size = self._image_size()
        sx, sy = self._corner
        ax, ay = self._anchor.x(), self._anchor.y()
        side = max((pos.x() - ax) * sx, (pos.y() - ay) * sy)
        room_x = size.width() - ax if sx > 0 else ax
        room_y = size.height() - ay if sy > 0 else ay
        side = int(round(min(max(side, 1.0), room_x, room_y)))
        left = round(ax) if sx > 0 else round(ax) - side
        top = round(ay) if sy > 0 else round(ay) - side
        self._doc.set_region(QRect(left, top, side, side))

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._drag == "stroke" and self._doc is not None:
            self._doc.stroke_to(self._image_pos(event))
            self._last_stroke_end = self._image_pos(event)
        self._finish_drag()
        event.accept()

    def _finish_drag(self) -> None:
        drag, self._drag = self._drag, None
        if drag == "stroke" and self._doc is not None:
            self._doc.end_stroke()
        self._update_cursor()
        self.update(self._brush_cursor_rect())

    def leaveEvent(self, event: Any) -> None:
        self.update(self._brush_cursor_rect())
        self._hover = None
        super().leaveEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta()
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.zoom_by(math.pow(2.0, delta.y() / 480.0), event.position())  # 4 notches = 2x
        else:
            pixels = event.pixelDelta()
            dx, dy = (pixels.x(), pixels.y()) if not pixels.isNull() else (
                delta.x() / 3, delta.y() / 3)
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                dx, dy = dy, dx
            self.pan_by(dx, dy)
        event.accept()

    # --- keys -----------------------------------------------------------------------------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease) and self._is_window_key(watched):
            assert isinstance(event, QKeyEvent)
            press = kind == QEvent.Type.KeyPress
            if self._canvas_key(event, press):
                event.accept()
                return True
        return super().eventFilter(watched, event)

    def _is_window_key(self, watched: QObject) -> bool:
        """A key for this canvas: sent to a widget of its window while that window is active,
        and not typed into a text field."""
        if not isinstance(watched, QWidget) or not self.isVisible():
            return False
        window = self.window()
        if watched.window() is not window or not window.isActiveWindow():
            return False
        return not watched.testAttribute(Qt.WidgetAttribute.WA_InputMethodEnabled)

    def _canvas_key(self, event: QKeyEvent, press: bool) -> bool:
        """One of the keys of `set_keys` (pan while held, brush size); True if it was one."""
        op = self._key_ops.get(event.key())
        if op is None or event.modifiers() & ~(Qt.KeyboardModifier.KeypadModifier
                                               | Qt.KeyboardModifier.ShiftModifier):
            return False
        if op == "pan":
            if not event.isAutoRepeat():
                self._space = press
                self._update_cursor()
        elif press:
            grow = op == "brush_larger"
            self.set_brush_size(max(self._size + 1, self._size * 1.2) if grow
                                else min(self._size - 1, self._size / 1.2))
        return True

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if self._canvas_key(event, True):
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if self._canvas_key(event, False):
            event.accept()
            return
        super().keyReleaseEvent(event)

    def focusOutEvent(self, event: Any) -> None:
        self._space = False
        self._finish_drag()
        super().focusOutEvent(event)

    # --- cursors and resizing -------------------------------------------------------------------
    def _update_cursor(self) -> None:
        if self._drag == "pan":
            return
        if self._space:
            self.setCursor(Qt.CursorShape.OpenHandCursor)
        elif self._tool == Tool.REGION:
            self.setCursor(Qt.CursorShape.ArrowCursor)
            if self._hover is not None:
                self._update_region_cursor(self._hover)
        else:
            self.setCursor(Qt.CursorShape.CrossCursor)

    def _update_region_cursor(self, pos: QPointF) -> None:
        if self._doc is None or self._space:
            return
        frame = self._view_rect(self._doc.region())
        shapes = [Qt.CursorShape.SizeFDiagCursor, Qt.CursorShape.SizeBDiagCursor,
                  Qt.CursorShape.SizeBDiagCursor, Qt.CursorShape.SizeFDiagCursor]
        for corner, shape in zip(self._corners(frame), shapes):
            if self._handle_rect(corner).adjusted(-3, -3, 3, 3).contains(pos):
                self.setCursor(shape)
                return
        inside = frame.contains(pos)
        self.setCursor(Qt.CursorShape.OpenHandCursor if inside else Qt.CursorShape.ArrowCursor)

    def resizeEvent(self, event: QResizeEvent) -> None:
        if self._auto_fit:
            self.fit()
        super().resizeEvent(event)
        self.viewChanged.emit()

    def sizeHint(self) -> QSize:
        return QSize(800, 600)
