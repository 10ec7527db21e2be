"""Training throughput: the course recipe (fp32, eager, default layout) against the project's
default path (bf16 autocast + channels_last on CPU; fp16 AMP on CUDA), and the levers around
the default path, in one process.

Every variant starts from the same weights and sees the same batches, so its losses can be
compared with the course's (goal: mean within 5%; the bf16 variants against the default path's
to bf16 rounding). Variants run in alternating rounds; each round also measures the peaks (a
2048^3 matmul and a 256-channel 3x3 convolution, forward, in the fast dtype), because on a shared
machine they move with the load. Rates are images per second of this process's CPU time
(time.process_time; `--wall` for wall clock, on a quiet machine), the best round of each; the
peaks are the best round's too. Achieved GFLOP/s = FLOPs of one training step (FlopCounterMode:
forward + backward) x images/s.

    python benchmarks/bench_training.py [--steps 4] [--rounds 3] [--threads 1]
        [--variants course,default,nchw,fused,b256,gn,t2,compiled,split,splittaps]
        [--batch-size 128]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.schedules import NoiseSchedule  # noqa: E402
from engine.training.conv_backward import split_convolutions  # noqa: E402
from engine.training.train import cpu_has_native_bf16  # noqa: E402
from engine.training.unets import build_unet  # noqa: E402


@dataclass(frozen=True)
class Variant:
    name: str
    what: str
    fast: bool = True  # the fast dtype's autocast (bf16 on CPU, fp16 on CUDA); False: fp32
    channels_last: bool = True
    fused: bool = False  # Adam(fused=True)
    batch_scale: int = 1
    group_norm: bool = False  # GroupNorm(32) in place of every BatchNorm: cost only
    compiled: bool = False
    threads: int | None = None  # None: --threads
    split_conv: str | None = None  # the 3x3 convolutions' split backward ("aten" | "taps")


DEFAULT = Variant("default", "default: autocast + channels_last (train's path)")
VARIANTS = {v.name: v for v in (
    Variant("course", "course: fp32 eager NCHW", fast=False, channels_last=False),
    DEFAULT,
    replace(DEFAULT, name="nchw", what="autocast, NCHW", channels_last=False),
    replace(DEFAULT, name="fused", what="default + fused Adam", fused=True),
    replace(DEFAULT, name="b256", what="default, batch x2 (per image)", batch_scale=2),
    replace(DEFAULT, name="gn", what="default, GroupNorm(32) for BatchNorm (cost only)",
            group_norm=True),
    replace(DEFAULT, name="t2", what="default, 2 threads", threads=2),
    replace(DEFAULT, name="compiled", what="default + torch.compile (inductor)", compiled=True),
    replace(DEFAULT, name="split", what="default, split 3x3 conv backward (aten weight grad)",
            split_conv="aten"),
    replace(DEFAULT, name="splittaps", what="default, split 3x3 conv backward (tap matmuls)",
            split_conv="taps"),
)}


def batches(n: int, batch: int, seed: int = 0) -> list[tuple[torch.Tensor, ...]]:
    """Fixed DDPM training batches (x_t, t/T, one-hot c, ε) for the class model."""
    from engine.training.data import load_mnist

    g = torch.Generator().manual_seed(seed)
    data = load_mnist("train")
    table = NoiseSchedule.ddpm_linear(300).table.float()
    out = []
    for _ in range(n):
        idx = torch.randint(0, len(data), (batch,), generator=g)
        x0 = torch.from_numpy(data.images[idx.numpy()]).float().div(255).unsqueeze(1)
        c = F.one_hot(torch.from_numpy(data.labels[idx.numpy()]).long(), 10).float()
        t = torch.randint(1, 301, (batch,), generator=g)
        eps = torch.randn(x0.shape, generator=g)
        abar = table[t].view(-1, 1, 1, 1)
        out.append((abar.sqrt() * x0 + (1 - abar).sqrt() * eps, t.float() / 300, c, eps))
    return out


def with_group_norm(net: nn.Module) -> nn.Module:
    """Every BatchNorm2d of `net` replaced by a GroupNorm of 32 groups (8 for narrow layers)."""
    for name, child in net.named_children():
        if isinstance(child, nn.BatchNorm2d):
            c = child.num_features
            setattr(net, name, nn.GroupNorm(32 if c % 32 == 0 else 1, c))
        else:
            with_group_norm(child)
    return net


class Runner:
    """One variant's model, optimizer and step, with its times and losses."""

    def __init__(self, v: Variant, base: nn.Module, fast: torch.dtype | None,
                 device: torch.device, threads: int) -> None:
        self.v, self.device = v, device
        self.threads = v.threads or threads
        net = copy.deepcopy(base)
        if v.group_norm:
            net = with_group_norm(net)
        if v.split_conv:
            split_convolutions(net, v.split_conv)
        self.fmt = torch.channels_last if v.channels_last else torch.contiguous_format
        self.net = net.to(device=device, memory_format=self.fmt)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=1e-3,
                                    fused=True if v.fused else None)
        self.forward = torch.compile(self.net) if v.compiled else self.net
        self.dtype = fast if v.fast else None
        self.cpu = self.wall = 0.0
        self.best_cpu = self.best_wall = 0.0  # images/s of the best round
        self.losses: list[float] = []

    def step(self, x, t, c, eps) -> float:
        x, t, c, eps = (v.to(self.device) for v in (x, t, c, eps))
        x = x.contiguous(memory_format=self.fmt)
        with torch.autocast(self.device.type, dtype=self.dtype or torch.float32,
                            enabled=self.dtype is not None):
            loss = F.mse_loss(self.forward(x, t, c).float(), eps)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss.item()

    def round(self, data: list[tuple[torch.Tensor, ...]], timed: bool) -> None:
        torch.set_num_threads(self.threads)
        cpu, wall = time.process_time(), time.perf_counter()
        for sample in data:
            self.losses.append(self.step(*sample))
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        if timed:
            images = len(data) * data[0][0].shape[0]
            self.best_cpu = max(self.best_cpu, images / cpu)
            self.best_wall = max(self.best_wall, images / wall)


