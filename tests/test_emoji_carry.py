"""Carrying an emoji run to another machine (engine/training/emoji_carry.py): pack a run's last
state small, unpack it elsewhere, and `--resume` goes on at the same step with the carried EMA
weights, the whole loss history, the clock, and a fresh warm-up."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

from engine.errors import CheckpointError
from engine.training import checkpoint as ckpt
from engine.training import emoji_carry
from engine.training.emoji_train import EmojiTrainConfig, lr_at, train_emoji
from tests.emoji_fixtures import TINY_TRAINING, write_emoji_set

SETTINGS = {**TINY_TRAINING, "warmup": 4}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("carry")
    data = write_emoji_set(root / "set", copies=1)
    config = EmojiTrainConfig("base", str(data), epochs=3, **SETTINGS)
    result = train_emoji(config, root / "run", progress=False, max_steps=3)  # mid-epoch 2
    return data, config, result


def test_pack_keeps_the_ema_in_fp16_and_is_smaller_than_the_state(run, tmp_path):
    _, _, result = run
    carry = emoji_carry.pack(result.out_dir, tmp_path / "carry")
    state = ckpt.load_training_state(result.out_dir)
    ema = load_file(carry / emoji_carry.EMA_FILE)
    assert ema.keys() == state["ema"]["shadow"].keys()
    for key, value in ema.items():
        original = state["ema"]["shadow"][key]
        if original.is_floating_point():
            assert value.dtype == torch.float16
            assert torch.allclose(value.float(), original, atol=1e-3, rtol=1e-3), key
    info = json.loads((carry / emoji_carry.CARRY).read_text())
    assert info["step"] == 3 and info["stage"] == "base"
    assert (carry / "tokenizer" / "spiece.model").read_bytes() == (
        result.out_dir / "tokenizer" / "spiece.model").read_bytes()
    readme = (carry / "README.md").read_text()
    assert "CC-BY 4.0" in (carry / "LICENSES.md").read_text()
    assert "step 3" in readme and "emoji_carry unpack" in readme and "--resume" in readme
    size = sum(f.stat().st_size for f in carry.rglob("*") if f.is_file())
    assert size < 0.4 * (result.out_dir / ckpt.STATE).stat().st_size


def test_an_unpacked_run_resumes_at_its_step_with_a_fresh_warmup(run, tmp_path):
    data, config, result = run
    carry = emoji_carry.pack(result.out_dir, tmp_path / "carry")
    moved = emoji_carry.unpack(carry, tmp_path / "elsewhere" / "run")
    shutil.move(str(data), str(tmp_path / "data"))  # the set lies elsewhere on the new machine
    try:
        config = EmojiTrainConfig("base", str(tmp_path / "data"), epochs=3, **SETTINGS)
        done = train_emoji(config, moved, resume=True, progress=False, max_steps=2)
    finally:
        shutil.move(str(tmp_path / "data"), str(data))
    assert done.steps_done == 5
    rows = (moved / "loss.csv").read_text().splitlines()
    before = (result.out_dir / "loss.csv").read_text().splitlines()
    assert len(rows) == 6 and rows[:4] == before[:4]  # the carried history, then two new steps
    lrs = [float(row.split(",")[-1]) for row in rows[4:]]
    rewarmed = EmojiTrainConfig("base", str(data), **SETTINGS, rewarm_from=3)
    assert lrs == pytest.approx([lr_at(rewarmed, 3), lr_at(rewarmed, 4)])
    assert lrs[0] == pytest.approx(config.lr / 4)  # without the warm-up it would be config.lr
    state = ckpt.load_training_state(moved)
    assert state["settings"]["rewarm_from"] == 3 and state["optimizer"]["state"]  # moments again
    record = json.loads((moved / "config.json").read_text())
    assert record["steps_done"] == 5 and record["train_seconds"] > 0


def test_the_resumed_model_starts_from_the_carried_ema(run, tmp_path):
    data, _, result = run
    carry = emoji_carry.pack(result.out_dir, tmp_path / "carry")
    moved = emoji_carry.unpack(carry, tmp_path / "run")
    state = ckpt.load_training_state(moved)
    carried = load_file(carry / emoji_carry.EMA_FILE)
    assert all(torch.equal(state["model"][k], carried[k].float()) for k in carried
               if carried[k].is_floating_point())
    assert state["optimizer"] is None
    weights, _ = ckpt.load_weights(moved / ckpt.WEIGHTS)  # so --init-from takes it too
    assert weights.keys() == carried.keys()


def test_bad_folders_get_one_message(run, tmp_path):
    _, _, result = run
    with pytest.raises(CheckpointError, match="nothing to resume"):
        emoji_carry.pack(tmp_path, tmp_path / "carry")
    with pytest.raises(CheckpointError, match="not a carry folder"):
        emoji_carry.unpack(tmp_path, tmp_path / "run")
    carry = emoji_carry.pack(result.out_dir, tmp_path / "carry")
    (carry / emoji_carry.LOSSES_FILE).unlink()
    with pytest.raises(CheckpointError, match="incomplete"):
        emoji_carry.unpack(carry, tmp_path / "run")
    carry = emoji_carry.pack(result.out_dir, tmp_path / "carry")  # packing again replaces it
    with pytest.raises(CheckpointError, match="not empty"):
        emoji_carry.unpack(carry, result.out_dir)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "mine.txt").write_text("keep")
    with pytest.raises(CheckpointError, match="not a carry folder"):
        emoji_carry.pack(result.out_dir, tmp_path / "busy")
    assert (tmp_path / "busy" / "mine.txt").read_text() == "keep"


def test_the_command_line_packs_and_unpacks(run, tmp_path, capsys):
    _, _, result = run
    assert emoji_carry.main(["pack", str(result.out_dir), str(tmp_path / "c")]) == 0
    assert "packed" in capsys.readouterr().out
    assert emoji_carry.main(["unpack", str(tmp_path / "c"), str(tmp_path / "r")]) == 0
    assert "--resume" in capsys.readouterr().out
    assert emoji_carry.main(["unpack", str(tmp_path / "nothing"), str(tmp_path / "r2")]) == 2
    assert "not a carry folder" in capsys.readouterr().err


def _stage_two(data, encoder):
    return EmojiTrainConfig("upscale", str(data), epochs=2, text_encoder=str(encoder),
                            **{**SETTINGS, "shape": ""})


def _packed_stage_two(run, tmp_path):
    """A 2-step stage II run on a copy of the stage I folder in tmp_path/old, packed."""
    data, _, base = run
    shutil.copytree(base.out_dir / "pipeline" / "IF-I-emoji", tmp_path / "old" / "IF-I-emoji")
    config = _stage_two(data, tmp_path / "old" / "IF-I-emoji")
    up = train_emoji(config, tmp_path / "up", progress=False, max_steps=2)
    return emoji_carry.pack(up.out_dir, tmp_path / "carry")


def test_a_stage_two_run_is_carried_with_its_stage_one_folder_where_it_lies_now(run, tmp_path):
    data, _, base = run
    carry = _packed_stage_two(run, tmp_path)
    shutil.rmtree(carry / emoji_carry.STAGE1_TEXT)  # a carry from before it held its encoder
    shutil.move(str(tmp_path / "old"), str(tmp_path / "new"))  # another machine's layout
    with pytest.raises(CheckpointError, match="--text-encoder DIR"):
        emoji_carry.unpack(carry, tmp_path / "moved")
    moved = emoji_carry.unpack(carry, tmp_path / "moved", tmp_path / "new" / "IF-I-emoji")
    again = _stage_two(data, (tmp_path / "new" / "IF-I-emoji").resolve())
    done = train_emoji(again, moved, resume=True, progress=False, max_steps=1)
    assert done.steps_done == 3
    with pytest.raises(CheckpointError, match="applies to a carried emoji-upscale run"):
        emoji_carry.unpack(emoji_carry.pack(base.out_dir, tmp_path / "c1"), tmp_path / "b",
                           tmp_path / "new" / "IF-I-emoji")


def test_a_stage_two_carry_brings_its_text_encoder_along(run, tmp_path):
    carry = _packed_stage_two(run, tmp_path)
    assert (carry / emoji_carry.STAGE1_TEXT / "text_encoder" / "config.json").is_file()
    assert emoji_carry.STAGE1_TEXT in (carry / "README.md").read_text()
    shutil.rmtree(tmp_path / "old")  # stage I's folder did not come to the new machine
    moved = emoji_carry.unpack(carry, tmp_path / "moved")
    encoder = (moved / emoji_carry.STAGE1_TEXT).resolve()
    saved = json.loads((moved / ckpt.CONFIG).read_text())
    assert saved["config"]["text_encoder"] == str(encoder)
    done = train_emoji(_stage_two(run[0], encoder), moved, resume=True, progress=False,
                       max_steps=1)
    assert done.steps_done == 3
