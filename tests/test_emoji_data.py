"""The emoji set (engine/training/emoji_data.py) and the cascade's loss terms (emoji_model.py),
on generated tarballs: nothing is downloaded."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from app.cli import main
from engine.errors import DataError
from engine.training import emoji_data
from engine.training.emoji_model import Diffusion, discretized_gaussian_log_likelihood
from tests.emoji_fixtures import KEPT, SKIN_COLOUR, write_cache, write_tarball


@pytest.fixture
def cache(tmp_path):
    return write_cache(tmp_path / "cache")


def test_base_emoji_are_kept_on_white_without_skin_tones(cache):
    data = emoji_data.build_from_tarballs(cache)
    styles = [e["style"] for e in data.entries]
    assert {s: styles.count(s) for s in KEPT} == KEPT
    assert data.images.shape == (len(data), 64, 64, 3) and data.images.dtype == np.uint8
    assert (data.images[:, 0, 0] == 255).all(), "transparent pixels become white"
    assert tuple(data.images[0, 32, 32]) == (250, 200, 0), "opaque pixels keep their colour"
    skin = (data.images == np.array(SKIN_COLOUR, dtype=np.uint8)).all(axis=-1)
    assert not skin.any(), "no skin-tone variant is kept"
    assert not any(e["category"] == "component" for e in data.entries)


def test_labels_are_lower_case_words_with_weights(cache):
    entries = emoji_data.build_from_tarballs(cache).entries
    by_name = {(e["name"], e["style"]): e for e in entries}
    grin = by_name["grinning face", "google"]
    assert grin["short_names"] == ["grinning"]
    assert grin["category"] == "smileys and emotion"
    assert grin["subcategory"] == "face smiling"
    assert grin["weight"] == 1.0
    assert by_name["egypt flag", "twemoji"]["weight"] == emoji_data.FLAG_WEIGHT
    assert by_name["keycap 0", "google"]["weight"] == emoji_data.KEYCAP_WEIGHT
    assert by_name["egypt flag", "google"]["short_names"] == ["flag eg"]
    assert ("rocket", "twemoji") not in by_name, "no art from that vendor, no image"
    assert "twemoji" in emoji_data.vocabulary(entries)
    assert "grinning face, twemoji" in emoji_data.corpus(entries)


def test_hostile_members_are_neither_read_nor_written(tmp_path):
    work = tmp_path / "deep" / "cache"
    work.mkdir(parents=True)
    path = write_tarball(work / "x.tgz", "google")
    _, pngs = emoji_data.read_tarball(path, "google")
    assert "link.png" not in pngs and not any(".." in name for name in pngs)
    assert not list(tmp_path.rglob("escaped.png"))


def test_write_and_load_round_trip(cache, tmp_path):
    data = emoji_data.build_from_tarballs(cache)
    emoji_data.write_set(data, tmp_path / "set")
    back = emoji_data.load_set(tmp_path / "set")
    assert np.array_equal(back.images, data.images)
    assert back.entries == data.entries
    assert back.fingerprint() == data.fingerprint()
    assert "Apache" in (tmp_path / "set" / emoji_data.LICENCES).read_text()


@pytest.mark.parametrize("damage", ["labels a list", "labels cut", "images pickled",
                                    "images cut", "images other shape"])
def test_a_damaged_set_is_one_clear_error(cache, tmp_path, damage):
    data = emoji_data.build_from_tarballs(cache)
    folder = tmp_path / "set"
    emoji_data.write_set(data, folder)
    labels, images = folder / emoji_data.LABELS, folder / emoji_data.IMAGES
    if damage == "labels a list":
        labels.write_text("[1, 2, 3]")
    elif damage == "labels cut":
        labels.write_bytes(labels.read_bytes()[:40])
    elif damage == "images pickled":
        np.save(images, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    elif damage == "images cut":
        images.write_bytes(images.read_bytes()[:200])
    else:
        np.save(images, data.images[:, :, :, :1])
    with pytest.raises(DataError, match="data emoji --out"):
        emoji_data.load_set(folder)


def test_a_missing_set_names_the_command_that_makes_it(tmp_path):
    with pytest.raises(DataError, match="data emoji --out"):
        emoji_data.load_set(tmp_path)


def test_missing_npm_is_one_message_saying_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(emoji_data.shutil, "which", lambda name: None)
    with pytest.raises(DataError, match="npm is needed.*install Node.js"):
        emoji_data.fetch_tarballs(tmp_path)


def test_data_command_uses_the_cache(cache, tmp_path, capsys):
    out = tmp_path / "set"
    assert main(["data", "emoji", "--out", str(out), "--cache", str(next(iter(cache.values()))
                                                                    .parent)]) == 0
    assert "wrote 9 emoji (5 google, 4 twemoji)" in capsys.readouterr().err
    assert len(emoji_data.load_set(out)) == 9


def test_data_command_refuses_a_corrupt_tarball(cache, tmp_path, capsys):
    path = cache["twemoji"]
    path.write_bytes(path.read_bytes()[:200])
    out = tmp_path / "set"
    assert main(["data", "emoji", "--out", str(out), "--cache", str(path.parent)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a readable emoji-datasource tarball" in err
    assert not (out / emoji_data.IMAGES).exists()


# ----------------------------------------------------------------------------------------------
# the loss terms


def test_learned_range_variance_is_diffusers(monkeypatch):
    from diffusers import DDPMScheduler

    from engine.models.tiny import IF_SCHEDULER

    sched = DDPMScheduler.from_config(IF_SCHEDULER)
    diffusion = Diffusion()
    v = torch.tensor([-0.7, 0.1, 0.9]).view(3, 1, 1, 1)
    for t in (1, 17, 500, 999):
        ours = diffusion.model_log_variance(v, torch.full((3,), t))
        for i in range(3):
            theirs = sched._get_variance(t, predicted_variance=v[i], variance_type="learned_range")
            assert torch.allclose(ours[i].float(), theirs.float(), atol=1e-5), t


def test_vlb_is_zero_when_the_model_is_the_posterior():
    diffusion = Diffusion()
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(4, 3, 8, 8, generator=g) * 2 - 1
    eps = torch.randn(x0.shape, generator=g)
    t = torch.tensor([1, 10, 300, 999])
    x_t = diffusion.q_sample(x0, t, eps)
    exact = diffusion.vlb_bits(x0.double(), x_t.double(), t, eps.double(),
                               -torch.ones_like(x0).double())  # f = 0: log var = log β̃_t
    assert exact.abs().max() < 1e-6
    worse = diffusion.vlb_bits(x0, x_t, t, eps + 0.1, torch.zeros_like(x0))
    assert (worse > 0).all(), "a mean or variance off the posterior costs bits"


def test_discretized_likelihood_sums_to_one_over_the_bins():
    levels = torch.arange(256, dtype=torch.float64) / 127.5 - 1
    for mean, log_var in ((0.1, math.log(0.01)), (-0.95, math.log(0.3))):
        ll = discretized_gaussian_log_likelihood(levels, torch.full_like(levels, mean),
                                                 torch.full_like(levels, log_var))
        assert ll.exp().sum().item() == pytest.approx(1.0, abs=1e-6)


def test_min_snr_weight():
    diffusion = Diffusion()
    t = torch.tensor([0, 999])
    w = diffusion.min_snr_weight(t)
    snr0 = float(diffusion.snr[0])
    assert snr0 > 5 and w[0].item() == pytest.approx(5 / snr0, rel=1e-5)
    assert w[1].item() == pytest.approx(1.0)


def test_a_failed_npm_pack_is_one_message(tmp_path, monkeypatch):
    import subprocess

    def failing(cmd, **kwargs):
        assert cmd[1:3] == ["pack", f"emoji-datasource-google@{emoji_data.NPM_VERSION}"]
        return subprocess.CompletedProcess(cmd, 1, "", "npm error code E404\nnpm error 404 Not "
                                           "Found - GET https://registry.npmjs.org/x")

    monkeypatch.setattr(emoji_data.shutil, "which", lambda name: "/usr/bin/npm")
    monkeypatch.setattr(emoji_data.subprocess, "run", failing)
    with pytest.raises(DataError, match="npm pack emoji-datasource-google@.* failed .*404 Not "
                       "Found.*copy its .tgz into"):
        emoji_data.fetch_tarballs(tmp_path)
