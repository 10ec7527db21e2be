"""The runner (app/session/runner.py) against a fake engine: routing by kind, cancel, failure,
Live's debounce and cancel-stale, and a sweep's results in order. No engine thread: each test
takes milliseconds."""

from __future__ import annotations

import time
from typing import Any

import pytest

from app.session.jobs import JobKind, JobState
from app.session.runner import LIVE_OVERRIDES, Runner
from engine.errors import EngineError
from tests.session_fakes import FakeEngine


class TextEngine(FakeEngine):
    """The session's fake engine with jobs as dicts and text for images, so that each preview
    and result names its job."""

    def preview_of(self, engine_id: int, step: int) -> str:
        return f"x0 of {engine_id} at {step}"

    def result_of(self, job: Any, count: int) -> tuple[list, dict, list]:
        return [f"image of {job['seed']}"], dict(job), [["frame"]]


@pytest.fixture
def engine(qapp) -> TextEngine:  # the timers need the application
    return TextEngine(first_id=100)


def make_job(settings: dict[str, Any]) -> dict[str, Any]:
    if settings.get("mode") == "inpaint":
        raise EngineError("the mask is empty")
    return dict(settings)


SHOWN = {"mode": "sdedit", "seed": 31, "count": 4, "upscale": True}


@pytest.fixture
def runner(engine: TextEngine) -> Runner:
    return Runner(engine, make_job, lambda: dict(SHOWN))


def record(runner: Runner) -> list[tuple[str, int]]:
    seen: list[tuple[str, int]] = []
    for name in ("userDone", "liveDone", "sweepDone", "upscaleDone", "cancelled", "submitted",
                 "started"):
        getattr(runner, name).connect(lambda job, name=name: seen.append((name, job.id)))
    runner.failed.connect(lambda job, message: seen.append(("failed", job.id)))
    return seen


def test_each_kind_of_result_goes_to_its_own_place(runner, engine):
    seen = record(runner)
    jobs = [runner.run({"seed": 1}), runner.run({"seed": 2}, JobKind.LIVE),
            runner.run({"seed": 3}, JobKind.SWEEP), runner.submit({"seed": 4}, JobKind.UPSCALE)]
    assert [j.state for j in jobs] == [JobState.QUEUED] * 4 and runner.busy()
    for _ in jobs:
        engine.step()
        engine.finish()
    done = [s for s in seen if s[0].endswith("Done")]
    assert done == [("userDone", jobs[0].id), ("liveDone", jobs[1].id),
                    ("sweepDone", jobs[2].id), ("upscaleDone", jobs[3].id)]
    assert [j.state for j in jobs] == [JobState.FINISHED] * 4 and not runner.busy()
    assert jobs[2].result.images == ["image of 3"] and jobs[2].result.parameters["seed"] == 3
    assert jobs[2].result.frames == [["frame"]]
    assert runner.live_result is jobs[1]


def test_signals_carry_the_job_not_the_engines_id(runner, engine):
    previews, progress = [], []
    runner.preview.connect(lambda job, image, step, total: previews.append((job, image, step)))
    runner.progress.connect(lambda job, step, total, eta: progress.append((job, step, total)))
    a, b = runner.run({"seed": 1}), runner.run({"seed": 2})
    first = engine.step(1, 2)
    assert a.state is JobState.RUNNING and b.state is JobState.QUEUED
    engine.step(2, 2)
    engine.finish()
    engine.step(1, 2)
    assert [(j, step) for j, _, step in previews] == [(a, 1), (a, 2), (b, 1)]
    assert previews[0][1] == f"x0 of {first} at 1"
    assert progress[-1] == (b, 1, 2)


def test_a_job_that_cannot_be_made_is_never_submitted(runner, engine):
    with pytest.raises(EngineError, match="mask is empty"):
        runner.run({"mode": "inpaint"})
    assert engine.jobs == {} and not runner.busy()


def test_a_failed_job_says_why_and_the_next_one_runs(runner, engine):
    seen = record(runner)
    messages = []
    runner.failed.connect(lambda job, message: messages.append((job, message)))
    bad, good = runner.run({"seed": 1}), runner.run({"seed": 2})
    engine.fail("no model is loaded")  # before its first step, as the engine thread does
    assert bad.state is JobState.FAILED and bad.error == "no model is loaded"
    assert messages == [(bad, "no model is loaded")]
    engine.step()
    engine.finish()
    assert good.state is JobState.FINISHED and ("userDone", good.id) in seen
    assert ("userDone", bad.id) not in seen


