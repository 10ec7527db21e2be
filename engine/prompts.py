"""Prompt embeddings files in the course's format: a dict from prompt to a [1, 77, 4096] tensor.

Loaded with weights_only=True: a .pth from elsewhere is never unpickled beyond plain tensors.
"""

from __future__ import annotations

import difflib
import pickle
import re
import string
import unicodedata
import warnings
from collections.abc import Collection
from pathlib import Path

import torch

from engine.errors import PromptError, short_reason
from engine.models.base import DiffusionModel


def load_embeddings(path: str | Path, shape: tuple[int, ...] | None = None
                    ) -> dict[str, torch.Tensor]:
    """The file's dict; every value checked to be a float tensor of `shape` (if given)."""
    path = Path(path)
    if path.is_dir():
        raise PromptError(f"{path} is a folder, not an embeddings file (.pth)")
    if not path.is_file():
        raise PromptError(f"{path}: no such embeddings file")
    try:
        with warnings.catch_warnings():  # torch's pickle-protocol warning: the message says it
            warnings.simplefilter("ignore")
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any failure to read is the same to the user
        if isinstance(error, pickle.UnpicklingError) and "weights only" in str(error).lower():
            # torch's own text advises weights_only=False: never pass that on
            raise PromptError(f"{path} is not a readable embeddings file: "
                              f"{_refused_pickle(str(error))}") from None
        raise PromptError(f"{path} is not a readable embeddings file "
                          f"({type(error).__name__}: {short_reason(error)})"
                          ) from None
    if not isinstance(data, dict) or not data:
        raise PromptError(f"{path} must hold a dict from prompt to embedding tensor")
    for prompt, value in data.items():
        check_embedding(path, prompt, value, shape)
    return data


def _refused_pickle(text: str) -> str:
    if "unsupported global" in text.lower():
        return ("it holds Python objects besides tensors, and opening those could run code, "
                "so it is not opened")
    return "it is damaged or not a file of tensors saved by torch"


def check_embedding(path: Path, prompt: object, value: object, shape: tuple[int, ...] | None
                    ) -> None:
    if not isinstance(prompt, str):
        raise PromptError(f"{path}: the key {prompt!r} is not a prompt string")
    if not isinstance(value, torch.Tensor) or not value.is_floating_point():
        raise PromptError(f"{path}: the embedding of {prompt!r} is not a float tensor")
    if not bool(torch.isfinite(value).all()):
        raise PromptError(f"{path}: the embedding of {prompt!r} holds NaN or infinite values")
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise PromptError(f"{path}: the embedding of {prompt!r} has shape {tuple(value.shape)}, "
                          f"but this model takes {tuple(shape)}")


def attach_embeddings(model: DiffusionModel, path: str | Path) -> None:
    """Give a text-conditioned model the prompts of an embeddings file."""
    use = getattr(model, "use_embeddings", None)
    if use is None:
        raise PromptError(f"{model.name} does not take an embeddings file (--prompts)")
    data = load_embeddings(path, getattr(model, "embedding_shape", None))
    uncond = model.unconditional_prompt
    if model.conditional and uncond not in data and getattr(model, "text_encoder", None) is None:
        raise PromptError(f"{path} has no {uncond!r} entry: the unconditional prompt that "
                          "classifier-free guidance needs (the course's file has it)")
    use(data)


# --- free text against a model's vocabulary ---------------------------------------------------
# A model trained on a closed set of label words (the emoji cascade writes them as `words` in
# its diffusion_canvas.json) knows nothing else: a word outside them is refused, by name, with
# the nearest words it does know, rather than passed to the encoder as noise.

# Function words: a short, closed list a user types around the words that matter ("a red
# apple", "the face with tears of joy"). They are accepted although a label may lack them, and
# they pass through to the text encoder as typed. That is harmless: the tokenizer (sentencepiece
# with full character coverage) encodes any of them with pieces it knows, so none becomes an
# unknown id; the labels the encoder was trained on already use many of them ("face with tears
# of joy", "man in tuxedo"); and they name nothing, so they cannot point the model at a wrong
# emoji. Content words stay checked: an unknown one is still refused by name.
FUNCTION_WORDS = frozenset((
    "a", "an", "the",  # articles
    "this", "that", "these", "those", "some", "any", "each",  # determiners
    "my", "your", "his", "her", "its", "our", "their",  # possessives
    "of", "with", "without", "in", "on", "at", "to", "for", "from", "by", "into", "onto",
    "over", "under", "above", "below", "near", "behind",  # prepositions
    "and", "or",  # conjunctions
    "is", "are", "be",  # copulas
    "very",  # an intensifier
))

