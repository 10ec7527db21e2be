"""Stage II of the emoji cascade at several step counts, against bilinear upsampling (issue 12).

Stage II was given 25 default steps for speed (IF's is 50): this says what that costs. It
upscales `--images` data images (spread evenly over the set, each prompted with its CLDR name)
from 32 px, the 2x2 mean of the 64 px art exactly as in training, with `--seeds` seeds, at each
of `--steps`, and compares with the true 64 px art:

- PSNR to the art (dB, images in [0, 1]); bilinear upsampling of the same 32 px is the baseline;
- detail: the high-frequency energy of the result (what is left after its own 2x2 mean is
  upsampled back) over the art's; 1 = as much detail as the art, 0 = as smooth as bilinear;
- consistency: PSNR of the result's 2x2 mean to the 32 px input (stage II should keep the layout);
- seconds an image.

    python benchmarks/bench_emoji_upscale.py --model BUNDLE/IF-I-emoji --data DIR
        [--images 64] [--seeds 2] [--steps 25,50] [--chunk 16] [--threads 1]

`--model` is the stage I folder, with stage II beside it (as the bundle and `--upscale` find
it); stage II reads stage I's prompt embeddings. Prints a markdown table; exit 1 with one line
if the cascade or the data is missing or unfit.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import parse_run_args, picks  # noqa: E402
from engine.errors import EngineError  # noqa: E402
from engine.training import emoji_data  # noqa: E402


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean PSNR over images of a and b in [0, 1]."""
    mse = ((a - b) ** 2).flatten(1).mean(1).clamp_min(1e-10)
    return float((10 * torch.log10(1.0 / mse)).mean())


def down(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 2)


def bilinear(x: torch.Tensor, size: int) -> torch.Tensor:
    return F.interpolate(x, (size, size), mode="bilinear", align_corners=True)


def high_pass_energy(x: torch.Tensor) -> torch.Tensor:
    """Per image: the energy of x minus its 2x2 mean upsampled back (the detail stage II adds)."""
    return ((x - bilinear(down(x), x.shape[-1])) ** 2).flatten(1).mean(1)


def detail(result: torch.Tensor, art: torch.Tensor) -> float:
    return float((high_pass_energy(result) / high_pass_energy(art).clamp_min(1e-10)).mean())


def scores(result: torch.Tensor, art: torch.Tensor, low: torch.Tensor) -> dict[str, float]:
    """Results, art and inputs in [0, 1]."""
    return {"psnr": psnr(result, art), "detail": detail(result, art),
            "consistency": psnr(down(result), low)}


def upscale_all(model, upscaler, low: torch.Tensor, prompts: list[str], seeds: int, steps: int,
                chunk: int) -> tuple[torch.Tensor, float]:
    """[seeds * len(low), 3, H, W] results in [-1, 1] (seed-major), and seconds spent."""
    uncond = model.encode([model.unconditional_prompt])
    out, seconds = [], 0.0
    for seed in range(seeds):
        for start in range(0, len(low), chunk):
            part = slice(start, start + chunk)
            gen = torch.Generator().manual_seed(seed * 100_003 + start)
            t0 = time.perf_counter()
            cond = model.encode(prompts[part])
            out.append(upscaler.upscale(low[part], cond, uncond, gen, steps=steps).float().cpu())
            seconds += time.perf_counter() - t0
    return torch.cat(out), seconds


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a stage I IF folder, stage II beside it")
    parser.add_argument("--data", required=True, help="the emoji set (`data emoji --out DIR`)")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--steps", default="25,50", help="step counts, comma-separated")
    parser.add_argument("--chunk", type=int, default=16, help="images per upscaling batch")
    args = parse_run_args(parser, argv)
    try:
        args.step_counts = [int(s) for s in args.steps.split(",") if s.strip()]
    except ValueError:
        parser.error("--steps takes whole numbers, comma-separated: 25,50")
    if not args.step_counts or min(args.step_counts) < 1 or args.images < 1 or args.seeds < 1:
        parser.error("--steps, --images and --seeds must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    from engine.models.registry import load_model

    try:
        model = load_model(args.model, args.device)
        if model.channels != 3 or not model.has_upscaler():
            raise EngineError(f"{args.model} is not a colour cascade with a stage II beside it")
        upscaler = model.upscaler()
        data = emoji_data.load_set(args.data)
    except EngineError as error:
        print(f"bench_emoji_upscale: {error}")
        return 1
    size = upscaler.image_size
    chosen = picks(args.images, len(data))
    art = torch.from_numpy(data.images[chosen]).permute(0, 3, 1, 2).float() / 255.0
    art = F.interpolate(art, (size, size), mode="area") if art.shape[-1] != size else art
    low = down(art)
    prompts = [(emoji_data.texts_of(data.entries[i]) or [""])[0] for i in chosen]
    art_all, low_all = art.repeat(args.seeds, 1, 1, 1), low.repeat(args.seeds, 1, 1, 1)
    rows = [("bilinear (baseline)", scores(bilinear(low_all, size), art_all, low_all), 0.0)]
    for steps in args.step_counts:
        result, seconds = upscale_all(model, upscaler, low * 2 - 1, prompts, args.seeds, steps,
                                      args.chunk)
        rows.append((f"stage II, {steps} steps", scores((result + 1) / 2, art_all, low_all),
                     seconds / len(result)))
    print(f"{args.model} + stage II ({upscaler.folder.name}); {len(chosen)} images x "
          f"{args.seeds} seeds, {low.shape[-1]} -> {size} px\n")
    print("| upscaler | PSNR to the art (dB) | detail (art = 1) | consistency (dB) | s / image |")
    print("|---|---|---|---|---|")
    for name, s, per in rows:
        print(f"| {name} | {s['psnr']:.2f} | {s['detail']:.2f} | {s['consistency']:.2f} | "
              f"{per:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
