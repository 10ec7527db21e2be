"""engine/training/conv_backward.py: the split backward gives oneDNN's gradients (exactly in
fp32, to bf16 rounding under autocast), and a few training steps of the class UNet with it give
the default path's losses."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from engine.training.conv_backward import (
    SplitConv2d,
    grad_weight_taps,
    split_conv2d,
    split_convolutions,
)
from engine.training.unets import build_unet

SHAPES = [(1, 8, 9), (8, 8, 7), (16, 8, 5), (8, 1, 6), (12, 12, 3)]  # (in, out, pixels)


def _case(c: int, o: int, px: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(3, c, px, px, generator=g).contiguous(memory_format=torch.channels_last)
    w = torch.randn(o, c, 3, 3, generator=g)
    b = torch.randn(o, generator=g)
    gy = torch.randn(3, o, px, px, generator=g).contiguous(memory_format=torch.channels_last)
    return x, w, b, gy


def _grads(conv, x, w, b, gy, autocast: bool = False):
    x, w, b = (t.detach().clone().requires_grad_() for t in (x, w, b))
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        y = conv(x, w, b)
    y.backward(gy)
    return y.detach().float(), x.grad, w.grad, b.grad


def _reference(x, w, b):
    return F.conv2d(x, w, b, 1, 1)


@pytest.mark.parametrize("weight_grad", ["taps", "aten"])
@pytest.mark.parametrize("shape", SHAPES)
def test_fp32_gradients_equal_the_convolutions(shape, weight_grad):
    case = _case(*shape)
    want = _grads(_reference, *case)
    got = _grads(lambda x, w, b: split_conv2d(x, w, b, weight_grad), *case)
    for a, r in zip(got, want):
        assert a.dtype == r.dtype
        torch.testing.assert_close(a, r, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("weight_grad", ["taps", "aten"])
@pytest.mark.parametrize("shape", SHAPES)
def test_bf16_gradients_equal_onednns_to_bf16_rounding(shape, weight_grad):
    case = _case(*shape, seed=1)
    want = _grads(_reference, *case, autocast=True)
    got = _grads(lambda x, w, b: split_conv2d(x, w, b, weight_grad), *case, autocast=True)
    exact = _grads(_reference, *(t.double() for t in case))
    for a, r, e in zip(got, want, exact):
        assert a.dtype == r.dtype  # bf16 output, fp32 parameter gradients as autocast gives
        scale = e.abs().max().item()
        # both within bf16 rounding of the exact gradient, and of each other
        assert (a.double() - e).abs().max().item() < 2e-2 * scale
        assert (a.double() - r.double()).abs().max().item() < 2e-2 * scale


def test_the_tap_matmuls_ignore_the_padding_rows():
    # a gradient that is nonzero only in the last column/row: a wrap across rows would show
    x, _, _, gy = _case(4, 5, 6)
    gy = torch.zeros_like(gy)
    gy[:, :, :, -1] = 1.0
    gy[:, :, -1, :] = 2.0
    want = torch.ops.aten.convolution_backward(
        gy, x, torch.zeros(5, 4, 3, 3), None, (1, 1), (1, 1), (1, 1), False, (0, 0), 1,
        (False, True, False))[1]
    torch.testing.assert_close(grad_weight_taps(x, gy), want, rtol=1e-5, atol=1e-5)


def test_only_the_3x3_stride_1_convolutions_are_split_and_keys_stay():
    net = build_unet("class", 8)
    keys = list(net.state_dict())
    count = split_convolutions(net)
    assert count == 13  # the class UNet's 3x3 stride-1 layers (strided and transposed stay)
    assert list(net.state_dict()) == keys
    assert sum(isinstance(m, SplitConv2d) for m in net.modules()) == 13
    assert any(type(m) is nn.Conv2d and m.stride == (2, 2) for m in net.modules())
    with pytest.raises(ValueError, match="weight_grad"):
        split_convolutions(net, "fast")


def _train(net: nn.Module, steps: int) -> list[float]:
    net = net.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(3)
    losses = []
    for _ in range(steps):
        x = torch.randn(6, 1, 28, 28, generator=g).contiguous(memory_format=torch.channels_last)
        t = torch.rand(6, generator=g)
        c = F.one_hot(torch.randint(0, 10, (6,), generator=g), 10).float()
        eps = torch.randn(6, 1, 28, 28, generator=g)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = F.mse_loss(net(x, t, c).float(), eps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_training_steps_give_the_default_paths_losses():
    torch.manual_seed(0)
    base = build_unet("class", 8)
    split = copy.deepcopy(base)
    split_convolutions(split, "aten")
    want, got = _train(copy.deepcopy(base), 4), _train(split, 4)
    assert want[0] != want[-1]  # the steps move the loss
    assert max(abs(a - b) for a, b in zip(got, want)) < 1e-2 * max(want)
