"""bf16 against fp32 inference on the bundled digit model: the same draws, and their speed.

Both precisions load the same checkpoint in one process (fp32 as it is; bf16 as bf16 weights in
channels-last layout, what `--dtype auto` picks on a CPU with AMX or AVX512-BF16) and draw the
same seeds (the noise is drawn in fp32 either way), with CFG γ = 5 over the 30-step default.

Quality, judged by the bundled digit classifier:
- accuracy of the fp32 and the bf16 samples (does each read as the digit asked for);
- the Fréchet distance (classifier features) of the bf16 samples to the fp32 samples of the same
  seeds, beside the noise floor: the distance of a second fp32 draw (other seeds) to the first;
- same-seed pairs: mean |Δ pixel| and how often the classifier reads the pair as the same digit.

Speed: milliseconds per 30-step CFG sample at batch 1 and batch 16 (median of --repeats), and
the ratio bf16 / fp32 measured in this process (< 1: bf16 is faster). The bf16 model is what
auto loads (packed for oneDNN where it can be, engine/models/onednn.py); the "bf16 eager"
column is the same weights cast in place, the path before the packing, as a second baseline.
30 timesteps are 29 updates, each one forward of the same shape; `--time-steps K` times the
first K updates and scales by 29 / K, which keeps the run short where bf16 is emulated and slow.
`--clock cpu` times by this process's CPU time instead of the wall clock: with `--threads 1` it
is the same measure, and other processes on the machine (a training run) move it much less.

    python benchmarks/bench_precision.py [--per-digit 10] [--batches 1 16] [--repeats 3]
                                         [--time-steps 30] [--seed 0] [--threads 1]
                                         [--clock wall|cpu]

Prints markdown tables. Exit 1 with one line if the model or the classifier is missing.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_quality import draw, pct  # noqa: E402

from engine import devices, edits  # noqa: E402
from engine.errors import EngineError  # noqa: E402
from engine.models.mnist import MnistModel  # noqa: E402
from engine.training.classifier import (  # noqa: E402
    features,
    frechet_distance,
    load_classifier,
    predict_digits,
)

STEPS = 30
GUIDANCE = 5.0
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def time_sample(model, batch: int, repeats: int, time_steps: int, seed: int,
                clock=time.perf_counter) -> float:
    """Milliseconds per image of a 30-step CFG sample at this batch (median of the repeats)."""
    prompts = [str(i % 10) for i in range(batch)]
    model.predict(torch.zeros(2, 1, 28, 28), torch.tensor([1, 1]), None)  # warm-up
    runs = []
    for r in range(repeats):
        gen = torch.Generator().manual_seed(seed + r)
        records = edits.sample(model, prompts, gen, guidance=GUIDANCE, steps=STEPS)
        t0 = clock()
        done = total = 0
        for record in records:
            done, total = done + 1, record.total  # total: the loop's updates (29 for 30 steps)
            if done == time_steps:
                break
        runs.append((clock() - t0) * total / done)
    return 1000 * statistics.median(runs) / batch


def quality(models: dict, net, per_digit: int, seed: int) -> None:
    chunk = 10 * per_digit
    x32, labels, s32 = draw(models["fp32"], per_digit, GUIDANCE, STEPS, seed, chunk)
    x16, _, s16 = draw(models["bf16"], per_digit, GUIDANCE, STEPS, seed, chunk)
    other, _, _ = draw(models["fp32"], per_digit, GUIDANCE, STEPS, seed + 1, chunk)
    read32, read16, read_other = (predict_digits(net, x) for x in (x32, x16, other))
    f32, f16, f_other = (features(net, x) for x in (x32, x16, other))
    n = len(labels)
    print(f"## Quality: {n} samples ({per_digit} per digit), CFG γ={GUIDANCE:g}, {STEPS} steps, "
          f"seed {seed}\n")
    print("| samples | classifier accuracy | Fréchet distance to fp32 (seed "
          f"{seed}) | mean abs Δ pixel vs fp32 | read as the same digit as fp32 |")
    print("|---|---|---|---|---|")
    print(f"| fp32, seed {seed} | {pct(acc(read32, labels))} | 0 | 0 | 100% |")
    print(f"| bf16, seed {seed} (same noise) | {pct(acc(read16, labels))} | "
          f"{frechet_distance(f16, f32):.3f} | {(x16 - x32).abs().mean():.4f} | "
          f"{pct(acc(read16, read32))} |")
    print(f"| fp32, seed {seed + 1} (noise floor) | {pct(acc(read_other, labels))} | "
          f"{frechet_distance(f_other, f32):.3f} | {(other - x32).abs().mean():.4f} | "
          f"{pct(acc(read_other, read32))} |")
    print(f"\nDrawing the {n} samples took {s32:.1f} s in fp32 and {s16:.1f} s in bf16 "
          f"(batch {chunk}).\n")


def acc(read: torch.Tensor, truth: torch.Tensor) -> float:
    return float((read == truth).float().mean())


def speed(models: dict, batches: list[int], repeats: int, time_steps: int, seed: int,
          clock: str = "wall") -> None:
    how = "" if time_steps == STEPS else f" (first {time_steps} updates timed, scaled to all 29)"
    what = "process CPU time" if clock == "cpu" else "wall clock"
    print(f"## Speed: ms per {STEPS}-step CFG sample ({what}), median of {repeats}{how}\n")
    packed = "packed" if models["bf16"].packed else "not packed: no oneDNN bf16 kernels"
    print(f"bf16: {packed}\n")
    print("| batch | fp32 ms/sample | bf16 ms/sample | bf16 / fp32 | bf16 eager ms/sample | "
          "bf16 eager / fp32 |")
    print("|---|---|---|---|---|---|")
    for batch in batches:
        ms = {name: time_sample(m, batch, repeats, time_steps, seed, CLOCKS[clock])
              for name, m in models.items()}
        print(f"| {batch} | {ms['fp32']:.0f} | {ms['bf16']:.0f} | "
              f"**{ms['bf16'] / ms['fp32']:.2f}×** | {ms['bf16 eager']:.0f} | "
              f"{ms['bf16 eager'] / ms['fp32']:.2f}× |")
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="mnist", help="a class-conditioned digit model")
    parser.add_argument("--classifier", default=None, help="classifier folder (default bundled)")
    parser.add_argument("--per-digit", type=int, default=10,
                        help="quality samples per digit (0: skip the quality table)")
    parser.add_argument("--batches", type=int, nargs="*", default=[1, 16])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--time-steps", type=int, default=STEPS, choices=range(1, STEPS + 1),
                        metavar=f"1..{STEPS}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--clock", choices=tuple(CLOCKS), default="wall",
                        help="cpu: process CPU time (use with --threads 1)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    from engine.models.registry import load_model

    try:
        models = {name: load_model(args.model, "cpu", name) for name in ("fp32", "bf16")}
        net = load_classifier(args.classifier)
    except EngineError as error:
        print(f"bench_precision: {error}")
        return 1
    if getattr(models["fp32"], "kind", None) != "class":
        print(f"bench_precision: {args.model!r} is not a class-conditioned digit model")
        return 1
    fp32 = models["fp32"]
    models["bf16 eager"] = MnistModel(copy.deepcopy(fp32.net), fp32.config, fp32.name,
                                      fp32.device, "bf16", pack=False)
    cpu = devices.cpu_info()
    print(f"# bf16 vs fp32 inference: model {args.model!r}, {cpu.model} ({cpu.vector_isa}, bf16: "
          f"{cpu.bf16_support}), torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"auto picks {devices.small_model_precision('auto', torch.device('cpu'))}\n")
    if args.per_digit > 0:
        quality(models, net, args.per_digit, args.seed)
    if args.batches:
        speed(models, args.batches, args.repeats, args.time_steps, args.seed, args.clock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
