"""The edits of SPEC.md built on the loops: sampling, SDEdit, inpainting, image-to-image,
visual anagrams and hybrid images. Each returns a generator of step records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch

from engine.errors import EmptyMaskError, EngineError, PromptError
from engine.filters import blur_params, colour_part, grey_part, highpass, lowpass
from engine.loops import (
    Estimator,
    StepRecord,
    check_start,
    estimator_for,
    forward,
    guided_batch,
    iterative_denoise,
    randn,
)
from engine.models.base import DiffusionModel, Prediction
from engine.views import View, refuse_failure_views

Part = Callable[[torch.Tensor], torch.Tensor]


def encode(model: DiffusionModel, prompts: Sequence[str]) -> torch.Tensor | None:
    for prompt in prompts:
        model.check_prompt(prompt)
    return model.encode(list(prompts))


def conditioning(model: DiffusionModel, prompts: Sequence[str]
                 ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(cond, uncond) for the prompts; (None, None) for an unconditional model."""
    if not model.conditional:
        for prompt in prompts:
            model.check_prompt(prompt)
        return None, None
    return encode(model, prompts), model.encode([model.unconditional_prompt])


def resolve_prompt(model: DiffusionModel, prompt: str | None) -> str:
    if prompt is None:
        return model.default_prompt if model.conditional else ""
    return prompt


def resolve_guidance(model: DiffusionModel, guidance: float | None) -> float:
    return model.default_guidance if guidance is None else float(guidance)


def start_from(model: DiffusionModel, timesteps: Sequence[int], i_start: int,
               generator: torch.Generator, image: torch.Tensor | None, batch: int
               ) -> torch.Tensor:
    """Pure noise, or the image noised to timesteps[i_start] (the start of SDEdit)."""
    check_start(i_start, timesteps)
    if image is None:
        shape = (batch, model.channels, model.image_size, model.image_size)
        return randn(shape, generator).to(model.device)
    image = image.to(model.device, torch.float32)
    if image.shape[0] == 1 and batch > 1:
        image = image.expand(batch, *image.shape[1:])
    return forward(image, timesteps[i_start], model.schedule, generator)


def sample(model: DiffusionModel, prompts: Sequence[str], generator: torch.Generator,
           guidance: float | None = None, steps: int | None = None) -> Iterator[StepRecord]:
    """A-1.5/1.6, B-2.3/2.5: one image per prompt from pure noise."""
    timesteps = model.schedule.timesteps(steps)
    cond, uncond = conditioning(model, prompts)
    estimate = estimator_for(model, cond, uncond, resolve_guidance(model, guidance))
    x = start_from(model, timesteps, 0, generator, None, len(prompts))
    return iterative_denoise(estimate, x, timesteps, model.schedule, generator)


def sdedit(model: DiffusionModel, image: torch.Tensor, i_start: int, generator: torch.Generator,
           prompt: str | None = None, guidance: float | None = None, steps: int | None = None
           ) -> Iterator[StepRecord]:
    """A-1.7 (default prompt) and A-1.7.3 (a prompt the user names): noise, then CFG back."""
    timesteps = model.schedule.timesteps(steps)
    cond, uncond = conditioning(model, [resolve_prompt(model, prompt)])
    estimate = estimator_for(model, cond, uncond, resolve_guidance(model, guidance))
    x = start_from(model, timesteps, i_start, generator, image, image.shape[0])
    return iterative_denoise(estimate, x, timesteps, model.schedule, generator, i_start)


def inpaint(model: DiffusionModel, image: torch.Tensor, mask: torch.Tensor,
            generator: torch.Generator, prompt: str | None = None, guidance: float | None = None,
            steps: int | None = None, i_start: int = 0, jump_length: int = 1, repeats: int = 1
            ) -> Iterator[StepRecord]:
    """A-1.7.2: after every step x ← m·x + (1 - m)·forward(x_orig, t'); m = 1 where new.

    The last strided timestep is not exactly clean (IF: ᾱ_0 = 0.99996), so the final step pastes
    the known region itself: unmasked pixels come back exactly. A soft mask blends linearly.
    """
    mask = mask.to(model.device, torch.float32)
    if float(mask.max()) <= 0:
        raise EmptyMaskError()
    timesteps = model.schedule.timesteps(steps)
    image = image.to(model.device, torch.float32)
    last = len(timesteps) - 1

    def keep_known(x: torch.Tensor, index: int, gen: torch.Generator) -> torch.Tensor:
        known = image if index == last else forward(image, timesteps[index], model.schedule, gen)
        return mask * x + (1 - mask) * known

    cond, uncond = conditioning(model, [resolve_prompt(model, prompt)])
    estimate = estimator_for(model, cond, uncond, resolve_guidance(model, guidance))
    x = start_from(model, timesteps, i_start, generator, image, image.shape[0])
    return iterative_denoise(estimate, x, timesteps, model.schedule, generator, i_start,
                             keep_known, jump_length, repeats)


