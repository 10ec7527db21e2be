"""Suggested illusions: the pairs and views that scored best in docs/benchmarks.md (illusion
scores, `benchmarks/bench_illusions.py --seeds 50`), one click away in the modes panel.

Per model, measured only: the bundled digit model (`mnist`) now; a model without measurements
(the emoji cascade until its classifier judges it) has none. `suggested_for` gives plain dicts
(the panel's `apply_settings` keys), so the widgets read them without importing the app.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Suggestion:
    """An anagram that works: its prompts (upright first), its views after the upright one, and
    what it scored (alignment A, mean over 50 seeds, and A against the naive blend)."""

    prompts: tuple[str, ...]
    views: tuple[str, ...]
    alignment: float
    over_baseline: float
    view_seed: int = 0

    def label(self) -> str:
        return (f"{' / '.join(self.prompts)} · {', '.join(self.views)} "
                f"(A {self.alignment:.2f}, {self.over_baseline:.2f}× the blend)")

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


def suggested_for(model_name: str) -> list[dict[str, Any]]:
    """The suggestions measured on this model, as settings dicts; [] for an unmeasured one."""
    return [s.settings() for s in SUGGESTED.get(model_name, ())]
