"""`train emoji-base|emoji-upscale --data DIR --out DIR`: the emoji cascade's two stages
(engine/training/emoji_train.py). With --resume, settings left out take the saved run's values.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.errors import EngineError

# CLI option -> EmojiTrainConfig field
_OPTIONS = {"epochs": "epochs", "batch_size": "batch_size", "lr": "lr", "limit": "limit",
            "shape": "shape", "text_encoder": "text_encoder"}


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
            state = ckpt.load_training_state(out_dir)
            settings = dict(state.get("settings") or {})
            source = (settings.get("data") or {}).get("source", "")
            settings["data_dir"] = source[len("emoji:"):] if source.startswith("emoji:") else None
            return settings
    except EngineError:  # a broken run is reported by train_emoji itself
        pass
    return {}


def run(args: argparse.Namespace) -> int:
    from engine.training.emoji_train import STAGES, EmojiTrainConfig, train_emoji

    if getattr(args, "hidden", None) is not None:
        raise EngineError("--hidden applies to the Part B models; the emoji stages have fixed "
                          "shapes (--shape)")
    out_dir = Path(args.out).expanduser()
    values = {field: getattr(args, option, None) for option, field in _OPTIONS.items()}
    data = args.data
    if args.resume:
        saved = _saved(out_dir)
        for field in _OPTIONS.values():
            if values[field] is None and saved.get(field) is not None:
                values[field] = saved[field]
        data = data or saved.get("data_dir")
    if not data:
        raise EngineError("--data DIR is needed: the emoji set that `python main.py data emoji "
                          "--out DIR` prepares")
    if values["text_encoder"] is not None:
        values["text_encoder"] = str(Path(values["text_encoder"]).expanduser().resolve())
    config = EmojiTrainConfig(stage=STAGES[args.kind],
                              data_dir=str(Path(data).expanduser().resolve()),
                              seed=args.seed, device=args.device, precision=args.precision,
                              num_threads=getattr(args, "threads", None),
                              **{k: v for k, v in values.items() if v is not None})
    result = train_emoji(config, out_dir, resume=args.resume, progress=True,
                         max_steps=getattr(args, "max_steps", None))
    loss = f"{result.final_loss:.5f}" if result.final_loss is not None else "n/a"
    print(f"trained {args.kind} to step {result.steps_done} ({result.epochs_done} epochs, last "
          f"loss {loss}); IF folder: {result.pipeline}", file=sys.stderr)
    return 0
