"""The paper's permutation views: exact permutations with exact inverses that keep i.i.d. Gaussian
noise i.i.d. Gaussian, at every model size or refused with the reason, the same at stage II's
scale, and animations that end where the view puts each pixel."""

import pytest
import torch

from engine.errors import EngineError
from engine.views import (
    FAILURES,
    PERMUTATIONS,
    SEEDED,
    VIEWS,
    get_view,
    invert,
    refuse_failure_views,
    views_for,
)

SIZES = (28, 32, 64, 256)
REFUSED = {("patches", 28)}  # 8 x 8 patches cannot cut 28 px


def cases():
    return [(name, n) for name in PERMUTATIONS for n in SIZES if (name, n) not in REFUSED]


def noise(n: int, seed: int = 0, channels: int = 3) -> torch.Tensor:
    return torch.randn(1, channels, n, n, generator=torch.Generator().manual_seed(seed))


def iid_gaussian_moments(y: torch.Tensor) -> None:
    """Mean 0, variance 1, no correlation between neighbours or between a pixel and its
    mirror image: what a view that mixed or blurred pixels would break."""
    flat = y.flatten()
    tol = 6 / flat.numel() ** 0.5
    assert abs(flat.mean().item()) < tol
    assert abs(flat.var().item() - 1) < 3 * tol
    for pair in ((y[..., 1:, :], y[..., :-1, :]), (y[..., :, 1:], y[..., :, :-1]),
                 (y, y.flip(-1))):
        a, b = pair[0].flatten(), pair[1].flatten()
        if a.data_ptr() == b.data_ptr():
            continue
        corr = ((a - a.mean()) * (b - b.mean())).mean() / (a.std() * b.std())
        assert abs(corr.item()) < 6 / a.numel() ** 0.5, corr


@pytest.mark.parametrize("name, n", cases())
def test_each_view_is_a_permutation_with_an_exact_inverse(name, n):
    view = get_view(name, size=n, seed=5)
    src = view.sources(n)
    assert torch.equal(src.sort().values, torch.arange(n * n)), "not a permutation"
    assert (src != torch.arange(n * n)).float().mean() > 0.25, "it hardly moves anything"
    x = noise(n, 1)
    y = view.apply(x)
    assert torch.equal(view.inverse(y), x) and torch.equal(view.apply(view.inverse(x)), x)
    assert torch.equal(y.flatten(-2), x.flatten(-2)[..., src]), "apply is not its permutation"
    # the variance moves with the pixels and is never negated
    v = torch.rand(1, 3, n, n)
    assert torch.equal(view.inverse_variance(view.apply(v)), v)


@pytest.mark.parametrize("name, n", cases())
def test_each_view_keeps_iid_gaussian_noise_iid_gaussian(name, n):
    view = get_view(name, size=n, seed=2)
    x = noise(n, 3)
    y = view.apply(x)
    assert torch.equal(y.flatten().sort().values, x.flatten().sort().values)
    iid_gaussian_moments(y)


def test_the_moment_check_catches_a_view_that_blurs():
    """The paper's failure views (a blur) make correlated noise: the check above must see it."""
    x = noise(64, 4)
    blurred = (x + x.roll(1, -1) + x.roll(1, -2) + x.roll((1, 1), (-2, -1))) / 2
    with pytest.raises(AssertionError):
        iid_gaussian_moments(blurred)


def test_a_jigsaw_needs_a_size_that_divides_by_its_pieces():
    with pytest.raises(EngineError, match="divides by 4; this model's images are 30 px"):
        get_view("jigsaw", size=30)
    with pytest.raises(EngineError, match="divides by 8; this model's images are 28 px"):
        get_view("patches", size=28)
    with pytest.raises(EngineError, match="multiple of 28"):
        get_view("jigsaw", size=28).apply(noise(32))


@pytest.mark.parametrize("name", PERMUTATIONS)
def test_a_view_at_four_times_the_size_is_the_upscaled_view(name):
    """Stage II turns a 64 px image into 256 px: its view must be the stage I view, upscaled."""
    small = 32 if name == "patches" else 28
    view = get_view(name, size=small, seed=7)
    x = noise(small, 8)
    up = x.repeat_interleave(4, -2).repeat_interleave(4, -1)
    seen = view.apply(x).repeat_interleave(4, -2).repeat_interleave(4, -1)
    assert torch.equal(view.apply(up), seen)
    assert torch.equal(view.inverse(view.apply(up)), up)


