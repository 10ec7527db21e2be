"""Live SDEdit on its own, coarser schedule (issue 12, 4): speed on the emoji cascade, quality on
the digit model.

Both make the Live job the way the app does: RunSettings.live_fields (Live's `live_steps`
evenly spaced from the model's top, the strength as the same share of them, i_start scaled) with
runner.LIVE_OVERRIDES on top; `--steps 0` is the full schedule (Run's, the course's stride).

speed: the app's Live job on the emoji cascade (random weights in the bundle's shapes, exported
as bench_emoji_speed does; --model DIR for a real stage I folder) at the model's default
strength, through the engine thread's own run loop (app/engine_thread.EngineWorker, the x̂_0
QImage after every step included), each schedule in turn in alternating rounds in one process:
results/s by the wall clock (pause the machine's training for it), CPU seconds per result by
process time, the first x̂_0's delay, and each schedule's ratio against the full one.

quality: the bundled digit model (its default prompt and guidance) edits `--digits` MNIST test
digits and the four example drawings (`--seeds` seeds each) at each `--strengths`; every schedule
edits the same inputs with the same seeds (image i draws from seed + i, as the app's batches
do). Against the full schedule's results, same inputs and seeds: how often the bundled digit
classifier reads the same digit (agree), the mean |pixel difference| and the Fréchet distance in
the classifier's features; beside their noise floor, the full schedule against itself with other
seeds. 'kept' is the share read as the input's own digit.

    python benchmarks/bench_live_steps.py speed [--steps 0,10,8] [--rounds 4] [--threads N]
        [--dtype auto|fp32|bf16] [--model DIR]
    python benchmarks/bench_live_steps.py quality [--steps 0,16,12,10,8,6]
        [--strengths 0.3,0.5,0.7] [--digits 200] [--seeds 25] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import queue
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from app.jobs import Job  # noqa: E402
from app.session.runner import LIVE_OVERRIDES  # noqa: E402
from app.session.settings import RunSettings  # noqa: E402
from benchmarks._common import machine  # noqa: E402
from engine.errors import EngineError  # noqa: E402
from engine.models.base import DiffusionModel  # noqa: E402

GOAL = 3.0  # results/s (issue 12)
DRAWINGS = {"digit-sketch-2.png": 2, "digit-sketch-4.png": 4, "digit-sketch-7.png": 7,
            "digit-typed-5.png": 5}


def app_threads() -> int:
    """The engine thread's torch threads in the app: one core stays with the GUI."""
    return max(1, (os.cpu_count() or 2) - 1)


def live_fields(model: DiffusionModel, strength: float, live_steps: int, seed: int = 0
                ) -> dict[str, Any]:
    """The job fields of the app's Live SDEdit run on `model` (live_steps 0: Run's schedule)."""
    settings = RunSettings(mode="sdedit", strength=strength, live_steps=live_steps, seed=seed,
                           random_seed=False, prompt=model.default_prompt,
                           guidance=float(model.default_guidance),
                           timesteps=tuple(model.schedule.timesteps(None)))
    fields = settings.live_fields() | LIVE_OVERRIDES
    return {k: v for k, v in fields.items() if k in Job.__dataclass_fields__}


def schedule_text(model: DiffusionModel, fields: dict[str, Any]) -> str:
    n = len(model.schedule.timesteps(fields["steps"])) - 1
    return f"{n} steps, i_start {fields['i_start']}: {n - fields['i_start']} calls"


# --- speed ------------------------------------------------------------------------------------


def run_live(model: DiffusionModel, job: Job) -> dict[str, float]:
    """One Live job through the engine thread's run loop: wall and CPU seconds, first x̂_0."""
    from app.engine_thread import EngineWorker, _Cancels

    worker = EngineWorker(queue.Queue(), _Cancels())
    worker.model = model
    previews: list[float] = []
    done: list[object] = []
    worker.preview.connect(lambda *_: previews.append(time.perf_counter()))
    worker.finished.connect(lambda *args: done.append(args))
    cpu, start = time.process_time(), time.perf_counter()
    worker._run_loop(model, job, 1)
    wall = time.perf_counter() - start
    if len(done) != 1:
        raise RuntimeError("the Live job made no result")
    return {"wall": wall, "cpu": time.process_time() - cpu,
            "first": previews[0] - start if previews else float("nan")}


