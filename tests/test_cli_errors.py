"""Every error path of every subcommand is one line on stderr and exit 1 (2 for a wrong
command), and leaves nothing written (issue 16, 6-9; issue 11's unknown word)."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.cli import main
from engine.models.tiny import save_tiny_digit_model


def write_digit_and_mask(root: Path) -> dict[str, str]:
    """root/one.png (a 28 px '1') and root/mask.png (its right half white)."""
    image = np.zeros((28, 28), np.uint8)
    image[4:24, 12:16] = 255
    Image.fromarray(image).save(root / "one.png")
    mask = np.zeros((28, 28), np.uint8)
    mask[:, 14:] = 255
    Image.fromarray(mask).save(root / "mask.png")
    return {"image": str(root / "one.png"), "mask": str(root / "mask.png")}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> str:
    return str(save_tiny_digit_model(tmp_path_factory.mktemp("tiny-class")))


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    """Inputs: an image and mask, a plain file, broken model folders, bad training data."""
    root = tmp_path_factory.mktemp("inputs")
    write_digit_and_mask(root)
    (root / "a-file").write_text("not a folder")
    (root / "empty.pth").write_bytes(b"")
    huge = root / "huge-steps"
    save_tiny_digit_model(huge)
    config = json.loads((huge / "config.json").read_text())
    (huge / "config.json").write_text(json.dumps(config | {"num_timesteps": 2e9}))
    zero = root / "zero-weights"
    save_tiny_digit_model(zero)
    (zero / "model.safetensors").write_bytes(b"")
    labels = root / "labels"
    labels.mkdir()
    _idx(labels / "train-images-idx3-ubyte.gz", np.zeros((8, 28, 28), np.uint8))
    _idx(labels / "train-labels-idx1-ubyte.gz", np.array([1, 2, 3, 12, 0, 1, 2, 3], np.uint8))
    malformed = root / "malformed"
    save_tiny_digit_model(malformed)
    (malformed / "config.json").write_text("{ not json")
    (root / "loop-a").symlink_to(root / "loop-b")
    (root / "loop-b").symlink_to(root / "loop-a")
    bomb = root / "bomb"
    bomb.mkdir()
    with gzip.open(bomb / "train-images-idx3-ubyte.gz", "wb") as f:  # asks for 4 GB
        f.write(bytes([0, 0, 8, 3]) + b"".join(n.to_bytes(4, "big") for n in (5_000_000, 28, 28)))
        f.write(bytes(1 << 20))
    _idx(bomb / "train-labels-idx1-ubyte.gz", np.zeros(8, np.uint8))
    return {k: str(v) for k, v in dict(root=root, image=root / "one.png",
                                         mask=root / "mask.png", file=root / "a-file",
                                         empty_pth=root / "empty.pth", huge=huge, zero=zero,
                                         labels=labels, bomb=bomb, malformed=malformed,
                                         loop=root / "loop-a").items()}


def _idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big")
                                                     for n in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


SAMPLE = ["sample", "--model", "{tiny}", "--steps", "2", "-n", "1", "--out", "{out}"]
SDEDIT = ["edit", "sdedit", "--model", "{tiny}", "--image", "{image}", "--steps", "4",
          "--out", "{out}/e.png"]
HYBRID = ["edit", "hybrid", "--model", "{tiny}", "--prompt", "1", "--prompt2", "7",
          "--steps", "2", "--out", "{out}/h.png"]
INPAINT = ["edit", "inpaint", "--model", "{tiny}", "--image", "{image}", "--mask", "{mask}",
           "--steps", "4", "--out", "{out}/i.png"]
TRAIN = ["train", "time", "--out", "{out}/run", "--limit", "8", "--epochs", "1", "--hidden", "4"]

# (id, argv, a piece of the message)
CASES = [
    ("sigma negative", [*HYBRID, "--sigma", "-1"], "--sigma must be a finite number above 0"),
    ("sigma nan", [*HYBRID, "--sigma", "nan"], "--sigma must be"),
    ("sigma inf", [*HYBRID, "--sigma", "inf"], "--sigma must be"),
    ("sigma zero", [*HYBRID, "--sigma", "0"], "--sigma must be"),
    ("sigma2 nan", [*HYBRID, "--sigma2", "nan"], "--sigma2 must be"),
    ("guidance nan", [*SAMPLE, "--guidance", "nan"], "--guidance must be a finite number"),
    ("guidance inf", [*SDEDIT, "--guidance", "inf"], "--guidance must be"),
    ("guidance huge", [*SAMPLE, "--guidance", "1e30"], "--guidance must be"),
    ("jump-length 0", [*INPAINT, "--jump-length", "0"], "--jump-length must be a whole number"),
    ("resample 0", [*INPAINT, "--resample", "0"], "--resample must be"),
    ("resample 10000", [*INPAINT, "--resample", "10000"], "at most 100"),
    ("seed 2**64", [*SAMPLE, "--seed", str(2 ** 64)], "--seed must be a whole number"),
    ("seed negative", [*SAMPLE, "--seed", "-1"], "--seed must be"),
    ("view-seed 2**64", [*HYBRID, "--view-seed", str(2 ** 64)], "--view-seed must be"),
    ("count 100000", [*SAMPLE, "-n", "100000"], "-n/--count must be"),
    ("count 0", [*SAMPLE, "-n", "0"], "-n/--count must be"),
    ("steps 0", [*SAMPLE, "--steps", "0"], "at least 1"),
    ("steps 1e6", [*SAMPLE, "--steps", "1000000"], "--steps must be"),
    ("steps not whole", [*SAMPLE, "--steps", "2.5"], "--steps must be"),
    ("strength nan", [*SDEDIT, "--strength", "nan"], "--strength must be"),
    ("strength 2", [*SDEDIT, "--strength", "2"], "--strength must be"),
    ("i-start negative", [*SDEDIT, "--i-start", "-1"], "--i-start must be"),
    ("out empty (sample)", [*SAMPLE[:-1], ""], "--out must be a file or folder name"),
    ("out empty (edit)", [*SDEDIT[:-1], ""], "--out must be"),
    ("out empty (train)", ["train", "time", "--out", ""], "--out must be"),
    ("image empty", ["edit", "sdedit", "--model", "{tiny}", "--image", "", "--out", "{out}/x.png"],
     "--image must be"),
    ("frames is out", [*SDEDIT, "--frames", "{out}/e.png"], "name the same file"),
    ("out under a file (edit)", [*SDEDIT[:-1], "{file}/e.png"], "is a file, not a folder"),
    ("out is a folder (edit)", [*SDEDIT[:-1], "{root}"], "is a folder"),
    ("out is a file (sample)", [*SAMPLE[:-1], "{file}"], "is a file, not a folder"),
    ("out names an image (sample)", [*SAMPLE[:-1], "{out}/heart.png"],
     "names an image file, but this command writes a folder"),
    ("out names an image (reproduce)", ["reproduce", "part-b", "--quick", "--out", "{out}/r.jpg"],
     "name a folder, e.g. --out"),
    ("out under a file (reproduce)", ["reproduce", "part-b", "--quick", "--out", "{file}/r"],
     "is a file, not a folder"),
    ("out under a file (encode-prompts)",
     ["encode-prompts", "--model", "{tiny}", "--out", "{file}/p.pth", "hi"], "is a file"),
    ("0-byte embeddings", [*SAMPLE, "--prompts", "{empty_pth}"], "embeddings"),
    ("0-byte weights", [*SAMPLE[:2], "{zero}", *SAMPLE[3:]], "model.safetensors"),
    ("num_timesteps 2e9", [*SAMPLE[:2], "{huge}", *SAMPLE[3:]], "num_timesteps must be"),
    ("malformed config.json", [*SAMPLE[:2], "{malformed}", *SAMPLE[3:]],
     "config.json is not valid JSON"),
    ("symlink loop", [*SDEDIT[:5], "{loop}", *SDEDIT[6:]], "symbolic link that leads nowhere"),
    ("missing image", [*SDEDIT[:5], "{root}/missing.png", *SDEDIT[6:]], "missing.png"),
    ("threads -1", [*TRAIN, "--threads", "-1"], "--threads must be a whole number"),
    ("threads 10000", [*TRAIN, "--threads", "10000"], "--threads must be"),
    ("train seed 2**64", [*TRAIN, "--seed", str(2 ** 64)], "--seed must be"),
    ("train lr nan", [*TRAIN, "--lr", "nan"], "--lr must be"),
    ("train epochs 0", [*TRAIN, "--epochs", "0"], "--epochs must be"),
    ("labels >= 10", [*TRAIN, "--data", "{labels}", "--precision", "fp32"],
     "label 12 at image 3"),
    ("gz bomb", [*TRAIN, "--data", "{bomb}", "--precision", "fp32"], "more than the"),
    ("resume nothing", [*TRAIN, "--resume"], "no training run to resume"),
]


def _fill(argv: list[str], tiny: str, files: dict[str, str], out: Path) -> list[str]:
    return [a.format(tiny=tiny, out=out, **files) for a in argv]


def _written(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("argv,message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_every_error_is_one_line_and_writes_nothing(tiny, files, tmp_path, capsys, monkeypatch,
                                                    argv, message):
    monkeypatch.setenv("DIFFUSION_CANVAS_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    out.mkdir()
    before = _written(Path(files["root"]))
    assert main(_fill(argv, tiny, files, out)) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err and "Traceback" not in err
    assert _written(out) == [], "nothing written"
    assert _written(Path(files["root"])) == before


@pytest.mark.parametrize("out_key,argv", [("image", SDEDIT), ("mask", INPAINT),
                                           ("image", INPAINT)])
def test_out_never_writes_over_an_input(tiny, files, tmp_path, capsys, out_key, argv):
    """--out naming the --image or --mask (here through a symlink and '..') is refused and
    the input's bytes are untouched; before, edit wrote its result over the input."""
    target = Path(files[out_key])
    link = tmp_path / "again.png"
    link.symlink_to(target)
    before = target.read_bytes()
    for spelling in (str(target), str(link), f"{target.parent}/../{target.parent.name}/"
                                                f"{target.name}"):
        assert main([*_fill(argv[:-1], tiny, files, tmp_path), spelling]) == 1
        err = capsys.readouterr().err
        assert f"is the --{out_key} file" in err and err.count("\n") == 1, err
        assert target.read_bytes() == before


