"""The engine lends its model (app/engine_thread.py: ModelLease, EngineThread.lend_model): one
thread at a time uses it, a run asked for during a borrower's work starts at the borrower's next
step and is never interleaved with it, and a waiting borrower can give up."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from app.engine_thread import EngineThread, ModelLease
from app.jobs import Job
from app.session.worker import Cancelled, Worker

RUN_TIMEOUT = 30_000


class Recorder:
    """Wraps a model's predict: who called it, in order, and how many threads were inside at
    once (never more than one, if the lease works)."""

    def __init__(self, model, seconds: float = 0.01) -> None:
        self.calls: list[str] = []
        self.inside = 0
        self.most_inside = 0
        self._lock = threading.Lock()
        self._predict = model.predict
        self._seconds = seconds
        model.predict = self

    def __call__(self, *args, **kwargs):
        with self._lock:
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
            self.calls.append(threading.current_thread().name)
        try:
            time.sleep(self._seconds)  # widens the window two users would need to overlap
            return self._predict(*args, **kwargs)
        finally:
            with self._lock:
                self.inside -= 1


def steady_borrower(lease: ModelLease, name: str, order: list[str]) -> threading.Thread:
    """A thread that borrows the model three times, each time saying `name i` in `order` and
    holding it 50 ms; returned once it holds the model the first time."""
    lent = threading.Event()

    def borrow() -> None:
        for i in range(3):
            with lease.lend():
                order.append(f"{name} {i}")
                lent.set()
                time.sleep(0.05)  # the other side asks meanwhile

    thread = threading.Thread(target=borrow)
    thread.start()
    assert lent.wait(2.0)
    return thread


def test_a_waiting_engine_goes_first_and_a_borrower_can_give_up():
    lease, order = ModelLease(), []
    thread = steady_borrower(lease, "borrower", order)
    with lease.engine_turn():  # asked during the borrower's first step
        order.append("engine")
        assert lease.holder() == "engine"
        # a cancelled request stops waiting for the model
        with pytest.raises(Cancelled), lease.lend(stop=lambda: True):
            pass
    thread.join(2.0)
    assert order == ["borrower 0", "engine", "borrower 1", "borrower 2"]
    assert lease.holder() is None


def test_an_urgent_borrower_goes_before_a_steady_one():
    lease, order = ModelLease(), []
    # the iterative column: takes the model again after every step
    thread = steady_borrower(lease, "step", order)
    with lease.lend(urgent=True):  # the fast columns, asked during the first step
        order.append("fast")
    thread.join(2.0)
    assert order == ["step 0", "fast", "step 1", "step 2"]


def test_a_run_asked_for_during_a_borrowers_work_waits_for_its_step(qtbot, tiny_model):
    engine = EngineThread()
    borrower = Worker("explorer")
    try:
        with qtbot.waitSignal(engine.modelLoaded, timeout=RUN_TIMEOUT):
            engine.load_model(tiny_model, "cpu")
        with engine.lend_model() as model:
            recorder = Recorder(model)
            cond = model.encode(["1"])
        x = torch.zeros(1, 1, 28, 28)

        def explore():
            threading.current_thread().name = "explorer"
            for step in range(6):
                with engine.lend_model(borrower.cancel_requested) as lent:
                    lent.predict(x, torch.tensor([100]), cond)
                    lent.predict(x, torch.tensor([50]), cond)
                yield step

        serial = borrower.submit(explore)
        with qtbot.waitSignal(borrower.yielded, timeout=RUN_TIMEOUT):
            pass  # the borrower is at work
        with qtbot.waitSignals([engine.finished, borrower.ended], timeout=RUN_TIMEOUT,
                               check_params_cbs=[None, lambda s: s == serial]):
            engine.submit(Job(mode="sample", prompt="3", steps=4))
        assert recorder.most_inside == 1, "never two threads in the model at once"
        callers = recorder.calls
        runs = [i for i, who in enumerate(callers) if who != "explorer"]
        assert len(runs) >= 4, "the run's own calls went through the same model"
        assert runs == list(range(runs[0], runs[-1] + 1)), "the run is never interleaved"
        assert runs[0] % 2 == 0, "it began between two of the borrower's steps"
        assert callers.count("explorer") == 12 and runs[-1] < len(callers) - 1, \
            "the borrower's later steps waited for the run (the engine goes first)"
    finally:
        assert borrower.join(5.0)
        assert engine.shutdown()
