"""Device choice: auto picks CUDA, then MPS, then the CPU."""

from __future__ import annotations

import torch

from engine.errors import EngineError

DEVICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(name: str = "auto") -> torch.device:
    if name not in DEVICES:
        raise EngineError(f"unknown device {name!r}; choose from {', '.join(DEVICES)}")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise EngineError("CUDA was asked for, but this torch build sees no CUDA GPU")
    if name == "mps" and not torch.backends.mps.is_available():
        raise EngineError("MPS was asked for, but it is not available on this machine")
    return torch.device(name)
