"""The noise explorer's numbers (SPEC.md A-1.1 to A-1.4 at one t): no Qt here.

For one clean image x_0 and a fixed noise ε, `Explorer` gives, at any t:
- x_t (A-1.1), with the same ε at every t, so moving t changes the noise level only;
- the Gaussian blur of x_t (A-1.2);
- the one-step estimate x̂_0 = (x_t - sqrt(1 - ᾱ_t) ε_θ) / sqrt(ᾱ_t) (A-1.3);
- the iterative result (A-1.4): x_0 noised (same ε) to the strided timestep nearest t, then
  denoised down the strided list. `iterative_steps` yields after each update so a caller can
  give up as soon as the request is out of date.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from engine import edits
from engine.filters import gaussian_blur
from engine.loops import (
    Estimator,
    estimator_for,
    forward,
    iterative_denoise,
    randn,
    x0_from_eps,
)
from engine.models.base import DiffusionModel, Prediction

COURSE_T = 1000
COURSE_FIGURE_TS = (250, 500, 750)  # show these noise levels


def figure_timesteps(top: int, course: tuple[int, ...] = COURSE_FIGURE_TS,
                     num_timesteps: int | None = None) -> list[int]:
    """The course's t = 250, 500, 750 of its T = 1000 scaled to a model of `num_timesteps`
    (by `top` where not given), none above its largest t `top`: IF (T = 1000, strided from
    990) keeps the course's own 250, 500, 750."""
    scale = num_timesteps if num_timesteps else top
    return [max(1, min(top, round(t * scale / COURSE_T))) for t in course]


def nearest_index(timesteps: list[int], t: int) -> int:
    """The index of the strided timestep nearest t, never the last one (0: nothing to do)."""
    best = min(range(len(timesteps)), key=lambda i: (abs(timesteps[i] - t), i))
    return min(best, len(timesteps) - 2)


@dataclass
class Columns:
    """What the explorer shows at one t; tensors are [1, C, H, W] in the model's range."""

    t: int
    x_t: torch.Tensor
    blurred: torch.Tensor
    one_step: torch.Tensor
    iterative: torch.Tensor | None = None
    iterative_from: int | None = None  # the strided timestep the iterative column starts at


class Explorer:
    """The four columns for an image `x0` ([1, C, H, W], model range) under a fixed noise."""

    def __init__(self, model: DiffusionModel, x0: torch.Tensor, prompt: str | None = None,
                 guidance: float = 1.0, noise_seed: int = 0, steps: int | None = None) -> None:
        self.model = model
        self.x0 = x0.to(model.device, torch.float32)
        self.noise_seed = noise_seed
        generator = torch.Generator(device="cpu").manual_seed(noise_seed)
        self.noise = randn(self.x0.shape, generator).to(model.device)
        self.timesteps = model.schedule.timesteps(steps)
        self.prompt = edits.resolve_prompt(model, prompt)
        self.guidance = float(guidance)
        self._estimate: Estimator | None = None
        self._lock = threading.Lock()

    def estimate(self, x: torch.Tensor, t: int) -> Prediction:
        """The model's estimate; the prompt is encoded on first use, on the caller's thread
        (a text encoder's first load can take a minute: not on the GUI thread)."""
        with self._lock:
            if self._estimate is None:
                cond, uncond = edits.conditioning(self.model, [self.prompt])
                self._estimate = estimator_for(self.model, cond, uncond, self.guidance)
        return self._estimate(x, t)

    @property
    def top(self) -> int:
        return int(self.model.schedule.top)

    @property
    def num_timesteps(self) -> int:
        """The model's T (IF 1000, the digit models 300); `top` can be below it (IF: 990)."""
        return int(self.model.schedule.num_train_timesteps)

    def figure_timesteps(self) -> list[int]:
        """The course figure's rows for this model (see `figure_timesteps`)."""
        return figure_timesteps(self.top, num_timesteps=self.num_timesteps)

    def clamp_t(self, t: int) -> int:
        return max(1, min(self.top, int(t)))

    def noisy(self, t: int) -> torch.Tensor:
        return forward(self.x0, self.clamp_t(t), self.model.schedule, None, noise=self.noise)

    @torch.no_grad()
    def fast(self, t: int) -> Columns:
        """x_t, its blur and the one-step estimate (one model call)."""
        t = self.clamp_t(t)
        x_t = self.noisy(t)
        eps = self.estimate(x_t, t).eps
        one = x0_from_eps(x_t, eps, self.model.schedule.abar(t))
        return Columns(t, x_t, gaussian_blur(x_t), one)

    @torch.no_grad()
    def iterative_steps(self, t: int) -> Iterator[torch.Tensor]:
        """The iterative column from the strided timestep nearest t: x after every update."""
        i = nearest_index(self.timesteps, self.clamp_t(t))
        x = forward(self.x0, self.timesteps[i], self.model.schedule, None, noise=self.noise)
        generator = torch.Generator(device=self.model.device).manual_seed(self.noise_seed + 1)
        for record in iterative_denoise(self.estimate, x, self.timesteps, self.model.schedule,
                                        generator, i_start=i):
            yield record.x_t

    def iterative_start(self, t: int) -> int:
        return self.timesteps[nearest_index(self.timesteps, self.clamp_t(t))]

    def iterative(self, t: int) -> torch.Tensor:
        last = self.x0
        for last in self.iterative_steps(t):  # noqa: B007
            pass
        return last

    def columns(self, t: int) -> Columns:
        """All four columns at t."""
        cols = self.fast(t)
        cols.iterative = self.iterative(t)
        cols.iterative_from = self.iterative_start(t)
        return cols