def step_flops(net: nn.Module, sample: tuple[torch.Tensor, ...]) -> int:
    x, t, c, eps = sample
    with FlopCounterMode(display=False) as counter:
        F.mse_loss(net(x, t, c), eps).backward()
    net.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def _best_rate(fn, flop: float, reps: int, wall: bool, device: torch.device) -> float:
    clock = time.perf_counter if wall or device.type == "cuda" else time.process_time
    fn()
    best = 0.0
    for _ in range(reps):
        start = clock()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = max(best, flop / (clock() - start))
    return best


def matmul_peak(dtype, device, wall: bool = False, n: int = 2048, reps: int = 5) -> float:
    """FLOP/s of an n^3 matmul in `dtype`, the best of `reps`."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    return _best_rate(lambda: a @ b, 2 * n ** 3, reps, wall, device)


def conv_peak(dtype, device, wall: bool = False, reps: int = 5) -> float:
    """FLOP/s of a 3x3 256 -> 256 convolution forward (32 x 256 x 16 x 16, channels_last)."""
    conv = nn.Conv2d(256, 256, 3, padding=1).to(device=device, dtype=dtype,
                                                memory_format=torch.channels_last)
    x = torch.randn(32, 256, 16, 16, device=device, dtype=dtype).contiguous(
        memory_format=torch.channels_last)

    def forward():
        with torch.no_grad():
            conv(x)

    return _best_rate(forward, 2 * 32 * 16 * 16 * 256 * 256 * 9, reps, wall, device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--variants", default="course,default")
    parser.add_argument("--compile", action="store_true", help="add the compiled variant")
    parser.add_argument("--wall", action="store_true",
                        help="rates by wall clock (a quiet machine), not process CPU time")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    names = list(dict.fromkeys(["course", *args.variants.split(",")]
                               + (["compiled"] if args.compile else [])))
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    device = torch.device(args.device)
    fast = torch.float16 if device.type == "cuda" else (
        torch.bfloat16 if cpu_has_native_bf16() else None)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    base = build_unet("class", args.hidden)
    scales = {VARIANTS[n].batch_scale for n in names}
    data = {s: batches((args.rounds + 1) * args.steps, args.batch_size * s) for s in scales}
    flops = step_flops(copy.deepcopy(base), data[1][0]) / args.batch_size
    runners = [Runner(VARIANTS[n], base, fast, device, args.threads) for n in names]
    peak_dtype = fast or torch.float32
    peaks = {"fp32 matmul": 0.0, "matmul": 0.0, "conv": 0.0}
    for r in range(args.rounds + 1):  # round 0 warms up (and compiles)
        for runner in runners:
            chunk = data[runner.v.batch_scale][r * args.steps:(r + 1) * args.steps]
            runner.round(chunk, timed=r > 0)
        torch.set_num_threads(args.threads)
        peaks["fp32 matmul"] = max(peaks["fp32 matmul"],
                                   matmul_peak(torch.float32, device, args.wall))
        peaks["matmul"] = max(peaks["matmul"], matmul_peak(peak_dtype, device, args.wall))
        peaks["conv"] = max(peaks["conv"], conv_peak(peak_dtype, device, args.wall))
    report(args, runners, flops, peaks, fast)


def report(args, runners: list[Runner], flops: float, peaks: dict[str, float], fast) -> None:
    clock = "wall" if args.wall else "CPU"
    print(f"torch {torch.__version__}, {args.threads} thread(s), class UNet D={args.hidden}, "
          f"batch {args.batch_size}, {args.rounds} rounds x {args.steps} steps, rates per "
          f"{clock} second (best round); {flops / 1e9:.2f} GFLOP per image (fwd + bwd); peaks "
          f"(best round, GFLOP/s): fp32 matmul {peaks['fp32 matmul'] / 1e9:.0f}, {fast} matmul "
          f"{peaks['matmul'] / 1e9:.0f}, {fast} conv {peaks['conv'] / 1e9:.0f}\n")
    print("| variant | what | images/s | vs course | GFLOP/s | of matmul peak | of conv peak "
          "| mean loss | vs default |")
    print("|---|---|---|---|---|---|---|---|---|")
    course = runners[0]
    default = next((r for r in runners if r.v.name == "default"), None)
    for r in runners:
        rate = r.best_wall if args.wall else r.best_cpu
        base_rate = course.best_wall if args.wall else course.best_cpu
        gf = rate * flops
        peak = peaks["matmul"] if r.v.fast else peaks["fp32 matmul"]
        conv = f"{gf / peaks['conv']:.0%}" if r.v.fast else "-"
        mean = statistics.fmean(r.losses)
        same = default is not None and r.v.batch_scale == 1 and not r.v.group_norm
        diff = (f"{max(abs(a - b) for a, b in zip(r.losses, default.losses)):.1e}" if same
                else "other batches" if r.v.batch_scale != 1 else "other model")
        print(f"| {r.v.name} | {r.v.what} | {rate:.0f} | {rate / base_rate:.2f}x | {gf / 1e9:.0f} "
              f"| {gf / peak:.0%} | {conv} | {mean:.4f} | {diff} |")
    if default is not None:
        drift = abs(statistics.fmean(default.losses) - statistics.fmean(course.losses))
        print(f"\nmean loss: course {statistics.fmean(course.losses):.4f}, default "
              f"{statistics.fmean(default.losses):.4f} (difference "
              f"{drift / statistics.fmean(course.losses):.1%}; goal < 5%)")


if __name__ == "__main__":
    main()
