"""Prompt embeddings files in the course's format: a dict from prompt to a [1, 77, 4096] tensor.

Loaded with weights_only=True: a .pth from elsewhere is never unpickled beyond plain tensors.
"""

from __future__ import annotations

from pathlib import Path

import torch

from engine.errors import PromptError, short_reason
from engine.models.base import DiffusionModel


def load_embeddings(path: str | Path, shape: tuple[int, ...] | None = None
                    ) -> dict[str, torch.Tensor]:
    """The file's dict; every value checked to be a float tensor of `shape` (if given)."""
    path = Path(path)
    if not path.is_file():
        raise PromptError(f"{path}: no such embeddings file")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any failure to read is the same to the user
        raise PromptError(f"{path} is not a readable embeddings file "
                          f"({type(error).__name__}: {short_reason(error)})"
                          ) from None
    if not isinstance(data, dict) or not data:
        raise PromptError(f"{path} must hold a dict from prompt to embedding tensor")
    for prompt, value in data.items():
        check_embedding(path, prompt, value, shape)
    return data


def check_embedding(path: Path, prompt: object, value: object, shape: tuple[int, ...] | None
                    ) -> None:
    if not isinstance(prompt, str):
        raise PromptError(f"{path}: the key {prompt!r} is not a prompt string")
    if not isinstance(value, torch.Tensor) or not value.is_floating_point():
        raise PromptError(f"{path}: the embedding of {prompt!r} is not a float tensor")
    if not bool(torch.isfinite(value).all()):
        raise PromptError(f"{path}: the embedding of {prompt!r} holds NaN or infinite values")
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise PromptError(f"{path}: the embedding of {prompt!r} has shape {tuple(value.shape)}, "
                          f"but this model takes {tuple(shape)}")


def attach_embeddings(model: DiffusionModel, path: str | Path) -> None:
    """Give a text-conditioned model the prompts of an embeddings file."""
    use = getattr(model, "use_embeddings", None)
    if use is None:
        raise PromptError(f"{model.name} does not take an embeddings file (--prompts)")
    data = load_embeddings(path, getattr(model, "embedding_shape", None))
    uncond = model.unconditional_prompt
    if model.conditional and uncond not in data and getattr(model, "text_encoder", None) is None:
        raise PromptError(f"{path} has no {uncond!r} entry: the unconditional prompt that "
                          "classifier-free guidance needs (the course's file has it)")
    use(data)
