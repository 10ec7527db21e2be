"""Outputs written whole or not at all: checked before the run, removed when the run fails."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from engine import images
from engine.errors import EngineError


def check_file_outputs(inputs: dict[str, str | None] | None = None, **named: str | None
                       ) -> None:
    """Each named output file (option -> path) can be written, no two are the same file, and
    none is one of the inputs (option -> path): a run never writes over what it reads."""
    seen: dict[Path, str] = {}
    for option, path in named.items():
        if path is None:
            continue
        target = Path(path).expanduser().absolute()
        flag = "--" + option.replace("_", "-")
        if target in seen:
            raise EngineError(f"{seen[target]} and {flag} name the same file {path}: one would "
                              "overwrite the other")
        seen[target] = flag
        _check_not_an_input(target, flag, inputs or {})
        if target.is_dir():
            raise EngineError(f"{flag} {path} is a folder; name a file")
        _check_folder_writable(target.parent, f"{flag} {path}")


# names that promise another format than the PNG (with its parameters chunk) an image out is
OTHER_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff")


def check_image_outputs(out: str, frames: str | None = None) -> None:
    """--out names a PNG (not a .jpg that would hold PNG bytes), --frames a GIF or an APNG:
    refused before the run, not after it."""
    suffix = Path(out).suffix.lower()
    if suffix in OTHER_IMAGE_SUFFIXES:
        raise EngineError(f"--out {out}: the result is written as a PNG (with its parameters "
                          f"chunk), not {suffix}; name it .png")
    if frames is not None and Path(frames).suffix.lower() not in images.FRAME_SUFFIXES:
        shown = Path(frames).suffix or "a name without one"
        raise EngineError(f"--frames {frames}: the frames are written as a GIF (.gif) or an "
                          f"APNG (.png, .apng), not {shown}")


def check_folder_output(path: str, option: str = "out") -> None:
    """The output folder exists as a writable folder, or can be made."""
    target = Path(path).expanduser().absolute()
    flag = "--" + option.replace("_", "-")
    if target.exists() and not target.is_dir():
        raise EngineError(f"{flag} {path} is a file, not a folder")
    if not target.exists() and target.suffix.lower() in (".png", ".apng", *OTHER_IMAGE_SUFFIXES):
        raise EngineError(f"{flag} {path} names an image file, but this command writes a folder "
                          f"(of images and more); name a folder, e.g. {flag} "
                          f"{Path(path).with_suffix('')}")
    _check_folder_writable(target, f"{flag} {path}")


def _check_not_an_input(target: Path, flag: str, inputs: dict[str, str | None]) -> None:
    """samefile, so a link or another spelling of the input's path counts too."""
    if not target.is_file():
        return  # a file not there yet is nobody's input
    for option, path in inputs.items():
        source = Path(path).expanduser() if path is not None else None
        if source is not None and source.is_file() and os.path.samefile(target, source):
            raise EngineError(f"{flag} {target.name} is the --{option.replace('_', '-')} file: "
                              "the run would write over its own input; name another file")


def _check_folder_writable(folder: Path, what: str) -> None:
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise EngineError(f"cannot write {what}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise EngineError(f"cannot write {what}: {existing} is not writable")
    try:  # os.access trusts the mode bits: root, /sys or a read-only mount pass it and fail
        os.rmdir(tempfile.mkdtemp(prefix=".write-check-", dir=existing))
    except OSError as error:
        raise EngineError(f"cannot write {what}: {existing}: {error.strerror or error}") from None


@contextlib.contextmanager
def all_or_nothing() -> Iterator[list[Path]]:
    """Yields a list to append each output to once written; if the block fails, every file in
    it is removed, so a failed run leaves no partial set of outputs."""
    written: list[Path] = []
    try:
        yield written
    except BaseException:
        for path in written:
            with contextlib.suppress(OSError):
                Path(path).unlink()
        raise


@contextlib.contextmanager
def no_empty_folders_left(*folders: Path) -> Iterator[None]:
    """Each folder (and the parents it would need) that does not exist yet and is still empty
    when the block fails is removed, deepest first: a refused run leaves no empty --out."""
    missing: list[Path] = []
    for folder in folders:
        folder = Path(folder).expanduser().absolute()
        while not folder.exists() and folder.parent != folder and folder not in missing:
            missing.append(folder)
            folder = folder.parent
    try:
        yield
    except BaseException:
        for folder in sorted(missing, key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only an empty one goes
        raise