@pytest.mark.parametrize("name", SEEDED)
def test_the_seeded_views_come_back_from_their_seed(name):
    a, b, c = (get_view(name, size=64, seed=s) for s in (1, 1, 2))
    assert torch.equal(a.sources(64), b.sources(64))
    assert not torch.equal(a.sources(64), c.sources(64))
    assert a.parameters() == {"view": name, "view_seed": 1}
    assert get_view("inner-circle", size=64).parameters() == {"view": "inner-circle"}


def test_the_views_do_what_they_say_on_a_small_image():
    x = torch.arange(64.0).view(1, 1, 8, 8)
    turned = get_view("inner-circle", size=8).apply(x)
    assert turned[0, 0, 4, 4] == x[0, 0, 3, 3] and turned[0, 0, 0, 0] == x[0, 0, 0, 0]
    hinge = get_view("square-hinge", size=9).apply(torch.arange(81.0).view(1, 1, 9, 9))
    # the top-left 3 x 3 square turned a quarter clockwise, its neighbour anticlockwise
    assert hinge[0, 0, :3, :3].tolist() == torch.rot90(torch.arange(81.0).view(9, 9)[:3, :3],
                                                       -1).tolist()
    assert hinge[0, 0, :3, 3:6].tolist() == torch.rot90(
        torch.arange(81.0).view(9, 9)[:3, 3:6], 1).tolist()
    patches = get_view("patches", size=16, seed=0).apply(torch.arange(256.0).view(1, 1, 16, 16))
    blocks = patches.view(8, 2, 8, 2).permute(0, 2, 1, 3).reshape(64, 4)
    assert all(b.tolist() == [b[0], b[0] + 1, b[0] + 16, b[0] + 17] for b in blocks)


