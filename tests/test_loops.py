"""The loops against the course's equations and an exact Gaussian model."""

import math

import pytest
import torch

from engine import edits, loops
from engine.errors import EngineError
from engine.models.analytic import GaussianModel
from engine.schedules import (
    NoiseSchedule,
    evenly_spaced_timesteps,
    i_start_from_strength,
    noise_std,
    step_coefficients,
    strided_timesteps,
)

IF_CONFIG = {"num_train_timesteps": 1000, "beta_schedule": "squaredcos_cap_v2"}


def if_schedule(rule="fixed_small"):
    return NoiseSchedule.from_diffusers_config(IF_CONFIG, rule, default_stride=30,
                                               default_top=990)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# --- schedules -----------------------------------------------------------------------------------

def test_course_timestep_lists():
    assert if_schedule().default_timesteps() == list(range(990, -1, -30))
    assert len(if_schedule().default_timesteps()) == 34
    assert NoiseSchedule.ddpm_linear().default_timesteps() == list(range(300, -1, -10))
    assert NoiseSchedule.ddpm_linear().timesteps(300) == list(range(300, -1, -1))
    assert strided_timesteps(100, 30) == [100, 70, 40, 10, 0]
    assert evenly_spaced_timesteps(990, 3) == [990, 660, 330, 0]


def test_strength_is_diffusers_way_round():
    assert i_start_from_strength(1.0, 34) == 0
    assert i_start_from_strength(0.0, 34) == 33
    assert i_start_from_strength(0.5, 31) == 15
    with pytest.raises(ValueError):
        i_start_from_strength(1.5, 34)


def test_ddpm_table_is_clean_at_zero_and_if_table_is_not():
    ddpm = NoiseSchedule.ddpm_linear(300)
    assert ddpm.abar(0) == 1.0
    assert ddpm.abar(1) == pytest.approx(1 - 1e-4)
    assert ddpm.abar(300) == pytest.approx(math.prod(1 - b for b in
                                           torch.linspace(1e-4, 0.02, 300).tolist()), rel=1e-6)
    assert if_schedule().abar(0) == pytest.approx(0.99996, abs=2e-5)


def test_step_coefficients_hand_worked():
    c = step_coefficients(0.5, 0.8)
    # α = 0.625, β = 0.375
    assert c.beta == pytest.approx(0.375)
    assert c.coef_x0 == pytest.approx(math.sqrt(0.8) * 0.375 / 0.5)  # 0.670820
    assert c.coef_x0 == pytest.approx(0.670820, abs=1e-6)
    assert c.coef_xt == pytest.approx(0.316228, abs=1e-6)
    assert c.beta_tilde == pytest.approx(0.15)


def test_variance_rules():
    c = step_coefficients(0.5, 0.8)
    assert noise_std(c, "fixed_small") == pytest.approx(math.sqrt(0.15))
    assert noise_std(c, "fixed_large") == pytest.approx(math.sqrt(0.375))
    v = torch.tensor([1.0, -1.0, 0.0])
    std = noise_std(c, "learned_range", v)
    expected_mid = math.exp(0.5 * (0.5 * math.log(0.375) + 0.5 * math.log(0.15)))
    assert std.tolist() == pytest.approx([math.sqrt(0.375), math.sqrt(0.15), expected_mid])


def test_a_learned_variance_outside_its_range_is_read_at_the_nearer_end():
    """A trained emoji UNet said v = 193 at t = 66: unclamped, σ was 4e23 and the sample NaN."""
    c = step_coefficients(0.5, 0.8)
    std = noise_std(c, "learned_range", torch.tensor([193.0, 1.5, -40.0, float("-inf")]))
    assert std.tolist() == pytest.approx([math.sqrt(0.375)] * 2 + [math.sqrt(0.15)] * 2)


# --- single updates ------------------------------------------------------------------------------

def test_one_step_hand_worked():
    schedule = NoiseSchedule(torch.tensor([1.0, 0.64], dtype=torch.float64), "ddpm")
    record = loops.one_step(lambda x, t: loops.Prediction(torch.full_like(x, 0.5)),
                            torch.ones(1, 1, 2, 2), 1, schedule)
    # x̂_0 = (1 - sqrt(0.36)·0.5) / sqrt(0.64) = 0.875
    assert torch.allclose(record.x0_hat, torch.full((1, 1, 2, 2), 0.875))


def test_denoise_step_hand_worked():
    schedule = NoiseSchedule(torch.tensor([0.8, 0.5], dtype=torch.float64), "diffusers")
    x_t, eps = torch.tensor([[[[1.0]]]]), torch.tensor([[[[0.2]]]])
    x_prev, x0_hat = loops.denoise_step(x_t, loops.Prediction(eps), 1, 0, schedule, gen(),
                                        add_noise=False)
    x0 = (1.0 - math.sqrt(0.5) * 0.2) / math.sqrt(0.5)
    assert x0_hat.item() == pytest.approx(x0, rel=1e-6)
    assert x_prev.item() == pytest.approx(0.670820 * x0 + 0.316228 * 1.0, rel=1e-5)


