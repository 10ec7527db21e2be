"""Views for visual anagrams: orthogonal maps of the image that keep Gaussian noise Gaussian.

Each view has an inverse. The model's predicted variance moves with the pixels (the view's
permutation part) but is never negated, since a variance is not a signed quantity.

Beside the flips and turns there are the paper's pixel permutations: a jigsaw (4 x 4 pieces with
tabs), a patch permutation (8 x 8 patches), a pixel permutation, the inner circle turned half
round, a square hinge (3 x 3 squares each turned a quarter) and a skew (the columns of the inner
circle rolled by their distance from the centre). Each is an exact permutation of the pixels,
defined on the model's size (`size`); on an image k times as large (IF's stage II) the same
pieces are used, scaled by k, so that viewing the upscaled image is upscaling the viewed one.
The seeded ones (jigsaw, patches, pixels) draw their permutation from `seed` alone.

The paper's failure views (blur, white balance, the inner circle turned by interpolation) are
linear but not orthogonal, so they do not keep the noise i.i.d.: each is marked `iid=False` with
the reason, and an anagram refuses it unless asked for it knowingly (`refuse_failure_views`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import torch

from engine.errors import EngineError

Transform = Callable[[torch.Tensor], torch.Tensor]
Motion = Callable[[int], torch.Tensor]

JIGSAW_PIECES = 4  # per side
PATCHES = 8  # per side
CIRCLE_RADIUS = 3 / 8  # of the side, as the paper's 24 px at 64 px
SKEW = 0.5  # a column of the circle rolls by SKEW x its distance from the centre
TAB_OFFSET, TAB_RADIUS = 0.18, 0.22  # a jigsaw tab's disk, in pieces' sides, past the edge


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


@dataclass(frozen=True)
class View:
    name: str
    apply: Transform
    inverse: Transform
    negates: bool = False
    description: str = ""
    seed: int | None = None  # the seeded permutations' seed
    size: int | None = None  # the size the permutation is defined on (None: the image's)
    source: Callable[[int], torch.Tensor] | None = field(default=None, repr=False)
    motion_of: Motion | None = field(default=None, repr=False)
    # the paper's failure views: False, with why in one sentence (`failure`)
    iid: bool = True
    failure: str = ""
    variance_inverse: Transform | None = field(default=None, repr=False)

    def inverse_variance(self, v: torch.Tensor) -> torch.Tensor:
        """The inverse's permutation only: a variance is moved, never negated (a failure view
        moves it its own way, by convex weights, so it stays a variance)."""
        if self.variance_inverse is not None:
            return self.variance_inverse(v)
        return -self.inverse(v) if self.negates else self.inverse(v)

    def sources(self, n: int) -> torch.Tensor | None:
        """For a pixel permutation at side n: int64 [n*n], out.flat[q] = in.flat[src[q]]."""
        return None if self.source is None else self.source(n)

    def motion(self, n: int) -> torch.Tensor | None:
        """How each pixel travels, for an animation: float [5, n, n] of (angle in degrees,
        anticlockwise as seen, pivot y, pivot x, shift y, shift x); at time t in [0, 1] pixel p
        is at pivot + R(angle * t)(p - pivot) + t * shift, and at t = 1 where the view puts it."""
        return None if self.motion_of is None else self.motion_of(n)

    def parameters(self) -> dict:
        """What re-makes this view: its name, and its seed where it has one."""
        return {"view": self.name} | ({} if self.seed is None else {"view_seed": self.seed})


def _rot(k: int) -> Transform:
    return lambda x: torch.rot90(x, k, dims=(-2, -1))


# --- permutations as index arrays ----------------------------------------------------------------

def _grid(n: int) -> torch.Tensor:
    return torch.arange(n * n).view(n, n)


def invert(perm: torch.Tensor) -> torch.Tensor:
    """The inverse permutation: invert(p)[p] = arange."""
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(len(perm))
    return inv


def _upsampled(mask: torch.Tensor, k: int) -> torch.Tensor:
    return mask.repeat_interleave(k, 0).repeat_interleave(k, 1)


def _turn_dest(n: int, quarter: int) -> torch.Tensor:
    """dest[p]: where pixel p lands when the image turns `quarter` quarters (torch.rot90)."""
    return invert(torch.rot90(_grid(n), quarter % 4, (0, 1)).flatten())


def _scale(n: int, size: int | None, what: str) -> int:
    """k with n = k * size; a refusal for an n that is no multiple of the view's size."""
    if size is None or n == size:
        return 1
    if n % size:
        raise EngineError(f"the {what} view was made for {size} px images and cannot view "
                          f"a {n} px one (the size must be a multiple of {size})")
    return n // size


