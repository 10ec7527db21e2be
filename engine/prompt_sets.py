"""The prompts of `reproduce part-a`, per model family: the one place they are defined.

- `if`: the course's prompts (DeepFloyd IF reads them through T5 or the course's embeddings file).
- `digits`: the class-conditioned digit model's digits.
- `emoji`: the emoji cascade (issue 12). Its vocabulary is the emoji names, so the course's IF
  prompts are refused by it; every prompt here is an emoji's own name (checked against the
  emoji classifier's class names, which are the prepared data's labels). Its anagram and hybrid
  pairs are chosen by measurement: `benchmarks/bench_emoji_illusions.py --choose K` judges the
  candidates below (EMOJI_ANAGRAM_CANDIDATES, EMOJI_HYBRID_CANDIDATES) with the emoji
  classifier and writes the best to EMOJI_PAIRS_FILE, beside the bundle's stage folders. While
  that file is absent the pairs are PROVISIONAL (simple, distinct shapes and colours, with the
  course's upside-down view); `PART_A["emoji"]` reads the file on each look-up, and a file that
  cannot be read is one PairsFileError naming it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import EngineError, PromptError
from engine.files import replacing
from engine.prompts import prompt_for_vocabulary


@dataclass(frozen=True)
class PartAPrompts:
    sample: tuple[str, ...]  # A-0 (three prompts at 10/20/40 steps)
    noise: tuple[str, ...]  # and A-1.6 (five)
    img2img: tuple[str, ...]  # the prompt for each test image, in order
    anagrams: tuple[tuple[str, str, str], ...]  # (upright, through the view, view)
    hybrids: tuple[tuple[str, str], ...]  # (low-pass / far, high-pass / close)
    status: str  # where the prompts come from, shown on the index page

    def all(self) -> list[str]:
        wanted = [*self.sample, *self.noise, *self.img2img]
        wanted += [p for a, b, _ in self.anagrams for p in (a, b)]
        wanted += [p for pair in self.hybrids for p in pair]
        return list(dict.fromkeys(wanted))


FIXED: dict[str, PartAPrompts] = {  # as written here: the emoji set provisional
    "if": PartAPrompts(
        sample=("an oil painting of a snowy mountain village", "a man wearing a hat",
                "a rocket ship"),
        noise=("a high quality photo",) * 5,
        img2img=("a rocket ship", "a pencil"),
        anagrams=(("an oil painting of an old man",
                   "an oil painting of people around a campfire", "flip"),
                  ("a photo of a dog", "a photo of a man", "flip"),
                  ("an oil painting of a snowy mountain village",
                   "a photo of a hipster barista", "flip")),
        hybrids=(("a lithograph of a skull", "a lithograph of waterfalls"),),
        status="the course's prompts",
    ),
    "digits": PartAPrompts(
        sample=("1", "4", "7"),
        noise=("0", "1", "2", "3", "4"),
        img2img=("8",),
        anagrams=(("6", "9", "rot180"), ("2", "5", "rot180"), ("3", "8", "mirror")),
        hybrids=(("0", "1"),),
        status="digits; the anagram pairs measured on the digit model (issue 14)",
    ),
    "emoji": PartAPrompts(
        sample=("grinning face", "red apple", "rocket"),
        noise=("cat face", "snowman", "sun with face", "evergreen tree", "ghost"),
        img2img=("rocket", "pencil"),
        anagrams=(("cat face", "dog face", "flip"), ("snowman", "fire", "flip"),
                  ("crescent moon", "ghost", "flip")),
        hybrids=(("grinning face", "snowman"),),
        status="emoji names; the anagram and hybrid pairs are provisional, to be chosen by "
               "measurement once the cascade is trained",
    ),
}


# --- the emoji cascade's illusion pairs, chosen by measurement (issue 12) ------------------------

EMOJI_PAIRS_FILE = (Path(__file__).resolve().parents[1] / "resources" / "models" / "emoji"
                    / "illusion_pairs.json")
PAIRS_FORMAT = "diffusion-canvas-illusion-pairs/1"
SHOWN_ANAGRAMS = 3  # how many chosen anagrams `reproduce part-a` shows (the course's three)

# Candidates for bench_emoji_illusions.py, per view (the app's i.i.d. views): (upright, through
# the view), each emoji by its CLDR name (what users type, and the name the cascade is trained on
# most; the bench finds the classifier's class through the data's names). Shapes that the view
# turns into each other (a flipped droplet is a heart; 12:30 turned half round reads 6:00; the
# first quarter moon mirrored is the last) or, for the permutations, that share their colours.
EMOJI_ANAGRAM_CANDIDATES: dict[str, tuple[tuple[str, str], ...]] = {
    "flip": (("cat face", "dog face"), ("snowman", "fire"), ("crescent moon", "ghost"),
             ("blue heart", "droplet"), ("pear", "light bulb"),
             ("evergreen tree", "soft ice cream"), ("mushroom", "umbrella"),
             ("sun with face", "full moon face")),
    "rot180": (("twelve thirty", "six o'clock"), ("cat face", "dog face"),
               ("snowman", "ghost"), ("pear", "light bulb"), ("blue heart", "droplet"),
               ("red apple", "strawberry")),
    "mirror": (("first quarter moon face", "last quarter moon face"),
               ("waxing crescent moon", "waning crescent moon"),
               ("rabbit face", "cat face"), ("snail", "turtle")),
    "rot90": (("banana", "crescent moon"), ("pencil", "rocket"), ("hot pepper", "banana")),
    "rot270": (("carrot", "pencil"), ("banana", "crescent moon")),
    "transpose": (("cat face", "dog face"), ("banana", "crescent moon")),
    "negate": (("full moon face", "new moon face"), ("sun with face", "new moon")),
    "jigsaw": (("red apple", "tomato"), ("grinning face", "cat face"),
               ("sunflower", "sun with face")),
    "patches": (("red apple", "strawberry"), ("frog", "green apple")),
    "pixels": (("red apple", "red heart"), ("lemon", "sun with face")),
    "inner-circle": (("grinning face", "face with open mouth"), ("cat face", "tiger face"),
                     ("sun with face", "sunflower")),
    "square-hinge": (("cat face", "dog face"), ("grinning face", "full moon face")),
    "skew": (("cat face", "dog face"), ("grinning face", "full moon face")),
}
# (seen from afar: the low pass, seen close: the high pass)
EMOJI_HYBRID_CANDIDATES: tuple[tuple[str, str], ...] = (
    ("grinning face", "snowman"), ("red apple", "grinning face"), ("sun with face", "sunflower"),
    ("full moon face", "cat face"), ("tomato", "red apple"), ("cat face", "dog face"),
)


@dataclass(frozen=True)
class MeasuredPair:
    """A candidate as measured over `seeds` seeds. `both_ways`: the share of seeds on which each
    view's classifier top 5 holds its own prompt (an anagram: upright prompts[0], through `view`
    prompts[1]; a hybrid: from afar, the low pass, prompts[0], and close prompts[1]); `reads`:
    each view's share alone; A and C the mean alignment and concealment
    (engine/illusion_scores.py); the baseline's: the same views on a blend of two independent
    samples (None where not measured)."""

    kind: str  # "anagram" or "hybrid"
    prompts: tuple[str, str]
    view: str  # the anagram's view after the upright one; "" for a hybrid
    both_ways: float
    reads: tuple[float, float]
    alignment: float
    concealment: float
    baseline_both_ways: float | None = None
    baseline_alignment: float | None = None

    def to_json(self) -> dict[str, Any]:
        data = {"kind": self.kind, "prompts": list(self.prompts), "view": self.view,
                "both_ways": self.both_ways, "reads": list(self.reads),
                "alignment": self.alignment, "concealment": self.concealment}
        if self.baseline_both_ways is not None:
            data["baseline"] = {"both_ways": self.baseline_both_ways,
                                "alignment": self.baseline_alignment}
        return data

    @classmethod
    def from_json(cls, data: Any, kind: str) -> MeasuredPair:
        """One entry of the file; ValueError saying what is wrong."""
        if not isinstance(data, dict) or data.get("kind") != kind:
            raise ValueError(f"an entry of {kind}s is not an object of kind {kind!r}")
        prompts = data.get("prompts")
        if (not isinstance(prompts, list) or len(prompts) != 2
                or not all(isinstance(p, str) and p.strip() for p in prompts)):
            raise ValueError(f"{kind} prompts {prompts!r} are not two names")
        view = data.get("view", "")
        if kind == "anagram" and view not in anagram_views():
            raise ValueError(f"{view!r} is not one of the app's anagram views")
        if kind == "hybrid" and view != "":
            raise ValueError("a hybrid has no view")
        reads = data.get("reads")
        if not isinstance(reads, list) or len(reads) != 2:
            raise ValueError(f"{kind} {prompts}: 'reads' is not two shares")
        baseline = data.get("baseline") or {}
        if not isinstance(baseline, dict):
            raise ValueError(f"{kind} {prompts}: 'baseline' is not an object")
        return cls(kind, (prompts[0], prompts[1]), view,
                   _share(data.get("both_ways"), "both_ways"),
                   (_share(reads[0], "reads"), _share(reads[1], "reads")),
                   _share(data.get("alignment"), "alignment"),
                   _share(data.get("concealment"), "concealment"),
                   _share(baseline["both_ways"], "baseline") if "both_ways" in baseline
                   else None,
                   _share(baseline.get("alignment"), "baseline")
                   if "both_ways" in baseline else None)


@dataclass(frozen=True)
class ChosenPairs:
    """What `bench_emoji_illusions.py --choose K` writes: the best K of each kind, best first,
    and how they were measured (`measured`: model, training step, classifier, seeds, steps...)."""

    anagrams: tuple[MeasuredPair, ...]
    hybrids: tuple[MeasuredPair, ...]
    measured: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"format": PAIRS_FORMAT, "measured": self.measured,
                "anagrams": [p.to_json() for p in self.anagrams],
                "hybrids": [p.to_json() for p in self.hybrids]}

    @classmethod
    def from_json(cls, data: Any) -> ChosenPairs:
        if not isinstance(data, dict) or data.get("format") != PAIRS_FORMAT:
            raise ValueError(f"its format is not {PAIRS_FORMAT!r}")
        measured = data.get("measured")
        if not isinstance(measured, dict):
            raise ValueError("'measured' is not an object")
        view_seed = measured.get("view_seed", 0)
        if isinstance(view_seed, bool) or not isinstance(view_seed, int) or view_seed < 0:
            raise ValueError(f"view_seed {view_seed!r} is not a whole number >= 0")
        lists = {}
        for kind in ("anagram", "hybrid"):
            entries = data.get(f"{kind}s")
            if not isinstance(entries, list):
                raise ValueError(f"'{kind}s' is not a list")
            lists[kind] = tuple(MeasuredPair.from_json(e, kind) for e in entries)
        return cls(lists["anagram"], lists["hybrid"], measured)

    @property
    def view_seed(self) -> int:
        """The seed of the seeded views (jigsaw, patches, pixels) the anagrams were made with."""
        return int(self.measured.get("view_seed", 0))

    def status(self) -> str:
        """The emoji prompt set's status line (on reproduce's index page)."""
        seeds = self.measured.get("seeds", "?")
        step = self.measured.get("training_step", "?")
        rates = ", ".join(f"{' / '.join(p.prompts)} ({p.view}) {p.both_ways:.0%}"
                          for p in self.anagrams[:SHOWN_ANAGRAMS])
        return (f"emoji names; the anagram and hybrid pairs chosen by measurement "
                f"(benchmarks/bench_emoji_illusions.py, {seeds} seeds, stage I at training step "
                f"{step}; read both ways: {rates or 'no anagram chosen'})")


def _share(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"{what} {value!r} is not a share between 0 and 1")
    return float(value)


def anagram_views() -> tuple[str, ...]:
    """The views an anagram pair may name: the i.i.d. ones, without the identity."""
    from engine.views import VIEWS

    return tuple(name for name, view in VIEWS.items() if view.iid and name != "identity")


def load_pairs(path: str | Path | None = None) -> ChosenPairs | None:
    """The chosen pairs in `path` (default EMOJI_PAIRS_FILE); None where there is no file; a
    PairsFileError naming the file and what is wrong where it cannot be used."""
    path = Path(EMOJI_PAIRS_FILE if path is None else path)
    if not path.is_file():
        return None
    try:
        return ChosenPairs.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise PairsFileError(f"{path} is not a usable illusion-pairs file ({reason}); write it "
                             "again with `python benchmarks/bench_emoji_illusions.py --choose "
                             "K`, or delete it") from None


def write_pairs(chosen: ChosenPairs, path: str | Path) -> Path:
    """Atomically: a reader sees the old file or the whole new one."""
    path = Path(path)
    with replacing(path) as tmp:
        tmp.write_text(json.dumps(chosen.to_json(), indent=1) + "\n", encoding="utf-8")
    return path


class PairsFileError(EngineError):
    """The chosen-pairs file is there but cannot be used."""


def emoji_prompts(provisional: PartAPrompts, path: str | Path | None = None) -> PartAPrompts:
    """The emoji set with the chosen pairs where the file holds some, else `provisional`."""
    chosen = load_pairs(path)
    if chosen is None or not (chosen.anagrams or chosen.hybrids):
        return provisional
    anagrams = tuple((*p.prompts, p.view) for p in chosen.anagrams[:SHOWN_ANAGRAMS])
    hybrids = tuple(p.prompts for p in chosen.hybrids[:1])
    return PartAPrompts(provisional.sample, provisional.noise, provisional.img2img,
                        anagrams or provisional.anagrams, hybrids or provisional.hybrids,
                        chosen.status())


class _PromptSets(Mapping[str, PartAPrompts]):
    """PART_A: the fixed sets, the emoji one with its measured pairs once they are chosen (read
    on each look-up, so a newly written file counts at once)."""

    def __getitem__(self, kind: str) -> PartAPrompts:
        fixed = FIXED[kind]
        return emoji_prompts(fixed) if kind == "emoji" else fixed

    def __iter__(self) -> Iterator[str]:
        return iter(FIXED)

    def __len__(self) -> int:
        return len(FIXED)


PART_A: Mapping[str, PartAPrompts] = _PromptSets()


def partner_prompt(default: str, words: Collection[str] | None) -> str:
    """A second prompt for the two-prompt modes (anagram, hybrid) of a free-text model, so the
    two do not start the same: the other prompt of its family's first anagram pair that the
    model takes (the emoji set where the model has a vocabulary, else IF's); `default` when
    none does, or when the pairs file cannot be read (that has its own message elsewhere)."""
    try:
        pairs = PART_A["emoji" if words else "if"].anagrams
    except EngineError:
        return default
    for first, second, _ in pairs:
        for candidate in (second, first):
            if candidate == default:
                continue
            try:
                prompt_for_vocabulary(candidate, words)
            except PromptError:
                continue
            return candidate
    return default