_SEPARATORS = re.compile(r"[\s" + re.escape("".join(set(string.punctuation) - {"'"})) + r"]+")
_CLAUSES = re.compile(r"[,;]")
CLOSEST = 3


def _tokens(text: str) -> list[str]:
    """Lower-case words of `text`: split at spaces and punctuation (hyphens too), quotes around
    a word removed, '&' read as 'and'. Anything else (an emoji, a letter with an accent) stays
    in its word, so that it is reported as typed rather than dropped."""
    text = text.replace("\u2019", "'").replace("&", " and ").lower()
    return [t for t in (part.strip("'") for part in _SEPARATORS.split(text)) if t]


def _unaccented(token: str) -> str:
    """'piñata' -> 'pinata': the labels were folded so when the set was made (emoji_data.words);
    a word typed with its accent is found, and still named as typed when it is unknown."""
    return "".join(c for c in unicodedata.normalize("NFKD", token) if not unicodedata.combining(c))


def _base_forms(token: str) -> list[str]:
    """The token, then what it may be a possessive or plural of: "dog's", "dogs", "foxes",
    "cherries" -> "dog", "dog", "fox", "cherry"."""
    forms = [token]
    if token.endswith("'s"):
        forms.append(token[:-2])
    for word in list(forms):
        if word.endswith("ies") and len(word) > 4:
            forms.append(word[:-3] + "y")
        if word.endswith("es") and len(word) > 3:
            forms.append(word[:-2])
        if word.endswith("s") and len(word) > 2:
            forms.append(word[:-1])
    return list(dict.fromkeys(forms))


def known_form(token: str, vocabulary: Collection[str]) -> str | None:
    """The vocabulary's word for a lower-case token (itself, or its base where the vocabulary
    has the base and not the token); None when the vocabulary has neither."""
    return next((form for form in _base_forms(token) if form in vocabulary), None)


def closest_words(word: str, words: Collection[str], count: int = CLOSEST) -> list[str]:
    """The `count` known words most like `word` (difflib's ratio, ties in sorted order)."""
    return difflib.get_close_matches(word, sorted(words), n=count, cutoff=0.0)


def prompt_for_vocabulary(prompt: str, words: Collection[str] | None, name: str = "the model"
                          ) -> str:
    """The prompt in the vocabulary's own form: lower-case known words, one space apart, with
    the commas of "grinning face, twemoji" kept. No vocabulary (IF's T5 reads anything): the
    prompt as it is. A function word (FUNCTION_WORDS) passes as it is. Any other word the
    vocabulary lacks (also in its plural or possessive form): PromptError naming each such word
    and the closest words the model knows."""
    if not words:
        return prompt
    vocabulary = {w.lower() for w in words}
    clauses, unknown = [], []
    for clause in _CLAUSES.split(prompt):
        known = []
        for token in _tokens(clause):
            form = known_form(token, vocabulary) or known_form(_unaccented(token), vocabulary)
            if form is None and token in FUNCTION_WORDS:
                form = token
            if form is None:
                unknown.append(token)
            else:
                known.append(form)
        if known:
            clauses.append(" ".join(known))
    if unknown:
        raise PromptError(unknown_words_message(list(dict.fromkeys(unknown)), vocabulary, name))
    if not clauses and prompt.strip():  # '' is the unconditional prompt; '!!!' is not
        raise PromptError(f"the prompt {prompt!r} has no words; {name} takes words such as "
                          f"{', '.join(sorted(vocabulary)[:3])} (or '' for no prompt)")
    return ", ".join(clauses)


def unknown_words_message(unknown: list[str], vocabulary: Collection[str], name: str) -> str:
    """One line for every unknown word: "emoji does not know the word 'hart' (the closest
    words it knows: heart, hat, heavy)"."""
    parts = [f"{w!r} (the closest words it knows: {', '.join(closest_words(w, vocabulary))})"
             for w in unknown]
    noun = "word" if len(unknown) == 1 else "words"
    return f"{name} does not know the {noun} {' and '.join(parts)}"
