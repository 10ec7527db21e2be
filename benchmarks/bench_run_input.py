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

With --previews, the previews of a run instead (one table per part):
  previews alone   --count previews of the model's size (28 px) sent to the window as the
                   runner sends them, one every --every-ms, each handled and painted; the largest
                   gap over them, and the GUI thread's time per preview (handler + paint)
  a run            a run of --steps steps with a preview after each, click to its end
each with the old handler ("scaled": the preview scaled to the region's size on the GUI thread,
the canvas drawing that), the canvas scaling the small preview into the region as it paints
but repainting the whole view ("whole": the window until session 10), and the window's now
("painted": only the region is repainted, and the document is not drawn under the opaque
preview), alternating, in the same process.

    python benchmarks/bench_run_input.py [--sizes 512,4000,9000] [--repeats 5] [--timer-ms 5]
    python benchmarks/bench_run_input.py --previews [--count 10] [--every-ms 100] [--steps 5]

Prints markdown tables. Offscreen (QT_QPA_PLATFORM=offscreen).
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

import numpy as np  # noqa: E402
from PySide6.QtCore import QElapsedTimer, QRect, Qt, QTimer  # noqa: E402
from PySide6.QtGui import QImage  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.jobs import with_image  # noqa: E402
from app.main_window import MainWindow  # noqa: E402
from app.qt_images import numpy_to_qimage, scaling_for  # noqa: E402
from app.session.jobs import JobKind, JobRecord  # noqa: E402
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


def scaled_preview(window: MainWindow, job: JobRecord, image: QImage, *_: object) -> None:
    """The old handler: the preview scaled to the region's size here, on the GUI thread."""
    if job.kind is JobKind.LIVE:
        window.result_view.show_live_preview(image)
        return
    side = window.session.document.region().size()
    window.canvas.preview(image.scaled(side, Qt.AspectRatioMode.IgnoreAspectRatio,
                                       scaling_for(image)))


def whole_preview(window: MainWindow, job: JobRecord, image: QImage, *rest: int) -> None:
    """The handler of session 9: the canvas keeps the small preview, and the whole view is
    repainted (with set_preview_path's "whole", the document drawn under the preview too)."""
    window._on_preview(job, image, *rest)
    window.canvas.update()


PATHS = ("scaled", "whole", "painted")


def set_preview_path(window: MainWindow, path: str) -> None:
    preview = window.session.runner.preview
    preview.disconnect()
    handlers = {"scaled": lambda *args: scaled_preview(window, *args),
                "whole": lambda *args: whole_preview(window, *args),
                "painted": window._on_preview}
    preview.connect(handlers[path])
    canvas = window.canvas
    if path == "painted":
        canvas.__dict__.pop("_hidden_by_preview", None)
    else:  # the document drawn under the preview, as before session 10
        canvas._hidden_by_preview = lambda: QRect()


class PaintClock:
    """The GUI thread's time in the canvas's paint events (ms), summed."""

    def __init__(self, window: MainWindow) -> None:
        self.ms = 0.0
        canvas = window.canvas
        paint = canvas.paintEvent

        def timed(event: object) -> None:
            clock = QElapsedTimer()
            clock.start()
            paint(event)
            self.ms += clock.nsecsElapsed() / 1e6

        canvas.paintEvent = timed


def previews_alone(app: QApplication, ticks: Ticks, window: MainWindow, paints: PaintClock,
                   count: int, every_ms: int) -> tuple[float, float]:
    """(largest tick gap ms, GUI ms per preview) for `count` previews sent as the runner
    sends them, each followed by the canvas's repaint."""
    rng = np.random.default_rng(0)
    job = JobRecord(0, JobKind.USER, None)
    runner = window.session.runner
    sent: list[int] = []
    handler_ms = [0.0]

    def send() -> None:
        image = numpy_to_qimage(rng.integers(0, 256, (28, 28, 3), dtype=np.uint8))
        clock = QElapsedTimer()
        clock.start()
        runner.preview.emit(job, image, len(sent) + 1, count)
        handler_ms[0] += clock.nsecsElapsed() / 1e6
        sent.append(1)
        if len(sent) < count:
            QTimer.singleShot(every_ms, send)

    spin(app, lambda: True)
    ticks.reset()
    paints.ms = 0.0
    QTimer.singleShot(0, send)
    spin(app, lambda: len(sent) == count)
    end = time.monotonic() + every_ms / 1000
    spin(app, lambda: time.monotonic() > end)  # the last repaint
    gap = ticks.largest()
    took = (handler_ms[0] + paints.ms) / count
    window.canvas.preview(None)
    return gap, took


