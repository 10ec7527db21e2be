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

import contextlib
import io
import json
import os
import struct
import sys
import time
import warnings
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
from PIL import Image
from PySide6.QtCore import QRect
from PySide6.QtGui import QColor, QImage

from app.document import IMAGE_FORMAT, MASK_FORMAT, Document
from app.history import History, Result
from app.qt_images import pil_to_qimage, qimage_to_numpy, qimage_to_pil, raw_rows
from engine.files import replacing

SUFFIX = ".dcproj"
FORMAT_NAME = "diffusion-canvas-project"
VERSION = 1
MANIFEST = "manifest.json"
MAX_PIXELS = 100_000_000  # as engine.images.MAX_PIXELS: no image of ours is larger
MAX_ENTRY_BYTES = 1 << 30  # a stored entry larger than this is not ours (a zip bomb?)
# What one project may ask to decode, counted from the PNG headers before any pixel is: every
# image, mask, result and frame (each reference counts: entries may name one huge image). 500 M
# pixels is 2 GB as ARGB32, over twice 100 results of 34 frames at 256 × 256.
MAX_TOTAL_PIXELS = 500_000_000
MAX_HISTORY = 2000  # results in one project
MAX_FRAMES = 2000  # frames of one result
PathLike = str | os.PathLike[str]


class ProjectError(Exception):
    """A project that cannot be saved or opened; str(error) is the whole message."""


class NewerProjectError(ProjectError):
    """A project saved by a newer version: not damaged, so not one to salvage."""


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
# Saving: a snapshot (cheap, on the GUI thread) and its write (slow: any thread)


class WriteCancelled(Exception):
    """`write_snapshot` stopped because its `cancelled()` said so; the target is untouched."""


@dataclass
class ProjectSnapshot:
    """A project as it was when `snapshot_project` was called, ready for `write_snapshot`.

    Taking it copies no pixels: QImages are implicitly shared (and reentrant), so these shallow
    copies may be read in another thread while the GUI's document copies itself on its next
    write. The manifest is JSON text already, so later changes to the settings do not reach it.
    """

    manifest: str
    image: QImage
    mask: QImage
    results: list[tuple[str, QImage]]  # (zip name, image) for each result's image and frames
    compress_level: int = 6


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
    snapshot = snapshot_project(document, history, settings, compress_level, os.fspath(path))
    write_snapshot(path, snapshot)


def snapshot_project(
    document: Document,
    history: History | Sequence[Result] | None = None,
    settings: dict[str, Any] | None = None,
    compress_level: int = 6,
    name: str = "the project",
) -> ProjectSnapshot:
    """What `save_project` would write now, taken in no time (no pixel is read). ProjectError
    (naming `name`) for a setting that is not JSON or a result without an image."""
    results = list(history) if history is not None else []
    entries = [r.to_json(f"history/{i:04d}") for i, r in enumerate(results)]
    images: list[tuple[str, QImage]] = []
    for result, entry in zip(results, entries):
        if result.image.isNull():
            raise ProjectError(f"cannot save {name}: a history result has no image")
        images.append((entry["image"], QImage(result.image)))
        images.extend((n, QImage(frame)) for frame, n in zip(result.frames, entry["frames"]))
    try:  # Paths -> str
        text = json.dumps(_manifest(document, entries, settings or {}), ensure_ascii=False,
                          indent=1, default=str)
    except (TypeError, ValueError) as e:
        raise ProjectError(f"cannot save {name}: a setting is not JSON ({e})") from e
    return ProjectSnapshot(text, QImage(document.image()), QImage(document.mask()), images,
                           compress_level)


