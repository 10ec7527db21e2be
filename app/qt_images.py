"""QImage <-> numpy <-> PIL.Image, exact for grey, RGB and RGBA pixels.

Every function returns data that owns its memory: arrays are copies of the QImage's pixels
(without the row padding Qt adds to lines whose byte count is not a multiple of 4, e.g. a
28 px grey image has 32-byte lines), and QImages built from arrays are deep copies, so the
array may be freed or changed afterwards (the trap pyqtgraph's `ndarray_to_qimage` warns of).

Modes follow Pillow's names: "L" (h, w) grey, "RGB" (h, w, 3), "RGBA" (h, w, 4) not
premultiplied.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QImage

Format = QImage.Format
MODE_FORMATS = {"L": Format.Format_Grayscale8, "RGB": Format.Format_RGB888,
                "RGBA": Format.Format_RGBA8888}
MODE_CHANNELS = {"L": 1, "RGB": 3, "RGBA": 4}
_GREY_FORMATS = (Format.Format_Grayscale8, Format.Format_Grayscale16)
_PALETTE_FORMATS = (Format.Format_Indexed8, Format.Format_Mono, Format.Format_MonoLSB)
_GREY_PIL_MODES = ("1", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def is_grey(image: QImage) -> bool:
    """True for grey formats, and palette images whose colours are all grey."""
    fmt = image.format()
    if fmt in _GREY_FORMATS:
        return True
    return fmt in _PALETTE_FORMATS and image.isGrayscale()


def natural_mode(image: QImage) -> str:
    """The Pillow mode that holds `image` without loss: "L", "RGBA" or "RGB"."""
    if is_grey(image):
        return "L"
    return "RGBA" if image.hasAlphaChannel() else "RGB"


def qimage_to_numpy(image: QImage, mode: str | None = None) -> np.ndarray:
    """A uint8 copy of `image`'s pixels: (h, w) for "L", (h, w, 3) "RGB", (h, w, 4) "RGBA".

    `mode` defaults to `natural_mode(image)`; other modes are converted by Qt.
    """
    mode = natural_mode(image) if mode is None else mode
    if mode not in MODE_FORMATS:
        raise ValueError(f"mode must be one of {sorted(MODE_FORMATS)}, not {mode!r}")
    channels = MODE_CHANNELS[mode]
    h, w = image.height(), image.width()
    if image.isNull() or h == 0 or w == 0:
        return np.zeros((0, 0) if channels == 1 else (0, 0, channels), np.uint8)
    converted = image.convertToFormat(MODE_FORMATS[mode])
    line = converted.bytesPerLine()
    raw = np.frombuffer(converted.constBits(), np.uint8, count=h * line).reshape(h, line)
    pixels = raw[:, : w * channels]
    if channels > 1:
        pixels = pixels.reshape(h, w, channels)
    return pixels.copy()  # the copy owns its memory; `converted` may go now


def numpy_to_qimage(array: np.ndarray) -> QImage:
    """A QImage (Grayscale8, RGB888 or RGBA8888) that owns a copy of `array`'s pixels.

    `array` is uint8 (or bool) with shape (h, w), (h, w, 1), (h, w, 3) or (h, w, 4).
    """
    a = np.asarray(array)
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    if a.dtype != np.uint8:
        raise ValueError(f"numpy_to_qimage needs uint8 pixels, got {a.dtype}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    mode = _mode_of_shape(a.shape)
    h, w = a.shape[:2]
    if h == 0 or w == 0:
        return QImage()
    a = np.ascontiguousarray(a)
    view = QImage(a.data, w, h, a.strides[0], MODE_FORMATS[mode])  # borrows `a`...
    return view.copy()  # ...so copy before `a` can be freed


def _mode_of_shape(shape: tuple[int, ...]) -> str:
    if len(shape) == 2:
        return "L"
    if len(shape) == 3 and shape[2] in (3, 4):
        return "RGB" if shape[2] == 3 else "RGBA"
    raise ValueError(f"pixels must be (h, w), (h, w, 3) or (h, w, 4), got {tuple(shape)}")


def raw_rows(image: QImage, image_format: QImage.Format) -> np.ndarray | None:
    """`image`'s bytes as (height, bytes per line), without copying, if it is in `image_format`
    and not empty; else None. Pillow reads them (Image.frombytes) while other threads run, where
    QImage's own conversions hold Python's lock (half a second for 9000 x 9000)."""
    if image.isNull() or image.format() != image_format or image.width() == 0:
        return None
    h, line = image.height(), image.bytesPerLine()
    return np.frombuffer(image.constBits(), np.uint8, count=h * line).reshape(h, line)


def qimage_to_pil(image: QImage, mode: str | None = None) -> Image.Image:
    """`image` as a Pillow image in `mode` ("L", "RGB", "RGBA"; default: its natural mode)."""
    return Image.fromarray(qimage_to_numpy(image, mode))


def pil_to_qimage(img: Image.Image) -> QImage:
    """A Pillow image as a QImage: "L" -> Grayscale8, "RGB" -> RGB888, alpha -> RGBA8888.

    Other modes are converted first: 1-bit, 16-bit and float to "L"; palettes to RGB(A).
    """
    if img.mode not in MODE_FORMATS:
        img = img.convert(_pil_target_mode(img))
    return numpy_to_qimage(np.asarray(img))


def _pil_target_mode(img: Image.Image) -> str:
    if img.mode in _GREY_PIL_MODES:
        return "L"
    has_alpha = "A" in img.getbands() or "transparency" in img.info
    return "RGBA" if has_alpha else "RGB"


BLACK, WHITE = QColor(0, 0, 0), QColor(255, 255, 255)


def scaling_for(image: QImage) -> Qt.TransformationMode:
    """Tiny model outputs (the 28 × 28 digits) keep square pixels; larger ones are smoothed."""
    if image.width() <= 64:
        return Qt.TransformationMode.FastTransformation
    return Qt.TransformationMode.SmoothTransformation


def brush_for(background: QColor) -> QColor:
    """A brush colour that shows on `background`: white on dark, black on light."""
    return WHITE if background.lightness() < 128 else BLACK


@contextmanager
def busy_cursor() -> Iterator[None]:
    """The wait cursor while the GUI thread does seconds of work (a huge image)."""
    QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        yield
    finally:
        QGuiApplication.restoreOverrideCursor()


SHOWS_DISTANCE = 100  # RGB distance under which a brush hardly shows on a background


def brush_that_shows(current: QColor, background: QColor) -> QColor:
    """The user's brush colour where it shows on `background`, else brush_for(background):
    opening an image must not undo the colour they picked."""
    gap = sum((a - b) ** 2 for a, b in zip(current.getRgb()[:3], background.getRgb()[:3],
                                             strict=True)) ** 0.5
    return current if gap >= SHOWS_DISTANCE else brush_for(background)


def mean_colour(image: QImage) -> QColor:
    """The image's average colour (what a brush must show on)."""
    return image.scaled(1, 1, Qt.AspectRatioMode.IgnoreAspectRatio,
                        Qt.TransformationMode.SmoothTransformation).pixelColor(0, 0)
