"""The emoji classifier (issue 12, 4): one class per emoji whatever the vendor, augmentation
without mirrors, `train emoji-classifier` with atomic checkpoints and an exact resume, fp16
weights that load back, and one clear message for a folder that holds none."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from app.cli import main
from engine.errors import CheckpointError
from engine.training import emoji_data
from engine.training.checkpoint import load_weights
from engine.training.emoji_classifier import (
    ClassifierConfig,
    as_images,
    augment,
    class_table,
    features,
    load_emoji_classifier,
    logits,
    split,
    top_k_hits,
    train_emoji_classifier,
)
from tests.emoji_fixtures import write_emoji_set

SMALL = dict(batch_size=8, num_threads=1, device="cpu", width=8, fc=16)


@pytest.fixture(scope="module")
def emoji_set(tmp_path_factory):
    return write_emoji_set(tmp_path_factory.mktemp("emoji") / "set", copies=2)


@pytest.fixture(scope="module")
def trained(emoji_set, tmp_path_factory):
    out = tmp_path_factory.mktemp("clf") / "run"
    train_emoji_classifier(ClassifierConfig(str(emoji_set), epochs=8, lr=1e-2, **SMALL), out,
                           log=lambda _: None)
    return out


def test_both_vendors_art_of_one_emoji_is_one_class(emoji_set):
    data = emoji_data.load_set(emoji_set)
    classes, labels = class_table(data.entries)
    keys = [e["unified"] for e in data.entries]
    assert len(classes) == len(set(keys)) == 5 < len(data)
    for i, key in enumerate(keys):
        assert classes[labels[i]]["unified"] == key
    styles = {(labels[i], e["style"]) for i, e in enumerate(data.entries)}
    assert (labels[0], "google") in styles and (labels[0], "twemoji") in styles


def test_holding_out_a_vendor_tests_on_its_art_of_emoji_seen_in_training(emoji_set):
    data = emoji_data.load_set(emoji_set)
    _, labels = class_table(data.entries)
    train, test = split(data, labels, "twemoji")
    assert {data.entries[i]["style"] for i in train} == {"google"}
    assert {data.entries[i]["style"] for i in test} == {"twemoji"}
    assert {labels[i] for i in test} <= {labels[i] for i in train}
    every, same = split(data, labels, None)
    assert len(every) == len(same) == len(data)


def test_images_are_area_averaged_to_32_px_in_0_1():
    rgb = np.zeros((1, 64, 64, 3), np.uint8)
    rgb[0, 0, 0] = 255  # one bright pixel of a 2x2 cell
    x = as_images(rgb)
    assert x.shape == (1, 3, 32, 32)
    assert torch.allclose(x[0, :, 0, 0], torch.full((3,), 0.25))
    same = as_images(torch.full((2, 3, 32, 32), -1.0), (-1.0, 1.0))
    assert same.abs().max() == 0
    with pytest.raises(ValueError, match="multiple of 32"):
        as_images(torch.zeros(1, 3, 28, 28))


def test_augmentation_keeps_white_ground_and_never_mirrors():
    g = torch.Generator().manual_seed(0)
    white = torch.ones(64, 3, 32, 32)
    assert augment(white, g).mean() > 0.95, "the border comes in white, as the data's ground"
    x = torch.ones(1, 3, 32, 32)
    x[..., 8:24, 4:12] = 0.0  # a dark bar on the left: a mirror would move it to the right
    out = augment(x.repeat(200, 1, 1, 1), torch.Generator().manual_seed(1))
    left, right = out[..., :16].mean((1, 2, 3)), out[..., 16:].mean((1, 2, 3))
    assert bool((left < right).all()), "no augmented copy is mirrored"
    assert torch.equal(augment(x, g, strength=0.0), x)


def test_top_k_hits():
    scores = torch.tensor([[0.1, 0.5, 0.4], [0.9, 0.02, 0.08]])
    assert top_k_hits(scores, torch.tensor([2, 1]), 1).tolist() == [False, False]
    assert top_k_hits(scores, torch.tensor([2, 1]), 2).tolist() == [True, False]
    assert top_k_hits(scores, torch.tensor([2, 1]), 9).tolist() == [True, True]


def test_a_trained_classifier_loads_from_fp16_and_reads_the_art(trained, emoji_set):
    net, config = load_emoji_classifier(trained)
    assert not (trained / "training_state.pt").exists(), "a finished run keeps no state"
    from safetensors import safe_open

    with safe_open(str(trained / "model.safetensors"), "pt") as f:
        assert f.get_tensor(f.keys()[0]).dtype in (torch.float16, torch.int64)
    data = emoji_data.load_set(emoji_set)
    classes, labels = class_table(data.entries)
    assert [c["unified"] for c in config["classes"]] == [c["unified"] for c in classes]
    x = as_images(data.images)
    out = logits(net, x)
    assert out.shape == (len(data), len(classes))
    top1 = float((out.argmax(1) == torch.tensor(labels)).float().mean())
    assert top1 == pytest.approx(config["clean_training_images"]["top1"], abs=1e-5)
    most = max(np.bincount(labels)) / len(labels)
    assert top1 > most + 0.05, "better than any one answer for all (two squares are yellow)"
    assert set(config["held_out"]) == {"top1", "top5"}
    assert features(net, x).shape == (len(data), 16)
    assert config["epochs_done"] == 8 and len(config["history"]) == 8


def test_resume_continues_exactly(emoji_set, tmp_path):
    config = ClassifierConfig(str(emoji_set), epochs=3, **SMALL)
    whole = tmp_path / "whole"
    train_emoji_classifier(config, whole, log=lambda _: None)
    parts = tmp_path / "parts"
    train_emoji_classifier(config, parts, log=lambda _: None, max_epochs=1)
    assert (parts / "training_state.pt").is_file()
    assert json.loads((parts / "config.json").read_text())["epochs_done"] == 1
    with pytest.raises(CheckpointError, match="--resume"):
        train_emoji_classifier(config, parts, log=lambda _: None)
    other = ClassifierConfig(str(emoji_set), epochs=3, **{**SMALL, "batch_size": 4})
    with pytest.raises(CheckpointError, match="batch-size"):
        train_emoji_classifier(other, parts, resume=True, log=lambda _: None)
    train_emoji_classifier(config, parts, resume=True, log=lambda _: None)
    resumed, _ = load_weights(parts / "model.safetensors")
    unbroken, _ = load_weights(whole / "model.safetensors")
    assert resumed.keys() == unbroken.keys()
    assert all(torch.equal(resumed[k], unbroken[k]) for k in unbroken)


def test_cli_trains_and_a_missing_classifier_is_one_message(emoji_set, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["train", "emoji-classifier", "--data", str(emoji_set), "--out", str(out),
                 "--epochs", "1", "--batch-size", "8", "--hidden", "8", "--threads", "1",
                 "--device", "cpu"]) == 0
    assert "held-out top-1" in capsys.readouterr().err
    assert load_emoji_classifier(out)[1]["architecture"]["width"] == 8
    assert main(["train", "emoji-classifier", "--out", str(tmp_path / "x")]) == 1
    assert "--data DIR is needed" in capsys.readouterr().err
    with pytest.raises(CheckpointError, match="holds no emoji classifier.*train emoji-classifier"):
        load_emoji_classifier(tmp_path)


def test_the_bundled_classifier_loads_and_knows_every_emoji():
    from engine.training.emoji_classifier import BUNDLED

    if not BUNDLED.is_dir():
        pytest.skip("no bundled emoji classifier")
    net, config = load_emoji_classifier()
    assert len(config["classes"]) == net.arch["classes"] == 1906
    assert (BUNDLED / "model.safetensors").stat().st_size <= 5 * 2 ** 20
    assert "CC-BY 4.0" in (BUNDLED / "LICENSES.md").read_text()
    assert config["held_out"]["top5"] >= 0.9
    out = logits(net, torch.ones(2, 3, 32, 32))
    assert out.shape == (2, 1906) and torch.isfinite(out).all()
