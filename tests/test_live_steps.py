"""Live's own, coarser schedule (issue 12): the settings it makes, the UI that shows it, and the
coarse strided SDEdit loop against an exact Gaussian model."""

from __future__ import annotations

import math

import pytest
import torch

from app.session.settings import LIVE_STEPS, RunSettings
from engine import edits, loops
from engine.models.analytic import GaussianModel
from engine.schedules import NoiseSchedule, evenly_spaced_timesteps, strided_timesteps
from tests.test_app import RUN_TIMEOUT, draw_digit, open_window
from tests.test_loops import if_schedule, predicted_moments

EMOJI_TIMESTEPS = tuple(strided_timesteps(990, 30))  # the course's IF list: 33 updates


def sdedit_settings(**values) -> RunSettings:
    values = {"mode": "sdedit", "strength": 0.7, "seed": 31, "random_seed": False,
              "timesteps": EMOJI_TIMESTEPS} | values
    return RunSettings(**values)


def without(fields: dict, *keys: str) -> dict:
    """`fields` less `keys` and the Live record (live_steps, run_steps), which Run's lack."""
    return {k: v for k, v in fields.items() if k not in (*keys, "live_steps", "run_steps")}


# --- the settings Live runs on ------------------------------------------------------------------

def test_live_takes_its_own_steps_and_run_keeps_the_full_schedule(qapp):
    s = sdedit_settings()
    assert s.live_steps == LIVE_STEPS == 10
    live, run = s.live_fields(), s.job_fields(draw=False)
    assert run["steps"] is None and run["i_start"] == 10, "Run: the course's 33 steps"
    assert live["steps"] == 10 and live["i_start"] == 3, "7 of 10 updates at strength 0.7"
    assert s.live_timesteps() == evenly_spaced_timesteps(990, 10)
    assert (live["live_steps"], live["run_steps"]) == (10, None), "its PNG says it was Live's"
    assert without(live, "steps", "i_start") == without(run, "steps", "i_start"), \
        "the rest as Run's"
    assert live["seed"] == 31 and s.seed == 31, "the seed shown, none drawn"


@pytest.mark.parametrize("strength", [0.1, 0.3, 0.45, 0.5, 0.7, 0.85, 1.0])
@pytest.mark.parametrize("live_steps", [4, 6, 10, 12, 20])
def test_the_strength_keeps_its_share_of_the_noise_schedule(qapp, strength, live_steps):
    s = sdedit_settings(strength=strength, live_steps=live_steps)
    live = s.live_fields()
    n = live["steps"]
    assert n == live_steps
    share = 1 - live["i_start"] / n  # the share of the schedule Live noises to
    assert abs(share - strength) <= 0.5 / n + 1e-9 or live["i_start"] == n - 1
    assert 0 <= live["i_start"] <= n - 1, "at least one update"


def test_as_run_or_more_steps_than_run_is_runs_own_schedule(qapp):
    s = sdedit_settings(live_steps=0)
    assert without(s.live_fields()) == s.job_fields(draw=False)
    s = sdedit_settings(live_steps=40)  # more than Run's 33: never slower than Run
    assert without(s.live_fields()) == s.job_fields(draw=False)
    s = sdedit_settings(steps=8, timesteps=tuple(evenly_spaced_timesteps(990, 8)))
    assert s.live_fields()["steps"] == 8, "Run's 8 steps are already fewer than Live's 10"


def test_live_steps_is_remembered_and_a_change_reruns_live(qapp):
    s = sdedit_settings()
    fired: list[bool] = []
    s.inputsChanged.connect(lambda: fired.append(True))
    s.live_steps = 6
    assert fired and s.persisted()["live_steps"] == 6
    with pytest.raises(ValueError):
        s.live_steps = -1


def test_modes_without_a_strength_keep_their_i_start_none(qapp):
    s = sdedit_settings(mode="sample")
    live = s.live_fields()
    assert live["i_start"] is None and live["steps"] == 10


# --- the coarse loop against something true ------------------------------------------------------

def sdedit_truth(schedule: NoiseSchedule, t: int, c: float, mu: float, s: float
                 ) -> tuple[float, float]:
    """Mean and variance of exact SDEdit on N(mu, s²) data from an image of value c noised to
    t: x_0 drawn from p(x_0 | x_t), x_t drawn from the forward process of the image."""
    a = schedule.abar(t)
    d = a * s * s + 1 - a
    gain = math.sqrt(a) * s * s / d  # E[x_0 | x_t] = gain · x_t + (1 - a) mu / d
    mean = gain * math.sqrt(a) * c + (1 - a) * mu / d
    return mean, s * s * (1 - a) / d + gain * gain * (1 - a)


# the output's spread against the truth's: with β (fixed_large, the digit models' rule) the
# coarse loop is as close as the full one; with β̃ every strided loop lacks the spread of x̂_0
# at each step, the coarser one more (learned_range, IF's and the emoji cascade's, lies between)
SPREAD = {("fixed_large", 10): (0.97, 1.07), ("fixed_large", 33): (0.98, 1.09),
          ("fixed_small", 10): (0.60, 0.70), ("fixed_small", 33): (0.78, 0.88)}


