"""A small CNN that reads MNIST digits: the judge of the Part B samples.

Two conv blocks (Conv-BN-ReLU ×2, max-pool) at 28² and 14², a third max-pool to 3², dropout, an
FC layer of `fc` features (the penultimate layer, used for a Fréchet distance) and a linear head.
The network takes images in [0, 1] and normalises them itself. About 140 K parameters.

Training: AdamW with a one-cycle LR, light augmentation (random shifts of up to `shift` pixels,
filled with black; on half the images Gaussian noise of a random σ up to `noise`, clamped to
[0, 1], so that grain in a sample does not flip the reading: without it a σ = 0.1 grain made
the first classifier read a quarter of the test digits as 8s), label smoothing. Every random
draw comes from torch.Generators seeded from `seed`, so the same seed, thread count and precision
give the same weights.

    python -m engine.training.classifier --out resources/models/digit-classifier

The Fréchet distance is the FID formula on the classifier's features,
d² = ||μ_a - μ_b||² + Tr(Σ_a + Σ_b - 2 (Σ_a Σ_b)^½), with Tr (Σ_a Σ_b)^½ computed from the
eigenvalues of the symmetric PSD matrix Σ_a^½ Σ_b Σ_a^½ (numpy, float64; no scipy).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine import devices
from engine.errors import CheckpointError
from engine.training.checkpoint import load_weights, save_weights, write_config

KIND = "digit-classifier"
BUNDLED = Path(__file__).resolve().parents[2] / "resources" / "models" / "digit-classifier"
MEAN, STD = 0.1307, 0.3081  # MNIST pixel statistics, for the input normalisation
ARCH_KEYS = ("c1", "c2", "fc", "dropout")
DEFAULT_ARCH = {"c1": 32, "c2": 64, "fc": 128, "dropout": 0.25}


def _conv(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True)]


class DigitClassifier(nn.Module):
    """[N, 1, 28, 28] in [0, 1] -> logits [N, 10]; `features` gives the penultimate [N, fc]."""

    def __init__(self, c1: int = 32, c2: int = 64, fc: int = 128, dropout: float = 0.25) -> None:
        super().__init__()
        self.arch = {"c1": c1, "c2": c2, "fc": fc, "dropout": dropout}
        self.body = nn.Sequential(
            *_conv(1, c1), *_conv(c1, c1), nn.MaxPool2d(2),  # 28 -> 14
            *_conv(c1, c2), *_conv(c2, c2), nn.MaxPool2d(2),  # 14 -> 7
            nn.MaxPool2d(2),  # 7 -> 3
            nn.Flatten(), nn.Dropout(dropout),
            nn.Linear(c2 * 9, fc), nn.ReLU(inplace=True),
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(fc, 10))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body((x - MEAN) / STD)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


# --- using it -----------------------------------------------------------------------------------


def load_classifier(folder: str | os.PathLike | None = None,
                    device: str | torch.device = "cpu") -> DigitClassifier:
    """The classifier in `folder` (default: the bundled one), fp32, in eval mode."""
    folder = Path(folder) if folder is not None else BUNDLED
    path = folder / "config.json"
    if not path.is_file():
        raise CheckpointError(f"{folder} holds no digit classifier (config.json is missing); "
                              "train one with `python -m engine.training.classifier --out DIR`")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path} is corrupt ({error})") from None
    if not isinstance(config, dict) or config.get("kind") != KIND:
        raise CheckpointError(f"{path} is not a digit classifier config")
    arch = config.get("architecture", {})
    net = DigitClassifier(**{k: arch[k] for k in ARCH_KEYS if k in arch})
    state, meta = load_weights(folder / "model.safetensors")
    if meta.get("kind", KIND) != KIND:
        raise CheckpointError(f"{folder}: model.safetensors holds a {meta.get('kind')!r}, "
                              "not a digit classifier")
    try:
        net.load_state_dict(state)
    except RuntimeError as error:
        raise CheckpointError(f"{folder}: the weights do not match the architecture in "
                              f"config.json ({str(error).splitlines()[0]})") from None
    return net.to(device).eval()


def as_images(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """[N, 1, 28, 28] (or [N, 28, 28]) float in [0, 1]; uint8 is divided by 255."""
    x = torch.as_tensor(images)
    if x.dtype == torch.uint8:
        x = x.float() / 255.0
    if x.dim() == 3:
        x = x.unsqueeze(1)
    if x.dim() != 4 or tuple(x.shape[1:]) != (1, 28, 28):
        raise ValueError(f"expected images [N, 1, 28, 28], got {tuple(x.shape)}")
    return x.float().clamp(0.0, 1.0)


@torch.no_grad()
def batched(fn: Callable[[torch.Tensor], torch.Tensor], net: nn.Module, x: torch.Tensor,
            batch_size: int) -> torch.Tensor:
    """`fn` (net or one of its parts) over `x` in batches on net's device, net in eval mode
    meanwhile, without gradients: the rows float32 on the CPU (empty: a 0-row tensor)."""
    was_training = net.training
    net.eval()
    try:
        device = next(net.parameters()).device
        outs = [fn(x[i:i + batch_size].to(device)).float().cpu()
                for i in range(0, len(x), batch_size)]
    finally:
        net.train(was_training)
    return torch.cat(outs) if outs else torch.empty(0)


def _batched(fn: Callable[[torch.Tensor], torch.Tensor], net: nn.Module, images,
             batch_size: int) -> torch.Tensor:
    return batched(fn, net, as_images(images), batch_size)


def logits(net: DigitClassifier, images, batch_size: int = 1000) -> torch.Tensor:
    return _batched(net, net, images, batch_size)


def predict_digits(net: DigitClassifier, images, batch_size: int = 1000) -> torch.Tensor:
    """The digit read in each image: int64 [N]. Images [N, 1, 28, 28] in [0, 1] (clamped)."""
    out = logits(net, images, batch_size)
    return out.argmax(1) if len(out) else torch.empty(0, dtype=torch.int64)


def features(net: DigitClassifier, images, batch_size: int = 1000) -> torch.Tensor:
    """The penultimate layer: float32 [N, fc], for a Fréchet distance."""
    out = _batched(net.features, net, images, batch_size)
    return out if len(out) else torch.empty(0, net.arch["fc"])


def frechet_distance(feats_a, feats_b) -> float:
    """d² between Gaussians fitted to two feature sets [N, F] (float64, numpy)."""
    a = np.asarray(torch.as_tensor(feats_a).double().cpu().numpy())
    b = np.asarray(torch.as_tensor(feats_b).double().cpu().numpy())
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets must be [N, F] with the same F: {a.shape} vs {b.shape}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError("each feature set needs at least 2 rows")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    return frechet_from_stats(mu_a, cov_a, mu_b, cov_b)


def _psd_sqrt(m: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((m + m.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_from_stats(mu_a, cov_a, mu_b, cov_b) -> float:
    mu_a, mu_b = np.atleast_1d(mu_a), np.atleast_1d(mu_b)
    cov_a, cov_b = np.atleast_2d(cov_a), np.atleast_2d(cov_b)
    root_a = _psd_sqrt(cov_a)
    middle = root_a @ cov_b @ root_a  # Σ_a^½ Σ_b Σ_a^½: same eigenvalues as Σ_a Σ_b
    eig = np.linalg.eigvalsh((middle + middle.T) / 2)
    tr_sqrt = float(np.sqrt(np.clip(eig, 0.0, None)).sum())
    diff = mu_a - mu_b
    d2 = float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * tr_sqrt)
    return max(d2, 0.0)


# --- training -----------------------------------------------------------------------------------


def _to_float(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).float().div_(255.0).unsqueeze(1)


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Each image moved by its own (dy, dx) in [-max_shift, max_shift]², the border black."""
    if max_shift <= 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4)
    oy = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator)
    ox = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator)
    rows = (oy[:, None] + torch.arange(h))[:, :, None]  # [n, h, 1]
    cols = (ox[:, None] + torch.arange(w))[:, None, :]  # [n, 1, w]
    return padded[torch.arange(n)[:, None, None], 0, rows, cols].unsqueeze(1)


