"""'What the model sees' off the GUI thread (QA walk 7): how long does the window stop while the
region is converted for the model?

The window redraws it after every change of the document. For each image size, in ONE process:
the largest gap between ticks of a 5 ms QTimer in the GUI thread while it is worked out,
  sync        the old path, still what `Session.model_input()` does: on the GUI thread
  background  what the window does now: `ModelSeesWorker.request(snapshot)`, until `ready`
and the same timer with nothing running. The model is the digit model's input (28 px grey) and
the image photo-like and opaque (benchmarks/bench_autosave.py's).

    python benchmarks/bench_model_sees.py [--sizes 512,4000,9000] [--timer-ms 5]

Prints a markdown table. Offscreen (QT_QPA_PLATFORM=offscreen).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtGui import QImage  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.model_sees import ModelSeesWorker, take_snapshot, what_the_model_sees  # noqa: E402
from app.qt_images import numpy_to_qimage  # noqa: E402
from benchmarks.bench_autosave import Ticks, idle, photo_like, spin  # noqa: E402


class DigitInput:
    size, channels, data_range = 28, 1, (-1.0, 1.0)


def synchronous(app: QApplication, ticks: Ticks, snap) -> tuple[float, float]:
    took: list[float] = []

    def convert() -> None:
        start = time.perf_counter()
        what_the_model_sees(snap)
        took.append(time.perf_counter() - start)

    ticks.reset()
    QTimer.singleShot(0, convert)
    spin(app, lambda: bool(took))
    after = time.monotonic() + 0.05
    spin(app, lambda: time.monotonic() > after)
    return ticks.largest(), took[0]


def background(app: QApplication, ticks: Ticks, worker: ModelSeesWorker, snap
               ) -> tuple[float, float]:
    done: list[float] = []
    worker.ready.connect(lambda *_: done.append(time.perf_counter()))
    ticks.reset()
    start = time.perf_counter()
    worker.request(snap)
    spin(app, lambda: bool(done))
    worker.ready.disconnect()
    return ticks.largest(), done[0] - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="512,4000,9000")
    parser.add_argument("--timer-ms", type=int, default=5)
    args = parser.parse_args(argv)
    app = QApplication.instance() or QApplication([])
    ticks, worker = Ticks(args.timer_ms), ModelSeesWorker()
    print(f"idle: largest tick gap {idle(app, ticks, 1.0):.0f} ms ({args.timer_ms} ms timer)\n")
    print("| image | sync: largest gap | sync: convert | background: largest gap | "
          "background: until shown |")
    print("|---|---|---|---|---|")
    for side in (int(s) for s in args.sizes.split(",")):
        argb = QImage.Format.Format_ARGB32  # the document's format
        image = numpy_to_qimage(photo_like(side)).convertToFormat(argb)
        snap = take_snapshot(image, image.rect(), DigitInput())
        gap_s, took_s = synchronous(app, ticks, snap)
        gap_b, took_b = background(app, ticks, worker, snap)
        print(f"| {side}² | {gap_s:.0f} ms | {took_s:.2f} s | {gap_b:.0f} ms | {took_b:.2f} s |")
    worker.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
