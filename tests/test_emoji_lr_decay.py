"""The emoji stages' LR decay (`train --decay-from STEP`): constant, then a half cosine to
DECAY_FLOOR of the LR at the run's last step, kept by a resume that does not name it."""

from __future__ import annotations

import json
import math

import pytest

from app.cli import main
from engine.training.emoji_train import DECAY_FLOOR, EmojiTrainConfig, lr_at, train_emoji
from tests.emoji_fixtures import TINY_TRAINING, write_emoji_set


def test_the_lr_is_constant_until_the_decay_then_a_half_cosine_to_the_floor():
    config = EmojiTrainConfig("base", "", lr=1e-3, warmup=0, decay_from=100, total_steps=300)
    assert lr_at(config, 0) == lr_at(config, 99) == lr_at(config, 100) == pytest.approx(1e-3)
    middle = 1e-3 * (DECAY_FLOOR + (1 - DECAY_FLOOR) * 0.5 * (1 + math.cos(math.pi / 2)))
    assert lr_at(config, 200) == pytest.approx(middle)
    assert lr_at(config, 300) == lr_at(config, 400) == pytest.approx(1e-3 * DECAY_FLOOR)
    assert lr_at(config, 150) > lr_at(config, 200) > lr_at(config, 250)
    plain = EmojiTrainConfig("base", "", lr=1e-3, warmup=0, total_steps=300)
    assert lr_at(plain, 299) == pytest.approx(1e-3), "no --decay-from: constant"


def test_a_resume_keeps_the_decay_and_the_loss_csv_records_it(tmp_path):
    data = write_emoji_set(tmp_path / "set", copies=1)
    settings = {**TINY_TRAINING, "warmup": 0}
    config = EmojiTrainConfig("base", str(data), epochs=3, decay_from=2, **settings)
    first = train_emoji(config, tmp_path / "run", progress=False, max_steps=3)
    again = EmojiTrainConfig("base", str(data), epochs=3, **settings)  # no decay named
    done = train_emoji(again, tmp_path / "run", resume=True, progress=False, max_steps=2)
    rows = (tmp_path / "run" / "loss.csv").read_text().splitlines()[1:]
    lrs = [float(row.split(",")[-1]) for row in rows]
    record = json.loads((tmp_path / "run" / "config.json").read_text())
    total = record["config"]["total_steps"]  # epochs x steps per epoch
    expected = EmojiTrainConfig("base", "", lr=config.lr, warmup=0, decay_from=2,
                                total_steps=total)
    assert first.steps_done == 3 and done.steps_done == 5 and total == 6 and len(lrs) == 5
    assert record["config"]["decay_from"] == 2
    wanted = [lr_at(expected, step) for step in range(5)]
    assert lrs == pytest.approx(wanted, abs=1e-6)  # loss.csv keeps 6 decimals
    assert lrs[0] == lrs[1] == lrs[2] == pytest.approx(config.lr) and lrs[4] < lrs[3] < lrs[2]


def test_decay_from_is_a_train_option(tmp_path, capsys):
    assert main(["train", "emoji-base", "--out", str(tmp_path / "r"), "--data",
                 str(tmp_path / "missing"), "--decay-from", "0"]) != 0
    assert "--decay-from" in capsys.readouterr().err


def test_a_state_whose_loss_history_does_not_match_its_step_is_refused(tmp_path):
    """The check stood, by an indentation slip, under `if decay_from:`: a run without a decay
    resumed from a state whose history had lost rows."""
    from engine.errors import CheckpointError
    from engine.training import checkpoint as ckpt

    data = write_emoji_set(tmp_path / "set", copies=1)
    config = EmojiTrainConfig("base", str(data), epochs=3, **TINY_TRAINING)
    train_emoji(config, tmp_path / "run", progress=False, max_steps=3)
    state = ckpt.load_training_state(tmp_path / "run")
    state["losses"] = state["losses"][:-1]
    ckpt.save_training_state(tmp_path / "run", state)
    with pytest.raises(CheckpointError, match="loss history does not match its step"):
        train_emoji(config, tmp_path / "run", resume=True, progress=False, max_steps=1)
