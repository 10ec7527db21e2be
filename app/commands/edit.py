"""`edit MODE`: sdedit, img2img, inpaint, anagram or hybrid into one PNG (and --frames)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from app.commands.common import (
    check_steps,
    model_from_args,
    run_loop,
    to_images,
    usable_steps,
    write_frames,
)
from app.commands.outputs import all_or_nothing, check_file_outputs, check_image_outputs
from app.jobs import Job, default_i_start, job_parameters, make_run, resolve_job
from app.session.modes import mode_of
from engine import images
from engine.errors import EngineError
from engine.loops import generator_for
from engine.models.base import DiffusionModel
from engine.schedules import i_start_from_strength


def run(args: argparse.Namespace) -> int:
    check_steps(args.steps)
    check_required(args)
    check_file_outputs(inputs={"image": args.image, "mask": args.mask,
                                "prompts": args.prompts},
                       out=args.out, frames=args.frames)
    check_image_outputs(args.out, args.frames)
    model = model_from_args(args)
    check_model_takes(args, model)
    args.steps = usable_steps(args.steps, model)
    generator = generator_for(model, args.seed)
    image = read_image(args, model)
    i_start = start_index(args, model, image is not None)
    job = resolve_job(model, job_from_args(args, model, image, i_start))
    last, frames = run_loop(make_run(model, job, generator), keep_frames=bool(args.frames))
    x = last.x_t
    params = job_parameters(job, args.model, model, prompts_file=args.prompts,
                            image=args.image, mask=args.mask)
    there = [p for p in (args.out, args.frames) if p and Path(p).is_file()]
    with all_or_nothing() as written:  # a failed --frames takes the result with it
        images.save_png(to_images(model, x)[0], args.out, params)
        written.append(args.out)
        if args.frames:
            write_frames(model, frames, args.frames, params, args.frames_scale)
    print(f"wrote {args.out}" + (f" and {args.frames}" if args.frames else ""))
    if there:  # said, so a file written over is not a surprise
        print(f"note: replaced the earlier {' and '.join(str(p) for p in there)}", file=sys.stderr)
    return 0


# an option -> the modes that read it (the namespace's name; given to another mode, refused)
MODE_OPTIONS = {"mask": ("inpaint",), "prompt2": ("anagram", "hybrid"), "view": ("anagram",),
                "sigma": ("hybrid",), "sigma2": ("hybrid",), "split": ("hybrid",),
                "jump_length": ("inpaint",), "resample": ("inpaint",),
                "view_seed": ("anagram",), "allow_failure_views": ("anagram",)}


def refuse_unread(args: argparse.Namespace) -> None:
    """An option this mode does not read is an error, not ignored (`edit sdedit --mask M`
    would have run an SDEdit of the whole image)."""
    for name, modes in MODE_OPTIONS.items():
        if getattr(args, name, None) not in (None, False) and args.mode not in modes:
            raise EngineError(f"--{name.replace('_', '-')} applies to edit {' and '.join(modes)}, "
                              f"not {args.mode}")
    if getattr(args, "frames_scale", None) is not None and args.frames is None:
        raise EngineError("--frames-scale applies to the --frames file; name one with --frames")


def check_required(args: argparse.Namespace) -> None:
    refuse_unread(args)
    mode = mode_of(args.mode)
    needs = [name for name, needed in (("image", mode.needs_image), ("mask", mode.needs_mask),
                                       ("prompt", mode.needs_prompt),
                                       ("prompt2", mode.two_prompts)) if needed]
    missing = [f"--{name}" for name in needs if getattr(args, name) is None]
    if missing:
        raise EngineError(f"edit {args.mode} needs {' and '.join(missing)}")
    if mode.illusion and args.image is None:  # it starts from pure noise: I = 0, S = 1
        if args.i_start not in (None, 0):
            raise EngineError(f"edit {args.mode}: --i-start needs --image to start from")
        if args.strength not in (None, 1.0):
            raise EngineError(f"edit {args.mode}: --strength below 1 needs --image to start "
                              "from")


def check_model_takes(args: argparse.Namespace, model: DiffusionModel) -> None:
    """An anagram or a hybrid is two prompts' estimates: an unconditional model has none."""
    if mode_of(args.mode).two_prompts and not model.conditional:
        raise EngineError(f"edit {args.mode} mixes the estimates of two prompts; {model.name} "
                          "is unconditional, so it cannot make one (use a class- or "
                          "text-conditioned model)")


