"""A free-text model's two-prompt modes (anagram, hybrid) start from two different prompts:
found walking the app on the emoji cascade, where both boxes said "grinning face"."""

from __future__ import annotations

from app.session.model_state import ModelState
from app.session.settings import RunSettings, bind_panel
from engine.prompt_sets import PART_A, partner_prompt
from engine.prompts import prompt_for_vocabulary
from widgets.modes_panel import ModesPanel

INFO = {"prompts": None, "free_text": True, "default_prompt": "grinning face", "timesteps": 30,
        "timestep_values": list(range(29, -1, -1))}


def _words(kind: str) -> set[str]:
    return {w for a, b, _ in PART_A[kind].anagrams for p in (a, b) for w in p.split()}


def test_the_partner_is_another_prompt_of_the_familys_pairs_that_the_model_takes():
    words = _words("emoji") | {"grinning"}
    partner = partner_prompt("grinning face", words)
    assert partner != "grinning face"
    assert partner in {p for a, b, _ in PART_A["emoji"].anagrams for p in (a, b)}
    assert prompt_for_vocabulary(partner, words) == partner
    first, second, _ = PART_A["if"].anagrams[0]
    assert partner_prompt("a high quality photo", None) == second, "IF reads any text"
    assert partner_prompt(second, None) == first, "never the default itself"


def test_without_a_pair_the_model_takes_the_default_stays():
    assert partner_prompt("rocket", {"rocket"}) == "rocket"


def test_the_second_prompt_box_starts_on_the_partner(qtbot):
    panel = ModesPanel()
    qtbot.addWidget(panel)
    bind_panel(RunSettings(), panel)
    panel.set_model_info(INFO | {"default_prompt2": "dog face"})
    assert panel.prompt.currentText() == "grinning face"
    assert panel.prompt2.currentText() == "dog face"
    panel.set_model_info(INFO)  # a state without one (a fake engine's): the default, as before
    assert panel.prompt2.currentText() == "grinning face"


def test_the_model_state_carries_the_partner_of_a_free_text_model_only(tiny_model, tmp_path,
                                                                        if_models):
    from engine.models.registry import load_model
    from tests.test_prompt_words import write_words_cascade

    digits = ModelState.of(load_model(str(tiny_model), device="cpu"), str(tiny_model))
    assert digits.default_prompt2 == "", "a model with prompt choices picks from them"
    folder = write_words_cascade(if_models, tmp_path)  # T5, a vocabulary: an emoji-like model
    model = load_model(str(folder), device="cpu")
    state = ModelState.of(model, str(folder))
    assert state.free_text and state.default_prompt == "red heart"
    pair_prompts = {p for a, b, _ in PART_A["emoji"].anagrams for p in (a, b)}
    assert state.default_prompt2 in pair_prompts, state.default_prompt2
    assert model.encoder_text(state.default_prompt2) == state.default_prompt2
