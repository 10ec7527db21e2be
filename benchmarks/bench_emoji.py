"""Emoji stage I training throughput: candidate UNet shapes, fp32 against bf16 autocast.

One training step = T5 encoder + UNet forward, hybrid loss, backward, AdamW step, at 32 px on
random data (throughput does not depend on the pixels). Ratios are against the first shape's
fp32 rate in the same process. GFLOP is one UNet + T5 forward of one image (FlopCounterMode).
Rates are images per second of this process's CPU time (time.process_time), which on a shared
machine measures the cost of a step rather than the neighbours' load; wall-clock rates beside.

    python benchmarks/bench_emoji.py [--threads 1] [--batch-size 64] [--steps 4]
        [--shapes s32,s96,s4l] [--channels-last]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.training.emoji_model import (  # noqa: E402
    STAGE_ONE_SHAPES,
    Diffusion,
    TextShape,
    build_text_encoder,
    build_unet,
    hybrid_loss,
)


def build(shape_name: str):
    text = TextShape()
    torch.manual_seed(0)
    unet = build_unet(STAGE_ONE_SHAPES[shape_name], 32, text.d_model)
    t5 = build_text_encoder(text.vocab, text)
    return unet, t5


def gflop(unet, t5) -> float:
    ids = torch.randint(3, 100, (1, 77))
    x = torch.randn(1, 3, 32, 32)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        cond = t5(ids)[0]
        unet(x, torch.tensor([500]), encoder_hidden_states=cond)
    return counter.get_total_flops() / 1e9


def rate(unet, t5, batch: int, steps: int, bf16: bool, channels_last: bool
         ) -> tuple[float, float]:
    """(images per CPU second, images per wall second) of training steps."""
    diffusion = Diffusion()
    params = list(unet.parameters()) + list(t5.parameters())
    opt = torch.optim.AdamW(params, lr=1e-4)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    unet = unet.to(memory_format=fmt)
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(batch, 3, 32, 32, generator=g) * 2 - 1
    ids = torch.randint(3, 100, (batch, 77), generator=g)
    mask = torch.ones(batch, 77, dtype=torch.long)
    elapsed = cpu = 0.0
    for i in range(steps + 1):
        t = torch.randint(0, 1000, (batch,), generator=g)
        eps = torch.randn(x0.shape, generator=g)
        start, start_cpu = time.perf_counter(), time.process_time()
        x_t = diffusion.q_sample(x0, t, eps).contiguous(memory_format=fmt)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            cond = t5(ids, attention_mask=mask)[0]
            out = unet(x_t, t, encoder_hidden_states=cond).sample
        loss, _, _ = hybrid_loss(diffusion, out, x0, x_t, t, eps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i:  # the first step warms up
            elapsed += time.perf_counter() - start
            cpu += time.process_time() - start_cpu
    return batch * steps / cpu, batch * steps / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--shapes", default="s32,s96,s4l")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--no-bf16", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), batch {args.batch_size}, "
          f"{args.steps} timed steps, channels_last={args.channels_last}")
    print("shape   widths            params(M)  GFLOP/img  fp32 img/cpu-s  bf16 img/cpu-s  "
          "fp32 GFLOP/cpu-s  ratio  (fp32 img/wall-s)")
    base = None
    for name in args.shapes.split(","):
        unet, t5 = build(name)
        params = sum(p.numel() for p in unet.parameters()) / 1e6
        flops = gflop(unet, t5)
        fp32, wall = rate(unet, t5, args.batch_size, args.steps, False, args.channels_last)
        base = base or fp32
        bf16 = (float("nan") if args.no_bf16 else
                rate(*build(name), args.batch_size, args.steps, True, args.channels_last)[0])
        widths = str(STAGE_ONE_SHAPES[name].widths)
        print(f"{name:6}  {widths:17} {params:9.2f}  {flops:9.3f}  {fp32:14.1f}  {bf16:14.1f}  "
              f"{3 * flops * fp32:16.1f}  {fp32 / base:5.2f}  ({wall:.1f})", flush=True)


if __name__ == "__main__":
    main()
