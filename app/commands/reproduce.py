"""`reproduce {part-a,part-b} --out DIR [--quick]`: the write-up's figures with an index page."""

from __future__ import annotations

import argparse

from app.commands.outputs import check_folder_output
from engine.errors import EngineError


def run(args: argparse.Namespace) -> int:
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
    made = reproduce_part_a(args.out, model_spec=args.model, prompts_file=args.prompts,
                            quick=args.quick, device=args.device,
                            dtype=getattr(args, "dtype", None),
                            offload=getattr(args, "offload", "none"))
    print(f"wrote {len(made)} figures and index.html to {args.out}")
    return 0