def write_snapshot(
    path: PathLike, snapshot: ProjectSnapshot, cancelled: Callable[[], bool] | None = None
) -> None:
    """Writes `snapshot` to `path` atomically (a temporary beside it, renamed over it at the
    end), safe to call off the GUI thread. It reads the document's image and mask first and then
    lets go of them (the snapshot is spent: write it once). `cancelled()` is asked between every
    64 KB written: True stops with WriteCancelled and leaves `path` as it was. ProjectError when
    the file cannot be written."""
    target = Path(path)
    stop = cancelled if cancelled is not None else (lambda: False)
    image, mask = _document_pixels(snapshot.image), _mask_pixels(snapshot.mask)
    snapshot.image = snapshot.mask = QImage()  # the GUI's next stroke need not copy them
    try:
        with replacing(target) as tmp, open(tmp, "xb") as f, zipfile.ZipFile(f, "w") as zf:
            zf.writestr(MANIFEST, snapshot.manifest, compress_type=zipfile.ZIP_DEFLATED)
            level = snapshot.compress_level
            _write_png(zf, "image.png", image, level, stop)
            _write_png(zf, "mask.png", mask, level, stop)
            for name, result in snapshot.results:
                _write_png(zf, name, _result_pixels(result), level, stop)
            if stop():
                raise WriteCancelled
    except OSError as e:
        raise ProjectError(f"cannot save {target}: {e.strerror or e}") from e


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
    """RGB when every pixel is opaque (a smaller file), else RGBA. An ARGB32 image is read
    straight from its bytes by Pillow, which lets other threads run meanwhile (QImage's own
    conversion holds Python's lock: half a second for 9000 x 9000)."""
    raw = raw_rows(image, IMAGE_FORMAT)
    if raw is None or sys.byteorder != "little":  # ARGB32's bytes are B, G, R, A on this order
        rgba = qimage_to_numpy(image, "RGBA")
        if rgba.size and rgba[..., 3].min() == 255:
            return Image.fromarray(np.ascontiguousarray(rgba[..., :3]))
        return Image.fromarray(rgba)
    size, line = (image.width(), image.height()), image.bytesPerLine()
    if raw[:, 3:4 * image.width():4].min() == 255:
        return Image.frombytes("RGB", size, raw, "raw", "BGRX", line, 1)
    return Image.frombytes("RGBA", size, raw, "raw", "BGRA", line, 1)


def _mask_pixels(mask: QImage) -> Image.Image:
    raw = raw_rows(mask, MASK_FORMAT)
    if raw is None:
        return qimage_to_pil(mask, "L")
    return Image.frombytes("L", (mask.width(), mask.height()), raw, "raw", "L",
                           mask.bytesPerLine(), 1)


def _result_pixels(image: QImage) -> Image.Image:
    if image.isNull():
        raise ProjectError("cannot save the project: a history result has no image")
    return qimage_to_pil(image)


class _Checked:
    """A file-like writer that asks `cancelled()` before each write."""

    def __init__(self, out: IO[bytes], cancelled: Callable[[], bool]) -> None:
        self._out, self._cancelled = out, cancelled

    def write(self, data: bytes) -> int:
        if self._cancelled():
            raise WriteCancelled
        return self._out.write(data)

    def flush(self) -> None:
        self._out.flush()


def _write_png(zf: zipfile.ZipFile, name: str, img: Image.Image, compress_level: int,
               cancelled: Callable[[], bool]) -> None:
    """`img` as a PNG entry `name`, encoded straight into the zip (stored: PNGs are
    compressed already)."""
    info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o600 << 16
    with zf.open(info, "w") as entry:
        img.save(_Checked(entry, cancelled), format="PNG", compress_level=compress_level)


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
        if _starts_a_zip(name):  # a zip whose end is gone: cut short, not foreign
            raise ProjectError(f"cannot open {name}: the project is damaged (cut short: the "
                               "end of the file is missing)") from e
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


def _starts_a_zip(name: str) -> bool:
    try:
        with open(name, "rb") as f:
            return f.read(4) == b"PK\x03\x04"
    except OSError:
        return False


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
        raise NewerProjectError(
            f"cannot open {name}: it was saved by a newer version of Diffusion Canvas "
            f"(project format {version}; this version reads up to {VERSION})"
        )
    return manifest


