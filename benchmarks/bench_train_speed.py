"""Emoji stage I training speed on this CPU: what each lever does to one training step.

One step is the run's own (engine/training/emoji_train.py loss_parts + StepLoss): T5 encoder
and UNet forward, hybrid loss, backward, gradient clipping, AdamW, EMA, at 32 px on random
images and prompts of real lengths (the cost does not depend on the pixels). Every variant
starts from the same weights and sees the same batches, so its first losses can be compared
with the baseline's (same maths: equal to float rounding). Variants run in alternating rounds
in one process; rates are images per second of this process's CPU time (time.process_time,
the machine is shared), ratios against the baseline (`old`: the step before this benchmark:
eager, NCHW, AdamW's per-tensor loop, EMA's per-tensor loop, diffusers' SDPA processor).
The fp32 peaks (a 2048^3 matmul, a 256-channel 3x3 convolution) are measured in the same run;
achieved GFLOP/s = 3 x (one forward's FLOPs, FlopCounterMode) x images/s.

    python benchmarks/bench_train_speed.py [--threads 1] [--rounds 2] [--steps 2]
        [--variants old,fused,lerp,eager,cl,classic,b64,t2,compiled,bf16,bf16cl,bf16b64,
        bf16classic,bf16t2,bf16compiled] [--shape s4l]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.training.emoji_model import (  # noqa: E402
    EMA,
    STAGE_ONE_SHAPES,
    Diffusion,
    TextShape,
    build_text_encoder,
    build_unet,
)
from engine.training.emoji_train import (  # noqa: E402
    EmojiTrainConfig,
    StageOne,
    StepLoss,
)


@dataclass(frozen=True)
class Variant:
    name: str
    what: str
    optimizer: str = "fused"  # loop | foreach | fused
    ema: str = "lerp"  # loop | lerp
    compiled: bool = False
    channels_last: bool = False
    attention: str = "sdpa"  # sdpa (diffusers' default, AttnAddedKVProcessor2_0) | classic
    batch: int = 32
    threads: int = 1
    bf16: bool = False  # bf16 autocast (the run's precision on a CPU with native bf16)


BASE = Variant("old", "eager, AdamW loop, EMA loop (before)", optimizer="loop", ema="loop")
VARIANTS = {v.name: v for v in (
    BASE,
    replace(BASE, name="foreach", what="AdamW foreach", optimizer="foreach"),
    replace(BASE, name="fused", what="AdamW fused", optimizer="fused"),
    replace(BASE, name="lerp", what="EMA by one _foreach_lerp_", ema="lerp"),
    Variant("eager", "fused AdamW + lerp EMA (default of a short run)"),
    Variant("cl", "fused + lerp + channels_last", channels_last=True),
    Variant("classic", "fused + lerp + diffusers' classic attention", attention="classic"),
    Variant("b64", "fused + lerp, batch 64", batch=64),
    Variant("t2", "fused + lerp, 2 threads", threads=2),
    Variant("compiled", "fused + lerp + torch.compile (inductor; compile auto)", compiled=True),
    Variant("bf16", "fused + lerp, bf16 autocast", bf16=True),
    Variant("bf16cl", "fused + lerp, bf16 autocast + channels_last", bf16=True,
            channels_last=True),
    Variant("bf16b64", "fused + lerp, bf16 autocast, batch 64", bf16=True, batch=64),
    Variant("bf16classic", "fused + lerp, bf16 autocast + diffusers' classic attention",
            bf16=True, attention="classic"),
    Variant("bf16t2", "fused + lerp, bf16 autocast, 2 threads", bf16=True, threads=2),
    Variant("bf16compiled", "fused + lerp, bf16 autocast + torch.compile", bf16=True,
            compiled=True),
)}


def old_ema_update(ema: EMA, model: torch.nn.Module) -> None:
    """EMA.update as it was: one mul_ and add_ per tensor."""
    ema.updates += 1
    d = min(ema.decay, (1 + ema.updates) / (10 + ema.updates))
    for k, v in model.state_dict().items():
        if v.is_floating_point():
            ema.shadow[k].mul_(d).add_(v.detach().float(), alpha=1 - d)
        else:
            ema.shadow[k].copy_(v)


class Runner:
    """One variant's model, optimizer, EMA and step."""

    def __init__(self, variant: Variant, model: StageOne, config: EmojiTrainConfig) -> None:
        self.v = variant
        self.model = copy.deepcopy(model)
        if variant.attention == "classic":
            from diffusers.models.attention_processor import AttnAddedKVProcessor

            self.model.unet.set_attn_processor(AttnAddedKVProcessor())
        fmt = torch.channels_last if variant.channels_last else torch.contiguous_format
        self.model.unet.to(memory_format=fmt)
        self.fmt = fmt
        self.params = list(self.model.parameters())
        options = {"loop": dict(foreach=False), "foreach": dict(foreach=True),
                   "fused": dict(fused=True)}[variant.optimizer]
        self.opt = torch.optim.AdamW(self.params, lr=5e-4, weight_decay=0.0, **options)
        self.ema = EMA(self.model, 0.999)
        self.diffusion = Diffusion()
        self.loss = StepLoss(config, self.model, None, self.diffusion,
                             torch.bfloat16 if variant.bf16 else None, variant.compiled, log=False)
        self.cpu = self.images = 0.0
        self.losses: list[float] = []
        self.first_cpu = self.first_wall = 0.0

    def step(self, batch: tuple[torch.Tensor, ...], timed: bool) -> None:
        torch.set_num_threads(self.v.threads)
        ids, mask, x0, t, eps = batch
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        x_t = self.diffusion.q_sample(x0, t, eps).contiguous(memory_format=self.fmt)
        loss, _, _ = self.loss(0, None, ids, mask, x_t, x0, x_t, t, eps, None)
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.opt.step()
        if self.v.ema == "lerp":
            self.ema.update(self.model)
        else:
            old_ema_update(self.ema, self.model)
        self.losses.append(float(loss.detach()))
        cpu, wall = time.process_time() - start_cpu, time.perf_counter() - start_wall
        if timed:
            self.cpu += cpu
            self.images += len(x0)
        elif not self.first_cpu:
            self.first_cpu, self.first_wall = cpu, wall

    @property
    def rate(self) -> float:
        return self.images / self.cpu if self.cpu else float("nan")


