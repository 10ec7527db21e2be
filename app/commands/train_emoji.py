"""`train emoji-base|emoji-upscale --data DIR --out DIR`: the emoji cascade's two stages
(engine/training/emoji_train.py). With --resume, settings left out take the saved run's values.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.commands.common import emoji_run_settings, emoji_state_settings
from app.words import counted
from engine.errors import EngineError

# CLI option -> EmojiTrainConfig field
_OPTIONS = {"epochs": "epochs", "batch_size": "batch_size", "lr": "lr", "limit": "limit",
            "shape": "shape", "text_encoder": "text_encoder", "init_from": "init_from",
            "decay_from": "decay_from", "aug_max": "aug_max"}


def _saved(out_dir: Path) -> dict:
    from engine.training import checkpoint as ckpt
    from engine.training.emoji_train import read_record

    try:
        if (out_dir / ckpt.CONFIG).is_file():
            record = read_record(out_dir)
            saved = dict(record.get("config") or {})
            saved["shape"] = (record.get("training") or {}).get("shape") or saved.get("shape")
            return saved
        if (out_dir / ckpt.STATE).is_file():
            return emoji_state_settings(out_dir)
    except EngineError:  # a broken run is reported by train_emoji itself
        pass
    return {}


def run(args: argparse.Namespace) -> int:
    from engine.training.emoji_train import (
        COMPILE_MIN_STEPS,
        STAGES,
        EmojiTrainConfig,
        train_emoji,
    )

    if getattr(args, "holdout_style", None) is not None:
        raise EngineError("--holdout-style applies to emoji-classifier")
    if getattr(args, "hidden", None) is not None:
        raise EngineError("--hidden applies to the Part B models; the emoji stages have fixed "
                          "shapes (--shape)")
    _refuse_the_other_stages_options(args)
    out_dir, values, data = emoji_run_settings(args, _OPTIONS, _saved)
    for folder in ("text_encoder", "init_from"):
        if values[folder] is not None:
            values[folder] = str(Path(values[folder]).expanduser().resolve())
    config = EmojiTrainConfig(stage=STAGES[args.kind],
                              data_dir=data,
                              seed=args.seed, device=args.device, precision=args.precision,
                              num_threads=getattr(args, "threads", None),
                              compile=_compile(args, COMPILE_MIN_STEPS),
                              attention=getattr(args, "attention", None) or "auto",
                              procs=getattr(args, "procs", None) or 1,
                              **{k: v for k, v in values.items() if v is not None})
    result = train_emoji(config, out_dir, resume=args.resume, progress=True,
                         max_steps=getattr(args, "max_steps", None))
    loss = f"{result.final_loss:.5f}" if result.final_loss is not None else "n/a"
    epochs = counted(result.epochs_done, "epoch")
    print(f"trained {args.kind} to step {result.steps_done} ({epochs}, last loss {loss}); IF "
          f"folder: {result.pipeline}", file=sys.stderr)
    return 0


def _refuse_the_other_stages_options(args: argparse.Namespace) -> None:
    """--shape is stage I's (stage II has one shape), --text-encoder and --aug-max stage II's
    (stage I trains its own encoder): given to the other stage they were recorded but unused."""
    if args.kind == "emoji-upscale" and getattr(args, "shape", None) is not None:
        raise EngineError("--shape applies to emoji-base; emoji-upscale has one fixed shape")
    if args.kind == "emoji-base" and getattr(args, "text_encoder", None) is not None:
        raise EngineError("--text-encoder applies to emoji-upscale; emoji-base trains its own "
                          "text encoder")
    if args.kind == "emoji-base" and getattr(args, "aug_max", None) is not None:
        raise EngineError("--aug-max applies to emoji-upscale: emoji-base has no low-resolution "
                          "input to noise")


def _compile(args: argparse.Namespace, min_steps: int) -> str:
    """--compile as asked; auto is off for a --max-steps run too short to earn the compile
    (auto counts every epoch's steps, which --max-steps cuts short)."""
    asked = getattr(args, "compile", None)
    if asked is None and getattr(args, "max_steps", None) is not None \
            and args.max_steps < min_steps:
        return "off"
    return asked or "auto"
