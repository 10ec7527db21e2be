"""What the headless commands share: the model, the seed, the parameters chunk, the outputs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

import torch
from PIL import Image

from engine import images
from engine.devices import resolve_device
from engine.errors import EngineError
from engine.loops import StepRecord
from engine.models.base import DiffusionModel
from engine.models.registry import load_model


def model_from_args(args: argparse.Namespace) -> DiffusionModel:
    report_memory(args)
    model = load_model(args.model, args.device, getattr(args, "dtype", None),
                       getattr(args, "offload", "none"))
    if getattr(args, "prompts", None):
        from engine.prompts import attach_embeddings

        attach_embeddings(model, args.prompts)
    return model


REPORT_FROM = 256 * 1024**2  # real IF weights; tiny test models stay quiet


def report_memory(args: argparse.Namespace) -> None:
    """Before loading DeepFloyd IF: one line on stderr with the memory it will need."""
    from engine.models.deepfloyd import is_if_folder, resolve_dtype
    from engine.models.memory import describe_bytes, estimate_memory
    from engine.models.registry import resolve_folder

    try:
        folder = resolve_folder(args.model)
    except EngineError:
        return  # load_model reports it
    if not is_if_folder(folder):
        return
    try:
        device = resolve_device(args.device)
        dtype = resolve_dtype(device, getattr(args, "dtype", None))
        need = estimate_memory(folder, dtype, offload=getattr(args, "offload", "none"))
    except EngineError:
        return
    if need >= REPORT_FROM:
        where = "GPU memory" if device.type != "cpu" else "memory"
        print(f"loading {folder.name}: needs about {describe_bytes(need)} of {where} "
              f"({str(dtype).removeprefix('torch.')})", file=sys.stderr)


def generator_for(model: DiffusionModel, seed: int) -> torch.Generator:
    device = model.device if model.device.type == "cuda" else torch.device("cpu")
    return torch.Generator(device=device).manual_seed(int(seed))


def check_steps(steps: int | None) -> None:
    if steps is not None and steps < 1:
        raise EngineError("--steps must be at least 1")


def base_parameters(args: argparse.Namespace, model: DiffusionModel) -> dict:
    return {
        "app": "diffusion-canvas",
        "command": args.command,
        "model": args.model,
        "prompts_file": getattr(args, "prompts", None),
        "seed": args.seed,
        "guidance": model.default_guidance if args.guidance is None else args.guidance,
        "steps": args.steps,
        "timesteps": model.schedule.timesteps(args.steps),
    }


def run_loop(loop: Iterator[StepRecord], keep_frames: bool = False
             ) -> tuple[StepRecord, list[torch.Tensor]]:
    """Run to the end; with keep_frames, x_t after every step (for --frames)."""
    frames, last = [], None
    for last in loop:
        if keep_frames:
            frames.append(last.x_t[:1].detach().cpu())
    if last is None:
        raise EngineError("the run made no step")
    return last, frames


def upscale(model: DiffusionModel, x: torch.Tensor, prompt: str | list[str], guidance: float,
            generator: torch.Generator, views: list | None = None, parts: list | None = None
            ) -> torch.Tensor:
    """The model's upscaler (IF stage II) on x; anagrams pass their views, hybrids their parts.

    Stage II's guidance is its own (4, as diffusers'), not stage I's.
    """
    up = model.upscaler()
    if up is None:
        raise EngineError(f"{model.name} has no upscaler (IF stage II provides one)")
    prompts = [prompt] if isinstance(prompt, str) else list(prompt)
    cond, uncond = model.encode(prompts), model.encode([model.unconditional_prompt])
    stage_two_guidance = getattr(up, "default_guidance", guidance)
    return up.upscale(x, cond, uncond, generator, stage_two_guidance, views=views, parts=parts)


def to_images(model: DiffusionModel, x: torch.Tensor) -> list[Image.Image]:
    return [images.to_pil(item, model.data_range) for item in x.detach().cpu()]


def write_frames(model: DiffusionModel, frames: list[torch.Tensor], path: str, params: dict
                 ) -> None:
    pictures = [images.to_pil(f[0], model.data_range) for f in frames]
    scale = max(1, 256 // model.image_size)
    if scale > 1:
        pictures = [p.resize((p.width * scale, p.height * scale), Image.NEAREST) for p in pictures]
    images.save_frames(pictures, Path(path), parameters=params)
