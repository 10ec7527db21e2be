"""Views for visual anagrams: orthogonal maps of the image that keep Gaussian noise Gaussian.

Each view has an inverse. The model's predicted variance moves with the pixels (the view's
permutation part) but is never negated, since a variance is not a signed quantity.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from engine.errors import EngineError

Transform = Callable[[torch.Tensor], torch.Tensor]


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


@dataclass(frozen=True)
class View:
    name: str
    apply: Transform
    inverse: Transform
    negates: bool = False
    description: str = ""

    def inverse_variance(self, v: torch.Tensor) -> torch.Tensor:
        """The inverse's permutation only: a variance is moved, never negated."""
        return -self.inverse(v) if self.negates else self.inverse(v)


def _rot(k: int) -> Transform:
    return lambda x: torch.rot90(x, k, dims=(-2, -1))


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
    )
}


def get_view(name: str, symmetric_range: bool = True) -> View:
    """The view called `name`; negation needs a data range symmetric about 0."""
    if name not in VIEWS:
        raise EngineError(f"unknown view {name!r}; choose from {', '.join(VIEWS)}")
    view = VIEWS[name]
    if view.negates and not symmetric_range:
        raise EngineError(
            "the negate view needs a model whose data range is symmetric about 0 "
            "(such as IF's [-1, 1]); this model's images are in [0, 1]"
        )
    return view
