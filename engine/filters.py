"""Frequency splits for hybrid images (factorized diffusion)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def blur_params(size: int) -> tuple[int, float]:
    """Kernel and σ that scale with image size: 33 and 2 at 64 px (the course), 133 and 8 at 256."""
    sigma = size / 32
    kernel = max(3, round(33 + (size - 64) * 100 / 192))
    kernel += 1 - kernel % 2
    return kernel, sigma


def gaussian_kernel1d(kernel_size: int, sigma: float, dtype=torch.float32) -> torch.Tensor:
    half = (kernel_size - 1) / 2
    x = torch.linspace(-half, half, kernel_size, dtype=torch.float64)
    k = torch.exp(-(x**2) / (2 * sigma**2))
    return (k / k.sum()).to(dtype)


def gaussian_blur(x: torch.Tensor, kernel_size: int | None = None, sigma: float | None = None
                  ) -> torch.Tensor:
    """Separable Gaussian blur with reflect padding, [B, C, H, W] -> same shape."""
    if kernel_size is None or sigma is None:
        k_default, s_default = blur_params(x.shape[-1])
        kernel_size = kernel_size or k_default
        sigma = sigma or s_default
    # reflect padding needs pad < size: clip the kernel to the image
    kernel_size = min(kernel_size, 2 * (min(x.shape[-2:]) - 1) + 1)
    k = gaussian_kernel1d(kernel_size, sigma, x.dtype).to(x.device)
    c = x.shape[1]
    pad = kernel_size // 2
    y = F.pad(x, (pad, pad, 0, 0), mode="reflect")
    y = F.conv2d(y, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    y = F.pad(y, (0, 0, pad, pad), mode="reflect")
    return F.conv2d(y, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def lowpass(x: torch.Tensor, kernel_size: int | None = None, sigma: float | None = None
            ) -> torch.Tensor:
    return gaussian_blur(x, kernel_size, sigma)


def highpass(x: torch.Tensor, kernel_size: int | None = None, sigma: float | None = None
             ) -> torch.Tensor:
    return x - gaussian_blur(x, kernel_size, sigma)


def grey_part(x: torch.Tensor) -> torch.Tensor:
    """The channel mean, broadcast back to every channel (colour hybrids)."""
    return x.mean(dim=1, keepdim=True).expand_as(x)


def colour_part(x: torch.Tensor) -> torch.Tensor:
    return x - grey_part(x)
