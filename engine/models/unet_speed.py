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
- `fp32_norms` (bf16 UNets): torch's bf16 channels-last GroupNorm is 2.5-4x slower than fp32
  on maps of 16x16 and smaller (a kernel choice inside torch; on larger maps bf16 is faster), so
  on those a GroupNorm computes in fp32 and rounds its output to bf16 (closer to exact, too).
- `packed_convolutions` / `packed_linears` (bf16 UNets, oneDNN): each Conv2d's / Linear's
  weights packed once into oneDNN's layout (engine/models/onednn.py's ops) instead of reordered
  on every call. The packed copy is made on the first call; a later change to the weights is not
  seen, so the adapters apply it once, after loading.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.onednn import can_pack

LEVERS = ("cache_text", "contiguous_convolutions", "channels_last", "fp32_norms",
          "packed_convolutions", "packed_linears")
# fp32_norms: at most this many pixels (16x16) bf16 channels-last GroupNorm is the slower
SMALL_MAP = 256


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


def _norm_in_fp32(norm: nn.GroupNorm) -> Callable[[torch.Tensor], torch.Tensor]:
    plain = norm.forward

    def forward(x: torch.Tensor) -> torch.Tensor:
        if x.dtype != torch.bfloat16 or x.dim() != 4 or x.shape[2] * x.shape[3] > SMALL_MAP:
            return plain(x)
        weight = None if norm.weight is None else norm.weight.float()
        bias = None if norm.bias is None else norm.bias.float()
        y = F.group_norm(x.float(), norm.num_groups, weight, bias, norm.eps)
        return y.to(torch.bfloat16)

    return forward


def fp32_norms(unet: nn.Module) -> int:
    """bf16 GroupNorms on small maps computed in fp32 (module docstring); returns how many."""
    count = 0
    for module in unet.modules():
        if isinstance(module, nn.GroupNorm) and not getattr(module, "_dc_fp32", False):
            module.forward = _norm_in_fp32(module)  # type: ignore[method-assign]
            module._dc_fp32 = True  # type: ignore[attr-defined]
            count += 1
    return count


class _PackedConvolution:
    """A Conv2d's forward on oneDNN with its weights packed on the first call."""

    def __init__(self, conv: nn.Conv2d) -> None:
        self.conv, self.plain, self.packed = conv, conv.forward, None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        conv = self.conv
        if (torch.is_grad_enabled() or x.dtype != conv.weight.dtype or x.dim() != 4
                or conv.padding_mode != "zeros" or isinstance(conv.padding, str)):
            return self.plain(x)
        ops = torch.ops.mkldnn
        if self.packed is None:  # packed for the first input's size (oneDNN's pick depends on it)
            self.packed = ops._reorder_convolution_weight(
                conv.weight.detach(), list(conv.padding), list(conv.stride),
                list(conv.dilation), conv.groups, list(x.shape))
        x = x.contiguous(memory_format=torch.channels_last)
        bias = None if conv.bias is None else conv.bias.detach()
        return ops._convolution_pointwise(x, self.packed, bias, list(conv.padding),
                                          list(conv.stride), list(conv.dilation), conv.groups,
                                          "none", [], "none")


class _PackedLinear:
    """A Linear's forward on oneDNN with its weights packed on the first call."""

    def __init__(self, linear: nn.Linear) -> None:
        self.linear, self.plain, self.packed = linear, linear.forward, None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        linear = self.linear
        if torch.is_grad_enabled() or x.dtype != linear.weight.dtype:
            return self.plain(x)
        if self.packed is None:
            self.packed = torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach(), None)
        bias = None if linear.bias is None else linear.bias.detach()
        return torch.ops.mkldnn._linear_pointwise(x, self.packed, bias, "none", [], "none")


def _pack(unet: nn.Module, kind: type, wrapper: type) -> int:
    if not can_pack(next(unet.parameters()).device):
        return 0
    count = 0
    for module in unet.modules():
        if (type(module) is kind and module.weight.dtype == torch.bfloat16
                and not isinstance(module.forward, wrapper)):
            module.forward = wrapper(module)  # type: ignore[method-assign]
            count += 1
    return count


def packed_convolutions(unet: nn.Module) -> int:
    """bf16 Conv2d weights packed for oneDNN (module docstring); returns how many."""
    return _pack(unet, nn.Conv2d, _PackedConvolution)


def packed_linears(unet: nn.Module) -> int:
    """bf16 Linear weights packed for oneDNN (module docstring); returns how many."""
    return _pack(unet, nn.Linear, _PackedLinear)


def speed_up(unet: nn.Module, levers: tuple[str, ...] | list[str]) -> nn.Module:
    """Applies the named levers (LEVERS) to `unet` in place; returns it."""
    unknown = [lever for lever in levers if lever not in LEVERS]
    if unknown:
        raise ValueError(f"unknown levers {unknown}; choose from {', '.join(LEVERS)}")
    if "channels_last" in levers:
        channels_last(unet)
    if "contiguous_convolutions" in levers:
        contiguous_convolutions(unet)
    if "fp32_norms" in levers:
        fp32_norms(unet)
    if "packed_convolutions" in levers:
        packed_convolutions(unet)
    if "packed_linears" in levers:
        packed_linears(unet)
    if "cache_text" in levers:  # last: the memos wrap the packed linears' forwards
        cache_text(unet)
    return unet


# what the IF adapters apply on the CPU (docs/benchmarks.md, "Emoji cascade inference speed"):
# channels_last + cache_text was 1.26-1.31x eager on every row at 2 threads (1.27-1.38x at 1);
# contiguous_convolutions + cache_text 1.04-1.49x, so it is kept as a lever, not applied.
# The bf16 levers (no-ops on an fp32 UNet): a stage I call 1.13-1.30x by CPU time on an AMX
# Xeon (stage II 0.87-1.12x), rows 0.97-1.28x (docs/benchmarks.md, "bf16 levers: GroupNorm,
# packed weights"); on an AVX512-BF16 EPYC without AMX, stage I 1.17-1.20x, stage II
# 0.96-1.10x a call, every bf16 row faster with them ("bf16 on an AVX512-BF16 CPU without AMX")
CPU_LEVERS: tuple[str, ...] = ("channels_last", "cache_text", "fp32_norms",
                               "packed_convolutions", "packed_linears")


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
