"""A small CNN that names emoji: the judge of the emoji cascade's prompt fidelity, Fréchet
distance and illusions (issue 12, 4), as the digit classifier judges the Part B samples.

Classes are the emoji, keyed by their Unicode code points (`unified`): Google's and Twemoji's
art of one emoji is one class. Input: [N, 3, 32, 32] RGB in [0, 1] (stage I's size; a larger
image is area-averaged down to 32 first). One Conv3-BN-ReLU at each of 32, 16, 8 and 4 px, the
4 x 4 map flattened (the layout matters), an FC layer of `fc` features (the penultimate layer,
for the Fréchet distance) and a linear head: about 1 M parameters at the default width, most in
the head. Small on purpose: with two pictures per class, the number of passes over the data in
a CPU's 20 minutes decides the accuracy (a deeper net at a third of the speed learnt nothing
in 6 epochs).

Augmentation, as generated samples look, never a mirror (an emoji is not mirror-symmetric in
meaning: a hand, an arrow, a letter): a random scale and shift with a small rotation (the
border filled with white, the data's background), brightness, contrast and saturation jitter
(no hue: a red and a blue heart are two classes), on some images a Gaussian blur, on half of
them Gaussian noise. Every random draw comes from generators seeded from (seed, stream, step),
so a resume from an epoch's end sees what an unbroken run sees.

Held out: one augmented copy of every image, drawn from a fixed seed that training never uses
(the same art, in augmentations it never saw); `--holdout-style twemoji` instead trains on the
other vendor's art only and tests on Twemoji's (art it never saw; a harder, other number).

Files in the output folder (engine/training/checkpoint.py, one atomic checkpoint per epoch):
model.safetensors (fp16 when finished), config.json (classes, accuracy, settings) and, while
training, training_state.pt (weights, optimizer, history) that `--resume` continues from.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.errors import CheckpointError, EngineError
from engine.training import checkpoint as ckpt
from engine.training import emoji_data
from engine.training.classifier import batched

KIND = "emoji-classifier"
SIZE = 32
BUNDLED = Path(__file__).resolve().parents[2] / "resources" / "models" / "emoji-classifier"
HELD_OUT_SEED = 20261201  # the held-out copies' draws: never a training stream
ARCH_KEYS = ("width", "fc", "dropout", "classes")
RUN_SETTINGS = ("epochs", "batch_size", "lr", "weight_decay", "width", "fc", "dropout",
                "label_smoothing", "seed", "holdout_style", "data")


def _conv(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True)]


class EmojiClassifier(nn.Module):
    """[N, 3, 32, 32] in [0, 1] -> logits [N, classes]; `features` gives [N, fc]."""

    def __init__(self, classes: int, width: int = 24, fc: int = 256,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.arch = {"classes": classes, "width": width, "fc": fc, "dropout": dropout}
        w = width
        self.body = nn.Sequential(
            *_conv(3, w), nn.MaxPool2d(2),  # 32 -> 16
            *_conv(w, 2 * w), nn.MaxPool2d(2),  # 16 -> 8
            *_conv(2 * w, 4 * w), nn.MaxPool2d(2),  # 8 -> 4
            *_conv(4 * w, 4 * w),
            nn.Flatten(),  # the 4 x 4 layout kept: where a part is tells emoji apart
            nn.Linear(16 * 4 * w, fc), nn.ReLU(inplace=True),
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(fc, classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x * 2.0 - 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


# --- classes -------------------------------------------------------------------------------------


def class_table(entries: Sequence[dict]) -> tuple[list[dict[str, Any]], list[int]]:
    """([{"unified", "name", "short_names"}] one per emoji in order of first appearance, the
    class index of every entry)."""
    index: dict[str, int] = {}
    classes: list[dict[str, Any]] = []
    labels = []
    for entry in entries:
        key = str(entry.get("unified") or entry.get("name"))
        if key not in index:
            index[key] = len(classes)
            classes.append({"unified": key, "name": entry.get("name", ""),
                            "short_names": list(entry.get("short_names") or [])})
        labels.append(index[key])
    return classes, labels


# --- images --------------------------------------------------------------------------------------


def as_images(images: torch.Tensor | np.ndarray, data_range: tuple[float, float] = (0.0, 1.0)
              ) -> torch.Tensor:
    """[N, 3, 32, 32] float in [0, 1] from [N, 3, H, W] floats in `data_range` (IF's samples:
    (-1, 1)) or uint8 [N, H, W, 3] (the data set); H = W a multiple of 32, area-averaged."""
    x = torch.as_tensor(images)
    if x.dtype == torch.uint8:
        if x.dim() != 4 or x.shape[-1] != 3:
            raise ValueError(f"expected uint8 images [N, H, W, 3], got {tuple(x.shape)}")
        x = x.permute(0, 3, 1, 2).float() / 255.0
    else:
        low, high = data_range
        x = (x.float() - low) / (high - low)
    if x.dim() != 4 or x.shape[1] != 3 or x.shape[2] != x.shape[3] or x.shape[2] % SIZE:
        raise ValueError(f"expected RGB images [N, 3, H, H] with H a multiple of {SIZE}, got "
                         f"{tuple(x.shape)}")
    if x.shape[2] != SIZE:
        x = F.avg_pool2d(x, x.shape[2] // SIZE)
    return x.clamp(0.0, 1.0)


def _gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Each image blurred with its own σ (5-tap separable kernel; σ = 0 leaves it)."""
    taps = torch.arange(-2, 3, dtype=x.dtype)
    kernel = torch.exp(-taps[None] ** 2 / (2 * sigma.clamp(min=1e-3)[:, None] ** 2))
    kernel = kernel / kernel.sum(1, keepdim=True)  # [n, 5]
    n, c, h, w = x.shape
    flat = x.reshape(1, n * c, h, w)
    k = kernel.repeat_interleave(c, 0)  # [n*c, 5]
    flat = F.conv2d(F.pad(flat, (2, 2, 0, 0), mode="replicate"), k[:, None, None, :],
                    groups=n * c)
    flat = F.conv2d(F.pad(flat, (0, 0, 2, 2), mode="replicate"), k[:, None, :, None],
                    groups=n * c)
    return flat.reshape(n, c, h, w)


