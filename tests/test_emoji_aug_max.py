"""Stage II's augmentation range (`train emoji-upscale --aug-max LEVEL`): the low-resolution
input is noised to levels below LEVEL only, the folder says so, and the app's stage II refuses
a level it was not trained on. A run saved before the setting existed still resumes."""

from __future__ import annotations

import json

import pytest
import torch

from app.cli import main
from engine.errors import CheckpointError, EngineError, ModelError
from engine.training import checkpoint as ckpt
from engine.training import emoji_train
from engine.training.emoji_train import EmojiTrainConfig, train_emoji
from tests.emoji_fixtures import TINY_TRAINING, write_emoji_set

STAGE_TWO = {**TINY_TRAINING, "shape": ""}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("aug")
    data = write_emoji_set(root / "set", copies=1)
    base = train_emoji(EmojiTrainConfig("base", str(data), epochs=1, **TINY_TRAINING),
                       root / "base", progress=False)
    return root, data, base.pipeline


def _levels_drawn(monkeypatch, config: EmojiTrainConfig, out) -> list[int]:
    """Every augmentation level the stage II steps of `config` trained on."""
    levels: list[int] = []
    call = emoji_train.StepLoss.__call__

    def spy(self, step_global, scaler, *inputs):
        levels.extend(inputs[-1].tolist())
        return call(self, step_global, scaler, *inputs)

    monkeypatch.setattr(emoji_train.StepLoss, "__call__", spy)
    train_emoji(config, out, progress=False, max_steps=6)
    return levels


def test_stage_two_trains_on_levels_below_aug_max_only(trained, monkeypatch, tmp_path):
    root, data, encoder = trained
    narrow = EmojiTrainConfig("upscale", str(data), epochs=3, text_encoder=str(encoder),
                              aug_max=300, **STAGE_TWO)
    levels = _levels_drawn(monkeypatch, narrow, tmp_path / "narrow")
    assert len(levels) == 6 * STAGE_TWO["batch_size"]
    assert max(levels) < 300
    wide = EmojiTrainConfig("upscale", str(data), epochs=3, text_encoder=str(encoder),
                            **STAGE_TWO)
    assert max(_levels_drawn(monkeypatch, wide, tmp_path / "wide")) >= 300, \
        "the default draws from all 1000 levels, as IF's stage II"


def test_the_folder_says_its_levels_and_the_app_refuses_others(trained, tmp_path):
    from engine.models.deepfloyd_upscale import IFStageTwo

    root, data, encoder = trained
    config = EmojiTrainConfig("upscale", str(data), epochs=1, text_encoder=str(encoder),
                              aug_max=400, **STAGE_TWO)
    folder = train_emoji(config, tmp_path / "up", progress=False).pipeline
    assert json.loads((folder / "diffusion_canvas.json").read_text())["noise_levels"] == 400
    stage = IFStageTwo(folder, torch.device("cpu"), torch.float32, low_size=32)
    assert stage.noise_levels == 400
    low = torch.zeros(1, 3, 32, 32)
    cond = torch.zeros(1, 4, stage.embedding_dim)
    g = torch.Generator().manual_seed(0)
    out = stage.upscale(low, cond, cond, g, noise_level=250, steps=2)
    assert out.shape == (1, 3, 64, 64)
    with pytest.raises(ModelError, match="between 0 and 399"):
        stage.upscale(low, cond, cond, g, noise_level=400, steps=2)


def test_a_run_saved_before_aug_max_existed_still_resumes(trained, tmp_path):
    root, data, encoder = trained
    config = EmojiTrainConfig("upscale", str(data), epochs=2, text_encoder=str(encoder),
                              **STAGE_TWO)
    run = tmp_path / "old"
    train_emoji(config, run, progress=False, max_steps=2)
    state = ckpt.load_training_state(run)
    del state["settings"]["aug_max"]  # as every run saved before the setting was
    ckpt.save_training_state(run, state)
    done = train_emoji(config, run, resume=True, progress=False, max_steps=1)
    assert done.steps_done == 3
    narrower = EmojiTrainConfig("upscale", str(data), epochs=2, text_encoder=str(encoder),
                                aug_max=500, **STAGE_TWO)
    with pytest.raises(CheckpointError, match="aug-max 1000 \\(saved\\) vs 500"):
        train_emoji(narrower, run, resume=True, progress=False, max_steps=1)


@pytest.mark.parametrize("level", [250, 1001])
def test_aug_max_must_cover_the_level_stage_two_runs_at(level, tmp_path, capsys):
    assert main(["train", "emoji-upscale", "--out", str(tmp_path / "r"), "--data",
                 str(tmp_path / "missing"), "--aug-max", str(level)]) != 0
    assert "--aug-max" in capsys.readouterr().err


def test_aug_max_is_stage_two_s_option(tmp_path, capsys):
    assert main(["train", "emoji-base", "--out", str(tmp_path / "r"), "--data",
                 str(tmp_path / "missing"), "--aug-max", "400"]) != 0
    assert "--aug-max applies to emoji-upscale" in capsys.readouterr().err


def test_the_config_refuses_a_range_without_the_run_level():
    with pytest.raises(EngineError, match="aug-max must be above 250"):
        EmojiTrainConfig("upscale", "", text_encoder="x", aug_max=200).validate()