def batch_of(step: int, size: int, vocab: int = 3000) -> tuple[torch.Tensor, ...]:
    """Step `step`'s batch: prompts of 2 to 12 tokens then padding (as the labels tokenize)."""
    g = torch.Generator().manual_seed(1000 + step)
    lengths = torch.randint(2, 13, (size,), generator=g)
    ids = torch.randint(3, vocab, (size, 77), generator=g)
    mask = (torch.arange(77)[None] < lengths[:, None]).long()
    ids = ids * mask + (torch.arange(77)[None] == lengths[:, None]).long()  # </s> then <pad>
    mask = (torch.arange(77)[None] <= lengths[:, None]).long()
    x0 = torch.rand(size, 3, 32, 32, generator=g) * 2 - 1
    t = torch.randint(0, 1000, (size,), generator=g)
    eps = torch.randn(x0.shape, generator=g)
    return ids, mask, x0, t, eps


def timed(fn, repeats: int) -> float:
    fn()
    start = time.process_time()
    for _ in range(repeats):
        fn()
    return (time.process_time() - start) / repeats


def peaks(dtype: torch.dtype = torch.float32) -> tuple[float, float]:
    """GFLOP/s of one thread in `dtype`: a 2048^3 matmul, a 3x3 256->256 convolution
    (32x16x16)."""
    torch.set_num_threads(1)
    a, b = torch.randn(2048, 2048, dtype=dtype), torch.randn(2048, 2048, dtype=dtype)
    mm = 2 * 2048 ** 3 / timed(lambda: a @ b, 4) / 1e9
    conv = torch.nn.Conv2d(256, 256, 3, padding=1).to(dtype=dtype,
                                                      memory_format=torch.channels_last)
    x = torch.randn(32, 256, 16, 16, dtype=dtype).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        cv = 2 * 32 * 16 * 16 * 256 * 256 * 9 / timed(lambda: conv(x), 4) / 1e9
    return mm, cv


