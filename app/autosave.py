"""Autosave and crash recovery.

Each running app has its own session folder `<autosave>/session-XXXX/` holding a lock file
(QLockFile, held while the app lives) and, once the document has unsaved changes, an
`autosave.dcproj` (the project format, written atomically every `interval_s` seconds while the
document is modified). A clean exit (`mark_clean_exit`) deletes the folder. A folder whose lock
is free or stale (its process is gone) but which still holds an autosave is what a session that
did not end cleanly left: `pending_recovery` finds it, `restore` puts it into a document (one
undo step, the document stays modified) and `discard` deletes it. Two apps running at once
never take each other's live autosave for a recovery.

The timer's autosave never stalls the window: the GUI thread takes a snapshot (shared QImages,
the manifest as text: no pixel is copied) and ONE worker thread encodes and writes it. One write
runs at a time; a tick meanwhile does nothing (a change made during the write keeps the document
dirty, so the next tick saves the newest state). `saved` and `failed` are emitted on the GUI
thread. `save_now`, `close` and `mark_clean_exit` first finish the write in flight (the last
cancels it: it stops within 64 KB and its temporary is removed), so no late write can recreate
a deleted session folder or replace a newer autosave.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import uuid
import zipfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QLockFile, QObject, QStandardPaths, Qt, QTimer, Signal

from app.document import Document
from app.history import History
from app.project import (
    MANIFEST,
    ProjectError,
    ProjectSnapshot,
    WriteCancelled,
    apply_project,
    load_project,
    readable_entries,
    salvage_project,
    snapshot_project,
    write_snapshot,
)

DEFAULT_INTERVAL_S = 30.0
AUTOSAVE_NAME = "autosave.dcproj"
LOCK_NAME = "session.lock"
SESSION_PREFIX = "session-"
FAST_PNG = 1  # zlib level: an autosave must not stall the window
CANCELLED = "cancelled"  # a write's outcome when `mark_clean_exit` stopped it


@dataclass
class Recovery:
    """An autosave left by a session that did not end cleanly."""

    path: Path  # the autosave .dcproj
    saved_at: datetime
    size: tuple[int, int]  # the image's width and height
    project_path: str | None  # the project that session had open, if any
    _lock: QLockFile | None = field(default=None, repr=False, compare=False)
    damaged: bool = False  # its manifest could be read only by walking a damaged file
    lost: list[str] = field(default_factory=list)  # after restore: what could not be restored
    kept_at: Path | None = None  # after a damaged restore: where the original file was kept

    @property
    def folder(self) -> Path:
        return self.path.parent


@dataclass
class _Write:
    """A background write: its number, its cancel flag and its future (the outcome: None when
    written, CANCELLED, or why it failed)."""

    number: int
    cancel: threading.Event
    future: Future[str | None] | None = None


class _Relay(QObject):
    """Carries a finished write to the GUI thread. It has no parent, and the worker holds it,
    so a write that ends after its Autosaver is gone emits into nothing instead of a deleted
    object."""

    done = Signal(int, object)  # the write's number, its outcome


def _write_in_background(path: Path, snapshot: ProjectSnapshot, job: _Write, relay: _Relay
                         ) -> str | None:
    """The worker's part: write the snapshot, then tell the GUI thread (queued)."""
    try:
        write_snapshot(path, snapshot, job.cancel.is_set)
        outcome: str | None = None
    except WriteCancelled:
        outcome = CANCELLED
    except (ProjectError, OSError) as e:
        outcome = str(e)
    except Exception as e:  # noqa: BLE001 - the GUI thread must hear of every ending
        outcome = f"cannot save {path}: {type(e).__name__}: {e}"
    relay.done.emit(job.number, outcome)
    return outcome


