"""The engine thread: one long-lived QThread that owns the loaded model and runs jobs in turn.

The GUI talks to `EngineThread` (it lives in the GUI thread): `load_model`, `submit`, `cancel`,
`shutdown`. Requests go through a plain queue to `EngineWorker`, whose `serve` loop runs in the
thread. The worker checks a cancel mark between steps, so a cancel stops the loop within one
step; the GUI side also drops whatever a cancelled job still had in flight, so nothing of it is
drawn after `cancel()` returns. Every signal of a job carries the job's id (the one `submit`
returned), so a receiver knows which job it is about (app.session.runner maps ids to jobs).
Another thread uses the model only through `lend_model()` (see ModelLease): never while the
engine loads or runs, and never two threads at once.
"""

from __future__ import annotations

import gc
import os
import queue
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from PySide6.QtCore import QObject, QSize, Qt, QThread, Signal
from PySide6.QtGui import QImage

from app.jobs import Job, job_parameters, make_run, resolve_job
from app.qt_images import pil_to_qimage
from app.session.model_state import ModelState
from app.session.worker import Cancelled
from engine import images
from engine.errors import EngineError
from engine.loops import StepRecord, generator_for
from engine.models.base import DiffusionModel
from engine.models.registry import load_model, loading_note
from engine.prompts import attach_embeddings

OOM_ADVICE = ("out of memory: make fewer images at once (count), close other programs, "
              "or pick the CPU device in the Model menu")


def tensor_to_qimage(x: torch.Tensor, data_range: tuple[float, float]) -> QImage:
    """One [C, H, W] (or [1, C, H, W]) tensor in `data_range` -> a QImage that owns its pixels."""
    return pil_to_qimage(images.to_pil(x, data_range))


def same_size(frames: list[QImage], size: QSize) -> list[QImage]:
    """Stage I's frames blown up (pixels kept square) to stage II's size, for one animation."""
    return [f if f.size() == size else f.scaled(size, Qt.AspectRatioMode.IgnoreAspectRatio,
                                                Qt.TransformationMode.FastTransformation)
            for f in frames]


def error_message(error: BaseException) -> str:
    """One line for the user; out-of-memory errors come with advice."""
    if isinstance(error, EngineError):
        return str(error)
    oom = (MemoryError, torch.cuda.OutOfMemoryError)
    if isinstance(error, oom) or "out of memory" in str(error).lower():
        return OOM_ADVICE
    if isinstance(error, ValueError):
        return str(error)
    if isinstance(error, OSError) and error.strerror:  # a folder not writable, a disk full
        where = f"{error.filename}: " if error.filename else ""
        return f"cannot use {where}{error.strerror}" if where else error.strerror
    return f"unexpected error: {type(error).__name__}: {error}"


# --- the model lease ----------------------------------------------------------------------------
# The explorer computes with the engine's model from its own threads. Two ways to keep the model
# to one thread at a time were open: submit the explorer's computations to the engine thread as
# a job kind, or have the engine lend its model. The lease is the one chosen: the explorer's
# requests are "newest only" and interactive (a slider), and as engine jobs they would queue
# behind a run in the engine's FIFO, hold the next run behind a stale column, and need the
# engine to know the explorer's replace-the-pending rule. Lent per step, the model serves the
# explorer between runs, and the engine comes first: a run that waits takes the model at the
# borrower's next step, and no new lease is given while the engine waits or works.

LEASE_POLL_S = 0.05  # a borrower waiting for the model looks at its stop test this often