def _multi_conditioning(model: DiffusionModel, prompts: Sequence[str], what: str
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    cond, uncond = conditioning(model, prompts)
    if cond is None or uncond is None:
        raise PromptError(f"{what} needs a model that takes prompts; {model.name} takes none")
    return cond, uncond


def _stacked_estimate(model: DiffusionModel, xs: torch.Tensor, t: int, conds: torch.Tensor,
                      uncond: torch.Tensor, guidance: float, k: int) -> list[Prediction]:
    """k stacked inputs (each a batch of n), one model batch; returns k predictions."""
    n = xs.shape[0] // k
    cond = conds.repeat_interleave(n, dim=0)
    pred = guided_batch(model, xs, t, cond, uncond, guidance)
    variances = [None] * k if pred.variance is None else list(pred.variance.chunk(k))
    return [Prediction(e, v) for e, v in zip(pred.eps.chunk(k), variances)]


def _mean(tensors: list[torch.Tensor | None]) -> torch.Tensor | None:
    if any(v is None for v in tensors):
        return None
    return torch.stack(tensors).mean(0)


def anagram_estimator(model: DiffusionModel, conds: torch.Tensor, uncond: torch.Tensor,
                      views: Sequence[View], guidance: float) -> Estimator:
    """A-1.8: ε = mean_i view_i⁻¹(ε_i(view_i(x_t))), each with CFG, all in ONE batch."""

    def estimate(x: torch.Tensor, t: int) -> Prediction:
        xs = torch.cat([view.apply(x) for view in views])
        preds = _stacked_estimate(model, xs, t, conds, uncond, guidance, len(views))
        eps = _mean([view.inverse(p.eps) for view, p in zip(views, preds)])
        variance = _mean([None if p.variance is None else view.inverse_variance(p.variance)
                          for view, p in zip(views, preds)])
        return Prediction(eps, variance)

    return estimate


def anagram(model: DiffusionModel, prompts: Sequence[str], views: Sequence[View],
            generator: torch.Generator, guidance: float | None = None, steps: int | None = None,
            image: torch.Tensor | None = None, i_start: int = 0, batch: int = 1,
            allow_failure_views: bool = False) -> Iterator[StepRecord]:
    """Visual anagrams over N prompts and N views (views[0] is usually the identity). A view
    that breaks i.i.d. noise (the paper's failure views) runs only with `allow_failure_views`."""
    if len(prompts) != len(views) or len(prompts) < 2:
        raise EngineError("an anagram needs as many views as prompts, and at least two")
    refuse_failure_views(views, allow_failure_views)
    for view in views:
        if view.negates and not model.symmetric_range:
            raise EngineError(f"the {view.name} view needs a data range symmetric about 0")
    cond, uncond = _multi_conditioning(model, prompts, "a visual anagram")
    estimate = anagram_estimator(model, cond, uncond, views, resolve_guidance(model, guidance))
    return _denoise_from(model, estimate, generator, steps, image, i_start, batch)


def factorized_estimator(model: DiffusionModel, conds: torch.Tensor, uncond: torch.Tensor,
                         parts: Sequence[Part], guidance: float) -> Estimator:
    """Factorized diffusion: ε = Σ f_i(ε_i), each ε_i with CFG, all in ONE batch."""

    def estimate(x: torch.Tensor, t: int) -> Prediction:
        xs = x.repeat(len(parts), 1, 1, 1)
        preds = _stacked_estimate(model, xs, t, conds, uncond, guidance, len(parts))
        eps = sum(part(p.eps) for part, p in zip(parts, preds))
        return Prediction(eps, _mean([p.variance for p in preds]))

    return estimate


def hybrid_parts(kernel_size: int | None = None, sigma: float | None = None,
                 colour: bool = False) -> list[Part]:
    """[low-pass, high-pass] (A-1.9), or [grey, colour] for a colour hybrid."""
    if colour:
        return [grey_part, colour_part]
    return [lambda e: lowpass(e, kernel_size, sigma), lambda e: highpass(e, kernel_size, sigma)]


@dataclass(frozen=True)
class Split:
    """How a hybrid splits ε: 'frequency' (low / high pass at `sigma`), 'triple' (low /
    medium / high: `sigma` the coarse blur, `sigma2` the fine one, the paper's 2 and 1 at 64 px)
    or 'colour' (grey / colour). `kernel` is the blur kernel's side."""

    kind: str = "frequency"
    sigma: float | None = None
    sigma2: float | None = None
    kernel: int | None = None

    def parameters(self) -> dict:
        return {"split": self.kind} | ({} if self.kind == "colour" else {
            "sigma": self.sigma, "kernel": self.kernel}) | (
            {"sigma2": self.sigma2} if self.kind == "triple" else {})

    def scaled(self, factor: int) -> Split:
        """The same split on an image `factor` times larger (stage II)."""
        if self.kind == "colour":
            return self
        s2 = None if self.sigma2 is None else self.sigma2 * factor
        sigma = self.sigma * factor
        return Split(self.kind, sigma, s2, _kernel_for(sigma))

    def parts(self) -> list[Part]:
        if self.kind == "colour":
            return [grey_part, colour_part]
        if self.kind == "frequency":
            return hybrid_parts(self.kernel, self.sigma)
        return triple_parts(self.kernel, self.sigma, self.sigma2)


SPLITS = ("frequency", "triple", "colour")


def _kernel_for(sigma: float) -> int:
    return 2 * round(8 * sigma) + 1  # 33 at σ = 2, as the course


def resolve_split(size: int, kind: str = "frequency", sigma: float | None = None,
                  sigma2: float | None = None, prompts: int = 2) -> Split:
    """The split with its defaults filled in for images of side `size`: σ = size / 32 (2 at
    64 px, the course's) and, for the triple split, the fine σ2 = σ / 2 (the paper's 1)."""
    if kind not in SPLITS:
        raise EngineError(f"unknown split {kind!r}; choose from {', '.join(SPLITS)}")
    need = 3 if kind == "triple" else 2
    if prompts != need:
        raise EngineError(f"a {kind} hybrid takes {need} prompts, not {prompts}")
    if kind == "colour":
        return Split("colour")
    sigma = blur_params(size)[1] if sigma is None else float(sigma)
    kernel = blur_params(size)[0] if sigma == blur_params(size)[1] else _kernel_for(sigma)
    if kind == "frequency":
        return Split(kind, sigma, None, kernel)
    sigma2 = sigma / 2 if sigma2 is None else float(sigma2)
    if not 0 < sigma2 < sigma:
        raise EngineError(f"the fine blur σ2 ({sigma2:g}) must be above 0 and below the coarse "
                          f"σ ({sigma:g})")
    return Split(kind, sigma, sigma2, max(kernel, _kernel_for(sigma2)))


def triple_parts(kernel_size: int | None, sigma: float | None, sigma2: float | None
                 ) -> list[Part]:
    """[low, medium, high] pass, which sum to ε: high = ε - blur_fine(ε), low =
    blur_coarse(blur_fine(ε)), medium = blur_fine(ε) - low (the paper's triple hybrid)."""

    def fine(e: torch.Tensor) -> torch.Tensor:
        return lowpass(e, kernel_size, sigma2)

    return [lambda e: lowpass(fine(e), kernel_size, sigma),
            lambda e: fine(e) - lowpass(fine(e), kernel_size, sigma),
            lambda e: e - fine(e)]


def hybrid(model: DiffusionModel, prompt_low: str, prompt_high: str, generator: torch.Generator,
           guidance: float | None = None, steps: int | None = None, sigma: float | None = None,
           kernel_size: int | None = None, colour: bool = False,
           image: torch.Tensor | None = None, i_start: int = 0, batch: int = 1
           ) -> Iterator[StepRecord]:
    """A-1.9: prompt_low is seen from afar (low-pass), prompt_high up close (high-pass)."""
    if colour and model.channels != 3:
        raise EngineError("a colour hybrid needs an RGB model")
    if sigma is not None and kernel_size is None:
        kernel_size = _kernel_for(sigma)
    cond, uncond = _multi_conditioning(model, [prompt_low, prompt_high], "a hybrid image")
    parts = hybrid_parts(kernel_size, sigma, colour)
    estimate = factorized_estimator(model, cond, uncond, parts, resolve_guidance(model, guidance))
    return _denoise_from(model, estimate, generator, steps, image, i_start, batch)


def split_hybrid(model: DiffusionModel, prompts: Sequence[str], split: Split,
                 generator: torch.Generator, guidance: float | None = None,
                 steps: int | None = None, image: torch.Tensor | None = None, i_start: int = 0,
                 batch: int = 1) -> Iterator[StepRecord]:
    """A hybrid over a resolved split: two prompts (frequency, colour) or three (triple:
    far, middle distance, close)."""
    if split.kind == "colour" and model.channels != 3:
        raise EngineError("a colour hybrid needs an RGB model; this model's images are grey")
    parts = split.parts()
    if len(prompts) != len(parts):
        raise EngineError(f"a {split.kind} hybrid takes {len(parts)} prompts, not {len(prompts)}")
    cond, uncond = _multi_conditioning(model, prompts, "a hybrid image")
    estimate = factorized_estimator(model, cond, uncond, parts, resolve_guidance(model, guidance))
    return _denoise_from(model, estimate, generator, steps, image, i_start, batch)


def _denoise_from(model: DiffusionModel, estimate: Estimator, generator: torch.Generator,
                  steps: int | None, image: torch.Tensor | None, i_start: int, batch: int
                  ) -> Iterator[StepRecord]:
    timesteps = model.schedule.timesteps(steps)
    if image is None:
        i_start = 0
    x = start_from(model, timesteps, i_start, generator, image, batch)
    return iterative_denoise(estimate, x, timesteps, model.schedule, generator, i_start)