@pytest.mark.parametrize("limits", [
    {"thresholding": True, "dynamic_thresholding_ratio": 0.95, "sample_max_value": 1.0},
    {"thresholding": True, "dynamic_thresholding_ratio": 0.95, "sample_max_value": 1.5},
    {"clip_sample": True, "clip_sample_range": 1.0},
    {"clip_sample": False},
])
def test_an_update_is_diffusers_ddpm_step_with_the_configs_x0_limit(limits):
    """One strided update of the course's loop against diffusers' DDPMScheduler.step on the
    same x_t, ε, learned variance and noise, x̂_0 well outside [-1, 1]: equal, with the
    config's clipping or dynamic thresholding applied as diffusers applies it (IF's folders
    declare thresholding; before, the loop ignored it and drew saturated squares)."""
    from diffusers import DDPMScheduler

    config = {**IF_CONFIG, "variance_type": "learned_range", "prediction_type": "epsilon",
              **limits}
    ours = NoiseSchedule.from_diffusers_config(config, "learned_range", 30, 990)
    theirs = DDPMScheduler.from_config(config)
    timesteps = ours.timesteps(30)
    theirs.set_timesteps(timesteps=timesteps[:-1])
    g = gen(1)
    x_t = torch.randn(2, 3, 8, 8, generator=g)
    eps, v = torch.randn(2, 3, 8, 8, generator=g) * 1.5, torch.rand(2, 3, 8, 8, generator=g) * 2 - 1
    for t, t_prev in [(timesteps[0], timesteps[1]), (timesteps[15], timesteps[16])]:
        x_prev, x0_hat = loops.denoise_step(x_t, loops.Prediction(eps, v), t, t_prev, ours,
                                            gen(7))
        step = theirs.step(torch.cat([eps, v], 1), t, x_t, generator=gen(7))
        assert torch.allclose(x0_hat, step.pred_original_sample, atol=1e-5), (limits, t)
        assert torch.allclose(x_prev, step.prev_sample, atol=1e-4), (limits, t)
    raw = loops.x0_from_eps(x_t, eps, ours.abar(timesteps[0]))
    assert raw.abs().max() > 5  # the case that matters: an x̂_0 far out of range
    limited = limits.get("thresholding") or limits.get("clip_sample")
    assert (x0_hat.abs().max() <= 1 + 1e-6) == bool(limited)


def test_the_course_schedules_leave_x0_as_computed():
    assert NoiseSchedule.ddpm_linear().x0_limit is None
    assert if_schedule().x0_limit is None  # a config that asks for no limit gets none


def test_forward_process_statistics():
    schedule = if_schedule()
    x0 = torch.full((64, 1, 32, 32), 0.5)
    for record in loops.forward_process(x0, [250, 500, 750], schedule, gen()):
        abar = schedule.abar(record.t)
        assert record.x_t.mean().item() == pytest.approx(math.sqrt(abar) * 0.5, abs=0.01)
        assert record.x_t.var().item() == pytest.approx(1 - abar, rel=0.02)


# --- samplers on exact Gaussian data -------------------------------------------------------------

def predicted_moments(schedule, timesteps, mu_c, mu_u, s, guidance, start_mean=0.0, start_var=1.0):
    """Mean and variance of the sampler's output, by the linear-Gaussian recursion (float64)."""
    m, v = start_mean, start_var
    last = len(timesteps) - 1
    for i in range(last):
        t, tp = timesteps[i], timesteps[i + 1]
        a, ap = schedule.abar(t), schedule.abar(tp)
        k = math.sqrt(1 - a) / (a * s * s + 1 - a)
        # ε = k (x - sqrt(a) μ), with μ the guided mix of the two means
        mu = mu_u + guidance * (mu_c - mu_u)
        # x̂0 = (x - sqrt(1-a) ε) / sqrt(a) = gain · x + offset
        gain = (1 - math.sqrt(1 - a) * k) / math.sqrt(a)
        offset = math.sqrt(1 - a) * k * math.sqrt(a) * mu / math.sqrt(a)
        c = step_coefficients(a, ap)
        slope = c.coef_x0 * gain + c.coef_xt
        m = slope * m + c.coef_x0 * offset
        noise = noise_std(c, schedule.variance_rule) ** 2 if i + 1 < last else 0.0
        v = slope * slope * v + noise
    return m, v


