"""`train emoji-* --init-from RUN`: a new run that starts from another run's EMA weights (stage II
again on a later stage I's text encoder, or settings a resume refuses), and its refusals."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from app.cli import main
from engine.errors import CheckpointError
from engine.training.emoji_train import EmojiTrainConfig, train_emoji
from tests.emoji_fixtures import TINY_TRAINING, write_emoji_set


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("init")
    data = write_emoji_set(root / "set", copies=1)
    base = train_emoji(EmojiTrainConfig("base", str(data), epochs=1, **TINY_TRAINING),
                       root / "base", progress=False)
    up = train_emoji(EmojiTrainConfig("upscale", str(data), epochs=1,
                                      text_encoder=str(base.pipeline),
                                      **{**TINY_TRAINING, "shape": ""}),
                     root / "up", progress=False)
    return data, base, up


def _close(a: dict, b: dict, tol: float) -> bool:
    return a.keys() == b.keys() and all(
        torch.allclose(a[k].float(), b[k].float(), atol=tol, rtol=0) for k in a)


def _differ(a: dict, b: dict) -> bool:
    return any(not torch.equal(a[k], b[k]) for k in a if a[k].is_floating_point())


@pytest.mark.parametrize("stage", ["base", "upscale"])
def test_a_new_run_starts_from_the_old_runs_weights(runs, tmp_path, stage):
    data, base, up = runs
    old = base if stage == "base" else up
    extra = {} if stage == "base" else {"text_encoder": str(base.pipeline), "shape": ""}
    # a step of lr 1e-9 moves no weight by more than ~1e-8 (Adam steps are about lr)
    config = EmojiTrainConfig(stage, str(data), epochs=1, init_from=str(old.out_dir),
                              **{**TINY_TRAINING, **extra, "lr": 1e-9, "warmup": 0})
    new = train_emoji(config, tmp_path / "new", progress=False, max_steps=1)
    before = load_file(old.out_dir / "model.safetensors")
    after = load_file(new.out_dir / "model.safetensors")
    assert _close(before, after, 1e-6)
    fresh = train_emoji(EmojiTrainConfig(stage, str(data), epochs=1, seed=1,
                                         **{**TINY_TRAINING, **extra, "lr": 1e-9,
                                            "warmup": 0}),
                        tmp_path / "fresh", progress=False, max_steps=1)
    assert _differ(before, load_file(fresh.out_dir / "model.safetensors"))  # the test can fail
    if stage == "base":  # the weights index the old run's tokenizer pieces
        assert ((new.out_dir / "tokenizer" / "spiece.model").read_bytes()
                == (old.out_dir / "tokenizer" / "spiece.model").read_bytes())


def test_the_run_records_where_it_started_and_resumes(runs, tmp_path):
    data, base, up = runs
    config = EmojiTrainConfig("upscale", str(data), epochs=2, init_from=str(up.out_dir),
                              text_encoder=str(base.pipeline), **{**TINY_TRAINING, "shape": ""})
    train_emoji(config, tmp_path / "new", progress=False, max_steps=1)
    state = torch.load(tmp_path / "new" / "training_state.pt", weights_only=True)
    assert state["settings"]["init_from"] == str(up.out_dir)
    done = train_emoji(config, tmp_path / "new", resume=True, progress=False)
    assert done.epochs_done == 2
    other = EmojiTrainConfig("upscale", str(data), epochs=2, init_from=str(tmp_path),
                             text_encoder=str(base.pipeline), **{**TINY_TRAINING, "shape": ""})
    with pytest.raises(CheckpointError, match="init-from"):
        train_emoji(other, tmp_path / "new", resume=True, progress=False)


def test_a_run_of_another_stage_or_a_damaged_one_is_refused(runs, tmp_path):
    data, base, up = runs
    wrong = EmojiTrainConfig("upscale", str(data), epochs=1, init_from=str(base.out_dir),
                             text_encoder=str(base.pipeline), **{**TINY_TRAINING, "shape": ""})
    with pytest.raises(CheckpointError, match="stage base.*this one is stage upscale"):
        train_emoji(wrong, tmp_path / "a", progress=False, max_steps=1)
    missing = EmojiTrainConfig("base", str(data), epochs=1, init_from=str(tmp_path / "none"),
                               **TINY_TRAINING)
    with pytest.raises(CheckpointError, match="cannot be read"):
        train_emoji(missing, tmp_path / "b", progress=False, max_steps=1)
    import shutil

    damaged = tmp_path / "damaged"
    shutil.copytree(base.out_dir, damaged)
    weights = damaged / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-16] + b"\0" * 16)
    config = EmojiTrainConfig("base", str(data), epochs=1, init_from=str(damaged),
                              **TINY_TRAINING)
    with pytest.raises(CheckpointError, match="changed or damaged"):
        train_emoji(config, tmp_path / "c", progress=False, max_steps=1)


def test_the_cli_takes_init_from_for_emoji_only(runs, tmp_path, capsys):
    data, base, _ = runs
    assert main(["train", "emoji-base", "--data", str(data), "--out", str(tmp_path / "new"),
                 "--init-from", str(base.out_dir), "--shape", "test", "--batch-size", "4",
                 "--threads", "1", "--device", "cpu", "--max-steps", "1"]) == 0
    assert "trained emoji-base to step 1" in capsys.readouterr().err
    assert main(["train", "denoiser", "--out", str(tmp_path / "d"), "--init-from",
                 str(base.out_dir)]) == 1
    assert "--init-from applies to the emoji trainers" in capsys.readouterr().err
    assert main(["train", "emoji-classifier", "--data", str(data), "--out",
                 str(tmp_path / "c"), "--init-from", str(base.out_dir)]) == 1
    assert "does not apply to the emoji classifier" in capsys.readouterr().err
    assert main(["train", "emoji-base", "--data", str(data), "--out", str(tmp_path / "h"),
                 "--holdout-style", "google"]) == 1
    assert "--holdout-style applies to emoji-classifier" in capsys.readouterr().err
