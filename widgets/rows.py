"""A row of widgets as one widget (for a form row, or a group shown and hidden together)."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QWidget


def row_of(parent: QWidget, *widgets: QWidget, stretch: bool = False) -> QWidget:
    """`widgets` side by side with no margins; `stretch` keeps them at the left."""
    row = QWidget(parent)
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        layout.addWidget(widget)
    if stretch:
        layout.addStretch(1)
    return row