def augment(x: torch.Tensor, g: torch.Generator, strength: float = 1.0) -> torch.Tensor:
    """Random scale (0.8-1.15), shift (up to 3 px), rotation (up to 10 degrees), brightness,
    contrast and saturation jitter, blur (30%) and noise (50%) on [N, 3, 32, 32] in [0, 1].
    Never a mirror. strength 0 gives the images back."""
    if strength <= 0:
        return x
    n = x.shape[0]

    def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, *shape, generator=g)

    scale = 1.0 + strength * (uniform(0.8, 1.15) - 1.0)
    angle = strength * uniform(-10.0, 10.0) * math.pi / 180
    shift = strength * uniform(-3.0, 3.0, 2) * 2 / SIZE
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1),
                         torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = 1.0 - F.grid_sample(1.0 - x, grid, mode="bilinear", padding_mode="zeros",
                            align_corners=False)  # the border comes in white
    grey = (x * torch.tensor([0.299, 0.587, 0.114])[None, :, None, None]).sum(1, keepdim=True)
    saturation = 1.0 + strength * (uniform(0.6, 1.3, 1, 1, 1) - 1.0)
    x = grey + saturation * (x - grey)
    contrast = 1.0 + strength * (uniform(0.75, 1.25, 1, 1, 1) - 1.0)
    mean = x.mean((1, 2, 3), keepdim=True)
    x = mean + contrast * (x - mean) + strength * uniform(-0.1, 0.1, 1, 1, 1)
    blurred = torch.rand(n, generator=g) < 0.3
    sigma = torch.where(blurred, strength * uniform(0.3, 1.2), torch.zeros(n))
    x = torch.where(blurred[:, None, None, None], _gaussian_blur(x, sigma), x)
    noisy = (torch.rand(n, 1, 1, 1, generator=g) < 0.5).float()
    x = x + noisy * strength * uniform(0.0, 0.08, 1, 1, 1) * torch.randn(x.shape, generator=g)
    return x.clamp(0.0, 1.0)


