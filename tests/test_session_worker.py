"""The worker pattern (app/session/worker.py): a generator's yields are its reports and cancel
points, a plain function reports through `report`, failures are one message, newest-only drops
stale requests, and join never leaves a running thread. Each test takes milliseconds."""

from __future__ import annotations

import threading
import time

import pytest

from app.session.worker import Cancelled, Worker

WAIT_MS = 2000


class Seen:
    """Every public signal of a worker, in the order they arrived (in the GUI thread)."""

    def __init__(self, worker: Worker) -> None:
        self.events: list[tuple] = []
        for name in ("started", "yielded", "finished", "failed", "cancelled", "dropped",
                     "ended"):
            getattr(worker, name).connect(
                lambda *args, name=name: self.events.append((name, *args)))

    def of(self, serial: int) -> list[tuple]:
        return [e for e in self.events if e[1] == serial]

    def names(self, serial: int) -> list[str]:
        return [e[0] for e in self.of(serial)]


@pytest.fixture
def worker():
    w = Worker("test")
    yield w
    assert w.join(2.0)


def three(gate: threading.Event | None = None):
    for i in range(3):
        if gate is not None:
            assert gate.wait(2.0)
            gate.clear()
        yield i
    return "done"


def test_a_generator_yields_three_times_then_finishes_with_its_value(qtbot, worker):
    seen = Seen(worker)
    serial = worker.submit(three)
    qtbot.waitUntil(lambda: "ended" in seen.names(serial), timeout=WAIT_MS)
    assert seen.of(serial) == [("started", serial), ("yielded", serial, 0),
                               ("yielded", serial, 1), ("yielded", serial, 2),
                               ("finished", serial, "done"), ("ended", serial)]
    assert not worker.busy()


def test_cancel_between_yields_stops_the_generator_there(qtbot, worker):
    seen, gate, closed = Seen(worker), threading.Event(), threading.Event()

    def steps():
        try:
            yield from three(gate)
        finally:
            closed.set()

    serial = worker.submit(steps)
    gate.set()
    qtbot.waitUntil(lambda: ("yielded", serial, 0) in seen.events, timeout=WAIT_MS)
    assert worker.cancel() == [serial]
    assert seen.names(serial)[-1] == "cancelled", "said at once, from cancel()"
    gate.set()  # the generator may take the next step; it is closed at that yield
    qtbot.waitUntil(lambda: "ended" in seen.names(serial), timeout=WAIT_MS)
    assert closed.is_set(), "the generator was closed (its finally ran)"
    names = seen.names(serial)
    assert "finished" not in names and names.count("cancelled") == 1
    after = names[names.index("cancelled") + 1:]
    assert after == ["ended"], "nothing of a cancelled request arrives after cancel()"


def test_a_failure_is_one_message_and_the_worker_keeps_serving(qtbot, capsys):
    worker = Worker("test", describe=lambda e: f"bad: {e}")

    def broken():
        yield 1
        raise RuntimeError("no such thing")

    seen = Seen(worker)
    first = worker.submit(broken)
    second = worker.submit(three)
    qtbot.waitUntil(lambda: "ended" in seen.names(second), timeout=WAIT_MS)
    assert ("failed", first, "bad: no such thing") in seen.events
    assert "finished" not in seen.names(first)
    assert ("finished", second, "done") in seen.events, "the next request still runs"
    assert "RuntimeError" in capsys.readouterr().err, "an unexpected error keeps its traceback"
    assert worker.join(2.0)


def test_a_plain_function_reports_and_is_cancelled_at_its_report(qtbot, worker):
    seen, gate = Seen(worker), threading.Event()
    reached: list[int] = []

    def hooks():  # as a training run's step hook calls back
        for step in range(100):
            worker.report(step)
            reached.append(step)
            if step == 1:
                assert gate.wait(2.0)
        return "never"

    serial = worker.submit(hooks)
    qtbot.waitUntil(lambda: ("yielded", serial, 1) in seen.events, timeout=WAIT_MS)
    worker.cancel(serial)
    gate.set()
    qtbot.waitUntil(lambda: "ended" in seen.names(serial), timeout=WAIT_MS)
    assert reached == [0, 1], "report() raised Cancelled at the first step after the cancel"
    assert "finished" not in seen.names(serial)


def test_newest_only_drops_the_stale_requests_of_its_key(qtbot, worker):
    seen, gate = Seen(worker), threading.Event()
    ran: list[str] = []

    def job(name: str, wait: bool = False):
        if wait:
            assert gate.wait(2.0)
        ran.append(name)
        return name

    busy = worker.submit(job, "busy", True)
    qtbot.waitUntil(lambda: "started" in seen.names(busy), timeout=WAIT_MS)
    stale = [worker.submit(job, f"t={t}", key="columns") for t in (10, 20, 30)]
    other = worker.submit(job, "figure", key="figure")
    newest = worker.submit(job, "t=40", key="columns")
    gate.set()
    qtbot.waitUntil(lambda: "ended" in seen.names(newest), timeout=WAIT_MS)
    assert ran == ["busy", "figure", "t=40"], "the running one ends; only the newest waits"
    assert all(seen.names(s) == ["dropped"] for s in stale)
    assert ("finished", other, "figure") in seen.events, "another key is not replaced"


def test_join_never_leaves_a_running_thread(qtbot):
    worker = Worker("endless")
    steps = []

    def endless():
        while True:
            time.sleep(0.002)
            steps.append(1)
            yield len(steps)

    worker.submit(endless)
    qtbot.waitUntil(lambda: len(steps) > 3, timeout=WAIT_MS)
    started = time.monotonic()
    assert worker.join(2.0)
    assert not worker.is_running() and not worker.busy()
    assert time.monotonic() - started < 0.5, "it stopped at the next yield"
    with pytest.raises(RuntimeError, match="quit"):
        worker.submit(endless)


def test_join_of_a_worker_that_never_ran_and_a_cancel_while_waiting(qtbot):
    idle = Worker("idle")
    assert idle.join(0.1) and not idle.is_running()
    worker = Worker("queue")
    seen, gate = Seen(worker), threading.Event()
    first = worker.submit(lambda: gate.wait(2.0))
    waiting = worker.submit(three)
    assert worker.cancel(waiting) == [waiting]
    gate.set()
    qtbot.waitUntil(lambda: "ended" in seen.names(first), timeout=WAIT_MS)
    assert worker.join(2.0)
    assert seen.names(waiting) == ["cancelled"], "a waiting request never starts"


def test_an_idle_worker_holds_no_thread_and_the_next_request_starts_one(qtbot, worker):
    seen = Seen(worker)
    first = worker.submit(three)
    qtbot.waitUntil(lambda: "ended" in seen.names(first) and not worker.is_running(),
                    timeout=WAIT_MS)
    second = worker.submit(three)
    qtbot.waitUntil(lambda: "ended" in seen.names(second), timeout=WAIT_MS)
    assert ("finished", second, "done") in seen.events


def test_cancelled_raised_by_the_work_itself_ends_it_quietly(qtbot, worker):
    seen = Seen(worker)

    def gives_up():
        yield 0
        raise Cancelled

    serial = worker.submit(gives_up)
    qtbot.waitUntil(lambda: "ended" in seen.names(serial), timeout=WAIT_MS)
    assert seen.names(serial) == ["started", "yielded", "cancelled", "ended"]