def test_cancel_stops_every_job_and_nothing_of_them_arrives_later(runner, engine):
    seen = record(runner)
    a, b = runner.run({"seed": 1}), runner.run({"seed": 2}, JobKind.SWEEP)
    engine.step()
    late = engine.pending[0]
    assert runner.cancel() == [a, b]
    assert [a.state, b.state] == [JobState.CANCELLED] * 2 and not runner.busy()
    assert [s for s in seen if s[0] == "cancelled"] == [("cancelled", a.id), ("cancelled", b.id)]
    engine.finished.emit(late, ["late"], {"seed": 1}, [])  # a result that was in flight
    assert a.result is None and not [s for s in seen if s[0].endswith("Done")]


def test_cancelling_some_jobs_leaves_the_others(runner, engine):
    a, b, c = (runner.run({"seed": s}, JobKind.SWEEP) for s in (1, 2, 3))
    assert runner.cancel([b]) == [b]
    assert engine.cancel_calls == [[101]]
    assert [a.state, b.state, c.state] == [JobState.QUEUED, JobState.CANCELLED, JobState.QUEUED]
    assert runner.cancel([b]) == [] and engine.cancel_calls == [[101]], "done jobs are left"


def test_a_sweep_of_three_gets_its_results_in_order(runner, engine):
    got: list[tuple[int, str]] = []
    jobs = [runner.run({"seed": s}, JobKind.SWEEP) for s in (7, 8, 9)]
    runner.sweepDone.connect(lambda job: got.append((jobs.index(job), job.result.images[0])))
    for _ in jobs:
        engine.step()
        engine.finish()
    assert got == [(0, "image of 7"), (1, "image of 8"), (2, "image of 9")]


def test_live_runs_the_settings_shown_as_one_image_with_x0_previews(runner, engine):
    runner.set_live(True)
    runner.live_timer.stop()
    job = runner.run_live()
    assert job is not None and job.kind is JobKind.LIVE
    assert job.params == SHOWN | LIVE_OVERRIDES
    assert job.params["count"] == 1 and job.params["preview_kind"] == "x0"
    assert job.params["preview_every"] == 1 and job.params["seed"] == 31


def test_a_newer_live_run_cancels_the_older_live_ones_never_a_user_job(runner, engine):
    runner.set_live(True)
    old = runner.run_live()
    engine.step()  # running
    newer = runner.run_live()
    assert old.state is JobState.CANCELLED and newer.state is JobState.QUEUED
    user = runner.run({"seed": 5})
    runner.cancel_live()
    assert newer.state is JobState.CANCELLED and user.state is JobState.QUEUED
    assert engine.pending == [engine.pending[0]] and engine.jobs[engine.pending[0]]["seed"] == 5


def test_live_waits_for_the_users_run(runner, engine):
    runner.set_live(True)
    user = runner.run({"seed": 5})
    assert runner.run_live() is None and runner.live_timer.isActive(), "tried again later"
    runner.changed()  # a change while the user's run is on never cancels it
    assert user.state is JobState.QUEUED and len(engine.jobs) == 1


def test_live_debounces_a_burst_of_changes_into_one_run(qtbot, runner, engine):
    runner.live_timer.setInterval(30)
    runner.set_live(True)
    qtbot.waitUntil(lambda: len(engine.jobs) == 1, timeout=1000)  # turning it on runs once
    engine.step()
    first = runner.queue.running()
    start = time.monotonic()
    for _ in range(5):
        runner.changed()
        qtbot.wait(5)
    assert first.state is JobState.CANCELLED, "the first change made the run in flight stale"
    assert len(engine.jobs) == 1, "nothing runs while the changes keep coming"
    qtbot.waitUntil(lambda: len(engine.jobs) == 2, timeout=1000)
    assert time.monotonic() - start >= 0.03 + 4 * 0.005
    qtbot.wait(60)
    assert len(engine.jobs) == 2, "one run for the burst"


def test_a_stroke_end_runs_at_once_and_live_off_stops_everything(runner, engine):
    runner.stroke_ended()
    assert engine.jobs == {}, "Live is off"
    runner.set_live(True)
    runner.changed()
    assert runner.live_timer.isActive()
    runner.stroke_ended()
    assert not runner.live_timer.isActive() and len(engine.jobs) == 1
    job = runner.queue.jobs()[0]
    runner.set_live(False)
    assert job.state is JobState.CANCELLED and not runner.live_timer.isActive()
    assert runner.run_live() is None


