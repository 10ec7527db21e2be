"""Free-text prompts against a model's vocabulary (issue 12, 3): case, punctuation, plurals and
possessives of known words are accepted and reach the encoder in the vocabulary's form; any
other word is one message naming it and the closest words the model knows, in the engine, the
CLI's sample and edit, and (test_prompt_words_app) the window. IF without a vocabulary (T5)
takes any text."""

from __future__ import annotations

import difflib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from app.cli import main
from engine.errors import PromptError
from engine.prompts import FUNCTION_WORDS, closest_words, known_form, prompt_for_vocabulary

WORDS = ["0", "blue", "cherry", "dog", "face", "fox", "glass", "glasses", "google", "grinning",
         "hat", "heart", "heavy", "keycap", "red", "rocket", "twemoji"]


def write_words_cascade(if_models: Path, root: Path, words: list[str] = WORDS) -> Path:
    """The tiny IF pair (T5 and all) copied side by side, stage I given a vocabulary and a
    default prompt in its diffusion_canvas.json, as an emoji run writes them."""
    stage_one = root / "IF-I-words"
    shutil.copytree(if_models / "IF-I-tiny-v1.0", stage_one)
    shutil.copytree(if_models / "IF-II-tiny-v1.0", root / "IF-II-words")
    hints = {"default_prompt": "red heart", "default_guidance": 3.0, "words": words}
    (stage_one / "diffusion_canvas.json").write_text(json.dumps(hints))
    return stage_one


@pytest.fixture(scope="module")
def words_model(if_models, tmp_path_factory) -> Path:
    return write_words_cascade(if_models, tmp_path_factory.mktemp("words"))


@pytest.fixture(autouse=True)
def isolated(if_environment):
    pass


@pytest.mark.parametrize("typed,encoded", [
    ("red heart", "red heart"),
    ("Red HEART!", "red heart"),
    ("  red   hearts. ", "red heart"),
    ("Grinning face, Twemoji", "grinning face, twemoji"),
    ("dog's hat; google", "dog hat, google"),
    ("the dogs\u2019 hats", "the dog hat"),  # a function word passes as it is
    ("A Red Heart with a Hat", "a red heart with a hat"),
    ("the hearts of dogs", "the heart of dog"),
    ("the dogs\u2019 hart", None),  # a content word still refused (below)
    ("foxes, cherries", "fox, cherry"),
    ("keycap-0", "keycap 0"),
    ("glasses", "glasses"),  # the vocabulary has the plural itself: kept
    ("r\u00e8d h\u00eb\u00e4rts", "red heart"),  # accents folded as the labels were
    ("", ""),
])
def test_known_words_reach_the_encoder_in_the_vocabulary_form(typed, encoded):
    if encoded is None:
        with pytest.raises(PromptError, match="the word 'hart'"):
            prompt_for_vocabulary(typed, WORDS, "emoji")
    else:
        assert prompt_for_vocabulary(typed, WORDS, "emoji") == encoded


def test_a_plural_or_possessive_is_accepted_only_where_the_base_is_known():
    assert known_form("hearts", set(WORDS)) == "heart"
    assert known_form("dog's", set(WORDS)) == "dog"
    assert known_form("cats", set(WORDS)) is None
    assert known_form("s", set(WORDS)) is None


def test_function_words_pass_but_only_those_on_the_list():
    assert {"a", "an", "the", "with", "of"} <= FUNCTION_WORDS
    assert not FUNCTION_WORDS & set(WORDS), "the test vocabulary holds none of them"
    assert prompt_for_vocabulary("an heart of the fox", WORDS) == "an heart of the fox"
    for word in ("thee", "whit", "ofs", "cat"):  # near a function word, not one
        with pytest.raises(PromptError, match=f"the word {word!r}"):
            prompt_for_vocabulary(f"a {word} heart", WORDS, "emoji")


