"""`reproduce part-a` on the emoji cascade (issue 12): the emoji model's own prompt set
(engine/prompt_sets.py), checked against the model's vocabulary, runs every figure on the tiny
fixture cascade with the test photos in colour and stage II; no download."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
from PIL import Image

from app.cli import main
from engine.prompt_sets import FIXED, PART_A
from tests.emoji_fixtures import add_words, train_tiny_cascade, write_emoji_set

SECTIONS = {"A-0", "A-1.1", "A-1.2", "A-1.3", "A-1.4", "A-1.5", "A-1.6", "A-1.7", "A-1.7.1",
            "A-1.7.2", "A-1.7.3", "A-1.8", "A-1.9"}


@pytest.fixture(scope="module")
def emoji_set(tmp_path_factory):
    return write_emoji_set(tmp_path_factory.mktemp("emoji-repro-set") / "set", copies=1)


@pytest.fixture(scope="module")
def cascade(emoji_set, tmp_path_factory):
    return train_tiny_cascade(emoji_set, tmp_path_factory.mktemp("emoji-repro"))


@pytest.fixture(autouse=True)
def isolated(if_environment, tmp_path, monkeypatch):
    """No chosen illusion pairs (the bundle's file, once written): the provisional set."""
    from engine import prompt_sets

    monkeypatch.setattr(prompt_sets, "EMOJI_PAIRS_FILE", tmp_path / "no-pairs.json")


def test_the_emoji_prompt_set_is_emoji_words_not_the_course_sentences():
    emoji, course = FIXED["emoji"], PART_A["if"]  # as written: provisional until chosen
    assert not set(emoji.all()) & set(course.all())
    assert len(emoji.sample) == 3 and len(emoji.noise) == 5 and len(emoji.img2img) == 2
    assert "provisional" in emoji.status
    assert all(view == "flip" for *_, view in emoji.anagrams)


def test_a_vocabulary_without_the_sets_words_is_one_message(cascade, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["reproduce", "part-a", "--model", str(cascade / "IF-I-emoji"), "--quick",
                 "--device", "cpu", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "reproduce part-a's emoji prompts need words that IF-I-emoji does not know" in err
    assert "'red apple' (the words 'red' (the closest words it knows: " in err
    assert not (out / "index.html").exists()


def test_reproduce_part_a_quick_runs_every_figure_on_the_emoji_cascade(cascade, tmp_path):
    model = tmp_path / "cascade"
    shutil.copytree(cascade, model)
    add_words(model / "IF-I-emoji", [w for p in PART_A["emoji"].all() for w in p.split()])
    out = tmp_path / "part-a"
    assert main(["reproduce", "part-a", "--model", str(model / "IF-I-emoji"), "--quick",
                 "--device", "cpu", "--out", str(out)]) == 0
    index = (out / "index.html").read_text()
    assert set(re.findall(r"<b>(A-[\d.]+)</b>", index)) == SECTIONS
    assert "provisional" in index
    shown = re.findall(r"src='([^']+)'", index)
    assert {"a0-stage2.png", "a1-8-stage2.png"} <= set(shown)
    assert "upscaled to 2x" in index
    assert "rocket" in index and "a rocket ship" not in index
    with Image.open(out / "a1-1-forward.png") as grid:  # the original photo, in colour
        rgb = np.asarray(grid.convert("RGB")).astype(int)
    first = rgb[: rgb.shape[0] // 2, : rgb.shape[1] // 4]
    spread = (first.max(-1) - first.min(-1))
    assert (spread > 40).mean() > 0.1, "a colour photo goes to the model in colour"


def test_bench_emoji_quality_judges_samples_beside_the_datas_floor(cascade, emoji_set, tmp_path,
                                                                    capsys):
    import importlib.util
    from pathlib import Path

    from engine.training.emoji_classifier import ClassifierConfig, train_emoji_classifier

    judge = tmp_path / "judge"
    train_emoji_classifier(ClassifierConfig(str(emoji_set), epochs=1, batch_size=8, width=8,
                                            fc=16, num_threads=1, device="cpu"), judge,
                           log=lambda _: None)
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_emoji_quality.py"
    spec = importlib.util.spec_from_file_location("bench_emoji_quality", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    model = cascade / "IF-I-emoji"
    common = ["--model", str(model), "--data", str(emoji_set), "--classifier", str(judge),
              "--prompts", "3", "--seeds", "2", "--steps", "2", "--threads", "1"]
    assert bench.main(common + ["--guidance", "1,6.5"]) == 0
    rows = [line.strip("|").split("|") for line in capsys.readouterr().out.splitlines()
            if line.startswith("| ") and line[2].isdigit()]
    assert [float(r[0]) for r in rows] == [1.0, 6.5], "a row per CFG scale"
    for row in rows:
        assert int(row[1]) == 6, "3 prompts x 2 seeds"
        assert all(0 <= float(v.strip(" %")) <= 100 for v in row[2:4])
    assert bench.main(common + ["--guidance", "seven"]) == 1
    assert "--guidance takes numbers" in capsys.readouterr().out
    assert bench.main(["--model", str(tmp_path / "none"), "--data", str(emoji_set)]) == 1
    from engine.training.emoji_classifier import as_images, load_emoji_classifier
    from engine.training.emoji_data import load_set

    net, _ = load_emoji_classifier(judge)
    x = as_images(load_set(emoji_set).images)
    assert bench.floors(net, x, len(x))["same_count"] == pytest.approx(0.0, abs=1e-6), \
        "the whole set against itself is at distance 0"
