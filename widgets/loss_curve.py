"""A live loss curve: a polyline on a log-scale y axis, painted with QPainter (no matplotlib)."""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen, QPolygonF
from PySide6.QtWidgets import QWidget

MARGIN_LEFT, MARGIN = 48, 8
MAX_DRAWN = 2000  # longer curves are drawn from evenly picked points


class LossCurve(QWidget):
    """Points (step, loss) added as they come; the y axis is log10 of the loss."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._points: list[tuple[int, float]] = []
        self.setMinimumSize(240, 140)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return QSize(360, 180)

    def add_point(self, step: int, loss: float) -> None:
        if loss > 0 and math.isfinite(loss):
            self._points.append((int(step), float(loss)))
            self.update()

    def set_points(self, points: list[tuple[int, float]]) -> None:
        self._points = [(int(s), float(v)) for s, v in points if v > 0 and math.isfinite(v)]
        self.update()

    def clear(self) -> None:
        self._points = []
        self.update()

    def points(self) -> list[tuple[int, float]]:
        return list(self._points)

    def _drawn(self) -> list[tuple[int, float]]:
        n = len(self._points)
        if n <= MAX_DRAWN:
            return self._points
        return [self._points[i * (n - 1) // (MAX_DRAWN - 1)] for i in range(MAX_DRAWN)]

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), QColor(255, 255, 255))
        plot = QRectF(MARGIN_LEFT, MARGIN, self.width() - MARGIN_LEFT - MARGIN,
                      self.height() - 2 * MARGIN - 14)
        painter.setPen(QColor(180, 180, 180))
        painter.drawRect(plot)
        points = self._drawn()
        if len(points) < 1:
            painter.setPen(QColor(120, 120, 120))
            painter.drawText(plot, Qt.AlignmentFlag.AlignCenter, "loss (log scale)")
            return
        logs = [math.log10(v) for _, v in points]
        lo, hi = math.floor(min(logs)), math.ceil(max(logs))
        hi = hi if hi > lo else lo + 1
        first, last = points[0][0], max(points[-1][0], points[0][0] + 1)
        self._grid(painter, plot, lo, hi)

        def at(step: int, log: float) -> QPointF:
            x = plot.left() + (step - first) / (last - first) * plot.width()
            y = plot.bottom() - (log - lo) / (hi - lo) * plot.height()
            return QPointF(x, y)

        blue = QColor(31, 119, 180)
        painter.setPen(QPen(blue, 1.5))
        painter.drawPolyline(QPolygonF([at(s, g) for (s, _), g in zip(points, logs)]))
        if len(points) == 1:  # a polyline of one point draws nothing: a dot shows it
            painter.setBrush(blue)
            painter.drawEllipse(at(points[0][0], logs[0]), 3.0, 3.0)
        painter.setPen(QColor(60, 60, 60))
        painter.drawText(QRectF(plot.left(), plot.bottom() + 2, plot.width(), 14),
                         Qt.AlignmentFlag.AlignRight,
                         f"step {points[-1][0]}   loss {points[-1][1]:.4g}")

    @staticmethod
    def _grid(painter: QPainter, plot: QRectF, lo: int, hi: int) -> None:
        for decade in range(lo, hi + 1):
            y = plot.bottom() - (decade - lo) / (hi - lo) * plot.height()
            painter.setPen(QColor(225, 225, 225))
            painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
            painter.setPen(QColor(90, 90, 90))
            painter.drawText(QRectF(0, y - 7, MARGIN_LEFT - 4, 14),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                             f"1e{decade}")
