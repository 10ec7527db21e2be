"""Example images for Part A: small "photos" and hand-drawn sketches, drawn with PIL.

They ship as PNGs in resources/examples/ (made by `save_examples`); where a file is missing it
is drawn again, so the figures never depend on a download. Test photos prefer scikit-image's
(astronaut, coffee, chelsea, rocket) when that package is installed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw

EXAMPLES = Path(__file__).resolve().parents[1] / "resources" / "examples"
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def _sky(size: int, top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Image.Image:
    img = Image.new("RGB", (size, size))
    draw = ImageDraw.Draw(img)
    for y in range(size):
        f = y / (size - 1)
        draw.line([(0, y), (size, y)], fill=tuple(round(a + (b - a) * f)
                                                    for a, b in zip(top, bottom)))
    return img


def landscape(size: int = 128) -> Image.Image:
    """Mountains at sunset over a lake."""
    img = _sky(size, (40, 70, 150), (250, 170, 90))
    d = ImageDraw.Draw(img)
    s = size / 128
    d.ellipse([90 * s, 30 * s, 110 * s, 50 * s], fill=(255, 230, 150))
    d.polygon([(0, 90 * s), (35 * s, 45 * s), (70 * s, 90 * s)], fill=(70, 80, 100))
    d.polygon([(40 * s, 90 * s), (85 * s, 35 * s), (128 * s, 90 * s)], fill=(90, 95, 120))
    d.polygon([(78 * s, 44 * s), (85 * s, 35 * s), (92 * s, 44 * s)], fill=(240, 240, 250))
    d.rectangle([0, 90 * s, size, size], fill=(40, 90, 130))
    for y in range(int(92 * s), size, max(1, int(4 * s))):
        d.line([(10 * s, y), (118 * s, y)], fill=(70, 120, 160), width=1)
    return img


def still_life(size: int = 128) -> Image.Image:
    """A red apple and a blue mug on a wooden table."""
    img = _sky(size, (230, 225, 210), (200, 190, 170))
    d = ImageDraw.Draw(img)
    s = size / 128
    d.rectangle([0, 85 * s, size, size], fill=(140, 90, 50))
    d.line([(0, 85 * s), (size, 85 * s)], fill=(90, 55, 30), width=max(1, int(2 * s)))
    d.ellipse([20 * s, 55 * s, 60 * s, 95 * s], fill=(200, 30, 30))
    d.ellipse([28 * s, 62 * s, 38 * s, 72 * s], fill=(240, 120, 110))
    d.line([(40 * s, 57 * s), (44 * s, 45 * s)], fill=(80, 50, 20), width=max(1, int(3 * s)))
    d.rectangle([72 * s, 50 * s, 104 * s, 95 * s], fill=(40, 70, 170))
    d.arc([96 * s, 58 * s, 116 * s, 84 * s], -90, 90, fill=(40, 70, 170), width=int(5 * s))
    return img


def city(size: int = 128) -> Image.Image:
    """A city skyline at dusk with lit windows."""
    img = _sky(size, (20, 20, 60), (120, 60, 110))
    d = ImageDraw.Draw(img)
    s = size / 128
    for i, (w, h) in enumerate([(18, 60), (22, 85), (16, 50), (26, 100), (20, 70), (24, 55)]):
        x0 = (i * 21 + 2) * s
        d.rectangle([x0, size - h * s, x0 + w * s, size], fill=(30 + 8 * i, 30, 45))
        for wy in range(int(size - h * s + 5 * s), size - int(6 * s), max(2, int(8 * s))):
            for wx in range(int(x0 + 3 * s), int(x0 + (w - 3) * s), max(2, int(6 * s))):
                if (wx + wy + i) % 3:
                    d.rectangle([wx, wy, wx + 2 * s, wy + 3 * s], fill=(250, 220, 120))
    return img


def _wobble(points: list[tuple[float, float]], amount: float, seed: int
            ) -> list[tuple[float, float]]:
    """A hand's wobble: a smooth deterministic offset along a stroke."""
    return [(x + amount * math.sin(0.9 * i + seed), y + amount * math.cos(1.3 * i + 2 * seed))
            for i, (x, y) in enumerate(points)]


def _stroke(d: ImageDraw.ImageDraw, points: list[tuple[float, float]], fill, width: int,
            seed: int = 0, amount: float = 1.0) -> None:
    d.line(_wobble(points, amount, seed), fill=fill, width=width, joint="curve")


def _circle(cx: float, cy: float, r: float, n: int = 24, a0: float = 0, a1: float = 360
            ) -> list[tuple[float, float]]:
    return [(cx + r * math.cos(math.radians(a0 + (a1 - a0) * k / n)),
             cy + r * math.sin(math.radians(a0 + (a1 - a0) * k / n))) for k in range(n + 1)]


def sketch_house(size: int = 128) -> Image.Image:
    img = Image.new("RGB", (size, size), "white")
    d = ImageDraw.Draw(img)
    s = size / 128
    d.rectangle([30 * s, 60 * s, 98 * s, 110 * s], fill=(250, 220, 150))
    d.polygon([(24 * s, 62 * s), (64 * s, 24 * s), (104 * s, 62 * s)], fill=(200, 60, 50))
    w = max(1, int(3 * s))
    _stroke(d, [(30 * s, 60 * s), (30 * s, 110 * s), (98 * s, 110 * s), (98 * s, 60 * s)],
            "black", w, 1)
    _stroke(d, [(24 * s, 62 * s), (64 * s, 24 * s), (104 * s, 62 * s), (24 * s, 62 * s)],
            "black", w, 2)
    d.rectangle([56 * s, 82 * s, 72 * s, 110 * s], fill=(120, 70, 40), outline="black", width=w)
    d.rectangle([38 * s, 70 * s, 50 * s, 82 * s], fill=(150, 200, 250), outline="black", width=w)
    return img


