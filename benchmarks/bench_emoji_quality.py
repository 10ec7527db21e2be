"""Sample quality of an emoji cascade's stage I, judged by the emoji classifier (issue 12, 4).

Prompt fidelity: `--prompts` emoji, spread evenly over the classifier's classes (those whose name
the model's vocabulary takes), each drawn with `--seeds` seeds (CFG, the model's default γ): the
share of samples whose classifier top 5 holds the asked emoji (goal >= 70%), and the top-1
share. Fréchet distance in the classifier's penultimate features between all the samples and
the whole data set, beside two floors: the data against itself in two random halves, and as
many data images as there are samples against the whole set (a distance from a set that small
is biased upward, so this is the floor a perfect model would score at this count).

    python benchmarks/bench_emoji_quality.py --model RUN/pipeline/IF-I-emoji --data DIR
        [--classifier DIR] [--prompts 200] [--seeds 2] [--steps N] [--chunk 16] [--threads 1]

Prints a markdown table. Exit 1 with one line if the model, the classifier or the data is
missing or unfit.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import parse_run_args  # noqa: E402
from engine import edits, loops  # noqa: E402
from engine.errors import EngineError, PromptError  # noqa: E402
from engine.training import emoji_data  # noqa: E402
from engine.training.classifier import frechet_distance  # noqa: E402
from engine.training.emoji_classifier import (  # noqa: E402
    as_images,
    features,
    load_emoji_classifier,
    logits,
    top_k_hits,
)


def chosen_prompts(classes: list[dict], model, count: int,
                   labels: dict[str, str] | None = None) -> list[tuple[int, str]]:
    """(class index, prompt) for `count` classes spread evenly over the class list, skipping
    names the model's vocabulary refuses. The prompt is the emoji's CLDR name from `labels`
    ({code point: name}, what users type) where it has one, else the class's own name."""
    usable = []
    for index, entry in enumerate(classes):
        prompt = (labels or {}).get(str(entry.get("unified"))) or entry["name"]
        try:
            model.encoder_text(prompt)
        except PromptError:
            continue
        usable.append((index, prompt))
    if not usable:
        raise EngineError(f"{model.name} takes none of the classifier's emoji names")
    picks = np.linspace(0, len(usable) - 1, min(count, len(usable))).round().astype(int)
    return [usable[i] for i in dict.fromkeys(picks.tolist())]


def draw(model, prompts: list[str], seeds: int, steps: int | None, chunk: int,
         guidance: float | None = None) -> tuple[torch.Tensor, float]:
    """Samples [len(prompts) * seeds, 3, H, W] in the model's range (seed-major), seconds."""
    out, seconds = [], 0.0
    for seed in range(seeds):
        for start in range(0, len(prompts), chunk):
            gen = torch.Generator(device=model.device).manual_seed(seed * 100_003 + start)
            t0 = time.perf_counter()
            record = loops.final(edits.sample(model, prompts[start:start + chunk], gen,
                                              guidance=guidance, steps=steps))
            seconds += time.perf_counter() - t0
            out.append(record.x_t.detach().float().cpu())
    return torch.cat(out), seconds


def floors(net, data_x: torch.Tensor, n_samples: int, seed: int = 0) -> dict[str, float]:
    """The Fréchet distances real data scores: two halves, and n_samples against the whole."""
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(data_x), generator=g)
    feats = features(net, data_x)
    half = len(order) // 2
    return {"halves": frechet_distance(feats[order[:half]], feats[order[half:]]),
            "same_count": frechet_distance(feats[order[:n_samples]], feats)}


def guidance_scales(text: str, default: float) -> list[float]:
    """The CFG scales of `--guidance` ('4,7,10'); the model's own when empty."""
    return [float(v) for v in text.split(",") if v.strip()] or [default]


def training_step(model, folder: str) -> object:
    """The training step the folder's hints record, or '?'."""
    from engine.models.folders import read_hints

    return read_hints(Path(getattr(model, "folder", folder))).get("steps_done", "?")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a stage I IF folder (emoji cascade)")
    parser.add_argument("--data", required=True, help="the emoji set (`data emoji --out DIR`)")
    parser.add_argument("--classifier", default=None, help="default: the bundled one")
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=None, help="default: the model's (34)")
    parser.add_argument("--chunk", type=int, default=16, help="images per sampling batch")
    parser.add_argument("--guidance", default="",
                        help="CFG scales, comma-separated: a row each (default: the model's)")
    args = parse_run_args(parser, argv)
    from engine.models.registry import load_model

    try:
        model = load_model(args.model, args.device)
        net, config = load_emoji_classifier(args.classifier)
        data = emoji_data.load_set(args.data)
        if not getattr(model, "words", None) or model.channels != 3:
            raise EngineError(f"{args.model} is not an emoji cascade (an RGB IF folder with a "
                              "vocabulary)")
        names = {str(e.get("unified")): emoji_data.texts_of(e)[0] for e in data.entries
                 if emoji_data.texts_of(e)}
        picks = chosen_prompts(config["classes"], model, args.prompts, names)
    except EngineError as error:
        print(f"bench_emoji_quality: {error}")
        return 1
    try:
        scales = guidance_scales(args.guidance, model.default_guidance)
    except ValueError:
        print(f"bench_emoji_quality: --guidance takes numbers, comma-separated: {args.guidance!r}")
        return 1
    labels = torch.tensor([c for c, _ in picks] * args.seeds)
    data_x = as_images(data.images)
    data_features = features(net, data_x)
    floor = floors(net, data_x, len(labels))
    print(f"model {args.model} (training step {training_step(model, args.model)}), classifier "
          f"held-out top-1 {config.get('held_out', {}).get('top1', float('nan')):.1%}; "
          f"{len(picks)} prompts x {args.seeds} seeds, {args.steps or 'default'} steps\n")
    print("| CFG | samples | top-5 fidelity | top-1 | FD to data | FD floor: halves | "
          "FD floor: same count | FD / same-count floor | s an image |")
    print("|---|---|---|---|---|---|---|---|---|")
    for scale in scales:
        samples, seconds = draw(model, [p for _, p in picks], args.seeds, args.steps, args.chunk,
                                scale)
        x = as_images(samples, model.data_range)
        scores = logits(net, x)
        top5 = float(top_k_hits(scores, labels, 5).float().mean())
        top1 = float(top_k_hits(scores, labels, 1).float().mean())
        fd = frechet_distance(features(net, x), data_features)
        print(f"| {scale:g} | {len(x)} | {top5:.1%} | {top1:.1%} | {fd:.1f} | "
              f"{floor['halves']:.1f} | {floor['same_count']:.1f} | "
              f"{fd / max(floor['same_count'], 1e-9):.2f} | {seconds / len(x):.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
