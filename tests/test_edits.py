"""Edits: inpainting, views, anagrams and hybrids, checked against what must hold exactly."""

import pytest
import torch

from engine import edits, loops
from engine.errors import EngineError
from engine.filters import blur_params, colour_part, grey_part, highpass, lowpass
from engine.models.analytic import GaussianModel
from engine.schedules import NoiseSchedule
from engine.views import VIEWS, get_view

IF_CONFIG = {"num_train_timesteps": 1000, "beta_schedule": "squaredcos_cap_v2"}


def if_model(**kw):
    schedule = NoiseSchedule.from_diffusers_config(IF_CONFIG, "fixed_small", 30, 990)
    return GaussianModel({"a": 0.5, "b": -0.5, "": 0.0}, 0.2, schedule, **kw)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def square_mask(size=16):
    mask = torch.zeros(1, 1, size, size)
    mask[..., 4:12, 4:12] = 1
    return mask


# --- inpainting ----------------------------------------------------------------------------------

@pytest.mark.parametrize("repeats", [1, 2])
def test_inpainting_returns_the_unmasked_region_exactly(repeats):
    model = if_model(image_size=16)
    image = torch.rand(1, 1, 16, 16) * 2 - 1
    mask = square_mask()
    out = loops.final(edits.inpaint(model, image, mask, gen(), prompt="a", guidance=2.0,
                                    steps=12, jump_length=3, repeats=repeats)).x_t
    keep = mask == 0
    assert torch.equal(out[keep], image[keep])
    assert not torch.allclose(out[~keep], image[~keep])
    # the filled region follows the prompt's Gaussian (μ = 0.5, guided by 2 from μ_u = 0)
    assert out[~keep].mean().item() > 0.5


def test_soft_mask_blends_and_keeps_zero_exact():
    model = if_model(image_size=16)
    image = torch.zeros(1, 1, 16, 16)
    mask = square_mask() * 0.5
    mask[..., 6:10, 6:10] = 1
    out = loops.final(edits.inpaint(model, image, mask, gen(), prompt="a", steps=8)).x_t
    assert torch.equal(out[mask == 0], image[mask == 0])


def test_inpainting_refuses_an_empty_mask():
    model = if_model(image_size=16)
    with pytest.raises(EngineError, match="mask is empty"):
        edits.inpaint(model, torch.zeros(1, 1, 16, 16), torch.zeros(1, 1, 16, 16), gen())


def test_repaint_resampling_costs_the_extra_steps():
    model = if_model(image_size=8)
    image = torch.zeros(1, 1, 8, 8)
    records = list(edits.inpaint(model, image, square_mask(8), gen(), prompt="a", steps=10,
                                 jump_length=2, repeats=3))
    plain = loops.repaint_path(0, 10)
    path = loops.repaint_path(0, 10, 2, 3)
    assert len(records) == len(path) - 1 > len(plain) - 1
    forward_moves = sum(1 for i, j in zip(path, path[1:]) if j > i)
    assert len(model.calls) == forward_moves


# --- views ---------------------------------------------------------------------------------------

IID_VIEWS = [name for name in VIEWS if VIEWS[name].iid]  # the failure views: tests/test_views.py


@pytest.mark.parametrize("name", IID_VIEWS)
def test_every_view_is_undone_by_its_inverse(name):
    view = VIEWS[name]
    x = torch.randn(2, 3, 8, 8)
    assert torch.equal(view.inverse(view.apply(x)), x)
    assert torch.equal(view.apply(view.inverse(x)), x)


@pytest.mark.parametrize("name", IID_VIEWS)
def test_every_view_keeps_unit_gaussian_noise_unit_gaussian(name):
    view = VIEWS[name]
    x = torch.randn(1, 1, 64, 64, generator=gen(1))
    y = view.apply(x)
    # an orthogonal map: it keeps the norm and the multiset of |values| (a signed permutation)
    assert torch.allclose(y.norm(), x.norm())
    assert torch.equal(y.abs().flatten().sort().values, x.abs().flatten().sort().values)
    assert abs(y.mean().item()) < 0.05 and abs(y.std().item() - 1) < 0.05