def run_with_previews(app: QApplication, ticks: Ticks, window: MainWindow) -> float:
    """The largest tick gap (ms) from Run's click to the job's end."""
    runner = window.session.runner
    ended: list[bool] = []
    runner.finished.connect(lambda *_: ended.append(True))
    runner.failed.connect(lambda _job, message: sys.exit(f"the run failed: {message}"))
    ticks.reset()
    QTimer.singleShot(0, window.modes.run_button.click)
    spin(app, lambda: bool(ended))
    gap = ticks.largest()
    for signal in (runner.finished, runner.failed):
        signal.disconnect()
    return gap


def preview_tables(app: QApplication, ticks: Ticks, window: MainWindow, sizes: list[int],
                   args: argparse.Namespace) -> None:
    paints = PaintClock(window)
    alone: list[str] = []
    runs: list[str] = []
    window.modes.steps.setValue(args.steps)
    window.modes.preview_every.setValue(1)
    for side in sizes:
        doc = window.session.document
        doc.set_image(numpy_to_qimage(photo_like(side)))
        doc.set_region(doc.image().rect())
        idle(app, ticks, 1.0)
        seen: dict[str, list[tuple[float, float]]] = {path: [] for path in PATHS}
        ran: dict[str, list[float]] = {path: [] for path in PATHS}
        for _ in range(args.repeats):
            for path in PATHS:
                set_preview_path(window, path)
                seen[path].append(previews_alone(app, ticks, window, paints, args.count,
                                                 args.every_ms))
                ran[path].append(run_with_previews(app, ticks, window))
        gap, ms = {}, {}
        for path in PATHS:
            gap[path], ms[path] = (statistics.median(v) for v in zip(*seen[path], strict=True))
        cells = " | ".join(f"{gap[p]:.0f} ms | {ms[p]:.1f} ms" for p in PATHS)
        alone.append(f"| {side}² | {cells} | {gap['scaled'] / gap['painted']:.1f}x "
                     f"| {ms['whole'] / ms['painted']:.2f}x |")
        run = {path: statistics.median(ran[path]) for path in PATHS}
        cells = " | ".join(f"{run[p]:.0f} ms" for p in PATHS)
        runs.append(f"| {side}² | {cells} | {run['scaled'] / run['painted']:.1f}x "
                    f"| {run['whole'] / run['painted']:.2f}x |")
    print(f"previews alone: {args.count} previews of 28 px, one every {args.every_ms} ms\n")
    heads = " | ".join(f"{p}: largest gap | {p}: GUI per preview" for p in PATHS)
    print(f"| image | {heads} | gap scaled/painted | GUI whole/painted |")
    print("|---|" + "---|" * (2 * len(PATHS) + 2))
    print("\n".join(alone))
    print(f"\na run: SDEdit of the whole image, {args.steps} steps, a preview after each, "
          "click to end\n")
    heads = " | ".join(f"{p}: largest gap" for p in PATHS)
    print(f"| image | {heads} | scaled/painted | whole/painted |")
    print("|---|" + "---|" * (len(PATHS) + 2))
    print("\n".join(runs))
    set_preview_path(window, "painted")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="512,4000,9000")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--timer-ms", type=int, default=5)
    parser.add_argument("--previews", action="store_true",
                        help="time the previews of a run, not the run's start")
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--every-ms", type=int, default=100)
    parser.add_argument("--steps", type=int, default=5)
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
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.previews:
        preview_tables(app, ticks, window, sizes, args)
        window.session.document.set_saved()
        window.close()
        return 0
    print("| image | sync: largest gap | sync: click to first step | background: largest gap "
          "| background: click to first step | gap ratio |")
    print("|---|---|---|---|---|---|")
    for side in sizes:
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
