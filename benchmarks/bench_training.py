"""Training throughput: the course recipe (fp32, eager, default layout) against the project's
default path (bf16 autocast + channels_last on CPU; fp16 AMP on CUDA), in one process.

Both paths start from the same weights and see the same batches, so their losses over the
first steps can be compared (goal: within 5%). Achieved FLOP/s is reported against a matmul
peak measured in the same run. Goal: the default path at least 2.5× the course recipe.

    python benchmarks/bench_training.py [--steps 12] [--batch-size 128] [--hidden 64]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.schedules import NoiseSchedule  # noqa: E402
from engine.training.train import cpu_has_native_bf16  # noqa: E402
from engine.training.unets import build_unet  # noqa: E402


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


def run(net, data, autocast_dtype, channels_last: bool, device, compiled: bool = False
        ) -> tuple[float, list[float]]:
    net = net.to(device)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    forward = torch.compile(net) if compiled else net
    warm = 3 if compiled else 1  # compiling takes the first steps (forward, then backward)
    losses = []
    for i, (x, t, c, eps) in enumerate(data):
        if i == warm:  # the first steps warm up kernels and allocators
            start = time.perf_counter()
        x, t, c, eps = (v.to(device) for v in (x, t, c, eps))
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=autocast_dtype or torch.float32,
                            enabled=autocast_dtype is not None):
            loss = F.mse_loss(forward(x, t, c).float(), eps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (len(data) - warm) * data[0][0].shape[0] / (time.perf_counter() - start), losses


def step_flops(net, sample) -> int:
    x, t, c, eps = sample
    with FlopCounterMode(display=False) as counter:
        F.mse_loss(net(x, t, c), eps).backward()
    net.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def matmul_peak(dtype, device, n: int = 2048, reps: int = 10) -> float:
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * n**3 * reps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--compile", action="store_true",
                        help="add a row: the default path under torch.compile")
    args = parser.parse_args()
    device = torch.device(args.device)
    fast = torch.float16 if device.type == "cuda" else (
        torch.bfloat16 if cpu_has_native_bf16() else None)
    torch.manual_seed(0)
    base = build_unet("class", args.hidden)
    data = batches(args.steps, args.batch_size)
    flops = step_flops(copy.deepcopy(base), data[0]) / args.batch_size
    course_ips, course_loss = run(copy.deepcopy(base), data, None, False, device)
    fast_ips, fast_loss = run(copy.deepcopy(base), data, fast, device.type == "cpu", device)
    rows = [("course: fp32 eager", course_ips, None),
            (f"default: {fast} autocast + channels_last", fast_ips, fast)]
    if args.compile:
        compiled_ips, compiled_loss = run(copy.deepcopy(base), data, fast,
                                          device.type == "cpu", device, compiled=True)
        rows.append((f"{fast} autocast + channels_last + torch.compile", compiled_ips, fast))
    peak32 = matmul_peak(torch.float32, device)
    peak_fast = matmul_peak(fast, device) if fast is not None else peak32
    drift = abs(sum(fast_loss) - sum(course_loss)) / sum(course_loss)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}, "
          f"class UNet D={args.hidden}, batch {args.batch_size}, {args.steps} steps\n")
    print("| path | images/s | ratio | achieved GFLOP/s | matmul peak GFLOP/s | of peak |")
    print("|---|---|---|---|---|---|")
    for name, ips, dtype in rows:
        peak = peak32 if dtype is None else peak_fast
        print(f"| {name} | {ips:.0f} | {ips / course_ips:.2f}× | {ips * flops / 1e9:.0f} | "
              f"{peak / 1e9:.0f} | {ips * flops / peak:.0%} |")
    mean_course, mean_fast = (sum(v) / len(v) for v in (course_loss, fast_loss))
    print(f"\nmean loss over the {args.steps} steps: course {mean_course:.4f}, "
          f"default {mean_fast:.4f} (difference {drift:.1%}; goal < 5%)")
    if args.compile:
        mean_compiled = sum(compiled_loss) / len(compiled_loss)
        print(f"compiled: {mean_compiled:.4f} "
              f"(difference {abs(mean_compiled - mean_course) / mean_course:.1%})")


if __name__ == "__main__":
    main()
