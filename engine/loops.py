"""The diffusion loops of SPEC.md Part A as generators of step records.

A loop yields one StepRecord per step, so a caller can preview any step and stop at any step:
closing the generator (or dropping it) ends the loop at once. Every random draw comes from the
torch.Generator passed in. Loops work in float32 in the model's data range.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch

from engine.filters import gaussian_blur
from engine.models.base import DiffusionModel, Prediction
from engine.schedules import NoiseSchedule, noise_std, step_coefficients
from engine.steps import StepRecord

# (x_t, t) -> ε (and v); built by the estimator functions below
Estimator = Callable[[torch.Tensor, int], Prediction]
# called after each update with (x_t', index of t', generator); returns the x_t' to keep
AfterStep = Callable[[torch.Tensor, int, torch.Generator], torch.Tensor]


class SeedBatch:
    """One generator per image of a batch: image i of a batch seeded s is drawn exactly as a
    batch of one seeded s + i, so any result of a batch can be made again alone."""

    def __init__(self, seed: int, count: int, device: torch.device | str = "cpu") -> None:
        self.seeds = [int(seed) + i for i in range(max(int(count), 1))]
        self.generators = [torch.Generator(device=device).manual_seed(s) for s in self.seeds]
        self.device = self.generators[0].device


def generator_for(model: DiffusionModel, seed: int, count: int = 1) -> SeedBatch:
    """The noise of a run of `count` images: image i draws from seed + i, so each result of a
    batch can be made again alone (with `count` 1 it is the plain generator seeded `seed`).
    Drawn on the model's GPU when it is a CUDA one, else on the CPU."""
    device = model.device if model.device.type == "cuda" else torch.device("cpu")
    return SeedBatch(seed, count, device)


def randn(shape: Sequence[int], generator: torch.Generator | SeedBatch) -> torch.Tensor:
    """Standard normal noise, always drawn in float32 so a seed gives the same bits in any dtype.
    A `SeedBatch` whose size is the batch's draws each image from its own generator."""
    if isinstance(generator, SeedBatch):
        gens = generator.generators
        if shape[0] != len(gens):  # not one image per seed (a stacked batch): the first draws all
            return randn(shape, gens[0])
        return torch.cat([randn((1, *shape[1:]), g) for g in gens])
    return torch.randn(tuple(shape), generator=generator, device=generator.device,
                       dtype=torch.float32)


def forward(x0: torch.Tensor, t: int, schedule: NoiseSchedule, generator: torch.Generator,
            noise: torch.Tensor | None = None) -> torch.Tensor:
    """A-1.1: x_t = sqrt(ᾱ_t) x_0 + sqrt(1 - ᾱ_t) ε."""
    abar = schedule.abar(t)
    eps = randn(x0.shape, generator) if noise is None else noise
    return abar**0.5 * x0 + (1 - abar) ** 0.5 * eps.to(x0.device)


def x0_from_eps(x_t: torch.Tensor, eps: torch.Tensor, abar: float) -> torch.Tensor:
    """A-1.3: x̂_0 = (x_t - sqrt(1 - ᾱ_t) ε) / sqrt(ᾱ_t)."""
    return (x_t - (1 - abar) ** 0.5 * eps) / abar**0.5


def forward_process(x0: torch.Tensor, timesteps: Sequence[int], schedule: NoiseSchedule,
                    generator: torch.Generator) -> Iterator[StepRecord]:
    """x_t for each t in turn (the figure of A-1.1), each with fresh noise."""
    for i, t in enumerate(timesteps):
        yield StepRecord(i, t, forward(x0, t, schedule, generator), None, i + 1, len(timesteps))


def blur_baseline(x0: torch.Tensor, timesteps: Sequence[int], schedule: NoiseSchedule,
                  generator: torch.Generator, kernel_size: int | None = None,
                  sigma: float | None = None) -> Iterator[StepRecord]:
    """A-1.2: the classical baseline; x0_hat holds the Gaussian blur of each noisy image."""
    for record in forward_process(x0, timesteps, schedule, generator):
        record.x0_hat = gaussian_blur(record.x_t, kernel_size, sigma)
        yield record


def one_step(estimate: Estimator, x_t: torch.Tensor, t: int, schedule: NoiseSchedule
             ) -> StepRecord:
    """A-1.3: the clean image estimated in a single model call."""
    eps = estimate(x_t, t).eps
    return StepRecord(0, t, x_t, x0_from_eps(x_t, eps, schedule.abar(t)), 1, 1)


