"""The command-line contract of DESIGN.md, on a tiny digit model saved to a temp folder."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.cli import main
from engine.images import prepare_image, read_parameters, to_pil
from engine.loops import repaint_path

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def digit_png(tmp_path):
    image = np.zeros((56, 56), np.uint8)
    image[10:46, 24:32] = 255  # a '1'
    path = tmp_path / "one.png"
    Image.fromarray(image).save(path)
    return path


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for name in ("train", "sample", "edit", "reproduce", "encode-prompts", "models"):
        assert name in out


def test_sample_writes_samples_and_grid_with_parameters(tiny_model, tmp_path):
    out = tmp_path / "out"
    assert main(["sample", "--model", tiny_model, "--prompt", "7", "-n", "3", "--steps", "5",
                 "--seed", "4", "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["grid.png", "sample-000.png", "sample-001.png", "sample-002.png"]
    assert Image.open(out / "sample-000.png").size == (28, 28)
    params = read_parameters(out / "sample-001.png")
    assert params["prompt"] == "7" and params["seed"] == 5 and params["index"] == 1
    assert params["batch_seed"] == 4, "each sample has its own seed: the batch's + its index"
    assert params["timesteps"] == [300, 240, 180, 120, 60, 0]
    assert params["guidance"] == 5.0
    alone = tmp_path / "alone"
    assert main(["sample", "--model", tiny_model, "--prompt", "7", "-n", "1", "--steps", "5",
                 "--seed", "5", "--out", str(alone)]) == 0
    assert np.array_equal(np.asarray(Image.open(alone / "sample-000.png")),
                          np.asarray(Image.open(out / "sample-001.png"))), "remade alone"


def test_same_seed_gives_the_same_file(tiny_model, tmp_path):
    for name in ("a", "b", "c"):
        seed = "1" if name != "c" else "2"
        main(["sample", "--model", tiny_model, "-n", "2", "--steps", "4", "--seed", seed,
              "--out", str(tmp_path / name)])
    a, b, c = (np.asarray(Image.open(tmp_path / n / "grid.png")) for n in "abc")
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("mode,extra", [
    ("sdedit", ["--i-start", "5"]),
    ("img2img", ["--prompt", "3", "--strength", "0.5"]),
    ("anagram", ["--prompt", "6", "--prompt2", "9", "--view", "rot180"]),
    ("hybrid", ["--prompt", "0", "--prompt2", "1", "--sigma", "1"]),
])
def test_every_edit_mode_writes_one_png(tiny_model, digit_png, tmp_path, mode, extra):
    out = tmp_path / f"{mode}.png"
    argv = ["edit", mode, "--model", tiny_model, "--steps", "6", "--out", str(out), *extra]
    if mode in ("sdedit", "img2img"):
        argv += ["--image", str(digit_png)]
    assert main(argv) == 0
    params = read_parameters(out)
    assert params["mode"] == mode and Image.open(out).size == (28, 28)


def test_inpaint_keeps_the_unmasked_pixels(tiny_model, digit_png, tmp_path):
    mask = np.zeros((56, 56), np.uint8)
    mask[:, 28:] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    out, gif = tmp_path / "in.png", tmp_path / "frames.gif"
    assert main(["edit", "inpaint", "--model", tiny_model, "--image", str(digit_png), "--mask",
                 str(tmp_path / "mask.png"), "--steps", "6", "--out", str(out),
                 "--frames", str(gif)]) == 0
    result = np.asarray(Image.open(out))
    source = np.asarray(to_pil(prepare_image(digit_png, 28, 1, (0.0, 1.0))[0]))
    assert result[:, :13].std() > 0, "the kept half holds part of the digit"
    assert np.array_equal(result[:, :13], source[:, :13])
    assert Image.open(gif).n_frames == 6


def test_resample_walks_repaint_path(tiny_model, digit_png, tmp_path):
    """--resample and --jump-length reach the loop: one frame per move of RePaint's path."""
    mask = tmp_path / "mask.png"
    Image.fromarray(np.full((56, 56), 255, np.uint8)).save(mask)
    gif = tmp_path / "frames.gif"
    assert main(["edit", "inpaint", "--model", tiny_model, "--image", str(digit_png), "--mask",
                 str(mask), "--steps", "6", "--jump-length", "2", "--resample", "3",
                 "--out", str(tmp_path / "in.png"), "--frames", str(gif)]) == 0
    path = repaint_path(0, 6, 2, 3)
    assert Image.open(gif).n_frames == len(path) - 1 > 6


def test_strength_maps_to_i_start(tiny_model, digit_png, tmp_path):
    out = tmp_path / "s.png"
    main(["edit", "sdedit", "--model", tiny_model, "--image", str(digit_png),
          "--strength", "1", "--out", str(out)])
    assert read_parameters(out)["i_start"] == 0
    main(["edit", "sdedit", "--model", tiny_model, "--image", str(digit_png),
          "--strength", "0.5", "--out", str(out)])
    assert read_parameters(out)["i_start"] == 15


@pytest.mark.parametrize("argv,message", [
    (["sample", "--prompt", "12", "-n", "1"], "cannot take the prompt '12'"),
    (["edit", "anagram", "--prompt", "6", "--prompt2", "9", "--view", "negate"], "symmetric"),
    (["edit", "inpaint", "--image", "x.png"], "needs --mask"),
    (["edit", "sdedit", "--image", "missing.png"], "missing.png"),
    (["sample", "--steps", "0"], "at least 1"),
])
def test_errors_are_one_clear_line(tiny_model, tmp_path, capsys, argv, message):
    out = tmp_path / ("samples" if argv[0] == "sample" else "o.png")  # sample writes a folder
    argv = [*argv, "--model", tiny_model, "--out", str(out)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_unknown_model_and_corrupt_image_from_a_real_process(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    runs = [
        [sys.executable, "main.py", "sample", "--model", "no-such-model", "--out", "o"],
        [sys.executable, "main.py", "edit", "sdedit", "--image", str(bad), "--model",
         "no-such-model", "--out", "o.png"],
    ]
    for argv in runs:
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 1
        assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr


def test_wrong_command_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["edit", "nope", "--out", "x.png"])
    assert exit_.value.code == 2


def test_models_lists_folders_it_can_load(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert out.strip()
    json.dumps(out)  # plain text, one line per model


def test_a_mask_of_another_size_is_refused(tiny_model, digit_png, tmp_path, capsys):
    Image.new("L", (40, 40), 255).save(tmp_path / "mask.png")
    assert main(["edit", "inpaint", "--model", tiny_model, "--image", str(digit_png),
                 "--mask", str(tmp_path / "mask.png"), "--out", str(tmp_path / "o.png")]) == 1
    assert "the mask is 40×40 but the image is 56×56" in capsys.readouterr().err
