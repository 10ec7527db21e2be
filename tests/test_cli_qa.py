"""A QA pass over the command line (DESIGN.md's contract): edge values that ran, failed late or
said the wrong thing. Each case: one line on stderr, exit 1 (2 for a wrong command), nothing
written where the run failed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.cli import main
from engine.images import read_parameters
from tests.test_cli_errors import write_digit_and_mask


@pytest.fixture(scope="module")
def digit(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("qa-inputs")
    return write_digit_and_mask(root) | {"root": str(root)}


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _one_error(capsys, piece: str) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert piece in err and "Traceback" not in err, err
    return err


def test_frames_of_an_unknown_kind_fail_before_the_run(tiny_model, digit, tmp_path, capsys,
                                                       monkeypatch):
    import app.commands.edit as edit

    monkeypatch.setattr(edit, "run_loop", lambda *a, **k: pytest.fail("the run started"))
    assert main(["edit", "sdedit", "--model", tiny_model, "--image", digit["image"],
                 "--steps", "3", "--out", str(tmp_path / "x.png"),
                 "--frames", str(tmp_path / "f.mp4")]) == 1
    _one_error(capsys, "--frames")
    assert _files(tmp_path) == []


@pytest.mark.parametrize("name", ["x.jpg", "x.JPEG", "x.webp", "x.gif"])
def test_out_named_for_another_format_is_refused(tiny_model, digit, tmp_path, capsys, name):
    """edit writes a PNG (its parameters chunk); a .jpg name would hold PNG bytes."""
    assert main(["edit", "sdedit", "--model", tiny_model, "--image", digit["image"],
                 "--steps", "3", "--out", str(tmp_path / name)]) == 1
    _one_error(capsys, ".png")
    assert _files(tmp_path) == []


@pytest.mark.parametrize("mode", ["anagram", "hybrid"])
def test_strength_without_an_image_is_refused_as_i_start_is(tiny_model, tmp_path, capsys,
                                                            mode):
    """Without --image an illusion starts from pure noise; --strength 0.5 ran and wrote
    i_start 2 into the parameters chunk although the run started at 0."""
    assert main(["edit", mode, "--model", tiny_model, "--prompt", "6", "--prompt2", "9",
                 "--steps", "4", "--strength", "0.5", "--out", str(tmp_path / "x.png")]) == 1
    _one_error(capsys, "--image")
    assert _files(tmp_path) == []
    assert main(["edit", mode, "--model", tiny_model, "--prompt", "6", "--prompt2", "9",
                 "--steps", "4", "--strength", "1", "--out", str(tmp_path / "x.png")]) == 0
    assert read_parameters(tmp_path / "x.png")["i_start"] == 0


@pytest.mark.parametrize("mode", ["sdedit", "img2img"])
def test_one_step_sdedit_runs_as_an_explicit_strength_does(tiny_model, digit, tmp_path, mode):
    """--steps 1 has 2 timesteps, so the only start is 0; the default strength gave
    'i_start must be between 0 and 0' (the engine's name) while --strength 0.7 ran."""
    prompt = ["--prompt", "3"] if mode == "img2img" else []
    for name, extra in (("default.png", []), ("strength.png", ["--strength", "0.7"])):
        assert main(["edit", mode, "--model", tiny_model, "--image", digit["image"], *prompt,
                     "--steps", "1", *extra, "--out", str(tmp_path / name)]) == 0
        assert read_parameters(tmp_path / name)["i_start"] == 0


@pytest.mark.parametrize("argv, piece", [
    (["data", "emoji", "--out", "{file}"], "--out {file} is a file, not a folder"),
    (["data", "emoji", "--out", "{tmp}/set", "--cache", "{file}"],
     "--cache {file} is a file, not a folder"),
    (["data", "emoji", "--out", "{tmp}/set", "--cache", ""], "--cache must be"),
    (["train", "time", "--out", "{file}", "--limit", "8", "--epochs", "1"],
     "--out {file} is a file, not a folder"),
    (["train", "emoji-base", "--out", "{file}", "--data", "{tmp}"],
     "--out {file} is a file, not a folder"),
])
def test_an_out_folder_that_is_a_file_is_named(tmp_path, capsys, argv, piece):
    """It said '{file}: File exists' (the OSError of a mkdir), naming neither option nor cause."""
    file = tmp_path / "a-file"
    file.write_text("not a folder")
    values = {"file": str(file), "tmp": str(tmp_path)}
    assert main([a.format(**values) for a in argv]) == 1
    _one_error(capsys, piece.format(**values))
    assert _files(tmp_path) == ["a-file"]


def test_data_emoji_without_npm_leaves_no_empty_folders(tmp_path, capsys, monkeypatch):
    import shutil

    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "npm"
                        else real(name, *a, **k))
    assert main(["data", "emoji", "--out", str(tmp_path / "set")]) == 1
    _one_error(capsys, "npm is needed")
    assert _files(tmp_path) == [], "no empty set/npm-cache folder"


