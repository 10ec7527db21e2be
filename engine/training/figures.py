"""The Part B figures (SPEC.md B-1.2 to B-2.5) as PIL images, from models and tensors.

Plots use matplotlib's Agg canvas directly (no pyplot), so no GUI backend is ever touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image
from torch import nn

from engine import edits, images, loops
from engine.models.base import DiffusionModel

NOISE_LEVELS = (0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 1.0)
SCALE = 3  # 28 px digits are tiny: figures show them at 84 px, pixels kept sharp


def _pictures(x: torch.Tensor, scale: int = SCALE) -> list[Image.Image]:
    out = []
    for item in x.detach().float().cpu():
        picture = images.to_pil(item, (0.0, 1.0))
        out.append(picture.resize((picture.width * scale, picture.height * scale),
                                  Image.Resampling.NEAREST))
    return out


def tensor_grid(x: torch.Tensor, columns: int, labels: Sequence[str] | None = None
                ) -> Image.Image:
    """Images in [0, 1], [N, 1, H, W], laid out row by row."""
    return images.make_grid(_pictures(x), columns, labels=list(labels) if labels else None)


def noising_figure(x: torch.Tensor, generator: torch.Generator,
                   sigmas: Sequence[float] = NOISE_LEVELS) -> Image.Image:
    """B-1.2: z = x + σ ε for each image (rows) and σ (columns)."""
    rows = [x + s * loops.randn(x.shape, generator) for s in sigmas]
    stacked = torch.stack(rows, dim=1).reshape(-1, *x.shape[1:])
    labels = [f"sigma {s}" for s in sigmas] * x.shape[0]
    return tensor_grid(stacked.clamp(0, 1), len(sigmas), labels)


@torch.no_grad()
def denoise_figure(net: nn.Module, x: torch.Tensor, sigma: float, generator: torch.Generator
                   ) -> Image.Image:
    """B-1.2.1: input, noisy (σ), denoised output — one column per image."""
    noisy = x + sigma * loops.randn(x.shape, generator)
    out = net(noisy.to(next(net.parameters()).device)).cpu()
    n = x.shape[0]
    labels = ["input"] * n + [f"noisy, sigma {sigma}"] * n + ["denoised"] * n
    return tensor_grid(torch.cat([x, noisy, out]).clamp(0, 1), n, labels)


@torch.no_grad()
def ood_figure(net: nn.Module, x: torch.Tensor, generator: torch.Generator,
               sigmas: Sequence[float] = NOISE_LEVELS) -> Image.Image:
    """B-1.2.2: one test digit noised at each σ (top row) and denoised (bottom row)."""
    x = x[:1]
    noisy = torch.cat([x + s * loops.randn(x.shape, generator) for s in sigmas])
    out = net(noisy.to(next(net.parameters()).device)).cpu()
    labels = [f"sigma {s}" for s in sigmas] + ["denoised"] * len(sigmas)
    return tensor_grid(torch.cat([noisy, out]).clamp(0, 1), len(sigmas), labels)


def class_samples_figure(model: DiffusionModel, generator: torch.Generator,
                         guidance: float = 5.0, per_digit: int = 4, steps: int | None = None
                         ) -> Image.Image:
    """B-2.5: `per_digit` CFG samples of each digit; columns are the digits 0-9."""
    prompts = [str(d) for _ in range(per_digit) for d in range(10)]
    x = loops.final(edits.sample(model, prompts, generator, guidance, steps)).x_t
    return tensor_grid(x.clamp(0, 1), 10, prompts)


def unconditional_samples_figure(model: DiffusionModel, generator: torch.Generator,
                                 count: int = 40, steps: int | None = None) -> Image.Image:
    """B-2.3: samples of the time-conditioned model."""
    x = loops.final(edits.sample(model, [""] * count, generator, 1.0, steps)).x_t
    return tensor_grid(x.clamp(0, 1), 10)


def loss_figure(losses: Sequence[float], title: str, path: str | Path | None = None,
                steps_per_epoch: int | None = None) -> Image.Image:
    """The training loss per step on a log scale (B-1.2.1, B-2.2, B-2.4)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.plot(range(1, len(losses) + 1), list(losses), linewidth=0.6, color="#1f5fa8")
    axes.set_yscale("log")
    axes.set_xlabel("training step")
    axes.set_ylabel("loss (MSE)")
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    if steps_per_epoch:
        for edge in range(steps_per_epoch, len(losses), steps_per_epoch):
            axes.axvline(edge, color="grey", alpha=0.15, linewidth=0.5)
    figure.tight_layout()
    figure.canvas.draw()
    picture = Image.frombuffer("RGBA", figure.canvas.get_width_height(),
                               figure.canvas.buffer_rgba()).convert("RGB")
    if path is not None:
        images.save_png(picture, path)
    return picture
