"""`reproduce part-b`: every Part B figure of the write-up, with an index page.

Each model is trained with the course's settings into OUT/runs/<kind>; the figures the course
shows mid-training (results after epochs 1 and 5, samples after epochs 5 and 20) are made by an
epoch hook as the epochs pass. An interrupted reproduction resumes its runs. `quick` does the
same on a small budget (narrow UNets, few images, two epochs) that suits CI; its samples are
noise by design, and the index page and the command say so (QUICK_NOTE).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from torch import nn

from engine import images
from engine.errors import DataError
from engine.models.mnist import MnistModel
from engine.training import checkpoint as ckpt
from engine.training import figures
from engine.training.data import load_mnist
from engine.training.train import EpochHook, TrainConfig, train


@dataclass
class Figure:
    name: str  # file name in OUT
    section: str  # the write-up's section, e.g. "B-1.2.1"
    caption: str


@dataclass(frozen=True)
class Plan:
    """Which epochs get mid-training figures, and how big the runs are."""

    snapshots: dict[str, tuple[int, ...]]
    overrides: dict[str, dict]
    sample_steps: int | None  # None: the course's full 300-step DDPM


FULL = Plan({"denoiser": (1, 5), "time": (5, 20), "class": (5, 20)},
            {"denoiser": {}, "time": {}, "class": {}}, 300)
QUICK = Plan({"denoiser": (1, 2), "time": (1, 2), "class": (1, 2)},
             {kind: {"hidden": 8, "epochs": 2, "limit": 1024, "batch_size": 64}
              for kind in ("denoiser", "time", "class")}, 30)


QUICK_NOTE = ("Quick run: a CI budget of a minute or two (UNets of width 8, 1,024 training images, "
              "2 epochs), so its samples are noise by design: it checks that every figure is "
              "made, not what the models learn. Run without --quick for the course's settings "
              "(D = 64-128, 60,000 images, 5 and 20 epochs).")


def test_digits(count: int = 8, data_dir: str | None = None) -> torch.Tensor:
    """The first test digits in [0, 1]; the training split where a folder has no test files."""
    try:
        data = load_mnist("test", data_dir)
    except DataError:
        data = load_mnist("train", data_dir)
    return torch.from_numpy(data.images[:count]).float().div(255).unsqueeze(1)


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def snapshot(kind: str, model: nn.Module, config: TrainConfig, sample_steps: int | None
             ) -> Image.Image:
    """The course's mid-training figure: denoised test digits, or samples."""
    if kind == "denoiser":
        return figures.denoise_figure(model, test_digits(8, config.data_dir), config.sigma,
                                      generator(1))
    device = next(model.parameters()).device
    adapter = MnistModel(model, {"kind": kind, "num_timesteps": config.num_timesteps}, kind,
                         device)
    if kind == "time":
        return figures.unconditional_samples_figure(adapter, generator(2), steps=sample_steps)
    return figures.class_samples_figure(adapter, generator(3), steps=sample_steps)


def epoch_hook(kind: str, plan: Plan, out: Path) -> EpochHook:
    """Makes the course's mid-training figure after each snapshot epoch."""

    def hook(epoch: int, model: nn.Module, config: TrainConfig, run_dir: Path) -> None:
        if epoch in plan.snapshots[kind]:
            picture = snapshot(kind, model, config, plan.sample_steps)
            images.save_png(picture, out / f"{kind}-epoch-{epoch}.png")

    return hook


def training_figures_hook(kind: str, sample_steps: int | None = 30) -> EpochHook:
    """For `train`: after every epoch, RUN/figures/ gets the loss curve and that epoch's
    snapshot; the noising figure once, and the out-of-distribution figure for the denoiser."""

    def hook(epoch: int, model: nn.Module, config: TrainConfig, run_dir: Path) -> None:
        folder = run_dir / "figures"
        images.save_png(snapshot(kind, model, config, sample_steps),
                        folder / f"epoch-{epoch}.png")
        figures.loss_figure(losses_of(run_dir), f"Training loss: {kind} model",
                            folder / "loss.png")
        if not (folder / "noising.png").exists():
            images.save_png(figures.noising_figure(test_digits(5, config.data_dir),
                                                   generator(0)), folder / "noising.png")
        if kind == "denoiser":
            images.save_png(figures.ood_figure(model, test_digits(1, config.data_dir),
                                               generator(4)), folder / "ood.png")

    return hook


