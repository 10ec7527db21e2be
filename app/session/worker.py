"""One worker pattern for every thread of the app but the engine's (issue 13). QtCore only.

A `Worker` owns one QThread and serves requests in turn; the thread runs while there is work
and ends when none is left (the next request starts it again), so an idle worker holds no
thread and its owner can go without a join. A request is a function and its arguments, run in
the thread:

- a generator function: each `yield` is a progress report (`yielded(serial, value)`) and the
  cancel point: a cancelled request's generator is closed there, so a cancel takes effect
  within one step; what it returns is the result (`finished(serial, result)`);
- a plain function whose loop is not its own (a training run's hooks): it calls
  `worker.report(value)`, which reports and raises `Cancelled` once the request is cancelled.

Every signal carries the request's serial first (the one `submit` returned), as the engine
thread's carry the job id. `cancel()` says `cancelled(serial)` at once, and nothing else of a
cancelled request arrives after it returns (the GUI side drops what was still in flight);
`ended(serial)` says, whatever the outcome, that the thread has left the work of a request it
began (a cancelled one included), for those that must wait for it (a resume after a stop).

"Newest request only": a request submitted with a `key` replaces the one of the same key still
waiting (that one is `dropped`), so a dragged slider never builds a queue. `quit()` cancels
everything and ends the thread after the current step; `join(timeout_s)` quits and waits.

    worker = Worker("explorer")
    worker.finished.connect(lambda serial, result: show(result))
    worker.submit(columns_at, t, key="columns")
"""

from __future__ import annotations

import sys
import threading
import traceback
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal

from engine.errors import EngineError


class Cancelled(Exception):  # noqa: N818 - a request, not an error
    """Raised in a request's work when it has been cancelled (by `Worker.report`, or by a
    wait that gave up for it); the worker ends the request quietly."""


@dataclass
class _Request:
    serial: int
    function: Callable[..., Any]
    args: tuple[Any, ...]
    key: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event)


class _Thread(QThread):
    def __init__(self, serve: Callable[[], None], name: str) -> None:
        super().__init__()
        self.setObjectName(name)
        self._serve = serve

    def run(self) -> None:
        self._serve()


def plain_message(error: BaseException) -> str:
    """The default one line for a failure: the error's text (its type where it has none)."""
    return str(error) or type(error).__name__


