"""Loading a script of benchmarks/ as a module, for the tests of its pieces."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

from engine.training.emoji_model import TEST_SHAPE, TextShape

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(name: str) -> ModuleType:
    """benchmarks/NAME.py imported as module NAME (registered first: its dataclasses look their
    module up)."""
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# --- fixtures of the tests of bench_emoji_speed and the UNet levers (import them by name) -------
TINY_TEXT = TextShape(d_model=32, layers=1, heads=2, d_ff=64)


def emoji_speed_bench() -> ModuleType:
    return load_benchmark("bench_emoji_speed")


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    """benchmarks/bench_emoji_speed.py as a module."""
    return emoji_speed_bench()


@pytest.fixture(scope="module")
def cascade(bench: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random emoji cascade (IF-I-emoji + IF-II-emoji) in the bundle's layout."""
    torch.set_num_threads(1)
    return bench.export_random_cascade(tmp_path_factory.mktemp("cascade"), TEST_SHAPE,
                                       TEST_SHAPE, TINY_TEXT)
