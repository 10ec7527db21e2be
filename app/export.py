"""Exporting a result: a PNG (model size or scaled up) or its frames as GIF / APNG.

Every file carries the result's parameters (PNG `parameters` chunk, GIF comment), and
`settings_from_png` reads them back so the app can restore the settings that made an image.
Writes are atomic (engine.images); failures raise engine.errors.ImageError with one message.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from typing import Any

from PIL import Image
from PySide6.QtGui import QImage

from app.history import Result
from app.qt_images import qimage_to_pil
from engine import images
from engine.errors import ImageError

RESAMPLING = {"nearest": Image.Resampling.NEAREST, "bicubic": Image.Resampling.BICUBIC}
MAX_SCALE = 64


def export_png(
    result: Result, path: str | os.PathLike[str], scale: int = 1, resample: str = "nearest"
) -> None:
    """Writes `result.image` to `path` as a PNG with its parameters chunk.

    `scale` is an integer factor (1 = model size); `resample` is "nearest" (crisp pixels)
    or "bicubic" (smooth).
    """
    img = _scaled(_flat(result.image), _check_scale(scale), resample)
    images.save_png(img, path, result.parameters)


def export_frames(
    result: Result,
    path: str | os.PathLike[str],
    duration_ms: int = 80,
    scale: int | None = None,
) -> None:
    """Writes `result.frames` as an animation: GIF for .gif, APNG for .png / .apng.

    `scale` is the whole factor the user picked (1 = model size); None is the largest whole
    factor that keeps a frame within 256 px, as the command line's default (28 px -> 252 px).
    Pixels stay square (nearest) at every scale.
    """
    if not result.frames:
        raise ImageError("this result has no frames to export")
    pictures = images.frames_at_scale([_flat(frame) for frame in result.frames], scale)
    images.save_frames(pictures, path, duration_ms, result.parameters)


def frames_size(result: Result, scale: int | None = None) -> tuple[int, int]:
    """The size export_frames writes at `scale` (for a dialog to say before it writes)."""
    frames = result.frames or [result.image]
    widest = max(frames, key=lambda f: f.width())
    factor = images.default_frames_scale(max(widest.width(), widest.height())) \
        if scale is None else _check_scale(scale)
    return widest.width() * factor, widest.height() * factor


def settings_from_png(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The parameters stored in a PNG / APNG (or a GIF we wrote); None if there are none or
    the file cannot be read."""
    try:
        parameters = images.read_parameters(path)
    except (ImageError, OSError):
        return None
    return parameters if parameters is not None else _gif_comment(path)


def suggested_name(result: Result, suffix: str = ".png") -> str:
    """A file name for an export, e.g. "sdedit-seed42.png"."""
    p = result.parameters
    kind = str(p.get("mode") or p.get("command") or "result")
    seed = p.get("seed")
    stem = kind if seed is None else f"{kind}-seed{seed}"
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem) + suffix


def _gif_comment(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    with contextlib.suppress(Exception), Image.open(os.fspath(path), formats=["GIF"]) as im:
        comment = im.info.get("comment")
        text = comment.decode("utf-8") if isinstance(comment, bytes) else comment
        value = json.loads(text) if isinstance(text, str) else None
        return value if isinstance(value, dict) else None
    return None


def _flat(image: QImage) -> Image.Image:
    """A result image as "L" or "RGB" (a model's output has no transparency)."""
    img = qimage_to_pil(image)
    return img.convert("RGB") if img.mode == "RGBA" else img


def _check_scale(scale: int) -> int:
    if int(scale) != scale or not 1 <= scale <= MAX_SCALE:
        raise ValueError(f"scale must be a whole number from 1 to {MAX_SCALE}, not {scale}")
    return int(scale)


def _scaled(img: Image.Image, scale: int, resample: str) -> Image.Image:
    if resample not in RESAMPLING:
        raise ValueError(f"resample must be one of {sorted(RESAMPLING)}, not {resample!r}")
    if scale == 1:
        return img
    return img.resize((img.width * scale, img.height * scale), RESAMPLING[resample])

