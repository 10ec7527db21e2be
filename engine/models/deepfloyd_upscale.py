"""DeepFloyd IF stage II (64 -> 256) with our own loop, behind the Upscaler interface.

The stage II UNet takes 6 channels: the noisy high-resolution image and the low-resolution image
upsampled (bilinear) and noised to `noise_level` by the image-noising scheduler; the noise level
goes in as the class label. It predicts ε and the learned-range variance like stage I, so the
engine's strided schedule and update step (engine/loops.py) run it; CFG goes in one batch.
With views (visual anagrams) every view sees the 6-channel input turned, and the estimates are
turned back and averaged, as in stage I; with parts (hybrids) ε = Σ part_i(ε_i).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from engine.errors import ModelError
from engine.loops import Estimator, StepRecord, final, forward, iterative_denoise, randn
from engine.models.base import Prediction, Upscaler
from engine.models.folders import (
    cached_hub_folder,
    check_complete,
    hub_cache_root,
    is_if_upscaler_folder,
    load_unet,
    read_hints,
    read_json,
)
from engine.models.memory import OffloadGroup, translate_oom
from engine.models.unet_speed import ready_unet, unet_input
from engine.schedules import NoiseSchedule
from engine.views import View

STAGE_TWO_IDS = ("DeepFloyd/IF-II-L-v1.0", "DeepFloyd/IF-II-M-v1.0")
STAGE_TWO_ENV = "DIFFUSION_CANVAS_IF_STAGE_II"
SCHEDULERS = ("scheduler", "image_noising_scheduler")
Part = Callable[[torch.Tensor], torch.Tensor]


def _preference(folder: Path) -> tuple[int, str]:
    name = folder.name.upper()
    rank = 0 if "IF-II-L" in name else 1 if "IF-II-M" in name else 2
    return rank, folder.name


def find_stage_two(stage_one: Path) -> Path:
    """Stage II for a stage I folder: $DIFFUSION_CANVAS_IF_STAGE_II, a sibling folder (IF-II-L
    before IF-II-M), or DeepFloyd/IF-II-L-v1.0 / -M in the Hugging Face cache."""
    explicit = os.environ.get(STAGE_TWO_ENV)
    if explicit:
        return Path(explicit).expanduser()
    siblings = [p for p in stage_one.resolve().parent.iterdir()
                if p.is_dir() and is_if_upscaler_folder(p)] if stage_one.parent.is_dir() else []
    if siblings:
        return min(siblings, key=_preference)
    for repo_id in STAGE_TWO_IDS:
        cached = cached_hub_folder(repo_id)
        if cached is not None:
            return cached
    raise ModelError(
        f"--upscale needs DeepFloyd IF stage II, and none was found: no IF-II folder beside "
        f"{stage_one}, no {' or '.join(STAGE_TWO_IDS)} in the Hugging Face cache "
        f"({hub_cache_root()}), and no ${STAGE_TWO_ENV}. Download it (README: DeepFloyd IF), "
        "or leave out --upscale")


def stage_two_factor(stage_one: Path, low_size: int) -> int:
    """How many times larger the stage II found for `stage_one` makes a `low_size` px image, read
    from its UNet's config without loading it; IF's 4 where that cannot tell."""
    try:
        size = int(read_json(find_stage_two(stage_one) / "unet" / "config.json")["sample_size"])
    except (ModelError, KeyError, TypeError, ValueError):
        return IFStageTwo.scale
    whole = low_size > 0 and size > low_size and size % low_size == 0
    return size // low_size if whole else IFStageTwo.scale


class IFStageTwo(Upscaler):
    scale = 4  # IF: 64 -> 256; a stage II of another size gives its own (low_size)
    default_guidance = 4.0
    default_steps: int | None = None  # None: stride 20 on T = 1000 (50 steps, as diffusers')

    def __init__(self, folder: Path, device: torch.device, dtype: torch.dtype,
                 offload: OffloadGroup | None = None, embedding_dim: int | None = None,
                 low_size: int | None = None) -> None:
        check_complete(folder, "DeepFloyd IF stage II", SCHEDULERS)
        self.folder, self.device, self.dtype = folder, device, dtype
        self.offload = offload or OffloadGroup(device)
        self.name = f"{folder.name} (IF stage II)"
        self.unet = load_unet(folder, dtype, device, self.offload, self.name)
        config = self.unet.config
        if config.in_channels != 6 or config.out_channels != 6:
            raise ModelError(f"{folder}: a stage II UNet takes 6 channels in and out, this one "
                             f"{config.in_channels} in and {config.out_channels} out")
        hid = int(config.encoder_hid_dim or config.cross_attention_dim)
        if embedding_dim is not None and hid != embedding_dim:
            raise ModelError(f"{folder} takes {hid}-wide text embeddings; stage I gives "
                             f"{embedding_dim}: the two stages do not belong together")
        self.embedding_dim = hid
        self.image_size = int(config.sample_size)
        if low_size is not None:  # stage I's size: the factor is the ratio of the two
            if self.image_size % low_size or self.image_size <= low_size:
                raise ModelError(f"{folder} makes {self.image_size} px images; it cannot "
                                 f"upscale stage I's {low_size} px by a whole factor")
            self.scale = self.image_size // low_size
        self.schedule = NoiseSchedule.from_diffusers_config(
            read_json(folder / "scheduler" / "scheduler_config.json"), "learned_range", 20, 980)
        self.noising = NoiseSchedule.from_diffusers_config(
            read_json(folder / "image_noising_scheduler" / "scheduler_config.json"))
        hints = read_hints(folder)
        steps = hinted_steps(hints, self.schedule.top)
        if steps is not None:  # else the class's default (IF's 50; tests may set their own)
            self.default_steps = steps
        self.noise_levels = hinted_levels(hints, len(self.noising.table))

    def num_steps(self, steps: int | None = None) -> int:
        return len(self.schedule.timesteps(steps or self.default_steps)) - 1

    unet_levers: tuple[str, ...] | None = None  # None: unet_speed.default_levers (the device's)

    @torch.no_grad()
    def forward(self, x6: torch.Tensor, t: int, cond: torch.Tensor, noise_level: int
                ) -> Prediction:
        """One UNet call on [B, 6, H, W]: ε and v, each [B, 3, H, W]."""
        n = x6.shape[0]
        levers = ready_unet(self)
        with translate_oom(self.name, self.device, self.dtype, self.offload.mode):
            self.offload.activate(self.unet)
            out = self.unet(unet_input(x6.to(self.device, self.dtype), levers),
                            torch.full((n,), int(t), device=self.device),
                            encoder_hidden_states=cond.to(self.device, self.dtype),
                            class_labels=torch.full((n,), int(noise_level), device=self.device),
                            return_dict=False)[0]
        eps, variance = out.float().split(3, dim=1)
        return Prediction(eps, variance)

    def estimator(self, low: torch.Tensor, cond: torch.Tensor, uncond: torch.Tensor,
                  guidance: float, noise_level: int, views: Sequence[View] | None = None,
                  parts: Sequence[Part] | None = None) -> Estimator:
        """ε for the hi-res x: CFG, with branches per view or part, all in ONE batch."""
        branches = len(views or parts or [None])
        n = low.shape[0]
        conds = branch_conditioning(cond, branches, n)

        def estimate(x: torch.Tensor, t: int) -> Prediction:
            x6 = torch.cat([x, low], dim=1)
            xs = torch.cat([v.apply(x6) for v in views]) if views else x6.repeat(branches, 1, 1, 1)
            both = self.forward(torch.cat([xs, xs]), t,
                                torch.cat([conds, uncond.expand(len(xs), *uncond.shape[1:])]),
                                noise_level)
            eps_c, eps_u = both.eps.chunk(2)
            eps = (eps_u + guidance * (eps_c - eps_u)).chunk(branches)
            var = both.variance[: len(xs)].chunk(branches)
            return combine(eps, var, views, parts)

        return estimate

    def upscale_steps(self, image: torch.Tensor, cond: torch.Tensor | None,
                      uncond: torch.Tensor | None, generator: torch.Generator,
                      guidance: float = 4.0, noise_level: int = 250, steps: int | None = None,
                      views: Sequence[View] | None = None, parts: Sequence[Part] | None = None
                      ) -> Iterator[StepRecord]:
        if cond is None or uncond is None:
            raise ModelError("IF stage II needs the prompt's embeddings and the '' embedding")
        if not 0 <= noise_level < self.noise_levels:
            raise ModelError(f"noise_level must be between 0 and {self.noise_levels - 1}: "
                             f"{self.name} was trained on those levels only")
        n, _, h, w = image.shape
        size = (h * self.scale, w * self.scale)
        low = F.interpolate(image.to(self.device, torch.float32), size, mode="bilinear",
                            align_corners=True)
        low = forward(low, noise_level, self.noising, generator)
        estimate = self.estimator(low, cond, uncond, guidance, noise_level, views, parts)
        x = randn((n, 3, *size), generator).to(self.device)
        timesteps = self.schedule.timesteps(steps or self.default_steps)
        return iterative_denoise(estimate, x, timesteps, self.schedule, generator)

    def upscale(self, image: torch.Tensor, cond: torch.Tensor | None,
                uncond: torch.Tensor | None, generator: torch.Generator, guidance: float = 4.0,
                noise_level: int = 250, steps: int | None = None,
                views: Sequence[View] | None = None, parts: Sequence[Part] | None = None
                ) -> torch.Tensor:
        records = self.upscale_steps(image, cond, uncond, generator, guidance, noise_level,
                                     steps, views, parts)
        return final(records).x_t.clamp(-1.0, 1.0)


def hinted_steps(hints: dict, top: int) -> int | None:
    """A folder's own default step count (our emoji stage II writes one), if it is usable."""
    steps = hints.get("default_steps")
    if isinstance(steps, int) and not isinstance(steps, bool) and 1 <= steps <= top:
        return steps
    return None


