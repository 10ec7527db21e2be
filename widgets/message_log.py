"""View ▸ Messages: every status-bar message of this run, with its time, newest last.

The status bar shows one line for a few seconds and cuts what does not fit; this keeps the
whole text, so a message that went by while the user looked away can still be read and copied.
"""

from __future__ import annotations

import time
from collections import deque

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

KEPT = 500  # messages; a long Live session says "Live: done" often


class MessageLog(QObject):
    """The messages said, newest last; one said twice in a row is kept once."""

    added = Signal(str)  # the new line, "HH:MM:SS  text"

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lines: deque[str] = deque(maxlen=KEPT)
        self._last = ""

    def add(self, text: str) -> None:
        text = text.strip()
        if not text or text == self._last:
            return
        self._last = text
        line = f"{time.strftime('%H:%M:%S')}  {text}"
        self._lines.append(line)
        self.added.emit(line)

    def lines(self) -> list[str]:
        return list(self._lines)


class MessageDialog(QDialog):
    """The log, read-only and kept up to date while open; Copy puts it all on the clipboard."""

    def __init__(self, log: MessageLog, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Messages")
        self.resize(640, 360)
        self.text = QPlainTextEdit(self, readOnly=True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.text.setPlaceholderText("No messages yet.")
        self.text.setPlainText("\n".join(log.lines()))
        log.added.connect(self.text.appendPlainText)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        copy = QPushButton("Copy", self)
        buttons.addButton(copy, QDialogButtonBox.ButtonRole.ActionRole)
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.text.toPlainText()))
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
        self._scroll_to_end()

    def _scroll_to_end(self) -> None:
        bar = self.text.verticalScrollBar()
        bar.setValue(bar.maximum())
