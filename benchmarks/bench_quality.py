"""Sample quality of the MNIST models, judged by the bundled digit classifier.

For each digit the model draws `--per-digit` samples with CFG (γ = 5, the default strided
steps) and the classifier reads them: per-digit accuracy, the overall CFG accuracy (goal >= 99%),
the accuracy without guidance (γ = 1: the conditional estimate alone), and the Fréchet distance
in the classifier's penultimate features between the CFG samples (all digits) and the MNIST test
set, beside the same distance for as many training images as there are samples (its floor: what
real digits score). `--compare-ddpm` adds the full 300-step DDPM loop against the strided one, in
time and judged accuracy. `--anagrams N` draws N visual anagrams of the showcase, a 6 that turns
into a 9 (view rot180), and reports how often the classifier reads a 6 upright and a 9 turned.

The single-step denoiser (`mnist-denoiser`, trained at σ = 0.5) is judged on 10·`--per-digit` test
digits noised at each σ of the course's out-of-distribution figure: the mean squared error of its
output against the clean digit, beside the noisy input's, and how often the classifier reads the
right digit in the noisy input and in the output.

An unconditional model (the time-conditioned `mnist-time`) draws 10·`--per-digit` samples; the
table then shows how its samples spread over the digits (the classifier's reading), the share
read with confidence >= 0.9 (legible digits), and the same Fréchet distances.

    python benchmarks/bench_quality.py [--model mnist] [--per-digit 100] [--steps N] [--seed 0]
                                       [--compare-ddpm] [--ddpm-per-digit 20] [--anagrams N]
                                       [--threads N]

Prints markdown tables. Exit 1 with one line if the model or the classifier is missing.
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
from engine.errors import EngineError  # noqa: E402
from engine.training.classifier import (  # noqa: E402
    as_images,
    features,
    frechet_distance,
    load_classifier,
    logits,
    predict_digits,
)

DIGITS = [str(d) for d in range(10)]


def draw(model, per_digit: int, guidance: float, steps: int | None, seed: int,
         chunk: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(images [10·per_digit, 1, 28, 28] in [0, 1], labels, seconds): per_digit of each digit."""
    labels = torch.arange(10).repeat_interleave(per_digit)
    out, seconds = [], 0.0
    for i, start in enumerate(range(0, len(labels), chunk)):
        prompts = [DIGITS[int(c)] for c in labels[start:start + chunk]]
        gen = torch.Generator(device=model.device).manual_seed(seed * 100_003 + i)
        t0 = time.perf_counter()
        record = loops.final(edits.sample(model, prompts, gen, guidance=guidance, steps=steps))
        seconds += time.perf_counter() - t0
        out.append(record.x_t.detach().float().cpu().clamp(0, 1))
    return torch.cat(out), labels, seconds


def draw_unconditional(model, n: int, steps: int | None, seed: int, chunk: int
                       ) -> tuple[torch.Tensor, float]:
    out, seconds = [], 0.0
    for i, start in enumerate(range(0, n, chunk)):
        gen = torch.Generator(device=model.device).manual_seed(seed * 100_003 + i)
        t0 = time.perf_counter()
        record = loops.final(edits.sample(model, [""] * min(chunk, n - start), gen, steps=steps))
        seconds += time.perf_counter() - t0
        out.append(record.x_t.detach().float().cpu().clamp(0, 1))
    return torch.cat(out), seconds


def frechet_rows(net, samples: list[tuple[str, torch.Tensor]], test, train, seed: int) -> None:
    """The Fréchet distances of each set of samples to the test set, and the floor."""
    test_x = as_images(test.images)
    n = max(len(x) for _, x in samples)
    pick = np.random.default_rng(seed).choice(len(train), size=min(n, len(train)),
                                              replace=False)
    train_x = as_images(train.images[pick])
    f_test = features(net, test_x)
    rows = [(name, len(x), frechet_distance(features(net, x), f_test)) for name, x in samples]
    rows.append(("MNIST train images (floor)", len(pick),
                 frechet_distance(features(net, train_x), f_test)))
    print(f"| Fréchet distance to the {len(test)} test images (classifier features) | images "
          "| distance |")
    print("|---|---|---|")
    for name, count, value in rows:
        print(f"| {name} | {count} | {value:.3f} |")
    print()