def _read_data(zf: zipfile.ZipFile, manifest: dict[str, Any]) -> ProjectData:
    _check_budget(manifest, lambda name: _png_size(_read_head(zf, name)))
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


def _image_names(manifest: dict[str, Any]) -> list[str]:
    """Every image the manifest names (with repeats); ProjectError past the count limits."""
    history = manifest.get("history", [])
    if not isinstance(history, list):
        raise ProjectError("the history is not a list")
    if len(history) > MAX_HISTORY:
        raise ProjectError(f"the history holds {len(history):,} results; a project holds at most "
                           f"{MAX_HISTORY:,}")
    names = [str(manifest.get("image")), str(manifest.get("mask"))]
    for entry in history:
        if not isinstance(entry, dict):
            continue
        frames = entry.get("frames") or []
        frames = frames if isinstance(frames, list) else []
        if len(frames) > MAX_FRAMES:
            raise ProjectError(f"a result has {len(frames):,} frames; at most {MAX_FRAMES:,}")
        names.append(str(entry.get("image")))
        names.extend(str(n) for n in frames)
    return names


def _check_budget(manifest: dict[str, Any], size_of) -> None:
    """Refuses a project whose images add up to more than MAX_TOTAL_PIXELS, before decoding."""
    total = 0
    sizes: dict[str, int] = {}
    for name in _image_names(manifest):
        if name not in sizes:
            try:
                w, h = size_of(name)
            except ProjectError:
                raise
            except Exception:
                w, h = 0, 0  # unreadable: reported when it is decoded
            sizes[name] = w * h
        total += sizes[name]
        if total > MAX_TOTAL_PIXELS:
            raise ProjectError(f"its images add up to more than {MAX_TOTAL_PIXELS:,} pixels "
                               f"(over {4 * MAX_TOTAL_PIXELS / 1e9:.0f} GB once decoded); a "
                               "project of this app is never that large")


def _read_head(zf: zipfile.ZipFile, name: str) -> bytes:
    try:
        with zf.open(name) as f:
            return f.read(24)
    except KeyError as e:
        raise ProjectError(f"{name} is missing") from e