def sketch_tree(size: int = 128) -> Image.Image:
    img = Image.new("RGB", (size, size), "white")
    d = ImageDraw.Draw(img)
    s = size / 128
    d.rectangle([56 * s, 70 * s, 72 * s, 118 * s], fill=(120, 80, 40))
    d.ellipse([24 * s, 14 * s, 104 * s, 84 * s], fill=(60, 160, 60))
    w = max(1, int(3 * s))
    _stroke(d, _circle(64 * s, 49 * s, 40 * s), "black", w, 3, 1.5 * s)
    _stroke(d, [(56 * s, 86 * s), (56 * s, 118 * s), (72 * s, 118 * s), (72 * s, 86 * s)],
            "black", w, 4)
    d.line([(0, 118 * s), (size, 118 * s)], fill=(60, 120, 40), width=w)
    return img


def sketch_face(size: int = 128) -> Image.Image:
    img = Image.new("RGB", (size, size), "white")
    d = ImageDraw.Draw(img)
    s = size / 128
    d.ellipse([24 * s, 16 * s, 104 * s, 112 * s], fill=(245, 205, 170))
    w = max(1, int(3 * s))
    _stroke(d, _circle(64 * s, 64 * s, 44 * s), "black", w, 5, 1.5 * s)
    for cx in (48, 80):
        d.ellipse([(cx - 5) * s, 48 * s, (cx + 5) * s, 58 * s], fill="black")
    _stroke(d, [(64 * s, 60 * s), (60 * s, 76 * s), (66 * s, 78 * s)], "black", w, 6)
    _stroke(d, _circle(64 * s, 78 * s, 16 * s, 12, 30, 150), (160, 40, 40), w, 7)
    return img


def _digit_canvas(size: int) -> tuple[Image.Image, ImageDraw.ImageDraw, float, int]:
    img = Image.new("L", (size, size), 0)
    return img, ImageDraw.Draw(img), size / 112, max(2, round(size / 11))


def sketch_digit(digit: str, size: int = 112) -> Image.Image:
    """A hand-drawn digit, white on black like MNIST (2, 4, 5 and 7 drawn; others as 7)."""
    img, d, s, w = _digit_canvas(size)
    strokes = {
        "2": [_circle(56, 40, 20, 12, 190, 380) + [(38, 84), (78, 84)]],
        "4": [[(66, 20), (30, 66), (82, 66)], [(66, 20), (66, 92)]],
        "5": [[(76, 22), (42, 22), (38, 50)], _circle(54, 66, 22, 12, 250, 470)],
        "7": [[(32, 24), (80, 24), (48, 92)], [(44, 58), (70, 58)]],
    }.get(digit)
    if strokes is None:
        strokes = [[(32, 24), (80, 24), (48, 92)]]
    for k, points in enumerate(strokes):
        _stroke(d, [(x * s, y * s) for x, y in points], 255, w, k + int(digit or 0), 1.2 * s)
    return img


def typed_digit(digit: str = "5", size: int = 112) -> Image.Image:
    """A printed digit (a font, not a hand): the digit model's "web image"."""
    from PIL import ImageFont

    img = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(img)
    try:
        font = ImageFont.load_default(size=int(size * 0.8))
    except TypeError:  # Pillow without FreeType sizes
        return sketch_digit(digit, size)
    box = d.textbbox((0, 0), digit, font=font)
    x = (size - (box[2] - box[0])) / 2 - box[0]
    y = (size - (box[3] - box[1])) / 2 - box[1]
    d.text((x, y), digit, fill=255, font=font)
    return img


DRAWINGS: dict[str, Callable[[], Image.Image]] = {
    "photo-landscape": landscape, "photo-still-life": still_life, "photo-city": city,
    "sketch-house": sketch_house, "sketch-tree": sketch_tree, "sketch-face": sketch_face,
    "digit-sketch-2": lambda: sketch_digit("2"), "digit-sketch-4": lambda: sketch_digit("4"),
    "digit-sketch-7": lambda: sketch_digit("7"), "digit-typed-5": lambda: typed_digit("5"),
}


def example(name: str) -> Image.Image:
    """The bundled example `name`, drawn again if its file is missing."""
    path = EXAMPLES / f"{name}.png"
    if path.is_file():
        with Image.open(path) as img:
            return img.copy()
    return DRAWINGS[name]()


def save_examples(folder: str | Path = EXAMPLES) -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, draw in DRAWINGS.items():
        draw().save(folder / f"{name}.png", optimize=True)
        written.append(folder / f"{name}.png")
    return written


def course_photos(count: int = 4) -> list[tuple[str, Image.Image]]:
    """scikit-image's test photos when installed, else the bundled ones (drawn scenes)."""
    try:
        from skimage import data
    except ImportError:
        data = None
    photos: list[tuple[str, Image.Image]] = []
    if data is not None:
        for name in SKIMAGE_PHOTOS[:count]:
            try:
                photos.append((name, Image.fromarray(getattr(data, name)()).convert("RGB")))
            except Exception:  # noqa: BLE001 - a data file missing from the install
                continue
    for name in ("photo-landscape", "photo-still-life", "photo-city"):
        if len(photos) >= count:
            break
        photos.append((name, example(name)))
    return photos[:count]


if __name__ == "__main__":
    for p in save_examples():
        print(p)
