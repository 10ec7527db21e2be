"""Inference levers for diffusers' UNet2DConditionModel on the CPU (issue 12, the emoji cascade).

Measured in docs/benchmarks.md ("Emoji cascade inference speed"): the IF adapters adopt what
paid there (`speed_up`); each lever leaves the maths as it is (outputs equal eager to float
rounding, tested).

- `cache_text`: within a run the text side of the UNet is the same at every step (the prompt's
  embedding does not change with t). The text projection (`encoder_hid_proj`), IF's pooled text
  embedding (`add_embedding`), and every added-KV attention's cross-norm and K/V projections
  (`norm_encoder_hidden_states`, `add_k_proj`, `add_v_proj`) remember their last input and
  output: the same tensor (or an equal one) gives the stored output without the work. One entry
  each, so the memory is one prompt batch's K/V; under autograd they always compute.
- `contiguous_convolutions`: diffusers' added-KV attention hands back its image in a
  channels-last layout (a transposed view), so on the levels after an attention every NCHW
  convolution got a channels-last input and copied its weights to that layout on every call
  (aten::copy_, 13-18% of a stage I forward). A pre-hook gives each convolution its input in
  the weight's layout (copying the small activation instead of the large weight).
- `channels_last`: the UNet's weights and the input in channels-last layout, so no layout
  changes at all, and oneDNN's channels-last convolutions (faster here in inference; in
  training their backward is slower, docs/benchmarks.md "Emoji stage I training speed").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

LEVERS = ("cache_text", "contiguous_convolutions", "channels_last")


class _Memo:
    """A one-entry memo of a function of one tensor (the text side of a UNet)."""

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function
        self.key: torch.Tensor | None = None
        self.version = -1
        self.value: Any = None
        self.hits = 0

    def __call__(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs or torch.is_grad_enabled() or not isinstance(x, torch.Tensor):
            return self.function(x, *args, **kwargs)
        if self._same(x):
            self.hits += 1
            return self.value
        value = self.function(x)
        self.key, self.version, self.value = x, x._version, value
        return value

    def _same(self, x: torch.Tensor) -> bool:
        key = self.key
        if key is None or key._version != self.version:
            return False
        if x is key:
            return True
        return (x.shape == key.shape and x.dtype == key.dtype and x.device == key.device
                and bool(torch.equal(x, key)))


def _memoize(owner: nn.Module, name: str) -> _Memo | None:
    """Replaces owner.<name> (a submodule's forward, or a method) on this instance only, so the
    state dict and the class stay as they are."""
    target = getattr(owner, name, None)
    if target is None:
        return None
    if isinstance(target, nn.Module):
        if isinstance(target.forward, _Memo):
            return target.forward
        memo = _Memo(target.forward)
        target.forward = memo  # type: ignore[method-assign]
        return memo
    if isinstance(target, _Memo):
        return target
    memo = _Memo(target)
    setattr(owner, name, memo)
    return memo


def cache_text(unet: nn.Module) -> list[_Memo]:
    """Memoizes the text side of `unet` (module docstring); returns the memos (for tests)."""
    memos = [_memoize(unet, "encoder_hid_proj"), _memoize(unet, "add_embedding")]
    for module in unet.modules():
        if hasattr(module, "add_k_proj") and getattr(module, "add_k_proj", None) is not None:
            if getattr(module, "norm_cross", None) is not None:
                memos.append(_memoize(module, "norm_encoder_hidden_states"))
            memos.append(_memoize(module, "add_k_proj"))
            memos.append(_memoize(module, "add_v_proj"))
    return [m for m in memos if m is not None]


def _contiguous_input(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
    x = args[0]
    layout = (torch.channels_last if module.weight.is_contiguous(memory_format=torch.channels_last)
              and not module.weight.is_contiguous() else torch.contiguous_format)
    if isinstance(x, torch.Tensor) and x.dim() == 4 and not x.is_contiguous(memory_format=layout):
        return (x.contiguous(memory_format=layout), *args[1:])
    return None


def contiguous_convolutions(unet: nn.Module) -> int:
    """A pre-hook on every Conv2d: its input in its weight's layout. Returns how many."""
    count = 0
    for module in unet.modules():
        if isinstance(module, nn.Conv2d) and not getattr(module, "_dc_contiguous", False):
            module.register_forward_pre_hook(_contiguous_input)
            module._dc_contiguous = True  # type: ignore[attr-defined]
            count += 1
    return count


def channels_last(unet: nn.Module) -> None:
    unet.to(memory_format=torch.channels_last)


def speed_up(unet: nn.Module, levers: tuple[str, ...] | list[str]) -> nn.Module:
    """Applies the named levers (LEVERS) to `unet` in place; returns it."""
    unknown = [lever for lever in levers if lever not in LEVERS]
    if unknown:
        raise ValueError(f"unknown levers {unknown}; choose from {', '.join(LEVERS)}")
    if "channels_last" in levers:
        channels_last(unet)
    if "contiguous_convolutions" in levers:
        contiguous_convolutions(unet)
    if "cache_text" in levers:
        cache_text(unet)
    return unet


# what the IF adapters apply on the CPU (docs/benchmarks.md, "Emoji cascade inference speed"):
# channels_last + cache_text was 1.26-1.31x eager on every row at 2 threads (1.27-1.38x at 1);
# contiguous_convolutions + cache_text 1.04-1.49x, so it is kept as a lever, not applied
CPU_LEVERS: tuple[str, ...] = ("channels_last", "cache_text")


def default_levers(device: torch.device) -> tuple[str, ...]:
    return CPU_LEVERS if device.type == "cpu" else ()


def ready_unet(owner: Any) -> tuple[str, ...]:
    """Applies `owner.unet_levers` (None: default_levers of its device) to `owner.unet` once,
    before its first call; returns the levers in force. The owner is an IF adapter."""
    applied = getattr(owner, "_applied_levers", None)
    if applied is None:
        levers = owner.unet_levers
        applied = tuple(default_levers(owner.device) if levers is None else levers)
        speed_up(owner.unet, applied)
        owner._applied_levers = applied
    return applied


def unet_input(x: torch.Tensor, levers: tuple[str, ...]) -> torch.Tensor:
    """The UNet's input in the layout its levers want."""
    return x.contiguous(memory_format=torch.channels_last) if "channels_last" in levers else x
