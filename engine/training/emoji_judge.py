"""The emoji classifier as a judge of prompts: which of its classes a prompt names, and its
logits on a model's images (the illusion viewer's scores, benchmarks/bench_emoji_illusions.py).

A prompt names a class by one of the emoji's names, folded as the data's labels are
(emoji_data.words: case, hyphens, accents and punctuation do not matter): its CLDR name
('red heart', what emoji pickers show and the cascade learns most), its Unicode name ('heavy
black heart') or one of its short names ('heart'). A style word of the cascade's prompt format
('red heart, google', 'twemoji red heart') is dropped; so is anything after the first comma.
CLDR keywords ('love') name no class: one keyword belongs to many emoji.

The classifier's config.json knows each class by its Unicode and short names only; the CLDR
names come from the data set (`data emoji`), or from `names.json` beside the classifier, written
from that data set by `python -m engine.training.emoji_judge --data DIR` (a table of code point
-> CLDR name, with the licence notice of the names).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from engine.errors import CheckpointError, EngineError
from engine.files import replacing
from engine.training import emoji_data
from engine.training.emoji_classifier import (
    BUNDLED,
    EmojiClassifier,
    as_images,
    load_emoji_classifier,
    logits,
)

NAMES = "names.json"
NAMES_FORMAT = "diffusion-canvas-emoji-names/1"
STYLE_WORDS = frozenset(emoji_data.VENDORS)  # 'google', 'twemoji'


def fold(name: str) -> str:
    """A name as the index keys it: 'Face-Savoring  Food' -> 'face savoring food'."""
    return emoji_data.words(name)


def class_of_code(classes: Sequence[dict]) -> dict[str, int]:
    """{code point key (emoji_data.code_key): class index}."""
    return {emoji_data.code_key(c.get("unified")): i for i, c in enumerate(classes)}


def class_index(classes: Sequence[dict], entries: Sequence[dict] = ()) -> dict[str, int]:
    """{folded name: the classifier's class}. Where two emoji share a name the first of these
    wins: the entries' CLDR names (what the cascade learns each emoji by most), the classes'
    own names, the entries' other names, the classes' short names ('cat' is the CLDR name of 🐈
    and a short name of 🐱). `entries`: the data set's labels, or read_names' table."""
    by_code = class_of_code(classes)
    known = [(by_code.get(emoji_data.code_key(e.get("unified"))), emoji_data.texts_of(e))
             for e in entries]
    known = [(i, texts) for i, texts in known if i is not None and texts]
    tiers = [[(i, texts[0]) for i, texts in known],
             [(i, c.get("name", "")) for i, c in enumerate(classes)],
             [(i, t) for i, texts in known for t in texts[1:]],
             [(i, t) for i, c in enumerate(classes) for t in c.get("short_names", [])]]
    index: dict[str, int] = {}
    for tier in tiers:
        for i, name in tier:
            if fold(name):
                index.setdefault(fold(name), i)
    return index


def _without_style(folded: str) -> str:
    words = folded.split()
    if len(words) > 1 and words[-1] in STYLE_WORDS:
        words = words[:-1]
    if len(words) > 1 and words[0] in STYLE_WORDS:
        words = words[1:]
    return " ".join(words)


def class_of(index: dict[str, int], prompt: str) -> int | None:
    """The class `prompt` names (see the module's notes), or None."""
    for text in (prompt, prompt.split(",")[0]):
        folded = fold(text)
        for key in (folded, _without_style(folded)):
            if key in index:
                return index[key]
    return None


# --- the CLDR names beside the classifier -------------------------------------------------------


def read_names(folder: str | os.PathLike) -> list[dict]:
    """The CLDR names in `folder`/names.json as entries for class_index ([] without the file);
    CheckpointError for a file that is there but unusable."""
    path = Path(folder) / NAMES
    if not path.is_file():
        return []
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise CheckpointError(f"{path} cannot be read ({error})") from None
    labels = doc.get("labels") if isinstance(doc, dict) else None
    if (not isinstance(doc, dict) or doc.get("format") != NAMES_FORMAT
            or not isinstance(labels, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items())):
        raise CheckpointError(f"{path} is not an emoji names table ({NAMES_FORMAT}); write it "
                              "again with `python -m engine.training.emoji_judge --data DIR`")
    return [{"unified": code, "label": label} for code, label in labels.items()]


def write_names(data: emoji_data.EmojiSet, folder: str | os.PathLike) -> Path:
    """`folder`/names.json: each emoji's CLDR name by code point, from the data set's labels
    (the first entry of a code point wins), written atomically."""
    labels: dict[str, str] = {}
    for entry in data.entries:
        if entry.get("label"):
            labels.setdefault(emoji_data.code_key(entry.get("unified")), entry["label"])
    doc = {"format": NAMES_FORMAT, "source": f"{data.source} [{data.fingerprint()}]",
           "notice": emoji_data.licence_text(), "labels": labels}
    path = Path(folder) / NAMES
    with replacing(path) as tmp:
        tmp.write_text(json.dumps(doc, indent=0, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


# --- the judge -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EmojiJudge:
    """The classifier and the names that lead to its classes."""

    net: EmojiClassifier
    index: dict[str, int]

    def class_of(self, prompt: str) -> int | None:
        return class_of(self.index, prompt)

    def logits(self, x: torch.Tensor, data_range: tuple[float, float] = (0.0, 1.0)
               ) -> torch.Tensor:
        """[N, classes] for RGB images [N, 3, H, H] in `data_range`, H a multiple of the
        classifier's 32 px (a 64 px stage II image is area-averaged to 32, as as_images)."""
        with torch.no_grad():
            return logits(self.net, as_images(x, data_range))


def load_emoji_judge(folder: str | os.PathLike | None = None) -> EmojiJudge:
    """The judge in `folder` (default: the bundled classifier), with its names.json when it
    has one; CheckpointError (an EngineError) saying why when the classifier is missing or
    broken."""
    net, config = load_emoji_classifier(folder)
    names = read_names(folder if folder is not None else BUNDLED)
    return EmojiJudge(net, class_index(config["classes"], names))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write names.json (the CLDR names) beside an "
                                     "emoji classifier, from the data set it was trained on")
    parser.add_argument("--data", required=True, help="the `data emoji` set")
    parser.add_argument("--classifier", default=str(BUNDLED), help="default: the bundled one")
    args = parser.parse_args(argv)
    try:
        data = emoji_data.load_set(args.data)
        path = write_names(data, args.classifier)
        count = len(read_names(args.classifier))
    except (EngineError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {path} ({count} names)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
