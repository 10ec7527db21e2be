"""Inference cost of candidate emoji UNet shapes: one CFG forward (batch 2) per shape, eager fp32,
timed in one process against a baseline shape, with parameters and GFLOP per image.

    .venv/bin/python benchmarks/bench_emoji_shapes.py --stage upscale --threads 2
    .venv/bin/python benchmarks/bench_emoji_shapes.py --stage base --threads 2

Speed does not depend on the weights, so fresh random weights are used. Each row also gives the
time of a whole sample at `--steps` (stage I: 30 CFG steps; stage II: its default and 50).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.training.emoji_model import (  # noqa: E402
    STAGE_ONE,
    STAGE_ONE_SHAPES,
    STAGE_TWO,
    STAGE_TWO_STEPS,
    UNetShape,
    build_unet,
)

# stage II candidates beside the pick; "up" is the shape stage II had before it was measured
UPSCALE_SHAPES = {
    "up": UNetShape("up", (32, 64, 96), (False, False, True), groups=16),
    STAGE_TWO.name: STAGE_TWO,
    "u24": UNetShape("u24", (24, 48, 96), (False, False, True), groups=8),
    "u16b": UNetShape("u16b", (16, 48, 96, 128), (False, False, False, True), groups=8),
    "u4": UNetShape("u4", (32, 64, 96, 128), (False, False, False, True), groups=16),
}
BASE_SHAPES = {k: v for k, v in STAGE_ONE_SHAPES.items() if k != "test"} | {
    "t3": UNetShape("t3", (32, 64, 128), (False, False, True))}


def forward_ms(unet: torch.nn.Module, inputs: dict, rounds: int, calls: int) -> float:
    """The best of `rounds` means of `calls` forwards, in ms (the best: the least disturbed)."""
    best = float("inf")
    with torch.inference_mode():
        unet(**inputs)
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(calls):
                unet(**inputs)
            best = min(best, (time.perf_counter() - start) / calls * 1000)
    return best


def gflop_per_image(unet: torch.nn.Module, inputs: dict) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        unet(**inputs)
    return counter.get_total_flops() / 2e9


def inputs_for(stage: str, text_dim: int = 128) -> tuple[int, dict]:
    size = 32 if stage == "base" else 64
    channels = 3 if stage == "base" else 6
    inputs = dict(sample=torch.randn(2, channels, size, size),
                  timestep=torch.tensor([500, 500]),
                  encoder_hidden_states=torch.randn(2, 77, text_dim))
    if stage == "upscale":
        inputs["class_labels"] = torch.tensor([250, 250])
    return size, inputs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=("base", "upscale"), default="upscale")
    parser.add_argument("--shapes", help="comma-separated names (default: all candidates)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    table = BASE_SHAPES if args.stage == "base" else UPSCALE_SHAPES
    names = args.shapes.split(",") if args.shapes else list(table)
    unknown = [n for n in names if n not in table]
    if unknown:
        print(f"unknown shapes {unknown}; choose from {', '.join(table)}", file=sys.stderr)
        return 2
    baseline = STAGE_ONE if args.stage == "base" else "up"
    if baseline not in names:
        names.insert(0, baseline)
    steps = (30,) if args.stage == "base" else (STAGE_TWO_STEPS, 50)
    size, inputs = inputs_for(args.stage)
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{args.threads} thread(s); stage {args.stage}, {size} px, batch 2 (one CFG step)")
    step_cols = " | ".join(f"{n} steps" for n in steps)
    print(f"| shape | widths | params | GFLOP/img | ms/CFG step | vs {baseline} | {step_cols} |")
    print("|---|---|---|---|---|---|" + "---|" * len(steps))
    times = {}
    for name in names:
        shape = table[name]
        unet = build_unet(shape, size, 128, stage_two=args.stage == "upscale").eval()
        params = sum(p.numel() for p in unet.parameters()) / 1e6
        times[name] = forward_ms(unet, inputs, args.rounds, args.calls)
        whole = " | ".join(f"{n * times[name] / 1000:.2f} s" for n in steps)
        ratio = times[baseline] / times[name] if baseline in times else float("nan")
        print(f"| {name} | {', '.join(map(str, shape.widths))} | {params:.2f} M | "
              f"{gflop_per_image(unet, inputs):.2f} | {times[name]:.1f} | {ratio:.2f}x | "
              f"{whole} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
