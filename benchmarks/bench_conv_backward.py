"""The bf16 3x3 convolution backward: oneDNN's kernels against the split backward
(engine/training/conv_backward.py), per 3x3 stride-1 layer shape of the class UNet, one process.

For every shape (bf16, channels_last, the training batch): oneDNN's forward, its backward
(aten.convolution_backward for input + weight + bias, what autograd calls), and the split
backward's pieces: grad_input as a forward convolution with the flipped weights, grad_weight as
nine tap matmuls ("taps") or as aten's weight-only backward ("aten"), grad_bias as a sum. Times
are process CPU time (time.process_time), the best of --rounds x --reps, the jobs of a shape
taking turns and the shapes alternating rounds (the machine's load moves); GFLOP/s count
2*N*H*W*C*O*9 per product (forward, grad_input, grad_weight).

    python benchmarks/bench_conv_backward.py [--threads 1] [--batch-size 128] [--hidden 64]
        [--rounds 3] [--reps 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.training.conv_backward import (  # noqa: E402
    grad_bias,
    grad_weight_aten,
    grad_weight_taps,
)


def unet_shapes(d: int) -> list[tuple[int, int, int, int]]:
    """(in, out, pixels, how many) of the class UNet's 3x3 stride-1 convolutions."""
    return [(1, d, 28, 1), (d, d, 28, 4), (2 * d, d, 28, 1), (d, d, 14, 4),
            (2 * d, 2 * d, 7, 2), (d, 1, 28, 1)]


class Shape:
    def __init__(self, c: int, o: int, px: int, count: int, batch: int) -> None:
        self.c, self.o, self.px, self.count = c, o, px, count
        cl = torch.channels_last
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(batch, c, px, px, generator=g).to(torch.bfloat16).contiguous(
            memory_format=cl)
        self.w = (torch.randn(o, c, 3, 3, generator=g) / (3 * c ** 0.5)).to(
            torch.bfloat16).contiguous(memory_format=cl)
        self.gy = torch.randn(batch, o, px, px, generator=g).to(torch.bfloat16).contiguous(
            memory_format=cl)
        self.flops = 2 * batch * px * px * c * o * 9
        self.times: dict[str, float] = {}

    def jobs(self):
        x, w, gy = self.x, self.w, self.gy
        flipped = w.flip(2, 3).transpose(0, 1).contiguous(memory_format=torch.channels_last)
        mask = (self.c > 1, True, True)  # the first layer's input needs no gradient
        return {
            "forward": lambda: F.conv2d(x, w, None, 1, 1),
            "onednn backward": lambda: torch.ops.aten.convolution_backward(
                gy, x, w, [self.o], (1, 1), (1, 1), (1, 1), False, (0, 0), 1, mask),
            "grad_input conv": (lambda: F.conv2d(gy, flipped, None, 1, 1)) if mask[0]
            else (lambda: None),
            "grad_weight taps": lambda: grad_weight_taps(x, gy),
            "grad_weight aten": lambda: grad_weight_aten(x, gy, w),
            "grad_bias sum": lambda: grad_bias(gy),
        }

    def measure(self, reps: int) -> None:
        """Every job once per rep, in turn, after one warm-up each: the best time per job."""
        jobs = self.jobs()
        with torch.no_grad():
            for job in jobs.values():
                job()
            for _ in range(reps):
                for name, job in jobs.items():
                    start = time.process_time()
                    job()
                    took = time.process_time() - start
                    self.times[name] = min(self.times.get(name, took), took)

    def split(self, weight: str) -> float:
        return (self.times["grad_input conv"] + self.times[f"grad_weight {weight}"]
                + self.times["grad_bias sum"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    shapes = [Shape(*s, args.batch_size) for s in unet_shapes(args.hidden)]
    for _ in range(args.rounds):
        for shape in shapes:
            shape.measure(args.reps)
    report(args, shapes)


def _rate(flops: float, seconds: float) -> str:
    return f"{flops / seconds / 1e9:,.0f}"


def report(args, shapes: list[Shape]) -> None:
    print(f"torch {torch.__version__}, {args.threads} thread(s), bf16 channels_last, batch "
          f"{args.batch_size}, class UNet D={args.hidden}, best of {args.rounds} rounds x "
          f"{args.reps} reps, process CPU time\n")
    print("| in -> out, px (x count) | forward ms (GFLOP/s) | oneDNN backward ms (GFLOP/s) "
          "| grad_input conv ms | grad_weight taps ms | grad_weight aten ms | bias ms "
          "| split taps ms (GFLOP/s) | split aten ms (GFLOP/s) | oneDNN / best split |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    totals = {"forward": 0.0, "onednn": 0.0, "taps": 0.0, "aten": 0.0, "best": 0.0}
    for s in shapes:
        t = s.times
        back_flops = s.flops * (2 if s.c > 1 else 1)
        taps, aten = s.split("taps"), s.split("aten")
        best = min(taps, aten)
        for key, value in (("forward", t["forward"]), ("onednn", t["onednn backward"]),
                           ("taps", taps), ("aten", aten), ("best", best)):
            totals[key] += value * s.count
        ms = {k: v * 1e3 for k, v in t.items()}
        print(f"| {s.c} -> {s.o}, {s.px} (x{s.count}) | {ms['forward']:.1f} "
              f"({_rate(s.flops, t['forward'])}) | {ms['onednn backward']:.1f} "
              f"({_rate(back_flops, t['onednn backward'])}) | {ms['grad_input conv']:.1f} "
              f"| {ms['grad_weight taps']:.1f} | {ms['grad_weight aten']:.1f} "
              f"| {ms['grad_bias sum']:.2f} | {taps * 1e3:.1f} ({_rate(back_flops, taps)}) "
              f"| {aten * 1e3:.1f} ({_rate(back_flops, aten)}) "
              f"| {t['onednn backward'] / best:.2f}x |")
    print(f"\nper training step, all {sum(s.count for s in shapes)} layers: forward "
          f"{totals['forward'] * 1e3:.0f} ms, oneDNN backward {totals['onednn'] * 1e3:.0f} ms, "
          f"split taps {totals['taps'] * 1e3:.0f} ms, split aten {totals['aten'] * 1e3:.0f} ms, "
          f"best split per shape {totals['best'] * 1e3:.0f} ms "
          f"({totals['onednn'] / totals['best']:.2f}x)")


if __name__ == "__main__":
    main()
