"""The prompts remembered from the last launch come back only on the model they were typed for:
found in the QA walk, where the emoji cascade opened with a digit's "1" and "(unconditional)"
in its anagram prompts. Each model now keeps its own prompts, guidance, strength and steps;
the other run settings come back on any model."""

from __future__ import annotations

from PySide6.QtCore import QSettings

from app.settings import Settings
from tests.session_fakes import make_session, model_state


def _remember(folder, model: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    prefs = Settings(QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat))
    prefs.model = model
    prefs.run_settings = {"prompt": "7", "prompt2": "1", "guidance": 3.5}


def test_the_same_model_gets_its_prompts_back(qapp, tmp_path):
    _remember(tmp_path, "mnist")
    session = make_session(tmp_path, "mnist")
    assert (session.settings.prompt, session.settings.prompt2) == ("7", "1")
    assert session.settings.guidance == 3.5


def test_another_model_starts_on_its_own_prompts_and_guidance(qapp, tmp_path):
    """Guidance belongs to the model too (tests/test_session_model_settings.py): the digits'
    3.5 stays theirs; the mode, seed... (not the model's) come back on any model."""
    _remember(tmp_path, "mnist")
    session = make_session(tmp_path, "emoji", load=False)
    session.engine.answer_load(model_state("emoji", prompts=None, free_text=True,
                                           default_prompt="red heart",
                                           default_prompt2="dog face", default_guidance=3.0))
    assert (session.settings.prompt, session.settings.prompt2) == ("red heart", "dog face")
    assert session.settings.guidance == 3.0, "the emoji model's own, not the digits' 3.5"
    assert session.preferences.model == "emoji"
