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
from engine.filters import lowpass  # noqa: E402
from engine.illusion_scores import blend, score, summary  # noqa: E402
from engine.models.registry import load_model  # noqa: E402
from engine.training.classifier import load_classifier, logits  # noqa: E402
from engine.views import VIEWS as VIEW_TABLE  # noqa: E402
from engine.views import View, views_for  # noqa: E402

VIEWS = ("flip", "mirror", "rot90", "rot180", "rot270", "transpose", "jigsaw", "patches",
         "pixels", "inner-circle", "square-hinge", "skew",
         "blur", "white-balance", "inner-circle-interp")  # the last 3: the paper's failure views
EXTRA = ("6,9:rot180", "4,7,1:rot180,rot90", "4,7,1,0:rot180,rot90,rot270")
HYBRIDS = ("0,1:frequency", "0,1,7:triple", "0,1:colour")


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
            # the failure views are run knowingly: the table shows how they fail
            out.append(loops.final(edits.anagram(self.model, prompts, views, gen,
                                                 steps=self.args.steps, batch=count,
                                                 allow_failure_views=True)).x_t)
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

    def hybrids(self, prompts: list[str], split) -> tuple[torch.Tensor, float]:
        out, t0 = [], time.perf_counter()
        for seed, count in self.batches():
            gen = torch.Generator().manual_seed(self.args.seed + seed)
            out.append(loops.final(edits.split_hybrid(self.model, prompts, split, gen,
                                                      steps=self.args.steps, batch=count)).x_t)
        return torch.cat(out).float().cpu(), time.perf_counter() - t0

    def hybrid_row(self, prompts: list[str], kind: str) -> str:
        """A hybrid's 'views' are distances: seen from afar (blurred at twice the coarse σ),
        from the middle (at twice the fine σ, triple only) and close (as it is), each to read
        as its band's prompt; the baseline is the classic hybrid of independent samples, each
        band taken from its own prompt's sample."""
        label = f"{' / '.join(prompts)} | hybrid, {kind} split"
        try:
            split = edits.resolve_split(self.model.image_size, kind, prompts=len(prompts))
            if kind == "colour" and self.model.channels != 3:
                raise EngineError("a colour hybrid needs an RGB model; this model's images are "
                                  "grey")
        except EngineError as error:
            return f"| {label} | refused: {error} |" + " |" * 9
        order = [prompts[0], prompts[2], prompts[1]] if len(prompts) == 3 else prompts
        sigmas = [split.sigma] + ([split.sigma2] if kind == "triple" else [])
        views = [View(f"far {2 * s:g}", _blur(2 * s), _blur(2 * s)) for s in sigmas]
        views.append(View("close", lambda x: x, lambda x: x))
        classes = [int(p) for p in order]
        x, seconds = self.hybrids(order, split)
        ours = score(self.judge, x, views, classes)
        parts = split.parts()
        classic = sum(part(self.samples(p)) for part, p in zip(parts, order))
        base = score(self.judge, classic, views, classes)
        return self.cells(label, ours, base, seconds / len(x))

    def row(self, prompts: list[str], names: list[str]) -> str:
        label = f"{' / '.join(prompts)} | {', '.join(names)}"
        if any(not VIEW_TABLE[n].iid for n in names if n in VIEW_TABLE):
            label += " (failure view)"
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
        return self.cells(label, ours, base, seconds / len(x))

    def noise_row(self, name: str, times: list[int]) -> str:
        """Why a view must keep the noise i.i.d.: the estimate the anagram loop takes from a
        view, view⁻¹(ε̂(view(x_t))), against the true ε, per pixel (MSE), for x_t made from the
        baseline's plain samples of the first prompt at each t; unconditional ε̂, so only the
        noise the model sees differs between views. Beside: the viewed noise's variance and
        its neighbours' correlation (1 and 0 when it is i.i.d. standard)."""
        view = views_for([name], self.model.image_size, self.model.symmetric_range)[1]
        x0 = self.samples(self.args.pair.split(",")[0])
        gen = torch.Generator().manual_seed(77)
        eps = torch.randn(x0.shape, generator=gen)
        seen = view.apply(eps)
        corr = torch.corrcoef(torch.stack([seen[..., 1:, :].flatten(),
                                           seen[..., :-1, :].flatten()]))[0, 1].item()
        uncond = self.model.encode([self.model.unconditional_prompt] * len(x0))
        errors = []
        for t in times:
            abar = self.model.schedule.abar(t)
            x_t = abar**0.5 * x0 + (1 - abar) ** 0.5 * eps
            steps = torch.full((len(x0),), t, dtype=torch.long)
            guess = self.model.predict(view.apply(x_t), steps, uncond).eps.float().cpu()
            errors.append(((view.inverse(guess) - eps) ** 2).mean().item())
        kind = "failure view" if not view.iid else "i.i.d."
        cells = " | ".join(f"{e:.3f}" for e in errors)
        return f"| {name} ({kind}) | {seen.var().item():.3f} | {corr:.3f} | {cells} |"

    @staticmethod
    def cells(label: str, ours, base, seconds: float) -> str:
        a, c = summary(ours.alignment), summary(ours.concealment)
        ba, bc = summary(base.alignment), summary(base.concealment)
        ratio = a["mean"] / max(ba["mean"], 1e-9)
        per = 1000 * seconds
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
    parser.add_argument("--hybrids", nargs="*", default=list(HYBRIDS),
                        help="hybrid rows, 'far,close[,medium]:frequency|triple|colour'")
    parser.add_argument("--noise-views", default="",
                        help="views for the noise check instead of the table, e.g. "
                        "'identity,rot180,inner-circle,blur,white-balance,inner-circle-interp'")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    bench = Bench(args)
    if args.noise_views:
        return noise_check(bench, args.noise_views.split(","))
    print(f"# Illusion scores: {args.model}, {args.seeds} anagrams per row, "
          f"{torch.get_num_threads()} thread(s), {platform.processor() or platform.machine()}\n")
    print("| prompts | views | A mean | A p90 | A p95 | C mean | C p90 | C p95 | "
          "baseline A | baseline C | A / baseline | ms per illusion |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows = [(args.pair.split(","), [v]) for v in args.views.split(",") if v]
    rows += [parse_row(text) for text in args.extra]
    for prompts, names in rows:
        print(bench.row(prompts, names), flush=True)
    for text in args.hybrids:
        prompts, kind = text.split(":")
        print(bench.hybrid_row(prompts.split(","), kind), flush=True)
    taken = ", ".join(f"{p}: {1000 * s / args.seeds:.0f} ms" for p, s in bench.sampling_s.items())
    print(f"\nBaseline samples per image ({taken}).")
    return 0


def noise_check(bench: Bench, names: list[str]) -> int:
    top = bench.model.schedule.top
    times = [round(top * f) for f in (0.2, 0.5, 0.8)]
    print(f"# Noise through each view: {bench.args.model}, {bench.args.seeds} images, "
          f"{torch.get_num_threads()} thread(s)\n")
    print("| view | variance of the viewed noise | neighbour correlation | "
          + " | ".join(f"ε MSE at t={t}" for t in times) + " |")
    print("|---|---|---|" + "---|" * len(times))
    for name in names:
        print(bench.noise_row(name, times), flush=True)
    return 0


def _blur(sigma: float):
    return lambda x: lowpass(x, None, sigma)


if __name__ == "__main__":
    raise SystemExit(main())
