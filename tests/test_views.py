"""The paper's permutation views: exact permutations with exact inverses that keep i.i.d. Gaussian
noise i.i.d. Gaussian, at every model size or refused with the reason, the same at stage II's
scale, and animations that end where the view puts each pixel."""

import pytest
import torch

from engine.errors import EngineError
from engine.views import PERMUTATIONS, SEEDED, VIEWS, get_view, invert, views_for

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