@pytest.mark.parametrize("rule,live_steps", list(SPREAD))
def test_the_coarse_strided_sdedit_loop_is_the_recursion_and_near_the_truth(rule, live_steps):
    schedule = if_schedule(rule)
    mu, s, c = 0.5, 0.2, -0.3
    model = GaussianModel({"a": mu, "": mu}, s, schedule, image_size=32)
    steps = None if live_steps == 33 else live_steps
    timesteps = schedule.timesteps(steps)
    i_start = round(0.3 * (len(timesteps) - 1))  # strength 0.7
    image = torch.full((1, 1, 32, 32), c).expand(64, -1, -1, -1)
    out = loops.final(edits.sdedit(model, image, i_start, torch.Generator().manual_seed(4),
                                   prompt="a", guidance=1.0, steps=steps)).x_t
    t = timesteps[i_start]
    a = schedule.abar(t)
    m, v = predicted_moments(schedule, timesteps[i_start:], mu, mu, s, 1.0,
                             math.sqrt(a) * c, 1 - a)
    assert len(model.calls) == live_steps - i_start
    assert out.mean().item() == pytest.approx(m, abs=0.005), "the loop is the recursion"
    assert out.var().item() == pytest.approx(v, rel=0.03)
    true_m, true_v = sdedit_truth(schedule, t, c, mu, s)
    # exact ε makes the mean exact at any stride (up to the last timestep's ᾱ_0 = 0.99996)
    assert m == pytest.approx(true_m, abs=1e-4)
    low, high = SPREAD[rule, live_steps]
    assert low < math.sqrt(v / true_v) < high


# --- the window ----------------------------------------------------------------------------------

@pytest.fixture
def window(qtbot, tiny_model, tmp_path):
    return open_window(qtbot, tiny_model, tmp_path / "window")  # T = 300: 30 steps by default


def test_live_runs_its_own_steps_says_so_and_run_keeps_the_full_schedule(qtbot, window):
    submitted, captions = [], []
    submit = window.session.engine.submit
    window.session.engine.submit = lambda job: submitted.append(job) or submit(job)
    runner, m = window.session.runner, window.modes
    runner.preview.connect(lambda *_: captions.append(window.result_view.caption.text()))
    m.set_mode("sdedit")
    m.random_seed.setChecked(False)
    m.seed.setValue(31)
    draw_digit(window)
    assert m.live_steps.value() == LIVE_STEPS and m.live_steps.isVisibleTo(m)
    m.live_steps.setValue(6)
    assert window.session.settings.live_steps == 6
    window.session.settings.strength = 0.5
    m.live.setChecked(True)
    with qtbot.waitSignal(runner.liveDone, timeout=RUN_TIMEOUT):
        pass
    live = submitted[-1]
    assert (live.steps, live.i_start) == (6, 3), "6 steps, half of them noised"
    assert captions and set(captions) == {
        "The estimate so far (Live: 6 steps): a result once the run ends"}
    assert window.result_view.caption.text().endswith("seed 31 (Live: 6 steps)")
    m.live_steps.setValue(0)  # "as Run": Live on Run's own schedule, at once again
    with qtbot.waitSignal(runner.liveDone, timeout=RUN_TIMEOUT):
        pass
    assert (submitted[-1].steps, submitted[-1].i_start) == (None, 15)
    assert window.result_view.caption.text().endswith(" (Live: 30 steps)")
    m.live_steps.setValue(6)
    m.live.setChecked(False)
    with qtbot.waitSignal(runner.userDone, timeout=RUN_TIMEOUT):
        assert window.session.run_job() is not None
    run = submitted[-1]
    assert (run.steps, run.i_start) == (None, 15), "Run: the full schedule, whatever Live takes"
    assert window.result_view.caption.text().endswith("seed 31"), "no Live steps said"


# --- the benchmark makes the app's Live job ------------------------------------------------------

def test_the_benchmark_times_the_apps_live_job_and_edits_with_it(qapp):
    from tests.bench_modules import load_benchmark

    bench = load_benchmark("bench_live_steps")
    model = GaussianModel({"a": 0.5, "": 0.0}, 0.2, if_schedule(), image_size=8)
    fields = bench.live_fields(model, 0.7, 10)
    assert (fields["steps"], fields["i_start"], fields["count"], fields["preview_kind"],
            fields["upscale"]) == (10, 3, 1, "x0", False)
    full = bench.live_fields(model, 0.7, 0)
    assert (full["steps"], full["i_start"]) == (None, 10)
    assert bench.schedule_text(model, fields) == "10 steps, i_start 3: 7 calls"
    images = torch.full((3, 1, 8, 8), 0.4)
    out = bench.edit(model, images, fields, seed=5)
    assert out.shape == (3, 1, 8, 8) and len(model.calls) == 7
    assert torch.equal(out[1:2], bench.edit(model, images[:1], fields, seed=6)), \
        "image i of a batch is the one seeded seed + i"


# --- a damaged settings file ----------------------------------------------------------------------

@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, 1e400, 10**400, "10", True,
                                   10.5, -1])
def test_a_damaged_live_steps_in_the_settings_file_is_left_out(qapp, value):
    """JSON reads Infinity and 1e400 as float infinity: left out like any bad value (a 400-digit
    int too), and the settings after it in the file are still restored."""
    s = RunSettings()
    assert s.restore({"live_steps": value, "steps": value, "mode": "sdedit"}) == \
        ["live_steps", "steps"]
    assert (s.live_steps, s.steps, s.mode) == (LIVE_STEPS, 0, "sdedit")


def test_the_last_launchs_settings_with_an_infinite_live_steps_still_restore(qapp, tmp_path):
    from PySide6.QtCore import QSettings
    from session_fakes import make_session

    ini = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    ini.setValue("run/panel", '{"live_steps": Infinity, "mode": "sdedit", "seed": 5, '
                              '"random_seed": false}')
    ini.sync()
    session = make_session(tmp_path)
    s = session.settings
    assert (s.live_steps, s.mode, s.seed, s.random_seed) == (LIVE_STEPS, "sdedit", 5, False)
