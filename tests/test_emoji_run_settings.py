"""The emoji training commands' shared settings (app/commands/common.py): with --resume a value
left out and the data folder take the saved run's, one given on the command line stays; the
saved data folder comes from the training state's "emoji:" source."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from app.commands.common import emoji_run_settings, emoji_state_settings
from engine.errors import EngineError
from engine.training.checkpoint import save_training_state

OPTIONS = {"epochs": "epochs", "batch_size": "batch_size", "hidden": "width"}


def namespace(tmp_path, **given) -> argparse.Namespace:
    values = {"out": str(tmp_path / "run"), "data": None, "resume": False, "epochs": None,
              "batch_size": None, "hidden": None}
    return argparse.Namespace(**(values | given))


def holding_a_run(tmp_path):
    """tmp_path/run with a training state file: what --resume checks for before it reads."""
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "training_state.pt").write_bytes(b"")
    return tmp_path


def test_a_resume_fills_in_what_was_left_out(tmp_path):
    holding_a_run(tmp_path)
    saved = {"epochs": 7, "batch_size": 16, "width": 32, "data_dir": str(tmp_path / "set")}
    asked = []
    out, values, data = emoji_run_settings(namespace(tmp_path, resume=True, batch_size=8),
                                           OPTIONS, lambda d: asked.append(d) or saved)
    assert asked == [tmp_path / "run"] and out == tmp_path / "run"
    assert values == {"epochs": 7, "batch_size": 8, "width": 32}, "the given value stays"
    assert data == str((tmp_path / "set").resolve())


def test_without_resume_nothing_saved_is_read_and_data_is_needed(tmp_path):
    def never(_):
        raise AssertionError("read the saved run")

    _, values, data = emoji_run_settings(namespace(tmp_path, data="set", epochs=2), OPTIONS,
                                         never)
    assert values == {"epochs": 2, "batch_size": None, "width": None}
    assert data == str(Path("set").resolve())
    with pytest.raises(EngineError, match="holds no training run to resume"):
        emoji_run_settings(namespace(tmp_path, resume=True), OPTIONS, lambda _: {})
    holding_a_run(tmp_path)
    with pytest.raises(EngineError, match="--data DIR is needed"):
        emoji_run_settings(namespace(tmp_path, resume=True), OPTIONS, lambda _: {})


def test_the_saved_data_folder_is_the_states_emoji_source(tmp_path):
    for source, expected in (("emoji:/data/emoji", "/data/emoji"), ("idx:/data/mnist", None)):
        save_training_state(tmp_path, {"epoch": 1, "optimizer": {},
                                       "settings": {"epochs": 3, "data": {"source": source}}})
        settings = emoji_state_settings(tmp_path)
        assert settings["epochs"] == 3 and settings["data_dir"] == expected
    with pytest.raises(EngineError, match="nothing to resume"):
        emoji_state_settings(tmp_path / "empty")
