"""The threaded window's flows that tests/test_session.py leaves to the window, against the
session with a fake engine and asker (tests/session_fakes.py): Live never mid-stroke and on
every input, a model or device that fails to load and what comes back, leaving a sweep, a
truncated project, and results alone being autosaved. No engine thread; milliseconds each."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor

from app.session.jobs import JobKind, JobState
from app.sweeps import SweepDialog
from tests.session_fakes import cut_member, draw, make_session, model_state, pixels

WAIT_MS = 5_000  # a 1 ms timer, on a shared machine


@pytest.fixture
def session(qapp, tmp_path):
    return make_session(tmp_path / "s")


def run(session, **settings) -> None:
    """A user's run of the run settings (with `settings`), finished by the fake engine."""
    assert session.run_job(session.settings.job_fields() | settings) is not None, session.said
    session.engine.finish()


def live_on(session) -> None:
    """Live in SDEdit with the seed shown kept, its first run (after the delay) not yet made."""
    session.settings.mode = "sdedit"
    session.settings.seed, session.settings.random_seed = 31, False
    session.set_live(True)
    session.runner.live_timer.stop()


# --- Live -----------------------------------------------------------------------------------------

def test_turning_live_on_runs_once_after_the_delay_with_the_seed_shown(qtbot, session):
    engine = session.engine
    session.settings.mode = "sdedit"
    session.settings.seed, session.settings.random_seed = 31, True
    session.runner.live_timer.setInterval(1)
    session.set_live(True)
    assert engine.jobs == {}, "not at once: after the delay"
    qtbot.waitUntil(lambda: len(engine.jobs) == 1, timeout=WAIT_MS)
    job = engine.jobs[engine.pending[0]]
    assert (job.mode, job.seed, job.count, job.preview_kind) == ("sdedit", 31, 1, "x0")
    assert session.settings.seed == 31, "Live draws no new seed"
    qtbot.wait(20)
    assert len(engine.jobs) == 1, "one run, not one per tick"


def test_a_stroke_stops_the_live_run_in_flight_and_runs_only_when_it_ends(session):
    engine = session.engine
    live_on(session)
    first = session.runner.run_live()
    engine.step()
    assert first.state is JobState.RUNNING
    doc = session.document
    doc.begin_stroke("brush", QPointF(140, 60), 30, 0.8, QColor(255, 255, 255))
    doc.stroke_to(QPointF(140, 220))  # the first dabs make the run in flight stale
    assert first.state is JobState.CANCELLED and engine.pending == []
    assert len(engine.jobs) == 1, "nothing is submitted while the stroke is held"
    doc.end_stroke()
    assert len(engine.pending) == 1 and len(engine.jobs) == 2, "the stroke's end runs at once"
    assert not session.runner.live_timer.isActive(), "and no second run after the delay"
    assert engine.jobs[engine.pending[0]].seed == 31
    engine.finish()
    assert session.shown_live and len(session.history) == 0


def test_four_strokes_make_four_runs_each_as_its_stroke_ends(session):
    engine = session.engine
    live_on(session)
    for x in (60, 120, 180, 240):
        held = len(engine.jobs)
        doc = session.document
        doc.begin_stroke("brush", QPointF(x, 40), 20, 0.8, QColor(255, 255, 255))
        doc.stroke_to(QPointF(x, 240))
        assert len(engine.jobs) == held, "never mid-stroke"
        doc.end_stroke()
        assert len(engine.jobs) == held + 1
    assert len(engine.pending) == 1, "each run made the one before it stale"
    assert [j.kind for j in session.jobs.jobs()] == [JobKind.LIVE]


@pytest.mark.parametrize("key, change, value", [
    ("prompt", lambda s: setattr(s, "prompt", "3"), "3"),
    ("i_start", lambda s: s.set_i_start(1), 1),
    ("guidance", lambda s: setattr(s, "guidance", 2.5), 2.5),
    ("seed", lambda s: setattr(s, "seed", 77), 77),
    ("steps", lambda s: setattr(s, "steps", 12), 12),
    ("steps", lambda s: setattr(s, "live_steps", 6), 6),  # Live's own steps
])
def test_live_runs_again_with_each_changed_input(qtbot, session, key, change, value):
    engine = session.engine
    if key != "steps" or value != 6:
        session.settings.live_steps = 0  # Live on Run's schedule: Run's i_start and steps
    live_on(session)
    first = session.runner.run_live()
    session.runner.live_timer.setInterval(1)
    change(session.settings)
    assert first.state is JobState.CANCELLED, f"a new {key} makes the run in flight stale"
    qtbot.waitUntil(lambda: len(engine.pending) == 1, timeout=WAIT_MS)
    assert getattr(engine.jobs[engine.pending[0]], key) == value, f"re-run with the new {key}"


