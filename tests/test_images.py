"""engine.images: decoding, errors, conversions, geometry, masks, saving."""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile, PngImagePlugin
from skimage import data as skdata

from engine import images
from engine.errors import ImageError
from engine.images import (
    load_image,
    load_image_bytes,
    load_mask,
    make_grid,
    prepare_image,
    read_parameters,
    resize_and_center_crop,
    save_frames,
    save_png,
    to_pil,
    to_tensor,
)

# --------------------------------------------------------------------------------------------
# helpers


@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    return Image.fromarray(skdata.astronaut())


@pytest.fixture(scope="module")
def coffee() -> Image.Image:
    return Image.fromarray(skdata.coffee())


@pytest.fixture(scope="module")
def chelsea() -> Image.Image:
    return Image.fromarray(skdata.chelsea())


@pytest.fixture(scope="module")
def camera() -> Image.Image:
    return Image.fromarray(skdata.camera())


def encode(img: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **options)
    return buf.getvalue()


def write(tmp_path: Path, name: str, content: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(content)
    return p


def png_header_only(width: int, height: int) -> bytes:
    """A 1-bit grey PNG whose header claims width x height, with almost no pixel data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def pixels(img: Image.Image) -> np.ndarray:
    return np.asarray(img).astype(np.int16)


# --------------------------------------------------------------------------------------------
# errors: always ImageError, one line, naming the file


def assert_clear(err: pytest.ExceptionInfo, name: str, *words: str) -> None:
    msg = str(err.value)
    assert type(err.value) is ImageError
    assert "\n" not in msg
    assert name in msg, msg
    for w in words:
        assert w in msg.lower(), msg


def test_missing_file(tmp_path):
    p = tmp_path / "nope.png"
    with pytest.raises(ImageError) as err:
        load_image(p)
    assert_clear(err, str(p), "not found")


def test_folder_is_not_an_image(tmp_path):
    with pytest.raises(ImageError) as err:
        load_image(tmp_path)
    assert_clear(err, str(tmp_path), "folder")


def test_text_file(tmp_path):
    p = write(tmp_path, "notes.png", b"hello, this is text, not pixels\n" * 10)
    with pytest.raises(ImageError) as err:
        load_image(p)
    assert_clear(err, "notes.png", "not an image")


def test_empty_file(tmp_path):
    p = write(tmp_path, "empty.jpg", b"")
    with pytest.raises(ImageError) as err:
        load_image(p)
    assert_clear(err, "empty.jpg", "empty")


def test_corrupt_png(tmp_path):
    rng = np.random.default_rng(0)
    p = write(tmp_path, "corrupt.png", b"\x89PNG\r\n\x1a\n" + rng.bytes(2000))
    with pytest.raises(ImageError) as err:
        load_image(p)
    assert_clear(err, "corrupt.png", "damaged", "png")


def test_truncated_jpeg(tmp_path, coffee):
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    full = encode(coffee, "JPEG", quality=90)
    p = write(tmp_path, "half.jpg", full[: len(full) // 2])
    with pytest.raises(ImageError) as err:
        load_image(p)
    assert_clear(err, "half.jpg", "truncated", "jpeg")


def test_truncated_png(tmp_path, chelsea):
    full = encode(chelsea, "PNG")
    p = write(tmp_path, "half.png", full[: len(full) // 2])
    with pytest.raises(ImageError) as err:
        load_image(p)
    assert_clear(err, "half.png", "truncated", "png")


def test_decompression_bomb_header(tmp_path):
    # 20000 x 20000 claimed by the header: refused without decoding (Pillow's hard limit).
    p = write(tmp_path, "bomb.png", png_header_only(20_000, 20_000))
    assert p.stat().st_size < 200
    with pytest.raises(ImageError) as err:
        load_image(p)
    assert_clear(err, "bomb.png", "too large")


def test_bomb_warning_size_is_refused(tmp_path):
    # 95 Mpx: above Pillow's warning threshold, so refused as a bomb.
    p = write(tmp_path, "big.png", png_header_only(10_000, 9_500))
    with pytest.raises(ImageError) as err:
        load_image(p)
    assert_clear(err, "big.png", "too large")


def test_max_pixels_checked_before_decoding(tmp_path, coffee, monkeypatch):
    p = write(tmp_path, "coffee.png", encode(coffee, "PNG"))
    decoded = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(
        ImageFile.ImageFile, "load", lambda self: decoded.append(1) or real_load(self)
    )
    monkeypatch.setattr(images, "MAX_PIXELS", 100_000)
    with pytest.raises(ImageError) as err:
        load_image(p)
    assert_clear(err, "coffee.png", "too large", "600 x 400")
    assert decoded == []


def test_absurd_side(tmp_path):
    p = write(tmp_path, "strip.png", png_header_only(40_000, 8))
    with pytest.raises(ImageError) as err:
        load_image(p)
    assert_clear(err, "strip.png", "40000 x 8", "30000")


def test_zero_size(tmp_path):
    p = write(tmp_path, "zero.png", png_header_only(0, 16))
    with pytest.raises(ImageError) as err:
        load_image(p)
    assert_clear(err, "zero.png")


def test_bytes_errors_name_the_source():
    with pytest.raises(ImageError) as err:
        load_image_bytes(b"GIF89a" + b"\x00" * 5)
    assert_clear(err, "clipboard", "gif")
    with pytest.raises(ImageError) as err:
        load_image_bytes(b"<html></html>", name="dropped.html")
    assert_clear(err, "dropped.html", "not an image")


def test_unsupported_format_is_refused(tmp_path, chelsea):
    p = write(tmp_path, "cat.ppm", encode(chelsea, "PPM"))
    with pytest.raises(ImageError) as err:
        load_image(p)
    assert_clear(err, "cat.ppm", "supported")


# --------------------------------------------------------------------------------------------
# formats and modes


@pytest.mark.parametrize(
    ("fmt", "options"),
    [("PNG", {}), ("BMP", {}), ("TIFF", {}), ("WEBP", {"lossless": True}), ("GIF", {})],
)
def test_lossless_round_trip(tmp_path, astronaut, camera, fmt, options):
    # GIF is paletted: a greyscale image survives it exactly, a photo would not.
    src = camera.crop((100, 100, 180, 160)) if fmt == "GIF" else astronaut.crop((0, 0, 96, 64))
    p = write(tmp_path, f"img.{fmt.lower()}", encode(src, fmt, **options))
    out = load_image(p)
    assert out.mode == src.mode
    assert out.size == src.size
    np.testing.assert_array_equal(np.asarray(out), np.asarray(src))


def test_jpeg_close(tmp_path, coffee):
    p = write(tmp_path, "coffee.jpg", encode(coffee, "JPEG", quality=95))
    out = load_image(p)
    assert (out.mode, out.size) == ("RGB", (600, 400))
    assert np.abs(pixels(out) - pixels(coffee)).mean() < 3


def test_cmyk_jpeg(tmp_path):
    cmyk = Image.new("CMYK", (32, 16), (0, 255, 255, 0))  # pure red
    cmyk.paste((255, 255, 0, 0), (16, 0, 32, 16))  # pure blue
    p = write(tmp_path, "cmyk.jpg", encode(cmyk, "JPEG", quality=95))
    assert Image.open(p).mode == "CMYK"
    out = load_image(p)
    assert out.mode == "RGB"
    np.testing.assert_allclose(pixels(out)[8, 4], [255, 0, 0], atol=6)
    np.testing.assert_allclose(pixels(out)[8, 28], [0, 0, 255], atol=6)


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16_bit_grey_is_scaled_not_clipped(tmp_path, fmt):
    a = np.array([[0, 257, 32896, 65535], [1000, 25700, 65000, 128]], dtype=np.uint16)
    p = write(tmp_path, f"deep.{fmt.lower()}", encode(Image.fromarray(a), fmt))
    assert Image.open(p).mode.startswith("I")
    out = load_image(p)
    assert out.mode == "L"
    np.testing.assert_array_equal(np.asarray(out), [[0, 1, 128, 255], [4, 100, 253, 0]])


def test_palette_png_with_transparency(tmp_path):
    pal = Image.new("P", (8, 4), 0)
    pal.putpalette([255, 0, 0, 0, 0, 255] + [0] * (254 * 3))
    pal.paste(1, (4, 0, 8, 4))  # right half: opaque blue; left half: index 0, transparent
    p = write(tmp_path, "pal.png", encode(pal, "PNG", transparency=0))
    out = load_image(p)
    assert out.mode == "RGB"
    assert out.getpixel((0, 0)) == (255, 255, 255)
    assert out.getpixel((6, 2)) == (0, 0, 255)
    assert load_image(p, background=(0, 255, 0)).getpixel((0, 0)) == (0, 255, 0)


def test_palette_png_without_transparency(tmp_path):
    pal = Image.new("P", (4, 4), 1)
    pal.putpalette([255, 0, 0, 10, 20, 30] + [0] * (254 * 3))
    out = load_image(write(tmp_path, "pal.png", encode(pal, "PNG")))
    assert (out.mode, out.getpixel((1, 1))) == ("RGB", (10, 20, 30))


def test_rgba_composited_on_background(tmp_path):
    rgba = Image.new("RGBA", (3, 1))
    rgba.putdata([(255, 0, 0, 255), (0, 0, 0, 0), (0, 0, 0, 128)])
    p = write(tmp_path, "rgba.png", encode(rgba, "PNG"))
    out = load_image(p)
    assert out.mode == "RGB"
    assert out.getpixel((0, 0)) == (255, 0, 0)
    assert out.getpixel((1, 0)) == (255, 255, 255)
    assert all(abs(c - 127) <= 1 for c in out.getpixel((2, 0)))
    assert load_image(p, background=(0, 0, 0)).getpixel((1, 0)) == (0, 0, 0)


def test_grey_with_alpha_stays_grey(tmp_path):
    la = Image.new("LA", (2, 1))
    la.putdata([(40, 255), (40, 0)])
    out = load_image(write(tmp_path, "la.png", encode(la, "PNG")))
    assert out.mode == "L"
    assert np.asarray(out).tolist() == [[40, 255]]


def test_one_bit(tmp_path):
    bw = Image.new("1", (4, 2), 0)
    bw.putpixel((1, 1), 1)
    out = load_image(write(tmp_path, "bw.png", encode(bw, "PNG")))
    assert out.mode == "L"
    assert np.asarray(out).tolist() == [[0, 0, 0, 0], [0, 255, 0, 0]]


def test_gif_first_frame(tmp_path):
    frames = [Image.new("RGB", (8, 8), c) for c in [(255, 0, 0), (0, 255, 0), (0, 0, 255)]]
    buf = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)
    assert Image.open(io.BytesIO(buf)).n_frames == 3
    out = load_image_bytes(buf, "anim.gif")
    assert out.mode == "RGB"
    assert out.getpixel((4, 4)) == (255, 0, 0)


@pytest.mark.parametrize(
    ("orientation", "size", "corner"),
    [
        (6, (24, 48), (23, 0)),
        (3, (48, 24), (47, 23)),
        (8, (24, 48), (0, 47)),
        (1, (48, 24), (0, 0)),
    ],
)
def test_exif_orientation(tmp_path, orientation, size, corner):
    # Stored 48 x 24, red block in the stored top-left corner. 6: the viewer turns it a quarter
    # clockwise, 3: half a turn, 8: a quarter anticlockwise.
    img = Image.new("RGB", (48, 24), (0, 0, 0))
    img.paste((255, 0, 0), (0, 0, 8, 8))
    exif = Image.Exif()
    exif[0x0112] = orientation
    p = write(tmp_path, "turned.jpg", encode(img, "JPEG", quality=95, exif=exif.tobytes()))
    out = load_image(p)
    assert out.size == size
    x, y = corner
    # the red block's centre, 4 px in from that corner
    cx, cy = (x + 4 if x == 0 else x - 4), (y + 4 if y == 0 else y - 4)
    r, g, b = out.getpixel((cx, cy))
    assert r > 200 and g < 60 and b < 60
    assert sum(out.getpixel((size[0] // 2, size[1] // 2))) < 60


# --------------------------------------------------------------------------------------------
# tensors and geometry


@pytest.mark.parametrize("data_range", [(0.0, 1.0), (-1.0, 1.0)])
def test_tensor_round_trip_exact(chelsea, data_range):
    x = to_tensor(chelsea, 3, data_range)
    assert x.shape == (1, 3, 300, 451) and x.dtype == torch.float32
    assert x.min().item() >= data_range[0] and x.max().item() <= data_range[1]
    back = to_pil(x, data_range)
    assert back.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(back), np.asarray(chelsea))
    np.testing.assert_array_equal(np.asarray(to_pil(x[0], data_range)), np.asarray(chelsea))


def test_tensor_grey_and_endpoints(camera, chelsea):
    x = to_tensor(camera, 1, (-1.0, 1.0))
    assert x.shape == (1, 1, 512, 512)
    a = np.asarray(camera)
    row, col = np.unravel_index(a.argmin(), a.shape)
    assert x[0, 0, row, col].item() == pytest.approx(a.min() / 127.5 - 1)
    assert to_pil(x, (-1.0, 1.0)).mode == "L"
    np.testing.assert_array_equal(np.asarray(to_pil(x, (-1.0, 1.0))), a)
    luma = to_tensor(chelsea, 1)
    np.testing.assert_array_equal(np.asarray(to_pil(luma)), np.asarray(chelsea.convert("L")))
    white = to_tensor(Image.new("L", (2, 2), 255), 3, (-1.0, 1.0))
    assert white.shape == (1, 3, 2, 2) and torch.all(white == 1.0)


def test_to_pil_clamps_and_rejects_bad_shapes():
    x = torch.tensor([[[-3.0, 0.5, 2.0, float("nan")]]])
    assert np.asarray(to_pil(x)).tolist() == [[0, 128, 255, 0]]
    with pytest.raises(ValueError):
        to_pil(torch.zeros(2, 4, 4))
    with pytest.raises(ValueError):
        to_pil(torch.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError):
        to_tensor(Image.new("RGB", (2, 2)), 2)


def test_resize_and_center_crop_sizes(astronaut, coffee):
    assert resize_and_center_crop(astronaut, 64).size == (64, 64)
    assert resize_and_center_crop(coffee, 64).size == (64, 64)
    assert resize_and_center_crop(coffee, 400).size == (400, 400)
    assert resize_and_center_crop(coffee.rotate(90, expand=True), 256).size == (256, 256)
    assert resize_and_center_crop(Image.new("RGB", (10, 7)), 64).size == (64, 64)
    # no resize needed: the crop is exactly the centre square
    np.testing.assert_array_equal(
        np.asarray(resize_and_center_crop(coffee, 400)), np.asarray(coffee)[:, 100:500]
    )


def test_prepare_image(tmp_path, coffee):
    p = write(tmp_path, "coffee.png", encode(coffee, "PNG"))
    x = prepare_image(p, 64, 3, (-1.0, 1.0))
    assert x.shape == (1, 3, 64, 64) and x.dtype == torch.float32
    assert x.min().item() >= -1.0 and x.max().item() <= 1.0
    assert prepare_image(coffee, 32, 1).shape == (1, 1, 32, 32)


# --------------------------------------------------------------------------------------------
# masks


def square_on(size: tuple[int, int], box: tuple[int, int, int, int], mode: str = "L"):
    img = Image.new(mode, size, 0)
    img.paste(255 if mode == "L" else (255, 255, 255), box)
    return img


def test_mask_is_aligned_with_the_image(tmp_path):
    # 300 x 200 -> short side 100: scale 1/2 to 150 x 100, crop 25 px off each side.
    # A square at x 100..140, y 40..80 lands at x 25..45, y 20..40.
    box = (100, 40, 140, 80)
    mask_path = write(tmp_path, "mask.png", encode(square_on((300, 200), box), "PNG"))
    m = load_mask(mask_path, 100)
    assert m.shape == (1, 1, 100, 100) and m.dtype == torch.float32
    assert m.min().item() >= 0.0 and m.max().item() <= 1.0
    assert m[0, 0, 22:38, 28:42].min().item() > 0.95
    assert m[0, 0, :15].max().item() < 0.05 and m[0, 0, :, 50:].max().item() < 0.05
    img = prepare_image(square_on((300, 200), box, "RGB"), 100, 1)
    assert torch.equal(img > 0.5, m > 0.5)


def test_mask_resize_does_not_ring_into_the_kept_region():
    # Lanczos would leave small non-zero values beside a hard edge; a kept pixel must stay kept
    mask = Image.new("L", (56, 56), 0)
    mask.paste(255, (28, 0, 56, 56))
    m = load_mask(mask, 28)[0, 0]
    assert m[:, :14].max().item() == 0.0 and m[:, 14:].min().item() == 1.0


def test_mask_with_alpha_uses_painted_strokes(tmp_path):
    layer = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    layer.paste((255, 255, 255, 255), (16, 16, 32, 32))
    m = load_mask(write(tmp_path, "layer.png", encode(layer, "PNG")), 64)
    assert m[0, 0, 20, 20].item() == 1.0
    assert m[0, 0, 50, 50].item() == 0.0


def test_empty_mask_is_refused(tmp_path):
    p = write(tmp_path, "black.png", encode(Image.new("L", (64, 48), 0), "PNG"))
    with pytest.raises(ImageError, match="the mask is empty: paint white"):
        load_mask(p, 32)
    with pytest.raises(ImageError, match="the mask is empty"):
        load_mask(Image.new("RGBA", (8, 8), (255, 255, 255, 0)), 8)
    # white only in the part the centre crop cuts away
    with pytest.raises(ImageError, match="empty inside the square"):
        load_mask(square_on((300, 100), (0, 0, 50, 100)), 50)


# --------------------------------------------------------------------------------------------
# saving


def test_save_png_and_read_parameters(tmp_path, chelsea):
    params = {"command": "edit", "mode": "inpaint", "seed": 7, "prompt": "a café ☕", "v": [1, 2]}
    p = tmp_path / "out" / "deeper" / "result.png"
    save_png(chelsea, p, params)
    assert read_parameters(p) == params
    assert sorted(f.name for f in p.parent.iterdir()) == ["result.png"]  # no temp file left
    np.testing.assert_array_equal(np.asarray(load_image(p)), np.asarray(chelsea))
    # overwriting replaces the file
    save_png(Image.new("L", (4, 4), 9), p, {"seed": 8})
    assert read_parameters(p) == {"seed": 8}
    assert load_image(p).size == (4, 4)


def test_read_parameters_absent_or_invalid(tmp_path, chelsea):
    plain = tmp_path / "plain.png"
    save_png(chelsea, plain, None)
    assert read_parameters(plain) is None
    for i, text in enumerate(["not json {", "[1, 2]", '"a string"']):
        info = PngImagePlugin.PngInfo()
        info.add_text("parameters", text)
        p = write(tmp_path, f"bad{i}.png", encode(chelsea, "PNG", pnginfo=info))
        assert read_parameters(p) is None
    assert read_parameters(write(tmp_path, "c.jpg", encode(chelsea, "JPEG"))) is None
    with pytest.raises(ImageError, match="not found"):
        read_parameters(tmp_path / "missing.png")


def test_save_png_error_is_image_error(tmp_path):
    blocker = write(tmp_path, "file", b"x")
    with pytest.raises(ImageError, match="cannot write"):
        save_png(Image.new("RGB", (2, 2)), blocker / "sub" / "x.png", None)


def frames_of(n: int) -> list[Image.Image]:
    return [Image.new("RGB", (16, 12), (20 * i, 255 - 20 * i, 0)) for i in range(n)]


def test_save_frames_gif(tmp_path):
    p = tmp_path / "anim" / "steps.gif"
    save_frames(frames_of(6), p, duration_ms=80, parameters={"seed": 1})
    with Image.open(p) as im:
        assert im.format == "GIF" and im.n_frames == 6
        assert im.info.get("loop") == 0
        durations = []
        for i in range(im.n_frames):
            im.seek(i)
            durations.append(im.info["duration"])
    assert durations[:-1] == [80] * 5 and durations[-1] >= 1000
    assert load_image(p).getpixel((0, 0)) == (0, 255, 0)


@pytest.mark.parametrize("suffix", [".png", ".apng"])
def test_save_frames_apng(tmp_path, suffix):
    p = tmp_path / f"steps{suffix}"
    save_frames(frames_of(5), p, duration_ms=50, parameters={"seed": 3})
    with Image.open(p) as im:
        assert im.format == "PNG" and im.n_frames == 5 and im.is_animated
        assert im.info.get("loop") == 0
        im.seek(4)
        assert im.info["duration"] >= 1000
    assert read_parameters(p) == {"seed": 3}


def test_save_frames_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError):
        save_frames([], tmp_path / "a.gif")
    with pytest.raises(ValueError):
        save_frames(frames_of(2), tmp_path / "a.mp4")
    with pytest.raises(ValueError):
        save_frames([Image.new("RGB", (4, 4)), Image.new("RGB", (5, 4))], tmp_path / "a.gif")


# --------------------------------------------------------------------------------------------
# grids


def test_make_grid_layout(camera):
    tiles = [Image.new("RGB", (10, 8), (255 - 30 * i, 0, 0)) for i in range(5)]
    g = make_grid(tiles, columns=3, pad=2)
    assert g.size == (3 * 12 + 2, 2 * 10 + 2)
    assert g.getpixel((2, 2)) == (255, 0, 0)  # first tile
    assert g.getpixel((2 + 12, 2)) == (225, 0, 0)  # second tile, same row
    assert g.getpixel((2, 2 + 10)) == (165, 0, 0)  # fourth tile, second row
    assert g.getpixel((0, 0)) == (255, 255, 255)  # padding
    assert g.getpixel((2 + 24, 2 + 10)) == (255, 255, 255)  # empty sixth cell
    grey = make_grid([camera.resize((20, 20))] * 2, columns=4, pad=0)
    assert (grey.mode, grey.size) == ("L", (40, 20))


def test_make_grid_labels():
    tiles = [Image.new("RGB", (40, 30), (0, 0, 255)) for _ in range(2)]
    plain = make_grid(tiles, columns=2)
    g = make_grid(tiles, columns=2, labels=["step 0", "a label far too long for its tile"])
    assert g.width == plain.width and g.height > plain.height
    strip = np.asarray(g)[2 + 30 :, 2:42]
    assert (strip.sum(axis=2) < 200).any()  # dark text under the first tile
    with pytest.raises(ValueError):
        make_grid(tiles, 2, labels=["one"])


def test_parameters_are_plain_json(tmp_path):
    p = tmp_path / "x.png"
    save_png(Image.new("RGB", (2, 2)), p, {"path": Path("/a/b"), "n": 1})
    with Image.open(p) as im:
        assert json.loads(im.info["parameters"]) == {"path": "/a/b", "n": 1}
