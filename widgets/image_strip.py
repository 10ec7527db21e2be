"""Labelled images: a cell widget, a strip of cells, and one composed picture for export.

Small images (28 px digits) are scaled by whole factors with nearest neighbour so their pixels
stay square; larger ones are scaled smoothly. No engine or app import.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

CELL = 128
PAD = 6
LABEL_H = 18
BACKGROUND = QColor(255, 255, 255)
TEXT = QColor(20, 20, 20)


def scaled_to(image: QImage, side: int) -> QImage:
    """`image` fitted in side x side: whole-factor nearest when small, smooth otherwise."""
    if image.isNull():
        return QImage()
    longest = max(image.width(), image.height())
    if longest <= side // 2 or longest <= 64:
        factor = max(1, side // longest)
        return image.scaled(image.width() * factor, image.height() * factor,
                            Qt.AspectRatioMode.IgnoreAspectRatio,
                            Qt.TransformationMode.FastTransformation)
    return image.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                        Qt.TransformationMode.SmoothTransformation)


class ImageCell(QWidget):
    """An image above its caption; `image()` is the last image set (model size)."""

    def __init__(self, caption: str = "", side: int = CELL, parent: QWidget | None = None
                 ) -> None:
        super().__init__(parent)
        self._side = side
        self._image = QImage()
        self.picture = QLabel(self)
        self.picture.setFixedSize(side, side)
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setStyleSheet("QLabel { background: #2b2b2e; color: #888; }")
        self.caption = QLabel(caption, self)
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption.setWordWrap(True)
        self.caption.setFixedWidth(side)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        layout.addWidget(self.picture)
        layout.addWidget(self.caption)
        self.set_caption(caption)

    def set_image(self, image: QImage | None) -> None:
        self._image = QImage() if image is None else QImage(image)
        if self._image.isNull():
            self.picture.clear()
            self.picture.setText("…")
            return
        self.picture.setPixmap(QPixmap.fromImage(scaled_to(self._image, self._side)))

    def image(self) -> QImage:
        return QImage(self._image)

    def set_caption(self, text: str) -> None:
        self.caption.setText(text)
        # a caption that wraps must get its lines: the cell keeps a height laid out for one
        self.caption.setMinimumHeight(self.caption.heightForWidth(self._side))


class LabelledStrip(QScrollArea):
    """A row of labelled images (a sweep's results)."""

    def __init__(self, side: int = CELL, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._side = side
        self.cells: list[ImageCell] = []
        self._inner = QWidget(self)
        self._row = QHBoxLayout(self._inner)
        self._row.setContentsMargins(4, 4, 4, 4)
        self._row.addStretch(1)
        self.setWidget(self._inner)
        self.setWidgetResizable(True)
        self.setMinimumHeight(side + LABEL_H * 2 + 24)

    def add(self, image: QImage | None, label: str) -> ImageCell:
        cell = ImageCell(label, self._side, self._inner)
        cell.set_image(image)
        self._row.insertWidget(len(self.cells), cell)
        self.cells.append(cell)
        return cell

    def clear(self) -> None:
        for cell in self.cells:
            cell.deleteLater()
        self.cells = []

    def labels(self) -> list[str]:
        return [cell.caption.text() for cell in self.cells]

    def images(self) -> list[QImage]:
        return [cell.image() for cell in self.cells]

    def compose(self, title: str = "") -> QImage:
        return compose_grid([self.images()], [self.labels()], title=title, cell=self._side)


def compose_grid(rows: Sequence[Sequence[QImage]], labels: Sequence[Sequence[str]],
                 row_titles: Sequence[str] | None = None, title: str = "", cell: int = CELL
                 ) -> QImage:
    """One white picture: a title line, then rows of images, each with its label below it,
    and an optional title left of each row (the write-up's figure layout)."""
    columns = max((len(r) for r in rows), default=0)
    left = 70 if row_titles else 0
    top = LABEL_H + PAD if title else 0
    width = left + columns * (cell + PAD) + PAD
    height = top + len(rows) * (cell + LABEL_H + PAD) + PAD
    out = QImage(max(width, 1), max(height, 1), QImage.Format.Format_RGB888)
    out.fill(BACKGROUND)
    painter = QPainter(out)
    painter.setPen(TEXT)
    font = QFont(painter.font())
    font.setPixelSize(12)
    painter.setFont(font)
    if title:
        painter.drawText(QRect(PAD, 2, width - 2 * PAD, LABEL_H), Qt.AlignmentFlag.AlignLeft
                         | Qt.AlignmentFlag.AlignVCenter, title)
    for r, images in enumerate(rows):
        y = top + PAD + r * (cell + LABEL_H + PAD)
        if row_titles:
            painter.drawText(QRect(2, y, left - 4, cell), Qt.AlignmentFlag.AlignCenter
                             | Qt.TextFlag.TextWordWrap, row_titles[r])
        for c, image in enumerate(images):
            x = left + PAD + c * (cell + PAD)
            _draw_cell(painter, image, QRect(x, y, cell, cell))
            text = labels[r][c] if c < len(labels[r]) else ""
            painter.drawText(QRect(x, y + cell, cell, LABEL_H), Qt.AlignmentFlag.AlignCenter,
                             text)
    painter.end()
    return out


def _draw_cell(painter: QPainter, image: QImage, rect: QRect) -> None:
    if image.isNull():
        return
    scaled = scaled_to(image, rect.width())
    x = rect.x() + (rect.width() - scaled.width()) // 2
    y = rect.y() + (rect.height() - scaled.height()) // 2
    painter.drawImage(x, y, scaled)
