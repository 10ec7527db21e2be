"""scripts/train_emoji_gpu.py, the prepared GPU run (issue 12), on the CPU at test size: stage I
then stage II, each continued by the next call, what the session needs copied under OUT."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.emoji_fixtures import write_emoji_set

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "train_emoji_gpu.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("train_emoji_gpu", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def args(tmp_path: Path, data: Path, *more: str) -> list[str]:
    return ["--data", str(data), "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "out"),
            "--device", "cpu", "--precision", "fp32", "--batch-size", "4", "--shape", "test",
            "--threads", "1", "--sample-steps", "2", "--base-epochs", "2", "--up-epochs", "1",
            *more]


def test_a_dry_run_prints_the_plan_and_trains_nothing(script, tmp_path, capsys):
    assert script.main(args(tmp_path, tmp_path / "data", "--dry-run")) == 0
    out = capsys.readouterr().out
    assert "stage I" in out and "to train" in out and "emoji_bundle" in out
    assert not (tmp_path / "runs").exists()


def test_calls_train_stage_one_then_two_and_continue(script, tmp_path, capsys):
    data = write_emoji_set(tmp_path / "data", copies=1)
    # a budget too small for stage I's two epochs: the first call stops inside them
    assert script.main(args(tmp_path, data, "--budget-s", "1", "--chunk", "1")) == 0
    assert (tmp_path / "runs" / "base" / "training_state.pt").is_file()
    assert not (tmp_path / "runs" / "up").exists(), "stage II waits for stage I's last epoch"
    assert "continues next call" in capsys.readouterr().out
    assert script.main(args(tmp_path, data, "--budget-s", "600")) == 0
    printed = capsys.readouterr().out
    assert "stage I finished, stage II finished" in printed
    out = tmp_path / "out"
    assert (out / "base" / "pipeline" / "IF-I-emoji" / "model_index.json").is_file()
    assert (out / "up" / "pipeline" / "IF-II-emoji" / "model_index.json").is_file()
    assert (out / "base" / "loss.csv").is_file()
    assert not (out / "base" / "training_state.pt").exists(), "states stay in the runs folder"
    base = json.loads((out / "base" / "config.json").read_text())
    assert base["epochs_done"] == 2
    up = json.loads((out / "up" / "config.json").read_text())
    assert up["config"]["text_encoder"].endswith("IF-I-emoji")
    assert script.main(args(tmp_path, data)) == 0, "a finished run is left as it is"
    assert json.loads((out / "base" / "config.json").read_text())["steps_done"] == \
        base["steps_done"]
