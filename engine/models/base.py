"""The one interface every model family answers (DESIGN.md, "One interface for every model")."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch

from engine.errors import PromptError
from engine.schedules import NoiseSchedule
from engine.steps import StepRecord
from engine.views import View


@dataclass
class Prediction:
    """ε, and the model's raw variance output v in [-1, 1] where it predicts one."""

    eps: torch.Tensor
    variance: torch.Tensor | None = None


class DiffusionModel(ABC):
    """A denoiser with its schedule, its prompts and its data range.

    Loops work in float32 on `device`; `predict` casts to the model's own dtype and back.
    Conditioning is a tensor whose first dimension is the batch, so that the conditional and
    unconditional inputs of CFG go through the model in one batch (torch.cat of both).
    """

    name: str = "model"
    image_size: int = 28
    channels: int = 1
    data_range: tuple[float, float] = (0.0, 1.0)
    default_prompt: str = ""
    unconditional_prompt: str = ""
    default_guidance: float = 1.0
    default_strength: float = 0.7  # SDEdit's share of noise at first: i_start 10 of IF's 34
    device: torch.device = torch.device("cpu")
    dtype: torch.dtype = torch.float32
    schedule: NoiseSchedule
    upscaler_name: str | None = None  # the upscaler this family can use, found or not
    takes_precision = False  # large models: dtype and offload are the user's choice

    @property
    def conditional(self) -> bool:
        """False for unconditional models: no prompts, no CFG."""
        return True

    @property
    def symmetric_range(self) -> bool:
        lo, hi = self.data_range
        return abs(lo + hi) < 1e-6

    def prompt_choices(self) -> list[str] | None:
        """The prompts this model takes, or None where any text is fine."""
        return None

    @abstractmethod
    def encode(self, prompts: list[str]) -> torch.Tensor | None:
        """Conditioning for each prompt, batch first; None for an unconditional model."""

    @abstractmethod
    def predict(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None
                ) -> Prediction:
        """ε (and v) for a batch; t holds one timestep per item, in the schedule's convention."""

    def check_prompt(self, prompt: str) -> None:
        choices = self.prompt_choices()
        if not self.conditional and prompt:
            raise PromptError(f"{self.name} is unconditional: it takes no prompt (got {prompt!r})")
        if choices is not None and prompt not in choices:
            shown = ", ".join(repr(c) for c in choices)
            raise PromptError(f"{self.name} cannot take the prompt {prompt!r}; it takes {shown}")

    def upscaler(self) -> Upscaler | None:
        return None

    def has_upscaler(self) -> bool:
        """Whether `upscaler()` would find one, without loading it."""
        return False

    def upscale_factor(self) -> int:
        """How many times larger the upscaler makes a result, told without loading it."""
        return 4


class Upscaler(ABC):
    """Image + conditioning + noise level -> an image four times larger (IF stage II)."""

    scale: int = 4
    default_guidance: float = 4.0

    @abstractmethod
    def num_steps(self, steps: int | None = None) -> int:
        """How many updates `upscale_steps` makes for `steps` (None: the default)."""

    @abstractmethod
    def upscale_steps(self, image: torch.Tensor, cond: torch.Tensor | None,
                      uncond: torch.Tensor | None, generator: torch.Generator,
                      guidance: float = 4.0, noise_level: int = 250, steps: int | None = None,
                      views: Sequence[View] | None = None,
                      parts: Sequence[Callable[[torch.Tensor], torch.Tensor]] | None = None
                      ) -> Iterator[StepRecord]:
        """`upscale` as a loop of step records, for previews; the last x_t is the result."""

    @abstractmethod
    def upscale(self, image: torch.Tensor, cond: torch.Tensor | None, uncond: torch.Tensor | None,
                generator: torch.Generator, guidance: float = 4.0, noise_level: int = 250,
                steps: int | None = None, views: Sequence[View] | None = None,
                parts: Sequence[Callable[[torch.Tensor], torch.Tensor]] | None = None
                ) -> torch.Tensor:
        """image in the model's data range, [B, C, H, W] -> [B, C, 4H, 4W].

        With `views` (anagrams) or `parts` (hybrids) cond holds one row per view or part, and
        the upscaler combines its estimates the way the stage that made the image did.
        """
