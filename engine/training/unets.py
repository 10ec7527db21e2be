"""The Part B UNets (SPEC.md, B-1.2, B-2.1, B-2.4), hidden width D configurable.

Inputs are 1×28×28 images in [0, 1] (or noisy versions of them). The time input is the scalar
t/T in [0, 1] (shape [B] or [B, 1]); the class input is a one-hot vector [B, 10] (all zeros =
unconditional), or integer labels [B] which are one-hot encoded here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

KINDS = ("denoiser", "time", "class")
NUM_CLASSES = 10


class Conv(nn.Sequential):
    """Conv2d(k3, s1, p1) + BatchNorm + GELU: keeps the resolution."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(nn.Conv2d(in_channels, out_channels, 3, 1, 1),
                         nn.BatchNorm2d(out_channels), nn.GELU())


class DownConv(nn.Sequential):
    """Conv2d(k3, s2, p1) + BatchNorm + GELU: halves the resolution."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(nn.Conv2d(in_channels, out_channels, 3, 2, 1),
                         nn.BatchNorm2d(out_channels), nn.GELU())


class UpConv(nn.Sequential):
    """ConvTranspose2d(k4, s2, p1) + BatchNorm + GELU: doubles the resolution."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1),
                         nn.BatchNorm2d(out_channels), nn.GELU())


class Flatten(nn.Sequential):
    """AvgPool2d(7) + GELU: 7×7 -> 1×1."""

    def __init__(self):
        super().__init__(nn.AvgPool2d(7), nn.GELU())


class Unflatten(nn.Sequential):
    """ConvTranspose2d(k7, s7, p0) + BatchNorm + GELU: 1×1 -> 7×7."""

    def __init__(self, in_channels: int):
        super().__init__(nn.ConvTranspose2d(in_channels, in_channels, 7, 7, 0),
                         nn.BatchNorm2d(in_channels), nn.GELU())


