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
from tests.emoji_fixtures import KEPT, SKIN_COLOUR, write_cache, write_emojibase, write_tarball


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


def test_cldr_names_and_keywords_join_on_the_code_point(cache, tmp_path):
    cldr = emoji_data.read_emojibase(write_emojibase(tmp_path / "eb.tgz"))
    entries = emoji_data.build_from_tarballs(cache, cldr).entries
    by_name = {(e["name"], e["style"]): e for e in entries}
    wave = by_name["waving hand sign", "twemoji"]
    assert wave["label"] == "waving hand" and wave["keywords"] == ["hand", "wave", "waving"]
    assert emoji_data.texts_of(wave) == ["waving hand", "waving hand sign", "wave"]
    assert emoji_data.keywords_of(wave) == ["hand", "waving"], "a keyword that is a name once"
    assert by_name["egypt flag", "google"]["label"] == "flag egypt"
    keycap = by_name["keycap 0", "google"]  # emojibase has no row for it: its Unicode name
    assert keycap["label"] == "keycap 0" and keycap["keywords"] == []
    vocab = emoji_data.vocabulary(entries)
    assert {"waving", "hand", "happy", "egypt", "grin"} <= set(vocab)
    assert "happy, google" in emoji_data.corpus(entries)


@pytest.mark.parametrize("code, key", [("2764-FE0F", "2764"), ("2764", "2764"),
                                       ("0030-fe0f-20e3", "0030-20E3"), (None, "")])
def test_code_points_match_with_or_without_variation_selectors(code, key):
    assert emoji_data.code_key(code) == key


@pytest.mark.parametrize("text, expected", [("piñata", "pinata"), ("woman’s hat", "woman's hat"),
                                            ("flag: Türkiye", "flag turkiye"),
                                            ("FACE SAVOURING DELICIOUS FOOD",
                                             "face savouring delicious food")])
def test_words_fold_accents_and_curly_apostrophes(text, expected):
    assert emoji_data.words(text) == expected


def test_prompts_are_mostly_the_cldr_name_then_other_names_and_keywords():
    from engine.training.emoji_train import make_prompt

    entry = {"label": "red heart", "name": "heavy black heart", "short_names": ["heart"],
             "keywords": ["emotion", "love", "heart"], "style": "google"}
    g = torch.Generator().manual_seed(0)
    drawn = [make_prompt(entry, g, p_uncond=0.0, p_style=0.0) for _ in range(4000)]
    share = {text: drawn.count(text) / len(drawn) for text in set(drawn)}
    assert set(share) == {"red heart", "heavy black heart", "heart", "emotion", "love"}
    assert share["red heart"] == pytest.approx(0.5 + 0.3 / 3, abs=0.03)
    assert share["emotion"] + share["love"] == pytest.approx(0.2, abs=0.03)
    assert share["heart"] == pytest.approx(0.1, abs=0.02), "a keyword that is a name is a name"


def test_an_emojibase_tarball_without_data_is_one_clear_error(tmp_path):
    path = tmp_path / "eb.tgz"
    path.write_bytes(b"not a tarball")
    with pytest.raises(DataError, match="not a readable emojibase-data tarball"):
        emoji_data.read_emojibase(path)
    write_emojibase(path, rows={"label": "x"})
    with pytest.raises(DataError, match="no package/en/data.json"):
        emoji_data.read_emojibase(path)


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
    licences = (tmp_path / "set" / emoji_data.LICENCES).read_text()
    assert "Apache" in licences and "CC-BY 4.0" in licences
    assert "emojibase-data" in licences and "MIT License" in licences


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


def test_a_set_of_the_old_format_names_the_command_that_remakes_it(cache, tmp_path):
    import json

    folder = tmp_path / "set"
    emoji_data.write_set(emoji_data.build_from_tarballs(cache), folder)
    doc = json.loads((folder / emoji_data.LABELS).read_text())
    doc["format"] = "diffusion-canvas-emoji/1"
    (folder / emoji_data.LABELS).write_text(json.dumps(doc))
    with pytest.raises(DataError, match="of this version.*data emoji --out"):
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
    entries = emoji_data.load_set(out).entries
    assert len(entries) == 9
    assert {e["label"] for e in entries} >= {"grinning face", "waving hand", "flag egypt"}


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
