"""`reproduce {part-a,part-b} --out DIR [--quick]`: the write-up's figures with an index page."""

from __future__ import annotations

import argparse

from app.commands.outputs import check_folder_output
from engine.errors import EngineError

# the options only part-a reads, with their defaults (part-b trains its own digit models)
PART_A_OPTIONS = {"model": None, "prompts": None, "dtype": "auto", "offload": "none"}


def run(args: argparse.Namespace) -> int:
    if args.part == "part-b":
        _refuse_part_a_options(args)
    check_folder_output(args.out)
    if args.part == "part-b":
        from engine.training.reproduce import QUICK_NOTE, reproduce_part_b

        made = reproduce_part_b(args.out, quick=args.quick, device=args.device)
        print(f"wrote {len(made)} figures and index.html to {args.out}")
        if args.quick:
            print(QUICK_NOTE)
        return 0
    try:
        from engine.reproduce_a import reproduce_part_a
    except ImportError:
        raise EngineError("reproduce part-a is not available in this version yet") from None
    made = reproduce_part_a(args.out, model_spec=args.model or "mnist", prompts_file=args.prompts,
                            quick=args.quick, device=args.device,
                            dtype=getattr(args, "dtype", None),
                            offload=getattr(args, "offload", "none"))
    print(f"wrote {len(made)} figures and index.html to {args.out}")
    return 0


def _refuse_part_a_options(args: argparse.Namespace) -> None:
    given = [f"--{name}" for name, default in PART_A_OPTIONS.items()
             if getattr(args, name, default) != default]
    if given:
        verb = "applies" if len(given) == 1 else "apply"
        raise EngineError(f"{', '.join(given)} {verb} to part-a; part-b trains its own digit "
                          "models (leave it out)")
