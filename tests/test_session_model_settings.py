"""Each model keeps its own prompts, guidance, strength and steps (issue 12's QA leftovers): a
prompt typed on the emoji model comes back after a visit to the digit model, within a session
and at the next launch; the digit model's guidance 5 never reaches the emoji model; a model
never used starts on its own defaults; the mode, seed, count... are shared by every model.
Found in the QA walk, where switching emoji -> mnist -> emoji lost "red heart"."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from app.session.modes import MODES
from app.session.settings import MODEL_SETTINGS, bind_panel
from app.settings import MAX_MODELS, Settings, model_key
from tests.session_fakes import make_session, model_state
from widgets.modes_panel import ModesPanel

sys.path.insert(0, str(Path(__file__).parent))

EMOJI_TIMESTEPS = tuple(range(990, -1, -30))


def emoji_state(spec: str = "emoji"):
    """The emoji cascade's stage I as the session sees it: free text, colour, guidance 3."""
    return model_state(spec, size=32, channels=3, data_range=(-1.0, 1.0), symmetric=True,
                       prompts=None, free_text=True, default_prompt="grinning face",
                       default_prompt2="dog face", default_guidance=3.0,
                       default_strength=0.7, timesteps=34, timestep_values=EMOJI_TIMESTEPS,
                       top=999)


def preferences(folder: Path) -> Settings:
    folder.mkdir(parents=True, exist_ok=True)
    return Settings(QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat))


def with_panel(qtbot, session) -> ModesPanel:
    """The real modes panel bound to the session as the window binds it: each model loaded
    fills it with that model's defaults first (MainWindow._on_model_ready)."""
    panel = ModesPanel(modes=MODES)
    qtbot.addWidget(panel)
    bind_panel(session.settings, panel)
    session.modelReady.connect(lambda state: panel.set_model_info(state.panel_values()))
    return panel


def launch(qtbot, folder: Path, state):
    """A session with the panel, opened on the model `state` (its settings in `folder`)."""
    session = make_session(folder, state.spec, load=False)
    panel = with_panel(qtbot, session)
    session.engine.answer_load(state)
    return session, panel


def switch(session, state) -> None:
    session.load_model(state.spec)
    session.engine.answer_load(state)


def shown(session) -> tuple:
    s = session.settings
    return s.prompt, s.prompt2, s.guidance


def test_switching_emoji_mnist_emoji_keeps_what_was_typed_for_each(qtbot, tmp_path):
    session, panel = launch(qtbot, tmp_path, emoji_state())
    assert shown(session) == ("grinning face", "dog face", 3.0)
    panel.prompt.set_prompt("red heart")
    panel.prompt2.set_prompt("cat face")
    panel.guidance.setValue(4.5)
    switch(session, model_state("mnist"))
    assert shown(session) == ("0", "1", 5.0), "the digit model on its own defaults"
    panel.prompt.set_prompt("7")
    switch(session, emoji_state())
    assert shown(session) == ("red heart", "cat face", 4.5)
    assert panel.prompt.prompt() == "red heart" and panel.guidance.value() == 4.5
    switch(session, model_state("mnist"))
    assert shown(session) == ("7", "1", 5.0)


def test_the_shared_settings_stay_as_they_are_across_a_switch(qtbot, tmp_path):
    session, panel = launch(qtbot, tmp_path, emoji_state())
    s = session.settings
    s.mode, s.count, s.random_seed, s.seed, s.view = "anagram", 3, False, 4242, "rot90"
    s.strength = 0.55
    switch(session, model_state("mnist"))
    assert (s.mode, s.count, s.random_seed, s.seed, s.view) == ("anagram", 3, False, 4242,
                                                                 "rot90")
    assert s.strength == pytest.approx(0.7), "the digit state's own default strength"
    switch(session, emoji_state())
    assert s.strength == pytest.approx(0.55)


