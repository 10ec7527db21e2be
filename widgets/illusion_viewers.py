"""Viewers for illusions: an anagram beside its view, with the turn animated; a hybrid at
several sizes and blurred / sharpened, so both of its prompts can be seen.

The views mirror engine.views by name (flip, mirror, rot90, rot180, rot270, transpose, negate)
with Qt's own image operations; this module imports neither engine/ nor app/.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import Qt, QVariantAnimation
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap, QTransform
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from widgets.image_strip import ImageCell, scaled_to

SIDE = 224
ANIMATION_MS = 1200
HYBRID_SIZES = (256, 128, 64, 32, 16)


def _rotated(image: QImage, degrees_anticlockwise: int) -> QImage:
    return image.transformed(QTransform().rotate(-degrees_anticlockwise))


def _mirrored(image: QImage, horizontal: bool, vertical: bool) -> QImage:
    if not hasattr(image, "flipped"):  # Qt < 6.9
        return image.mirrored(horizontal, vertical)
    orientations = Qt.Orientation(0)
    if horizontal:
        orientations |= Qt.Orientation.Horizontal
    if vertical:
        orientations |= Qt.Orientation.Vertical
    return image.flipped(orientations)


def _negated(image: QImage) -> QImage:
    out = image.convertToFormat(image.format())
    out.invertPixels()
    return out


VIEW_IMAGES: dict[str, Callable[[QImage], QImage]] = {
    "identity": lambda im: QImage(im),
    "flip": lambda im: _mirrored(im, False, True),
    "mirror": lambda im: _mirrored(im, True, False),
    "rot90": lambda im: _rotated(im, 90),
    "rot180": lambda im: _rotated(im, 180),
    "rot270": lambda im: _rotated(im, 270),
    "transpose": lambda im: _mirrored(_rotated(im, 90), False, True),
    "negate": _negated,
}
VIEW_TEXT = {"flip": "turned upside down", "mirror": "mirrored", "rot90": "turned 90° left",
             "rot180": "turned 180°", "rot270": "turned 90° right",
             "transpose": "mirrored about the diagonal", "negate": "negated",
             "identity": "as it is"}


def view_image(image: QImage, view: str) -> QImage:
    """`image` as seen through the anagram view `view` (the engine's view of the same name)."""
    if view not in VIEW_IMAGES:
        raise ValueError(f"unknown view {view!r}")
    return VIEW_IMAGES[view](image)


def view_transform(view: str, p: float, side: float) -> QTransform:
    """The transform of a side x side picture `p` of the way (0 … 1) through `view`'s turn,
    about the picture's centre. At p = 1 it is the view (negate is a cross-fade instead)."""
    c = side / 2
    t = QTransform().translate(c, c)
    if view == "flip":
        t.scale(1, 1 - 2 * p)
    elif view == "mirror":
        t.scale(1 - 2 * p, 1)
    elif view in ("rot90", "rot180", "rot270"):
        t.rotate(-{"rot90": 90, "rot180": 180, "rot270": 270}[view] * p)
    elif view == "transpose":
        t.rotate(45)
        t.scale(1, 1 - 2 * p)
        t.rotate(-45)
    return t.translate(-c, -c)


def animation_frame(image: QImage, view: str, p: float, side: int = SIDE) -> QImage:
    """The picture `p` of the way through the turn, side x side on black."""
    picture = scaled_to(image, side).scaled(side, side, Qt.AspectRatioMode.IgnoreAspectRatio,
                                            Qt.TransformationMode.FastTransformation)
    out = QImage(side, side, QImage.Format.Format_RGB888)
    out.fill(QColor(0, 0, 0))
    painter = QPainter(out)
    if view == "negate":
        painter.drawImage(0, 0, picture)
        painter.setOpacity(p)
        painter.drawImage(0, 0, _negated(picture))
    else:
        painter.setTransform(view_transform(view, p, side))
        painter.drawImage(0, 0, picture)
    painter.end()
    return out


class AnagramViewer(QDialog):
    """The result upright, its view, and an animation that turns one into the other."""

    def __init__(self, image: QImage, view: str, prompts: tuple[str, str] = ("", ""),
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Anagram viewer")
        self.image = QImage(image)
        self.view = view
        self.upright = ImageCell(f"upright: {prompts[0]!r}" if prompts[0] else "upright", SIDE,
                                 self)
        self.viewed = ImageCell(f"{VIEW_TEXT.get(view, view)}: {prompts[1]!r}"
                                if prompts[1] else VIEW_TEXT.get(view, view), SIDE, self)
        self.upright.set_image(self.image)
        self.viewed.set_image(view_image(self.image, view))
        self.stage = QLabel(self)
        self.stage.setFixedSize(SIDE, SIDE)
        self.progress = 0.0
        self.animation = QVariantAnimation(self)
        self.animation.setStartValue(0.0)
        self.animation.setEndValue(1.0)
        self.animation.setDuration(ANIMATION_MS)
        self.animation.valueChanged.connect(self.set_progress)
        self.turn_button = QPushButton("Turn it", self)
        self.turn_button.setToolTip(f"Animate the view: {VIEW_TEXT.get(view, view)}")
        self.turn_button.clicked.connect(self.turn)
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setRange(0, 100)
        self.slider.valueChanged.connect(lambda v: self.set_progress(v / 100))
        self._lay_out()
        self.set_progress(0.0)

    def _lay_out(self) -> None:
        row = QHBoxLayout()
        row.addWidget(self.upright)
        row.addWidget(self.viewed)
        animated = QVBoxLayout()
        animated.addWidget(self.stage)
        animated.addWidget(self.slider)
        animated.addWidget(self.turn_button)
        row.addLayout(animated)
        layout = QVBoxLayout(self)
        layout.addLayout(row)

    def set_progress(self, p: float) -> None:
        self.progress = float(p)
        self.slider.blockSignals(True)
        self.slider.setValue(round(self.progress * 100))
        self.slider.blockSignals(False)
        self.stage.setPixmap(QPixmap.fromImage(self.frame()))

    def frame(self) -> QImage:
        return animation_frame(self.image, self.view, self.progress)

    def turn(self) -> None:
        """Plays the turn forward, or back if it was turned already."""
        forward = self.progress < 0.5
        self.animation.stop()
        self.animation.setStartValue(self.progress)
        self.animation.setEndValue(1.0 if forward else 0.0)
        self.animation.start()


def _rgb_array(image: QImage) -> np.ndarray:
    converted = image.convertToFormat(QImage.Format.Format_RGB888)
    h, w, line = converted.height(), converted.width(), converted.bytesPerLine()
    raw = np.frombuffer(converted.constBits(), np.uint8, count=h * line).reshape(h, line)
    return raw[:, : w * 3].reshape(h, w, 3).astype(np.float32)


def _to_qimage(a: np.ndarray) -> QImage:
    a = np.ascontiguousarray(np.clip(a, 0, 255).round().astype(np.uint8))
    h, w = a.shape[:2]
    return QImage(a.data, w, h, a.strides[0], QImage.Format.Format_RGB888).copy()


def blurred(image: QImage, factor: int = 4) -> QImage:
    """The far view: down by `factor` and back up, smoothly (what the low-pass prompt is)."""
    w, h = image.width(), image.height()
    small = image.scaled(max(1, w // factor), max(1, h // factor),
                         Qt.AspectRatioMode.IgnoreAspectRatio,
                         Qt.TransformationMode.SmoothTransformation)
    return small.scaled(w, h, Qt.AspectRatioMode.IgnoreAspectRatio,
                        Qt.TransformationMode.SmoothTransformation)


def sharpened(image: QImage, factor: int = 4) -> QImage:
    """The close view: the image minus its blur, around mid-grey (the high-pass prompt)."""
    detail = _rgb_array(image) - _rgb_array(blurred(image, factor))
    return _to_qimage(128 + 2 * detail)


class HybridViewer(QDialog):
    """The hybrid at several sizes, large to tiny, and blurred / sharpened."""

    def __init__(self, image: QImage, prompts: tuple[str, str] = ("", ""),
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Hybrid viewer")
        self.image = QImage(image)
        self.sizes: list[QLabel] = []
        row = QHBoxLayout()
        for side in HYBRID_SIZES:
            label = QLabel(self)
            label.setPixmap(QPixmap.fromImage(self.at_size(side)))
            label.setAlignment(Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignHCenter)
            label.setToolTip(f"{side} px")
            row.addWidget(label)
            self.sizes.append(label)
        far, close = prompts
        self.far = ImageCell(f"blurred (far): {far!r}" if far else "blurred (far)", 160, self)
        self.far.set_image(blurred(self.image))
        self.close_ = ImageCell(f"sharpened (close): {close!r}" if close else
                                "sharpened (close)", 160, self)
        self.close_.set_image(sharpened(self.image))
        second = QHBoxLayout()
        second.addWidget(self.far)
        second.addWidget(self.close_)
        second.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Large, it reads as the close (high-pass) prompt; small or "
                                "blurred, as the far (low-pass) one.", self))
        layout.addLayout(row)
        layout.addLayout(second)

    def at_size(self, side: int) -> QImage:
        mode = (Qt.TransformationMode.FastTransformation if side >= self.image.width()
                else Qt.TransformationMode.SmoothTransformation)
        return self.image.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio, mode)

    def shown_sizes(self) -> list[int]:
        return [label.pixmap().width() for label in self.sizes]

