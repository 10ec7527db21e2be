"""The runner: every run goes through it, and every signal it sends carries the job.

The window gives it an engine (anything with `submit(job) -> id`, `cancel(ids=None)` and the
engine thread's signals, each carrying the engine's job id first) and a `make_job(settings)`
that turns the run settings and the document's region into the engine's job. The runner keeps
each job in a `JobQueue` as a `JobRecord`, maps the engine's ids to those records, and routes a
finished job by its kind: `userDone`, `liveDone`, `sweepDone`, `upscaleDone`. No receiver asks
the engine which job a signal is about.

Live mode lives here too, on the settings `live_settings()` gives (the session's: Live's own,
coarser schedule, RunSettings.live_fields) with LIVE_OVERRIDES on top. On, it runs after a
change (one single-shot timer restarted on each change, so a burst of changes makes one run) and
at once when a stroke ends; a newer Live run cancels the older Live ones still queued or
running, never a job of another kind; while a job the user asked for is pending, Live waits for
it. QtCore only.

    runner = Runner(engine, window.make_job, live_settings)
    runner.userDone.connect(add_to_history)
    job = runner.run(settings)                   # a JobRecord, queued
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from PySide6.QtCore import QObject, QTimer, Signal

from app.session.jobs import JobKind, JobQueue, JobRecord, JobState
from engine.errors import EngineError

LIVE_DELAY_MS = 300  # Live runs again this long after the last change (a burst makes one run)
# a Live run: one image, no stage II, x̂_0 after every step (the first estimate after one call)
LIVE_OVERRIDES: dict[str, Any] = {"count": 1, "upscale": False, "preview_kind": "x0",
                                  "preview_every": 1}


class Engine(Protocol):
    """What the runner needs of the engine thread (tests give it a fake)."""

    started: Any  # Signal(int id)
    progress: Any  # Signal(int id, int step, int total, float eta)
    preview: Any  # Signal(int id, image, int step, int total)
    finished: Any  # Signal(int id, list images, dict parameters, list frames)
    failed: Any  # Signal(int id, str message)
    cancelled: Any  # Signal(list ids)

    def submit(self, job: Any) -> int: ...

    def cancel(self, job_ids: Iterable[int] | None = None) -> list[int]: ...


@dataclass
class RunOutput:
    """What a finished job made: images, the parameters that made them, the frames of each."""

    images: list
    parameters: dict[str, Any]
    frames: list = field(default_factory=list)


class Runner(QObject):
    """Jobs from settings to results, routed by kind; and Live mode."""

    submitted = Signal(object)  # job, just before the engine gets it
    started = Signal(object)  # job
    progress = Signal(object, int, int, float)  # job, step, total, eta in seconds
    preview = Signal(object, object, int, int)  # job, image, step, total
    finished = Signal(object)  # job (any kind); job.result is a RunOutput
    failed = Signal(object, str)  # job, message
    cancelled = Signal(object)  # job
    userDone = Signal(object)  # a USER job finished: its results go to the history
    liveDone = Signal(object)  # a LIVE job finished: the Live result slot
    sweepDone = Signal(object)  # a SWEEP job finished: the sweep that asked (and the history)
    upscaleDone = Signal(object)  # an UPSCALE job finished: the upscaled result
    liveRefused = Signal(str)  # a Live run could not be made (say it, no dialog)

    def __init__(self, engine: Engine, make_job: Callable[[dict[str, Any] | None], Any],
                 live_settings: Callable[[], dict[str, Any]],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self.queue = JobQueue(self)
        self._make_job = make_job
        self._live_settings = live_settings
        self._by_engine_id: dict[int, JobRecord] = {}
        self._engine_ids: dict[int, int] = {}  # record id -> engine id
        self._live = False
        self.live_result: JobRecord | None = None  # the newest Live job that finished
        self.live_timer = QTimer(self, singleShot=True, interval=LIVE_DELAY_MS)
        self.live_timer.timeout.connect(self.run_live)
        self._routes = {JobKind.USER: self.userDone, JobKind.LIVE: self.liveDone,
                        JobKind.SWEEP: self.sweepDone, JobKind.UPSCALE: self.upscaleDone}
        engine.started.connect(self._on_started)
        engine.progress.connect(self._on_progress)
        engine.preview.connect(self._on_preview)
        engine.finished.connect(self._on_finished)
        engine.failed.connect(self._on_failed)
        engine.cancelled.connect(self._on_cancelled)

    # --- submitting -----------------------------------------------------------------------------
    def run(self, settings: dict[str, Any] | None = None,
            kind: JobKind = JobKind.USER) -> JobRecord:
        """Makes the job of `settings` (None: the window's run settings; EngineError if it
        cannot be made) and submits it."""
        return self.submit(self._make_job(settings), kind)

    def submit(self, params: Any, kind: JobKind = JobKind.USER) -> JobRecord:
        """Submits an engine job already made (an upscale, say); returns its record."""
        job = self.queue.add(kind, params)
        # said before the engine has it: the receivers' GUI work is done before the engine
        # thread starts and competes for the GIL (it cost Live's first estimate ~25 ms after)
        self.submitted.emit(job)
        engine_id = self.engine.submit(params)  # looked up now: tests may wrap it
        self._by_engine_id[engine_id] = job
        self._engine_ids[job.id] = engine_id
        return job

    def cancel(self, jobs: Iterable[JobRecord] | None = None) -> list[JobRecord]:
        """Cancels `jobs` (default: every job not done); returns those the engine cancelled.
        Their `cancelled(job)` signals have been sent when this returns."""
        chosen = [j for j in (self._pending() if jobs is None else jobs)
                  if not j.state.done and j.id in self._engine_ids]
        if jobs is None:
            self.live_timer.stop()  # a Live run due after the delay is cancelled with the rest
            self.engine.cancel()  # all of them, and any the engine had from elsewhere
        elif chosen:
            self.engine.cancel([self._engine_ids[j.id] for j in chosen])
        return [j for j in chosen if j.state is JobState.CANCELLED]

    def busy(self) -> bool:
        """A job of any kind is queued or running."""
        return self.queue.is_busy()

    def user_busy(self) -> bool:
        """A job the user asked for (not a Live run) is queued or running."""
        return any(j.kind is not JobKind.LIVE for j in self._pending())

    def queued(self) -> int:
        """How many jobs the user asked for wait behind the one running."""
        return sum(1 for j in self.queue.jobs(JobState.QUEUED) if j.kind is not JobKind.LIVE)

    def _pending(self) -> list[JobRecord]:
        return [j for j in self.queue.jobs() if not j.state.done]

    # --- live mode ------------------------------------------------------------------------------
    def is_live(self) -> bool:
        return self._live

    def set_live(self, on: bool) -> None:
        """Live on: a run shortly (the delay); off: no more runs, and a Live run in flight stops."""
        self._live = on
        if on:
            self.live_timer.start()
        else:
            self.live_timer.stop()
            self.cancel_live()

    def changed(self) -> None:
        """The drawing or a setting changed: the Live run in flight is stale (stopped at once),
        and one runs after the delay (restarted by each change)."""
        if self._live:
            self.cancel_live()
            self.live_timer.start()

    def stroke_ended(self) -> None:
        """A stroke let go: Live answers at once, not after the delay."""
        if self._live:
            self.live_timer.stop()
            self.run_live()

    def cancel_live(self) -> list[JobRecord]:
        """Cancels the Live jobs queued or running (never a job of another kind)."""
        return self.cancel([j for j in self._pending() if j.kind is JobKind.LIVE])

    def run_live(self) -> JobRecord | None:
        """One Live run of the settings shown (their seed, not a new random one)."""
        if not self._live:
            return None
        if self.user_busy():
            self.live_timer.start()  # the user's own run goes first; try again later
            return None
        self.cancel_live()
        try:
            return self.run(self._live_settings() | LIVE_OVERRIDES, JobKind.LIVE)
        except EngineError as error:
            self.liveRefused.emit(str(error))
            return None

    def keep_live(self) -> JobRecord | None:
        """The newest finished Live job, once: a second call returns None."""
        job, self.live_result = self.live_result, None
        return job

    # --- engine signals -> the job's record ----------------------------------------------------
    def _job(self, engine_id: int) -> JobRecord | None:
        job = self._by_engine_id.get(engine_id)
        return job if job is not None and not job.state.done else None

    def _start(self, job: JobRecord) -> None:
        if job.state is JobState.QUEUED:  # one runs at a time: those before it have ended
            self.queue.start(job)
            self.started.emit(job)

    def _forget(self, job: JobRecord) -> None:
        engine_id = self._engine_ids.pop(job.id, None)
        self._by_engine_id.pop(engine_id, None)
        self.queue.forget_done()

    def _on_started(self, engine_id: int) -> None:
        job = self._job(engine_id)
        if job is not None:
            self._start(job)

    def _on_progress(self, engine_id: int, step: int, total: int, eta: float) -> None:
        job = self._job(engine_id)
        if job is not None:
            self._start(job)
            self.progress.emit(job, step, total, eta)

    def _on_preview(self, engine_id: int, image: object, step: int, total: int) -> None:
        job = self._job(engine_id)
        if job is not None:
            self._start(job)
            self.preview.emit(job, image, step, total)

    def _on_finished(self, engine_id: int, images: list, parameters: dict,
                     frames: list) -> None:
        job = self._job(engine_id)
        if job is None:
            return
        self._start(job)
        self.queue.finish(job, RunOutput(list(images), dict(parameters), list(frames)))
        self._forget(job)
        if job.kind is JobKind.LIVE:
            self.live_result = job
        self.finished.emit(job)
        self._routes[job.kind].emit(job)

    def _on_failed(self, engine_id: int, message: str) -> None:
        job = self._job(engine_id)
        if job is None:
            return
        self._start(job)  # a job can fail before its first step (no model loaded)
        self.queue.fail(job, message)
        self._forget(job)
        self.failed.emit(job, message)

    def _on_cancelled(self, engine_ids: list) -> None:
        for engine_id in engine_ids:
            job = self._job(engine_id)
            if job is not None:
                self.queue.cancel(job)
                self._forget(job)
                self.cancelled.emit(job)
