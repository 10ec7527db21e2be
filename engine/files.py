"""Atomic file writes: a reader sees the old file or the new one, never half of either."""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def replacing(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary path beside `path` to write; on success it is synced and renamed
    over `path`, on any failure removed."""
    target = Path(path)
    if target.parent.exists() and not target.parent.is_dir():  # mkdir would say 'File exists'
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(target.parent))
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # some writers (safetensors) create files readable by owner only
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


STALE_AFTER_S = 3600.0  # a writer of a temporary this old was killed: no save takes an hour


def remove_stale_temporaries(target: str | os.PathLike, older_than_s: float = STALE_AFTER_S
                             ) -> int:
    """Deletes the temporaries that killed writes of `target` left beside it (those older than
    `older_than_s`, so a write in progress elsewhere is left alone); returns how many."""
    target = Path(target)
    removed = 0
    now = time.time()
    with contextlib.suppress(OSError):
        for tmp in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
            if len(tmp.name) == len(target.name) + 14 and now - tmp.stat().st_mtime > older_than_s:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                    removed += 1
    return removed


def not_found(path: str | os.PathLike) -> str:
    """Why `path` cannot be opened although named: missing, or a link that leads nowhere."""
    name = os.fspath(path)
    if os.path.islink(name):
        return f"{name} is a symbolic link that leads nowhere (a loop, or its target is gone)"
    return f"file not found: {name}"