def _png_size(head: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR (its first 24 bytes)."""
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


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
# Salvaging a damaged file (an autosave cut short by a crash, a flipped byte)


def salvage_project(path: PathLike) -> tuple[ProjectData, list[str]]:
    """What can be read of a damaged project, and what was lost (one phrase each). The zip's
    directory is not needed: a truncated file is read entry by entry from the start. Raises
    ProjectError only when nothing usable is left (no readable manifest, no usable size)."""
    name = os.fspath(path)
    entries = readable_entries(Path(name))
    try:
        manifest = json.loads(entries[MANIFEST].decode("utf-8"))
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
            raise ValueError(manifest.get("format") if isinstance(manifest, dict) else None)
    except Exception as e:
        raise ProjectError(f"cannot restore {name}: its manifest is lost, so nothing in it can "
                           "be placed") from e
    try:
        _check_budget(manifest, lambda n: _png_size(entries[n][:24]))
        width, height = _ints(manifest.get("size"), 2, "size")
        if not 0 < width * height <= MAX_PIXELS:
            raise ProjectError(f"bad size {width} x {height}")
    except ProjectError as e:
        raise ProjectError(f"cannot restore {name}: {e}") from e
    lost: list[str] = []

    def decode(entry: object) -> QImage:
        return _decode_png(entries[str(entry)], str(entry))

    image = _salvaged(lambda: decode(manifest.get("image")), (width, height), IMAGE_FORMAT)
    if image is None:
        lost.append("the image (a blank one of its size stands in)")
        image = QImage(width, height, IMAGE_FORMAT)
        image.fill(QColor("white"))
    mask = _salvaged(lambda: decode(manifest.get("mask")), (width, height), MASK_FORMAT)
    if mask is None:
        lost.append("the mask")
        mask = QImage(width, height, MASK_FORMAT)
        mask.fill(0)
    try:
        region = QRect(*_ints(manifest.get("region"), 4, "region"))
        if region.isEmpty() or not image.rect().contains(region):
            raise ProjectError("outside")
    except ProjectError:
        side = min(width, height)
        region = QRect((width - side) // 2, (height - side) // 2, side, side)
        lost.append("the region (centred again)")
    results = _salvage_results(manifest.get("history", []), decode, lost)
    settings = manifest.get("settings") if isinstance(manifest.get("settings"), dict) else {}
    background = QColor(str(manifest.get("background", "#ffffff")))
    version = manifest.get("version") if isinstance(manifest.get("version"), int) else VERSION
    return ProjectData(image, mask, region, results,
                       background if background.isValid() else QColor("white"),
                       settings, version), lost


def _salvaged(read, size: tuple[int, int], image_format) -> QImage | None:
    try:
        image = read().convertToFormat(image_format)
    except Exception:
        return None
    return image if (image.width(), image.height()) == size else None


def _salvage_results(entries: object, decode, lost: list[str]) -> list[Result]:
    results: list[Result] = []
    dropped, frames_dropped = 0, 0
    for entry in entries if isinstance(entries, list) else []:
        try:
            result = Result.from_json(dict(entry, frames=[]), decode)
        except Exception:
            dropped += 1
            continue
        frames = entry.get("frames") if isinstance(entry.get("frames"), list) else []
        try:
            result.frames = [decode(n) for n in frames]
        except Exception:
            frames_dropped += 1
        results.append(result)
    if dropped:
        lost.append(f"{dropped} of {dropped + len(results)} history results")
    if frames_dropped:
        lost.append(f"the frames of {frames_dropped} history result(s)")
    return results


def _decode_png(data: bytes, name: str) -> QImage:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(data), formats=["PNG"]) as im:
            if im.size[0] * im.size[1] > MAX_PIXELS:
                raise ProjectError(f"{name} is too large")
            im.load()
            return pil_to_qimage(im)


def readable_entries(path: Path) -> dict[str, bytes]:
    """Every entry whose bytes check out (CRC): through the zip's directory when it is intact,
    else by walking the local headers from the start (what a truncated file still has)."""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise ProjectError(f"cannot restore {path}: {e.strerror or e}") from e
    if size > 4 * MAX_ENTRY_BYTES:
        raise ProjectError(f"cannot restore {path}: {size:,} bytes is not a project of ours")
    entries: dict[str, bytes] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if info.file_size <= MAX_ENTRY_BYTES:
                    with contextlib.suppress(Exception):
                        entries[info.filename] = zf.read(info)
        return entries
    except (zipfile.BadZipFile, OSError, ValueError):
        pass
    return _walk_local_headers(path.read_bytes())


def _walk_local_headers(data: bytes) -> dict[str, bytes]:
    entries: dict[str, bytes] = {}
    pos = data.find(b"PK\x03\x04")
    while pos >= 0 and pos + 30 <= len(data):
        (_, _, flags, method, _, _, crc, csize, _, name_len,
         extra_len) = struct.unpack("<IHHHHHIIIHH", data[pos:pos + 30])
        start = pos + 30 + name_len + extra_len
        body = data[start:start + csize]
        if flags & 0x08 or len(body) < csize:  # sizes after the data, or cut short: stop
            break
        name = data[pos + 30:pos + 30 + name_len].decode("utf-8", "replace")
        with contextlib.suppress(zlib.error):
            if method == zipfile.ZIP_DEFLATED:
                inflate = zlib.decompressobj(-15)
                body = inflate.decompress(body, MAX_ENTRY_BYTES)
            if method in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) and zlib.crc32(body) == crc:
                entries[name] = body
        pos = data.find(b"PK\x03\x04", start + csize)
    return entries


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

