"""Checked argparse types: a number out of range, NaN, infinity or an empty path is refused
before anything runs, with one line that names the option and its limits (exit 1, as the
commands' own checks). Every message starts with "must be" (app.cli tells them apart by it)."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable

MAX_SEED = 2 ** 63 - 1  # torch.Generator.manual_seed takes up to a signed 64-bit number
MAX_COUNT = 1024  # images in one `sample` run
MAX_STEPS = 10_000
MAX_RESAMPLE = 100  # RePaint repeats per step
MAX_JUMP = 1000
MAX_THREADS = 4 * max(1, os.cpu_count() or 1)


def whole(low: int, high: int) -> Callable[[str], int]:
    """A whole number in [low, high]."""
    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be a whole number, at least {low} and at "
                                             f"most {_show(high)} (not {text!r})")
        return value

    parse.__name__ = "whole number"
    return parse


def number(low: float | None = None, high: float | None = None,
           above: float | None = None) -> Callable[[str], float]:
    """A finite number in [low, high] (or > above)."""
    if above is not None:
        wanted = f"must be a finite number above {_show(above)}" + (
            f" and at most {_show(high)}" if high is not None else "")
    else:
        wanted = f"must be a finite number from {_show(low)} to {_show(high)}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        ok = math.isfinite(value) and (low is None or value >= low) \
            and (high is None or value <= high) and (above is None or value > above)
        if not ok:
            raise argparse.ArgumentTypeError(f"{wanted} (not {text!r})")
        return value

    parse.__name__ = "number"
    return parse


def path(text: str) -> str:
    """A file or folder name that is not empty (an empty one would mean the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must be a file or folder name, not empty")
    if "\0" in text:
        raise argparse.ArgumentTypeError("must be a file or folder name without NUL characters")
    return text


def _show(value: float | None) -> str:
    if value == MAX_SEED:
        return "2**63 - 1"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return f"{value:,}".replace(",", "_") if isinstance(value, int) and value > 99_999 \
        else str(value)
