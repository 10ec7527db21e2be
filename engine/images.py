"""Image files <-> tensors: decode, orient, convert, resize, crop, normalise, save.

Every failure to read an image raises `ImageError` with one message that names the file.
"""

from __future__ import annotations

import io
import json
import math
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont, ImageOps, PngImagePlugin, UnidentifiedImageError

from engine.errors import EmptyMaskError, ImageError
from engine.files import not_found, replacing

PathLike = str | os.PathLike[str]
Color = tuple[int, int, int]
Font = ImageFont.ImageFont | ImageFont.FreeTypeFont

MAX_PIXELS = 100_000_000
MAX_SIDE = 30_000
# The formats we decode; the rest of Pillow's list (EPS, PSD, ...) is not needed and some of
# those decoders call external programs.
FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF")
FORMAT_NAMES = "PNG, JPEG, WebP, BMP, TIFF, GIF"
WHITE: Color = (255, 255, 255)
BLACK: Color = (0, 0, 0)
LAST_FRAME_MS = 1000
FRAMES_SIDE = 256  # frames default to the largest whole scale that keeps them within this
MAX_FRAMES_SCALE = 64
FRAME_SUFFIXES = (".gif", ".png", ".apng")  # what save_frames writes: GIF, or APNG
# Mask pixels darker than this (of 255) count as black when deciding whether a mask is empty,
# so JPEG noise in a black mask does not pass for a painted area.
MASK_EMPTY_LEVEL = 8

_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
    b"BM": "BMP",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
}
_GREY_MODES = {"1", "L", "LA", "La", "I", "F"}


# ---------------------------------------------------------------------------------------------
# Loading


def load_image(path: PathLike, background: Color = WHITE) -> Image.Image:
    """Read an image file as mode "RGB" or "L", upright, with alpha composited on `background`."""
    name = os.fspath(path)
    p = Path(name)
    if not p.exists():
        raise ImageError(not_found(name))
    if p.is_dir():
        raise ImageError(f"{name} is a folder, not an image file")
    try:
        with open(p, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ImageError(f"cannot read {name}: {e.strerror or e}") from e
    return _decode(data, name, background)


def load_image_bytes(
    data: bytes, name: str = "clipboard", background: Color = WHITE
) -> Image.Image:
    """Like `load_image`, from the bytes of an image file (paste, drag and drop)."""
    return _decode(bytes(data), name, background)


def _decode(data: bytes, name: str, background: Color) -> Image.Image:
    if not data:
        raise ImageError(f"{name} is empty (0 bytes), not an image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = _open(io.BytesIO(data), name)
            with im:
                _check_size(im.size, name)
                im.load()  # full decode: truncated data raises here
                im = ImageOps.exif_transpose(im)
                return _flatten(im, background)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"{name} is too large to open safely (a decompression bomb?): {e}") from e
    except MemoryError as e:
        raise ImageError(f"not enough memory to open {name}") from e
    except Exception as e:  # Pillow's decoders raise many types for damaged data
        kind = _sniff(data)
        what = f"a damaged or truncated {kind} file" if kind else "damaged or truncated"
        raise ImageError(f"cannot read {name}: {what} ({_reason(e)})") from e


def _open(fp: IO[bytes], name: str) -> Image.Image:
    try:
        return Image.open(fp, formats=FORMATS)
    except UnidentifiedImageError as e:
        kind = _sniff(fp.getvalue()) if isinstance(fp, io.BytesIO) else None
        if kind:
            raise ImageError(f"cannot read {name}: a damaged {kind} file") from e
        raise ImageError(
            f"cannot read {name}: not an image file in a supported format ({FORMAT_NAMES})"
        ) from e


def _check_size(size: tuple[int, int], name: str) -> None:
    w, h = size
    if w <= 0 or h <= 0:
        raise ImageError(f"{name} has no pixels ({w} x {h})")
    if max(w, h) > MAX_SIDE:
        raise ImageError(f"{name} is {w} x {h} pixels; the longest side allowed is {MAX_SIDE}")
    if w * h > MAX_PIXELS:
        raise ImageError(
            f"{name} is too large: {w} x {h} = {w * h:,} pixels (the limit is {MAX_PIXELS:,})"
        )


def _sniff(data: bytes) -> str | None:
    for magic, kind in _SIGNATURES.items():
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    return None


def _reason(e: BaseException) -> str:
    text = str(e).strip()
    return text if text else type(e).__name__


def _flatten(im: Image.Image, background: Color = WHITE) -> Image.Image:
    """Any Pillow mode -> a new "RGB" or "L" image; transparency composited on `background`."""
    mode = im.mode
    if mode.startswith("I;16") or mode == "I":
        return _integer_to_l(im)
    if mode == "F":
        return _float_to_l(im)
    if _has_alpha(im):
        rgba = im.convert("RGBA")
        out = Image.new("RGB", im.size, tuple(background))
        out.paste(rgba, mask=rgba.getchannel("A"))
        return out.convert("L") if _is_grey(im) else out
    if mode in ("RGB", "L"):
        return im.copy()
    if _is_grey(im):
        return im.convert("L")
    try:
        return im.convert("RGB")
    except ValueError as e:
        raise ImageError(f"unsupported colour mode {mode}") from e


def _has_alpha(im: Image.Image) -> bool:
    return im.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in im.info


def _is_grey(im: Image.Image) -> bool:
    if im.mode in _GREY_MODES:
        return True
    if im.mode not in ("P", "PA"):
        return False
    # A paletted image whose colours are all greys (a GIF or PNG saved from a grey image).
    palette = im.getpalette("RGB") or []
    colours = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    return bool(np.all(colours == colours[:, :1]))


def _integer_to_l(im: Image.Image) -> Image.Image:
    # 16-bit samples: 0..65535 -> 0..255 by scaling (65535 -> 255, 257 * k -> k), not clipping.
    a = np.asarray(im).astype(np.float64)
    a = np.clip(np.rint(a / 257.0), 0, 255).astype(np.uint8)
    return Image.fromarray(a)


def _float_to_l(im: Image.Image) -> Image.Image:
    # Float images in [0, 1] are scaled; others are taken as 0..255 and clipped.
    a = np.nan_to_num(np.asarray(im, dtype=np.float64))
    if a.size and a.min() >= 0.0 and a.max() <= 1.0:
        a = a * 255.0
    return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8))