@pytest.mark.parametrize("option", ["--text-encoder", "--init-from"])
def test_a_refused_emoji_run_leaves_no_empty_out_folder(tmp_path, capsys, option):
    from tests.emoji_fixtures import write_emoji_set

    data = write_emoji_set(tmp_path / "set")
    kind = "emoji-upscale" if option == "--text-encoder" else "emoji-base"
    (tmp_path / "empty").mkdir()
    before = _files(tmp_path)
    assert main(["train", kind, "--out", str(tmp_path / "runs" / "run"), "--data", str(data),
                 option, str(tmp_path / "empty"), "--max-steps", "1", "--threads", "1"]) == 1
    _one_error(capsys, str(tmp_path / "empty"))
    assert _files(tmp_path) == before, "no runs/run left behind"


@pytest.mark.parametrize("argv, piece", [
    (["train", "emoji-upscale", "--shape", "zebra", "--text-encoder", "{tmp}"],
     "--shape applies to emoji-base"),
    (["train", "emoji-base", "--text-encoder", "{tmp}"], "--text-encoder applies to "
     "emoji-upscale"),
    (["train", "time", "--shape", "s32"], "--shape applies to"),
])
def test_an_emoji_option_the_kind_ignores_is_refused(tmp_path, capsys, argv, piece):
    """emoji-upscale took --shape zebra, trained and wrote shape 'zebra' into its record."""
    values = {"tmp": str(tmp_path)}
    argv = [*argv, "--out", "{tmp}/run", "--data", "{tmp}", "--max-steps", "1"]
    if argv[1] == "time":
        argv = argv[:-2]
    assert main([a.format(**values) for a in argv]) == 1
    _one_error(capsys, piece)
    assert _files(tmp_path) == []


@pytest.mark.parametrize("kind", ["emoji-base", "emoji-upscale", "emoji-classifier"])
def test_resume_of_an_empty_folder_says_there_is_no_run(tmp_path, capsys, kind):
    """It asked for --data instead, as if the folder held a run that had lost its data."""
    (tmp_path / "run").mkdir()
    assert main(["train", kind, "--out", str(tmp_path / "run"), "--resume"]) == 1
    _one_error(capsys, "holds no training run to resume")


def test_resume_of_a_model_folder_without_a_training_record(tmp_path, capsys):
    """A model folder (config.json and weights, no training settings) listed eleven 'None
    (saved) vs ...' differences."""
    from engine.models.tiny import save_tiny_digit_model

    folder = save_tiny_digit_model(tmp_path / "model", kind="time")
    before = _files(tmp_path)
    assert main(["train", "time", "--out", str(folder), "--resume", "--limit", "8",
                 "--epochs", "1", "--hidden", "4", "--threads", "1"]) == 1
    err = _one_error(capsys, "no record of the run that trained it")
    assert "None (saved)" not in err
    assert _files(tmp_path) == before


@pytest.mark.parametrize("extra", [["--model", "mnist-time"], ["--prompts", "x.pth"],
                                   ["--dtype", "bf16"], ["--offload", "model"]])
def test_reproduce_part_b_refuses_the_options_it_does_not_read(tmp_path, capsys, monkeypatch,
                                                               extra):
    """Part B trains its own models: --model and --prompts were taken and ignored (minutes of
    training later, figures of models the user had not asked for)."""
    import engine.training.reproduce as reproduce

    monkeypatch.setattr(reproduce, "reproduce_part_b", lambda *a, **k: pytest.fail("ran"))
    assert main(["reproduce", "part-b", "--quick", *extra, "--out", str(tmp_path / "r")]) == 1
    _one_error(capsys, f"{extra[0]} applies to part-a")
    assert _files(tmp_path) == []


