"""The noise explorer's face: a t slider and four columns (x_t, blur, one step, iterative).

It only shows images and says what the user asks for (`tChanged`, `figureRequested`,
`exportRequested`); app.explorer computes. No engine or app import.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from widgets.image_strip import ImageCell

COLUMNS = ("x_t", "blurred", "one_step", "iterative")
CAPTIONS = {"x_t": "noisy x_t", "blurred": "Gaussian blur", "one_step": "one-step estimate",
            "iterative": "iterative"}
SIDE = 120


class ExplorerView(QWidget):
    """A slider over t = 1 … T and the four columns, two by two."""

    tChanged = Signal(int)
    figureRequested = Signal()
    exportRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setRange(1, 300)
        self.slider.setValue(150)
        self.slider.setTracking(True)
        self.slider.setToolTip("The noise level t; the noise itself stays the same")
        self.t_label = QLabel(self)
        self.t_label.setMinimumWidth(70)
        self.cells = {name: ImageCell(CAPTIONS[name], SIDE, self) for name in COLUMNS}
        self.status = QLabel("Pick a model and draw something.", self)
        self.status.setWordWrap(True)
        self.figure_button = QPushButton("Course figure…", self)
        self.figure_button.setToolTip("The rows of A-1.1 to A-1.4 (t = 250, 500, 750 of 1000, "
                                      "scaled to the model's T) in one image")
        self.export_button = QPushButton("Export figure…", self)
        self.export_button.setToolTip("Save the course figure's rows as one PNG")
        self._lay_out()
        self.slider.valueChanged.connect(self._on_slider)
        self.figure_button.clicked.connect(self.figureRequested)
        self.export_button.clicked.connect(self.exportRequested)
        self._show_t(self.slider.value())

    def _lay_out(self) -> None:
        top = QHBoxLayout()
        top.addWidget(QLabel("t", self))
        top.addWidget(self.slider, 1)
        top.addWidget(self.t_label)
        grid = QGridLayout()
        for i, name in enumerate(COLUMNS):
            grid.addWidget(self.cells[name], i // 2, i % 2)
        buttons = QHBoxLayout()
        buttons.addWidget(self.figure_button)
        buttons.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addLayout(grid)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        layout.addStretch(1)

    def _on_slider(self, t: int) -> None:
        self._show_t(t)
        self.tChanged.emit(t)

    def _show_t(self, t: int) -> None:
        self.t_label.setText(f"{t} / {self.slider.maximum()}")

    def set_range(self, top: int) -> None:
        """t runs 1 … top (the model's T)."""
        value = min(self.slider.value(), top)
        self.slider.blockSignals(True)
        self.slider.setRange(1, max(1, top))
        self.slider.setValue(value)
        self.slider.blockSignals(False)
        self._show_t(self.slider.value())

    def t(self) -> int:
        return self.slider.value()

    def set_column(self, name: str, image: QImage | None, caption: str | None = None) -> None:
        self.cells[name].set_image(image)
        if caption is not None:
            self.cells[name].set_caption(caption)

    def column(self, name: str) -> QImage:
        return self.cells[name].image()

    def set_status(self, text: str) -> None:
        self.status.setText(text)