# ---------------------------------------------------------------------------------------------
# Tensors


def to_tensor(
    img: Image.Image, channels: int, data_range: tuple[float, float] = (0.0, 1.0)
) -> torch.Tensor:
    """An image -> float32 [1, C, H, W] with C = 1 (luma) or 3, pixel 0..255 mapped to the range."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, not {channels}")
    im = _flatten(img).convert("L" if channels == 1 else "RGB")
    a = torch.from_numpy(np.array(im, dtype=np.float32))
    a = a.unsqueeze(0) if channels == 1 else a.permute(2, 0, 1)
    lo, hi = data_range
    return (a / 255.0 * (hi - lo) + lo).unsqueeze(0).contiguous()


def to_pil(x: torch.Tensor, data_range: tuple[float, float] = (0.0, 1.0)) -> Image.Image:
    """A [C, H, W] or [1, C, H, W] tensor in `data_range` -> "L" (C = 1) or "RGB" (C = 3)."""
    if x.dim() == 4:
        if x.shape[0] != 1:
            raise ValueError(f"to_pil takes one image, got a batch of {x.shape[0]}")
        x = x[0]
    if x.dim() != 3 or x.shape[0] not in (1, 3):
        raise ValueError(f"to_pil needs [C, H, W] with C = 1 or 3, got {list(x.shape)}")
    lo, hi = data_range
    v = x.detach().to("cpu", torch.float32)
    v = torch.nan_to_num(v, nan=lo)
    v = ((v - lo) / (hi - lo) * 255.0).round().clamp(0, 255).to(torch.uint8)
    if v.shape[0] == 1:
        return Image.fromarray(v[0].numpy())
    return Image.fromarray(v.permute(1, 2, 0).contiguous().numpy())


# ---------------------------------------------------------------------------------------------
# Geometry


def resize_and_center_crop(img: Image.Image, size: int,
                           resample: Image.Resampling = Image.Resampling.LANCZOS) -> Image.Image:
    """Resize so the short side is `size` (Lanczos), then crop the centre `size` x `size`."""
    if size < 1:
        raise ValueError(f"size must be positive, not {size}")
    w, h = img.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    if (nw, nh) != (w, h):
        img = img.resize((nw, nh), resample)
    left, top = (nw - size) // 2, (nh - size) // 2
    return img.crop((left, top, left + size, top + size))


def size_note(size: tuple[int, int], side: int) -> str:
    """How an image of `size` becomes a model's `side`² input (resize_and_center_crop), or ''
    when it already is one."""
    width, height = size
    if width == height == side:
        return ""
    crop = ", its centre square" if width != height else ""
    return f"scaled from {width}×{height}{crop}"


def prepare_image(
    path_or_img: PathLike | Image.Image,
    size: int,
    channels: int,
    data_range: tuple[float, float] = (0.0, 1.0),
) -> torch.Tensor:
    """A file or image -> [1, C, size, size] in `data_range`, ready for a model."""
    img = path_or_img if isinstance(path_or_img, Image.Image) else load_image(path_or_img)
    return to_tensor(resize_and_center_crop(_flatten(img), size), channels, data_range)


def load_mask(path_or_img: PathLike | Image.Image, size: int) -> torch.Tensor:
    """A mask -> [1, 1, size, size] in [0, 1]; white (1) is where new content is generated.

    It is resized and cropped as `prepare_image` does, so it stays aligned with the image.
    Transparent areas count as black: a white stroke on a transparent layer is a valid mask.
    """
    if isinstance(path_or_img, Image.Image):
        img, name = _flatten(path_or_img, BLACK), "the mask"
    else:
        img, name = load_image(path_or_img, background=BLACK), os.fspath(path_or_img)
    grey = img.convert("L")
    if _is_black(grey):
        raise EmptyMaskError()
    # a box/bilinear filter: Lanczos rings, and a ringing mask would touch pixels meant to be kept
    smaller = min(grey.size) > size
    filt = Image.Resampling.BOX if smaller else Image.Resampling.BILINEAR
    cropped = resize_and_center_crop(grey, size, filt)
    if _is_black(cropped):
        raise EmptyMaskError(name)
    return to_tensor(cropped, 1)


def _is_black(grey: Image.Image) -> bool:
    return grey.getextrema()[1] < MASK_EMPTY_LEVEL


# ---------------------------------------------------------------------------------------------
# Saving


def save_png(img: Image.Image, path: PathLike, parameters: dict | None = None) -> None:
    """Write a PNG atomically, with `parameters` as JSON in a tEXt chunk named "parameters"."""
    info = PngImagePlugin.PngInfo()
    if parameters is not None:
        info.add_text("parameters", _to_json(parameters))
    _atomic_write(path, lambda f: img.save(f, format="PNG", pnginfo=info))


def read_parameters(path: PathLike) -> dict | None:
    """The "parameters" chunk of a PNG as a dict; None if absent or not a JSON object."""
    name = os.fspath(path)
    if not Path(name).is_file():
        raise ImageError(not_found(name))
    try:
        with Image.open(name, formats=FORMATS) as im:
            text = im.info.get("parameters")
            if text is None and isinstance(im, PngImagePlugin.PngImageFile):
                text = im.text.get("parameters")  # chunks after the pixels need a full read
    except UnidentifiedImageError as e:
        raise ImageError(f"cannot read {name}: not an image file") from e
    except Exception:
        return None
    if not isinstance(text, str):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def default_frames_scale(side: int, limit: int = FRAMES_SIDE) -> int:
    """The largest whole factor that keeps a `side`-pixel frame within `limit` px (at least 1):
    28 px digits -> 9 (252 px), 64 px -> 4 (256 px)."""
    return max(1, limit // max(1, side))


def frames_at_scale(frames: Sequence[Image.Image], scale: int | None = None
                    ) -> list[Image.Image]:
    """Every frame at one size, with square pixels: the widest frame times `scale` (a whole
    number; None: default_frames_scale). Narrower frames (stage I's, before an upscaler's)
    are blown up to that size too, by whole factors where the widths divide (a cascade's 4)."""
    if not frames:
        raise ValueError("there are no frames to scale")
    widest = max(frames, key=lambda f: f.width)
    if scale is None:
        scale = default_frames_scale(max(widest.size))
    if int(scale) != scale or not 1 <= scale <= MAX_FRAMES_SCALE:
        raise ValueError(f"the frames' scale must be a whole number from 1 to "
                         f"{MAX_FRAMES_SCALE}, not {scale}")
    size = (widest.width * int(scale), widest.height * int(scale))
    return [f if f.size == size else f.resize(size, Image.Resampling.NEAREST) for f in frames]


def save_frames(
    frames: Sequence[Image.Image],
    path: PathLike,
    duration_ms: int = 80,
    parameters: dict | None = None,
) -> None:
    """Write an animation that loops forever: GIF for .gif, APNG for .png / .apng.

    The last frame is held for at least a second. Note that the encoders merge consecutive
    identical frames (adding their durations), so `n_frames` can be smaller than len(frames).
    """
    if not frames:
        raise ValueError("save_frames needs at least one frame")
    sizes = {f.size for f in frames}
    if len(sizes) != 1:
        raise ValueError(f"all frames must have the same size, got {sorted(sizes)}")
    suffix = Path(path).suffix.lower()
    if suffix not in FRAME_SUFFIXES:
        raise ValueError(f"save_frames writes .gif, .png or .apng, not {suffix or 'no suffix'}")
    flat = [_flatten(f) for f in frames]
    mode = "L" if all(f.mode == "L" for f in flat) else "RGB"
    flat = [f.convert(mode) for f in flat]
    durations = [int(duration_ms)] * (len(flat) - 1) + [max(LAST_FRAME_MS, int(duration_ms))]
    options: dict[str, Any] = {
        "save_all": True,
        "append_images": flat[1:],
        "duration": durations,
        "loop": 0,
    }
    if suffix == ".gif":
        options["format"] = "GIF"
        if parameters is not None:
            options["comment"] = _to_json(parameters)
    else:
        options["format"] = "PNG"
        if parameters is not None:
            info = PngImagePlugin.PngInfo()
            info.add_text("parameters", _to_json(parameters))
            options["pnginfo"] = info
    _atomic_write(path, lambda f: flat[0].save(f, **options))


def _to_json(parameters: dict) -> str:
    # ASCII keeps it a plain tEXt chunk; str() covers Paths and the like in settings.
    return json.dumps(parameters, ensure_ascii=True, default=str)


def _atomic_write(path: PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """Write to a temporary file beside `path`, then rename it over `path`."""
    try:
        with replacing(path) as tmp, open(tmp, "wb") as f:
            write(f)
    except OSError as e:
        raise ImageError(f"cannot write {path}: {e.strerror or e}") from e


# ---------------------------------------------------------------------------------------------
# Figures


def make_grid(
    images: Sequence[Image.Image],
    columns: int,
    pad: int = 2,
    labels: Sequence[str] | None = None,
) -> Image.Image:
    """Tile images in rows of `columns` on white, `pad` pixels apart, each with an optional label.

    Tiles are the size of the largest image; smaller images are centred in theirs. A label
    wider than its tile is clipped to it.
    """
    if not images:
        raise ValueError("make_grid needs at least one image")
    if columns < 1:
        raise ValueError(f"columns must be at least 1, not {columns}")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"{len(labels)} labels for {len(images)} images")
    flat = [_flatten(im) for im in images]
    mode = "L" if all(im.mode == "L" for im in flat) else "RGB"
    tile_w = max(im.width for im in flat)
    tile_h = max(im.height for im in flat)
    font = ImageFont.load_default() if labels is not None else None
    label_h = _label_height(font) if font is not None else 0
    cols = min(columns, len(flat))
    rows = math.ceil(len(flat) / cols)
    cell_w, cell_h = tile_w + pad, tile_h + label_h + pad
    white = 255 if mode == "L" else WHITE
    grid = Image.new(mode, (cols * cell_w + pad, rows * cell_h + pad), white)
    for i, im in enumerate(flat):
        x0, y0 = pad + (i % cols) * cell_w, pad + (i // cols) * cell_h
        offset = (x0 + (tile_w - im.width) // 2, y0 + (tile_h - im.height) // 2)
        grid.paste(im.convert(mode), offset)
        if labels is not None and font is not None:
            strip = _label_strip(labels[i], font, tile_w, label_h, mode)
            grid.paste(strip, (x0, y0 + tile_h))
    return grid


def _label_height(font: Font) -> int:
    top, bottom = font.getbbox("Ag")[1::2]
    return int(bottom - top) + 4


def _label_strip(text: str, font: Font, width: int, height: int, mode: str) -> Image.Image:
    strip = Image.new(mode, (width, height), 255 if mode == "L" else WHITE)
    draw = ImageDraw.Draw(strip)
    left, top, right, _ = draw.textbbox((0, 0), text, font=font)
    x = max(0, (width - (right - left)) // 2) - left
    draw.text((x, 2 - top), text, fill=0 if mode == "L" else BLACK, font=font)
    return strip
