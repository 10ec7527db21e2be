"""Where the grey speckle in the digit model's backgrounds comes from, in numbers.

Samples of the bundled class model (every digit, `--per-digit` seeds each, CFG 5) are made by
the loop as it is and by variants that each change one suspect, all in this process and from
the same seeds; real MNIST test digits are the baseline a sample should look like. For each
image the background is every pixel more than 2 px from the digit (value > 0.5, dilated), and
the table gives, on the 0-255 grey levels the user sees:

- mean and 99th percentile of the background, and the shares of background pixels >= 8 (a
  faint speck, visible when zoomed in) and >= 26 (0.1, a clear one);
- the background's mean before the [0, 1] clamp (negative values are clamped away: clamping
  can hide noise, never add it);
- each variant's share of faint specks as a ratio to the loop as it is;
- how often the bundled digit classifier reads the digit asked for (a remedy must keep it).

Suspects: noise added on the final update (what a loop defect would do: the loop adds none at
the last step, B-2.3 "z = 0"), the variance rule (β, "fixed_large", the course's sqrt(β_t) z,
against the posterior β̃), the strided schedule (the app's 30 steps against the course's 300),
and the model itself (one x̂_0 from a real digit noised to the last strided t).

    python benchmarks/bench_speckle.py [--per-digit 8] [--threads 1] [--seed 0] [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import edits, loops  # noqa: E402
from engine.models.registry import load_model  # noqa: E402
from engine.schedules import step_coefficients  # noqa: E402
from engine.training.classifier import load_classifier, predict_digits  # noqa: E402
from engine.training.data import load_mnist  # noqa: E402

FAINT, CLEAR = 8, 26  # grey levels (of 255) of a faint speck and a clear one on black


def background_mask(x: torch.Tensor, margin: int = 2) -> torch.Tensor:
    """True far from the digit: not within `margin` px of a pixel > 0.5."""
    ink = (x > 0.5).float()
    near = F.max_pool2d(ink, 2 * margin + 1, stride=1, padding=margin) > 0
    return ~near


def stats(x: torch.Tensor) -> dict[str, float]:
    """Background numbers of a batch [N, 1, 28, 28] in [0, 1] (raw, before any clamp)."""
    shown = (x.clamp(0, 1) * 255).round()
    mask = background_mask(x.clamp(0, 1))
    bg, raw = shown[mask], x[mask] * 255
    return {"mean": bg.mean().item(), "p99": bg.quantile(0.99).item(),
            "specks": (bg >= FAINT).float().mean().item() * 100,
            "clear": (bg >= CLEAR).float().mean().item() * 100,
            "raw_mean": raw.mean().item(), "raw_std": raw.std().item(),
            "share_bg": mask.float().mean().item() * 100}


def sample(model, prompts: list[str], seed: int, steps: int | None = None,
           schedule=None, last_noise: bool = False) -> torch.Tensor:
    """The app's sample loop (or one variant of it) from `seed`."""
    generator = torch.Generator().manual_seed(seed)
    timesteps = model.schedule.timesteps(steps)
    cond, uncond = edits.conditioning(model, prompts)
    estimate = loops.estimator_for(model, cond, uncond, model.default_guidance)
    x = edits.start_from(model, timesteps, 0, generator, None, len(prompts))
    x = loops.final(loops.iterative_denoise(estimate, x, timesteps, schedule or model.schedule,
                                            generator)).x_t
    if last_noise:  # what the final update would add if it drew noise like every other
        c = step_coefficients(model.schedule.abar(timesteps[-2]), model.schedule.abar(0))
        x = x + c.beta**0.5 * loops.randn(x.shape, generator)
    return x


def one_step_on_real(model, real: torch.Tensor, labels: list[str], seed: int) -> torch.Tensor:
    """The model alone: x̂_0 from real digits noised to the last strided t (10)."""
    generator = torch.Generator().manual_seed(seed)
    t = model.schedule.timesteps()[-2]
    cond, uncond = edits.conditioning(model, labels)
    estimate = loops.estimator_for(model, cond, uncond, model.default_guidance)
    x_t = loops.forward(real, t, model.schedule, generator)
    return loops.one_step(estimate, x_t, t, model.schedule).x0_hat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-digit", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="skip the 300-step rows")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model("mnist", "cpu")
    prompts = [str(d) for d in range(10) for _ in range(args.per_digit)]
    data = load_mnist("test")
    real = torch.from_numpy(data.images[: len(prompts)]).float().div(255).unsqueeze(1)
    labels = [str(int(v)) for v in data.labels[: len(prompts)]]
    classifier = load_classifier()
    asked = torch.tensor([int(p) for p in prompts])
    small = dataclasses.replace(model.schedule, variance_rule="fixed_small")
    truth = torch.tensor([int(v) for v in labels])
    rows = [
        ("real MNIST test digits (baseline)", lambda: real, truth),
        ("loop as it is (30 steps, β, no noise at the end)",
         lambda: sample(model, prompts, args.seed), asked),
        ("+ noise on the final update (a defect)",
         lambda: sample(model, prompts, args.seed, last_noise=True), asked),
        ("β̃ variance instead of β (30 steps)",
         lambda: sample(model, prompts, args.seed, schedule=small), asked),
        ("the course's 300 steps (β)", lambda: sample(model, prompts, args.seed, steps=300),
         asked),
        ("300 steps, β̃", lambda: sample(model, prompts, args.seed, steps=300, schedule=small),
         asked),
        ("model alone: x̂_0 of a real digit at t = 10",
         lambda: one_step_on_real(model, real, labels, args.seed), truth),
    ]
    if args.quick:
        rows = [row for row in rows if "300" not in row[0]]
    print(f"{len(prompts)} images each; background = pixels > 2 px from the digit; "
          f"grey levels 0-255")
    print(f"| images | bg mean | bg p99 | >= {FAINT} % | >= {CLEAR} % | ratio to loop "
          "| raw mean (pre-clamp) | raw std | read % | s |")
    print("|---|---|---|---|---|---|---|---|---|---|", flush=True)
    base = None
    for name, make, expected in rows:
        started = time.perf_counter()
        with torch.no_grad():
            x = make()
            s = stats(x)
        seconds = time.perf_counter() - started
        read = (predict_digits(classifier, x.clamp(0, 1)).cpu() == expected).float().mean() * 100
        if name.startswith("loop as it is"):
            base = s["specks"]
        ratio = f"{s['specks'] / base:.2f}" if base else "-"
        print(f"| {name} | {s['mean']:.2f} | {s['p99']:.0f} | {s['specks']:.2f} | "
              f"{s['clear']:.2f} | {ratio} | "
              f"{s['raw_mean']:.2f} | {s['raw_std']:.2f} | {read:.0f} | {seconds:.1f} |",
              flush=True)


if __name__ == "__main__":
    main()
