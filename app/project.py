"""Projects: the document (image, mask, region) and the history in ONE `.dcproj` file.

A project is a zip:
    manifest.json       {"format": "diffusion-canvas-project", "version": 1, "size": [w, h],
                         "region": [x, y, w, h], "background": "#rrggbb", "image": "image.png",
                         "mask": "mask.png", "history": [{"parameters": {...},
                         "image": "history/0000/image.png", "frames": [...]}, ...],
                         "settings": {...}}
    image.png           the image (RGB, or RGBA when some pixel is not opaque)
    mask.png            the mask ("L")
    history/NNNN/...    each result's image and frames
PNG is lossless, so pixels, mask and region come back exactly. Saving writes a temporary file
beside the target and renames it over the target, so a failed save never leaves half a file.
Loading checks everything before it returns, and raises `ProjectError` for a file that is not a
project, is damaged or comes from a newer version; `apply_project` then changes the document.
"""

from __future__ import annotations

import io
import json
import os
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from PySide6.QtCore import QRect
from PySide6.QtGui import QColor, QImage

from app.document import IMAGE_FORMAT, MASK_FORMAT, Document
from app.history import History, Result
from app.qt_images import pil_to_qimage, qimage_to_numpy, qimage_to_pil
from engine.files import replacing

SUFFIX = ".dcproj"
FORMAT_NAME = "diffusion-canvas-project"
VERSION = 1
MANIFEST = "manifest.json"
MAX_PIXELS = 100_000_000  # as engine.images.MAX_PIXELS: no image of ours is larger
MAX_ENTRY_BYTES = 1 << 30  # a stored entry larger than this is not ours (a zip bomb?)
PathLike = str | os.PathLike[str]


class ProjectError(Exception):
    """A project that cannot be saved or opened; str(error) is the whole message."""


@dataclass
class ProjectData:
    """What a project file holds, read and checked; `apply_project` puts it in place."""

    image: QImage  # ARGB32
    mask: QImage  # Grayscale8, the image's size
    region: QRect
    results: list[Result] = field(default_factory=list)
    background: QColor = field(default_factory=lambda: QColor("white"))
    settings: dict[str, Any] = field(default_factory=dict)
    version: int = VERSION


# ---------------------------------------------------------------------------------------------
# Saving


def save_project(
    path: PathLike,
    document: Document,
    history: History | Sequence[Result] | None = None,
    settings: dict[str, Any] | None = None,
    compress_level: int = 6,
) -> None:
    """Writes `document` and `history` (and the app's `settings`, any JSON) to `path` atomically.

    Raises ProjectError when the file cannot be written. `compress_level` (0-9) trades the
    PNGs' size for speed (the autosave uses 1).
    """
    results = list(history) if history is not None else []
    entries = [r.to_json(f"history/{i:04d}") for i, r in enumerate(results)]
    manifest = _manifest(document, entries, settings or {})
    files: list[tuple[str, bytes]] = [
        ("image.png", _png(_document_pixels(document.image()), compress_level)),
        ("mask.png", _png(qimage_to_pil(document.mask(), "L"), compress_level)),
    ]
    for result, entry in zip(results, entries):
        files.append((entry["image"], _png(_result_pixels(result.image), compress_level)))
        for frame, name in zip(result.frames, entry["frames"]):
            files.append((name, _png(_result_pixels(frame), compress_level)))
    try:
        text = json.dumps(manifest, ensure_ascii=False, indent=1, default=str)  # Paths -> str
    except (TypeError, ValueError) as e:
        raise ProjectError(f"cannot save {os.fspath(path)}: a setting is not JSON ({e})") from e
    _atomic_zip(Path(path), text, files)


def _manifest(document: Document, entries: list[dict[str, Any]],
              settings: dict[str, Any]) -> dict[str, Any]:
    size, region = document.size(), document.region()
    return {
        "format": FORMAT_NAME,
        "version": VERSION,
        "size": [size.width(), size.height()],
        "region": [region.x(), region.y(), region.width(), region.height()],
        "background": document.background.name(),
        "image": "image.png",
        "mask": "mask.png",
        "history": entries,
        "settings": settings,
    }


def _document_pixels(image: QImage) -> Image.Image:
    rgba = qimage_to_numpy(image, "RGBA")
    if rgba.size and rgba[..., 3].min() == 255:
        return Image.fromarray(np.ascontiguousarray(rgba[..., :3]))  # opaque: RGB is smaller
    return Image.fromarray(rgba)


def _result_pixels(image: QImage) -> Image.Image:
    if image.isNull():
        raise ProjectError("cannot save the project: a history result has no image")
    return qimage_to_pil(image)


def _png(img: Image.Image, compress_level: int) -> bytes:
    out = io.BytesIO()
    img.save(out, format="PNG", compress_level=compress_level)
    return out.getvalue()