def test_two_files_for_the_app_is_a_usage_error_that_says_so(digit, capsys):
    """It said the first file was 'neither a command nor a file to open'."""
    with pytest.raises(SystemExit) as info:
        main([digit["image"], digit["mask"]])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "one file" in err and "neither a command" not in err


def test_reproduce_part_a_still_defaults_to_the_digit_model(tmp_path, monkeypatch, capsys):
    import engine.reproduce_a as part_a

    seen = {}
    monkeypatch.setattr(part_a, "reproduce_part_a",
                        lambda out, model_spec, **k: seen.setdefault("model", model_spec) and [])
    assert main(["reproduce", "part-a", "--quick", "--out", str(tmp_path / "r")]) == 0
    assert seen == {"model": "mnist"}


def test_an_inpaint_png_records_its_repaint_settings(tiny_model, digit, tmp_path):
    """--jump-length and --resample change the result but were missing from its parameters
    chunk, so the file could not be made again from what it says."""
    common = ["edit", "inpaint", "--model", tiny_model, "--image", digit["image"], "--mask",
              digit["mask"], "--steps", "6", "--seed", "3"]
    assert main([*common, "--jump-length", "2", "--resample", "2",
                 "--out", str(tmp_path / "r.png")]) == 0
    assert main([*common, "--out", str(tmp_path / "plain.png")]) == 0
    repaint, plain = (read_parameters(tmp_path / n) for n in ("r.png", "plain.png"))
    assert (repaint["jump_length"], repaint["resample"]) == (2, 2)
    assert "jump_length" not in plain and "resample" not in plain, "defaults stay implicit"
    again = [*common, "--jump-length", str(repaint["jump_length"]), "--resample",
             str(repaint["resample"]), "--out", str(tmp_path / "again.png")]
    assert main(again) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "again.png")),
                          np.asarray(Image.open(tmp_path / "r.png")))
    assert not np.array_equal(np.asarray(Image.open(tmp_path / "plain.png")),
                              np.asarray(Image.open(tmp_path / "r.png")))