def test_a_live_run_that_cannot_be_made_is_said_not_raised(engine):
    said = []
    runner = Runner(engine, make_job, lambda: {"mode": "inpaint"})
    runner.liveRefused.connect(said.append)
    runner.set_live(True)
    assert runner.run_live() is None and said == ["the mask is empty"]


def test_a_live_result_is_kept_once(runner, engine):
    runner.set_live(True)
    job = runner.run_live()
    engine.step()
    engine.finish()
    assert runner.keep_live() is job and runner.keep_live() is None


class SweepSession:
    """What a Sweep needs of the session: the run settings, the runner and run_job."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.settings = self
        self.refused: set[float] = set()

    def job_fields(self, draw: bool = True) -> dict[str, Any]:
        return {"mode": "sdedit", "seed": 31, "i_start": 10, "guidance": 1.0, "count": 4}

    def run_job(self, settings: dict[str, Any], kind: JobKind):
        if settings.get("seed") in self.refused:
            return None  # the session says why
        return self.runner.run(settings, kind)


def sweep_of(runner: Runner, kind: str, values: list[float]):
    from app.sweeps import Sweep

    sweep = Sweep(SweepSession(runner), kind, values)
    events: list[tuple] = []
    sweep.itemDone.connect(lambda i: events.append(("item", i, sweep.items[i].image)))
    sweep.done.connect(lambda: events.append(("done",)))
    sweep.stopped.connect(lambda: events.append(("stopped",)))
    return sweep, events


def test_a_sweep_of_three_fills_its_items_in_order(runner, engine):
    sweep, events = sweep_of(runner, "seed", [7, 8, 9])
    assert sweep.start()
    assert [engine.jobs[i]["seed"] for i in engine.pending] == [7, 8, 9]
    assert all(engine.jobs[i]["count"] == 1 for i in engine.pending)
    other = runner.run({"seed": 50})  # the user's own run, queued after the sweep
    for _ in range(4):
        engine.step()
        engine.finish()
    assert events == [("item", 0, "image of 7"), ("item", 1, "image of 8"),
                      ("item", 2, "image of 9"), ("done",)]
    assert other.state is JobState.FINISHED and not sweep.active


def test_cancelling_a_sweep_cancels_its_jobs_only(runner, engine):
    user = runner.run({"seed": 50})
    sweep, events = sweep_of(runner, "guidance", [1.0, 3.0])
    sweep.start()
    sweep.cancel()
    assert events == [("stopped",)] and not sweep.active
    assert [i.job.state for i in sweep.items] == [JobState.CANCELLED] * 2
    assert user.state is JobState.QUEUED


def test_a_sweep_stops_when_one_of_its_jobs_fails_not_when_another_does(runner, engine):
    stranger = runner.run({"seed": 50})  # runs first
    sweep, events = sweep_of(runner, "seed", [7, 8])
    sweep.start()
    engine.fail("out of memory")
    assert stranger.state is JobState.FAILED and sweep.active and events == []
    engine.step()
    engine.fail("out of memory")
    assert events == [("stopped",)] and not sweep.active


def test_a_sweep_that_cannot_make_a_job_cancels_the_ones_it_made(runner, engine):
    sweep, _ = sweep_of(runner, "seed", [7, 8, 9])
    sweep.session.refused = {9}
    assert not sweep.start()
    assert [i.job.state for i in sweep.items[:2]] == [JobState.CANCELLED] * 2
    assert sweep.items[2].job is None and engine.pending == []


def test_cancelling_everything_also_stops_a_pending_live_run(qtbot, runner, engine):
    runner.live_timer.setInterval(30)
    runner.set_live(True)
    qtbot.waitUntil(lambda: len(engine.jobs) == 1, timeout=1000)
    runner.changed()  # a stroke or a setting: a Live run is due after the delay
    assert runner.live_timer.isActive()
    runner.cancel()  # the user's Cancel / Esc
    qtbot.wait(90)
    assert len(engine.jobs) == 1, "no Live run starts after the user cancelled"
    assert not runner.busy()
    runner.changed()  # Live is still on: the next change runs again
    qtbot.waitUntil(lambda: len(engine.jobs) == 2, timeout=1000)
