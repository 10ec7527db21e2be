"""Jobs with a kind and a state, in a queue whose signals carry the job itself.

A receiver never asks the engine thread which job it is on: `finished(job)` says. Not yet wired
into the window (issue 13's runner will drive it); QtCore only.

    queue = JobQueue()
    job = queue.add(JobKind.LIVE, params)        # queued; emits added(job)
    queue.start(job)                             # running; emits started(job)
    queue.finish(job, result)                    # finished; emits finished(job)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum
from typing import Any

from PySide6.QtCore import QObject, Signal


class JobKind(Enum):
    USER = "user"  # Run
    LIVE = "live"  # re-run as the user draws: a newer one makes the queued ones stale
    SWEEP = "sweep"  # one value of a sweep
    UPSCALE = "upscale"  # the upscaler on a result


class JobState(Enum):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def done(self) -> bool:
        return self in (JobState.FINISHED, JobState.FAILED, JobState.CANCELLED)


# the only moves a job makes; a done job stays done
MOVES = {
    JobState.QUEUED: {JobState.RUNNING, JobState.CANCELLED},
    JobState.RUNNING: {JobState.FINISHED, JobState.FAILED, JobState.CANCELLED},
}


@dataclass(eq=False)  # a job is itself: two with the same settings are two jobs
class JobRecord:
    """One job: `params` are its settings (an app.jobs.Job, or anything the runner makes);
    `result` is what it made, `error` why it failed."""

    id: int
    kind: JobKind
    params: Any
    state: JobState = JobState.QUEUED
    result: Any = None
    error: str = ""
    started_at: float | None = None  # time.monotonic() when it began to run


def done_text(job: JobRecord) -> str:
    """'Done in 3.2 s': the time from the job's own start (not the click that queued it)."""
    took = time.monotonic() - (job.started_at or time.monotonic())
    return f"{'Live: done' if job.kind is JobKind.LIVE else 'Done'} in {took:.1f} s"


class JobQueue(QObject):
    """The jobs in the order they were added; each move emits the job."""

    added = Signal(object)
    started = Signal(object)
    finished = Signal(object)
    failed = Signal(object)
    cancelled = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._jobs: list[JobRecord] = []
        self._last_id = 0

    def add(self, kind: JobKind | str, params: Any) -> JobRecord:
        self._last_id += 1
        job = JobRecord(self._last_id, JobKind(kind), params)
        self._jobs.append(job)
        self.added.emit(job)
        return job

    def jobs(self, state: JobState | None = None, kind: JobKind | None = None
             ) -> list[JobRecord]:
        return [j for j in self._jobs
                if (state is None or j.state is state) and (kind is None or j.kind is kind)]

    def find(self, job_id: int) -> JobRecord | None:
        return next((j for j in self._jobs if j.id == job_id), None)

    def next_queued(self) -> JobRecord | None:
        """The job to start next: the oldest queued one."""
        return next((j for j in self._jobs if j.state is JobState.QUEUED), None)

    def running(self) -> JobRecord | None:
        return next((j for j in self._jobs if j.state is JobState.RUNNING), None)

    def is_busy(self) -> bool:
        return any(not j.state.done for j in self._jobs)

    def start(self, job: JobRecord) -> None:
        """Queued to running; one job runs at a time (the engine runs one)."""
        current = self.running()
        if current is not None and current is not job:
            raise ValueError(f"job {current.id} is still running")
        job.started_at = time.monotonic()
        self._move(job, JobState.RUNNING, self.started)

    def finish(self, job: JobRecord, result: Any = None) -> None:
        job.result = result
        self._move(job, JobState.FINISHED, self.finished)

    def fail(self, job: JobRecord, error: str) -> None:
        job.error = error
        self._move(job, JobState.FAILED, self.failed)

    def cancel(self, job: JobRecord) -> None:
        """A queued job never runs; a running one is marked cancelled (the engine is asked to
        stop by whoever runs it). A done job is left as it is."""
        if not job.state.done:
            self._move(job, JobState.CANCELLED, self.cancelled)

    def cancel_queued(self, kind: JobKind | None = None) -> list[JobRecord]:
        """Cancels the queued jobs (of `kind`): stale live runs, the rest of a sweep."""
        stale = self.jobs(JobState.QUEUED, kind)
        for job in stale:
            self.cancel(job)
        return stale

    def forget_done(self) -> int:
        """Drops the done jobs; returns how many."""
        before = len(self._jobs)
        self._jobs = [j for j in self._jobs if not j.state.done]
        return before - len(self._jobs)

    def _move(self, job: JobRecord, state: JobState, signal: Any) -> None:
        if job not in self._jobs:
            raise ValueError(f"job {job.id} is not in this queue")
        if state not in MOVES.get(job.state, set()):
            raise ValueError(f"job {job.id} is {job.state.value}: it cannot become {state.value}")
        job.state = state
        signal.emit(job)