# --- using it ------------------------------------------------------------------------------------


def load_emoji_classifier(folder: str | os.PathLike | None = None,
                          device: str | torch.device = "cpu"
                          ) -> tuple[EmojiClassifier, dict[str, Any]]:
    """(the classifier in `folder` (default: the bundled one), fp32, eval mode; its config)."""
    folder = Path(folder) if folder is not None else BUNDLED
    hint = ("train one with `python main.py train emoji-classifier --data DIR --out "
            f"{folder}`")
    if not (folder / ckpt.CONFIG).is_file() or not (folder / ckpt.WEIGHTS).is_file():
        raise CheckpointError(f"{folder} holds no emoji classifier ({ckpt.CONFIG} and "
                              f"{ckpt.WEIGHTS}); {hint}")
    config = _read_config(folder)
    arch = config.get("architecture") or {}
    try:
        net = EmojiClassifier(**{k: int(arch[k]) if k != "dropout" else float(arch[k])
                                 for k in ARCH_KEYS})
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(f"{folder / ckpt.CONFIG}: its architecture is incomplete; {hint}"
                              ) from None
    if len(config.get("classes") or []) != net.arch["classes"]:
        raise CheckpointError(f"{folder / ckpt.CONFIG}: its class list does not match its "
                              "architecture")
    ckpt.verify(folder, ckpt.WEIGHTS)
    state, meta = ckpt.load_weights(folder / ckpt.WEIGHTS)
    if meta.get("kind", KIND) != KIND:
        raise CheckpointError(f"{folder}: {ckpt.WEIGHTS} holds a {meta.get('kind')!r}, not an "
                              "emoji classifier")
    try:
        net.load_state_dict({k: v.float() if v.is_floating_point() else v
                             for k, v in state.items()})
    except RuntimeError as error:
        raise CheckpointError(f"{folder}: the weights do not match the architecture in "
                              f"{ckpt.CONFIG} ({str(error).splitlines()[0]})") from None
    return net.to(device).eval(), config


def _read_config(folder: Path) -> dict[str, Any]:
    import json

    path = folder / ckpt.CONFIG
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise CheckpointError(f"{path} cannot be read ({error})") from None
    if not isinstance(config, dict) or config.get("kind") != KIND:
        raise CheckpointError(f"{path} is not an emoji classifier's config")
    return config


