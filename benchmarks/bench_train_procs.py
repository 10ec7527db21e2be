"""Emoji training in N data-parallel worker processes (`train ... --procs N`) against one.

Each variant trains a fresh run of the real stage (stage I at its default shape, or stage II
with `--text-encoder`) on the real set, eager, 1 thread per process, twice: `--short` steps and
`--long` steps, in new folders. The difference of the two wall times over the difference of
the steps is the time of a step with every fixed cost (imports, spawning, the data, the end
of run's IF folder and sample grid) cancelled. Variants alternate over `--rounds`; the ratio
is against 1 process measured in the same process. Wall clock: run it on quiet cores.

    python benchmarks/bench_train_procs.py --data DIR [--procs 1,2] [--short 2] [--long 8]
        [--rounds 2] [--stage base|upscale] [--text-encoder IF-I-FOLDER] [--shape S]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import machine  # noqa: E402
from engine.errors import EngineError  # noqa: E402


def run_seconds(config, steps: int) -> float:
    from engine.training.emoji_train import train_emoji

    with tempfile.TemporaryDirectory(prefix="bench-procs-") as tmp:
        start = time.perf_counter()
        train_emoji(config, Path(tmp) / "run", progress=False, max_steps=steps)
        return time.perf_counter() - start


def step_seconds(config, short: int, long: int) -> float:
    return (run_seconds(config, long) - run_seconds(config, short)) / (long - short)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="the emoji set (`data emoji --out DIR`)")
    parser.add_argument("--procs", default="1,2", help="worker counts, comma-separated")
    parser.add_argument("--short", type=int, default=2)
    parser.add_argument("--long", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--stage", choices=("base", "upscale"), default="base")
    parser.add_argument("--text-encoder", help="upscale: a stage I IF folder")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--shape", default="", help="base: a UNet shape (default the trained one)")
    args = parser.parse_args(argv)
    try:
        args.counts = [int(p) for p in args.procs.split(",") if p.strip()]
    except ValueError:
        parser.error("--procs takes whole numbers, comma-separated: 1,2")
    if not args.counts or min(args.counts) < 1 or not 1 <= args.short < args.long:
        parser.error("--procs must be at least 1, and 1 <= --short < --long")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    from engine.training.emoji_train import EmojiTrainConfig

    times: dict[int, list[float]] = {n: [] for n in args.counts}
    try:
        for _ in range(args.rounds):
            for n in args.counts:
                config = EmojiTrainConfig(args.stage, args.data, batch_size=args.batch_size,
                                          text_encoder=args.text_encoder, procs=n,
                                          shape=args.shape, sample_steps=2,
                                          num_threads=1, device="cpu", compile="off",
                                          save_every_s=None)
                times[n].append(step_seconds(config, args.short, args.long))
    except EngineError as error:
        print(f"bench_train_procs: {error}")
        return 1
    base = statistics.median(times[args.counts[0]])
    print(f"{machine()}; stage {args.stage}, batch {args.batch_size}, eager fp32/auto, 1 thread "
          f"per process, steps {args.short} -> {args.long}, {args.rounds} rounds\n")
    print(f"| processes | s / step (median) | all rounds | images / s | vs {args.counts[0]} |")
    print("|---|---|---|---|---|")
    for n in args.counts:
        med = statistics.median(times[n])
        rounds = ", ".join(f"{t:.2f}" for t in times[n])
        print(f"| {n} | {med:.2f} | {rounds} | {args.batch_size / med:.1f} | "
              f"{base / med:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
