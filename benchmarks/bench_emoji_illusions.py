"""Choosing the emoji cascade's illusion pairs by measurement (issue 12, 4: "anagram pairs read
both ways, for >= 50% of seeds on the chosen pairs"), with the bundled emoji classifier as judge.

Each candidate of engine/prompt_sets.py (EMOJI_ANAGRAM_CANDIDATES per view, the app's i.i.d.
views; EMOJI_HYBRID_CANDIDATES) is made on `--seeds` seeds by stage I (32 px; stage II is not
needed to judge), the same seeds for every candidate. An anagram reads both ways on a seed when
the classifier's top 5 holds the upright prompt for the image as it is and the second prompt for
the image through the view; a hybrid, when it holds the low-pass prompt for the image seen from
afar (blurred at twice the split's σ, as benchmarks/bench_illusions.py) and the high-pass prompt
for the image as it is. Beside each: mean alignment A and concealment C
(engine/illusion_scores.py) and the naive baseline, the same views on a blend of two independent
samples (the classic hybrid for hybrids), made in the same process.

    python benchmarks/bench_emoji_illusions.py --choose 5 --seeds 20 --threads 1 \
        --data DIR [--model emoji|STAGE_I_FOLDER] [--out FILE] [--classifier DIR] [--views V,V]
        [--per-view M] [--hybrids M] [--steps N] [--batch B] [--no-baseline]
    python benchmarks/bench_emoji_illusions.py --art --data DIR    # the judge on the data's art

`--data DIR` (the `data emoji` set) maps the candidates' CLDR names to the classifier's classes
by code point; without it only the classifier's own names are known.

Prints a markdown table, best first. `--choose K` writes the best K anagrams and the best K
hybrids with their rates to the pairs file (default engine/prompt_sets.EMOJI_PAIRS_FILE, beside
the bundle's stage folders, when --model is the bundled `emoji`; --out FILE otherwise), which
`reproduce part-a` and the app's suggested pairs then read. Exit 1 with one line if the model or
the classifier is missing or unfit, or no candidate can be made; 2 for a usage error.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import parse_run_args  # noqa: E402
from engine import edits, loops  # noqa: E402
from engine.errors import EngineError, PromptError  # noqa: E402
from engine.filters import lowpass  # noqa: E402
from engine.illusion_scores import blend, score  # noqa: E402
from engine.prompt_sets import (  # noqa: E402
    EMOJI_ANAGRAM_CANDIDATES,
    EMOJI_HYBRID_CANDIDATES,
    EMOJI_PAIRS_FILE,
    ChosenPairs,
    MeasuredPair,
    write_pairs,
)
from engine.training import emoji_data  # noqa: E402
from engine.training.emoji_classifier import (  # noqa: E402
    as_images,
    load_emoji_classifier,
    logits,
    top_k_hits,
)
from engine.training.emoji_judge import class_index, class_of, class_of_code  # noqa: E402
from engine.views import View, views_for  # noqa: E402

TOP = 5  # a view reads its prompt when the classifier's top 5 holds it
Judge = Callable[[torch.Tensor], torch.Tensor]  # the model's images -> classifier logits


@dataclass(frozen=True)
class Candidate:
    kind: str  # "anagram" or "hybrid"
    prompts: tuple[str, str]
    view: str = ""

    def label(self) -> str:
        return f"{' / '.join(self.prompts)} ({self.view or 'hybrid'})"


def candidates(views: Sequence[str], per_view: int | None, hybrids: int | None
               ) -> list[Candidate]:
    """The prompt sets' candidates for `views` (the first `per_view` of each), then the first
    `hybrids` hybrid candidates (None: all)."""
    out = [Candidate("anagram", pair, view) for view in views
           for pair in EMOJI_ANAGRAM_CANDIDATES[view][:per_view]]
    return out + [Candidate("hybrid", pair) for pair in EMOJI_HYBRID_CANDIDATES[:hybrids]]


def view_reads(judge: Judge, x: torch.Tensor, views: Sequence[View], classes: Sequence[int],
               top: int = TOP) -> torch.Tensor:
    """Bool [B, V]: whether view i of image b has class i in the judge's top `top`."""
    return torch.stack([top_k_hits(judge(view.apply(x)), torch.full((len(x),), c), top)
                        for view, c in zip(views, classes)], dim=1)


