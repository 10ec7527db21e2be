"""Scroll bars beside the canvas: they show where the view is on a zoomed image and move it.

The bars' unit is a view pixel; a bar's value is where the view's left (top) edge lies, measured
from the image's left (top) edge, so value = -offset. The range reaches a margin past the image
on each side and always holds where the view is now, so a pan past the image never jumps back.
When the whole image is in view, a bar is disabled. The bars always take their room: showing
and hiding them would resize the canvas, which refits it, which would show or hide them again.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QScrollBar, QWidget

from widgets.canvas import CanvasView

MARGIN = 32  # view pixels the range reaches past the image's edges


def bar_range(offset: float, extent: float, view: int) -> tuple[int, int, int]:
    """(minimum, maximum, value) of a bar for an image `extent` view pixels long placed at
    `offset` in a view `view` pixels long."""
    value = round(-offset)
    low = min(-MARGIN, value)
    high = max(round(extent) - view + MARGIN, value)
    return low, max(low, high), value


def fully_in_view(offset: float, extent: float, view: int) -> bool:
    return offset >= -0.5 and offset + extent <= view + 0.5


class ScrolledCanvas(QWidget):
    """`canvas` with a vertical bar at its right and a horizontal one below."""

    def __init__(self, canvas: CanvasView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.canvas = canvas
        self.hbar = QScrollBar(Qt.Orientation.Horizontal, self)
        self.vbar = QScrollBar(Qt.Orientation.Vertical, self)
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(canvas, 0, 0)
        layout.addWidget(self.vbar, 0, 1)
        layout.addWidget(self.hbar, 1, 0)
        self._syncing = False
        canvas.viewChanged.connect(self._sync)
        self.hbar.valueChanged.connect(lambda value: self._scrolled(value, horizontal=True))
        self.vbar.valueChanged.connect(lambda value: self._scrolled(value, horizontal=False))
        self._sync()

    def _sync(self) -> None:
        """The bars follow the canvas's view."""
        offset, extent = self.canvas.offset(), self.canvas.image_extent()
        self._syncing = True
        try:
            self._set_bar(self.hbar, offset.x(), extent.width(), self.canvas.width())
            self._set_bar(self.vbar, offset.y(), extent.height(), self.canvas.height())
        finally:
            self._syncing = False

    def _set_bar(self, bar: QScrollBar, offset: float, extent: float, view: int) -> None:
        low, high, value = bar_range(offset, extent, view)
        bar.setPageStep(max(view, 1))
        bar.setSingleStep(max(view // 20, 1))
        bar.setRange(low, high)
        bar.setValue(value)
        bar.setEnabled(extent > 0 and not fully_in_view(offset, extent, view))

    def _scrolled(self, value: int, horizontal: bool) -> None:
        if self._syncing:
            return
        offset = self.canvas.offset()
        if horizontal:
            self.canvas.pan_by(-value - offset.x(), 0)
        else:
            self.canvas.pan_by(0, -value - offset.y())
