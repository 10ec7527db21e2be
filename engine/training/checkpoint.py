"""Checkpoint folders: `model.safetensors` + `config.json` (+ `training_state.pt` while training).

- model.safetensors: the UNet's state dict (fp32, or fp16 for bundling; loads back as fp32). Its
  metadata holds the kind, width and epoch, so a stray file from another run is caught.
- config.json: kind, hidden, num_timesteps (300), convention "ddpm", time_input "t/T", sigma for
  the denoiser, the training settings, epochs_done, final_loss.
- training_state.pt: optimizer, LR scheduler, RNG states, epoch, loss history; plain tensors,
  dicts, lists and numbers, so it loads with torch.load(..., weights_only=True). A mid-epoch save
  (train.py, every 10 min) writes only this file, with `step` > 0 and the weights inside it.
  It is deleted when the run finishes.

Every file is written to a temporary name in the same folder and moved into place with os.replace,
so a crash leaves either the old file or the new one. An epoch is saved weights first, then the
training state, then config.json; `epochs_done` of all three must agree on resume.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.errors import CheckpointError
from engine.files import replacing

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
STATE = "training_state.pt"
FORMAT = "diffusion-canvas-partb/1"


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Call write(temp_path) on a temporary file beside `path`, then move it into place."""
    with replacing(path) as tmp:
        write(str(tmp))


def save_weights(model_or_state: nn.Module | dict, path: str | os.PathLike,
                 dtype: torch.dtype | None = None, metadata: dict[str, Any] | None = None) -> None:
    """The model's state dict as safetensors; dtype=torch.float16 halves the file for bundling.

    Only floating tensors are cast (BatchNorm's num_batches_tracked stays int64).
    """
    from safetensors.torch import save_file

    state = model_or_state.state_dict() if isinstance(model_or_state, nn.Module) else model_or_state
    tensors = {}
    for name, tensor in state.items():
        tensor = tensor.detach().to("cpu")
        if dtype is not None and tensor.is_floating_point():
            tensor = tensor.to(dtype)
        tensors[name] = tensor.contiguous()
    meta = {"format": FORMAT}
    meta.update({k: str(v) for k, v in (metadata or {}).items()})
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=meta))


def load_weights(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(state dict in fp32, metadata); CheckpointError if missing or unreadable."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} is missing")
    try:
        tensors = {}
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = dict(f.metadata() or {})
            for name in f.keys():  # noqa: SIM118 (safe_open is not a dict)
                tensors[name] = f.get_tensor(name)
    except Exception as error:
        raise CheckpointError(f"{path} is not a readable safetensors file (corrupt or truncated: "
                              f"{_short(error)})") from None
    return {k: (v.float() if v.is_floating_point() else v) for k, v in tensors.items()}, metadata


def write_config(out_dir: str | os.PathLike, config: dict[str, Any]) -> None:
    text = json.dumps(config, indent=2, sort_keys=False) + "\n"

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    atomic_write(Path(out_dir) / CONFIG, write)


def read_config(out_dir: str | os.PathLike) -> dict[str, Any]:
    path = Path(out_dir) / CONFIG
    if not path.is_file():
        raise CheckpointError(f"{out_dir} holds no checkpoint ({CONFIG} is missing)")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path} is corrupt ({_short(error)})") from None
    if not isinstance(config, dict) or "kind" not in config or "hidden" not in config:
        raise CheckpointError(f"{path} is not a Diffusion Canvas Part B model config")
    return config


def save_training_state(out_dir: str | os.PathLike, state: dict[str, Any]) -> None:
    atomic_write(Path(out_dir) / STATE, lambda tmp: torch.save(state, tmp))


def load_training_state(out_dir: str | os.PathLike) -> dict[str, Any]:
    path = Path(out_dir) / STATE
    if not path.is_file():
        raise CheckpointError(f"{out_dir} has no {STATE}: nothing to resume")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(f"{path} is corrupt or not a training state ({_short(error)})"
                              ) from None
    if not isinstance(state, dict) or "epoch" not in state or "optimizer" not in state:
        raise CheckpointError(f"{path} is not a Diffusion Canvas training state")
    return state


def load_model(out_dir: str | os.PathLike, device: str | torch.device = "cpu"
               ) -> tuple[nn.Module, dict[str, Any]]:
    """(UNet in eval mode, fp32, on device; its config) from a checkpoint folder."""
    from engine.training.unets import KINDS, build_unet

    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise CheckpointError(f"{out_dir}: no such checkpoint folder")
    config = read_config(out_dir)
    kind, hidden = config.get("kind"), config.get("hidden")
    if kind not in KINDS or not isinstance(hidden, int) or hidden < 1:
        raise CheckpointError(f"{out_dir / CONFIG}: unknown model kind {kind!r} / width {hidden!r}")
    state, meta = load_weights(out_dir / WEIGHTS)
    if meta.get("kind", kind) != kind or meta.get("hidden", str(hidden)) != str(hidden):
        raise CheckpointError(
            f"{out_dir}: {WEIGHTS} is a {meta.get('kind')} model of width {meta.get('hidden')}, "
            f"but {CONFIG} says {kind} of width {hidden}")
    model = build_unet(kind, hidden)
    load_state_into(model, state, out_dir / WEIGHTS)
    return model.to(device).eval(), config


def load_state_into(model: nn.Module, state: dict[str, torch.Tensor], where: Path | str) -> None:
    """load_state_dict with one clear CheckpointError for missing, extra or mis-shaped tensors."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or extra or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if extra:
            parts.append(f"{len(extra)} unexpected (e.g. {extra[0]})")
        if shapes:
            k = shapes[0]
            parts.append(f"{len(shapes)} of another shape (e.g. {k}: "
                         f"{tuple(state[k].shape)} vs {tuple(own[k].shape)})")
        raise CheckpointError(f"{where} does not match a {getattr(model, 'kind', '?')} UNet of "
                              f"width {getattr(model, 'hidden', '?')}: " + "; ".join(parts))
    model.load_state_dict(state)


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:200]