def speed(args: argparse.Namespace) -> int:
    from benchmarks.bench_emoji_speed import export_random_cascade, load_cascade, test_image

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-live-steps-") as tmp:
        folder = args.model or export_random_cascade(Path(tmp))
        try:
            model = load_cascade(folder, None, None if args.dtype == "auto" else args.dtype)
        except EngineError as error:
            print(f"cannot load the cascade: {error}")
            return 1
        print(f"{machine()}, {args.threads} torch threads, load "
              f"{os.getloadavg()[0]:.1f}; stage I {model.folder.name} in "
              f"{str(model.dtype).removeprefix('torch.')}, strength {model.default_strength}")
        image = test_image(model.image_size)
        jobs = {s: Job(**live_fields(model, model.default_strength, s), image=image)
                for s in args.steps}
        for job in jobs.values():  # warm-up: first calls, caches, packed weights
            run_live(model, job)
        runs: dict[int, list[dict[str, float]]] = {s: [] for s in args.steps}
        for _ in range(args.rounds):
            for s, job in jobs.items():
                runs[s].append(run_live(model, job))
    print_speed(model, jobs, runs)
    return 0


def print_speed(model: DiffusionModel, jobs: dict[int, Job],
                runs: dict[int, list[dict[str, float]]]) -> None:
    def med(s: int, key: str) -> float:
        return statistics.median(r[key] for r in runs[s])

    base = next(iter(jobs))
    print("| Live schedule | results/s (wall) | vs first row | CPU s per result | vs first row "
          f"| first x̂_0 | goal {GOAL:g}/s |")
    print("|---|---|---|---|---|---|---|")
    for s, job in jobs.items():
        rate = 1 / med(s, "wall")
        name = "full (Run's)" if s == 0 else f"live_steps {s}"
        fields = {"steps": job.steps, "i_start": job.i_start}
        print(f"| {name}: {schedule_text(model, fields)} | {rate:.2f} | "
              f"x{med(base, 'wall') / med(s, 'wall'):.2f} | {med(s, 'cpu'):.3f} | "
              f"x{med(base, 'cpu') / med(s, 'cpu'):.2f} | {1000 * med(s, 'first'):.0f} ms | "
              f"{'met' if rate >= GOAL else 'not met'} (x{rate / GOAL:.2f}) |")
    print(f"\nmedians of {len(runs[base])} alternating rounds")


# --- quality ----------------------------------------------------------------------------------