def default_folder() -> Path:
    """`<AppDataLocation>/autosave` (set the application and organisation names first)."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    root = Path(base) if base else Path.home() / ".diffusion-canvas"
    return root / "autosave"


class Autosaver(QObject):
    """Writes the document (and history, if given) every `interval_s` s while it is modified."""

    saved = Signal(str)  # the autosave file just written
    failed = Signal(str)  # why an autosave could not be written (the app may show it)

    def __init__(
        self,
        document: Document,
        folder: str | os.PathLike[str] | None = None,
        interval_s: float = DEFAULT_INTERVAL_S,
        history: History | None = None,
        parent: QObject | None = None,
        modified: Callable[[], bool] | None = None,
    ) -> None:
        """`modified` says whether there is unsaved work (default: the document is modified);
        the app passes one that counts a changed history too."""
        super().__init__(parent)
        self._document, self._history = document, history
        self._modified = modified if modified is not None else (lambda: document.modified)
        self._root = Path(folder) if folder is not None else default_folder()
        self._session = self._root / f"{SESSION_PREFIX}{uuid.uuid4().hex[:12]}"
        self._lock: QLockFile | None = None
        self._recovery: Recovery | None = None
        self._dirty = False
        self._write: _Write | None = None  # the background write in flight
        self._writes = 0  # writes started (each one's number)
        self._pool: ThreadPoolExecutor | None = None  # ONE worker thread, made on first use
        self._closed = False  # no background write starts after close / mark_clean_exit
        self._relay = _Relay()
        self._relay.done.connect(self._on_written, Qt.ConnectionType.QueuedConnection)
        self.project_path: str | None = None  # recorded in the autosave, given back on recovery
        for signal in (document.changed, document.maskChanged, document.regionChanged):
            signal.connect(self._mark_dirty)
        if history is not None:
            for signal in (history.added, history.removed, history.cleared):
                signal.connect(self._mark_dirty)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._tick)
        self.set_interval(interval_s)
        self._timer.start()

    # --- saving -----------------------------------------------------------------------------
    @property
    def autosave_path(self) -> Path:
        """Where this session writes its autosave."""
        return self._session / AUTOSAVE_NAME

    def set_interval(self, seconds: float) -> None:
        self._timer.setInterval(max(1, round(seconds * 1000)))

    @property
    def writing(self) -> bool:
        """A background write is in flight."""
        return self._write is not None

    def save_now(self) -> bool:
        """Writes the autosave at once, on this thread, after the write in flight (if any) has
        finished; False (and `failed`) if it could not be written."""
        self._finish_write()
        try:
            snapshot = self._snapshot()
            write_snapshot(self.autosave_path, snapshot)
        except (ProjectError, OSError) as e:
            self._dirty = True
            self.failed.emit(str(e))
            return False
        self.saved.emit(str(self.autosave_path))
        return True

    def save_in_background(self) -> bool:
        """Starts writing the autosave in the worker thread and returns at once; False when a
        write is in flight already, the autosaver is closed, or the snapshot could not be taken
        (`failed` says why). `saved` or `failed` follow on this object's thread."""
        if self._write is not None or self._closed:
            return False
        try:
            snapshot = self._snapshot()
        except (ProjectError, OSError) as e:
            self._dirty = True
            self.failed.emit(str(e))
            return False
        self._writes += 1
        job = _Write(self._writes, threading.Event())
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="autosave")
        self._write = job
        job.future = self._pool.submit(_write_in_background, self.autosave_path, snapshot, job,
                                       self._relay)
        return True

    def wait(self) -> None:
        """Blocks until the background write in flight (if any) has ended; its `saved` or
        `failed` is emitted now instead of later."""
        self._finish_write()

    def _snapshot(self) -> ProjectSnapshot:
        """The document now (cheap); from here on a change makes the autosave dirty again."""
        self._hold_session_lock()
        snapshot = snapshot_project(self._document, self._history,
                                    {"autosave": {"project_path": self.project_path}}, FAST_PNG,
                                    str(self.autosave_path))
        self._dirty = False
        return snapshot

    def _on_written(self, number: int, outcome: str | None) -> None:
        job = self._write
        if job is not None and job.number == number:  # else `_finish_write` took it already
            self._ended(job, outcome, report=True)

    def _ended(self, job: _Write, outcome: str | None, report: bool) -> None:
        self._write = None
        if outcome == CANCELLED:
            self._dirty = True
        elif outcome is not None:
            self._dirty = True  # the next tick tries again
            if report:
                self.failed.emit(outcome)
        elif report:
            self.saved.emit(str(self.autosave_path))

    def _finish_write(self, cancel: bool = False, report: bool = True) -> None:
        """Waits for the write in flight, if any (`cancel`: asks it to stop first), and takes
        its outcome here, so `saved` / `failed` come now (with `report`) and never later."""
        job = self._write
        if job is None or job.future is None:
            return
        if cancel:
            job.cancel.set()
        try:
            outcome = job.future.result()
        except Exception as e:  # noqa: BLE001 - the worker's report itself failed
            outcome = f"cannot save {self.autosave_path}: {e}"
        self._ended(job, outcome, report)

    def _mark_dirty(self, *_: object) -> None:
        self._dirty = True

    def _tick(self) -> None:
        if self._write is not None:  # one write at a time: the next tick saves what is newer
            return
        if self._modified():
            if self._dirty or not self.autosave_path.exists():
                self.save_in_background()
        elif self.autosave_path.exists():  # saved or back to clean: nothing to recover
            with contextlib.suppress(OSError):
                self.autosave_path.unlink()

    def _hold_session_lock(self) -> None:
        if self._lock is not None:
            return
        self._session.mkdir(parents=True, exist_ok=True)
        lock = QLockFile(str(self._session / LOCK_NAME))
        lock.setStaleLockTime(0)
        if not lock.tryLock(0):
            raise OSError(f"cannot lock the autosave folder {self._session}")
        self._lock = lock

    # --- ending -----------------------------------------------------------------------------
    def mark_clean_exit(self) -> None:
        """The app is quitting normally: stop (a write in flight is cancelled and waited for: it
        stops within 64 KB of output), and delete this session's autosave."""
        self._stop_writing(cancel=True)
        self._release_session()
        shutil.rmtree(self._session, ignore_errors=True)
        self._release_recovery()

    def close(self) -> None:
        """Stops and releases the lock, keeping the autosave (what a crash leaves behind); a
        write in flight is finished first, so what is kept is the newest state."""
        self._stop_writing(cancel=False)
        self._release_session()
        self._release_recovery()

    def _stop_writing(self, cancel: bool) -> None:
        self._timer.stop()
        self._closed = True
        self._finish_write(cancel=cancel, report=not cancel)
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _release_session(self) -> None:
        if self._lock is not None:
            self._lock.unlock()
            self._lock = None

    # --- recovery ---------------------------------------------------------------------------
    def pending_recovery(self) -> Recovery | None:
        """The newest autosave left by a session that did not end cleanly, or None.

        The recovery stays locked to this app until `restore`, `discard` or exit, so a second
        app started meanwhile does not offer it too.
        """
        if self._recovery is None:
            for folder in self._candidates():
                self._recovery = self._claim(folder)
                if self._recovery is not None:
                    break
        return self._recovery

    def restore(self, document: Document | None = None, history: History | None = None
                ) -> Recovery:
        """Puts the pending recovery into `document` (default: the watched one) as one undo step,
        autosaves it in this session, then deletes the old one. A damaged autosave gives what
        can be read of it (`lost` says what could not be, the original is kept at `kept_at`);
        ProjectError when nothing can be (the file is kept too), LookupError if there is none."""
        recovery = self.pending_recovery()
        if recovery is None:
            raise LookupError("there is no autosave to restore")
        try:
            data, lost = load_project(recovery.path), []
        except ProjectError as error:
            try:
                data, lost = salvage_project(recovery.path)
            except ProjectError:
                kept = self._keep_damaged(recovery)
                raise ProjectError(f"{error}; nothing in it could be restored. The file is kept "
                                   f"as {kept}") from None
        document = self._document if document is None else document
        history = self._history if history is None else history
        apply_project(data, document, history, undoable=True)
        self.project_path = recovery.project_path
        recovery.lost = lost
        if not self.save_now():  # our own copy first, so a crash now loses nothing
            return recovery
        if lost:  # keep the damaged original: what was lost may matter to someone
            recovery.kept_at = self._keep_damaged(recovery)
        else:
            self.discard()
        return recovery

    def _keep_damaged(self, recovery: Recovery) -> Path:
        """Moves a damaged autosave out of its session folder (so it is not offered again) to
        `<autosave>/damaged-<time>.dcproj`, and lets the folder go."""
        stamp = recovery.saved_at.strftime("%Y%m%d-%H%M%S")
        kept = self._root / f"damaged-{stamp}-{uuid.uuid4().hex[:4]}{Path(AUTOSAVE_NAME).suffix}"
        try:
            os.replace(recovery.path, kept)
        except OSError:
            return recovery.path  # it stays where it is
        self.discard()
        return kept

    def discard(self) -> None:
        """Deletes the pending recovery, if any."""
        recovery, self._recovery = self._recovery, None
        if recovery is None:
            return
        if recovery._lock is not None:
            recovery._lock.unlock()
        shutil.rmtree(recovery.folder, ignore_errors=True)

    def _release_recovery(self) -> None:
        recovery, self._recovery = self._recovery, None
        if recovery is not None and recovery._lock is not None:
            recovery._lock.unlock()

    def _candidates(self) -> list[Path]:
        if not self._root.is_dir():
            return []
        folders = [p for p in self._root.glob(f"{SESSION_PREFIX}*")
                   if p.is_dir() and p != self._session]
        return sorted(folders, key=_mtime, reverse=True)

    def _claim(self, folder: Path) -> Recovery | None:
        lock = QLockFile(str(folder / LOCK_NAME))
        lock.setStaleLockTime(0)  # only a dead process makes a lock stale, never its age
        if not lock.tryLock(0):
            return None  # a live session
        path = folder / AUTOSAVE_NAME
        if not path.is_file():  # it ended with nothing unsaved: tidy up
            lock.unlock()
            shutil.rmtree(folder, ignore_errors=True)
            return None
        recovery = _describe(path)
        if recovery is None:
            lock.unlock()
            return None
        recovery._lock = lock
        return recovery


def _mtime(folder: Path) -> float:
    path = folder / AUTOSAVE_NAME
    try:
        return (path if path.exists() else folder).stat().st_mtime
    except OSError:
        return 0.0


def _describe(path: Path) -> Recovery | None:
    """A Recovery from the autosave's manifest alone (cheap). A damaged or truncated file is
    still offered (damaged=True) when its manifest can be read by walking it; None if not even
    that is left, or it is not a file."""
    damaged = False
    try:
        saved_at = datetime.fromtimestamp(path.stat().st_mtime)
        try:
            with zipfile.ZipFile(path) as zf:
                manifest = json.loads(zf.read(MANIFEST).decode("utf-8"))
        except Exception:
            damaged = True
            manifest = json.loads(readable_entries(path)[MANIFEST].decode("utf-8"))
        width, height = (int(v) for v in manifest["size"])
        info = (manifest.get("settings") or {}).get("autosave") or {}
        project = info.get("project_path")
    except Exception:
        return None
    return Recovery(path, saved_at, (width, height), project if isinstance(project, str) else None,
                    damaged=damaged)