def _help(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as info:
        main([*argv, "--help"])
    assert info.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def test_help_is_current(capsys):
    """`train` said 'train a Part B MNIST model' although it trains the emoji stages and the
    classifier too; --precision said 'bf16 autocast on CPU' where auto picks fp32 without
    native bf16; --model left out the bundled name emoji."""
    top = _help(capsys)
    assert "Part B MNIST (denoiser, time, class)" in top and "emoji classifier" in top
    assert "main.py [--model M] [FILE]" in top
    train = _help(capsys, "train")
    assert "bf16 autocast on CPU," not in train and "else fp32" in train
    assert "`data emoji` prepares" in train
    for command in ("sample", "edit", "reproduce"):
        assert "emoji (the bundled colour cascade" in _help(capsys, command)
    assert "a GIF (.gif) or an APNG (.png)" in _help(capsys, "edit")


@pytest.mark.parametrize("mode, extra, option", [
    ("sdedit", ["--mask", "{mask}"], "--mask"),
    ("sdedit", ["--prompt2", "4"], "--prompt2"),
    ("img2img", ["--sigma", "3"], "--sigma"),
    ("hybrid", ["--view", "rot90"], "--view"),
    ("anagram", ["--split", "colour"], "--split"),
    ("anagram", ["--sigma2", "1"], "--sigma2"),
    ("hybrid", ["--jump-length", "2"], "--jump-length"),
    ("sdedit", ["--resample", "2"], "--resample"),
    ("hybrid", ["--view-seed", "3"], "--view-seed"),
    ("hybrid", ["--allow-failure-views"], "--allow-failure-views"),
    ("hybrid", ["--frames-scale", "3"], "--frames-scale"),
])
def test_an_option_the_mode_does_not_read_is_refused(tiny_model, digit, tmp_path, capsys,
                                                     mode, extra, option):
    """Each was taken and ignored: `edit sdedit --mask m.png` ran an SDEdit of the whole image
    (the user meant inpaint); DESIGN: what a run cannot take is an error, not ignored."""
    needs = {"sdedit": ["--image", digit["image"]],
             "img2img": ["--image", digit["image"], "--prompt", "3"],
             "anagram": ["--prompt", "6", "--prompt2", "9"],
             "hybrid": ["--prompt", "1", "--prompt2", "7"]}[mode]
    argv = ["edit", mode, "--model", tiny_model, *needs, "--steps", "2",
            *[a.format(**digit) for a in extra], "--out", str(tmp_path / "x.png")]
    assert main(argv) == 1
    _one_error(capsys, f"{option} ")
    assert _files(tmp_path) == []


def test_the_options_each_mode_reads_still_run(tiny_model, digit, tmp_path):
    base = ["edit", "--model", tiny_model, "--steps", "2"]
    runs = [["inpaint", "--image", digit["image"], "--mask", digit["mask"], "--jump-length",
             "2", "--resample", "2"],
            ["anagram", "--prompt", "6", "--prompt2", "9", "--view", "jigsaw", "--view-seed",
             "3"],
            ["hybrid", "--prompt", "1", "--prompt2", "7", "--sigma", "3", "--frames",
             str(tmp_path / "f.gif"), "--frames-scale", "2"],
            ["anagram", "--prompt", "6", "--prompt2", "9"]]
    for i, extra in enumerate(runs):
        assert main([base[0], extra[0], *base[1:], *extra[1:],
                     "--out", str(tmp_path / f"{i}.png")]) == 0, extra
    assert read_parameters(tmp_path / "3.png")["view"] == "flip", "the default view"
    assert read_parameters(tmp_path / "1.png")["view_seed"] == 3


def test_loading_a_text_encoder_draws_no_progress_bar_on_stderr(tmp_path):
    """transformers drew 'Loading weights: 100%|####| 21/21' on stderr at every IF load, so a
    failure after it was two lines. A fresh process: the bar is set up at import."""
    import os
    import subprocess
    import sys

    from engine.models.tiny import save_tiny_if, save_tiny_t5

    folder = save_tiny_t5(save_tiny_if(tmp_path / "IF-I-tiny"))
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_DISABLE_PROGRESS_BARS"}
    done = subprocess.run([sys.executable, "main.py", "encode-prompts", "--model", str(folder),
                           "--device", "cpu", "--out", str(tmp_path / "p.pth"), "a cat"],
                          cwd=Path(__file__).resolve().parents[1], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Loading weights" not in done.stderr and "%|" not in done.stderr, done.stderr
    assert (tmp_path / "p.pth").is_file()


def test_an_emoji_training_run_as_model_names_its_pipeline(tmp_path, capsys):
    """--model RUN (an emoji-base run folder) said its config.json 'is not the config of a
    model this app can load'; the model is RUN/pipeline/IF-I-emoji."""
    import json

    run = tmp_path / "run"
    (run / "pipeline" / "IF-I-emoji").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"training": {"stage": "base"}}))
    assert main(["sample", "--model", str(run), "--out", str(tmp_path / "s")]) == 1
    _one_error(capsys, f"--model {run / 'pipeline' / 'IF-I-emoji'}")
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("mode", ["anagram", "hybrid"])
def test_an_illusion_on_an_unconditional_model_says_it_needs_prompts_it_cannot_take(
        tmp_path, capsys, mode):
    """Without prompts it asked for --prompt and --prompt2; with them it said the model takes
    no prompt: neither said that the mode cannot run on this model."""
    from engine.models.tiny import save_tiny_digit_model

    model = str(save_tiny_digit_model(tmp_path / "uncond", kind="time"))
    assert main(["edit", mode, "--model", model, "--prompt", "1", "--prompt2", "7",
                 "--steps", "2", "--out", str(tmp_path / "x.png")]) == 1
    _one_error(capsys, "uncond is unconditional, so it cannot")
    assert not (tmp_path / "x.png").exists()


def test_a_plain_pickle_as_prompts_is_one_line_and_never_run(tmp_path, capsys):
    """A pickle.dump file (protocol 4) made torch warn on stderr before the message; a folder
    was 'no such embeddings file'. Neither is unpickled: the payload would write a file."""
    import pickle

    from engine.models.tiny import save_tiny_if

    folder = save_tiny_if(tmp_path / "IF-I-tiny")
    witness = tmp_path / "ran"
    evil = tmp_path / "evil.pth"
    with open(evil, "wb") as f:
        pickle.dump({"": _Payload(str(witness))}, f, protocol=4)
    import warnings

    for prompts, piece in ((evil, "not a readable embeddings file"),
                           (tmp_path, "is a folder, not an embeddings file")):
        with warnings.catch_warnings(record=True) as warned:
            warnings.simplefilter("always")
            assert main(["sample", "--model", str(folder), "--prompts", str(prompts),
                         "--steps", "1", "-n", "1", "--out", str(tmp_path / "s")]) == 1
        _one_error(capsys, piece)
        assert [str(w.message) for w in warned if "pickle" in str(w.message)] == []
    assert not witness.exists() and not (tmp_path / "s").exists()