def random_noise(x: torch.Tensor, max_sigma: float, generator: torch.Generator,
                 p: float = 0.5) -> torch.Tensor:
    """On a fraction p of the images, Gaussian noise of σ ~ U(0, max_sigma); clamped to [0, 1]."""
    if max_sigma <= 0:
        return x
    n = x.shape[0]
    sigma = torch.rand(n, 1, 1, 1, generator=generator) * max_sigma
    chosen = (torch.rand(n, 1, 1, 1, generator=generator) < p).float()
    noise = torch.randn(x.shape, generator=generator)
    return (x + sigma * chosen * noise).clamp(0.0, 1.0)


def _precision(name: str) -> torch.dtype | None:
    if name == "bf16":
        return torch.bfloat16
    if name == "fp32":
        return None
    # auto: bf16 where the CPU has native bf16
    return torch.bfloat16 if devices.cpu_has_native_bf16() else None


def evaluate(net: DigitClassifier, images: np.ndarray, labels: np.ndarray,
             noise: float = 0.0, seed: int = 0) -> float:
    """Accuracy on the images; with noise > 0, after adding Gaussian noise of that σ (clamped)."""
    x = _to_float(images)
    if noise > 0:
        x = x + noise * torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))
    pred = predict_digits(net, x)
    return float((pred == torch.from_numpy(labels.astype(np.int64))).float().mean())


