"""Scores of visual anagrams on a digit model: alignment A and concealment C
(engine.illusion_scores) over many seeds for each view, beside the naive baseline (the same
views on a blend of independent samples), with the bundled digit classifier in CLIP's place.

    .venv/bin/python benchmarks/bench_illusions.py --threads 1 --seeds 50

Each row is printed as soon as it is done (a markdown table for docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import edits, loops  # noqa: E402
from engine.errors import EngineError  # noqa: E402
from engine.illusion_scores import blend, score, summary  # noqa: E402
from engine.models.registry import load_model  # noqa: E402
from engine.training.classifier import load_classifier, logits  # noqa: E402
from engine.views import views_for  # noqa: E402

VIEWS = ("flip", "mirror", "rot90", "rot180", "rot270", "transpose", "jigsaw", "patches",
         "pixels", "inner-circle", "square-hinge", "skew")
EXTRA = ("6,9:rot180", "4,7,1:rot180,rot90", "4,7,1,0:rot180,rot90,rot270")


def parse_row(text: str) -> tuple[list[str], list[str]]:
    """'4,7:rot180' -> (['4', '7'], ['rot180']): the prompts, then the views after the first."""
    prompts, views = text.split(":")
    return prompts.split(","), views.split(",")


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.model = load_model(args.model, args.device)
        self.net = load_classifier(args.classifier, device=args.device)
        self.plain: dict[str, torch.Tensor] = {}
        self.sampling_s: dict[str, float] = {}

    def judge(self, x: torch.Tensor) -> torch.Tensor:
        return logits(self.net, x.clamp(0, 1))

    def batches(self):
        n, b = self.args.seeds, self.args.batch
        return [(seed, min(b, n - seed * b)) for seed in range((n + b - 1) // b)]

    def anagrams(self, prompts: list[str], views) -> tuple[torch.Tensor, float]:
        out, t0 = [], time.perf_counter()
        for seed, count in self.batches():
            gen = torch.Generator().manual_seed(self.args.seed + seed)
            out.append(loops.final(edits.anagram(self.model, prompts, views, gen,
                                                 steps=self.args.steps, batch=count)).x_t)
        return torch.cat(out).float().cpu(), time.perf_counter() - t0

    def samples(self, prompt: str) -> torch.Tensor:
        """`seeds` plain samples of one prompt (the baseline's), made once and kept."""
        if prompt not in self.plain:
            out, t0 = [], time.perf_counter()
            for seed, count in self.batches():
                gen = torch.Generator().manual_seed(1000 + self.args.seed + seed)
                out.append(loops.final(edits.sample(self.model, [prompt] * count, gen,
                                                    steps=self.args.steps)).x_t)
            self.plain[prompt] = torch.cat(out).float().cpu()
            self.sampling_s[prompt] = time.perf_counter() - t0
        return self.plain[prompt]

    def row(self, prompts: list[str], names: list[str]) -> str:
        label = f"{' / '.join(prompts)} | {', '.join(names)}"
        try:
            views = views_for(names, self.model.image_size, self.model.symmetric_range,
                              self.args.view_seed)
        except EngineError as error:
            return f"| {label} | refused: {error} |" + " |" * 9
        classes = [int(p) for p in prompts]
        x, seconds = self.anagrams(prompts, views)
        ours = score(self.judge, x, views, classes)
        base = score(self.judge, blend([self.samples(p) for p in prompts], views), views,
                     classes)
        a, c = summary(ours.alignment), summary(ours.concealment)
        ba, bc = summary(base.alignment), summary(base.concealment)
        ratio = a["mean"] / max(ba["mean"], 1e-9)
        per = 1000 * seconds / len(x)
        return (f"| {label} | {a['mean']:.3f} | {a['p90']:.3f} | {a['p95']:.3f} | "
                f"{c['mean']:.3f} | {c['p90']:.3f} | {c['p95']:.3f} | {ba['mean']:.3f} | "
                f"{bc['mean']:.3f} | {ratio:.2f}× | {per:.0f} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="mnist", help="a digit model (default: mnist)")
    parser.add_argument("--classifier", default=None, help="classifier folder (default bundled)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seeds", type=int, default=50, help="anagrams per row (default 50)")
    parser.add_argument("--batch", type=int, default=10, help="anagrams per run (default 10)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--view-seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--pair", default="4,7", help="the two digits every view is run with")
    parser.add_argument("--views", default=",".join(VIEWS))
    parser.add_argument("--extra", nargs="*", default=list(EXTRA),
                        help="further rows, 'p1,p2[,p3[,p4]]:view2[,view3[,view4]]'")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    bench = Bench(args)
    print(f"# Illusion scores: {args.model}, {args.seeds} anagrams per row, "
          f"{torch.get_num_threads()} thread(s), {platform.processor() or platform.machine()}\n")
    print("| prompts | views | A mean | A p90 | A p95 | C mean | C p90 | C p95 | "
          "baseline A | baseline C | A / baseline | ms per anagram |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows = [(args.pair.split(","), [v]) for v in args.views.split(",") if v]
    rows += [parse_row(text) for text in args.extra]
    for prompts, names in rows:
        print(bench.row(prompts, names), flush=True)
    taken = ", ".join(f"{p}: {1000 * s / args.seeds:.0f} ms" for p, s in bench.sampling_s.items())
    print(f"\nBaseline samples per image ({taken}).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
