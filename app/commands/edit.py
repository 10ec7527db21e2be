"""`edit MODE`: sdedit, img2img, inpaint, anagram or hybrid into one PNG (and --frames)."""

from __future__ import annotations

import argparse

import torch

from app.commands.common import (
    base_parameters,
    check_steps,
    generator_for,
    model_from_args,
    run_loop,
    to_images,
    upscale,
    write_frames,
)
from engine import edits, images
from engine.errors import EngineError
from engine.models.base import DiffusionModel
from engine.schedules import i_start_from_strength
from engine.views import VIEWS, get_view

DEFAULT_STRENGTH = 0.7  # i_start 10 on IF's 34 timesteps, as in


def run(args: argparse.Namespace) -> int:
    check_steps(args.steps)
    check_required(args)
    model = model_from_args(args)
    generator = generator_for(model, args.seed)
    image = read_image(args, model)
    i_start = start_index(args, model, image is not None)
    loop, prompts = build_loop(args, model, image, i_start, generator)
    last, frames = run_loop(loop, keep_frames=bool(args.frames))
    x = last.x_t
    guidance = edits.resolve_guidance(model, args.guidance)
    if args.upscale:
        x = upscale(model, x, prompts[0], guidance, generator)
    params = base_parameters(args, model) | {
        "mode": args.mode, "prompt": prompts[0], "prompt2": prompts[1] if len(prompts) > 1
        else None, "view": args.view if args.mode == "anagram" else None,
        "sigma": args.sigma, "i_start": i_start, "image": args.image, "mask": args.mask}
    images.save_png(to_images(model, x)[0], args.out, params)
    if args.frames:
        write_frames(model, frames, args.frames, params)
    print(f"wrote {args.out}" + (f" and {args.frames}" if args.frames else ""))
    return 0


def check_required(args: argparse.Namespace) -> None:
    needs = {"sdedit": ["image"], "img2img": ["image", "prompt"], "inpaint": ["image", "mask"],
             "anagram": ["prompt", "prompt2"], "hybrid": ["prompt", "prompt2"]}[args.mode]
    missing = [f"--{name}" for name in needs if getattr(args, name) is None]
    if missing:
        raise EngineError(f"edit {args.mode} needs {' and '.join(missing)}")
    if args.mode in ("anagram", "hybrid") and args.image is None and args.i_start not in (None, 0):
        raise EngineError(f"edit {args.mode}: --i-start needs --image to start from")


def read_image(args: argparse.Namespace, model: DiffusionModel) -> torch.Tensor | None:
    if args.image is None:
        return None
    return images.prepare_image(args.image, model.image_size, model.channels, model.data_range)


def start_index(args: argparse.Namespace, model: DiffusionModel, has_image: bool) -> int:
    n = len(model.schedule.timesteps(args.steps))
    if args.i_start is not None:
        if not 0 <= args.i_start <= n - 2:
            raise EngineError(f"--i-start must be between 0 and {n - 2} for {n} timesteps")
        return args.i_start
    if args.strength is not None:
        if not 0.0 <= args.strength <= 1.0:
            raise EngineError("--strength must be between 0 and 1")
        return min(i_start_from_strength(args.strength, n), n - 2)
    if args.mode in ("sdedit", "img2img"):
        return i_start_from_strength(DEFAULT_STRENGTH, n)
    return 0


def build_loop(args: argparse.Namespace, model: DiffusionModel, image: torch.Tensor | None,
               i_start: int, generator: torch.Generator
               ) -> tuple[object, list[str]]:
    mode, steps, guidance = args.mode, args.steps, args.guidance
    prompt = edits.resolve_prompt(model, args.prompt)
    if mode in ("sdedit", "img2img"):
        loop = edits.sdedit(model, image, i_start, generator, prompt, guidance, steps)
        return loop, [prompt]
    if mode == "inpaint":
        mask = images.load_mask(args.mask, model.image_size)
        loop = edits.inpaint(model, image, mask, generator, prompt, guidance, steps, i_start,
                             args.jump_length, args.resample)
        return loop, [prompt]
    prompts = [prompt, args.prompt2]
    if mode == "anagram":
        views = [VIEWS["identity"], get_view(args.view, model.symmetric_range)]
        loop = edits.anagram(model, prompts, views, generator, guidance, steps, image, i_start)
        return loop, prompts
    loop = edits.hybrid(model, prompts[0], prompts[1], generator, guidance, steps,
                        sigma=args.sigma, image=image, i_start=i_start)
    return loop, prompts

