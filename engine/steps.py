"""What a loop yields: one record per step (engine/loops.py makes them; an upscaler's run too).

Its own module, below both the loops and the model interface, so that the interface can name it
without importing the loops (issue 13: the loops <-> models/base cycle).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class StepRecord:
    """One step: x_t at timesteps[index], and the x̂_0 the model estimated on the way there."""

    index: int
    t: int
    x_t: torch.Tensor
    x0_hat: torch.Tensor | None
    step: int = 0  # 1-based count of the updates made so far
    total: int = 0  # the number of updates this loop makes
