"""A model whose ε is exact: data drawn from a Gaussian per prompt.

For x_0 ~ N(μ_c, s²) per pixel, x_t ~ N(sqrt(ᾱ) μ_c, ᾱ s² + 1 - ᾱ), and the optimal noise
estimate is E[ε | x_t] = sqrt(1 - ᾱ) (x_t - sqrt(ᾱ) μ_c) / (ᾱ s² + 1 - ᾱ). Samplers run with it
must reproduce N(μ_c, s²): this makes the loops testable without a trained network.
"""

from __future__ import annotations

import torch

from engine.models.base import DiffusionModel, Prediction
from engine.schedules import NoiseSchedule


class GaussianModel(DiffusionModel):
    """Prompts are names of means; '' is the unconditional one (its own Gaussian)."""

    def __init__(self, means: dict[str, float], std: float, schedule: NoiseSchedule,
                 image_size: int = 8, channels: int = 1, variance_output: float | None = None,
                 data_range: tuple[float, float] = (-1.0, 1.0)) -> None:
        self.name = "gaussian"
        self.means = dict(means)
        self.std = std
        self.schedule = schedule
        self.image_size = image_size
        self.channels = channels
        self.data_range = data_range
        self.variance_output = variance_output
        self.default_prompt = next(p for p in self.means if p)
        self.default_guidance = 1.0
        self.calls: list[int] = []  # batch size of each predict call

    def prompt_choices(self) -> list[str]:
        return list(self.means)

    def encode(self, prompts: list[str]) -> torch.Tensor:
        return torch.tensor([[self.means[p]] for p in prompts], dtype=torch.float32)

    def predict(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None
                ) -> Prediction:
        self.calls.append(x_t.shape[0])
        abar = self.schedule.table[t.cpu()].to(x_t.dtype).view(-1, 1, 1, 1)
        mu = cond.to(x_t.dtype).view(-1, 1, 1, 1)
        eps = (1 - abar).sqrt() * (x_t - abar.sqrt() * mu) / (abar * self.std**2 + 1 - abar)
        variance = None
        if self.variance_output is not None:
            variance = torch.full_like(x_t, self.variance_output)
        return Prediction(eps, variance)
