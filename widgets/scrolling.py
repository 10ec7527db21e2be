"""A column that scrolls up and down instead of setting the window's least height."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QScrollArea, QVBoxLayout, QWidget


def scroll_vertically(owner: QWidget, body: QWidget) -> QScrollArea:
    """Fills `owner` with `body` in a frameless scroll area that scrolls only up and down; it is
    as wide as the body needs (plus the scroll bar), so nothing is cut at the sides."""
    scroll = QScrollArea(owner)
    scroll.setWidget(body)
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroll.setMinimumWidth(body.minimumSizeHint().width()
                           + scroll.verticalScrollBar().sizeHint().width())
    outer = QVBoxLayout(owner)
    outer.setContentsMargins(0, 0, 0, 0)
    outer.addWidget(scroll)
    return scroll
