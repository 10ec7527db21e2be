"""`train {denoiser,time,class} --out DIR ...`: train a Part B model (engine/training/train.py).

Settings left out take the kind's course defaults; with --resume they take the saved run's
values instead, so `--resume` alone continues whatever run is in DIR, and a setting given
explicitly that differs from the saved run is refused.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from app.words import counted

# CLI option -> TrainConfig field
_OPTIONS = {"epochs": "epochs", "batch_size": "batch_size", "hidden": "hidden", "lr": "lr",
            "data": "data_dir", "limit": "limit"}


def run(args: argparse.Namespace) -> int:
    from app.commands.outputs import check_folder_output, no_empty_folders_left

    check_folder_output(args.out)
    with no_empty_folders_left(Path(args.out)):  # a run refused at its start leaves no folder
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    if getattr(args, "compile", None) is not None and args.kind not in ("emoji-base",
                                                                       "emoji-upscale"):
        from engine.errors import EngineError

        raise EngineError("--compile applies to emoji-base and emoji-upscale (the other "
                          "kinds train eager: compiling gained nothing there, "
                          "docs/benchmarks.md)")
    if getattr(args, "attention", None) is not None and args.kind not in ("emoji-base",
                                                                         "emoji-upscale"):
        from engine.errors import EngineError

        raise EngineError("--attention applies to emoji-base and emoji-upscale")
    if args.kind == "emoji-classifier":
        from app.commands.train_emoji_classifier import run as run_classifier

        return run_classifier(args)
    if args.kind.startswith("emoji-"):
        from app.commands.train_emoji import run as run_emoji

        return run_emoji(args)
    from engine.training.train import TrainConfig, train

    _refuse_emoji_options(args)
    out_dir = Path(args.out)
    overrides = {field: getattr(args, option, None) for option, field in _OPTIONS.items()}
    if overrides["data_dir"] is not None:
        overrides["data_dir"] = str(Path(overrides["data_dir"]).expanduser().resolve())
    if args.resume:
        from engine.training.checkpoint import saved_settings

        saved = saved_settings(out_dir)
        if saved.get("kind") == args.kind:
            for option, field in _OPTIONS.items():
                if field == "data_dir" or overrides[field] is not None or option not in saved:
                    continue
                overrides[field] = saved[option]
            source = (saved.get("data") or {}).get("source", "")
            if overrides["data_dir"] is None and source.startswith("idx:"):
                overrides["data_dir"] = source[len("idx:"):]
    config = TrainConfig.for_kind(args.kind, seed=args.seed, device=args.device,
                                  precision=args.precision,
                                  num_threads=getattr(args, "threads", None), **overrides)
    from engine.training.reproduce import training_figures_hook

    result = train(config, out_dir, resume=args.resume, progress=True,
                   on_epoch_end=training_figures_hook(config.kind))
    if result.trained and os.environ.get("RANK", "0") == "0":  # one line under accelerate
        loss = f"{result.final_loss:.5f}" if result.final_loss is not None else "n/a"
        epochs = counted(result.epochs_done, "epoch")
        print(f"trained {config.kind} model ({epochs}, final loss {loss}) in {out_dir}",
              file=sys.stderr)
    return 0


EMOJI_OPTIONS = ("shape", "text_encoder", "init_from", "max_steps", "holdout_style", "procs")


def _refuse_emoji_options(args: argparse.Namespace) -> None:
    """A Part B kind given an option only the emoji trainers read: one message, not ignored."""
    from engine.errors import EngineError

    given = [f"--{name.replace('_', '-')}" for name in EMOJI_OPTIONS
             if getattr(args, name, None) is not None]
    if given:
        verb = "applies" if len(given) == 1 else "apply"
        raise EngineError(f"{', '.join(given)} {verb} to the emoji trainers (emoji-base, "
                          f"emoji-upscale, emoji-classifier), not to {args.kind}")