def _need_square(x: torch.Tensor, what: str) -> int:
    if x.shape[-1] != x.shape[-2]:
        raise EngineError(f"the {what} view needs a square image, not "
                          f"{x.shape[-1]}×{x.shape[-2]}")
    return int(x.shape[-1])


def _gather(x: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
    flat = x.reshape(*x.shape[:-2], -1)
    return flat.index_select(-1, src.to(x.device)).view(x.shape)


def _centre_disk(n: int, radius: float) -> torch.Tensor:
    c = (torch.arange(n, dtype=torch.float64) + 0.5) - n / 2
    return c[:, None] ** 2 + c[None, :] ** 2 < radius**2


def _seeded_perm(count: int, seed: int) -> torch.Tensor:
    return torch.randperm(count, generator=torch.Generator().manual_seed(int(seed)))


# --- each kind: its pixel map at side n (from its definition at side `size`) --------------------

def _jigsaw_tiles(b: int) -> torch.Tensor:
    """The 4 x 4 pieces at side b, each a square with tabs in and out; labels 0..15 whose
    layout a quarter turn of the image maps onto itself (so pieces can trade places by turns)."""
    s = b // JIGSAW_PIECES
    tiles = _upsampled(_grid(JIGSAW_PIECES), s)
    labels = tiles.clone()
    dests = [_turn_dest(b, q) for q in range(4)]
    centre = (torch.arange(JIGSAW_PIECES) * s + s // 2)
    anchor = (centre[:, None] * b + centre[None, :]).flatten()  # one pixel inside each tile
    covered: set[frozenset[int]] = set()
    coord = torch.arange(b, dtype=torch.float64) + 0.5
    for a in range(JIGSAW_PIECES**2):
        for other in (a + 1, a + JIGSAW_PIECES):
            if other >= JIGSAW_PIECES**2 or (other == a + 1 and other % JIGSAW_PIECES == 0):
                continue
            edge = frozenset((a, other))
            if edge in covered:
                continue
            # the tabs of successive orbits of edges point alternately one way and the other
            owner, into = (a, other) if len(covered) % 8 == 0 else (other, a)
            tab = _tab(owner, into, s, coord) & (tiles == into)
            for q in range(4):
                turned_owner = int(tiles.flatten()[dests[q][anchor[owner]]])
                turned_into = int(tiles.flatten()[dests[q][anchor[into]]])
                covered.add(frozenset((turned_owner, turned_into)))
                where = torch.zeros(b * b, dtype=torch.bool)
                where[dests[q][tab.flatten()]] = True
                labels.view(-1)[where] = turned_owner
    return labels


def _tab(owner: int, into: int, s: int, coord: torch.Tensor) -> torch.Tensor:
    """A disk on the edge between two neighbouring tiles, reaching into `into`."""
    (oy, ox), (iy, ix) = divmod(owner, JIGSAW_PIECES), divmod(into, JIGSAW_PIECES)
    cy = (oy + iy + 1) / 2 * s + (iy - oy) * TAB_OFFSET * s
    cx = (ox + ix + 1) / 2 * s + (ix - ox) * TAB_OFFSET * s
    return (coord[:, None] - cy) ** 2 + (coord[None, :] - cx) ** 2 < (TAB_RADIUS * s) ** 2


def _tile_turns(b: int) -> tuple[list[int], list[int]]:
    """For each tile, its orbit under quarter turns (0..3) and its turn index within it."""
    s = b // JIGSAW_PIECES
    tiles = _upsampled(_grid(JIGSAW_PIECES), s).flatten()
    centre = torch.arange(JIGSAW_PIECES) * s + s // 2
    anchor = (centre[:, None] * b + centre[None, :]).flatten()
    orbit, turn = [-1] * JIGSAW_PIECES**2, [0] * JIGSAW_PIECES**2
    found = 0
    for t in range(JIGSAW_PIECES**2):
        if orbit[t] >= 0:
            continue
        for q in range(4):
            u = int(tiles[_turn_dest(b, q)[anchor[t]]])
            orbit[u], turn[u] = found, q
        found += 1
    return orbit, turn


@lru_cache(maxsize=32)
def _jigsaw(n: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(dest, quarter turns per pixel): each piece moves to another of its kind (corner,
    edge or inner) by turning the whole image a number of quarters about its centre."""
    k = n // size
    labels = _upsampled(_jigsaw_tiles(size), k).flatten()
    orbit, turn = _tile_turns(size)
    g = torch.Generator().manual_seed(int(seed))
    perms = [torch.randperm(4, generator=g) for _ in range(4)]
    quarters = torch.tensor([(int(perms[orbit[t]][turn[t]]) - turn[t]) % 4
                             for t in range(JIGSAW_PIECES**2)])[labels]
    dest = torch.empty(n * n, dtype=torch.int64)
    for q in range(4):
        moved = quarters == q
        dest[moved] = _turn_dest(n, q)[moved]
    return dest, quarters.view(n, n)


@lru_cache(maxsize=32)
def _inner_circle(n: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    disk = _upsampled(_centre_disk(size, CIRCLE_RADIUS * size), n // size).flatten()
    dest = torch.where(disk, _turn_dest(n, 2), torch.arange(n * n))
    return dest, disk.view(n, n)


def _hinge_squares(n: int, size: int) -> list[tuple[int, int, int, int]]:
    """(y0, x0, side, quarter) of each of the 3 x 3 squares, centred; the rest stays."""
    k, side = n // size, size // 3
    offset = k * ((size - 3 * side) // 2)
    return [(offset + i * k * side, offset + j * k * side, k * side, 1 if (i + j) % 2 else -1)
            for i in range(3) for j in range(3)]


@lru_cache(maxsize=32)
def _square_hinge(n: int, size: int) -> torch.Tensor:
    src = _grid(n).clone()
    for y0, x0, side, quarter in _hinge_squares(n, size):
        block = src[y0:y0 + side, x0:x0 + side]
        src[y0:y0 + side, x0:x0 + side] = torch.rot90(block.clone(), quarter, (0, 1))
    return src.flatten()


def _skew_shift(x: int, size: int) -> int:
    return round(SKEW * (x + 0.5 - size / 2))


@lru_cache(maxsize=32)
def _skew(n: int, size: int) -> torch.Tensor:
    k = n // size
    disk = _upsampled(_centre_disk(size, CIRCLE_RADIUS * size), k)
    src = _grid(n).clone()
    for x in range(n):
        rows = torch.nonzero(disk[:, x]).flatten()
        if len(rows):
            shift = k * _skew_shift(x // k, size)
            src[rows, x] = src[torch.roll(rows, shift), x]
    return src.flatten()


@lru_cache(maxsize=32)
def _patches(n: int, seed: int, size: int) -> torch.Tensor:
    """Patches of side n / 8 (the same 8 x 8 patches at every scale of `size`)."""
    p = n // PATCHES
    order = _seeded_perm(PATCHES * PATCHES, seed)  # output patch i shows input patch order[i]
    tiles = _grid(n).view(PATCHES, p, PATCHES, p).permute(0, 2, 1, 3).reshape(-1, p, p)
    return tiles[order].view(PATCHES, PATCHES, p, p).permute(0, 2, 1, 3).flatten()


@lru_cache(maxsize=32)
def _pixels(n: int, size: int, seed: int) -> torch.Tensor:
    k = n // size
    base = _seeded_perm(size * size, seed)  # out pixel q of the small image is in pixel base[q]
    y, x = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    sy, sx = base[(y // k) * size + x // k] // size, base[(y // k) * size + x // k] % size
    return ((sy * k + y % k) * n + sx * k + x % k).flatten()


# --- motions for the animations ------------------------------------------------------------------

def _still(n: int) -> torch.Tensor:
    m = torch.zeros(5, n, n, dtype=torch.float64)
    c = (n - 1) / 2
    m[1], m[2] = c, c
    return m


def _shift_motion(src: torch.Tensor, n: int) -> torch.Tensor:
    dest = invert(src)
    m = _still(n)
    p = torch.arange(n * n)
    m[3] = ((dest // n) - (p // n)).view(n, n).double()
    m[4] = ((dest % n) - (p % n)).view(n, n).double()
    return m


# --- building the views --------------------------------------------------------------------------

def _from_sources(name: str, sources: Callable[[int], torch.Tensor], motion: Motion,
                  description: str, seed: int | None, size: int | None) -> View:
    def apply(x: torch.Tensor) -> torch.Tensor:
        return _gather(x, sources(_need_square(x, name)))

    def inverse(x: torch.Tensor) -> torch.Tensor:
        return _gather(x, _inverse_of(sources, _need_square(x, name)))

    return View(name, apply, inverse, description=description, seed=seed, size=size,
                source=sources, motion_of=motion)


def _inverse_of(sources: Callable[[int], torch.Tensor], n: int) -> torch.Tensor:
    return invert(sources(n))


def _check_size(name: str, size: int) -> None:
    """Refuses, with the reason, a size the view cannot cut up."""
    need = {"jigsaw": JIGSAW_PIECES, "patches": PATCHES}.get(name)
    if need and size % need:
        what = {"jigsaw": f"{need} x {need} pieces", "patches": f"{need} x {need} patches"}[name]
        raise EngineError(f"the {name} view cuts the image into {what}, so it needs a size "
                          f"that divides by {need}; this model's images are {size} px")
    if size < 6:
        raise EngineError(f"the {name} view needs images of at least 6 px, not {size} px")


def permutation_view(name: str, size: int | None = None, seed: int = 0) -> View:
    """One of the paper's permutations, defined at side `size` (None: the image's own)."""
    if size is not None:
        _check_size(name, size)

    def base(n: int) -> int:
        b = n if size is None else size
        _check_size(name, b)
        _scale(n, size, name)
        return b

    seeded = name in ("jigsaw", "patches", "pixels")
    makers: dict[str, tuple[Callable[[int], torch.Tensor], Motion, str]] = {
        "jigsaw": (lambda n: invert(_jigsaw(n, base(n), seed)[0]),
                   lambda n: _turn_motion(n, _jigsaw(n, base(n), seed)[1]),
                   "jigsaw: 4 × 4 pieces trade places"),
        "patches": (lambda n: _patches(n, seed, base(n)),
                    lambda n: _shift_motion(_patches(n, seed, base(n)), n),
                    "8 × 8 patches shuffled"),
        "pixels": (lambda n: _pixels(n, base(n), seed),
                   lambda n: _shift_motion(_pixels(n, base(n), seed), n),
                   "every pixel shuffled"),
        "inner-circle": (lambda n: invert(_inner_circle(n, base(n))[0]),
                         lambda n: _turn_motion(n, 2 * _inner_circle(n, base(n))[1].long()),
                         "the inner circle turned half round"),
        "square-hinge": (lambda n: _square_hinge(n, base(n)),
                         lambda n: _hinge_motion(n, base(n)),
                         "3 × 3 squares each turned a quarter"),
        "skew": (lambda n: _skew(n, base(n)), lambda n: _shift_motion(_skew(n, base(n)), n),
                 "the inner circle's columns rolled"),
    }
    if name not in makers:
        raise EngineError(f"unknown permutation {name!r}")
    sources, motion, text = makers[name]
    return _from_sources(name, sources, motion, text, seed if seeded else None, size)


def _turn_motion(n: int, quarters: torch.Tensor) -> torch.Tensor:
    m = _still(n)
    m[0] = 90.0 * quarters.double()
    return m


def _hinge_motion(n: int, size: int) -> torch.Tensor:
    m = _still(n)
    for y0, x0, side, quarter in _hinge_squares(n, size):
        m[0, y0:y0 + side, x0:x0 + side] = 90.0 * quarter
        m[1, y0:y0 + side, x0:x0 + side] = y0 + (side - 1) / 2
        m[2, y0:y0 + side, x0:x0 + side] = x0 + (side - 1) / 2
    return m


# --- the paper's failure views: linear maps that are no permutation ------------------------------
# An anagram's views must keep i.i.d. Gaussian noise i.i.d. standard (an orthogonal map), or the
# denoiser sees noise it was never trained on. These break that on purpose, to show why.

BLUR_SIDE = 32  # the blur's σ is the side / 32 (0.875 px at 28, 2 at 64: the hybrids' default)
WIENER_FLOOR = 1e-2  # the blur's inverse: H / (H² + floor), a regularised deconvolution
WHITE_BALANCE = (1.5, 1.0, 0.6)  # gains on R, G, B
GREY_GAIN = 1.5  # a grey model's single channel
INTERP_ANGLE = 45.0  # degrees the inner circle turns by bilinear sampling

FAILURE_WHY = {
    "blur": "a Gaussian blur is linear but not orthogonal: it averages neighbours, so the noise "
            "it returns is correlated and its variance falls far below 1.",
    "white-balance": "a gain per channel is linear but not orthogonal: the noise's variance "
                     "becomes the gain squared (2.25 on red or grey, 0.36 on blue).",
    "inner-circle-interp": "turning the centre disk 45° by bilinear sampling mixes "
                           "neighbouring pixels, so inside the disk the noise's variance drops "
                           "and neighbours correlate.",
}


def _float32(x: torch.Tensor) -> torch.Tensor:
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


@lru_cache(maxsize=32)
def _blur_gain(n: int) -> torch.Tensor:
    """The Gaussian's transfer function on the n x n periodic grid (σ = n / BLUR_SIDE px)."""
    f = torch.fft.fftfreq(n, dtype=torch.float64)
    sigma = n / BLUR_SIDE
    return torch.exp(-2 * math.pi**2 * sigma**2 * (f[:, None] ** 2 + f[None, :] ** 2))


def _filter(x: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
    y = _float32(x)
    out = torch.fft.ifft2(torch.fft.fft2(y) * gain.to(y.device, y.dtype)).real
    return out.to(x.dtype)


def _blur(x: torch.Tensor) -> torch.Tensor:
    return _filter(x, _blur_gain(_need_square(x, "blur")))


def _unblur(x: torch.Tensor) -> torch.Tensor:
    h = _blur_gain(_need_square(x, "blur"))
    return _filter(x, h / (h**2 + WIENER_FLOOR))


def _gains(x: torch.Tensor) -> torch.Tensor:
    """The gains for x's channels: grey, RGB, or RGB stacks (stage II's noisy + low-res input)."""
    channels = x.shape[-3]
    if channels != 1 and channels % 3:
        raise EngineError(f"the white-balance view takes grey or RGB images, not {channels} "
                          "channels")
    g = (GREY_GAIN,) if channels == 1 else WHITE_BALANCE * (channels // 3)
    return torch.tensor(g, dtype=x.dtype, device=x.device).view(channels, 1, 1)


@lru_cache(maxsize=32)
def _rotation_grid(n: int, degrees: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(grid [1, n, n, 2] for grid_sample, disk [n, n]): the pixel each output pixel of the
    centre disk samples when the disk turns `degrees` anticlockwise as seen."""
    c = (torch.arange(n, dtype=torch.float64) + 0.5) - n / 2
    y, x = torch.meshgrid(c, c, indexing="ij")
    a = math.radians(degrees)
    # the output at (x, y) shows the input turned back: y grows downwards on screen
    sx = math.cos(a) * x - math.sin(a) * y
    sy = math.sin(a) * x + math.cos(a) * y
    grid = torch.stack([sx, sy], -1)[None] / (n / 2)
    return grid.float(), _centre_disk(n, CIRCLE_RADIUS * n)


def _turn_disk(x: torch.Tensor, degrees: float) -> torch.Tensor:
    n = _need_square(x, "inner-circle-interp")
    grid, disk = _rotation_grid(n, degrees)
    y = _float32(x)
    flat = y.reshape(-1, *y.shape[-3:])
    turned = torch.nn.functional.grid_sample(
        flat, grid.to(y.device).expand(len(flat), -1, -1, -1), mode="bilinear",
        padding_mode="border", align_corners=False).view(y.shape)
    return torch.where(disk.to(y.device), turned, y).to(x.dtype)


def failure_view(name: str) -> View:
    """One of the paper's failure views (not i.i.d.-preserving), with its approximate inverse:
    blur: a Wiener-like deconvolution (approximate); white balance: the gains' reciprocals
    (exact); inner circle by interpolation: the disk turned back, bilinear again (approximate)."""
    why = FAILURE_WHY.get(name)
    if why is None:
        raise EngineError(f"unknown failure view {name!r}")
    if name == "blur":
        return View(name, _blur, _unblur, description="Gaussian blur (a failure view)",
                    iid=False, failure=why, variance_inverse=_identity)
    if name == "white-balance":
        return View(name, lambda x: x * _gains(x), lambda x: x / _gains(x),
                    description="white balance, a gain per channel (a failure view)",
                    iid=False, failure=why, variance_inverse=_identity)
    turn_back = functools.partial(_turn_disk, degrees=-INTERP_ANGLE)
    return View(name, functools.partial(_turn_disk, degrees=INTERP_ANGLE), turn_back,
                description="inner circle turned 45° by interpolation (a failure view)",
                iid=False, failure=why, variance_inverse=turn_back)


def refuse_failure_views(views: Sequence[View], allowed: bool = False) -> None:
    """An anagram through a view that breaks i.i.d. noise is refused unless asked for
    knowingly (`allowed`), with the reason."""
    for view in views:
        if not view.iid and not allowed:
            raise EngineError(
                f"the {view.name} view is one of the paper's failure views and is refused by "
                f"default: {view.failure} Ask for it knowingly to see the anagram fail "
                "(edit anagram --allow-failure-views; in the app, the view list's failure "
                "group)")


PERMUTATIONS = ("jigsaw", "patches", "pixels", "inner-circle", "square-hinge", "skew")
SEEDED = ("jigsaw", "patches", "pixels")
FAILURES = tuple(FAILURE_WHY)

VIEWS: dict[str, View] = {
    v.name: v
    for v in (
        View("identity", _identity, _identity, description="upright"),
        View("flip", lambda x: x.flip(-2), lambda x: x.flip(-2), description="upside down"),
        View("mirror", lambda x: x.flip(-1), lambda x: x.flip(-1), description="left-right"),
        View("rot90", _rot(1), _rot(-1), description="turned 90° anticlockwise"),
        View("rot180", _rot(2), _rot(-2), description="turned 180°"),
        View("rot270", _rot(3), _rot(-3), description="turned 90° clockwise"),
        View("transpose", lambda x: x.transpose(-2, -1), lambda x: x.transpose(-2, -1),
             description="mirrored about the diagonal"),
        View("negate", lambda x: -x, lambda x: -x, negates=True, description="colours negated"),
        *(permutation_view(name) for name in PERMUTATIONS),
        *(failure_view(name) for name in FAILURES),
    )
}
VIEW_NAMES: tuple[str, ...] = tuple(name for name in VIEWS if name != "identity")


def get_view(name: str, symmetric_range: bool = True, *, size: int | None = None,
             seed: int = 0) -> View:
    """The view called `name`; negation needs a data range symmetric about 0. With `size`
    (the model's), a permutation is defined on that size and refused, with the reason, where it
    cannot cut that size up; `seed` draws the seeded permutations (jigsaw, patches, pixels)."""
    if name not in VIEWS:
        raise EngineError(f"unknown view {name!r}; choose from {', '.join(VIEWS)}")
    view = VIEWS[name]
    if view.negates and not symmetric_range:
        raise EngineError(
            "the negate view needs a model whose data range is symmetric about 0 "
            "(such as IF's [-1, 1]); this model's images are in [0, 1]"
        )
    if name in PERMUTATIONS and (size is not None or seed != 0):
        return permutation_view(name, size, seed)
    return view


def views_for(names: list[str], size: int, symmetric_range: bool, seed: int = 0) -> list[View]:
    """The identity and then each named view, at the model's size: an anagram's views. A view
    named twice, or the identity, would ask one image to look like two prompts the same way."""
    for i, name in enumerate(names):
        if name == "identity":
            raise EngineError("the identity view is the upright image, already the first "
                              "prompt's: choose another view")
        if name in names[:i]:
            raise EngineError(f"the {name} view is named twice: each prompt after the first "
                              "needs a view of its own")
    return [VIEWS["identity"]] + [get_view(n, symmetric_range, size=size, seed=seed)
                                  for n in names]
