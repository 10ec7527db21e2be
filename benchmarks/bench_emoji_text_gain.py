"""Does the emoji cascade's stage I use the text yet? Its denoising error with the emoji's name
against the unconditional prompt '' (the baseline) and another emoji's name (issue 12).

Prompt fidelity reads 0% until the model draws the asked emoji; this reads progress long before.
On `--images` training images (spread over the set, at stage I's size), noised at each of
`--timesteps` with the same noise for every prompt, it prints per timestep:

- the x̂_0 error (mean squared, images in [-1, 1]) with the right name, with '' and with a wrong
  name (the next picked image's);
- gain: 1 - right / '' (0 = the text is ignored; 1 = the name alone removes all the error that
  the unconditional model leaves);
- wrong / right: above 1 when the model tells names apart (a wrong name costs more than none).

High timesteps decide layout and identity, so the gain at t >= 700 is the number to follow.

    python benchmarks/bench_emoji_text_gain.py --model FOLDER/IF-I-emoji --data DIR
        [--images 48] [--timesteps 100,300,500,700,900] [--seed 1] [--threads 1]

Exit 1 with one line if the model or the data is missing or unfit.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import parse_run_args, picks  # noqa: E402
from engine.errors import EngineError, PromptError  # noqa: E402
from engine.loops import x0_from_eps  # noqa: E402
from engine.training import emoji_data  # noqa: E402


def x0_error(model, x0: torch.Tensor, t: int, cond: torch.Tensor, noise: torch.Tensor) -> float:
    """Mean squared error of the model's x̂_0 (limited as its sampler limits it) at t."""
    abar = model.schedule.abar(t)
    x_t = abar ** 0.5 * x0 + (1 - abar) ** 0.5 * noise
    eps = model.predict(x_t, torch.full((len(x0),), t), cond).eps
    x0_hat = model.schedule.limit_x0(x0_from_eps(x_t, eps, abar))
    return float(((x0_hat - x0) ** 2).mean())


def gains(model, x0: torch.Tensor, prompts: list[str], timesteps: list[int], seed: int
          ) -> list[dict[str, float]]:
    """One row per timestep: the three errors, the gain and the wrong/right ratio."""
    wrong = prompts[1:] + prompts[:1]
    conds = {"right": model.encode(prompts), "none": model.encode([""] * len(prompts)),
             "wrong": model.encode(wrong)}
    g = torch.Generator().manual_seed(seed)
    rows = []
    for t in timesteps:
        noise = torch.randn(x0.shape, generator=g)
        err = {k: x0_error(model, x0, t, c, noise) for k, c in conds.items()}
        rows.append({"t": t, **err, "gain": 1 - err["right"] / max(err["none"], 1e-12),
                     "wrong_over_right": err["wrong"] / max(err["right"], 1e-12)})
    return rows


def named_images(model, data: emoji_data.EmojiSet, count: int
                 ) -> tuple[torch.Tensor, list[str]]:
    """Up to `count` images whose CLDR name the model takes, at its size in [-1, 1]."""
    chosen, prompts = [], []
    for i in picks(count * 2, len(data)):
        names = emoji_data.texts_of(data.entries[i])
        if not names:
            continue
        try:
            model.check_prompt(names[0])
        except PromptError:
            continue
        chosen.append(i)
        prompts.append(names[0])
        if len(chosen) == count:
            break
    if len(chosen) < 2:
        raise EngineError(f"{model.name} takes fewer than 2 of the set's names")
    x = torch.from_numpy(data.images[chosen]).permute(0, 3, 1, 2).float() / 127.5 - 1
    size = model.image_size
    return F.interpolate(x, (size, size), mode="area"), prompts


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a stage I IF folder (emoji cascade)")
    parser.add_argument("--data", required=True, help="the emoji set (`data emoji --out DIR`)")
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--timesteps", default="100,300,500,700,900")
    parser.add_argument("--seed", type=int, default=1)
    args = parse_run_args(parser, argv)
    try:
        args.ts = [int(s) for s in args.timesteps.split(",") if s.strip()]
    except ValueError:
        parser.error("--timesteps takes whole numbers, comma-separated: 300,900")
    if args.images < 2 or not args.ts:
        parser.error("--images must be at least 2 and --timesteps name one")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    from engine.models.registry import load_model

    try:
        model = load_model(args.model, args.device)
        if not getattr(model, "words", None) or model.channels != 3:
            raise EngineError(f"{args.model} is not an emoji cascade (an RGB IF folder with a "
                              "vocabulary)")
        bad = [t for t in args.ts if not 0 <= t < model.schedule.num_train_timesteps]
        if bad:
            raise EngineError(f"timestep {bad[0]} is outside 0..{model.schedule.top}")
        x0, prompts = named_images(model, emoji_data.load_set(args.data), args.images)
    except EngineError as error:
        print(f"bench_emoji_text_gain: {error}")
        return 1
    rows = gains(model, x0, prompts, args.ts, args.seed)
    print(f"model {args.model}, {len(prompts)} images, seed {args.seed}\n")
    print("| t | x0 error: name | '' (baseline) | wrong name | gain | wrong / right |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['t']} | {r['right']:.4f} | {r['none']:.4f} | {r['wrong']:.4f} | "
              f"{r['gain']:.1%} | {r['wrong_over_right']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
