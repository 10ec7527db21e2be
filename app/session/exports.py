"""The session's exports part (QtCore only): a result as PNG (×1/×4/×8) or its denoising
frames (GIF/APNG), and the canvas as PNG, asking what and where through the session's `Asker`
and remembering the folder. `Session` delegates its export methods here.

    exports = Exports(session)
    exports.export_result("out.png", result, scale=4)   # True: written; False: said why
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from app import export
from app.history import Result
from app.qt_images import qimage_to_pil
from engine import images
from engine.errors import EngineError

if TYPE_CHECKING:
    from app.session.session import Session


class Exports:
    """What `session` writes out: results, their frames and the canvas."""

    def __init__(self, session: Session) -> None:
        self._s = session

    def export_dialog(self, result: Result | None = None) -> bool:
        """Asks what to export (PNG ×1/×4/×8 or the frames as GIF/APNG) and where."""
        s = self._s
        result = result or s.shown_result
        if result is None:
            return False
        choice = s.asker.export_choice(s.dialog_parent, result)
        if choice is None:
            return False
        start = str(Path(s.preferences.last_folder("export", "project", "open"))
                    / export.suggested_name(result, choice.suffix))
        filters = "GIF animation (*.gif)" if choice.kind == "gif" else "PNG image (*.png)"
        path = s.asker.save_path(s.dialog_parent, "Export result", start, filters)
        if not path:
            return False
        if choice.kind == "png":
            return s.export_result(path, result, choice.scale, choice.resample)
        return s.export_frames(path, result, choice.scale)

    def export_result(self, path: str, result: Result | None = None, scale: int = 1,
                      resample: str = "nearest") -> bool:
        """Writes the result as PNG (×`scale`, nearest or bicubic) with its `parameters`."""
        result = result or self._s.shown_result
        if result is None:
            return False
        if not path.lower().endswith(".png"):
            path += ".png"
        return self._export(lambda: export.export_png(result, path, scale, resample), path,
                            "Cannot export", f"Exported {path}")

    def export_frames(self, path: str, result: Result | None = None,
                      scale: int | None = None) -> bool:
        """Writes the result's denoising frames: GIF for .gif, APNG otherwise."""
        result = result or self._s.shown_result
        if result is None:
            return False
        if not path.lower().endswith((".gif", ".png", ".apng")):
            path += ".gif"
        return self._export(lambda: export.export_frames(result, path, scale=scale), path,
                            "Cannot export the frames",
                            f"Exported {len(result.frames)} frames to {path}")

    def export_canvas_dialog(self) -> bool:
        s = self._s
        start = str(Path(s.preferences.last_folder("export", "project", "open"))
                    / f"{Path(s.document_name()).stem}.png")
        path = s.asker.save_path(s.dialog_parent, "Export the canvas", start,
                                 "PNG image (*.png)")
        return bool(path) and s.export_canvas(path)

    def export_canvas(self, path: str) -> bool:
        """Writes the drawing itself, at the canvas's size, as a PNG."""
        if not path.lower().endswith(".png"):
            path += ".png"
        image = self._s.document.image()
        return self._export(lambda: images.save_png(qimage_to_pil(image, "RGB"), path), path,
                            "Cannot export the canvas", f"Exported the canvas to {path}")

    def _export(self, write: Callable[[], object], path: str, failure: str, done: str) -> bool:
        try:
            write()
        except (EngineError, ValueError, OSError) as error:
            self._s.error.emit(failure, str(error))
            return False
        self._s.preferences.set_last_folder("export", path)
        self._s.status.emit(done)
        return True
