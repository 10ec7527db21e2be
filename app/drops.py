"""What the window takes from a drop or the clipboard: a local file is opened, an image is
pasted, through the session (open_path / paste). A drop is always a copy: a file manager
deletes the source of an accepted move, so a source that offers no copy is refused.

    if accept_as_copy(event) and not take_mime(session, event.mimeData(), "Drop image"):
        event.ignore()
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QMimeData, Qt
from PySide6.QtGui import QDropEvent, QImage


def can_take(data: QMimeData) -> bool:
    """The data holds an image or a local file (a drag worth accepting)."""
    return data.hasImage() or any(url.isLocalFile() for url in data.urls())


def take_mime(session: Any, data: QMimeData | None, text: str) -> bool:
    """Opens the first local file of `data`, else pastes its image (the undo step named
    `text`); False if there was nothing to take or the session refused it."""
    if data is None:
        return False
    files = [url.toLocalFile() for url in data.urls() if url.isLocalFile()]
    if files:
        return session.open_path(files[0])
    return data.hasImage() and session.paste(QImage(data.imageData()), text)


def accept_as_copy(event: QDropEvent) -> bool:
    """Accepts `event` (a drag enter, move or drop) as a copy; refuses one offering none."""
    if not event.possibleActions() & Qt.DropAction.CopyAction:
        event.ignore()
        return False
    event.setDropAction(Qt.DropAction.CopyAction)
    event.accept()
    return True