def logits(net: EmojiClassifier, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """[N, classes] for images already as_images'd ([N, 3, 32, 32] in [0, 1])."""
    return batched(net, net, images, batch_size)


def features(net: EmojiClassifier, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """The penultimate layer, [N, fc] float32, for a Fréchet distance."""
    out = batched(net.features, net, images, batch_size)
    return out if len(out) else torch.empty(0, net.arch["fc"])


def top_k_hits(scores: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    """Bool [N]: whether each row's k highest scores hold its label."""
    k = min(k, scores.shape[1])
    return (scores.topk(k, dim=1).indices == labels[:, None]).any(1)


def accuracy(net: EmojiClassifier, images: torch.Tensor, labels: torch.Tensor
             ) -> dict[str, float]:
    out = logits(net, images)
    return {f"top{k}": round(float(top_k_hits(out, labels, k).float().mean()), 5)
            for k in (1, 5)}


# --- training ------------------------------------------------------------------------------------


@dataclass
class ClassifierConfig:
    data_dir: str
    epochs: int = 36
    batch_size: int = 32
    lr: float = 1e-3  # 3e-3 stalls at the uniform loss, ln(classes)
    weight_decay: float = 5e-4
    width: int = 24
    fc: int = 256
    dropout: float = 0.1
    label_smoothing: float = 0.05
    seed: int = 0
    holdout_style: str | None = None  # None: held-out augmented copies; a style: that vendor
    device: str = "auto"
    precision: str = "auto"
    num_threads: int | None = None

    def validate(self) -> None:
        problems = []
        for name in ("epochs", "batch_size", "width", "fc"):
            if int(getattr(self, name)) < 1:
                problems.append(f"{name.replace('_', '-')} must be at least 1")
        if not self.lr > 0:
            problems.append("lr must be positive")
        if not 0 <= self.dropout < 1 or not 0 <= self.label_smoothing < 1:
            problems.append("dropout and label smoothing must be in [0, 1)")
        if self.holdout_style is not None and self.holdout_style not in emoji_data.VENDORS:
            problems.append(f"holdout style must be one of {', '.join(emoji_data.VENDORS)}")
        if problems:
            raise EngineError("bad classifier settings: " + "; ".join(problems))


def lr_at(config: ClassifierConfig, step: int, total: int) -> float:
    """Linear warm-up over the first 5% of the steps, then a cosine down to 1% of lr."""
    warm = max(1, round(0.05 * total))
    if step < warm:
        return config.lr * (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    return config.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def split(data: emoji_data.EmojiSet, labels: list[int], holdout_style: str | None
          ) -> tuple[np.ndarray, np.ndarray]:
    """(training indices, held-out indices). No style: every image trains and is held out as
    an unseen augmented copy. A style: its images are held out (those whose emoji the other
    vendor also has), the others train."""
    every = np.arange(len(data))
    if holdout_style is None:
        return every, every
    styles = np.array([e.get("style") for e in data.entries])
    train = every[styles != holdout_style]
    seen = {labels[i] for i in train}
    test = np.array([i for i in every[styles == holdout_style] if labels[i] in seen], dtype=int)
    if not len(train) or not len(test):
        raise EngineError(f"holding out the {holdout_style!r} art leaves nothing to train on or "
                          "to test with")
    return train, test


def held_out_images(x: torch.Tensor) -> torch.Tensor:
    """The fixed augmented copies the accuracy is measured on (HELD_OUT_SEED)."""
    g = torch.Generator().manual_seed(HELD_OUT_SEED)
    return torch.cat([augment(x[i:i + 512], g) for i in range(0, len(x), 512)])


def _settings(config: ClassifierConfig, data: emoji_data.EmojiSet) -> dict[str, Any]:
    values = asdict(config)
    values["data"] = {"source": data.source, "fingerprint": data.fingerprint()}
    return {k: values[k] for k in RUN_SETTINGS}


def _seeded(seed: int, *stream: Any) -> torch.Generator:
    from engine.training.train import _seeded as seeded

    return seeded(seed, *stream)


def train_emoji_classifier(config: ClassifierConfig, out_dir: str | os.PathLike,
                           resume: bool = False, log: Callable[[str], None] | None = None,
                           max_epochs: int | None = None, command: str | None = None
                           ) -> tuple[EmojiClassifier, dict[str, Any]]:
    """Train into out_dir (resume=True continues the run there); (net in eval mode, config).

    max_epochs stops this call (saved) after that many epochs (tests of resume)."""
    from engine.devices import cpu_count, resolve_device
    from engine.training.train import resolve_precision

    log = log or (lambda message: print(message, file=sys.stderr))
    config.validate()
    out_dir = Path(out_dir)
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    torch.set_num_threads(config.num_threads or cpu_count())
    has_run = ckpt.holds_state(out_dir, resume)
    if not resume and (has_run or (out_dir / ckpt.CONFIG).exists()):
        raise CheckpointError(f"{out_dir} already holds a classifier run; pass --resume to "
                              "continue it, or choose another --out")
    if resume and not has_run:
        raise CheckpointError(f"{out_dir} holds no classifier run to resume"
                              + (" (it finished)" if (out_dir / ckpt.CONFIG).exists() else ""))

    data = emoji_data.load_set(config.data_dir)
    classes, labels_list = class_table(data.entries)
    labels = torch.tensor(labels_list, dtype=torch.int64)
    x = as_images(data.images)
    train_idx, test_idx = split(data, labels_list, config.holdout_style)
    x_test, y_test = held_out_images(x[test_idx]), labels[test_idx]
    settings = _settings(config, data)

    torch.manual_seed(config.seed)
    net = EmojiClassifier(len(classes), config.width, config.fc, config.dropout)
    decay = [p for n, p in net.named_parameters() if p.dim() > 1]
    rest = [p for n, p in net.named_parameters() if p.dim() <= 1]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                   {"params": rest, "weight_decay": 0.0}], lr=config.lr)
    start_epoch, history, wall_before = 0, [], 0.0
    if resume:
        state = ckpt.resume_state(out_dir, settings, RUN_SETTINGS, net, optimizer, "classifier")
        start_epoch, history = int(state["epoch"]), list(state.get("history") or [])
        wall_before = float(state.get("wall_seconds", 0.0))
    net = net.to(device)
    ckpt.optimizer_to(optimizer, device)
    autocast = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    steps_per_epoch = math.ceil(len(train_idx) / config.batch_size)
    total = steps_per_epoch * config.epochs
    log(f"training the emoji classifier ({sum(p.numel() for p in net.parameters()) / 1e6:.2f} M "
        f"parameters, {len(classes)} classes) on {len(train_idx)} images, held out: "
        f"{_held_out_text(config, len(test_idx))}; {device.type} {precision}, "
        f"{torch.get_num_threads()} thread(s), epochs {start_epoch + 1}..{config.epochs}")
    started = time.perf_counter()
    stop = config.epochs if max_epochs is None else min(config.epochs, start_epoch + max_epochs)
    for epoch in range(start_epoch, stop):
        t0 = time.perf_counter()
        loss = _train_epoch(config, net, optimizer, x, labels, train_idx, epoch, steps_per_epoch,
                            total, device, autocast)
        row = {"epoch": epoch + 1, "loss": round(loss, 5),
               "seconds": round(time.perf_counter() - t0, 1)}
        if (epoch + 1) % 5 == 0 or epoch + 1 == config.epochs:
            row |= {f"held_out_{k}": v for k, v in accuracy(net, x_test, y_test).items()}
        history.append(row)
        log(f"epoch {epoch + 1}/{config.epochs}: loss {loss:.4f}"
            + "".join(f", {k} {v:.2%}" for k, v in row.items() if k.startswith("held_out"))
            + f", {row['seconds']:.0f} s ({len(train_idx) / max(row['seconds'], 1e-9):.0f} "
              "images/s)")
        wall = wall_before + time.perf_counter() - started
        finished = epoch + 1 == config.epochs
        record = _record(config, net, classes, history, settings, data, len(train_idx),
                         len(test_idx), wall, epoch + 1, precision, command)
        if finished:
            record |= _final_scores(net, x, labels, x_test, y_test, train_idx)
        state = None if finished else {
            "epoch": epoch + 1, "model": ckpt.to_cpu(net.state_dict()),
            "optimizer": ckpt.to_cpu(optimizer.state_dict()), "settings": settings,
            "history": history, "wall_seconds": wall}
        ckpt.save_checkpoint(out_dir, weights=_stored(net, finished), config=record,
                             weights_metadata={"kind": KIND, "epoch": epoch + 1},
                             state=state, remove=[ckpt.STATE] if finished else ())
    net.eval()
    return net.cpu(), _read_config(out_dir)


def _held_out_text(config: ClassifierConfig, count: int) -> str:
    if config.holdout_style is None:
        return f"one unseen augmented copy of each image ({count}, seed {HELD_OUT_SEED})"
    return f"the {config.holdout_style} art ({count} images, augmented, seed {HELD_OUT_SEED})"


def _train_epoch(config: ClassifierConfig, net: EmojiClassifier, optimizer, x: torch.Tensor,
                 labels: torch.Tensor, train_idx: np.ndarray, epoch: int, steps_per_epoch: int,
                 total: int, device: torch.device, autocast: torch.dtype | None) -> float:
    order = torch.from_numpy(train_idx)[
        torch.randperm(len(train_idx), generator=_seeded(config.seed, "order", epoch))]
    net.train()
    sum_loss, seen = 0.0, 0
    torch.manual_seed(_seeded(config.seed, "dropout", epoch).initial_seed())  # resumable
    for step in range(steps_per_epoch):
        global_step = epoch * steps_per_epoch + step
        for group in optimizer.param_groups:
            group["lr"] = lr_at(config, global_step, total)
        idx = order[step * config.batch_size:(step + 1) * config.batch_size]
        batch = augment(x[idx], _seeded(config.seed, "augment", global_step)).to(device)
        target = labels[idx].to(device)
        with torch.autocast(device.type, dtype=autocast or torch.float32,
                            enabled=autocast is not None):
            out = net(batch)
        loss = F.cross_entropy(out.float(), target, label_smoothing=config.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        sum_loss += float(loss.detach()) * len(idx)
        seen += len(idx)
    return sum_loss / max(seen, 1)


def _stored(net: EmojiClassifier, finished: bool) -> dict[str, torch.Tensor]:
    """The weights as saved: fp16 once finished (what is bundled), fp32 between epochs."""
    state = ckpt.to_cpu(net.state_dict())
    if not finished:
        return state
    return {k: v.half() if v.is_floating_point() and not k.endswith("running_var") else v
            for k, v in state.items()}


def _final_scores(net: EmojiClassifier, x: torch.Tensor, labels: torch.Tensor,
                  x_test: torch.Tensor, y_test: torch.Tensor, train_idx: np.ndarray
                  ) -> dict[str, Any]:
    """Accuracy of the weights as stored (fp16 back to fp32), held out and on the clean art."""
    stored = EmojiClassifier(**net.arch)
    stored.load_state_dict({k: v.float() if v.is_floating_point() else v
                            for k, v in _stored(net.cpu(), True).items()})
    stored.eval()
    return {"held_out": accuracy(stored, x_test, y_test),
            "clean_training_images": accuracy(stored, x[train_idx], labels[train_idx])}


def _record(config: ClassifierConfig, net: EmojiClassifier, classes: list[dict],
            history: list[dict], settings: dict, data: emoji_data.EmojiSet, n_train: int,
            n_test: int, wall: float, done: int, precision: str, command: str | None
            ) -> dict[str, Any]:
    from engine import devices

    return {
        "kind": KIND, "format": "diffusion-canvas-emoji-classifier/1",
        "architecture": {"name": "EmojiClassifier", **net.arch,
                         "layers": "[Conv3-BN-ReLU, MaxPool2] at 32, 16, 8 px (width x1, x2, "
                                   "x4), Conv3-BN-ReLU at 4 px (x4), flatten, "
                                   "Linear(64 width, fc) ReLU [features], Dropout, "
                                   "Linear(fc, classes)",
                         "input": "[N,3,32,32] RGB in [0,1]; larger images area-averaged",
                         "parameters": sum(p.numel() for p in net.parameters())},
        "classes": classes,
        "held_out_set": _held_out_text(config, n_test),
        "train_images": n_train, "data": f"{data.source} [{data.fingerprint()}]",
        "epochs": config.epochs, "epochs_done": done, "training": settings,
        "augmentation": "scale 0.8-1.15, shift <= 3 px, rotation <= 10 deg (white border); "
                        "saturation 0.6-1.3, contrast 0.75-1.25, brightness +-0.1; Gaussian "
                        "blur sigma 0.3-1.2 on 30%; Gaussian noise sigma <= 0.08 on 50%; "
                        "no mirror, no hue",
        "precision": precision, "history": history, "wall_seconds": round(wall, 1),
        "hardware": f"{os.cpu_count()}-core {devices.cpu_info().model} CPU, "
                    f"{torch.get_num_threads()} thread(s)",
        "torch": torch.__version__,
        "command": command or "engine.training.emoji_classifier.train_emoji_classifier(...)",
        "storage": "fp16 safetensors when finished (loads as fp32)",
    }