def measure(judge: Judge, x: torch.Tensor, views: Sequence[View], classes: Sequence[int],
            top: int = TOP) -> dict[str, float | tuple[float, ...]]:
    """Both-ways share (every view reads its own prompt), each view's share, mean A and C."""
    hits = view_reads(judge, x, views, classes, top)
    scores = score(judge, x, views, classes)
    return {"both_ways": float(hits.all(1).double().mean()),
            "reads": tuple(float(r) for r in hits.double().mean(0)),
            "alignment": round(float(scores.alignment.mean()), 6),
            "concealment": round(float(scores.concealment.mean()), 6)}


def rank(pairs: Sequence[MeasuredPair]) -> list[MeasuredPair]:
    """Best first: by both-ways share, then by mean alignment; ties keep the candidates' order."""
    return sorted(pairs, key=lambda p: (-p.both_ways, -p.alignment))


def choose(pairs: Sequence[MeasuredPair], k: int, measured: dict) -> ChosenPairs:
    """The best `k` anagrams and the best `k` hybrids."""
    ranked = rank(pairs)
    return ChosenPairs(tuple(p for p in ranked if p.kind == "anagram")[:k],
                       tuple(p for p in ranked if p.kind == "hybrid")[:k], measured)


def far_views(split) -> list[View]:
    """A hybrid's two 'views' (bench_illusions.py's): from afar (blurred at twice σ), close."""
    def far(x: torch.Tensor) -> torch.Tensor:
        return lowpass(x, None, 2 * split.sigma)

    return [View(f"far {2 * split.sigma:g}", far, far), View("close", lambda x: x, lambda x: x)]