def test_live_off_stops_the_run_in_flight_and_no_change_runs_again(qtbot, session):
    engine = session.engine
    live_on(session)
    running = session.runner.run_live()
    session.set_live(False)
    assert running.state is JobState.CANCELLED and engine.pending == []
    session.settings.prompt = "5"
    draw(session)
    qtbot.wait(20)
    assert len(engine.jobs) == 1 and not session.runner.live_timer.isActive()


# --- model reload with rollback -------------------------------------------------------------------

def test_another_model_that_fails_keeps_the_one_loaded_and_the_choice(session):
    engine, loaded = session.engine, session.model_state
    requests = []
    session.requestChanged.connect(requests.append)
    session.load_model("no-such-model")
    assert engine.loads[-1][0] == "no-such-model" and session.model_spec == "no-such-model"
    engine.fail_load("no model named no-such-model")
    assert session.said == [("Cannot load the model",
                             "no model named no-such-model. Kept mnist (cpu, fp32)")]
    assert session.model_state is loaded and session.model_spec == "mnist"
    assert [r.spec for r in requests] == ["no-such-model", "mnist"], "the menu follows back"
    assert session.preferences.model == "mnist", "the next launch opens the one that loaded"
    assert session.run_job() is not None, "and it still runs"


def test_a_device_that_fails_puts_the_last_good_one_back(session):
    engine = session.engine
    session.set_device("cuda")
    assert engine.loads[-1][:2] == ("mnist", "cuda") and session.preferences.device == "cuda"
    engine.fail_load("CUDA is not available")
    assert session.device == "cpu" == session.preferences.device
    assert session.said[-1][1] == "CUDA is not available. Kept mnist (cpu, fp32)"


def test_a_failed_load_while_another_is_on_the_way_waits_for_that_one(session):
    engine = session.engine
    session.load_model("no-such-model")
    session.load_model("mnist-time")
    engine.fail_load("no model named no-such-model")
    assert session.model_spec == "mnist-time", "the newer request is kept, not rolled back"
    engine.answer_load(model_state("mnist-time", prompts=("",), conditional=False))
    assert session.model_state.spec == "mnist-time" == session.preferences.model


# --- sweeps ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["close", "reject"])  # the close box, and Esc (reject)
def test_leaving_the_sweep_dialog_cancels_the_whole_sweep(qtbot, session, how):
    engine = session.engine
    user = session.run_job()  # the user's own run, queued first: it is not the sweep's
    dialog = SweepDialog(session)
    qtbot.addWidget(dialog)
    dialog.show()
    sweep = dialog.run_sweep("seed", [7, 8, 9])
    assert sweep is not None and sweep.active and len(engine.pending) == 4
    getattr(dialog, how)()
    assert not dialog.isVisible() and not sweep.active
    assert [i.job.state for i in sweep.items] == [JobState.CANCELLED] * 3
    assert engine.pending == [min(engine.jobs)] and user.state is JobState.QUEUED
    engine.finish()
    assert len(session.history) == 1, "only the user's run reaches the history"


# --- projects and autosave ------------------------------------------------------------------------

def test_a_truncated_project_or_a_missing_one_leaves_everything_untouched(session, tmp_path):
    run(session, prompt="1")
    draw(session)
    good = tmp_path / "good.dcproj"
    assert session.save_to(str(good))
    draw(session, x=60)
    before, title, undo = pixels(session), session.title, session.document.undo_stack.count()
    broken = tmp_path / "broken.dcproj"
    cut_member(good, broken, "image.png")  # the manifest survives, the image does not
    for bad in (broken, tmp_path / "missing.dcproj"):
        said = len(session.said)
        assert not session.open_path(str(bad))
        if bad is broken:  # offered to salvage, declined (the fake's answer): nothing said
            assert len(session.said) == said and bad.name in session.asker.asked[-1]
        else:
            assert len(session.said) == said + 1 and bad.name in session.said[-1][1]
        assert np.array_equal(pixels(session), before)
        assert session.document.undo_stack.count() == undo and len(session.history) == 1
        assert session.title == title and session.projectPath == str(good.absolute())
    assert not [line for line in session.asker.asked if line.startswith("unsaved")], \
        "a file that cannot be read asks nothing about the unsaved work first"


def test_new_results_alone_are_autosaved(session, tmp_path):
    assert session.save_to(str(tmp_path / "p.dcproj"))
    saver = session.autosaver
    saver._tick()  # what the timer does every interval
    assert not saver.autosave_path.exists(), "nothing unsaved: nothing written"
    run(session, prompt="6")
    assert not session.document.modified and session.dirty
    saver._tick()
    saver.wait()  # the write runs in the background
    assert saver.autosave_path.is_file(), "the history is work to save too"