def test_a_word_that_is_no_command_and_no_file_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2
    assert "'frobnicate' is neither a command" in capsys.readouterr().err


def test_a_failed_frames_write_takes_the_result_with_it(tiny, files, tmp_path, monkeypatch):
    from engine import images

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "f.gif"))

    monkeypatch.setattr(images, "save_frames", broken)
    argv = _fill([*SDEDIT, "--frames", "{out}/f.gif"], tiny, files, tmp_path)
    assert main(argv) == 1
    assert _written(tmp_path) == []


def test_a_failed_sample_leaves_no_partial_set(tiny, files, tmp_path, monkeypatch, capsys):
    from engine import images

    real, calls = images.save_png, []

    def fails_on_the_third(img, path, parameters=None):
        calls.append(path)
        if len(calls) == 3:
            raise OSError(28, "No space left on device", str(path))
        real(img, path, parameters)

    monkeypatch.setattr(images, "save_png", fails_on_the_third)
    argv = _fill([*SAMPLE[:-4], "-n", "4", "--out", "{out}/s"], tiny, files, tmp_path)
    assert main(argv) == 1
    assert "No space left on device" in capsys.readouterr().err
    assert _written(tmp_path / "s") == []


def test_stale_temporaries_of_a_killed_save_are_cleaned(tmp_path):
    import os
    import time

    from engine.files import replacing

    target = tmp_path / "work.dcproj"
    stale = tmp_path / ".work.dcproj.0123abcd.tmp"
    fresh = tmp_path / ".work.dcproj.89abcdef.tmp"
    for path in (stale, fresh):
        path.write_bytes(b"x" * 1000)
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    with replacing(target) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new" and not stale.exists()
    assert fresh.exists(), "a save in progress elsewhere is left alone"


