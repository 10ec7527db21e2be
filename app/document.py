"""The document: the image, the mask, the model region and their undo history.

The image is ARGB32 at the resolution the user works at; the mask is Grayscale8, 255 where
the model generates. The region is the square that goes to the model. Painting happens here, in
image coordinates, so the canvas only forwards cursor positions (see widgets.canvas).
"""

from __future__ import annotations

import sys

import numpy as np
from PySide6.QtCore import QObject, QPointF, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QUndoCommand, QUndoStack

IMAGE_FORMAT = QImage.Format.Format_ARGB32
MASK_FORMAT = QImage.Format.Format_Grayscale8
MIN_REGION = 8

PAINT_TOOLS = ("brush", "eraser")
MASK_TOOLS = ("mask", "mask_eraser")


def image_array(image: QImage) -> np.ndarray:
    """A writable numpy view of `image`'s pixels: (h, w, 4) for 32-bit formats, (h, w) for 8-bit.

    The view is only valid while `image` lives and is not detached: take a fresh one per use.
    """
    h, w = image.height(), image.width()
    raw = np.frombuffer(image.bits(), np.uint8).reshape(h, image.bytesPerLine())
    if image.depth() == 32:
        return raw[:, : w * 4].reshape(h, w, 4)
    return raw[:, :w]


def color_bytes(color: QColor) -> np.ndarray:
    """`color` as the 4 bytes of one ARGB32 pixel in memory order (BGRA on little-endian)."""
    argb = [color.alpha(), color.red(), color.green(), color.blue()]
    order = argb[::-1] if sys.byteorder == "little" else argb
    return np.array(order, np.float32)


def _slices(rect: QRect) -> tuple[slice, slice]:
    return slice(rect.top(), rect.bottom() + 1), slice(rect.left(), rect.right() + 1)