def quality_inputs(model: DiffusionModel, digits: int, seeds: int
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """[N, 1, 28, 28] inputs in the model's range and their digits: `digits` MNIST test digits
    spread over the set, then each example drawing `seeds` times."""
    from benchmarks._common import picks
    from engine.images import prepare_image
    from engine.training.data import load_mnist

    test = load_mnist("test")
    chosen = picks(digits, len(test))
    images = [torch.from_numpy(test.images[chosen]).float().div(255).unsqueeze(1)]
    labels = [torch.from_numpy(test.labels[chosen].astype("int64"))]
    for name, digit in DRAWINGS.items():
        drawing = prepare_image(ROOT / "resources" / "examples" / name, model.image_size,
                                model.channels, model.data_range)
        images.append(drawing.reshape(1, *drawing.shape[-3:]).expand(seeds, -1, -1, -1))
        labels.append(torch.full((seeds,), digit))
    return torch.cat(images), torch.cat(labels)


def edit(model: DiffusionModel, images: torch.Tensor, fields: dict[str, Any], seed: int
         ) -> torch.Tensor:
    """The app's SDEdit of `fields` on every image at once, image i seeded seed + i."""
    from app.jobs import make_run, resolve_job
    from engine.loops import final, generator_for

    job = resolve_job(model, Job(**fields | {"seed": seed, "count": len(images)}, image=images))
    out = final(make_run(model, job, generator_for(model, seed, len(images)))).x_t
    return out.detach().float().cpu().clamp(0, 1)


def compare(net, ref: torch.Tensor, other: torch.Tensor, labels: torch.Tensor
            ) -> dict[str, float]:
    from engine.training.classifier import features, frechet_distance, predict_digits

    read_ref, read = predict_digits(net, ref), predict_digits(net, other)
    return {"agree": float((read == read_ref).float().mean()),
            "kept": float((read == labels).float().mean()),
            "pixels": float((other - ref).abs().mean()),
            "fd": frechet_distance(features(net, other), features(net, ref))}


def quality(args: argparse.Namespace) -> int:
    from engine.models.registry import load_model
    from engine.training.classifier import load_classifier

    torch.set_num_threads(args.threads)
    try:
        model = load_model("mnist", "cpu")
        net = load_classifier()
    except EngineError as error:
        print(f"bench_live_steps: {error}")
        return 1
    images, labels = quality_inputs(model, args.digits, args.seeds)
    print(f"digit model {model.name}, {len(images)} inputs ({args.digits} MNIST test digits, "
          f"4 drawings x {args.seeds} seeds), prompt {model.default_prompt!r}, guidance "
          f"{model.default_guidance:g}\n")
    print("| strength | schedule | agree with full | kept digit | mean abs pixel diff "
          "| FD to full |")
    print("|---|---|---|---|---|---|")
    for strength in args.strengths:
        full_fields = live_fields(model, strength, 0)
        start = time.perf_counter()
        full = edit(model, images, full_fields, 0)
        floor = compare(net, full, edit(model, images, full_fields, 100_000), labels)
        print_quality(strength, f"full, other seeds (floor): "
                      f"{schedule_text(model, full_fields)}", floor)
        for s in args.steps:
            if s == 0:
                continue
            fields = live_fields(model, strength, s)
            row = compare(net, full, edit(model, images, fields, 0), labels)
            print_quality(strength, f"live_steps {s}: {schedule_text(model, fields)}", row)
        kept = compare(net, full, full, labels)["kept"]
        print(f"| {strength:g} | full itself ({time.perf_counter() - start:.0f} s for the rows) "
              f"| 100% | {100 * kept:.1f}% | 0 | 0 |")
    return 0


def print_quality(strength: float, name: str, row: dict[str, float]) -> None:
    print(f"| {strength:g} | {name} | {100 * row['agree']:.1f}% | {100 * row['kept']:.1f}% | "
          f"{row['pixels']:.4f} | {row['fd']:.3f} |", flush=True)


# --- the command line -------------------------------------------------------------------------


def numbers(text: str, kind: type) -> list:
    return [kind(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    fast = sub.add_parser("speed", help="results/s of the Live job on the emoji cascade")
    fast.add_argument("--steps", default="0,10,8", help="live_steps values (0: Run's schedule)")
    fast.add_argument("--rounds", type=int, default=4)
    fast.add_argument("--dtype", default="auto", choices=("auto", "fp32", "bf16"))
    fast.add_argument("--model", type=Path, help="a stage I IF folder (default: random)")
    good = sub.add_parser("quality", help="Live's results against Run's on the digit model")
    good.add_argument("--steps", default="0,16,12,10,8,6")
    good.add_argument("--strengths", default="0.3,0.5,0.7")
    good.add_argument("--digits", type=int, default=200)
    good.add_argument("--seeds", type=int, default=25)
    for p in (fast, good):
        p.add_argument("--threads", type=int, default=app_threads())
    args = parser.parse_args(argv)
    args.steps = numbers(args.steps, int)
    if args.what == "quality":
        args.strengths = numbers(args.strengths, float)
    if not args.steps or min(args.steps) < 0 or args.threads < 1:
        parser.error("--steps: whole numbers >= 0 (0: Run's schedule); --threads >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return speed(args) if args.what == "speed" else quality(args)


if __name__ == "__main__":
    sys.exit(main())