def unconditional_report(model, net, args, test, train) -> None:
    n = 10 * args.per_digit
    x, seconds = draw_unconditional(model, n, args.steps, args.seed, args.chunk)
    probs = torch.softmax(logits(net, x), dim=1)
    read, confidence = probs.argmax(1), probs.max(1).values
    print("| digit read | share of samples |")
    print("|---|---|")
    for d in range(10):
        print(f"| {d} | {pct(float((read == d).float().mean()))} |")
    print(f"\n{pct(float((confidence >= 0.9).float().mean()))} of {n} samples are read with "
          f"confidence >= 0.9 (legible); sampling took {seconds:.1f} s.\n")
    frechet_rows(net, [("samples", x)], test, train, args.seed)


def denoiser_report(model, net, args, test) -> None:
    from engine.training.figures import NOISE_LEVELS

    n = 10 * args.per_digit
    x = as_images(test.images[:n])
    labels = torch.from_numpy(test.labels[:n].astype("int64"))
    gen = torch.Generator().manual_seed(args.seed)

    def mse(y: torch.Tensor) -> float:
        return float((y - x).pow(2).mean())

    def read(y: torch.Tensor) -> str:
        return pct(float((predict_digits(net, y) == labels).float().mean()))

    print(f"{n} MNIST test digits, noised as z = x + σε and denoised in one step.\n")
    print("| σ | MSE noisy | MSE denoised | classifier on noisy | classifier on denoised |")
    print("|---|---|---|---|---|")
    for sigma in NOISE_LEVELS:
        z = x + sigma * torch.randn(x.shape, generator=gen)
        with torch.no_grad():
            out = torch.cat([model.net(part.to(model.device)).float().cpu()
                             for part in z.split(args.chunk)])
        print(f"| {sigma:g} | {mse(z):.4f} | {mse(out):.4f} | {read(z)} | {read(out)} |")
    print()


def digit_report(model, net, args, test, train) -> None:
    """CFG and unguided accuracy per digit, and the Fréchet distances."""
    cfg_x, labels, cfg_s = draw(model, args.per_digit, args.guidance, args.steps, args.seed,
                                args.chunk)
    cfg_acc, cfg_digits = accuracy(net, cfg_x, labels)
    un_x, _, un_s = draw(model, args.per_digit, 1.0, args.steps, args.seed, args.chunk)
    un_acc, un_digits = accuracy(net, un_x, labels)

    print(f"| digit | CFG γ={args.guidance:g} | no guidance (γ=1) |")
    print("|---|---|---|")
    for d in range(10):
        print(f"| {d} | {pct(float(cfg_digits[d]))} | {pct(float(un_digits[d]))} |")
    goal = "meets" if cfg_acc >= 0.99 else "misses"
    print(f"| **all** | **{pct(cfg_acc)}** | **{pct(un_acc)}** |\n")
    print(f"CFG accuracy {pct(cfg_acc)} ({goal} the 99% goal); sampling {cfg_s:.1f} s for CFG, "
          f"{un_s:.1f} s without guidance.\n")

    frechet_rows(net, [("CFG samples", cfg_x), ("unguided samples", un_x)], test, train,
                 args.seed)


def accuracy(net, images: torch.Tensor, labels: torch.Tensor) -> tuple[float, torch.Tensor]:
    pred = predict_digits(net, images)
    per_digit = torch.stack([(pred[labels == d] == d).float().mean() for d in range(10)])
    return float((pred == labels).float().mean()), per_digit