class Worker(QObject):
    """A QThread that runs requests (generator or plain functions) one at a time."""

    started = Signal(int)  # serial: its work begins
    yielded = Signal(int, object)  # serial, a progress report
    finished = Signal(int, object)  # serial, the result (the generator's return value)
    failed = Signal(int, str)  # serial, one line for the user
    cancelled = Signal(int)  # serial: at once from cancel(), or when the work gave up
    dropped = Signal(int)  # serial: replaced by a newer request of its key before it began
    ended = Signal(int)  # serial: the thread has left its work, whatever the outcome

    # the thread's side: relayed to the public signals by the GUI side, which filters them
    _started = Signal(int)
    _yielded = Signal(int, object)
    _finished = Signal(int, object)
    _failed = Signal(int, str)
    _cancelled = Signal(int)
    _ended = Signal(int)

    def __init__(self, name: str = "worker",
                 describe: Callable[[BaseException], str] = plain_message,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._describe = describe
        self._lock = threading.Lock()
        self._queue: list[_Request] = []
        self._current: _Request | None = None
        self._serving = False  # the thread is in its loop (or about to be): under _lock
        self._quit = False
        self._serial = 0
        self._live: set[int] = set()  # GUI side: submitted, neither done nor cancelled
        self._thread = _Thread(self._serve, name)
        self._started.connect(self._relay_started)
        self._yielded.connect(self._relay_yielded)
        self._finished.connect(self._relay_finished)
        self._failed.connect(self._relay_failed)
        self._cancelled.connect(self._relay_cancelled)
        self._ended.connect(self.ended)

    # --- the GUI side -----------------------------------------------------------------------
    def submit(self, function: Callable[..., Any], *args: Any, key: str | None = None) -> int:
        """Queues `function(*args)`; with `key`, it replaces the request of that key still
        waiting. Returns its serial. The thread starts with the first request."""
        dropped: list[int] = []
        with self._lock:
            if self._quit:
                raise RuntimeError(f"the {self.name} worker has quit")
            self._serial += 1
            serial = self._serial
            if key is not None:
                dropped = [r.serial for r in self._queue if r.key == key]
                self._queue = [r for r in self._queue if r.key != key]
            self._queue.append(_Request(serial, function, args, key))
            self._live.add(serial)
            start, self._serving = not self._serving, True
        if start:
            self._thread.wait()  # a thread that has just left its loop ends first
            self._thread.start()
        for old in dropped:
            self._live.discard(old)
            self.dropped.emit(old)
        return serial

    def cancel(self, serial: int | None = None) -> list[int]:
        """Cancels `serial` (default: the running request and every waiting one); a running
        one stops at its next yield or report. Returns the serials cancelled, each of which
        has had its `cancelled` signal when this returns."""
        with self._lock:
            requests = [r for r in [self._current, *self._queue] if r is not None]
            if serial is not None:
                requests = [r for r in requests if r.serial == serial]
            for request in requests:
                request.cancel.set()
            self._queue = [r for r in self._queue if not r.cancel.is_set()]
        ids = sorted(r.serial for r in requests if r.serial in self._live)
        for cancelled in ids:
            self._live.discard(cancelled)
            self.cancelled.emit(cancelled)
        return ids

    def quit(self) -> None:
        """Cancels everything and ends the thread once the current request has stopped."""
        self.cancel()
        with self._lock:
            self._quit = True

    def join(self, timeout_s: float = 10.0) -> bool:
        """Quits and waits for the thread; True once it has ended (or never started)."""
        self.quit()
        if not self._thread.isRunning():
            return True
        return self._thread.wait(max(0, int(timeout_s * 1000)))

    def busy(self) -> bool:
        """A request is waiting or running in the thread (a cancelled one until it stops)."""
        with self._lock:
            return self._current is not None or bool(self._queue)

    def is_running(self) -> bool:
        """The thread is alive (only while there is work)."""
        return self._thread.isRunning()

    # --- inside the work (the worker's thread) ----------------------------------------------
    def cancel_requested(self) -> bool:
        """The request now running has been cancelled (or the worker is quitting)."""
        request = self._current
        return request is None or request.cancel.is_set()

    def report(self, value: Any) -> None:
        """From a plain function's work: says `value` as a progress report, and raises
        `Cancelled` if the request has been cancelled (the cancel point)."""
        request = self._current
        if request is None or request.cancel.is_set():
            raise Cancelled
        self._yielded.emit(request.serial, value)

    # --- the thread -------------------------------------------------------------------------
    def _serve(self) -> None:
        while True:
            with self._lock:
                if self._quit or not self._queue:
                    self._queue.clear()
                    self._serving = False
                    return
                self._current = self._queue.pop(0)
            request = self._current
            try:
                self._work(request)
            finally:
                with self._lock:
                    self._current = None
                self._ended.emit(request.serial)

    def _work(self, request: _Request) -> None:
        serial = request.serial
        if request.cancel.is_set():
            return  # cancelled while waiting
        self._started.emit(serial)
        try:
            result = request.function(*request.args)
            if isinstance(result, Generator):
                result = self._drive(result, request)
        except Cancelled:
            self._cancelled.emit(serial)
        except Exception as error:  # noqa: BLE001 - the thread must keep serving
            if not isinstance(error, EngineError):
                traceback.print_exception(type(error), error, error.__traceback__,
                                          file=sys.stderr)
            self._failed.emit(serial, self._describe(error))
        else:
            if request.cancel.is_set():
                self._cancelled.emit(serial)
            else:
                self._finished.emit(serial, result)

    def _drive(self, generator: Generator[Any, None, Any], request: _Request) -> Any:
        """Runs a generator to its end: each yield is reported, then the cancel point."""
        try:
            while True:
                if request.cancel.is_set():
                    raise Cancelled
                try:
                    value = next(generator)
                except StopIteration as stop:
                    return stop.value
                self._yielded.emit(request.serial, value)
        finally:
            generator.close()  # at once, cancelled or not (runs its finally blocks here)

    # --- relays: nothing of a cancelled request gets through ---------------------------------
    def _relay_started(self, serial: int) -> None:
        if serial in self._live:
            self.started.emit(serial)

    def _relay_yielded(self, serial: int, value: Any) -> None:
        if serial in self._live:
            self.yielded.emit(serial, value)

    def _relay_finished(self, serial: int, result: Any) -> None:
        if serial in self._live:
            self._live.discard(serial)
            self.finished.emit(serial, result)

    def _relay_failed(self, serial: int, message: str) -> None:
        if serial in self._live:
            self._live.discard(serial)
            self.failed.emit(serial, message)

    def _relay_cancelled(self, serial: int) -> None:
        if serial in self._live:
            self._live.discard(serial)
            self.cancelled.emit(serial)