def test_guidance_is_each_models_own_at_launch(qtbot, tmp_path):
    first, panel = launch(qtbot, tmp_path, model_state("mnist"))
    panel.guidance.setValue(6.5)
    switch(first, emoji_state())
    panel.guidance.setValue(4.0)
    panel.prompt.set_prompt("red heart")
    assert first.close()
    # the next launch opens on the digit model: its 6.5, not the emoji model's 4
    again, again_panel = launch(qtbot, tmp_path, model_state("mnist"))
    assert again.settings.guidance == 6.5 and again_panel.guidance.value() == 6.5
    switch(again, emoji_state())
    assert shown(again) == ("red heart", "dog face", 4.0)


def test_a_model_never_used_starts_on_its_own_defaults(qtbot, tmp_path):
    first, panel = launch(qtbot, tmp_path, model_state("mnist"))
    panel.prompt.set_prompt("7")
    first.settings.guidance, first.settings.steps, first.settings.strength = 9.0, 300, 0.2
    assert first.close()
    fresh = emoji_state()
    again, _ = launch(qtbot, tmp_path, fresh)
    s = again.settings
    assert shown(again) == ("grinning face", "dog face", 3.0), "nothing of the digits' 9"
    assert (s.steps, s.strength) == (0, pytest.approx(0.7))
    assert s.timesteps == EMOJI_TIMESTEPS, "the default steps' schedule"
    assert again.model_state.run_defaults() == {
        "prompt": "grinning face", "prompt2": "dog face", "prompt3": "grinning face",
        "prompt4": "grinning face", "medium": "grinning face", "guidance": 3.0,
        "strength": 0.7, "steps": 0}


def test_the_run_remembers_the_models_own_settings_for_a_crash(qtbot, tmp_path):
    session, panel = launch(qtbot, tmp_path, emoji_state())
    panel.prompt.set_prompt("red heart")
    session.settings.mode = "sample"
    assert session.run_job() is not None
    prefs = preferences(tmp_path)
    assert prefs.run_settings_for("emoji")["prompt"] == "red heart"
    assert not set(prefs.run_settings) & set(MODEL_SETTINGS), "the shared part only"
    assert prefs.run_settings["mode"] == "sample"


def test_an_old_single_run_settings_still_restores_what_it_can(qtbot, tmp_path):
    prefs = preferences(tmp_path)
    prefs.model = "mnist"  # what the old version saved them with
    prefs.run_settings = {"prompt": "7", "prompt2": "1", "guidance": 3.5, "mode": "img2img",
                          "count": 2, "random_seed": False, "seed": 99}
    session, _ = launch(qtbot, tmp_path, emoji_state())
    s = session.settings
    assert shown(session) == ("grinning face", "dog face", 3.0), "the digits' 3.5 stays theirs"
    assert (s.mode, s.count, s.random_seed, s.seed) == ("img2img", 2, False, 99)
    switch(session, model_state("mnist"))
    assert shown(session) == ("7", "1", 3.5), "the old settings became the digit model's own"


def test_an_old_run_settings_on_its_own_model_and_its_i_start(qtbot, tmp_path):
    prefs = preferences(tmp_path)
    prefs.model = "mnist"
    prefs.run_settings = {"prompt": "4", "guidance": 2.5, "i_start": 20}  # before properties
    session, _ = launch(qtbot, tmp_path, model_state("mnist"))
    assert (session.settings.prompt, session.settings.guidance) == ("4", 2.5)
    assert session.settings.i_start() == 20


@pytest.mark.parametrize("stored", [
    "not json {", "[1, 2]", '"a string"', "5",
    json.dumps({"mnist": 5, "emoji": [1]}),
    json.dumps({"mnist": {"prompt": 7, "prompt2": None, "guidance": "lots", "steps": -3,
                          "strength": 2.0, "colour": "blue"}}),
])
def test_a_damaged_store_gives_the_defaults(qtbot, tmp_path, stored):
    prefs = preferences(tmp_path)
    prefs.model = "mnist"
    prefs.run_settings = {"mode": "inpaint"}
    prefs.qsettings.setValue("run/models", stored)
    session, _ = launch(qtbot, tmp_path, model_state("mnist"))
    s = session.settings
    assert (s.prompt, s.prompt2, s.guidance, s.steps, s.strength) == ("0", "1", 5.0, 0, 0.7)
    assert s.mode == "inpaint", "the shared settings are apart"
    session.settings.prompt = "8"
    assert session.close(), "and the store is written anew"
    assert preferences(tmp_path).run_settings_for("mnist")["prompt"] == "8"


