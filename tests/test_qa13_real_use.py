"""Session 13's real-use fixes: each test failed before its fix."""

from __future__ import annotations

from app.session.jobs import JobKind
from tests.session_fakes import draw, make_session, model_state


def run(session, count: int = 1, **settings):
    job = session.run_job(session.settings.job_fields() | settings, JobKind.USER)
    assert job is not None, session.said
    session.engine.finish(count)
    return job


def seeds(session) -> list:
    return [r.parameters["seed"] for r in session.history]


def test_removing_a_result_is_an_undo_step(qapp, tmp_path):
    """Delete on a thumbnail lost the result for good; now Edit > Undo puts that very result
    back where it was, shown, in turn with the other edits."""
    session = make_session(tmp_path / "s")
    for seed in (1, 2, 3):
        run(session, seed=seed)
    middle = session.history[1]
    session.remove_result(1)
    assert seeds(session) == [1, 3]
    assert "Undo" in session.lines[-1]
    draw(session)  # an edit after the removal is undone first
    stack = session.document.undo_stack
    stack.undo()
    assert seeds(session) == [1, 3]
    stack.undo()
    assert seeds(session) == [1, 2, 3] and session.history[1] is middle
    assert session.shownResult is middle
    stack.redo()
    assert seeds(session) == [1, 3]


def test_an_undo_of_a_removal_from_an_earlier_history_does_nothing(qapp, tmp_path):
    session = make_session(tmp_path / "s")
    run(session, seed=1)
    session.remove_result(0)
    run(session, seed=9)
    session.history.clear()  # as opening a project replaces the list
    run(session, seed=5)
    session.document.undo_stack.undo()
    assert seeds(session) == [5], "the removed result belongs to a list that is gone"


def test_the_strip_puts_a_restored_thumbnail_back_in_its_place(qtbot, tmp_path):
    from tests.test_app import open_window

    window = open_window(qtbot, "mnist", tmp_path / "w")
    session, strip = window.session, window.history_strip
    for seed in (1, 2, 3):
        with qtbot.waitSignal(session.runner.finished, timeout=60_000):
            session.run_job(session.settings.job_fields() | {"seed": seed, "steps": 2})
    titles = [strip.title(i) for i in range(3)]
    strip.set_current(1)
    strip.list_widget.deletePressed.emit()
    assert [strip.title(i) for i in range(strip.count())] == [titles[0], titles[2]]
    session.document.undo_stack.undo()
    assert [strip.title(i) for i in range(strip.count())] == titles
    assert strip.current() == 1, "the restored result is the one shown"


# --- Live and Upscale during a model switch (QA 13) ---------------------------------------------
def test_live_during_a_switch_waits_for_the_model_then_runs_on_it(qapp, tmp_path):
    """Live made a job of the settings shown (the model going) during a switch and the model
    coming ran it; now it says it waits, and runs once that model is in."""
    session = make_session(tmp_path / "s")
    session.settings.mode = "sdedit"
    session.set_live(True)
    session.runner.live_timer.stop()
    session.load_model("mnist-b")
    session.runner.run_live()
    assert session.engine.jobs == {}, "no Live job for the model going"
    assert session.lines[-1] == "Live: mnist-b is loading: this runs once it is in"
    session.engine.answer_load()
    assert session.runner.live_timer.isActive(), "Live runs again on the model that came"
    session.runner.live_timer.stop()
    session.runner.run_live()
    assert len(session.engine.jobs) == 1


def test_upscale_during_a_switch_is_refused_with_a_line(qapp, tmp_path):
    session = make_session(tmp_path / "s")
    session.engine.answer_load(model_state("mnist", upscaler=True))
    run(session, seed=5)
    session.load_model("mnist-b")
    assert session.upscale_result(session.history[0]) is None
    assert len(session.engine.jobs) == 1, "only the run before: no upscale job"
    assert session.lines[-1] == "mnist-b is loading: upscale once it is in"
    assert session.said == [], "a line, no dialog"