def anagram_report(model, net, n: int, guidance: float, steps: int | None, seed: int) -> None:
    """The showcase: a 6 upright that reads as a 9 turned over (rot180)."""
    from engine.views import get_view

    views = [get_view("identity", model.symmetric_range), get_view("rot180", model.symmetric_range)]
    gen = torch.Generator(device=model.device).manual_seed(seed)
    t0 = time.perf_counter()
    record = loops.final(edits.anagram(model, ["6", "9"], views, gen, guidance=guidance,
                                       steps=steps, batch=n))
    seconds = time.perf_counter() - t0
    x = record.x_t.detach().float().cpu().clamp(0, 1)
    upright = predict_digits(net, x) == 6
    turned = predict_digits(net, views[1].apply(x)) == 9
    print(f"## Visual anagram 6 / 9 (rot180), CFG γ={guidance:g}, {n} anagrams\n")
    print("| read as | share |")
    print("|---|---|")
    print(f"| 6 upright | {pct(upright.float().mean().item())} |")
    print(f"| 9 turned over | {pct(turned.float().mean().item())} |")
    print(f"| both | **{pct((upright & turned).float().mean().item())}** |\n")
    print(f"Sampling took {seconds:.1f} s ({1000 * seconds / n:.0f} ms per anagram).\n")


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="mnist", help="bundled name or folder (default mnist)")
    parser.add_argument("--classifier", default=None, help="classifier folder (default bundled)")
    parser.add_argument("--per-digit", type=int, default=100,
                        help="samples per digit (0: skip the accuracy tables)")
    parser.add_argument("--steps", type=int, default=None,
                        help="sampling updates (default: the model's strided default, 30)")
    parser.add_argument("--guidance", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chunk", type=int, default=250, help="images per sampling batch")
    parser.add_argument("--compare-ddpm", action="store_true",
                        help="also time and judge 300-step DDPM against the strided loop")
    parser.add_argument("--ddpm-per-digit", type=int, default=None,
                        help="samples per digit for --compare-ddpm (default: --per-digit)")
    parser.add_argument("--anagrams", type=int, default=0,
                        help="also draw this many 6/9 visual anagrams and judge both readings")
    args = parse_run_args(parser, argv)

    from engine.models.registry import load_model
    from engine.training.data import load_mnist

    try:
        model = load_model(args.model, args.device)
    except EngineError as error:
        print(f"bench_quality: cannot load model {args.model!r}: {error}")
        return 1
    conditional = bool(getattr(model, "conditional", False))
    if (conditional and "0" not in (model.prompt_choices() or [])) or model.image_size != 28:
        print(f"bench_quality: {args.model!r} is not an MNIST model")
        return 1
    try:
        net = load_classifier(args.classifier)
        test = load_mnist("test")
        train = load_mnist("train")
    except EngineError as error:
        print(f"bench_quality: {error}")
        return 1

    if getattr(model, "kind", None) == "denoiser":
        print(f"# Denoising quality: model {args.model!r}, seed {args.seed}, "
              f"{torch.get_num_threads()} threads\n")
        denoiser_report(model, net, args, test)
        return 0
    steps_name = args.steps if args.steps is not None else len(model.schedule.timesteps()) - 1
    print(f"# Sample quality: model {args.model!r}, {args.per_digit} samples per digit, "
          f"{steps_name} steps, seed {args.seed}, {torch.get_num_threads()} threads\n")

    if not conditional:
        unconditional_report(model, net, args, test, train)
        return 0
    if args.per_digit:
        digit_report(model, net, args, test, train)
    if args.compare_ddpm:
        per = args.ddpm_per_digit or args.per_digit or 10
        top = model.schedule.top
        print(f"## DDPM ({top} steps) vs strided ({steps_name} steps), CFG γ={args.guidance:g}, "
              f"{per} samples per digit\n")
        print("| loop | steps | seconds | ms per image | CFG accuracy |")
        print("|---|---|---|---|---|")
        for name, steps in (("DDPM", top), ("strided", args.steps)):
            x, lab, s = draw(model, per, args.guidance, steps, args.seed + 1, args.chunk)
            acc, _ = accuracy(net, x, lab)
            count = len(model.schedule.timesteps(steps)) - 1
            print(f"| {name} | {count} | {s:.1f} | {1000 * s / len(lab):.1f} | {pct(acc)} |")
        print()
    if args.anagrams:
        anagram_report(model, net, args.anagrams, args.guidance, args.steps, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