def test_a_prompt_the_model_does_not_take_gives_its_default(qtbot, tmp_path):
    prefs = preferences(tmp_path)
    prefs.set_run_settings_for("mnist", {"prompt": "red heart", "prompt2": "3", "guidance": 2.0})
    session, _ = launch(qtbot, tmp_path, model_state("mnist"))
    assert shown(session) == ("0", "3", 2.0)


def test_the_store_keeps_the_last_models_only(tmp_path):
    prefs = preferences(tmp_path)
    for i in range(MAX_MODELS + 5):
        prefs.set_run_settings_for(f"model-{i}", {"guidance": float(i)})
    prefs.set_run_settings_for("model-10", {"guidance": 1.5})  # used again: the most recent
    kept = list(prefs.model_run_settings())
    assert len(kept) == MAX_MODELS
    assert kept[0] == "model-10" and prefs.run_settings_for("model-10") == {"guidance": 1.5}
    assert kept[1:4] == ["model-24", "model-23", "model-22"]
    assert "model-4" not in kept and "model-5" in kept
    assert prefs.run_settings_for("model-0") == {}


def test_a_folder_is_one_model_however_it_is_written(tmp_path, monkeypatch):
    folder = tmp_path / "runs" / "IF-I-emoji"
    folder.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert model_key("./runs/IF-I-emoji") == model_key(str(folder)) == str(folder.resolve())
    assert model_key("runs/../runs/IF-I-emoji/") == str(folder.resolve())
    assert model_key("emoji") == "emoji" and model_key("mnist-time") == "mnist-time"
    assert model_key("DeepFloyd/IF-I-XL-v1.0") == "DeepFloyd/IF-I-XL-v1.0", "a cache id"
    prefs = preferences(tmp_path / "prefs")
    prefs.set_run_settings_for("./runs/IF-I-emoji", {"prompt": "red heart"})
    assert prefs.run_settings_for(str(folder)) == {"prompt": "red heart"}
    assert prefs.run_settings_for("emoji") == {}


def test_a_reload_of_the_same_model_keeps_the_prompt_typed(qtbot, tmp_path):
    session, panel = launch(qtbot, tmp_path, emoji_state())
    panel.prompt.set_prompt("red heart")
    session.set_precision("bf16")  # IF reloads with it; the panel is filled anew
    session.engine.answer_load(emoji_state())
    assert session.settings.prompt == "red heart" and panel.prompt.prompt() == "red heart"


@pytest.mark.skipif(not (Path(__file__).parent.parent / "resources" / "models" / "mnist-time"
                         / "config.json").exists(), reason="the bundled digit models")
def test_a_real_window_switching_models_keeps_each_ones_settings(qtbot, tmp_path):
    from test_app import RUN_TIMEOUT, open_window

    window = open_window(qtbot, "mnist", tmp_path)
    modes, session = window.modes, window.session
    modes.prompt.set_prompt("7")
    modes.guidance.setValue(6.5)
    for spec in ("mnist-time", "mnist"):
        with qtbot.waitSignal(session.modelReady, timeout=RUN_TIMEOUT):
            session.load_model(spec)  # as the Model menu does
        if spec == "mnist-time":
            assert session.settings.guidance == 1.0, "the time model's own guidance"
    assert (modes.prompt.prompt(), modes.guidance.value()) == ("7", 6.5)
    assert window.close()
    again = open_window(qtbot, "mnist-time", tmp_path)
    assert again.session.settings.guidance == 1.0, "not the class model's 6.5"
    with qtbot.waitSignal(again.session.modelReady, timeout=RUN_TIMEOUT):
        again.session.load_model("mnist")
    assert (again.modes.prompt.prompt(), again.modes.guidance.value()) == ("7", 6.5)
    again.close()