@pytest.mark.parametrize("rule", ["fixed_small", "fixed_large"])
def test_full_ddpm_sampler_reproduces_the_gaussian(rule):
    schedule = NoiseSchedule.ddpm_linear(300, variance_rule=rule)
    model = GaussianModel({"a": 0.4}, 0.3, schedule, image_size=16)
    timesteps = schedule.timesteps(300)
    x = edits.start_from(model, timesteps, 0, gen(1), None, 512)
    est = loops.conditional(model, model.encode(["a"]))
    out = loops.final(loops.iterative_denoise(est, x, timesteps, schedule, gen(1))).x_t
    m, v = predicted_moments(schedule, timesteps, 0.4, 0.4, 0.3, 1.0)
    assert out.mean().item() == pytest.approx(m, abs=0.005)
    assert out.var().item() == pytest.approx(v, rel=0.02)
    # and the sampler is a sampler: the moments are the data's
    assert m == pytest.approx(0.4, abs=0.01)
    assert v == pytest.approx(0.09, rel=0.1)


def test_strided_cfg_sampler_matches_the_recursion_in_one_batch():
    schedule = if_schedule()
    model = GaussianModel({"a": 0.5, "": -0.3}, 0.2, schedule, image_size=16)
    records = list(edits.sample(model, ["a"] * 256, gen(2), guidance=3.0))
    out = records[-1].x_t
    timesteps = schedule.default_timesteps()
    m, v = predicted_moments(schedule, timesteps, 0.5, -0.3, 0.2, 3.0)
    assert len(records) == 33
    assert set(model.calls) == {512}, "CFG must send cond and uncond through one batch"
    assert len(model.calls) == 33
    assert out.mean().item() == pytest.approx(m, abs=0.005)
    assert out.var().item() == pytest.approx(v, rel=0.03)
    assert m > 0.5, "guidance 3 pushes past the conditional mean"


def test_learned_range_uses_the_conditional_variance():
    schedule = if_schedule("learned_range")
    model = GaussianModel({"a": 0.5, "": 0.0}, 0.2, schedule, image_size=8,
                          variance_output=1.0)
    big = loops.final(edits.sample(model, ["a"] * 64, gen(3), guidance=2.0)).x_t
    model.variance_output = -1.0
    small = loops.final(edits.sample(model, ["a"] * 64, gen(3), guidance=2.0)).x_t
    assert big.var() > small.var()


def test_same_seed_same_bits_and_other_seed_other_bits():
    schedule = if_schedule()
    model = GaussianModel({"a": 0.5, "": 0.0}, 0.2, schedule)
    one = loops.final(edits.sample(model, ["a"], gen(7), steps=10)).x_t
    two = loops.final(edits.sample(model, ["a"], gen(7), steps=10)).x_t
    three = loops.final(edits.sample(model, ["a"], gen(8), steps=10)).x_t
    assert torch.equal(one, two)
    assert not torch.equal(one, three)


def test_noise_bits_do_not_depend_on_the_dtype_asked_for():
    a = loops.randn((4, 4), gen(5))
    b = loops.randn((4, 4), gen(5))
    assert a.dtype == torch.float32 and torch.equal(a, b)
    assert torch.equal(a.to(torch.bfloat16), b.to(torch.bfloat16))


def test_closing_a_loop_stops_it_at_once():
    model = GaussianModel({"a": 0.5, "": 0.0}, 0.2, if_schedule())
    loop = edits.sample(model, ["a"], gen(), guidance=2.0)
    first = next(loop)
    assert first.step == 1 and first.total == 33
    loop.close()
    assert len(model.calls) == 1
    with pytest.raises(StopIteration):
        next(loop)


def test_sdedit_starts_at_i_start():
    model = GaussianModel({"a": 0.5, "": 0.0}, 0.2, if_schedule())
    image = torch.zeros(1, 1, 8, 8)
    records = list(edits.sdedit(model, image, 20, gen(), prompt="a", guidance=1.0))
    assert len(records) == 33 - 20
    assert records[0].index == 21 and records[-1].t == 0


def test_prompt_the_model_cannot_take_is_an_error():
    model = GaussianModel({"a": 0.5, "": 0.0}, 0.2, if_schedule())
    with pytest.raises(EngineError, match="cannot take the prompt '12'"):
        edits.sample(model, ["12"], gen())


def test_the_last_update_adds_no_noise():
    # B-2.3: z = 0 at the last step; a big β here would show any noise that slipped in
    schedule = NoiseSchedule(torch.tensor([1.0, 0.5, 0.2], dtype=torch.float64), "ddpm",
                             "fixed_large")
    x = torch.ones(1, 1, 4, 4)

    def estimate(x_t, t):
        return loops.Prediction(torch.zeros_like(x_t))

    runs = [list(loops.iterative_denoise(estimate, x, [2, 1, 0], schedule, gen(s)))
            for s in (1, 2)]
    assert not torch.equal(runs[0][0].x_t, runs[1][0].x_t), "the first update is noisy"
    assert torch.equal(runs[0][1].x_t, runs[0][1].x0_hat * 1.0)