def read_image(args: argparse.Namespace, model: DiffusionModel) -> torch.Tensor | None:
    if args.image is None:
        return None
    picture = images.load_image(args.image)
    note = images.size_note(picture.size, model.image_size)
    if note:  # the app shows it under "What the model sees"; here one line says it
        print(f"note: the model sees {args.image} as {model.image_size}×{model.image_size} "
              f"({note})", file=sys.stderr)
    return images.prepare_image(picture, model.image_size, model.channels, model.data_range)


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
    # few steps leave no room for the default strength's start: the last usable one, as above
    return min(default_i_start(args.mode, n, model.default_strength), n - 2)


def check_same_size(image_path: str, mask_path: str) -> None:
    """A mask of another size would be cropped differently and land off the image."""
    image, mask = images.load_image(image_path), images.load_image(mask_path)
    if image.size != mask.size:
        raise EngineError(f"the mask is {mask.width}×{mask.height} but the image is "
                          f"{image.width}×{image.height}: they must be the same size")


def job_from_args(args: argparse.Namespace, model: DiffusionModel, image: torch.Tensor | None,
                  i_start: int) -> Job:
    mask = None
    if mode_of(args.mode).needs_mask:
        check_same_size(args.image, args.mask)
        mask = images.load_mask(args.mask, model.image_size)
    return Job(mode=args.mode, prompt=args.prompt, prompt2=args.prompt2, view=args.view or "flip",
               sigma=args.sigma, i_start=i_start, guidance=args.guidance, steps=args.steps,
               seed=args.seed, image=image, mask=mask, jump_length=args.jump_length or 1,
               repaint_repeats=args.resample or 1, upscale=args.upscale,
               **illusion_fields(args))


def illusion_fields(args: argparse.Namespace) -> dict:
    """--prompt3/--view3 and --prompt4/--view4 (anagrams over 3 and 4 views), --prompt3 of a
    triple hybrid, --view-seed, --split and --sigma2, as the Job's fields."""
    prompt3, prompt4 = getattr(args, "prompt3", None), getattr(args, "prompt4", None)
    views = (getattr(args, "view3", None), getattr(args, "view4", None))
    if prompt4 is not None and prompt3 is None:
        raise EngineError("--prompt4 needs --prompt3")
    more = tuple(p for p in (prompt3, prompt4) if p is not None)
    split = getattr(args, "split", None) or ("triple" if args.mode == "hybrid" and more
                                             else "frequency")
    fields = {"more_prompts": more, "view_seed": getattr(args, "view_seed", 0) or 0,
              "split": split, "sigma2": getattr(args, "sigma2", None)}
    if fields["sigma2"] is not None and split != "triple":
        raise EngineError(f"--sigma2 splits a triple hybrid's medium band from its high one "
                          f"(--prompt3); this hybrid's split is {split}")
    if args.mode != "anagram":
        if any(views):
            raise EngineError("--view3 and --view4 are for anagrams")
        return fields
    fields["allow_failure_views"] = bool(getattr(args, "allow_failure_views", False))
    for i, (prompt, view) in enumerate(zip((prompt3, prompt4), views), start=3):
        if (prompt is None) != (view is None):
            raise EngineError(f"an anagram's --prompt{i} and --view{i} go together")
    return fields | {"more_views": tuple(v for v in views if v is not None)}
