"""A 3x3 stride-1 padding-1 convolution whose backward avoids oneDNN's backward kernels.

On an AMX Xeon oneDNN's bf16 convolution backward ran 2.8-9.2x slower than its forward
(docs/benchmarks.md). SplitConv2d computes the same gradients from fast primitives:
- grad_input: a forward convolution of grad_output with the flipped, transposed weights;
- grad_weight: nine matmuls (one per kernel tap) of grad_output against shifted views of the
  zero-padded input (`weight_grad="taps"`), or torch's own
  convolution_backward asked for the weight only (`weight_grad="aten"`);
- grad_bias: a sum over batch and pixels.

The tensors must be channels_last for the views to be free (the training path's layout).

`split_convolutions(net)` swaps every eligible nn.Conv2d of a module for a SplitConv2d that
shares its parameters; the state_dict keys are unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

WEIGHT_GRADS = ("taps", "aten")


def _autocast_dtype(x: torch.Tensor) -> torch.dtype | None:
    """The dtype conv2d would run in here: autocast's for this device, else None."""
    device = x.device.type
    if torch.is_autocast_enabled(device):
        return torch.get_autocast_dtype(device)
    return None


def grad_weight_taps(x: torch.Tensor, gy: torch.Tensor) -> torch.Tensor:
    """dL/dW [O, C, 3, 3] of a 3x3/pad 1/stride 1 convolution, as nine matmuls.

    gy is laid into an [N, H+2, W+2, O] buffer (zeros right and below), x padded to
    [N, H+2, W+2, C]; flattened to rows, tap (i, j) is then a contiguous row offset of x, so
    dW[:, :, i, j] = gyZ[:M]^T @ xP[off:off + M]: the zero rows of gyZ cancel every product
    that wraps across a row or an image."""
    n, c, h, w = x.shape
    o = gy.shape[1]
    xp = F.pad(x.permute(0, 2, 3, 1), (0, 0, 1, 1, 1, 1)).reshape(-1, c)
    gz = gy.new_zeros(n, h + 2, w + 2, o)
    gz[:, :h, :w] = gy.permute(0, 2, 3, 1)
    rows = n * (h + 2) * (w + 2) - 2 * (w + 2) - 2
    gt = gz.reshape(-1, o)[:rows].t()
    offsets = [i * (w + 2) + j for i in range(3) for j in range(3)]
    taps = [torch.mm(gt, xp[k:k + rows]) for k in offsets]  # oneDNN accumulates in fp32
    return torch.stack(taps, dim=-1).reshape(o, c, 3, 3)


def grad_bias(gy: torch.Tensor) -> torch.Tensor:
    """dL/db: the sum over batch and pixels, as rows of the channels_last buffer (a sum of
    bf16 accumulates in fp32 and rounds once; asking for an fp32 result was 3x slower)."""
    return gy.permute(0, 2, 3, 1).reshape(-1, gy.shape[1]).sum(0)


def grad_weight_aten(x: torch.Tensor, gy: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """dL/dW by torch's convolution_backward, the weight gradient only."""
    _, gw, _ = torch.ops.aten.convolution_backward(
        gy, x, weight, None, (1, 1), (1, 1), (1, 1), False, (0, 0), 1, (False, True, False))
    return gw


class _SplitConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, dtype, weight_grad):
        if dtype is not None:
            x, weight = x.to(dtype), weight.to(dtype)
            bias = None if bias is None else bias.to(dtype)
        with torch.autocast(x.device.type, enabled=False):
            y = F.conv2d(x, weight, bias, 1, 1)
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        ctx.weight_grad = weight_grad
        return y

    @staticmethod
    def backward(ctx, gy):
        x, weight = ctx.saved_tensors
        gy = gy.to(x.dtype).contiguous(memory_format=_format(x))
        gx = gw = gb = None
        with torch.autocast(x.device.type, enabled=False):
            if ctx.needs_input_grad[0]:
                flipped = weight.flip(2, 3).transpose(0, 1).contiguous(
                    memory_format=_format(weight))
                gx = F.conv2d(gy, flipped, None, 1, 1)
            if ctx.needs_input_grad[1]:
                gw = (grad_weight_taps(x, gy) if ctx.weight_grad == "taps"
                      else grad_weight_aten(x, gy, weight))
            if ctx.has_bias and ctx.needs_input_grad[2]:
                gb = grad_bias(gy)
        return gx, gw, gb, None, None


def _format(t: torch.Tensor) -> torch.memory_format:
    if t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last) \
            and not t.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


def split_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                 weight_grad: str = "taps") -> torch.Tensor:
    """conv2d(x, weight, bias, stride 1, padding 1) for 3x3 weights, with the split backward;
    under autocast it runs in autocast's dtype as conv2d would. The gradients come back in the
    parameters' dtypes (autograd casts them)."""
    return _SplitConv.apply(x, weight, bias, _autocast_dtype(x), weight_grad)


class SplitConv2d(nn.Conv2d):
    """nn.Conv2d(k3, s1, p1) with the split backward (module docstring)."""

    weight_grad = "taps"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return split_conv2d(x, self.weight, self.bias, self.weight_grad)


def eligible(conv: nn.Module) -> bool:
    """A plain 3x3, stride 1, padding 1, dilation 1, ungrouped, zero-padded nn.Conv2d."""
    return (type(conv) is nn.Conv2d and conv.kernel_size == (3, 3) and conv.stride == (1, 1)
            and conv.padding == (1, 1) and conv.dilation == (1, 1) and conv.groups == 1
            and conv.padding_mode == "zeros")


def split_convolutions(net: nn.Module, weight_grad: str = "taps") -> int:
    """Every eligible nn.Conv2d in `net` becomes a SplitConv2d in place (same parameters);
    returns how many."""
    if weight_grad not in WEIGHT_GRADS:
        raise ValueError(f"weight_grad must be one of {', '.join(WEIGHT_GRADS)}")
    count = 0
    for module in net.modules():
        if eligible(module):
            module.__class__ = SplitConv2d
            module.weight_grad = weight_grad
            count += 1
    return count