class ModelLease:
    """Who uses the engine's model now: the engine thread (loads and runs) or one borrower,
    never two at once; a waiting engine goes before any borrower, and an urgent borrower (the
    explorer's one-call columns) before the others (its iterative column, a step at a time)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._holder: str | None = None  # "engine", "borrower" or None
        self._engine_waiting = 0
        self._urgent_waiting = 0

    @contextmanager
    def engine_turn(self) -> Iterator[None]:
        """The engine thread's hold for one load or run: waits for the borrower's step."""
        with self._cond:
            self._engine_waiting += 1
            try:
                while self._holder is not None:
                    self._cond.wait()
            finally:
                self._engine_waiting -= 1
            self._holder = "engine"
        try:
            yield
        finally:
            self._release()

    @contextmanager
    def lend(self, stop: Callable[[], bool] | None = None, urgent: bool = False
             ) -> Iterator[None]:
        """A borrower's hold: waits while the engine works or waits for its turn (and, unless
        `urgent`, while an urgent borrower waits); raises `Cancelled` if `stop()` becomes true
        first (a cancelled request gives up waiting)."""
        with self._cond:
            self._urgent_waiting += urgent
            try:
                while self._holder is not None or self._engine_waiting or (
                        not urgent and self._urgent_waiting):
                    if stop is not None and stop():
                        raise Cancelled
                    self._cond.wait(LEASE_POLL_S if stop is not None else None)
            finally:
                self._urgent_waiting -= urgent
            self._holder = "borrower"
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        with self._cond:
            self._holder = None
            self._cond.notify_all()

    def holder(self) -> str | None:
        with self._cond:
            return self._holder


# --- the worker: runs in the engine thread ------------------------------------------------------


@dataclass
class _Load:
    spec: str
    device: str
    prompts: str | None = None  # an embeddings file for text-conditioned models
    dtype: str = "auto"  # these two apply to large models (DeepFloyd IF) only
    offload: str = "none"


@dataclass
class _Run:
    job: Job
    job_id: int


@dataclass
class _Cancels:
    """Job ids up to `upto`, and those in `ids`, are cancelled. Written by the GUI thread, read
    by the worker."""

    upto: int = 0
    ids: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def cancel_upto(self, job_id: int) -> None:
        with self.lock:
            self.upto = max(self.upto, job_id)
            self.ids = {i for i in self.ids if i > self.upto}

    def cancel(self, job_ids: Iterable[int]) -> None:
        with self.lock:
            self.ids.update(i for i in job_ids if i > self.upto)

    def is_cancelled(self, job_id: int) -> bool:
        with self.lock:
            return job_id <= self.upto or job_id in self.ids


class EngineWorker(QObject):
    """Owns the model; `serve` takes requests from the queue until it gets None."""

    stateChanged = Signal(str)
    modelLoaded = Signal(object)  # ModelState
    loadFailed = Signal(str)
    loadNote = Signal(str)  # said before a large model loads: the memory it needs
    modelReleased = Signal(str)  # the name of the model let go to make room for a large load
    started = Signal(int)  # job id: its run begins
    progress = Signal(int, int, int, float)  # job id, step, total, eta seconds
    preview = Signal(int, QImage, int, int)  # job id, image, step, total
    finished = Signal(int, list, object, list)  # job id, images, parameters, frames per image
    failed = Signal(int, str)
    cancelled = Signal(int)

    def __init__(self, requests: queue.Queue, cancels: _Cancels,
                 lease: ModelLease | None = None) -> None:
        super().__init__()
        self._requests = requests
        self._cancels = cancels
        self.lease = lease or ModelLease()
        self.model: DiffusionModel | None = None
        self._loaded: tuple[str, str] | None = None
        self._loaded_name = ""

    def serve(self) -> None:
        torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))  # one core stays with the GUI
        while True:
            request = self._requests.get()
            if request is None:
                return
            with self.lease.engine_turn():  # no borrower holds the model meanwhile
                if isinstance(request, _Load):
                    self._load(request)
                else:
                    self._run(request)

    # --- loading --------------------------------------------------------------------------------
    def _load(self, request: _Load) -> None:
        key = (request.spec, request.device, request.prompts, request.dtype, request.offload)
        if key == self._loaded and self.model is not None:
            return
        self.stateChanged.emit("loading")
        try:
            note = loading_note(request.spec, request.device, request.dtype, request.offload)
            if note:  # said for real IF weights only: too large to hold beside the one loaded
                self.loadNote.emit(note)
                if self.model is not None:
                    self._release()
            model = load_model(request.spec, request.device, request.dtype, request.offload,
                               where_they_apply=True)
            if request.prompts:
                attach_embeddings(model, request.prompts)
            state = ModelState.of(model, request.spec)
        except BaseException as error:  # noqa: BLE001 - the thread must keep serving
            self._report(error)
            self.loadFailed.emit(error_message(error))
        else:
            switched = self.model is not None
            self.model, self._loaded, self._loaded_name = model, key, state.name
            if switched:  # the old one goes now: its UNet's speed levers wrap modules in
                gc.collect()  # objects that refer back to them, cycles only the GC frees
            self.modelLoaded.emit(state)
        self.stateChanged.emit("idle")

    def _release(self) -> None:
        """Lets the loaded model go before a large load, so the two never share the memory."""
        name = self._loaded_name
        self.model, self._loaded = None, None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        self.modelReleased.emit(name)

    # --- running --------------------------------------------------------------------------------
    def _run(self, request: _Run) -> None:
        job_id = request.job_id
        if self._cancels.is_cancelled(job_id):
            return  # cancelled while queued
        if self.model is None:
            self.failed.emit(job_id, "no model is loaded: pick one in the Model menu")
            return
        self.started.emit(job_id)
        self.stateChanged.emit("running")
        try:
            self._run_loop(self.model, request.job, job_id)
        except BaseException as error:  # noqa: BLE001 - OOM and bugs alike become `failed`
            self._report(error)
            self.failed.emit(job_id, error_message(error))
        finally:
            self.stateChanged.emit("idle")

    def _run_loop(self, model: DiffusionModel, job: Job, job_id: int) -> None:
        job = resolve_job(model, job)
        generator = generator_for(model, job.seed, job.count)
        loop = make_run(model, job, generator)
        frames: list[list[QImage]] = []  # frames[i]: image i's x_t at every previewed step
        last: StepRecord | None = None
        start = time.monotonic()
        try:
            for record in loop:
                if self._cancels.is_cancelled(job_id):
                    self.cancelled.emit(job_id)
                    return
                if last is not None and record.x_t.shape[-1] != last.x_t.shape[-1]:
                    self.stateChanged.emit("upscaling")
                last = record
                self._step_done(model, job, job_id, record, frames, start)
        finally:
            loop.close()  # ends the generator at once, cancelled or not
        if last is None:
            raise EngineError("the run made no step")
        results = [tensor_to_qimage(x, model.data_range) for x in last.x_t.detach().cpu()]
        spec = self._loaded[0] if self._loaded else model.name
        frames = [same_size(f, results[0].size()) for f in frames]
        self.finished.emit(job_id, results, job_parameters(job, spec, model), frames)

    def _step_done(self, model: DiffusionModel, job: Job, job_id: int, record: StepRecord,
                   frames: list[list[QImage]], start: float) -> None:
        """Progress every step; a preview (and a frame per image) at the preview rate only,
        so the images are converted no more often than they are shown."""
        step, total = record.step, record.total
        elapsed = time.monotonic() - start
        eta = elapsed / max(step, 1) * (total - step)
        self.progress.emit(job_id, step, total, eta)
        every = max(1, int(job.preview_every))
        if step % every != 0 and step != total:
            return
        batch = record.x_t.detach().cpu()
        if not frames:
            frames.extend([] for _ in range(batch.shape[0]))
        for i, x in enumerate(batch[: len(frames)]):
            frames[i].append(tensor_to_qimage(x, model.data_range))
        shown = frames[0][-1]
        if job.preview_kind == "x0" and record.x0_hat is not None:
            shown = tensor_to_qimage(record.x0_hat[0].detach().cpu().clamp(
                *model.data_range), model.data_range)
        self.preview.emit(job_id, shown, step, total)

    @staticmethod
    def _report(error: BaseException) -> None:
        if not isinstance(error, EngineError):
            traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)


class _Thread(QThread):
    def __init__(self, worker: EngineWorker) -> None:
        super().__init__()
        self._worker = worker

    def run(self) -> None:
        self._worker.serve()


# --- the GUI side -------------------------------------------------------------------------------


class EngineThread(QObject):
    """The GUI thread's handle on the engine thread; its signals arrive in the GUI thread."""

    stateChanged = Signal(str)  # "loading", "idle", "running", "upscaling"
    modelLoaded = Signal(object)  # ModelState: what is loaded, in plain values
    loadFailed = Signal(str)
    loadNote = Signal(str)  # before a large model loads: the memory it will need
    modelReleased = Signal(str)  # its name: let go to make room for a large load
    # each job signal carries the job's id first
    started = Signal(int)  # job id: its run begins
    progress = Signal(int, int, int, float)  # job id, step, total, eta in seconds
    preview = Signal(int, QImage, int, int)  # job id, image, step, total
    finished = Signal(int, list, object, list)  # job id, result QImages, parameters, frames
    failed = Signal(int, str)  # job id, message
    cancelled = Signal(list)  # job ids, at once from cancel(): nothing of them arrives after it
    stopped = Signal(int)  # job id: the worker has left its cancelled loop (within one step)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._requests: queue.Queue = queue.Queue()
        self._cancels = _Cancels()
        self._next_id = 0
        self._pending: set[int] = set()
        self.state = "idle"
        self.model_state: ModelState | None = None
        self._worker = EngineWorker(self._requests, self._cancels)
        self._thread = _Thread(self._worker)
        self._worker.moveToThread(self._thread)
        self._connect_worker()
        self._thread.start()

    def _connect_worker(self) -> None:
        w = self._worker
        w.stateChanged.connect(self._on_state)
        w.modelLoaded.connect(self._on_model_loaded)
        w.loadFailed.connect(self.loadFailed)
        w.loadNote.connect(self.loadNote)
        w.modelReleased.connect(self.modelReleased)
        w.started.connect(self._on_started)
        w.progress.connect(self._on_progress)
        w.preview.connect(self._on_preview)
        w.finished.connect(self._on_finished)
        w.failed.connect(self._on_failed)
        w.cancelled.connect(self.stopped)

    # --- requests -------------------------------------------------------------------------------
    def load_model(self, spec: str, device: str = "auto", prompts: str | None = None,
                   dtype: str = "auto", offload: str = "none") -> None:
        """Loads `spec` on `device` (with an embeddings file) unless it is already loaded.

        dtype and offload apply to DeepFloyd IF; other models ignore them.
        """
        self._requests.put(_Load(spec, device, prompts, dtype, offload))

    def submit(self, job: Job) -> int:
        """Queues `job`; returns its id."""
        self._next_id += 1
        self._pending.add(self._next_id)
        self._requests.put(_Run(job, self._next_id))
        return self._next_id

    def cancel(self, job_ids: Iterable[int] | None = None) -> list[int]:
        """Cancels the jobs `job_ids` (default: the running one and every queued one) that are
        still pending; a running one stops within one step. Returns the ids cancelled."""
        if job_ids is None:
            ids = sorted(self._pending)
            self._cancels.cancel_upto(self._next_id)
        else:
            ids = sorted(self._pending.intersection(job_ids))
            self._cancels.cancel(ids)
        if not ids:
            return []
        self._pending.difference_update(ids)
        self.cancelled.emit(ids)
        return ids

    def busy(self) -> bool:
        return bool(self._pending)

    def loaded_model(self) -> DiffusionModel | None:
        """The model the engine thread holds, for a caller that knows the engine is idle and
        nothing borrows it (tests); the app's threads go through `lend_model`."""
        return self._worker.model

    @contextmanager
    def lend_model(self, stop: Callable[[], bool] | None = None, urgent: bool = False
                   ) -> Iterator[DiffusionModel | None]:
        """The loaded model (None: none), the caller's alone until the block ends: no load or
        run starts meanwhile, and it waits while one goes. Hold it for one step at a time, so
        a run that is waiting starts within a step. `stop`, `urgent`: see `ModelLease.lend`."""
        with self._worker.lease.lend(stop, urgent):
            yield self._worker.model

    def pending(self) -> set[int]:
        """The ids of the jobs queued or running (a copy)."""
        return set(self._pending)

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Cancels any run and joins the thread; True once it has ended."""
        if not self._thread.isRunning():
            return True
        self.cancel()
        self._requests.put(None)
        return self._thread.wait(timeout_ms)

    # --- worker signals, filtered: nothing of a cancelled job gets through ------------------------
    def _live(self, job_id: int) -> bool:
        return job_id in self._pending

    def _on_state(self, state: str) -> None:
        self.state = state
        self.stateChanged.emit(state)

    def _on_model_loaded(self, state: ModelState) -> None:
        self.model_state = state
        self.modelLoaded.emit(state)

    def _on_started(self, job_id: int) -> None:
        if self._live(job_id):
            self.started.emit(job_id)

    def _on_progress(self, job_id: int, step: int, total: int, eta: float) -> None:
        if self._live(job_id):
            self.progress.emit(job_id, step, total, eta)

    def _on_preview(self, job_id: int, image: QImage, step: int, total: int) -> None:
        if self._live(job_id):
            self.preview.emit(job_id, image, step, total)

    def _on_finished(self, job_id: int, results: list, params: dict, frames: list) -> None:
        if self._live(job_id):
            self._pending.discard(job_id)
            self.finished.emit(job_id, results, params, frames)

    def _on_failed(self, job_id: int, message: str) -> None:
        if self._live(job_id):
            self._pending.discard(job_id)
            self.failed.emit(job_id, message)
