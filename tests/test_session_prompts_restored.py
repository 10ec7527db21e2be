"""The prompts remembered from the last launch come back only on the model they were typed for:
found in the QA walk, where the emoji cascade opened with a digit's "1" and "(unconditional)"
in its anagram prompts. The other run settings come back on any model."""

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


def test_another_model_keeps_its_own_prompts_and_gets_the_rest(qapp, tmp_path):
    _remember(tmp_path, "mnist")
    session = make_session(tmp_path, "emoji", load=False)
    session.settings.prompt, session.settings.prompt2 = "red heart", "dog face"
    session.engine.answer_load(model_state("emoji", default_prompt="red heart"))
    assert (session.settings.prompt, session.settings.prompt2) == ("red heart", "dog face")
    assert session.settings.guidance == 3.5, "guidance, steps, mode... are not the model's"
    assert session.preferences.model == "emoji"
