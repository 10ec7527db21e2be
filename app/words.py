"""Counted nouns in the app's and the command line's sentences: "1 epoch", "3 epochs"."""

from __future__ import annotations


def counted(n: int, noun: str) -> str:
    """`n` and `noun`, plural (an s) unless `n` is 1."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