class _Payload:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


@pytest.mark.parametrize("command", ["sample", "edit"])
def test_more_steps_than_the_model_has_are_recorded_as_run(tmp_path, capsys, command):
    """--steps 10000 on a T = 300 model ran 300 steps but its chunk said steps 10000 (which
    the app then refused as out of its range). Here a model of T = 20."""
    import json

    from engine.models.tiny import save_tiny_digit_model

    model = save_tiny_digit_model(tmp_path / "short")
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps(config | {"num_timesteps": 20}))
    if command == "sample":
        argv, png = ["sample", "-n", "1", "--out", str(tmp_path)], tmp_path / "sample-000.png"
    else:
        argv, png = (["edit", "hybrid", "--prompt", "1", "--prompt2", "7", "--out",
                      str(tmp_path / "h.png")], tmp_path / "h.png")
    assert main([*argv, "--model", str(model), "--steps", "10000"]) == 0
    params = read_parameters(png)
    top = params["timesteps"][0]
    assert params["steps"] == len(params["timesteps"]) - 1 == top <= 20
    assert f"{top} steps" in capsys.readouterr().err, "a note says how many ran"


def test_sample_into_a_folder_of_an_earlier_batch_says_what_is_left(tiny_model, tmp_path,
                                                                    capsys):
    """-n 3 then -n 1 into one folder left sample-001/002.png of the first batch beside the
    second's grid, silently."""
    argv = ["sample", "--model", tiny_model, "--steps", "1", "--out", str(tmp_path)]
    assert main([*argv, "-n", "3"]) == 0
    capsys.readouterr()
    assert main([*argv, "-n", "1", "--seed", "5"]) == 0
    err = capsys.readouterr().err
    assert "sample-001.png" in err and "sample-002.png" in err and "earlier" in err, err
    assert (tmp_path / "sample-002.png").is_file(), "nothing of the user's is deleted"


@pytest.mark.parametrize("prompt", ["!!!", " ... ", "?"])
def test_a_prompt_of_no_words_is_refused_not_run_unconditioned(prompt):
    """`sample --prompt '!!!'` on a model with a vocabulary became '' (the unconditional
    branch) while its chunk said '!!!'."""
    from engine.errors import PromptError
    from engine.prompts import prompt_for_vocabulary

    with pytest.raises(PromptError, match="no words"):
        prompt_for_vocabulary(prompt, ["rocket", "face"], "emoji")
    assert prompt_for_vocabulary("", ["rocket"], "emoji") == "", "'' is the unconditional one"
    assert prompt_for_vocabulary("Rocket!", ["rocket"], "emoji") == "rocket"


def test_sigma2_on_a_two_band_hybrid_is_refused(tiny_model, tmp_path, capsys):
    """--sigma2 splits a triple hybrid's medium band from its high one; on a plain low/high
    hybrid it was taken and ignored."""
    assert main(["edit", "hybrid", "--model", tiny_model, "--prompt", "1", "--prompt2", "7",
                 "--sigma2", "1", "--steps", "2", "--out", str(tmp_path / "x.png")]) == 1
    _one_error(capsys, "--sigma2")
    assert _files(tmp_path) == []


def test_a_short_max_steps_run_does_not_compile(tmp_path, monkeypatch):
    """--compile auto counted the steps of every epoch, not --max-steps: a 1-step smoke run of
    emoji-upscale spent 9 minutes compiling. Asked for, compile still happens."""
    import engine.training.emoji_train as emoji_train

    seen = []

    def fake(config, out_dir, **kwargs):
        seen.append(config.compile)
        raise emoji_train.EngineError("stop here")

    monkeypatch.setattr(emoji_train, "train_emoji", fake)
    base = ["train", "emoji-base", "--out", str(tmp_path / "run"), "--data", str(tmp_path)]
    for extra in (["--max-steps", "1"], ["--max-steps", "1", "--compile", "on"], []):
        assert main([*base, *extra]) == 1
    assert seen == ["off", "on", "auto"]
