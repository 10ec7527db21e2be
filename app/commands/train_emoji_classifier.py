"""`train emoji-classifier --data DIR --out DIR`: the emoji classifier that judges the cascade
(engine/training/emoji_classifier.py). With --resume, settings left out take the saved run's."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.commands.common import emoji_run_settings, emoji_state_settings
from engine.errors import EngineError

# CLI option -> ClassifierConfig field
_OPTIONS = {"epochs": "epochs", "batch_size": "batch_size", "lr": "lr", "hidden": "width",
            "holdout_style": "holdout_style"}


def _saved(out_dir: Path) -> dict:
    try:
        return emoji_state_settings(out_dir)
    except EngineError:  # reported by the trainer itself
        return {}


def run(args: argparse.Namespace) -> int:
    from engine.training.emoji_classifier import ClassifierConfig, train_emoji_classifier

    for option in ("limit", "shape", "text_encoder", "max_steps", "init_from", "procs"):
        if getattr(args, option, None) is not None:
            raise EngineError(f"--{option.replace('_', '-')} does not apply to the emoji "
                              "classifier")
    out_dir, values, data = emoji_run_settings(args, _OPTIONS, _saved)
    config = ClassifierConfig(data_dir=data, seed=args.seed,
                              device=args.device, precision=args.precision,
                              num_threads=getattr(args, "threads", None),
                              **{k: v for k, v in values.items() if v is not None})
    command = "python main.py " + " ".join(sys.argv[1:]) if sys.argv[1:] else None
    _, record = train_emoji_classifier(config, out_dir, resume=args.resume, command=command)
    held = record.get("held_out")
    scores = (f"held-out top-1 {held['top1']:.2%}, top-5 {held['top5']:.2%}" if held
              else f"{record.get('epochs_done')} of {record.get('epochs')} epochs done")
    print(f"emoji classifier in {out_dir}: {scores}", file=sys.stderr)
    return 0
