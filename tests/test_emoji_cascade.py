"""The emoji cascade end to end at test size: train stage I and II a few steps, resume exactly,
and load the IF folders both through diffusers' IF pipelines and the project's own IF path."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from app.cli import main
from engine.errors import CheckpointError
from engine.training.emoji_train import EmojiTrainConfig, train_emoji
from tests.emoji_fixtures import write_emoji_set

SMALL = dict(shape="test", batch_size=4, sample_steps=2, num_threads=1, device="cpu",
             warmup=2, save_every_s=None)


@pytest.fixture(scope="module")
def emoji_set(tmp_path_factory):
    return write_emoji_set(tmp_path_factory.mktemp("emoji") / "set", copies=1)


@pytest.fixture(scope="module")
def cascade(emoji_set, tmp_path_factory):
    """(stage I run, stage II run, a folder holding both IF folders side by side)."""
    root = tmp_path_factory.mktemp("runs")
    base = train_emoji(EmojiTrainConfig("base", str(emoji_set), epochs=1, **SMALL),
                       root / "base", progress=False)
    up = train_emoji(EmojiTrainConfig("upscale", str(emoji_set), epochs=1,
                                      text_encoder=str(base.pipeline),
                                      **{**SMALL, "shape": ""}), root / "up", progress=False)
    bundle = root / "bundle"
    shutil.copytree(base.pipeline, bundle / "IF-I-emoji")
    shutil.copytree(up.pipeline, bundle / "IF-II-emoji")
    return base, up, bundle


def test_a_run_writes_its_checkpoint_losses_samples_and_if_folder(cascade):
    base, _, _ = cascade
    steps = base.steps_done
    # 9 images weigh 6.5 (a flag 1/4, a keycap 1/2): 6 draws an epoch, in batches of 4
    assert steps == 2
    rows = (base.out_dir / "loss.csv").read_text().splitlines()
    assert rows[0] == "step,epoch,loss,simple,vlb,lr" and len(rows) == steps + 1
    assert (base.out_dir / "samples" / "epoch-0001.png").is_file()
    config = json.loads((base.out_dir / "config.json").read_text())
    assert config["epochs_done"] == 1 and config["steps_done"] == steps
    for part in ("model_index.json", "unet/config.json", "scheduler/scheduler_config.json",
                 "text_encoder/config.json", "tokenizer/spiece.model"):
        assert (base.pipeline / part).is_file(), part
    hints = json.loads((base.pipeline / "diffusion_canvas.json").read_text())
    assert "grinning" in hints["words"] and "twemoji" in hints["words"]


def test_resume_continues_exactly(emoji_set, tmp_path):
    config = EmojiTrainConfig("base", str(emoji_set), epochs=2, **SMALL)
    whole = train_emoji(config, tmp_path / "whole", progress=False)
    first = train_emoji(config, tmp_path / "split", progress=False, max_steps=1)  # mid-epoch
    assert first.steps_done == 1
    # a --max-steps stop mid-epoch leaves a usable IF folder and its own sample grid
    assert first.pipeline is not None and (first.pipeline / "unet" / "config.json").is_file()
    assert (tmp_path / "split" / "samples" / "step-000001.png").is_file()
    assert json.loads((tmp_path / "split" / "config.json").read_text())["steps_done"] == 1
    rest = train_emoji(config, tmp_path / "split", resume=True, progress=False)
    assert rest.steps_done == whole.steps_done == 4
    from safetensors.torch import load_file

    a = load_file(tmp_path / "whole" / "model.safetensors")
    b = load_file(tmp_path / "split" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert ((tmp_path / "whole" / "loss.csv").read_text()
            == (tmp_path / "split" / "loss.csv").read_text())


def test_the_run_clock_adds_up_over_resumes_and_names_the_hardware(emoji_set, tmp_path):
    from engine.devices import cpu_info
    from engine.training import checkpoint as ckpt

    config = EmojiTrainConfig("base", str(emoji_set), epochs=3, **SMALL)
    out = tmp_path / "run"
    train_emoji(config, out, progress=False, max_steps=1)
    first = json.loads((out / "config.json").read_text())
    assert first["train_seconds"] > 0 and first["train_seconds_from_step"] == 0
    assert first["hardware"] == [f"{cpu_info().model}, {torch.get_num_threads()} thread(s)"]
    train_emoji(config, out, resume=True, progress=False, max_steps=1)
    second = json.loads((out / "config.json").read_text())
    assert second["train_seconds"] > first["train_seconds"]  # the first process's time kept
    assert second["hardware"] == first["hardware"] and second["train_seconds_from_step"] == 0
    state = ckpt.load_training_state(out)  # a run saved before the clock existed
    del state["clock"]
    ckpt.save_training_state(out, state)
    train_emoji(config, out, resume=True, progress=False, max_steps=1)
    old = json.loads((out / "config.json").read_text())
    assert old["train_seconds_from_step"] == 2 and old["train_seconds"] < second["train_seconds"]


def test_resume_refuses_other_settings_and_a_fresh_start_refuses_a_run(emoji_set, tmp_path):
    config = EmojiTrainConfig("base", str(emoji_set), epochs=1, **SMALL)
    train_emoji(config, tmp_path / "run", progress=False, max_steps=1)
    with pytest.raises(CheckpointError, match="lr 0.0005 \\(saved\\) vs 0.01"):
        train_emoji(EmojiTrainConfig("base", str(emoji_set), epochs=1, **{**SMALL, "lr": 0.01}),
                    tmp_path / "run", resume=True, progress=False)
    with pytest.raises(CheckpointError, match="--resume"):
        train_emoji(config, tmp_path / "run", progress=False)


def test_cli_trains_and_refuses_a_changed_setting_on_resume(emoji_set, tmp_path, capsys):
    run = tmp_path / "cli"
    common = ["train", "emoji-base", "--data", str(emoji_set), "--out", str(run), "--threads",
              "1", "--device", "cpu"]
    assert main([*common, "--shape", "test", "--batch-size", "4", "--max-steps", "1"]) == 0
    assert "trained emoji-base to step 1" in capsys.readouterr().err
    assert main([*common, "--resume", "--batch-size", "8"]) == 1
    assert "batch-size 4 (saved) vs 8 (now)" in capsys.readouterr().err


def test_diffusers_if_pipelines_load_and_generate(cascade):
    from diffusers import IFPipeline, IFSuperResolutionPipeline

    _, _, bundle = cascade
    one = IFPipeline.from_pretrained(bundle / "IF-I-emoji", local_files_only=True)
    g = torch.Generator().manual_seed(0)
    low = one("grinning face", num_inference_steps=2, output_type="pt", generator=g).images
    assert low.shape == (1, 3, 32, 32) and torch.isfinite(low).all()
    cond, uncond = one.encode_prompt("grinning face", do_classifier_free_guidance=True)
    two = IFSuperResolutionPipeline.from_pretrained(bundle / "IF-II-emoji",
                                                    local_files_only=True)
    high = two(image=low * 2 - 1, prompt_embeds=cond, negative_prompt_embeds=uncond,
               num_inference_steps=2, output_type="pt", generator=g).images
    assert high.shape == (1, 3, 64, 64) and torch.isfinite(high).all()


def test_the_project_if_path_runs_both_stages(cascade, if_environment, tmp_path):
    from engine.models.deepfloyd import IFStageOne
    from engine.models.registry import load_model

    _, _, bundle = cascade
    model = load_model(str(bundle / "IF-I-emoji"), device="cpu")
    assert isinstance(model, IFStageOne) and model.image_size == 32
    assert model.default_prompt == "grinning face" and model.default_guidance == 3.0
    assert "rocket" in model.words
    up = model.upscaler()
    assert up.scale == 2 and up.image_size == 64
    from engine.training.emoji_model import STAGE_TWO_STEPS

    assert up.num_steps() == STAGE_TWO_STEPS  # the folder's own default, not IF's 50
    out = tmp_path / "samples"
    assert main(["sample", "--model", str(bundle / "IF-I-emoji"), "--steps", "3", "-n", "1",
                 "--upscale", "--device", "cpu", "--out", str(out)]) == 0
    from PIL import Image

    with Image.open(out / "sample-000.png") as im:
        assert im.size == (64, 64)


@pytest.mark.parametrize("hint, expected", [
    ({"default_steps": 25}, 25), ({}, None), ({"default_steps": 0}, None),
    ({"default_steps": 5000}, None), ({"default_steps": "25"}, None),
    ({"default_steps": True}, None), ({"default_steps": 2.5}, None)])
def test_a_stage_two_default_steps_hint_is_used_only_when_usable(hint, expected):
    from engine.models.deepfloyd_upscale import hinted_steps

    assert hinted_steps(hint, 980) == expected


def test_a_bundle_is_fp16_and_loads_through_the_if_path(cascade, tmp_path):
    from safetensors import safe_open

    from engine.models.registry import load_model
    from engine.training.emoji_bundle import main as bundle_main

    base, up, _ = cascade
    out = tmp_path / "emoji"
    assert bundle_main([str(base.out_dir), str(up.out_dir), str(out)]) == 0
    weights = out / "IF-I-emoji" / "unet" / "diffusion_pytorch_model.safetensors"
    with safe_open(str(weights), framework="pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}  # noqa: SIM118
    notes = (out / "TRAINING.md").read_text()
    assert f"steps {base.steps_done}" in notes and "IF-II-emoji" in notes
    assert "training time 0.0 h; hardware: " in notes  # a fresh run: counted from its start
    assert "CC-BY 4.0" in (out / "LICENSES.md").read_text()
    model = load_model(str(out / "IF-I-emoji"), device="cpu")
    # fp16 on disk, the CPU's precision in memory (bf16 where it is native, issue 15)
    assert model.unet.dtype == model.dtype != torch.float16 and model.upscaler().scale == 2
    assert bundle_main([str(up.out_dir / "missing"), str(up.out_dir), str(tmp_path / "x")]) == 1


def test_emoji_is_not_bundled_yet(capsys):
    from engine.models.registry import bundled_folder

    if bundled_folder("emoji").is_dir():
        pytest.skip("the emoji model is bundled")
    assert main(["sample", "--model", "emoji", "--out", "unused"]) == 1
    assert "not bundled yet" in capsys.readouterr().err


class _Kill(Exception):
    pass


@pytest.mark.parametrize("point", ["staged config.json", "committed", "moved loss.csv"])
def test_an_epoch_save_stopped_anywhere_resumes_exactly(emoji_set, tmp_path, point):
    """The epoch's weights, state, config and loss.csv are one checkpoint (issue 16)."""
    from engine.training import checkpoint as ckpt

    config = EmojiTrainConfig("base", str(emoji_set), epochs=2, **SMALL)
    whole = train_emoji(config, tmp_path / "whole", progress=False)
    out = tmp_path / "stopped"
    seen = []

    def stop(step: str) -> None:
        if step == point:
            seen.append(step)
            if len(seen) == 2:  # the second epoch's save
                raise _Kill

    ckpt.fault = stop
    try:
        with pytest.raises(_Kill):
            train_emoji(config, out, progress=False)
    finally:
        ckpt.fault = None
    rest = train_emoji(config, out, resume=True, progress=False)
    assert rest.steps_done == whole.steps_done
    from safetensors.torch import load_file

    a, b = load_file(tmp_path / "whole" / "model.safetensors"), load_file(out / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "whole" / "loss.csv").read_text() == (out / "loss.csv").read_text()
