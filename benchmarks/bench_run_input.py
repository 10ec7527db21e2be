"""A run's region conversion off the GUI thread (QA walk 8): how long does the window stop when
Run is pressed on a big image?

`Session.make_job` turned the region into the model's input on the GUI thread (0.5 s at 4000²
on the EPYC); now the job carries a snapshot and the engine thread converts it as the job
starts. For each image size, in ONE process, the window's Run (SDEdit of the whole image as the
region, the digit model, 3 steps, a preview at the last step only: a preview is scaled to the
region on the GUI thread, a cost of its own) is timed from the click to the job's first step:
  sync        the old path: the job's image converted in make_job, on the GUI thread
  background  what the window does now
with the largest gap between ticks of a 5 ms QTimer in the GUI thread over that span, the
median of --repeats runs (the two paths alternate), and the same timer with nothing running.

    python benchmarks/bench_run_input.py [--sizes 512,4000,9000] [--repeats 5] [--timer-ms 5]

Prints a markdown table. Offscreen (QT_QPA_PLATFORM=offscreen).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.jobs import with_image  # noqa: E402
from app.main_window import MainWindow  # noqa: E402
from app.qt_images import numpy_to_qimage  # noqa: E402
from benchmarks.bench_autosave import Ticks, idle, photo_like, spin  # noqa: E402
from benchmarks.bench_gui import make_window, model_folder  # noqa: E402


def press_run(app: QApplication, ticks: Ticks, window: MainWindow) -> tuple[float, float]:
    """(largest tick gap ms, seconds) from Run's click to the job's first step; then waits
    for the job's end."""
    runner = window.session.runner
    first_step: list[float] = []
    ended: list[bool] = []

    def on_progress(*_: object) -> None:
        if not first_step:
            first_step.append(time.perf_counter())

    runner.progress.connect(on_progress)
    runner.finished.connect(lambda *_: ended.append(True))
    runner.failed.connect(lambda _job, message: sys.exit(f"the run failed: {message}"))
    clicked: list[float] = []

    def click() -> None:
        clicked.append(time.perf_counter())
        window.modes.run_button.click()

    ticks.reset()
    QTimer.singleShot(0, click)
    spin(app, lambda: bool(first_step))
    gap = ticks.largest()
    spin(app, lambda: bool(ended))
    for signal in (runner.progress, runner.finished, runner.failed):
        signal.disconnect()
    return gap, first_step[0] - clicked[0]


def set_path(window: MainWindow, sync: bool) -> None:
    """The old path converts the job's image in make_job (on the GUI thread)."""
    session = window.session
    session.runner._make_job = ((lambda settings: with_image(session.make_job(settings)))
                                if sync else session.make_job)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="512,4000,9000")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--timer-ms", type=int, default=5)
    args = parser.parse_args(argv)
    app = QApplication.instance() or QApplication([])
    tmp = Path(tempfile.mkdtemp(prefix="bench-run-input-"))
    model, described = model_folder(tmp)
    window = make_window(model, tmp)
    window.show()
    spin(app, lambda: window.session.model_state is not None)
    window.modes.set_mode("sdedit")
    window.modes.steps.setValue(3)
    window.modes.preview_every.setValue(1000)  # a preview at the last step only
    ticks = Ticks(args.timer_ms)
    print(f"model: {described}; idle: largest tick gap {idle(app, ticks, 1.0):.0f} ms "
          f"({args.timer_ms} ms timer)\n")
    print("| image | sync: largest gap | sync: click to first step | background: largest gap "
          "| background: click to first step | gap ratio |")
    print("|---|---|---|---|---|---|")
    for side in (int(s) for s in args.sizes.split(",")):
        doc = window.session.document
        doc.set_image(numpy_to_qimage(photo_like(side)))
        doc.set_region(doc.image().rect())
        idle(app, ticks, 1.0)  # 'What the model sees' redraws once after the change
        seen: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
        for _ in range(args.repeats):
            for sync in (True, False):
                set_path(window, sync)
                seen[sync].append(press_run(app, ticks, window))
        gap_s, took_s = (statistics.median(v) for v in zip(*seen[True], strict=True))
        gap_b, took_b = (statistics.median(v) for v in zip(*seen[False], strict=True))
        print(f"| {side}² | {gap_s:.0f} ms | {took_s:.2f} s | {gap_b:.0f} ms | {took_b:.2f} s "
              f"| {gap_s / gap_b:.1f}x |")
    set_path(window, sync=False)
    window.session.document.set_saved()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