class ConvBlock(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(Conv(in_channels, out_channels), Conv(out_channels, out_channels))


class DownBlock(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(DownConv(in_channels, out_channels), ConvBlock(out_channels, out_channels))


class UpBlock(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(UpConv(in_channels, out_channels), ConvBlock(out_channels, out_channels))


class FCBlock(nn.Sequential):
    """Linear, GELU, Linear: a conditioning vector -> per-channel values."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__(nn.Linear(in_features, out_features), nn.GELU(),
                         nn.Linear(out_features, out_features))


class _UNetBody(nn.Module):
    """The shared encoder/decoder; subclasses add conditioning at `unflatten` and `up1`."""

    def __init__(self, in_channels: int = 1, hidden: int = 128):
        super().__init__()
        d = hidden
        self.in_channels = in_channels
        self.hidden = hidden
        self.conv_in = ConvBlock(in_channels, d)      # d × 28²  (skip a)
        self.down1 = DownBlock(d, d)                  # d × 14²  (skip b)
        self.down2 = DownBlock(d, 2 * d)              # 2d × 7²  (skip c)
        self.flatten = Flatten()                      # 2d × 1²
        self.unflatten = Unflatten(2 * d)             # 2d × 7²
        self.up1 = UpBlock(4 * d, d)                  # cat c -> 4d × 7² -> d × 14²
        self.up2 = UpBlock(2 * d, d)                  # cat b -> 2d × 14² -> d × 28²
        self.conv_out = ConvBlock(2 * d, d)           # cat a -> 2d × 28² -> d × 28²
        self.head = nn.Conv2d(d, in_channels, 3, 1, 1)

    def _run(self, x: torch.Tensor, scale1=None, shift1=None, scale2=None, shift2=None
             ) -> torch.Tensor:
        if x.shape[-2:] != (28, 28):
            raise ValueError(f"the Part B UNets take 28×28 images, got {tuple(x.shape[-2:])}")
        a = self.conv_in(x)
        b = self.down1(a)
        c = self.down2(b)
        u = self.unflatten(self.flatten(c))
        if scale1 is not None:
            u = scale1[:, :, None, None] * u
        if shift1 is not None:
            u = u + shift1[:, :, None, None]
        u = self.up1(torch.cat([c, u], dim=1))
        if scale2 is not None:
            u = scale2[:, :, None, None] * u
        if shift2 is not None:
            u = u + shift2[:, :, None, None]
        u = self.up2(torch.cat([b, u], dim=1))
        u = self.conv_out(torch.cat([a, u], dim=1))
        return self.head(u)


def _time_column(t: torch.Tensor | float, x: torch.Tensor) -> torch.Tensor:
    """t/T as a [B, 1] column in x's float dtype (a float or a [B] / [B, 1] tensor)."""
    t = torch.as_tensor(t, device=x.device)
    if not t.is_floating_point():
        raise TypeError("pass the normalised time t/T as a float tensor, not integer timesteps")
    t = t.to(x.dtype if x.is_floating_point() else torch.float32).reshape(-1, 1)
    if t.shape[0] == 1 and x.shape[0] != 1:
        t = t.expand(x.shape[0], 1)
    return t


def _class_matrix(c: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
    """A [B, 10] float one-hot matrix; None = all zeros (the unconditional input)."""
    if c is None:
        return x.new_zeros(x.shape[0], NUM_CLASSES)
    if not c.is_floating_point():
        c = F.one_hot(c.long().reshape(-1), NUM_CLASSES)
    return c.to(device=x.device, dtype=x.dtype).reshape(-1, NUM_CLASSES)


class UnconditionalUNet(_UNetBody):
    """B-1.2: the single-step denoiser, z -> x̂."""

    kind = "denoiser"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x)


class TimeConditionalUNet(_UNetBody):
    """B-2.1: ε_θ(x_t, t/T); `unflatten += fc1_t(t)`, `up1 += fc2_t(t)`."""

    kind = "time"

    def __init__(self, in_channels: int = 1, hidden: int = 64):
        super().__init__(in_channels, hidden)
        self.fc1_t = FCBlock(1, 2 * hidden)
        self.fc2_t = FCBlock(1, hidden)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = _time_column(t, x)
        return self._run(x, shift1=self.fc1_t(t), shift2=self.fc2_t(t))


class ClassConditionalUNet(_UNetBody):
    """B-2.4: ε_θ(x_t, t/T, c); `unflatten = c1·unflatten + t1`, `up1 = c2·up1 + t2`.

    c = 0 (or None) is the unconditional estimate that classifier-free guidance uses.
    """

    kind = "class"

    def __init__(self, in_channels: int = 1, hidden: int = 64, num_classes: int = NUM_CLASSES):
        super().__init__(in_channels, hidden)
        if num_classes != NUM_CLASSES:
            raise ValueError("the class-conditioned UNet takes 10 classes")
        self.fc1_t = FCBlock(1, 2 * hidden)
        self.fc2_t = FCBlock(1, hidden)
        self.fc1_c = FCBlock(num_classes, 2 * hidden)
        self.fc2_c = FCBlock(num_classes, hidden)

    def forward(self, x: torch.Tensor, t: torch.Tensor, c: torch.Tensor | None = None
                ) -> torch.Tensor:
        t = _time_column(t, x)
        c = _class_matrix(c, x)
        return self._run(x, scale1=self.fc1_c(c), shift1=self.fc1_t(t),
                         scale2=self.fc2_c(c), shift2=self.fc2_t(t))


def build_unet(kind: str, hidden: int) -> nn.Module:
    """A fresh UNet of the given kind ("denoiser", "time" or "class") and width D."""
    if hidden < 1:
        raise ValueError("the hidden width D must be at least 1")
    if kind == "denoiser":
        return UnconditionalUNet(1, hidden)
    if kind == "time":
        return TimeConditionalUNet(1, hidden)
    if kind == "class":
        return ClassConditionalUNet(1, hidden)
    raise ValueError(f"unknown UNet kind {kind!r}; expected one of {', '.join(KINDS)}")