def train_run(kind: str, plan: Plan, out: Path, device: str, progress: bool) -> Path:
    run_dir = out / "runs" / kind
    config = TrainConfig.for_kind(kind, device=device, **plan.overrides[kind])
    resume = (run_dir / ckpt.CONFIG).exists() or (run_dir / ckpt.STATE).exists()
    train(config, run_dir, resume=resume, progress=progress,
          on_epoch_end=epoch_hook(kind, plan, out))
    return run_dir


def losses_of(run_dir: Path) -> list[float]:
    rows = (run_dir / "loss.csv").read_text().splitlines()[1:]
    return [float(row.split(",")[-1]) for row in rows if row.strip()]


def reproduce_part_b(out: str | Path, quick: bool = False, device: str = "auto",
                     progress: bool = True) -> list[Figure]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plan = QUICK if quick else FULL
    made = [noising(out)]
    runs = {kind: train_run(kind, plan, out, device, progress)
            for kind in ("denoiser", "time", "class")}
    made += loss_curves(out, runs)
    made.append(out_of_distribution(out, runs["denoiser"]))
    made += snapshot_figures(plan)
    write_index(out, made, quick)
    return made


def noising(out: Path) -> Figure:
    images.save_png(figures.noising_figure(test_digits(5), generator(0)), out / "noising.png")
    return Figure("noising.png", "B-1.2", "Noising MNIST digits: z = x + σε at σ = 0, 0.2, "
                  "0.4, 0.5, 0.6, 0.8, 1.0.")


def loss_curves(out: Path, runs: dict[str, Path]) -> list[Figure]:
    titles = {"denoiser": ("B-1.2.1", "single-step denoiser (σ = 0.5)"),
              "time": ("B-2.2", "time-conditioned UNet"),
              "class": ("B-2.4", "class-conditioned UNet")}
    made = []
    for kind, run_dir in runs.items():
        section, title = titles[kind]
        name = f"{kind}-loss.png"
        figures.loss_figure(losses_of(run_dir), f"Training loss: {title}", out / name)
        made.append(Figure(name, section, f"Training loss of the {title}, per step, log scale."))
    return made


def out_of_distribution(out: Path, run_dir: Path) -> Figure:
    net, config = ckpt.load_model(run_dir)
    picture = figures.ood_figure(net, test_digits(1), generator(4))
    images.save_png(picture, out / "denoiser-ood.png")
    return Figure("denoiser-ood.png", "B-1.2.2", "Out of distribution: the denoiser trained at "
                  f"σ = {config.get('sigma', 0.5)} applied to a test digit at other σ.")


def snapshot_figures(plan: Plan) -> list[Figure]:
    text = {"denoiser": ("B-1.2.1", "Test digits: input, noisy (σ = 0.5), denoised, after "
                         "epoch {e}."),
            "time": ("B-2.3", "Samples of the time-conditioned UNet after epoch {e}."),
            "class": ("B-2.5", "Class-conditioned samples with CFG γ = 5, four per digit, "
                      "after epoch {e}.")}
    made = []
    for kind, epochs in plan.snapshots.items():
        section, caption = text[kind]
        made += [Figure(f"{kind}-epoch-{e}.png", section, caption.format(e=e)) for e in epochs]
    return made


def write_index(out: Path, made: list[Figure], quick: bool) -> None:
    title = "Part B: training diffusion models on MNIST" + (" (quick)" if quick else "")
    write_index_page(out, made, title, QUICK_NOTE if quick else None)


def section_key(section: str) -> list[int]:
    """'B-1.2.1' -> [1, 2, 1], so figures sort in the write-up's order."""
    return [int(p) for p in section[2:].split(".")]


def write_index_page(out: Path, made: list[Figure], title: str, note: str | None = None
                     ) -> None:
    """OUT/index.html: every figure in section order, with its caption; `note` (if any) in a
    box under the title."""
    parts = [f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;max-width:60em;margin:auto}"
             "img{image-rendering:pixelated;max-width:100%}figure{margin:2em 0}"
             ".note{border:1px solid #c90;background:#fff8e0;padding:.6em 1em}</style>",
             f"<h1>{html.escape(title)}</h1>"]
    if note:
        parts.append(f"<p class='note'>{html.escape(note)}</p>")
    for fig in sorted(made, key=lambda f: section_key(f.section)):
        parts.append(f"<figure><img src='{html.escape(fig.name)}' alt='{fig.section}'>"
                     f"<figcaption><b>{fig.section}</b> {html.escape(fig.caption)}"
                     "</figcaption></figure>")
    (out / "index.html").write_text("\n".join(parts) + "\n")