def hinted_levels(hints: dict, levels: int) -> int:
    """How many noise-augmentation levels, from 0, a folder's stage II was trained on (our emoji
    stage II says; IF's trained on all of its scheduler's)."""
    trained = hints.get("noise_levels")
    if isinstance(trained, int) and not isinstance(trained, bool) and 1 <= trained <= levels:
        return trained
    return levels


def branch_conditioning(cond: torch.Tensor, branches: int, n: int) -> torch.Tensor:
    """Rows for `branches` stacked batches of n images: one prompt per branch (views, parts),
    or without branches one prompt for all images or one per image."""
    rows = cond.shape[0]
    if branches > 1:
        if rows != branches:
            raise ModelError(f"{rows} prompts for {branches} views or parts")
        return cond.repeat_interleave(n, dim=0)
    if rows not in (1, n):
        raise ModelError(f"{rows} prompts for {n} images")
    return cond.expand(n, *cond.shape[1:])


def combine(eps: Sequence[torch.Tensor], var: Sequence[torch.Tensor],
            views: Sequence[View] | None, parts: Sequence[Part] | None) -> Prediction:
    if views:
        e = torch.stack([v.inverse(x) for v, x in zip(views, eps)]).mean(0)
        s = torch.stack([v.inverse_variance(x) for v, x in zip(views, var)]).mean(0)
        return Prediction(e, s)
    if parts:
        return Prediction(sum(p(x) for p, x in zip(parts, eps)), torch.stack(list(var)).mean(0))
    return Prediction(eps[0], var[0])
