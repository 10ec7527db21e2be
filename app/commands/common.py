"""What the headless commands share: the model, running a loop, the images and frames it writes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from PIL import Image

from engine import images
from engine.errors import EngineError
from engine.loops import StepRecord
from engine.models.base import DiffusionModel
from engine.models.registry import load_model, loading_note


def model_from_args(args: argparse.Namespace) -> DiffusionModel:
    report_memory(args)
    model = load_model(args.model, args.device, getattr(args, "dtype", None),
                       getattr(args, "offload", "none"))
    if getattr(args, "prompts", None):
        from engine.prompts import attach_embeddings

        attach_embeddings(model, args.prompts)
    return model


def report_memory(args: argparse.Namespace) -> None:
    """Before loading DeepFloyd IF: one line on stderr with the memory it will need."""
    note = loading_note(args.model, args.device, getattr(args, "dtype", None),
                        getattr(args, "offload", "none"))
    if note:
        print(note, file=sys.stderr)


def check_steps(steps: int | None) -> None:
    if steps is not None and steps < 1:
        raise EngineError("--steps must be at least 1")


def usable_steps(steps: int | None, model: DiffusionModel) -> int | None:
    """--steps beyond the model's timesteps run as many as it has: that count (what the
    parameters chunk records), with a note on stderr."""
    top = model.schedule.top
    if steps is None or steps <= top:
        return steps
    print(f"note: --steps {steps} is more than the {top} timesteps of {model.name}: running "
          f"{top} steps", file=sys.stderr)
    return top


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


def to_images(model: DiffusionModel, x: torch.Tensor) -> list[Image.Image]:
    return [images.to_pil(item, model.data_range) for item in x.detach().cpu()]


def write_frames(model: DiffusionModel, frames: list[torch.Tensor], path: str, params: dict,
                 scale: int | None = None) -> None:
    """Every frame at one size with square pixels, the widest frame times a whole `scale`
    (default: the largest that stays within 256 px); stage I's frames before an upscaler's
    are blown up to the same size."""
    pictures = images.frames_at_scale([images.to_pil(f[0], model.data_range) for f in frames],
                                      scale)
    images.save_frames(pictures, Path(path), parameters=params)


def emoji_run_settings(args: argparse.Namespace, options: dict[str, str],
                       saved: Callable[[Path], dict]) -> tuple[Path, dict, str]:
    """An emoji training command's out folder, values (`options`: CLI option -> config field;
    None where left out) and data folder (resolved). With --resume, each value left out and
    the data folder take the saved run's (`saved(out_dir)`, the data folder as "data_dir")."""
    out_dir = Path(args.out).expanduser()
    values = {field: getattr(args, option, None) for option, field in options.items()}
    data = args.data
    if args.resume:
        _check_resumable(out_dir)
        before = saved(out_dir)
        for field in options.values():
            if values[field] is None and before.get(field) is not None:
                values[field] = before[field]
        data = data or before.get("data_dir")
    if not data:
        raise EngineError("--data DIR is needed: the emoji set that `python main.py data emoji "
                          "--out DIR` prepares")
    return out_dir, values, str(Path(data).expanduser().resolve())


def _check_resumable(out_dir: Path) -> None:
    """--resume of a folder with neither a config nor a training state: nothing to resume (not
    a request for --data)."""
    from engine.errors import CheckpointError
    from engine.training import checkpoint as ckpt

    if not any((out_dir / name).is_file() for name in (ckpt.CONFIG, ckpt.STATE)):
        raise CheckpointError(f"{out_dir} holds no training run to resume")


def emoji_state_settings(out_dir: Path) -> dict:
    """The settings in the training state of the emoji run in `out_dir`, its data folder as
    "data_dir" (from an "emoji:" source, else None); EngineError where the state is broken."""
    from engine.training.checkpoint import load_training_state

    settings = dict(load_training_state(out_dir).get("settings") or {})
    source = (settings.get("data") or {}).get("source", "")
    settings["data_dir"] = source[len("emoji:"):] if source.startswith("emoji:") else None
    return settings
