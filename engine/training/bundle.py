"""Bundle a training run for resources/models: fp16 weights, its config and its loss.csv.

    python -m engine.training.bundle RUN_DIR OUT_DIR

The weights are stored in fp16 (half the file) and load back as fp32. The run's optimizer state
stays behind, and so do its figures: a bundle is what the app needs to load, nothing more.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import torch

from engine.errors import EngineError
from engine.training.checkpoint import CONFIG, WEIGHTS, load_model, save_weights, write_config

KEPT = ("loss.csv",)


def bundle_run(run: str | Path, out: str | Path) -> Path:
    """Writes the bundle of the checkpoint in `run` to `out`; returns the weights' path."""
    model, config = load_model(run)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    weights = out / WEIGHTS
    save_weights(model, weights, dtype=torch.float16,
                 metadata={"kind": config["kind"], "hidden": config["hidden"]})
    write_config(out, config | {"storage": "float16"})
    for name in KEPT:
        if (Path(run) / name).is_file():
            shutil.copyfile(Path(run) / name, out / name)
    for path in (weights, out / CONFIG, *(out / name for name in KEPT)):
        if path.exists():
            path.chmod(0o644)
    return weights


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a folder written by `python main.py train`")
    parser.add_argument("out", help="the bundle's folder, e.g. resources/models/mnist-time")
    args = parser.parse_args(argv)
    try:
        weights = bundle_run(args.run, args.out)
    except EngineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {weights} ({weights.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
