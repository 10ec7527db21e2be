"""Settings read back from a file (a project's panel settings, a PNG's parameters chunk) are
checked before any of them is shown: a value of the wrong type or out of the panel's range (a
seed of 1e30, a NaN guidance) is left out, with one phrase saying which and why, so applying
the rest can never fail half-way."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from app.session.modes import is_mode
from widgets.modes_panel import MAX_SEED

MAX_PROMPT_CHARS = 2000


def _number(low: float, high: float) -> Callable[[Any], bool]:
    def ok(value: Any) -> bool:
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value) and low <= value <= high)
    ok.wanted = f"a number from {low:g} to {high:g}"  # type: ignore[attr-defined]
    return ok


def _whole(low: int, high: int) -> Callable[[Any], bool]:
    def ok(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    ok.wanted = f"a whole number from {low} to {high}"  # type: ignore[attr-defined]
    return ok


def _text(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= MAX_PROMPT_CHARS


_text.wanted = f"text of at most {MAX_PROMPT_CHARS} characters"  # type: ignore[attr-defined]


def _texts(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and len(value) <= 16 and all(
        v is None or _text(v) for v in value)


_texts.wanted = "a short list of texts"  # type: ignore[attr-defined]


def _flag(value: Any) -> bool:
    return isinstance(value, bool)


_flag.wanted = "true or false"  # type: ignore[attr-defined]


def _mode(value: Any) -> bool:
    return is_mode(value)


_mode.wanted = "one of the app's modes"  # type: ignore[attr-defined]

# Each key the panel reads back, and what it accepts (the panel's own ranges).
RULES: dict[str, Callable[[Any], bool]] = {
    "mode": _mode, "command": _text, "prompt": _text, "prompt2": _text, "prompt3": _text,
    "view": _text, "split": _text, "views": _texts, "prompts": _texts,
    "guidance": _number(0.0, 30.0), "sigma": _number(0.0, 20.0), "sigma2": _number(0.0, 20.0),
    "steps": _whole(0, 1000), "seed": _whole(0, MAX_SEED), "view_seed": _whole(0, MAX_SEED),
    "count": _whole(1, 64), "i_start": _whole(0, 1000), "upscale": _flag,
    "random_seed": _flag,
    "live_steps": _whole(0, 1000), "run_steps": _whole(0, 1000),
}


def clean_run_settings(values: Any) -> tuple[dict[str, Any], list[str]]:
    """(the settings that may be applied, one phrase per value left out). None is "not set"
    and passes; keys the panel does not read pass unchanged."""
    if not isinstance(values, dict):
        return {}, ["the saved settings are not a JSON object"]
    clean: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in values.items():
        rule = RULES.get(key)
        if value is None or rule is None or rule(value):
            clean[key] = value
            continue
        shown = repr(value)
        shown = shown if len(shown) <= 40 else shown[:39] + "…"
        problems.append(f"{key} {shown} is not {rule.wanted}")  # type: ignore[attr-defined]
    return clean, problems


def describe(problems: list[str]) -> str:
    """One line for the status bar."""
    return "Some saved settings were left out: " + "; ".join(problems)