def segment_coverage(
    a: QPointF, b: QPointF, radius: float, hardness: float, rect: QRect
) -> np.ndarray:
    """Brush coverage in [0, 1] over `rect` for a round brush dragged from `a` to `b`.

    Coverage depends on the distance from each pixel centre to the segment: 1 inside
    radius * hardness, a smooth fall to 0 at the radius. The ramp is at least one pixel wide,
    so a hard brush is still anti-aliased.
    """
    xs = np.arange(rect.left(), rect.right() + 1, dtype=np.float32) + 0.5
    ys = np.arange(rect.top(), rect.bottom() + 1, dtype=np.float32) + 0.5
    px = xs[None, :] - np.float32(a.x())
    py = ys[:, None] - np.float32(a.y())
    dx, dy = np.float32(b.x() - a.x()), np.float32(b.y() - a.y())
    length2 = dx * dx + dy * dy
    if length2 > 0:
        t = np.clip((px * dx + py * dy) / length2, 0.0, 1.0)
        px, py = px - t * dx, py - t * dy
    dist = np.hypot(px, py)
    ramp = max(radius * (1.0 - hardness), 1.0)
    u = np.clip((radius + 0.5 - dist) / ramp, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


SMOOTH = Qt.TransformationMode.SmoothTransformation


class _PixelsCommand(QUndoCommand):
    """Before/after pixels of one rectangle of the image or the mask."""

    def __init__(
        self,
        doc: Document,
        target: str,
        rect: QRect,
        before: np.ndarray,
        after: np.ndarray,
        text: str,
        applied: bool = False,
    ) -> None:
        super().__init__(text)
        self._doc, self._target, self._rect = doc, target, QRect(rect)
        self._before, self._after = before, after
        self._skip_redo = applied  # a stroke is already on the canvas when it is pushed

    def redo(self) -> None:
        if self._skip_redo:
            self._skip_redo = False
            return
        self._doc._write_pixels(self._target, self._rect, self._after)

    def undo(self) -> None:
        self._doc._write_pixels(self._target, self._rect, self._before)


class _ReplaceCommand(QUndoCommand):
    """Swaps the whole image and/or mask (and the region with them)."""

    def __init__(
        self,
        doc: Document,
        text: str,
        image: QImage | None = None,
        mask: QImage | None = None,
        region: QRect | None = None,
    ) -> None:
        super().__init__(text)
        self._doc = doc
        self._new = (image, mask, region)
        self._old = (
            doc._image if image is not None else None,
            doc._mask if mask is not None else None,
            QRect(doc._region) if region is not None else None,
        )

    def redo(self) -> None:
        self._doc._replace(*self._new)

    def undo(self) -> None:
        self._doc._replace(*self._old)


class _Stroke:
    """State of the drag in progress: the pixels before it and its coverage so far."""

    def __init__(self, target: str, tool: str, before: np.ndarray, radius: float,
                 hardness: float, color: np.ndarray, opacity: float, pos: QPointF) -> None:
        self.target, self.tool = target, tool
        self.before = before
        self.coverage = np.zeros(before.shape[:2], np.float32)  # zero pages cost nothing
        self.radius, self.hardness = radius, hardness
        self.color, self.opacity = color, opacity
        self.last = QPointF(pos)
        self.bounds = QRect()


class Document(QObject):
    """Image + mask + model region + undo stack. Satisfies widgets.canvas.CanvasDocument."""

    changed = Signal(QRect)  # image pixels changed in this rect (or the image was replaced)
    maskChanged = Signal(QRect)
    regionChanged = Signal(QRect)
    modifiedChanged = Signal(bool)
    strokeEnded = Signal()  # a brush, eraser or mask drag was let go

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.undo_stack = QUndoStack(self)
        self.undo_stack.cleanChanged.connect(self._on_clean_changed)
        self.background = QColor(Qt.GlobalColor.white)
        self._image = QImage()
        self._mask = QImage()
        self._region = QRect()
        self._stroke: _Stroke | None = None
        self.new_blank(512, 512, self.background)

    # --- reading -----------------------------------------------------------------------------
    def image(self) -> QImage:
        """The image itself (read it, don't paint on it: changes go through the document)."""
        return self._image

    def mask(self) -> QImage:
        return self._mask

    def region(self) -> QRect:
        return QRect(self._region)

    def size(self) -> QSize:
        return self._image.size()

    def region_image(self) -> QImage:
        return self._image.copy(self._region)

    def region_mask(self) -> QImage:
        return self._mask.copy(self._region)

    @property
    def modified(self) -> bool:
        return not self.undo_stack.isClean()

    def _on_clean_changed(self, clean: bool) -> None:
        self.modifiedChanged.emit(not clean)

    def set_saved(self) -> None:
        """Marks the current state as saved (modified becomes False)."""
        self.undo_stack.setClean()

    # --- whole-document changes ----------------------------------------------------------------
    def new_blank(self, width: int, height: int, color: QColor | None = None) -> None:
        """A fresh document: a filled image, an empty mask, no history."""
        if color is not None:
            self.background = QColor(color)
        image = QImage(max(1, width), max(1, height), IMAGE_FORMAT)
        image.fill(self.background)
        self._stroke = None
        self.undo_stack.clear()
        self._replace(image, self._blank_mask(image.size()), self._centred_region(image.size()))
        self.undo_stack.setClean()

    def set_image(self, image: QImage, text: str = "Set image") -> None:
        """Replaces the image (undoable); the mask is cleared and the region re-centred."""
        image = image.convertToFormat(IMAGE_FORMAT)
        size = image.size()
        self.undo_stack.push(_ReplaceCommand(
            self, text, image, self._blank_mask(size), self._centred_region(size)))

    def set_mask(self, mask: QImage, text: str = "Set mask") -> None:
        """Replaces the mask (undoable), scaled to the image size."""
        mask = mask.convertToFormat(MASK_FORMAT)
        if mask.size() != self._image.size():
            mask = mask.scaled(self._image.size(), Qt.AspectRatioMode.IgnoreAspectRatio,
                               Qt.TransformationMode.SmoothTransformation)
        self.undo_stack.push(_ReplaceCommand(self, text, mask=mask))

    def clear_mask(self) -> None:
        if image_array(self._mask).any():
            self.set_mask(self._blank_mask(self._image.size()), "Clear mask")

    def invert_mask(self) -> None:
        inverted = self._mask.copy()
        view = image_array(inverted)
        view[...] = 255 - view
        self.set_mask(inverted, "Invert mask")

    def paste_into_region(self, result: QImage, text: str = "Apply result",
                          scaling: Qt.TransformationMode = SMOOTH, masked: bool = False) -> None:
        """Puts `result` into the region at full resolution, scaled to its size (undoable);
        `scaling` is the result view's, so the canvas shows what the view showed. `masked`
        (an inpainting): only under the mask, blended by its softness; the rest keeps its
        full-resolution pixels (an empty mask: the whole region, as unmasked)."""
        rect = QRect(self._region)
        scaled = result.convertToFormat(IMAGE_FORMAT).scaled(
            rect.size(), Qt.AspectRatioMode.IgnoreAspectRatio, scaling)
        before = self._read_pixels("image", rect)
        after = image_array(scaled).copy()
        mask = self._read_pixels("mask", rect) if masked else None
        if mask is not None and mask.any():
            share = mask.astype(np.float32)[..., None] / 255.0
            after = np.rint(before * (1.0 - share) + after * share).astype(np.uint8)
        self.undo_stack.push(_PixelsCommand(self, "image", rect, before, after, text))

    # --- the region ----------------------------------------------------------------------------
    def set_region(self, rect: QRect) -> None:
        """Moves/resizes the region; it stays square and inside the image."""
        rect = self._clamped_region(rect)
        if rect != self._region:
            self._region = rect
            self.regionChanged.emit(QRect(rect))

    def reset_region(self, side: int | None = None) -> None:
        """Centres the region; `side` defaults to the image's shorter side."""
        self.set_region(self._centred_region(self._image.size(), side))

    def _clamped_region(self, rect: QRect) -> QRect:
        w, h = self._image.width(), self._image.height()
        side = max(min(rect.width(), rect.height()), min(MIN_REGION, w, h))
        side = min(side, w, h)
        x = min(max(rect.x(), 0), w - side)
        y = min(max(rect.y(), 0), h - side)
        return QRect(x, y, side, side)

    def _centred_region(self, size: QSize, side: int | None = None) -> QRect:
        side = min(size.width(), size.height()) if side is None else side
        side = min(side, size.width(), size.height())
        return QRect((size.width() - side) // 2, (size.height() - side) // 2, side, side)

    # --- strokes: one drag = one undo step ----------------------------------------------------
    def begin_stroke(
        self, tool: str, pos: QPointF, size: float, hardness: float, color: QColor | None = None
    ) -> None:
        """Starts a drag of `tool` ('brush', 'eraser', 'mask', 'mask_eraser') at `pos`.

        `pos` and `size` (the diameter) are in image pixels; `hardness` in [0, 1].
        """
        if self._stroke is not None:
            self.end_stroke()
        tool = str(getattr(tool, "value", tool))
        if tool not in PAINT_TOOLS + MASK_TOOLS:
            raise ValueError(f"unknown tool {tool!r}")
        target = "mask" if tool in MASK_TOOLS else "image"
        if tool == "eraser" or color is None:
            paint = QColor(self.background if tool == "eraser" else Qt.GlobalColor.black)
        else:
            paint = QColor(color)
        opacity = paint.alphaF() if tool == "brush" else 1.0
        paint = QColor(paint.red(), paint.green(), paint.blue(), 255)
        before = image_array(self._target_image(target)).copy()
        self._stroke = _Stroke(target, tool, before, max(size, 1.0) / 2.0,
                               min(max(hardness, 0.0), 1.0), color_bytes(paint), opacity, pos)
        self.stroke_to(pos)

    def stroke_to(self, pos: QPointF) -> None:
        """Paints the segment from the previous position to `pos` (no gaps at any speed)."""
        s = self._stroke
        if s is None:
            return
        a, b, r = s.last, QPointF(pos), s.radius + 1.0
        box = QRect(
            int(np.floor(min(a.x(), b.x()) - r)), int(np.floor(min(a.y(), b.y()) - r)), 0, 0
        )
        box.setRight(int(np.ceil(max(a.x(), b.x()) + r)))
        box.setBottom(int(np.ceil(max(a.y(), b.y()) + r)))
        rect = box.intersected(self._image.rect())
        s.last = b
        if rect.isEmpty():
            return
        rows, cols = _slices(rect)
        cov = s.coverage[rows, cols]
        np.maximum(cov, segment_coverage(a, b, s.radius, s.hardness, rect), out=cov)
        self._composite(s, rect, cov)
        s.bounds = s.bounds.united(rect)

    def end_stroke(self) -> None:
        """Finishes the drag and records it as one undo command."""
        s, self._stroke = self._stroke, None
        if s is None or s.bounds.isEmpty():
            return
        rows, cols = _slices(s.bounds)
        before = s.before[rows, cols].copy()
        after = self._read_pixels(s.target, s.bounds)
        text = {"brush": "Brush", "eraser": "Eraser", "mask": "Mask", "mask_eraser": "Erase mask"}
        self.undo_stack.push(
            _PixelsCommand(self, s.target, s.bounds, before, after, text[s.tool], applied=True)
        )
        self.strokeEnded.emit()

    def _composite(self, s: _Stroke, rect: QRect, cov: np.ndarray) -> None:
        rows, cols = _slices(rect)
        before = s.before[rows, cols]
        out = image_array(self._target_image(s.target))[rows, cols]
        if s.tool == "mask":
            np.maximum(before, np.rint(cov * 255).astype(np.uint8), out=out)
        elif s.tool == "mask_eraser":
            np.minimum(before, np.rint((1.0 - cov) * 255).astype(np.uint8), out=out)
        else:  # colour is blended from the before-pixels, so overlaps never build up
            alpha = (cov * s.opacity)[..., None]
            out[...] = np.rint(before + (s.color - before) * alpha).astype(np.uint8)
        self._emit_target(s.target, rect)

    # --- internals -----------------------------------------------------------------------------
    def _target_image(self, target: str) -> QImage:
        return self._mask if target == "mask" else self._image

    def _read_pixels(self, target: str, rect: QRect) -> np.ndarray:
        rows, cols = _slices(rect)
        return image_array(self._target_image(target))[rows, cols].copy()

    def _write_pixels(self, target: str, rect: QRect, pixels: np.ndarray) -> None:
        rows, cols = _slices(rect)
        image_array(self._target_image(target))[rows, cols] = pixels
        self._emit_target(target, rect)

    def _emit_target(self, target: str, rect: QRect) -> None:
        (self.maskChanged if target == "mask" else self.changed).emit(QRect(rect))

    def _replace(
        self, image: QImage | None, mask: QImage | None, region: QRect | None
    ) -> None:
        if image is not None or mask is not None:
            self._stroke = None  # a drag cannot go on across a replaced image or mask
        if image is not None:
            self._image = image
            self.changed.emit(image.rect())
        if mask is not None:
            self._mask = mask
            self.maskChanged.emit(mask.rect())
        if region is not None and region != self._region:
            self._region = QRect(region)
            self.regionChanged.emit(QRect(region))

    @staticmethod
    def _blank_mask(size: QSize) -> QImage:
        mask = QImage(size, MASK_FORMAT)
        mask.fill(0)
        return mask
