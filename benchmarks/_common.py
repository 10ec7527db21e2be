"""What the benchmarks share: the run's --threads and --device options, the machine line."""

from __future__ import annotations

import argparse
import os

import torch


def parse_run_args(parser: argparse.ArgumentParser, argv: list[str] | None
                   ) -> argparse.Namespace:
    """`argv` parsed after adding --threads (default: torch's count, set when given) and
    --device (default cpu)."""
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    return args


def picks(count: int, total: int) -> list[int]:
    """Up to `count` indices spread evenly over range(total), without repeats."""
    return list(dict.fromkeys(torch.linspace(0, total - 1, min(count, total)).round()
                              .long().tolist()))


def machine() -> str:
    """The CPU, its bf16 support, torch and the CPU count: the start of a benchmark's header."""
    from engine import devices

    cpu = devices.cpu_info()
    return (f"{cpu.model} (bf16: {cpu.bf16_support}), torch {torch.__version__}, "
            f"{os.cpu_count()} CPUs")
