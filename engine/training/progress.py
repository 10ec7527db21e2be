"""The training runs' progress bar: a live bar in a terminal, whole lines in a log.

tqdm redraws its bar in place with carriage returns, which a piped or redirected stderr (nohup,
a CI log, `| tee`) keeps as one endless line. There the bar speaks in lines instead: one per
refresh (at most one a `LOG_INTERVAL_S`, and at each epoch's start).
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

LOG_INTERVAL_S = 60.0


class LineStream:
    """A stream for tqdm that writes each redraw of the bar as its own line."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        line = text.replace("\r", "").rstrip()
        if line:
            self.stream.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


def is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def progress_bar(total: int, initial: int = 0, desc: str = "", enabled: bool = True,
                 stream: TextIO | None = None) -> Any:
    """A tqdm bar of training steps on `stream` (default stderr)."""
    from tqdm import tqdm

    stream = stream or sys.stderr
    terminal = is_terminal(stream)
    return tqdm(total=total, initial=initial, desc=desc or None, unit="step",
                file=stream if terminal else LineStream(stream), disable=not enabled,
                dynamic_ncols=terminal, ncols=None if terminal else 100,
                mininterval=1.0 if terminal else LOG_INTERVAL_S)
