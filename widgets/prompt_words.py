"""Word completion for a prompt line: the word under the cursor completes from a word list (a
model's vocabulary), so a multi-word prompt completes the word being typed, not the whole line.

Plain Qt: the words come in as a list of strings, never from the engine.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QStringListModel, Qt
from PySide6.QtWidgets import QCompleter, QLineEdit


def is_word_char(char: str) -> bool:
    return char.isalnum() or char == "'"


def word_span(text: str, cursor: int) -> tuple[int, int]:
    """(start, end) of the word that holds or ends at `cursor` ((cursor, cursor) if none)."""
    cursor = max(0, min(cursor, len(text)))
    start = cursor
    while start > 0 and is_word_char(text[start - 1]):
        start -= 1
    end = cursor
    while end < len(text) and is_word_char(text[end]):
        end += 1
    return start, end


class WordCompleter(QObject):
    """A popup of the words that begin like the one being typed (case-insensitive); choosing
    one (click, Enter or Tab) puts it in place of that word."""

    def __init__(self, line: QLineEdit, words: list[str] | None = None) -> None:
        super().__init__(line)
        self._line = line
        self._words = QStringListModel(self)
        self.completer = QCompleter(self._words, self)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setModelSorting(QCompleter.ModelSorting.CaseInsensitivelySortedModel)
        self.completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.completer.setMaxVisibleItems(12)
        self.completer.setWidget(line)
        self.completer.activated[str].connect(self.insert)
        line.textEdited.connect(self._typed)
        self.set_words(words)

    def set_words(self, words: list[str] | None) -> None:
        self._words.setStringList(sorted(set(words or []), key=lambda w: (w.lower(), w)))
        self.completer.popup().hide()

    def words(self) -> list[str]:
        return list(self._words.stringList())

    def prefix(self) -> str:
        """The part of the current word before the cursor."""
        text, cursor = self._line.text(), self._line.cursorPosition()
        start, _ = word_span(text, cursor)
        return text[start:cursor]

    def offered(self) -> list[str]:
        """The words the popup offers now (tests and the popup read the same list)."""
        model = self.completer.completionModel()
        return [str(model.index(row, 0).data()) for row in range(model.rowCount())]

    def _typed(self, _text: str) -> None:
        prefix = self.prefix()
        popup = self.completer.popup()
        if not prefix or not self._words.rowCount():
            popup.hide()
            return
        self.completer.setCompletionPrefix(prefix)
        offered = self.offered()
        if not offered or offered == [prefix]:
            popup.hide()  # nothing to offer, or the word is already whole
            return
        self.completer.complete()
        popup.setCurrentIndex(self.completer.completionModel().index(0, 0))

    def insert(self, word: str) -> None:
        """The word in place of the one at the cursor, the cursor after it."""
        text, cursor = self._line.text(), self._line.cursorPosition()
        start, end = word_span(text, cursor)
        self._line.setText(text[:start] + word + text[end:])
        self._line.setCursorPosition(start + len(word))