class Chooser:
    """Makes and judges each candidate on the same seeds; the baseline's plain samples are made
    once per prompt and kept."""

    def __init__(self, model, net, config: dict, args: argparse.Namespace,
                 entries: Sequence[dict] = ()) -> None:
        self.model, self.net, self.args = model, net, args
        self.class_index = class_index(config["classes"], entries)
        self.plain: dict[str, torch.Tensor] = {}
        self.seconds: dict[Candidate, float] = {}

    def judge(self, x: torch.Tensor) -> torch.Tensor:
        return logits(self.net, as_images(x, self.model.data_range))

    def why_not(self, candidate: Candidate) -> str | None:
        """Why a candidate cannot be measured (the classifier or the model does not know a
        prompt, the view does not fit the model), or None."""
        for prompt in candidate.prompts:
            if self._class_of(prompt) is None:
                return (f"the classifier has no emoji {prompt!r}"
                        + ("" if self.args.data else " (--data DIR maps the CLDR names)"))
            try:
                self.model.encoder_text(prompt)
            except PromptError as error:
                return str(error)
        if candidate.kind == "anagram":
            try:
                self._views(candidate)
            except EngineError as error:
                return str(error)
        return None

    def _class_of(self, prompt: str) -> int | None:
        return class_of(self.class_index, prompt)

    def _views(self, candidate: Candidate) -> list[View]:
        return views_for([candidate.view], self.model.image_size, self.model.symmetric_range,
                         self.args.view_seed)

    def batches(self) -> list[tuple[int, int]]:
        n, b = self.args.seeds, self.args.batch
        return [(i, min(b, n - i * b)) for i in range((n + b - 1) // b)]

    def _run(self, make: Callable[[torch.Generator, int], object], offset: int = 0
             ) -> torch.Tensor:
        out = []
        for i, count in self.batches():
            gen = torch.Generator(device=self.model.device).manual_seed(
                offset + self.args.seed + i)
            out.append(loops.final(make(gen, count)).x_t.detach().float().cpu())
        return torch.cat(out)

    def samples(self, prompt: str) -> torch.Tensor:
        if prompt not in self.plain:
            self.plain[prompt] = self._run(lambda gen, count: edits.sample(
                self.model, [prompt] * count, gen, steps=self.args.steps), offset=1000)
        return self.plain[prompt]

    def measure(self, candidate: Candidate) -> MeasuredPair:
        prompts = list(candidate.prompts)
        classes = [self._class_of(p) for p in prompts]
        t0 = time.perf_counter()
        if candidate.kind == "anagram":
            views = self._views(candidate)
            x = self._run(lambda gen, count: edits.anagram(
                self.model, prompts, views, gen, steps=self.args.steps, batch=count))
            naive = blend
        else:
            split = edits.resolve_split(self.model.image_size, "frequency")
            views = far_views(split)
            x = self._run(lambda gen, count: edits.split_hybrid(
                self.model, prompts, split, gen, steps=self.args.steps, batch=count))

            def naive(plain: list[torch.Tensor], _views: list[View]) -> torch.Tensor:
                return sum(part(s) for part, s in zip(split.parts(), plain))
        self.seconds[candidate] = (time.perf_counter() - t0) / len(x)
        ours = measure(self.judge, x, views, classes)
        base = {"both_ways": None, "alignment": None}
        if not self.args.no_baseline:
            plain = [self.samples(p) for p in prompts]
            base = measure(self.judge, naive(plain, views), views, classes)
        return MeasuredPair(candidate.kind, candidate.prompts, candidate.view,
                            ours["both_ways"], ours["reads"], ours["alignment"],
                            ours["concealment"], base["both_ways"], base["alignment"])


def table(pairs: Sequence[MeasuredPair], seconds: dict[tuple, float]) -> list[str]:
    """The markdown table, best first."""
    lines = ["| rank | kind | prompts (upright or far / through the view or close) | view | "
             "both ways | reads 1 | reads 2 | A mean | C mean | baseline both ways | "
             "A / baseline A | s per illusion |", "|---" * 12 + "|"]
    for n, p in enumerate(rank(pairs), 1):
        base, ratio = "n/a", "n/a"
        if p.baseline_both_ways is not None:
            base = f"{p.baseline_both_ways:.0%}"
            if p.baseline_alignment >= 1e-6:  # else both are 0 at this table's precision
                ratio = f"{p.alignment / p.baseline_alignment:.2f}×"
        lines.append(f"| {n} | {p.kind} | {' / '.join(p.prompts)} | {p.view or '-'} | "
                     f"{p.both_ways:.0%} | {p.reads[0]:.0%} | {p.reads[1]:.0%} | "
                     f"{p.alignment:.3g} | {p.concealment:.3g} | {base} | {ratio} | "
                     f"{seconds.get((p.kind, p.prompts, p.view), float('nan')):.2f} |")
    return lines


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="emoji", help="the bundled `emoji` (default) or a "
                        "stage I IF folder of an emoji cascade")
    parser.add_argument("--classifier", default=None, help="default: the bundled one")
    parser.add_argument("--data", default=None, help="the emoji set (`data emoji --out DIR`): "
                        "maps the candidates' CLDR names to the classifier's classes")
    parser.add_argument("--seeds", type=int, default=20, help="illusions per candidate")
    parser.add_argument("--batch", type=int, default=10, help="illusions per run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--view-seed", type=int, default=0, help="jigsaw, patches, pixels")
    parser.add_argument("--steps", type=int, default=None, help="default: the model's")
    parser.add_argument("--views", default=",".join(EMOJI_ANAGRAM_CANDIDATES),
                        help="the views whose candidates are measured (default: all)")
    parser.add_argument("--per-view", type=int, default=None,
                        help="only the first M candidates of each view")
    parser.add_argument("--hybrids", type=int, default=None,
                        help="only the first M hybrid candidates (0: none)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the blend baseline")
    parser.add_argument("--choose", type=int, default=None, metavar="K",
                        help="write the best K of each kind to the pairs file")
    parser.add_argument("--out", default=None, help="the pairs file to write with --choose")
    parser.add_argument("--art", action="store_true", help="judge the data's own art of each "
                        "anagram's upright emoji instead of samples (a check; needs --data)")
    args = parse_run_args(parser, argv)
    unknown = [v for v in args.views.split(",") if v not in EMOJI_ANAGRAM_CANDIDATES]
    if unknown:
        parser.error(f"no candidates for the view(s) {', '.join(unknown)}; choose from "
                     f"{', '.join(EMOJI_ANAGRAM_CANDIDATES)}")
    for name in ("seeds", "batch", "choose", "steps"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    for name in ("per_view", "hybrids"):
        if getattr(args, name) is not None and getattr(args, name) < 0:
            parser.error(f"--{name.replace('_', '-')} cannot be negative")
    if args.art and not args.data:
        parser.error("--art judges the data's art: it needs --data DIR")
    if args.choose and args.out is None:
        if args.model != "emoji":
            parser.error("--choose on a model other than the bundled `emoji` needs --out FILE "
                         "(the default file belongs to the bundle)")
        args.out = str(EMOJI_PAIRS_FILE)
    return args


def load(args: argparse.Namespace):
    """(model, classifier, its config, the data's entries); EngineError where one is missing or
    unfit."""
    from engine.models.registry import load_model

    model = load_model(args.model, args.device)
    net, config = load_emoji_classifier(args.classifier, device=args.device)
    if model.channels != 3 or model.image_size % 32:
        raise EngineError(f"{args.model} is not an emoji cascade's stage I (RGB, a multiple of "
                          f"32 px): the emoji classifier cannot judge its images")
    entries = emoji_data.load_set(args.data).entries if args.data else []
    return model, net, config, entries


def training_step(model) -> object:
    from engine.models.folders import read_hints

    return read_hints(Path(getattr(model, "folder", ""))).get("steps_done", "?")


def art_check(args: argparse.Namespace) -> int:
    """--art: each anagram candidate judged on the data's own art of its upright emoji (both
    vendors') in place of samples, through its view, in the cascade's range [-1, 1]. A pair whose
    art is the other emoji through the view (the moon's quarters mirrored) reads both ways on
    nearly every image, the others on few: a check of the judge, views and class look-up against
    something true. No model is run."""
    try:
        net, config = load_emoji_classifier(args.classifier, device=args.device)
        data = emoji_data.load_set(args.data)
    except EngineError as error:
        print(f"bench_emoji_illusions: {error}")
        return 1
    index = class_index(config["classes"], data.entries)
    art = as_images(data.images) * 2 - 1
    by_code = class_of_code(config["classes"])
    owner = torch.tensor([by_code.get(emoji_data.code_key(e.get("unified")), -1)
                          for e in data.entries])

    def judge(x: torch.Tensor) -> torch.Tensor:
        return logits(net, as_images(x, (-1.0, 1.0)))

    print(f"The data's own art through each candidate's view ({len(art)} images), judged by the "
          f"emoji classifier's top {TOP}\n")
    print("| view | upright | through the view | art images | both ways | reads 1 | reads 2 | "
          "A mean |\n|---|---|---|---|---|---|---|---|")
    for c in candidates(args.views.split(","), args.per_view, 0):
        classes = [class_of(index, p) for p in c.prompts]
        pick = (owner == classes[0]).nonzero().flatten() if None not in classes else []
        if len(pick) == 0:
            print(f"| {c.view} | {c.prompts[0]} | {c.prompts[1]} | 0 | n/a | | | |")
            continue
        got = measure(judge, art[pick], views_for([c.view], 32, True, args.view_seed), classes)
        print(f"| {c.view} | {c.prompts[0]} | {c.prompts[1]} | {len(pick)} | "
              f"{got['both_ways']:.0%} | {got['reads'][0]:.0%} | {got['reads'][1]:.0%} | "
              f"{got['alignment']:.3g} |")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.art:
        return art_check(args)
    try:
        model, net, config, entries = load(args)
    except EngineError as error:
        print(f"bench_emoji_illusions: {error}")
        return 1
    chooser = Chooser(model, net, config, args, entries)
    todo, skipped = [], []
    for candidate in candidates(args.views.split(","), args.per_view, args.hybrids):
        reason = chooser.why_not(candidate)
        if reason:
            skipped.append(f"{candidate.label()}: {reason}")
        else:
            todo.append(candidate)
    if not todo:
        print(f"bench_emoji_illusions: no candidate can be made on {args.model}"
              + (f" ({skipped[0]})" if skipped else ""))
        return 1
    pairs, started = [], time.perf_counter()
    for n, candidate in enumerate(todo, 1):
        pairs.append(chooser.measure(candidate))
        print(f"[{n}/{len(todo)}] {candidate.label()}: both ways {pairs[-1].both_ways:.0%} "
              f"({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    measured = {"model": args.model, "training_step": training_step(model),
                "classifier": args.classifier or "bundled",
                "classifier_held_out_top1": config.get("held_out", {}).get("top1"),
                "seeds": args.seeds, "seed": args.seed, "view_seed": args.view_seed,
                "steps": args.steps or len(model.schedule.timesteps(None)),
                "guidance": model.default_guidance, "top": TOP, "candidates": len(todo),
                "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")}
    seconds = {(c.kind, c.prompts, c.view): s for c, s in chooser.seconds.items()}
    print(f"Emoji illusions: {args.model} (training step {measured['training_step']}), "
          f"{len(todo)} candidates x {args.seeds} seeds, {measured['steps']} steps, CFG "
          f"{model.default_guidance:g}, judged by the emoji classifier's top {TOP}; "
          f"{torch.get_num_threads()} thread(s), {platform.processor() or platform.machine()}; "
          f"{time.perf_counter() - started:.0f} s\n")
    print("\n".join(table(pairs, seconds)))
    if skipped:
        print("\nSkipped: " + "; ".join(skipped) + ".")
    if args.choose:
        chosen = choose(pairs, args.choose, measured)
        try:
            write_pairs(chosen, args.out)
        except OSError as error:
            print(f"bench_emoji_illusions: cannot write {args.out} ({error.strerror or error})")
            return 1
        print(f"\nwrote the best {len(chosen.anagrams)} anagrams and {len(chosen.hybrids)} "
              f"hybrids to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
