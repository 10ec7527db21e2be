"""Whether an illusion works: the Visual Anagrams metrics, with a classifier in CLIP's place.

For an illusion seen through N views with N prompts, S[i][j] is the classifier's probability of
prompt j in view i. Alignment A = min_i S[i][i]: the worst view's reading of its own prompt.
Concealment C = mean_i softmax_j(log S[i][j])[i], the diagonal once each view's scores are
renormalised over the illusion's prompts alone: near 1 when each view shows its prompt and hides
the others, 1/N when the views cannot be told apart. The naive baseline is the same views on a
blend of independent samples, one per prompt, each put where its view would see it upright.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from engine.views import View

Classifier = Callable[[torch.Tensor], torch.Tensor]  # images -> logits [N, classes]


@dataclass(frozen=True)
class Scores:
    """Per illusion: S [B, N, N], alignment [B], concealment [B]."""

    matrix: torch.Tensor
    alignment: torch.Tensor
    concealment: torch.Tensor


def score_matrix(logits_of: Classifier, x: torch.Tensor, views: Sequence[View],
                 classes: Sequence[int]) -> torch.Tensor:
    """S [B, N, N]: S[b, i, j] = p(class of prompt j | view i of image b)."""
    if len(views) != len(classes):
        raise ValueError("one prompt class for each view")
    rows = []
    for view in views:
        probs = torch.softmax(logits_of(view.apply(x)).float(), dim=-1)
        rows.append(probs[:, list(classes)])
    return torch.stack(rows, dim=1)


def alignment(matrix: torch.Tensor) -> torch.Tensor:
    return torch.diagonal(matrix, dim1=-2, dim2=-1).min(-1).values


def concealment(matrix: torch.Tensor) -> torch.Tensor:
    eps = torch.finfo(matrix.dtype).tiny
    normalised = torch.softmax(torch.log(matrix.clamp_min(eps)), dim=-1)
    return torch.diagonal(normalised, dim1=-2, dim2=-1).mean(-1)


def score(logits_of: Classifier, x: torch.Tensor, views: Sequence[View],
          classes: Sequence[int]) -> Scores:
    matrix = score_matrix(logits_of, x, views, classes)
    return Scores(matrix, alignment(matrix), concealment(matrix))


def blend(samples: Sequence[torch.Tensor], views: Sequence[View]) -> torch.Tensor:
    """The naive baseline: sample j (drawn for prompt j alone) turned by view j's inverse, so
    that view j sees it upright, and the N of them averaged."""
    return torch.stack([v.inverse(s) for v, s in zip(views, samples)]).mean(0)


def summary(values: torch.Tensor) -> dict[str, float]:
    """Mean and the 90th and 95th percentiles (the paper reports the upper tail too)."""
    v = values.double().flatten()
    return {"mean": float(v.mean()), "p90": float(torch.quantile(v, 0.90)),
            "p95": float(torch.quantile(v, 0.95))}
