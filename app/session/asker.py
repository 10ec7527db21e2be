"""The questions the session asks the user, as a seam: the app answers them with dialogs
(app/dialogs.py), a test with a fake that records them. No widgets here.

Each method takes the widget the dialog belongs to first (`parent`: the window, a panel; None
when the session asks on its own and no window has said where to show it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from app.autosave import Recovery
    from app.history import Result

EXPORT_KINDS = (("png", "PNG image"), ("gif", "Denoising frames (GIF)"),
                ("apng", "Denoising frames (animated PNG)"))
EXPORT_SCALES = (1, 4, 8)


@dataclass
class ExportChoice:
    """What to export: `kind` "png", "gif" or "apng"; a PNG's `scale` and `resample`."""

    kind: str = "png"
    scale: int = 1
    resample: str = "nearest"

    @property
    def suffix(self) -> str:
        return ".gif" if self.kind == "gif" else ".png"


class Asker(Protocol):
    """What the session and the panels ask; every answer "" or None means cancelled."""

    def unsaved_changes(self, parent: Any, name: str, action: str = "closing",
                        detail: str = "") -> str:
        """"save", "discard" or "cancel"; `action` is what would lose the changes, `detail`
        what they are (the canvas, the results in History)."""
        ...

    def offer_recovery(self, parent: Any, recovery: Recovery) -> str:
        """"restore", "discard" or "later" (keep it, ask again next time)."""
        ...

    def open_damaged(self, parent: Any, problem: str, lost: list[str]) -> bool:
        """Whether to open what can be read of a damaged project; `problem` says why it cannot
        be opened whole, `lost` what would be missing (one phrase each)."""
        ...

    def save_path(self, parent: Any, title: str, start: str, filters: str) -> str:
        """A path to write, or ""."""
        ...

    def open_path(self, parent: Any, title: str, start: str, filters: str) -> str:
        """A path to read, or ""."""
        ...

    def folder(self, parent: Any, title: str, start: str) -> str:
        """A folder, or ""."""
        ...

    def export_choice(self, parent: Any, result: Result) -> ExportChoice | None:
        """What to export of `result`, or None."""
        ...
