"""A kept Live result (issue 12's leftovers, QA 11): its caption in the history still says it ran
on Live's steps, and its PNG records them, so opening it restores Live's steps and leaves Run's
as they were made. A Run's PNG and an older Live PNG (no record) restore as before."""

from __future__ import annotations

import pytest

from app.history import Result
from app.session.settings import RunSettings
from engine.images import read_parameters
from tests.test_app import RUN_TIMEOUT, draw_digit, open_window


@pytest.fixture
def window(qtbot, tiny_model, tmp_path):
    return open_window(qtbot, tiny_model, tmp_path / "window")  # T = 300: 30 steps by default


def kept_live_result(qtbot, window, live_steps: int = 6, run_steps: int = 0) -> Result:
    """A Live SDEdit run on `live_steps` (Run's Steps at `run_steps`), kept in the history."""
    m, runner = window.modes, window.session.runner
    m.set_mode("sdedit")
    m.random_seed.setChecked(False)
    m.seed.setValue(31)
    m.steps.setValue(run_steps)
    m.live_steps.setValue(live_steps)
    draw_digit(window)
    with qtbot.waitSignal(runner.liveDone, timeout=RUN_TIMEOUT):
        m.live.setChecked(True)
    m.live.setChecked(False)
    window.result_view.keep_button.click()
    assert len(window.session.history) == 1
    return window.session.history[0]


def test_a_kept_live_result_says_its_live_steps_in_the_history(qtbot, window):
    kept = kept_live_result(qtbot, window)
    caption = window.result_view.caption
    assert window.result_view.title.text() == "<b>Result</b>", "kept: a history entry now"
    assert caption.text().endswith("seed 31 (Live: 6 steps)")
    window.session.show_result(None)
    window.history_strip.selected.emit(0)  # picked again from the strip
    assert window.session.shown_result is kept
    assert caption.text().endswith("seed 31 (Live: 6 steps)")
    strip = window.history_strip
    assert strip.title(0) == "Live 6: sdedit i 4 · 31", "first: a long title is elided"
    assert "live_steps: 6" in strip.tooltip(0)


def test_a_runs_result_in_the_history_says_no_live_steps(qtbot, window):
    window.modes.set_mode("sdedit")
    draw_digit(window)
    with qtbot.waitSignal(window.session.runner.userDone, timeout=RUN_TIMEOUT):
        assert window.session.run_job() is not None
    result = window.session.history[0]
    assert "live_steps" not in result.parameters and result.live_steps() is None
    assert "Live" not in window.result_view.caption.text()
    assert "Live" not in window.history_strip.title(0)


def test_a_live_pngs_round_trip_restores_lives_steps_and_runs_own(qtbot, window, tmp_path):
    kept = kept_live_result(qtbot, window, live_steps=6, run_steps=20)
    s = window.session.settings
    i_start = kept.parameters["i_start"]
    path = str(tmp_path / "live.png")
    assert window.session.export_result(path, kept)
    written = read_parameters(path)
    assert (written["live_steps"], written["run_steps"], written["steps"]) == (6, 20, 6)
    s.steps, s.live_steps, s.strength = 12, 4, 0.2  # the user moves on
    assert window.session.open_path(path)
    assert (s.live_steps, s.steps) == (6, 20), "Live's steps back, Run's as they were made"
    assert window.modes.steps.value() == 20 and window.modes.live_steps.value() == 6
    assert s.live_fields()["i_start"] == i_start, "the strength as the share Live ran on"
    assert s.live_fields()["steps"] == 6


def test_a_runs_png_restores_its_steps_as_before(qtbot, window, tmp_path):
    s = window.session.settings
    window.modes.set_mode("sdedit")
    s.steps = 8
    draw_digit(window)
    with qtbot.waitSignal(window.session.runner.userDone, timeout=RUN_TIMEOUT):
        assert window.session.run_job() is not None
    path = str(tmp_path / "run.png")
    assert window.session.export_result(path, window.session.history[0])
    assert "live_steps" not in read_parameters(path)
    s.steps, s.live_steps = 25, 4
    assert window.session.open_path(path)
    assert (s.steps, s.live_steps) == (8, 4), "Run's steps restored, Live's untouched"


def test_an_older_live_png_without_the_record_restores_as_before(qapp):
    """A Live PNG from before the record says steps 10: read as a Run's, as it always was."""
    s = RunSettings(steps=0, live_steps=4, timesteps=tuple(range(300, -1, -10)))
    s.apply_parameters({"mode": "sdedit", "steps": 10, "i_start": 3, "seed": 5})
    assert (s.steps, s.live_steps) == (10, 4)


def test_a_live_png_without_runs_steps_leaves_them(qapp):
    """Another model's Live PNG loses its run_steps (they were that model's): Run keeps its own."""
    s = RunSettings(steps=17, live_steps=4, timesteps=tuple(range(300, -1, -10)))
    s.apply_parameters({"mode": "sdedit", "steps": 10, "live_steps": 10, "seed": 5})
    assert (s.steps, s.live_steps) == (17, 10)
    s.apply_parameters({"mode": "sdedit", "steps": 30, "live_steps": 0, "run_steps": None})
    assert (s.steps, s.live_steps) == (0, 0), "'as Run' Live on Run's default schedule"


def test_a_damaged_live_record_is_left_out(qapp):
    from app.restored import clean_run_settings

    clean, problems = clean_run_settings({"live_steps": -3, "run_steps": "ten", "steps": 10})
    assert clean == {"steps": 10} and len(problems) == 2