def _atomic_zip(target: Path, manifest: str, files: list[tuple[str, bytes]]) -> None:
    try:
        with replacing(target) as tmp, open(tmp, "xb") as f, zipfile.ZipFile(f, "w") as zf:
            zf.writestr(MANIFEST, manifest, compress_type=zipfile.ZIP_DEFLATED)
            for name, data in files:  # PNGs are compressed already
                zf.writestr(name, data, compress_type=zipfile.ZIP_STORED)
    except OSError as e:
        raise ProjectError(f"cannot save {target}: {e.strerror or e}") from e


# ---------------------------------------------------------------------------------------------
# Loading


def load_project(path: PathLike) -> ProjectData:
    """Reads and checks a project; raises ProjectError (and changes nothing) if it is not one."""
    name = os.fspath(path)
    if not Path(name).exists():
        raise ProjectError(f"cannot open {name}: file not found")
    if not Path(name).is_file():
        raise ProjectError(f"cannot open {name}: not a file")
    try:
        zf = zipfile.ZipFile(name)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise ProjectError(f"cannot open {name}: not a Diffusion Canvas project") from e
    with zf:
        manifest = _read_manifest(zf, name)
        try:
            return _read_data(zf, manifest)
        except ProjectError as e:
            raise ProjectError(f"cannot open {name}: the project is damaged ({e})") from e
        except Exception as e:  # zip, zlib and Pillow raise many types for damaged data
            reason = str(e).strip() or type(e).__name__
            raise ProjectError(f"cannot open {name}: the project is damaged ({reason})") from e


def _read_manifest(zf: zipfile.ZipFile, name: str) -> dict[str, Any]:
    foreign = ProjectError(f"cannot open {name}: not a Diffusion Canvas project")
    try:
        manifest = json.loads(_read_entry(zf, MANIFEST).decode("utf-8"))
    except Exception as e:
        raise foreign from e
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise foreign
    version = manifest.get("version")
    if not isinstance(version, int) or version < 1:
        raise ProjectError(f"cannot open {name}: the project is damaged (bad version {version!r})")
    if version > VERSION:
        raise ProjectError(
            f"cannot open {name}: it was saved by a newer version of Diffusion Canvas "
            f"(project format {version}; this version reads up to {VERSION})"
        )
    return manifest


def _read_data(zf: zipfile.ZipFile, manifest: dict[str, Any]) -> ProjectData:
    width, height = _ints(manifest.get("size"), 2, "size")
    image = _read_image(zf, str(manifest.get("image"))).convertToFormat(IMAGE_FORMAT)
    mask = _read_image(zf, str(manifest.get("mask"))).convertToFormat(MASK_FORMAT)
    if (image.width(), image.height()) != (width, height):
        raise ProjectError(f"the image is {image.width()} x {image.height()}, "
                           f"the manifest says {width} x {height}")
    if mask.size() != image.size():
        raise ProjectError("the mask is not the size of the image")
    region = QRect(*_ints(manifest.get("region"), 4, "region"))
    if region.isEmpty() or not image.rect().contains(region):
        raise ProjectError("the region is not inside the image")
    results = History.from_json(manifest.get("history", []), lambda n: _read_image(zf, str(n)))
    settings = manifest.get("settings") or {}
    if not isinstance(settings, dict):
        raise ProjectError("the settings are not a JSON object")
    background = QColor(str(manifest.get("background", "#ffffff")))
    return ProjectData(image, mask, region, results,
                       background if background.isValid() else QColor("white"),
                       settings, manifest["version"])


def _ints(value: object, count: int, what: str) -> list[int]:
    ok = isinstance(value, list) and len(value) == count
    if not ok or not all(isinstance(v, int) and v >= 0 for v in value):
        raise ProjectError(f"bad {what} {value!r}")
    return list(value)


def _read_entry(zf: zipfile.ZipFile, name: str) -> bytes:
    try:
        info = zf.getinfo(name)
    except KeyError as e:
        raise ProjectError(f"{name} is missing") from e
    if info.file_size > MAX_ENTRY_BYTES:
        raise ProjectError(f"{name} is too large ({info.file_size:,} bytes)")
    return zf.read(info)


def _read_image(zf: zipfile.ZipFile, name: str) -> QImage:
    data = _read_entry(zf, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(data), formats=["PNG"]) as im:
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise ProjectError(f"{name} is too large ({w} x {h})")
            im.load()
            return pil_to_qimage(im)


# ---------------------------------------------------------------------------------------------
# Applying


def apply_project(
    data: ProjectData,
    document: Document,
    history: History | None = None,
    undoable: bool = False,
) -> None:
    """Puts `data` into `document` (and `history`, if given).

    By default this is opening a file: the undo history is cleared and the document is
    unmodified. With `undoable` it is one undo step and leaves the document modified (a
    restored autosave).
    """
    if undoable:
        document.undo_stack.beginMacro("Restore")
    document.background = QColor(data.background)
    document.set_image(data.image, "Open project")
    document.set_mask(data.mask, "Open project")
    document.set_region(data.region)
    if undoable:
        document.undo_stack.endMacro()
    else:
        document.undo_stack.clear()
        document.set_saved()
    if history is not None:
        history.replace(list(data.results))