def test_an_unknown_word_is_one_message_with_its_three_closest_known_words():
    with pytest.raises(PromptError) as error:
        prompt_for_vocabulary("a red hart, zebras", WORDS, "emoji")
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("emoji does not know the words 'hart' (")
    for word in ("hart", "zebras"):
        closest = difflib.get_close_matches(word, WORDS, n=3, cutoff=0.0)
        assert len(closest) == 3 and set(closest) <= set(WORDS)
        assert f"{word!r} (the closest words it knows: {', '.join(closest)})" in message
    assert closest_words("hart", WORDS)[0] == "heart"
    assert "'red'" not in message, "only the unknown words are named"


@pytest.mark.parametrize("word", ["pi\u00f1ata", "\U0001f389", "h3art", "hearty"])
def test_nothing_typed_is_silently_dropped(word):
    with pytest.raises(PromptError, match=f"the word {word!r}"):
        prompt_for_vocabulary(f"red {word} heart", WORDS, "emoji")


def test_without_a_vocabulary_any_text_passes_unchanged():
    assert prompt_for_vocabulary("A watercolour, of a lighthouse!", None) == \
        "A watercolour, of a lighthouse!"
    assert prompt_for_vocabulary("anything", []) == "anything"


def test_the_if_model_encodes_the_vocabulary_form_and_refuses_unknown_words(words_model,
                                                                            if_models):
    from engine.models.registry import load_model

    model = load_model(str(words_model), device="cpu")
    assert model.words == WORDS
    same = model.encode(["Red Hearts!"])
    assert torch.equal(same, model.encode(["red heart"]))
    assert not torch.equal(same, model.encode(["rocket"]))
    with pytest.raises(PromptError, match="does not know the word 'hart'"):
        model.encode(["red hart"])
    with pytest.raises(PromptError, match="'hart'"):
        model.check_prompt("hart")
    model.encode([model.default_prompt, model.unconditional_prompt])
    model.use_embeddings({"course prompt": torch.zeros(1, 77, model.embedding_dim)})
    assert model.encode(["course prompt"]).abs().sum() == 0, "an embeddings file's keys pass"
    t5 = load_model(str(if_models / "IF-I-tiny-v1.0"), device="cpu")
    assert t5.words is None
    assert t5.encode(["a watercolour of a lighthouse"]).shape[0] == 1


def test_sample_and_edit_refuse_an_unknown_word_with_one_line(words_model, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["sample", "--model", str(words_model), "--prompt", "red hart", "--steps", "2",
                 "-n", "1", "--device", "cpu", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "does not know the word 'hart' (the closest words it knows: heart" in err
    assert not out.exists()
    photo = tmp_path / "photo.png"
    Image.fromarray(np.full((32, 32, 3), 120, np.uint8)).save(photo)
    edited = tmp_path / "edited.png"
    assert main(["edit", "img2img", "--model", str(words_model), "--image", str(photo),
                 "--prompt", "blu heart", "--steps", "2", "--device", "cpu",
                 "--out", str(edited)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the word 'blu' (the closest words it knows: blue" in err
    assert not edited.exists()


def test_sample_takes_known_words_in_any_case(words_model, tmp_path):
    out = tmp_path / "out"
    assert main(["sample", "--model", str(words_model), "--prompt", "Blue Hearts!", "--steps",
                 "2", "-n", "1", "--device", "cpu", "--out", str(out)]) == 0
    assert (out / "sample-000.png").is_file()


def test_encode_prompts_checks_words_and_encodes_the_vocabulary_form(words_model, tmp_path,
                                                                     capsys):
    from engine.models.registry import load_model

    out = tmp_path / "p.pth"
    assert main(["encode-prompts", "--model", str(words_model), "--out", str(out),
                 "--device", "cpu", "red heart", "red hart"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "does not know the word 'hart' (the closest words it knows: heart" in err
    assert not out.exists(), "nothing written"
    assert main(["encode-prompts", "--model", str(words_model), "--out", str(out),
                 "--device", "cpu", "Red Hearts!", "a rocket"]) == 0
    data = torch.load(out, weights_only=True)
    assert set(data) == {"Red Hearts!", "a rocket", ""}, "keyed as typed"
    model = load_model(str(words_model), device="cpu", dtype="fp32")  # auto may be bf16
    expected = model.encode(["red heart"]).to(torch.float16)
    assert torch.allclose(data["Red Hearts!"].float(), expected.float(), atol=1e-3)