FUZZ_VALUES = ["nan", "-inf", "inf", "-1", "0", "1e30", "1e-30", "abc", "", "0x10", "1_0",
               str(2 ** 64), "2.5", "3"]
FUZZ_OPTIONS = {"--guidance": SAMPLE, "--steps": SAMPLE, "--seed": SAMPLE, "-n": SAMPLE,
                "--sigma": HYBRID, "--strength": SDEDIT, "--i-start": SDEDIT,
                "--resample": INPAINT, "--jump-length": INPAINT}


def test_seeded_fuzz_of_number_options(tiny, files, tmp_path, capsys):
    """Random values in every number option: a valid result or one line; never anything else."""
    rng = random.Random(16)
    for trial in range(12):
        option = rng.choice(sorted(FUZZ_OPTIONS))
        value = rng.choice(FUZZ_VALUES)
        out = tmp_path / f"t{trial}"
        out.mkdir()
        argv = [*_fill(FUZZ_OPTIONS[option], tiny, files, out), option, value]
        try:
            code = main(argv)
        except SystemExit as usage:  # argparse: a value that is not even a number
            code = usage.code
        err = capsys.readouterr().err
        assert "Traceback" not in err
        if code == 0:
            made = _written(out)
            assert made, (option, value)
            for name in made:
                Image.open(out / name).verify()
        else:
            assert code in (1, 2), (option, value, code)
            assert _written(out) == [], (option, value)
            assert err.strip().splitlines()[-1].startswith(("error: ", "diffusion-canvas")), err
            assert err.count("\n") <= 2, err
