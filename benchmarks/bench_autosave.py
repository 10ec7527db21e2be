"""Autosave off the GUI thread (QA walk 7): how long does the window stop while it saves?

For each image size, in ONE process: the largest gap between ticks of a 5 ms QTimer in the GUI
thread while an autosave is written, and the write's time,
  sync        the old path, still callable: `Autosaver.save_now()` on the GUI thread
  background  what the timer does now: `save_in_background()`, until `saved` arrives
and the same timer with nothing running (the machine's own noise). Then, on the largest image,
the time `mark_clean_exit` takes with a background write in flight (it cancels and waits), and
the time `close` takes (it waits for the write to end).

The image is photo-like: a smooth random field (a 1/100 grid scaled up) plus 0-3 of noise per
channel, opaque (the autosave's RGB path), with a mask stroke. Level 1 PNG, as the autosave.

    python benchmarks/bench_autosave.py [--sizes 512,4000,9000] [--timer-ms 5]

Prints a markdown table. Offscreen (QT_QPA_PLATFORM=offscreen).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import QElapsedTimer, QEventLoop, QPointF, Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.autosave import Autosaver  # noqa: E402
from app.document import Document  # noqa: E402
from app.qt_images import numpy_to_qimage  # noqa: E402


def photo_like(side: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    grid = (rng.random((side // 100 + 2, side // 100 + 2, 3)) * 255).astype(np.uint8)
    smooth = np.asarray(Image.fromarray(grid).resize((side, side), Image.Resampling.BILINEAR))
    return smooth + rng.integers(0, 4, smooth.shape, dtype=np.uint8)  # wraps rarely: fine


def document(side: int) -> Document:
    doc = Document()
    doc.set_image(numpy_to_qimage(photo_like(side)))
    doc.begin_stroke("mask", QPointF(side / 4, side / 4), max(3.0, side / 20), 0.5)
    doc.stroke_to(QPointF(side / 2, side / 3))
    doc.end_stroke()
    return doc


class Ticks:
    """A `ms` timer in the GUI thread; `largest()` is the largest gap (ms) since `reset()`."""

    def __init__(self, ms: int) -> None:
        self._clock = QElapsedTimer()
        self._clock.start()
        self._gaps: list[float] = []
        self._last = self._clock.nsecsElapsed()
        self._timer = QTimer()
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(ms)
        self._timer.timeout.connect(self._tick)
        self._timer.start()

    def _tick(self) -> None:
        now = self._clock.nsecsElapsed()
        self._gaps.append((now - self._last) / 1e6)
        self._last = now

    def reset(self) -> None:
        self._gaps, self._last = [], self._clock.nsecsElapsed()

    def largest(self) -> float:
        return max(self._gaps, default=float("nan"))


def spin(app: QApplication, until: Callable[[], bool], timeout_s: float = 600.0) -> None:
    """Runs the event loop (idle between events, as the app's) until `until()` is true."""
    end = time.monotonic() + timeout_s
    loop = QEventLoop()

    def check() -> None:
        if until():
            loop.quit()
        elif time.monotonic() > end:
            loop.exit(1)

    timer = QTimer()
    timer.setInterval(2)
    timer.timeout.connect(check)
    timer.start()
    failed = loop.exec()
    timer.stop()
    if failed:
        raise TimeoutError("timed out")


def idle(app: QApplication, ticks: Ticks, seconds: float) -> float:
    ticks.reset()
    end = time.monotonic() + seconds
    spin(app, lambda: time.monotonic() > end)
    return ticks.largest()


def synchronous(app: QApplication, ticks: Ticks, saver: Autosaver) -> tuple[float, float]:
    """(largest gap ms, write s) of save_now run from the event loop, as the old tick did."""
    took: list[float] = []

    def save() -> None:
        start = time.perf_counter()
        assert saver.save_now()
        took.append(time.perf_counter() - start)

    ticks.reset()
    QTimer.singleShot(0, save)
    spin(app, lambda: bool(took))
    idle_after = time.monotonic() + 0.05  # the tick that comes after the freeze
    spin(app, lambda: time.monotonic() > idle_after)
    return ticks.largest(), took[0]


def background(app: QApplication, ticks: Ticks, saver: Autosaver) -> tuple[float, float, float]:
    """(largest gap ms, write s until `saved`, ms the GUI thread spent starting it)."""
    done: list[float] = []
    saver.saved.connect(lambda _: done.append(time.perf_counter()))
    ticks.reset()
    start = time.perf_counter()
    assert saver.save_in_background()
    started = (time.perf_counter() - start) * 1000
    spin(app, lambda: bool(done))
    saver.saved.disconnect()
    return ticks.largest(), done[0] - start, started


def exit_during_write(app: QApplication, doc: Document, root: Path, clean: bool,
                      after_s: float) -> float:
    """s that mark_clean_exit (clean) or close takes `after_s` into a background write."""
    saver = Autosaver(doc, root, interval_s=3600)
    assert saver.save_in_background()
    end = time.monotonic() + after_s
    spin(app, lambda: time.monotonic() > end)
    assert saver.writing, "the write ended before the exit: give a larger image"
    start = time.perf_counter()
    (saver.mark_clean_exit if clean else saver.close)()
    took = time.perf_counter() - start
    if not clean:
        saver.mark_clean_exit()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="512,4000,9000", help="image sides, comma-separated")
    parser.add_argument("--timer-ms", type=int, default=5)
    parser.add_argument("--idle-s", type=float, default=15.0,
                        help="length of the no-write baseline (near the largest write's)")
    parser.add_argument("--exit-after", type=float, default=1.5,
                        help="s into the largest write when the exit is timed")
    args = parser.parse_args()
    sides = [int(s) for s in args.sizes.split(",")]
    app = QApplication.instance() or QApplication(sys.argv[:1])
    ticks = Ticks(args.timer_ms)
    print(f"{os.cpu_count()} cores; a {args.timer_ms} ms timer; idle: largest gap "
          f"{idle(app, ticks, args.idle_s):.0f} ms over {args.idle_s:.0f} s", flush=True)
    print("| image | file MB | sync: gap ms | sync: write s | background: gap ms "
          "| background: write s | start ms | gap ratio |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for side in sides:
            doc = document(side)
            saver = Autosaver(doc, tmp / f"s{side}", interval_s=3600)
            sync_gap, sync_s = synchronous(app, ticks, saver)
            bg_gap, bg_s, start_ms = background(app, ticks, saver)
            size_mb = saver.autosave_path.stat().st_size / 1e6
            saver.mark_clean_exit()
            print(f"| {side}² | {size_mb:.1f} | {sync_gap:.0f} | {sync_s:.2f} | {bg_gap:.0f} | "
                  f"{bg_s:.2f} | {start_ms:.1f} | {sync_gap / bg_gap:.0f}x |", flush=True)
        doc = document(sides[-1])
        clean = exit_during_write(app, doc, tmp / "exit", True, args.exit_after)
        kept = exit_during_write(app, doc, tmp / "close", False, args.exit_after)
    print(f"\n{sides[-1]}² write in flight ({args.exit_after} s in): mark_clean_exit (cancel + "
          f"wait) {clean * 1000:.0f} ms; close (waits for the end) {kept:.2f} s")


if __name__ == "__main__":
    main()
