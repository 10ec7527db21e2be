"""`sample`: COUNT images from pure noise into --out DIR (sample-000.png ..., grid.png)."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from app.commands.common import (
    check_steps,
    model_from_args,
    run_loop,
    to_images,
    usable_steps,
)
from app.commands.outputs import all_or_nothing, check_folder_output
from app.jobs import Job, job_parameters, make_run, own_parameters
from app.words import counted
from engine import edits, images
from engine.errors import EngineError
from engine.loops import generator_for


def run(args: argparse.Namespace) -> int:
    if args.count < 1:
        raise EngineError("-n must be at least 1")
    check_steps(args.steps)
    check_folder_output(args.out)
    model = model_from_args(args)
    args.steps = usable_steps(args.steps, model)
    prompt = edits.resolve_prompt(model, args.prompt)
    generator = generator_for(model, args.seed, args.count)
    job = Job(prompt=prompt, guidance=args.guidance, steps=args.steps, seed=args.seed,
              count=args.count, upscale=args.upscale)
    last, _ = run_loop(make_run(model, job, generator))
    x = last.x_t
    params = job_parameters(job, args.model, model, prompts_file=args.prompts)
    out = Path(args.out)
    pictures = to_images(model, x)
    with all_or_nothing() as written:  # a failure part-way leaves no partial set
        for index, picture in enumerate(pictures):
            own = own_parameters(params, index, len(pictures))
            images.save_png(picture, out / f"sample-{index:03d}.png", own)
            written.append(out / f"sample-{index:03d}.png")
        columns = min(len(pictures), max(1, math.ceil(math.sqrt(len(pictures)))))
        images.save_png(images.make_grid(pictures, columns), out / "grid.png", params)
    print(f"wrote {counted(len(pictures), 'sample')} and grid.png to {out}")
    note_earlier_samples(out, len(pictures))
    return 0


def note_earlier_samples(out: Path, count: int) -> None:
    """Samples of an earlier, larger batch in the same folder are left as they are, and said."""
    earlier = sorted(p.name for p in out.glob("sample-*.png")
                     if p.stem[len("sample-"):].isdigit() and int(p.stem[len("sample-"):]) >= count)
    if earlier:
        shown = ", ".join(earlier[:3]) + (f" and {len(earlier) - 3} more" if len(earlier) > 3
                                          else "")
        print(f"note: {out} still holds {shown} of an earlier run (not part of this grid)",
              file=sys.stderr)
