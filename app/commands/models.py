"""`models`: one line per model found: name, kind, size, where."""

from __future__ import annotations

import argparse

from engine.models.registry import find_models


def human_size(n: float) -> str:
    """Decimal units (1 MB = 10^6 bytes), as the README, TRAINING.md and docs/if-memory.md."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


def run(args: argparse.Namespace) -> int:
    found = find_models()
    if not found:
        print("no models found (the bundled ones live in resources/models/)")
    for info in found:
        line = f"{info.name}\t{info.kind}\t{human_size(info.size_bytes)}\t{info.where}"
        if info.memory_fp16:
            line += f"\tneeds ~{human_size(info.memory_fp16)} GPU memory at fp16"
        print(line)
    return 0