def denoise_step(x_t: torch.Tensor, prediction: Prediction, t: int, t_prev: int,
                 schedule: NoiseSchedule, generator: torch.Generator, add_noise: bool = True
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """A-1.4: one update from t to t' < t; returns (x_t', x̂_0)."""
    c = step_coefficients(schedule.abar(t), schedule.abar(t_prev))
    x0_hat = schedule.limit_x0(x0_from_eps(x_t, prediction.eps, c.abar_t))
    x_prev = c.coef_x0 * x0_hat + c.coef_xt * x_t
    if add_noise:
        std = noise_std(c, schedule.variance_rule, prediction.variance)
        x_prev = x_prev + std * randn(x_t.shape, generator).to(x_t.device)
    return x_prev, x0_hat


def iterative_denoise(estimate: Estimator, x: torch.Tensor, timesteps: Sequence[int],
                      schedule: NoiseSchedule, generator: torch.Generator, i_start: int = 0,
                      after_step: AfterStep | None = None, jump_length: int = 1,
                      repeats: int = 1) -> Iterator[StepRecord]:
    """A-1.4 to A-1.6: denoise x (at timesteps[i_start]) down to timesteps[-1].

    The update that lands on the last timestep adds no noise (B-2.3: z = 0 at the last step).
    With repeats > 1 the path goes back `jump_length` steps now and then and re-noises (RePaint).
    """
    check_start(i_start, timesteps)
    last = len(timesteps) - 1
    path = repaint_path(i_start, last, jump_length, repeats)
    total = len(path) - 1
    for step, (i, j) in enumerate(zip(path, path[1:]), start=1):
        x0_hat = None
        if j > i:
            x, x0_hat = denoise_step(x, estimate(x, timesteps[i]), timesteps[i], timesteps[j],
                                     schedule, generator, add_noise=j < last)
            if after_step is not None:
                x = after_step(x, j, generator)
        else:
            x = renoise(x, timesteps[i], timesteps[j], schedule, generator)
        yield StepRecord(j, timesteps[j], x, x0_hat, step, total)


def repaint_path(i_start: int, last: int, jump_length: int = 1, repeats: int = 1) -> list[int]:
    """Indices into the strided list that the loop visits, RePaint's way.

    Each time the path reaches a multiple of jump_length it goes back jump_length steps, until
    that point has been passed `repeats` times. repeats = 1 is the plain walk i_start ... last.
    """
    if jump_length < 1 or repeats < 1:
        raise ValueError("jump length and repeats must be at least 1")
    visits: dict[int, int] = {}
    path, i = [i_start], i_start
    while i < last:
        i += 1
        path.append(i)
        visits[i] = visits.get(i, 0) + 1
        if i < last and i % jump_length == 0 and i - jump_length >= i_start \
                and visits[i] < repeats:
            i -= jump_length
            path.append(i)
    return path


def renoise(x: torch.Tensor, t: int, t_back: int, schedule: NoiseSchedule,
            generator: torch.Generator) -> torch.Tensor:
    """q(x_t_back | x_t) for t_back > t: go back up the chain with fresh noise."""
    ratio = schedule.abar(t_back) / schedule.abar(t)
    return ratio**0.5 * x + (1 - ratio) ** 0.5 * randn(x.shape, generator).to(x.device)


def check_start(i_start: int, timesteps: Sequence[int]) -> None:
    if not 0 <= i_start < len(timesteps) - 1:
        raise ValueError(
            f"i_start must be between 0 and {len(timesteps) - 2} for {len(timesteps)} timesteps"
        )


def final(records: Iterator[StepRecord]) -> StepRecord:
    """Run a loop to its end and return its last record."""
    last = None
    for last in records:  # noqa: B007
        pass
    if last is None:
        raise ValueError("the loop made no step")
    return last


# --- estimators: how ε is made from the model at each step -------------------------------------


def _timestep_batch(t: int, n: int, device: torch.device) -> torch.Tensor:
    return torch.full((n,), int(t), dtype=torch.long, device=device)


def _repeat_to(cond: torch.Tensor | None, n: int) -> torch.Tensor | None:
    if cond is None or cond.shape[0] == n:
        return cond
    if cond.shape[0] != 1:
        raise ValueError(f"conditioning for {cond.shape[0]} items cannot serve a batch of {n}")
    return cond.expand(n, *cond.shape[1:])


def conditional(model: DiffusionModel, cond: torch.Tensor | None) -> Estimator:
    """ε from one conditioning (or none, for an unconditional model), without guidance."""

    def estimate(x: torch.Tensor, t: int) -> Prediction:
        n = x.shape[0]
        return model.predict(x, _timestep_batch(t, n, x.device), _repeat_to(cond, n))

    return estimate


def guided_batch(model: DiffusionModel, xs: torch.Tensor, t: int, cond: torch.Tensor,
                 uncond: torch.Tensor, guidance: float) -> Prediction:
    """A-1.6 CFG: ε = ε_u + γ (ε_c - ε_u), both estimates in ONE model batch.

    The conditional variance feeds v_σ.
    """
    n = xs.shape[0]
    cond, uncond = _repeat_to(cond, n), _repeat_to(uncond, n)
    both = model.predict(torch.cat([xs, xs]), _timestep_batch(t, 2 * n, xs.device),
                         torch.cat([cond, uncond]))
    eps_c, eps_u = both.eps.chunk(2)
    variance = None if both.variance is None else both.variance[:n]
    return Prediction(eps_u + guidance * (eps_c - eps_u), variance)


def guided(model: DiffusionModel, cond: torch.Tensor, uncond: torch.Tensor, guidance: float
           ) -> Estimator:
    return lambda x, t: guided_batch(model, x, t, cond, uncond, guidance)


def estimator_for(model: DiffusionModel, cond: torch.Tensor | None, uncond: torch.Tensor | None,
                  guidance: float) -> Estimator:
    """CFG where it applies; a plain estimate for unconditional models or γ = 1."""
    if cond is None or uncond is None or guidance == 1.0:
        return conditional(model, cond)
    return guided(model, cond, uncond, guidance)
