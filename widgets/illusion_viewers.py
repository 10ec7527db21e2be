"""Viewers for illusions: an anagram beside its view, with the turn animated; a hybrid at
several sizes and blurred / sharpened, so both of its prompts can be seen.

The views mirror engine.views by name (flip, mirror, rot90, rot180, rot270, transpose, negate)
with Qt's own image operations; the permutation views (jigsaw, patches, ...) come from the app
as images and per-pixel motions. This module imports neither engine/ nor app/.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import Qt, QVariantAnimation, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap, QTransform
from PySide6.QtWidgets import (
    QComboBox,
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
GIF_STEPS, GIF_HOLD = 12, 6  # frames of a view's animation, and frames held at either end


def display_side(n: int, side: int = SIDE) -> int:
    """The side every panel of an n px anagram is drawn at: the whole multiple of n nearest to
    `side` (pixels stay square blocks: 28 and 32 px -> 224, 64 -> 256, 256 -> 256), or `side`
    for an image too large for one."""
    factor = round(side / max(1, n))
    return n * factor if factor >= 1 else side


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
             "identity": "as it is", "jigsaw": "jigsaw pieces moved",
             "patches": "patches shuffled", "pixels": "pixels shuffled",
             "inner-circle": "inner circle turned", "square-hinge": "squares hinged",
             "skew": "skewed"}


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


def _rgb_of(image: QImage) -> np.ndarray:
    converted = image.convertToFormat(QImage.Format.Format_RGB888)
    h, w, line = converted.height(), converted.width(), converted.bytesPerLine()
    raw = np.frombuffer(converted.constBits(), np.uint8, count=h * line).reshape(h, line)
    return raw[:, : w * 3].reshape(h, w, 3).copy()


def motion_frame(image: QImage, motion: np.ndarray, p: float, side: int = SIDE) -> QImage:
    """A permutation view `p` of the way through: every pixel on its way, as `motion` says
    (float [5, n, n]: angle in degrees anticlockwise, pivot y, pivot x, shift y, shift x; at
    p = 1 each pixel is where the view puts it). Pixels are drawn as blocks, the still ones
    first; mid-way the blocks are larger so a turning piece shows no gaps."""
    rgb = _rgb_of(image)
    n = rgb.shape[0]
    scale = max(1, side // n)
    angle, py, px, sy, sx = (np.asarray(m, np.float64) for m in motion)
    y, x = np.mgrid[0:n, 0:n].astype(np.float64)
    theta = np.deg2rad(angle * p)
    dy, dx = y - py, x - px
    at_x = px + np.cos(theta) * dx + np.sin(theta) * dy + p * sx
    at_y = py - np.sin(theta) * dx + np.cos(theta) * dy + p * sy
    top, left = np.rint(at_y * scale).astype(int), np.rint(at_x * scale).astype(int)
    moving = (angle != 0) | (sx != 0) | (sy != 0)
    order = np.argsort(moving.ravel(), kind="stable")  # the still pixels first
    top, left, colours = top.ravel()[order], left.ravel()[order], rgb.reshape(-1, 3)[order]
    canvas = np.zeros((n * scale, n * scale, 3), np.uint8)
    # mid-way a block turned by 45° needs √2 of its side to leave no gaps between neighbours
    block = int(np.ceil(scale * 1.45)) if 0 < p < 1 else scale
    lead = (block - scale) // 2
    for oy in range(block):
        for ox in range(block):
            yy, xx = top + oy - lead, left + ox - lead
            inside = (yy >= 0) & (yy < n * scale) & (xx >= 0) & (xx < n * scale)
            canvas[yy[inside], xx[inside]] = colours[inside]
    return _to_qimage(canvas.astype(np.float32))


class AnagramViewer(QDialog):
    """The result upright and through each of its views, an animation of one view at a time
    (a turn, or for a permutation every piece on its way), the scores that say how well the
    illusion works, and the animation of every view in turn as a GIF (`exportRequested`).

    `views`: (name, viewed image) for every view after the upright one (default: `view`, made
    here with Qt); `motions`: name -> float [5, n, n] for the permutation views (engine.views'
    `motion`); `scores`: a line to show (alignment and concealment)."""

    exportRequested = Signal()

    def __init__(self, image: QImage, view: str, prompts: tuple[str, ...] = ("", ""),
                 parent: QWidget | None = None, *,
                 views: list[tuple[str, QImage]] | None = None,
                 motions: dict[str, np.ndarray] | None = None,
                 scores: str | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Anagram viewer")
        self.image = QImage(image)
        self.views = views or [(view, view_image(self.image, view))]
        self.motions = dict(motions or {})
        self.view = self.views[0][0]
        self.side = display_side(max(self.image.width(), self.image.height()))
        prompts = tuple(prompts) + ("",) * (len(self.views) + 1 - len(prompts))
        self.upright = ImageCell(f"upright: {prompts[0]!r}" if prompts[0] else "upright",
                                 self.side, self)
        self.upright.set_image(self.image)
        self.cells = []
        for (name, seen), prompt in zip(self.views, prompts[1:]):
            text = VIEW_TEXT.get(name, name)
            cell = ImageCell(f"{text}: {prompt!r}" if prompt else text, self.side, self)
            cell.set_image(seen)
            self.cells.append(cell)
        self.viewed = self.cells[0]
        self.scores = QLabel(scores or "", self)
        self.scores.setWordWrap(True)
        self.scores.setVisible(bool(scores))
        self.chooser = QComboBox(self)
        for name, _ in self.views:
            self.chooser.addItem(VIEW_TEXT.get(name, name), name)
        self.chooser.setVisible(len(self.views) > 1)
        self.chooser.currentIndexChanged.connect(self._choose)
        self.stage = QLabel(self)
        self.stage.setFixedSize(self.side, self.side)
        self.progress = 0.0
        self.animation = QVariantAnimation(self)
        self.animation.setStartValue(0.0)
        self.animation.setEndValue(1.0)
        self.animation.setDuration(ANIMATION_MS)
        self.animation.valueChanged.connect(self.set_progress)
        self.turn_button = QPushButton("Turn it", self)
        self.turn_button.setToolTip(f"Animate the view: {VIEW_TEXT.get(view, view)}")
        self.turn_button.clicked.connect(self.turn)
        self.export_button = QPushButton("Export GIF…", self)
        self.export_button.setToolTip("Every view in turn, as an animated GIF")
        self.export_button.clicked.connect(self.exportRequested)
        self.note = QLabel(self)  # what the last export did (the window's status bar is behind)
        self.note.setWordWrap(True)
        self.note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setRange(0, 100)
        self.slider.valueChanged.connect(lambda v: self.set_progress(v / 100))
        self._lay_out()
        self.set_progress(0.0)

    def _lay_out(self) -> None:
        row = QHBoxLayout()
        row.addWidget(self.upright)
        for cell in self.cells:
            row.addWidget(cell)
        animated = QVBoxLayout()
        animated.addWidget(self.chooser)
        animated.addWidget(self.stage)
        animated.addWidget(self.slider)
        buttons = QHBoxLayout()
        buttons.addWidget(self.turn_button)
        buttons.addWidget(self.export_button)
        animated.addLayout(buttons)
        row.addLayout(animated)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.scores)
        layout.addWidget(self.note)

    def say(self, text: str) -> None:
        """One line under the views: what the last export did ("" clears it)."""
        self.note.setText(text)
        self.note.setToolTip(text)

    def _choose(self) -> None:
        self.view = str(self.chooser.currentData())
        self.turn_button.setToolTip(f"Animate the view: {VIEW_TEXT.get(self.view, self.view)}")
        self.animation.stop()
        self.set_progress(0.0)

    def set_progress(self, p: float) -> None:
        self.progress = float(p)
        self.slider.blockSignals(True)
        self.slider.setValue(round(self.progress * 100))
        self.slider.blockSignals(False)
        self.stage.setPixmap(QPixmap.fromImage(self.frame()))

    def frame(self, view: str | None = None, p: float | None = None) -> QImage:
        """The animation of `view` (default: the one chosen) at `p` (default: the slider's)."""
        view = self.view if view is None else view
        p = self.progress if p is None else p
        if view in self.motions:
            picture = motion_frame(self.image, self.motions[view], p, self.side)
            return scaled_to(picture, self.side).scaled(
                self.side, self.side, Qt.AspectRatioMode.IgnoreAspectRatio,
                Qt.TransformationMode.FastTransformation)
        return animation_frame(self.image, view, p, self.side)

    def gif_frames(self, steps: int = GIF_STEPS) -> list[QImage]:
        """Each view in turn: there and back, holding at both ends."""
        frames: list[QImage] = []
        ramp = [i / steps for i in range(steps + 1)]
        for name, _ in self.views:
            there = [self.frame(name, p) for p in ramp]
            frames += [there[0]] * GIF_HOLD + there + [there[-1]] * GIF_HOLD + there[::-1]
        return frames

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

