"""The digit UNets' bf16 inference on oneDNN with packed weights (issue 15).

In eager mode every bf16 convolution reorders its weights into oneDNN's blocked AMX layout on
each call, and BatchNorm and GELU run as ops of their own. At the digit models' batch sizes
(2 to 32 images of 28 px) that reorder cost about as much as the convolutions themselves:
on an AMX Xeon it was 40% of oneDNN's time in one forward, and the 1×1 -> 7×7 transposed
convolution of `Unflatten` (a 1.6 M-weight reorder for a 2×128 input) was a fifth of the whole
forward. `pack_for_inference` returns a copy of the net where each Conv -> BatchNorm -> GELU
is one oneDNN convolution with weights packed once, BatchNorm folded into the weights and GELU
fused as its post-op; `Unflatten`'s transposed convolution, always on a 1×1 input, is the
equal matrix product (packed, GELU fused). Same maths: outputs equal the eager net to bf16
rounding (tests/test_precision.py); docs/benchmarks.md has the speed.

The ops are torch's own oneDNN ops (`torch.ops.mkldnn`, those that torch.compile's CPU
backend emits); where they are missing (a build without oneDNN), or oneDNN has no bf16
kernels for the CPU, `can_pack` is False and the caller keeps the eager net.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

_OPS = ("_convolution_pointwise", "_convolution_transpose_pointwise", "_linear_pointwise",
        "_reorder_convolution_weight", "_reorder_convolution_transpose_weight",
        "_reorder_linear_weight")


def can_pack(device: torch.device, dtype: torch.dtype = torch.bfloat16) -> bool:
    """The net runs on the CPU, this torch build has oneDNN's packed ops, and (for bf16) oneDNN
    has bf16 kernels for this CPU (AVX512 and up; on an AVX2-only CPU the eager net stays)."""
    if device.type != "cpu" or not torch.backends.mkldnn.is_available():
        return False
    if not all(hasattr(torch.ops.mkldnn, name) for name in _OPS):
        return False
    return dtype != torch.bfloat16 or bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


class PackedConv(nn.Module):
    """A Conv2d or ConvTranspose2d (BatchNorm already folded in) with packed weights and an
    optional fused GELU; gives channels-last tensors of the weights' dtype (an input in another
    dtype or layout is converted, so `net(x)` takes fp32 images as the eager net does not)."""

    def __init__(self, conv: nn.Conv2d | nn.ConvTranspose2d, gelu: bool, dtype: torch.dtype):
        super().__init__()
        self.transpose = isinstance(conv, nn.ConvTranspose2d)
        self.padding, self.stride = list(conv.padding), list(conv.stride)
        self.dilation, self.groups = list(conv.dilation), conv.groups
        self.output_padding = list(conv.output_padding) if self.transpose else []
        self.post_op = "gelu" if gelu else "none"
        self.dtype = dtype
        weight = conv.weight.detach().to(dtype)
        self.bias = conv.bias.detach().to(dtype) if conv.bias is not None else None
        ops = torch.ops.mkldnn
        if self.transpose:
            self.packed = ops._reorder_convolution_transpose_weight(
                weight, self.padding, self.output_padding, self.stride, self.dilation,
                self.groups, None)
        else:
            self.packed = ops._reorder_convolution_weight(
                weight, self.padding, self.stride, self.dilation, self.groups, None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ops = torch.ops.mkldnn
        if x.dtype != self.dtype or not x.is_contiguous(memory_format=torch.channels_last):
            x = x.to(self.dtype).contiguous(memory_format=torch.channels_last)
        if self.transpose:
            return ops._convolution_transpose_pointwise(
                x, self.packed, self.bias, self.padding, self.output_padding, self.stride,
                self.dilation, self.groups, self.post_op, [], "none")
        return ops._convolution_pointwise(x, self.packed, self.bias, self.padding, self.stride,
                                          self.dilation, self.groups, self.post_op, [], "none")


class PackedUnflatten(nn.Module):
    """ConvTranspose2d(k, stride k, padding 0) + GELU on a 1×1 input as the equal matrix
    product: out[b, o, i, j] = GELU(sum_c x[b, c] W[c, o, i, j] + bias[o])."""

    def __init__(self, conv: nn.ConvTranspose2d, dtype: torch.dtype):
        super().__init__()
        c_in, self.c_out, self.k, _ = conv.weight.shape
        weight = conv.weight.detach().reshape(c_in, -1).t().contiguous().to(dtype)
        self.bias = conv.bias.detach().repeat_interleave(self.k * self.k).to(dtype)
        self.packed = torch.ops.mkldnn._reorder_linear_weight(weight, None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (1, 1):
            raise ValueError(f"PackedUnflatten takes a 1×1 input, got {tuple(x.shape[-2:])}")
        batch = x.shape[0]
        y = torch.ops.mkldnn._linear_pointwise(x.reshape(batch, -1), self.packed, self.bias,
                                               "gelu", [], "none")
        y = y.view(batch, self.c_out, self.k, self.k)
        return y.contiguous(memory_format=torch.channels_last)


def _is_unflatten(conv: nn.Module) -> bool:
    return (isinstance(conv, nn.ConvTranspose2d) and conv.kernel_size == conv.stride
            and conv.padding == (0, 0) and conv.output_padding == (0, 0))


def _fused(block: nn.Sequential, dtype: torch.dtype) -> nn.Module:
    """Conv -> BatchNorm -> GELU as one packed module."""
    conv, norm = block[0], block[1]
    folded = fuse_conv_bn_eval(conv, norm, transpose=isinstance(conv, nn.ConvTranspose2d))
    return PackedUnflatten(folded, dtype) if _is_unflatten(folded) else (
        PackedConv(folded, True, dtype))


def _conv_bn_gelu(module: nn.Module) -> bool:
    return (isinstance(module, nn.Sequential) and len(module) == 3
            and isinstance(module[0], (nn.Conv2d, nn.ConvTranspose2d))
            and isinstance(module[1], nn.BatchNorm2d) and isinstance(module[2], nn.GELU)
            and module[2].approximate == "none")


def pack_for_inference(net: nn.Module, dtype: torch.dtype) -> nn.Module:
    """A copy of a Part B UNet (in eval mode) with its Conv -> BatchNorm -> GELU blocks and its
    head packed for oneDNN in `dtype`, the rest cast to `dtype`, channels-last."""
    net = copy.deepcopy(net).eval()
    for module in list(net.modules()):
        if _conv_bn_gelu(module):
            module[0] = _fused(module, dtype)
            module[1] = nn.Identity()
            module[2] = nn.Identity()
    if isinstance(getattr(net, "head", None), nn.Conv2d):
        net.head = PackedConv(net.head, False, dtype)
    return net.to(dtype=dtype, memory_format=torch.channels_last)