def test_views_move_the_variance_but_never_negate_it():
    v = torch.rand(1, 1, 4, 4)
    assert torch.equal(VIEWS["negate"].inverse_variance(v), v)
    assert torch.equal(VIEWS["flip"].inverse_variance(v), v.flip(-2))


def test_views_that_are_not_what_they_claim():
    x = torch.arange(4.0).view(1, 1, 2, 2)  # [[0, 1], [2, 3]]
    assert VIEWS["flip"].apply(x).flatten().tolist() == [2, 3, 0, 1]
    assert VIEWS["mirror"].apply(x).flatten().tolist() == [1, 0, 3, 2]
    assert VIEWS["rot180"].apply(x).flatten().tolist() == [3, 2, 1, 0]
    assert VIEWS["transpose"].apply(x).flatten().tolist() == [0, 2, 1, 3]
    assert torch.equal(VIEWS["rot90"].apply(VIEWS["rot270"].apply(x)), x)


def test_negate_is_refused_for_a_zero_to_one_model():
    with pytest.raises(EngineError, match="symmetric"):
        get_view("negate", symmetric_range=False)
    model = if_model(data_range=(0.0, 1.0))
    with pytest.raises(EngineError, match="symmetric"):
        edits.anagram(model, ["a", "b"], [VIEWS["identity"], VIEWS["negate"]], gen())


# --- anagrams ------------------------------------------------------------------------------------

def test_anagram_runs_every_view_and_both_branches_in_one_batch():
    model = if_model(image_size=8)
    views = [VIEWS["identity"], VIEWS["flip"], VIEWS["rot90"]]
    out = loops.final(edits.anagram(model, ["a", "b", "a"], views, gen(), guidance=2.0,
                                    steps=5, batch=2)).x_t
    assert out.shape == (2, 1, 8, 8)
    assert set(model.calls) == {2 * 3 * 2}


def test_anagram_of_one_prompt_equals_plain_guided_sampling():
    # the exact ε is per-pixel, so it commutes with every view: both paths must agree
    model = if_model(image_size=8)
    views = [VIEWS["identity"], VIEWS["rot90"]]
    ana = loops.final(edits.anagram(model, ["a", "a"], views, gen(4), guidance=3.0, steps=6)).x_t
    plain = loops.final(edits.sample(model, ["a"], gen(4), guidance=3.0, steps=6)).x_t
    assert torch.allclose(ana, plain, atol=1e-5)


# --- hybrids -------------------------------------------------------------------------------------

def test_lowpass_plus_highpass_is_the_identity():
    x = torch.randn(2, 3, 64, 64)
    assert torch.allclose(lowpass(x) + highpass(x), x, atol=1e-6)
    assert torch.allclose(grey_part(x) + colour_part(x), x, atol=1e-6)
    flat = torch.full((1, 1, 28, 28), 0.3)
    assert torch.allclose(lowpass(flat), flat, atol=1e-6)
    assert highpass(x).abs().mean() < x.abs().mean()


def test_blur_scales_with_size():
    assert blur_params(64) == (33, 2.0)
    assert blur_params(256) == (133, 8.0)


def test_hybrid_takes_its_mean_from_the_low_pass_prompt():
    model = if_model(image_size=32)
    out = loops.final(edits.hybrid(model, "a", "b", gen(), guidance=1.0, steps=20,
                                   batch=8)).x_t
    # the image mean is all low frequency: it comes from 'a' (0.5), not 'b' (-0.5)
    assert out.mean().item() == pytest.approx(0.5, abs=0.1)


def test_hybrid_of_one_prompt_equals_plain_sampling():
    model = if_model(image_size=16)
    hyb = loops.final(edits.hybrid(model, "a", "a", gen(9), guidance=2.0, steps=6)).x_t
    plain = loops.final(edits.sample(model, ["a"], gen(9), guidance=2.0, steps=6)).x_t
    assert torch.allclose(hyb, plain, atol=1e-5)


def test_colour_hybrid_needs_rgb():
    with pytest.raises(EngineError, match="RGB"):
        edits.hybrid(if_model(channels=1), "a", "b", gen(), colour=True)
    out = loops.final(edits.hybrid(if_model(channels=3, image_size=8), "a", "b", gen(),
                                   colour=True, steps=4)).x_t
    assert out.shape == (1, 3, 8, 8)
