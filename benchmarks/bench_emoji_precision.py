"""bf16 against fp32 inference on an emoji cascade's stage I: the same draws, judged (issue 15).

Both precisions load the same stage I folder in one process (fp32, and bf16: the UNet's weights
in bf16, what `--dtype auto` picks on a CPU with AMX or AVX512-BF16; the loop, the noise and the
text encoder stay fp32) and draw the same prompts with the same seeds. A second fp32 draw with
other seeds is the noise floor: how far two fp32 sets of the same prompts lie apart anyway.

Judged by the bundled emoji classifier (engine/training/emoji_judge.py), each set against the
fp32 set of the first seeds:
- top-5 agreement: the share of samples whose judge top-1 is among the judge's top 5 for the
  fp32 sample of the same prompt and seed (and top-1 agreement: the same top-1);
- the Fréchet distance in the judge's penultimate features to the fp32 set;
- mean |Δ pixel| (in [0, 1]) to the fp32 sample of the same prompt and seed;
- top-5 fidelity: the asked emoji in the judge's top 5 (a young model scores low; it is there to
  show that bf16 does not move it).

By default the cascade is random weights in the bundle's shapes (bench_emoji_speed's export);
--model DIR judges a trained stage I folder.

    python benchmarks/bench_emoji_precision.py [--model DIR] [--prompts 48] [--seeds 2]
        [--steps 30] [--chunk 16] [--seed 0] [--threads 1]

Prints a markdown table. Exit 1 with one line if the model or the classifier is missing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_emoji_quality import chosen_prompts  # noqa: E402
from bench_emoji_speed import export_random_cascade  # noqa: E402

from benchmarks._common import parse_run_args  # noqa: E402
from engine import devices, edits, loops  # noqa: E402
from engine.errors import EngineError  # noqa: E402
from engine.training.classifier import frechet_distance  # noqa: E402
from engine.training.emoji_classifier import (  # noqa: E402
    BUNDLED,
    as_images,
    features,
    load_emoji_classifier,
    logits,
    top_k_hits,
)
from engine.training.emoji_judge import read_names  # noqa: E402

SEED_STRIDE = 100_003  # seeds of the floor's draw lie far from the first draw's


def draw(model, prompts: list[str], seeds: range, steps: int, chunk: int
         ) -> tuple[torch.Tensor, float]:
    """Samples [len(prompts) * len(seeds), 3, H, W] in [-1, 1] (seed-major), and seconds."""
    out, seconds = [], 0.0
    for seed in seeds:
        for start in range(0, len(prompts), chunk):
            gen = torch.Generator().manual_seed(seed * SEED_STRIDE + start)
            t0 = time.perf_counter()
            record = loops.final(edits.sample(model, prompts[start:start + chunk], gen,
                                              steps=steps))
            seconds += time.perf_counter() - t0
            out.append(record.x_t.float().clamp(-1, 1))
    return torch.cat(out), seconds


def compare(net, sets: dict[str, torch.Tensor], labels: torch.Tensor, data_range
            ) -> list[dict[str, float]]:
    """One row of measures per set, each against the first set (the fp32 reference)."""
    images = {name: as_images(x, data_range) for name, x in sets.items()}
    scores = {name: logits(net, x) for name, x in images.items()}
    feats = {name: features(net, x) for name, x in images.items()}
    ref = next(iter(sets))
    ref_top5 = scores[ref].topk(min(5, scores[ref].shape[1]), dim=1).indices
    rows = []
    for name in sets:
        top1 = scores[name].argmax(1)
        rows.append({
            "name": name,
            "top5_agree": float((ref_top5 == top1[:, None]).any(1).float().mean()),
            "top1_agree": float((top1 == scores[ref].argmax(1)).float().mean()),
            "fd": frechet_distance(feats[name], feats[ref]),
            "pixel": float((images[name] - images[ref]).abs().mean()),
            "fidelity": float(top_k_hits(scores[name], labels, 5).float().mean()),
        })
    return rows


def describe_model(folder: Path, random: bool) -> str:
    if random:
        return "random weights in the bundle's shapes"
    from engine.models.folders import read_hints

    step = read_hints(folder).get("steps_done", "?")
    return f"{folder} (training step {step})"


def print_table(rows: list[dict[str, float]], count: int) -> None:
    print(f"| samples ({count} each) | judge top-5 agreement with fp32 | top-1 agreement | "
          "FD to fp32 (judge features) | mean abs Δ pixel | top-5 fidelity to the prompt |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['name']} | {r['top5_agree']:.1%} | {r['top1_agree']:.1%} | {r['fd']:.2f} | "
              f"{r['pixel']:.4f} | {r['fidelity']:.1%} |")


def run(folder: Path, random: bool, args: argparse.Namespace) -> int:
    from engine.models.registry import load_model

    try:
        models = {d: load_model(str(folder), "cpu", d) for d in ("fp32", "bf16")}
        net, config = load_emoji_classifier(args.classifier)
        names = {e["unified"]: e["label"] for e in read_names(args.classifier or BUNDLED)}
        picks = chosen_prompts(config["classes"], models["fp32"], args.prompts, names)
    except EngineError as error:
        print(f"bench_emoji_precision: {error}")
        return 1
    prompts = [p for _, p in picks]
    labels = torch.tensor([c for c, _ in picks] * args.seeds)
    for model in models.values():  # warm-up: oneDNN's first calls, the UNet levers
        draw(model, prompts[:1], range(1), 2, 1)
    first = range(args.seed, args.seed + args.seeds)
    floor = range(args.seed + args.seeds, args.seed + 2 * args.seeds)
    x32, s32 = draw(models["fp32"], prompts, first, args.steps, args.chunk)
    x16, s16 = draw(models["bf16"], prompts, first, args.steps, args.chunk)
    other, _ = draw(models["fp32"], prompts, floor, args.steps, args.chunk)
    sets = {f"fp32, seeds {first.start}-{first.stop - 1}": x32,
            "bf16, the same seeds": x16,
            f"fp32, seeds {floor.start}-{floor.stop - 1} (noise floor)": other}
    rows = compare(net, sets, labels, models["fp32"].data_range)
    cpu = devices.cpu_info()
    print(f"# bf16 vs fp32, emoji stage I: {describe_model(folder, random)}; {cpu.model} "
          f"(bf16: {cpu.bf16_support}), torch {torch.__version__}, {torch.get_num_threads()} "
          f"threads\n")
    print(f"{len(prompts)} prompts x {args.seeds} seeds, {args.steps} steps, CFG "
          f"{models['fp32'].default_guidance:g}; drawing took {s32:.0f} s in fp32, {s16:.0f} s in "
          f"bf16 (x{s32 / max(s16, 1e-9):.2f}, batch {args.chunk})\n")
    print_table(rows, len(labels))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="a stage I folder (default: random weights)")
    parser.add_argument("--classifier", default=None, help="default: the bundled one")
    parser.add_argument("--prompts", type=int, default=48)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--chunk", type=int, default=16, help="images per sampling batch")
    parser.add_argument("--seed", type=int, default=0)
    args = parse_run_args(parser, argv)
    if args.model is not None:
        return run(args.model, False, args)
    with tempfile.TemporaryDirectory(prefix="bench-emoji-precision-") as tmp:
        return run(export_random_cascade(Path(tmp)), True, args)


if __name__ == "__main__":
    sys.exit(main())
