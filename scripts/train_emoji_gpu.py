"""Train the emoji cascade on a lent GPU in one call of a few minutes; repeated calls continue.

Prepared for the device machine (issue 12): one H200, no network, a call of at most ~9 minutes.
Each call:
1. finds the emoji set at --data (carried there: `runs/emoji-data`, 47 MB, prepared here with
   `python main.py data emoji --out runs/emoji-data`); where it is missing it runs `data emoji`,
   which needs npm and the network (one clear message if they are absent);
2. trains stage I in --runs/base, continuing it (`--resume`) when a run is there, in chunks of
   steps until its epochs are done or the time budget is spent (each chunk ends with a save);
3. once stage I has finished all its epochs (and only then: stage II reads stage I's final text
   encoder, in training and at inference alike), trains stage II in --runs/up the same way;
4. copies what the session needs under --out ($OUT): each run's IF folder, config.json,
   loss.csv and sample grids (not the 200 MB training states: the runs folder, ignored by git,
   stays on the warm machine between calls), and prints the bundle command; with
   --bundle and both stages finished it writes the fp16 bundle under OUT/emoji too.

A GPU run is a run of its own (batch 256, bf16 autocast): the CPU run's batch of 32 is a
setting a resume must keep, so it is not continued here.

    python scripts/train_emoji_gpu.py [--budget-s 480] [--data runs/emoji-data]
        [--runs runs/gpu] [--out $OUT] [--device cuda] [--precision bf16] [--batch-size 256]
        [--base-epochs 500] [--up-epochs 200] [--shape ""] [--bundle] [--dry-run]

--dry-run prints the plan and exits; tests run it on the CPU at test size (--shape test).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.errors import EngineError  # noqa: E402

COPIED = ("config.json", "loss.csv", "samples", "pipeline")


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--budget-s", type=float, default=480.0,
                   help="training seconds this call (default 480: a 9-minute call with room "
                        "for loading and copying)")
    p.add_argument("--data", type=Path, default=ROOT / "runs" / "emoji-data")
    p.add_argument("--runs", type=Path, default=ROOT / "runs" / "gpu")
    p.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", ROOT / "runs" / "out")))
    p.add_argument("--device", default="cuda")
    p.add_argument("--precision", default="bf16")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--base-epochs", type=int, default=500)
    p.add_argument("--up-epochs", type=int, default=200)
    p.add_argument("--shape", default="", help="stage I UNet shape ('' = the default, s4l)")
    p.add_argument("--chunk", type=int, default=500, help="first chunk of steps (then sized "
                   "to the measured speed)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--sample-steps", type=int, default=25, help="steps of the epoch grids")
    p.add_argument("--bundle", action="store_true", help="bundle once both stages finished")
    p.add_argument("--dry-run", action="store_true")
    return p.parse_args(argv)


def ensure_data(data: Path) -> None:
    from engine.training import emoji_data

    try:
        emoji_data.load_set(data)
        return
    except EngineError:
        pass
    print(f"no emoji set at {data}: preparing it (npm and the network needed)", flush=True)
    cache = data.parent / "emoji-npm-cache"
    emoji_data.prepare(data, cache)


def stage_config(args: argparse.Namespace, stage: str):
    from engine.training.emoji_train import EmojiTrainConfig

    common = dict(batch_size=args.batch_size, lr=args.lr, device=args.device,
                  precision=args.precision, num_threads=args.threads, save_every_s=None,
                  sample_steps=args.sample_steps)
    if stage == "base":
        return EmojiTrainConfig("base", str(args.data.resolve()), epochs=args.base_epochs,
                                shape=args.shape, **common)
    encoder = (args.runs / "base" / "pipeline" / "IF-I-emoji").resolve()
    return EmojiTrainConfig("upscale", str(args.data.resolve()), epochs=args.up_epochs,
                            text_encoder=str(encoder), **common)


def finished(run: Path) -> bool:
    """A run whose config.json says all its epochs are done."""
    try:
        record = json.loads((run / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return int(record.get("epochs_done", 0)) >= int(record.get("epochs", 1))


def train_for(args: argparse.Namespace, stage: str, run: Path, seconds: float) -> float:
    """Chunks of steps of one stage until it finishes or `seconds` are spent; the time used."""
    from engine.training.emoji_train import train_emoji

    started, chunk = time.perf_counter(), max(1, args.chunk)
    while not finished(run):
        left = seconds - (time.perf_counter() - started)
        if left <= 0:
            break
        t0 = time.perf_counter()
        result = train_emoji(stage_config(args, stage), run,
                             resume=(run / "training_state.pt").exists(), progress=False,
                             max_steps=chunk)
        spent = time.perf_counter() - t0
        print(f"{stage}: step {result.steps_done}, epoch {result.epochs_done}, loss "
              f"{result.final_loss}, {chunk} steps in {spent:.0f} s", flush=True)
        per_step = spent / chunk
        chunk = max(1, int(0.9 * (seconds - (time.perf_counter() - started)) / per_step))
    return time.perf_counter() - started


def copy_out(runs: Path, out: Path) -> list[Path]:
    copied = []
    for stage in ("base", "up"):
        run = runs / stage
        for name in COPIED:
            source = run / name
            if not source.exists():
                continue
            target = out / stage / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, target, dirs_exist_ok=True)
            else:
                shutil.copy2(source, target)
            copied.append(target)
    return copied


def bundle_command(runs: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "engine.training.emoji_bundle", str(runs / "base"),
            str(runs / "up"), str(out / "emoji")]


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    base, up = args.runs / "base", args.runs / "up"
    plan = (f"data {args.data}; stage I in {base} ({args.base_epochs} epochs, "
            f"{'finished' if finished(base) else 'to train'}); stage II in {up} "
            f"({args.up_epochs} epochs, {'finished' if finished(up) else 'after stage I'}); "
            f"{args.device} {args.precision}, batch {args.batch_size}, {args.budget_s:.0f} s; "
            f"out {args.out}")
    print(plan, flush=True)
    if args.dry_run:
        print("bundle after: " + " ".join(bundle_command(args.runs, args.out)))
        return 0
    try:
        ensure_data(args.data)
        spent = train_for(args, "base", base, args.budget_s)
        if finished(base):
            spent += train_for(args, "upscale", up, args.budget_s - spent)
    except EngineError as error:
        print(f"train_emoji_gpu: {error}", file=sys.stderr)
        return 1
    copied = copy_out(args.runs, args.out)
    print(f"copied {len(copied)} items to {args.out}; stage I "
          f"{'finished' if finished(base) else 'continues next call'}, stage II "
          f"{'finished' if finished(up) else 'not finished'}")
    command = bundle_command(args.runs, args.out)
    print("bundle: " + " ".join(command))
    if args.bundle and finished(base) and finished(up):
        subprocess.run(command, check=True, cwd=ROOT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