def train_classifier(out_dir: str | os.PathLike | None, epochs: int = 6, *, seed: int = 0,
                     batch_size: int = 128, lr: float = 3e-3, weight_decay: float = 1e-4,
                     shift: int = 2, noise: float = 0.2, label_smoothing: float = 0.05,
                     precision: str = "auto",
                     num_threads: int | None = None, arch: dict | None = None,
                     data_dir: str | None = None, command: str | None = None,
                     log=print) -> tuple[DigitClassifier, dict]:
    """Train on the MNIST training set, test on the 10k test set; save to out_dir (if given).

    Returns (net in eval mode, the config written to config.json).
    """
    from engine.training.data import load_mnist

    started = time.perf_counter()
    if num_threads:
        torch.set_num_threads(num_threads)
    train, test = load_mnist("train", data_dir), load_mnist("test", data_dir)
    arch = {**DEFAULT_ARCH, **(arch or {})}
    torch.manual_seed(seed)
    net = DigitClassifier(**arch)
    x_train = _to_float(train.images)
    y_train = torch.from_numpy(train.labels.astype(np.int64))
    steps_per_epoch = math.ceil(len(x_train) / batch_size)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, epochs=epochs,
                                                steps_per_epoch=steps_per_epoch,
                                                pct_start=0.2)
    dtype = _precision(precision)
    history = []
    for epoch in range(epochs):
        gen = torch.Generator().manual_seed(seed * 1000 + epoch + 1)
        order = torch.randperm(len(x_train), generator=gen)
        net.train()
        t0, total, seen = time.perf_counter(), 0.0, 0
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            x = random_noise(random_shift(x_train[idx], shift, gen), noise, gen)
            y = y_train[idx]
            with torch.autocast("cpu", dtype=dtype or torch.float32, enabled=dtype is not None):
                out = net(x)
            loss = F.cross_entropy(out.float(), y, label_smoothing=label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
            seen += len(idx)
        acc = evaluate(net, test.images, test.labels)
        history.append({"epoch": epoch + 1, "loss": round(total / seen, 5),
                        "test_accuracy": round(acc, 5),
                        "seconds": round(time.perf_counter() - t0, 1)})
        log(f"epoch {epoch + 1}/{epochs}: loss {total / seen:.4f}, test accuracy {acc:.2%}, "
            f"{time.perf_counter() - t0:.0f} s")
    net.eval()
    wall = time.perf_counter() - started
    # the accuracy of the weights as stored (fp16), which is what load_classifier gives back
    stored = DigitClassifier(**arch)
    stored.load_state_dict({k: (v.half().float() if v.is_floating_point() else v)
                            for k, v in net.state_dict().items()})
    acc_stored = evaluate(stored.eval(), test.images, test.labels)
    robustness = {f"sigma_{s:g}": round(evaluate(stored, test.images, test.labels, s), 5)
                  for s in (0.05, 0.1, 0.2)}
    config = {
        "kind": KIND,
        "architecture": {"name": "DigitClassifier", **arch,
                         "layers": "[Conv3-BN-ReLU]x2(c1) MaxPool2, [Conv3-BN-ReLU]x2(c2) MaxPool2,"
                                   " MaxPool2, Dropout, Linear(c2*9, fc) ReLU [features],"
                                   " Dropout, Linear(fc, 10)",
                         "input": "[N,1,28,28] in [0,1], normalised inside by (x-0.1307)/0.3081",
                         "parameters": count_parameters(net)},
        "storage": "fp16 safetensors (loads as fp32)",
        "test_accuracy": round(acc_stored, 5),
        "test_accuracy_fp32": history[-1]["test_accuracy"] if history else None,
        "test_accuracy_with_gaussian_noise": robustness,
        "test_set": f"MNIST test, {len(test)} images ({test.source}, {test.fingerprint()})",
        "train_set": f"MNIST train, {len(train)} images ({train.source}, {train.fingerprint()})",
        "epochs": epochs, "seed": seed,
        "training": {"optimizer": "AdamW", "lr": lr, "schedule": "OneCycleLR (pct_start 0.2)",
                     "weight_decay": weight_decay, "batch_size": batch_size,
                     "augmentation": f"random shift up to {shift} px; on half the images "
                                     f"Gaussian noise, sigma ~ U(0, {noise:g}), clamped",
                     "label_smoothing": label_smoothing,
                     "precision": "bf16 autocast" if dtype is not None else "fp32",
                     "threads": torch.get_num_threads()},
        "history": history,
        "wall_seconds": round(wall, 1),
        "hardware": _hardware(),
        "torch": torch.__version__,
        "command": command or "engine.training.classifier.train_classifier(...)",
    }
    if out_dir is not None:
        out = Path(out_dir)
        save_weights(net, out / "model.safetensors", dtype=torch.float16,
                     metadata={"kind": KIND, "epochs": epochs, "seed": seed})
        write_config(out, config)
    return net, config


def _hardware() -> str:
    return f"{os.cpu_count()}-core {devices.cpu_info().model} CPU"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.training.classifier",
                                     description="Train the MNIST digit classifier that judges "
                                                 "the Part B samples.")
    parser.add_argument("--out", default=str(BUNDLED), help="output folder (default: bundled)")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--shift", type=int, default=2, help="max random shift in pixels")
    parser.add_argument("--noise", type=float, default=0.2,
                        help="max σ of the Gaussian noise added to half the images (0: none)")
    parser.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--data", default=None, help="folder of MNIST IDX files (optional)")
    args = parser.parse_args(argv)
    command = "python -m engine.training.classifier " + " ".join(
        argv if argv is not None else sys.argv[1:])
    _, config = train_classifier(args.out, args.epochs, seed=args.seed,
                                 batch_size=args.batch_size, lr=args.lr, shift=args.shift,
                                 noise=args.noise, precision=args.precision,
                                 num_threads=args.threads,
                                 data_dir=args.data, command=command.strip())
    print(f"test accuracy {config['test_accuracy']:.2%} (fp16 weights), "
          f"{config['wall_seconds']:.0f} s; saved to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