def forward_gflop(model: StageOne) -> float:
    ids, mask, x0, t, _ = batch_of(0, 1)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.unet(x0, t, encoder_hidden_states=model.encode(ids, mask))
    return counter.get_total_flops() / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="every variant but t2")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=2, help="timed steps per round")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--shape", default="s4l")
    args = parser.parse_args()
    names = args.variants.split(",")
    if BASE.name not in names:
        names.insert(0, BASE.name)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    torch.manual_seed(0)
    text = TextShape()
    model = StageOne(build_unet(STAGE_ONE_SHAPES[args.shape], 32, text.d_model),
                     build_text_encoder(text.vocab, text)).train()
    config = EmojiTrainConfig("base", "", shape=args.shape, compile="on")
    flop = forward_gflop(model)
    mm_peak, conv_peak = peaks()
    mm16, conv16 = peaks(torch.bfloat16) if any(VARIANTS[n].bf16 for n in names) else (0, 0)
    runners = [Runner(replace(VARIANTS[n], threads=args.threads)
                      if VARIANTS[n].threads == 1 else VARIANTS[n], model, config)
               for n in names]
    print(f"torch {torch.__version__}, shape {args.shape} ({flop:.2f} GFLOP per forward), "
          f"{args.threads} thread(s) (t2: 2), {args.rounds} rounds x {args.steps} timed steps; "
          f"fp32 peaks: matmul {mm_peak:.1f}, conv {conv_peak:.1f} GFLOP/s; bf16 peaks: matmul "
          f"{mm16:.1f}, conv {conv16:.1f} (bf16 variants' shares are of these)", flush=True)
    step_of = {r.v.name: 0 for r in runners}
    for r in runners:  # the warm-up step (the compile, for the compiled variant)
        r.step(batch_of(0, r.v.batch), timed=False)
        step_of[r.v.name] = 1
        print(f"  {r.v.name}: first step {r.first_cpu:.1f} s CPU, {r.first_wall:.1f} s wall",
              flush=True)
    for _ in range(args.rounds):
        for r in runners:
            for _ in range(args.steps):
                r.step(batch_of(step_of[r.v.name], r.v.batch), timed=True)
                step_of[r.v.name] += 1
    base = runners[0]
    print("| variant | what | images/cpu-s | vs old | GFLOP/s | of matmul peak | of conv peak "
          "| first losses | max loss diff vs old |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in runners:
        gf = 3 * flop * r.rate
        mm, cv = (mm16, conv16) if r.v.bf16 else (mm_peak, conv_peak)
        same = r.v.batch == base.v.batch
        n = min(len(r.losses), len(base.losses))
        diff = (max(abs(a - b) for a, b in zip(r.losses[:n], base.losses[:n]))
                if same else float("nan"))
        losses = ", ".join(f"{x:.5f}" for x in r.losses[:3])
        print(f"| {r.v.name} | {r.v.what} | {r.rate:.2f} | {r.rate / base.rate:.2f} | {gf:.1f} "
              f"| {gf / mm:.0%} | {gf / cv:.0%} | {losses} | "
              f"{diff:.1e} |" if same else
              f"| {r.v.name} | {r.v.what} | {r.rate:.2f} | {r.rate / base.rate:.2f} | {gf:.1f} "
              f"| {gf / mm:.0%} | {gf / cv:.0%} | {losses} | other batches |",
              flush=True)


if __name__ == "__main__":
    main()
