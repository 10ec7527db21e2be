"""Suggested illusions: the pairs and views that scored best in docs/benchmarks.md (illusion
scores, `benchmarks/bench_illusions.py --seeds 50`), one click away in the modes panel.

Per model, measured only: the bundled digit model (`mnist`) from its rows below; the bundled
emoji cascade (`emoji`) from the pairs file that `benchmarks/bench_emoji_illusions.py --choose K`
writes (engine/prompt_sets.EMOJI_PAIRS_FILE), the anagrams there that read both ways on at least
half the seeds. No file, or a model without measurements: none. A pairs file that cannot be
used gives no suggestions and one message on stderr (the model still loads). `suggested_for`
gives plain dicts (the panel's `apply_settings` keys), so the widgets read them without
importing the app.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine import prompt_sets
from engine.prompt_sets import PairsFileError


@dataclass(frozen=True)
class Suggestion:
    """An anagram that works: its prompts (upright first), its views after the upright one, and
    what it scored (alignment A, mean over the seeds, and A against the naive blend, where
    measured; the emoji's also the share of seeds read both ways)."""

    prompts: tuple[str, ...]
    views: tuple[str, ...]
    alignment: float
    over_baseline: float | None
    view_seed: int = 0
    both_ways: float | None = None

    def label(self) -> str:
        scores = [f"A {self.alignment:.2f}"]
        if self.both_ways is not None:
            scores.insert(0, f"both ways {self.both_ways:.0%} of seeds")
        if self.over_baseline is not None:
            scores.append(f"{self.over_baseline:.2f}× the blend")
        return f"{' / '.join(self.prompts)} · {', '.join(self.views)} ({', '.join(scores)})"

    def settings(self) -> dict[str, Any]:
        return {"mode": "anagram", "prompt": self.prompts[0], "prompt2": self.prompts[1],
                "view": self.views[0], "prompts": list(self.prompts),
                "views": list(self.views), "view_seed": self.view_seed,
                "label": self.label()}


# docs/benchmarks.md, "Illusion scores": the rows with A >= 0.8, best first (view seed 0)
SUGGESTED: dict[str, tuple[Suggestion, ...]] = {
    "mnist": (
        Suggestion(("6", "9"), ("rot180",), 0.960, 1.07),
        Suggestion(("4", "7"), ("transpose",), 0.946, 1.09),
        Suggestion(("4", "7"), ("inner-circle",), 0.862, 1.37),
        Suggestion(("4", "7"), ("rot90",), 0.827, 0.97),
        Suggestion(("4", "7"), ("jigsaw",), 0.824, 1.11),
        Suggestion(("4", "7"), ("rot180",), 0.810, 1.38),
    ),
}


SUGGEST_AT = 0.5  # issue 12's bar: an anagram read both ways on at least half the seeds
_reported: set[str] = set()


def emoji_suggestions(path: str | Path | None = None) -> tuple[Suggestion, ...]:
    """The chosen emoji anagrams that clear SUGGEST_AT, best first; () without a pairs file;
    PairsFileError where it cannot be used."""
    chosen = prompt_sets.load_pairs(path)
    if chosen is None:
        return ()
    return tuple(
        Suggestion(p.prompts, (p.view,), p.alignment,
                   None if not p.baseline_alignment else p.alignment / p.baseline_alignment,
                   chosen.view_seed, p.both_ways)
        for p in chosen.anagrams if p.both_ways >= SUGGEST_AT)


def measured(model_name: str) -> tuple[Suggestion, ...]:
    if model_name == "emoji":
        return emoji_suggestions()
    return SUGGESTED.get(model_name, ())


def suggested_for(model_name: str) -> list[dict[str, Any]]:
    """The suggestions measured on this model, as settings dicts; [] for an unmeasured one,
    and [] with one line on stderr (once per message) where its pairs file is unusable."""
    try:
        return [s.settings() for s in measured(model_name)]
    except PairsFileError as error:
        message = f"Diffusion Canvas: no suggested pairs for {model_name}: {error}"
        if message not in _reported:
            _reported.add(message)
            print(message, file=sys.stderr)
        return []
