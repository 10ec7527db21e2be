"""`data emoji --out DIR`: prepare the emoji training set (engine/training/emoji_data.py).

The npm tarballs are kept in --cache (default: DIR/npm-cache), so a second run needs no network.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.commands.outputs import check_folder_output, no_empty_folders_left


def run(args: argparse.Namespace) -> int:
    from engine.training import emoji_data

    out_dir = Path(args.out).expanduser()
    cache = Path(args.cache).expanduser() if args.cache else out_dir / "npm-cache"
    check_folder_output(args.out)
    check_folder_output(str(cache), "cache")
    with no_empty_folders_left(out_dir, cache):
        data = emoji_data.prepare(out_dir, cache)
    by_style: dict[str, int] = {}
    for entry in data.entries:
        by_style[entry["style"]] = by_style.get(entry["style"], 0) + 1
    counts = ", ".join(f"{n} {style}" for style, n in by_style.items())
    print(f"wrote {len(data)} emoji ({counts}) at {data.images.shape[1]} px to {out_dir}",
          file=sys.stderr)
    return 0