@pytest.mark.parametrize("name", PERMUTATIONS)
def test_the_animation_ends_where_the_view_puts_each_pixel(name):
    n = 32
    view = get_view(name, size=n, seed=3)
    m = view.motion(n)
    y, x = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    angle = torch.deg2rad(m[0])
    dy, dx = y - m[1], x - m[2]
    end_x = m[2] + torch.cos(angle) * dx + torch.sin(angle) * dy + m[4]
    end_y = m[1] - torch.sin(angle) * dx + torch.cos(angle) * dy + m[3]
    dest = invert(view.sources(n))
    assert torch.allclose(end_y.flatten(), (dest // n).double(), atol=1e-6)
    assert torch.allclose(end_x.flatten(), (dest % n).double(), atol=1e-6)


def test_an_anagram_takes_the_views_at_the_models_size():
    views = views_for(["flip", "jigsaw", "pixels"], 28, symmetric_range=False, seed=4)
    assert [v.name for v in views] == ["identity", "flip", "jigsaw", "pixels"]
    assert views[2].size == 28 and views[3].seed == 4
    assert VIEWS["jigsaw"].size is None  # the table's own is defined at any image's size


# --- the paper's failure views -------------------------------------------------------------------

FAILURE_SIZES = (28, 32, 64)


def neighbour_corr(y: torch.Tensor) -> float:
    a, b = y[..., 1:, :].flatten(), y[..., :-1, :].flatten()
    return torch.corrcoef(torch.stack([a, b]))[0, 1].item()


@pytest.mark.parametrize("name, n", [(name, n) for name in VIEWS if VIEWS[name].iid
                                     for n in FAILURE_SIZES if (name, n) not in REFUSED])
def test_every_legit_view_keeps_iid_gaussian_noise_iid_gaussian(name, n):
    view = get_view(name, size=n, seed=2)
    iid_gaussian_moments(view.apply(noise(n, 3)))


@pytest.mark.parametrize("n", FAILURE_SIZES)
def test_the_blur_view_makes_correlated_noise_of_low_variance(n):
    """σ = n/32 px: variance Σh² ≈ 1/(4πσ²) (0.10 at 28 px, 0.02 at 64), not 1; neighbours
    correlate at > 0.7, where i.i.d. noise gives |corr| < 6/√N ≈ 0.04."""
    y = get_view("blur", size=n).apply(noise(n, 5))
    assert y.var().item() < 0.15
    assert neighbour_corr(y) > 0.7
    with pytest.raises(AssertionError):
        iid_gaussian_moments(y)


@pytest.mark.parametrize("n", FAILURE_SIZES)
def test_the_white_balance_view_scales_the_noise_variance_per_channel(n):
    """Gains 1.5 / 1.0 / 0.6: variances 2.25 / 1 / 0.36 (each within 0.15); grey: 2.25."""
    y = get_view("white-balance", size=n).apply(noise(n, 6, channels=3))
    variances = y.transpose(0, 1).reshape(3, -1).var(-1)
    assert torch.allclose(variances, torch.tensor([2.25, 1.0, 0.36]), atol=0.15), variances
    grey = get_view("white-balance").apply(noise(n, 7, channels=1))
    assert abs(grey.var().item() - 2.25) < 0.15
    stacked = torch.ones(1, 6, n, n)  # stage II sees the noisy image and the low-res one
    assert get_view("white-balance").apply(stacked)[0, :, 0, 0].tolist() == pytest.approx(
        [1.5, 1.0, 0.6] * 2)
    with pytest.raises(EngineError, match="grey or RGB images, not 4 channels"):
        get_view("white-balance").apply(torch.ones(1, 4, n, n))


@pytest.mark.parametrize("n", FAILURE_SIZES)
def test_turning_the_inner_circle_by_interpolation_mixes_the_noise(n):
    """Bilinear sampling at 45° averages up to 4 pixels: inside the disk the variance falls to
    0.44 (measured over 64 images; < 0.6 asserted) and neighbours correlate at 0.26 (> 0.15
    asserted, and beyond the 6/√N that i.i.d. noise stays within); outside nothing moves."""
    x = torch.randn(4, 3, n, n, generator=torch.Generator().manual_seed(8))
    y = get_view("inner-circle-interp", size=n).apply(x)
    c = torch.arange(n) + 0.5 - n / 2
    disk = c[:, None] ** 2 + c[None, :] ** 2 < (3 / 8 * n - 1.5) ** 2  # clear of its edge
    inside = y[..., disk]
    assert inside.var().item() < 0.6
    rows = disk[1:, :] & disk[:-1, :]
    a, b = y[..., 1:, :][..., rows], y[..., :-1, :][..., rows]
    corr = torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1].item()
    assert corr > max(0.15, 6 / a.numel() ** 0.5)
    outside = ~(c[:, None] ** 2 + c[None, :] ** 2 < (3 / 8 * n) ** 2)
    assert torch.equal(y[..., outside], x[..., outside])


def smooth_blob(n: int) -> torch.Tensor:
    c = torch.arange(n) + 0.5 - n / 2
    return torch.exp(-(c[:, None] ** 2 + (c[None, :] - n / 8) ** 2) / (2 * (n / 10) ** 2))[
        None, None].repeat(1, 3, 1, 1)


@pytest.mark.parametrize("name", FAILURES)
@pytest.mark.parametrize("n", (*FAILURE_SIZES, 256))
def test_each_failure_view_has_an_approximate_inverse_at_every_size(name, n):
    """On a smooth image the inverse undoes the view far better than leaving it: white balance
    exactly, the Wiener-like unblur and the bilinear turn back to a small error."""
    view = get_view(name, size=n)
    x = smooth_blob(n)
    moved = (view.apply(x) - x).abs().max().item()
    back = (view.inverse(view.apply(x)) - x).abs().max().item()
    assert moved > 0.03 and back < moved / 3, (moved, back)
    assert not view.iid and view.failure.endswith(".")
    if name == "white-balance":
        assert back < 1e-6
    v = torch.rand(1, 3, n, n)  # a variance stays a variance: convex weights, never negated
    assert view.inverse_variance(v).min() >= 0


def test_an_anagram_refuses_a_failure_view_unless_asked_for_knowingly():
    from engine import edits, loops
    from engine.models.analytic import GaussianModel
    from engine.schedules import NoiseSchedule

    schedule = NoiseSchedule.from_diffusers_config(
        {"num_train_timesteps": 1000, "beta_schedule": "squaredcos_cap_v2"}, "fixed_small", 30,
        990)
    model = GaussianModel({"a": 0.5, "b": -0.5, "": 0.0}, 0.2, schedule, image_size=16)
    views = views_for(["blur"], 16, True)
    gen = torch.Generator().manual_seed(0)
    with pytest.raises(EngineError, match="the blur view is one of the paper's failure views "
                                          "and is refused by default: a Gaussian blur"):
        edits.anagram(model, ["a", "b"], views, gen, steps=3)
    out = loops.final(edits.anagram(model, ["a", "b"], views, gen, steps=3,
                                    allow_failure_views=True)).x_t
    assert out.shape == (1, model.channels, 16, 16) and torch.isfinite(out).all()
    assert "--allow-failure-views" in str(refusal(views))


def refusal(views) -> EngineError:
    try:
        refuse_failure_views(views)
    except EngineError as error:
        return error
    raise AssertionError("not refused")
