"""The noise explorer's update rate on the digit model while the slider is dragged.

The model is resources/models/mnist-class when it is there, otherwise the course's D = 64
class-conditioned UNet with random weights saved to a temporary folder (the speed is the same;
the pictures are not). Two measurements, each with and without the iterative column:

- drag: the slider moves to a new t every 16 ms (a 60 Hz mouse) for `--seconds`, through the
  app's two `Worker`s (newest request only; one for the fast columns, one for the iterative
  column), each borrowing the model from a `ModelLease` a step at a time as the app's do, with
  Qt offscreen; counted are the updates the GUI thread receives per second (fast columns: x_t,
  blur, one step) and the iterative columns that complete;
- back to back: requests computed one after another with no pacing, no worker, no lease (the
  ceiling, and the baseline of the ratio).

With the iterative column, a stand-in engine also asks for the model every 250 ms while the
slider moves (as a run would; `--engine-every 0`: never) and holds it 30 ms: its wait is
printed against one iterative step, the most the lease should make it wait.

Goal: at least 10 updates per second on 2 cores.

    python benchmarks/bench_explorer.py [--seconds 5] [--threads N] [--engine-every S]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from PySide6.QtCore import QCoreApplication, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.engine_thread import ModelLease  # noqa: E402
from app.explorer import ExplorerWork, Inputs, SharedExplorer, fast_images  # noqa: E402
from app.session.worker import Worker  # noqa: E402
from engine.explore import Explorer  # noqa: E402
from engine.models.registry import load_model  # noqa: E402
from engine.training.checkpoint import save_weights, write_config  # noqa: E402
from engine.training.unets import build_unet  # noqa: E402

BUNDLED = Path(__file__).resolve().parents[1] / "resources" / "models" / "mnist-class"
DRAG_INTERVAL_MS = 16


def digit_model(folder: Path) -> tuple[str, str]:
    """(spec, what it is): the bundled model, or a random D = 64 one saved in `folder`."""
    if (BUNDLED / "model.safetensors").is_file():
        return str(BUNDLED), "bundled mnist-class"
    torch.manual_seed(0)
    net = build_unet("class", 64)
    save_weights(net, folder / "model.safetensors", metadata={"kind": "class", "hidden": 64})
    write_config(folder, {"kind": "class", "hidden": 64, "num_timesteps": 300,
                          "convention": "ddpm"})
    return str(folder), "random D=64 class UNet (no bundled mnist-class)"


def a_digit() -> torch.Tensor:
    x = torch.zeros(1, 1, 28, 28)
    x[..., 6:22, 12:16] = 1.0
    return x


class LendingEngine:
    """The engine thread's lease around a model, as the explorer's workers see it."""

    def __init__(self, model) -> None:
        self.model = model
        self.lease = ModelLease()
        self.holds: list[float] = []  # how long each borrower held the model, in s

    @contextmanager
    def lend_model(self, stop=None, urgent=False):
        with self.lease.lend(stop, urgent):
            start = time.perf_counter()
            try:
                yield self.model
            finally:
                self.holds.append(time.perf_counter() - start)


def engine_asks(lease: ModelLease, stop: threading.Event, waits: list[float],
                every_s: float = 0.25, hold_s: float = 0.03) -> None:
    """A stand-in engine: asks for the model now and then, as a run would; records each wait."""
    while not stop.wait(every_s):
        asked = time.perf_counter()
        with lease.engine_turn():
            waits.append(time.perf_counter() - asked)
            time.sleep(hold_s)


def drag(explorer: Explorer, seconds: float, iterative: bool, engine_every_s: float = 0.25
         ) -> tuple[float, float, list[float], list[float]]:
    """(fast updates / s, iterative columns / s, the engine's waits in s, the borrowers' holds
    in s) received by the GUI thread while dragging, with the app's two workers (fast
    columns; iterative column)."""
    app = QCoreApplication.instance()
    engine = LendingEngine(explorer.model)
    work = ExplorerWork(engine, SharedExplorer())
    inputs = Inputs(1, explorer.x0, explorer.prompt)
    fast_worker, iterative_worker = Worker("fast"), Worker("iterative")
    counts = {"fast": 0, "iterative": 0}
    fast_worker.finished.connect(lambda *_: counts.__setitem__("fast", counts["fast"] + 1))
    iterative_worker.finished.connect(
        lambda *_: counts.__setitem__("iterative", counts["iterative"] + 1))
    ts = list(range(1, explorer.top + 1)) + list(range(explorer.top, 0, -1))
    state = {"i": 0}

    def move() -> None:
        state["i"] += 1
        t = ts[state["i"] % len(ts)]
        fast_worker.submit(work.fast, fast_worker, inputs, t, key="columns")
        if iterative:
            iterative_worker.submit(work.iterative, iterative_worker, inputs, t, key="columns")

    waits: list[float] = []
    stop = threading.Event()
    asker = threading.Thread(target=engine_asks,
                             args=(engine.lease, stop, waits, engine_every_s or 1.0))
    asking = iterative and engine_every_s > 0
    if asking:
        asker.start()
    timer = QTimer(interval=DRAG_INTERVAL_MS)
    timer.timeout.connect(move)
    timer.start()
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.002)
    timer.stop()
    stop.set()
    if asking:
        asker.join()
    fast_worker.join()
    iterative_worker.join()
    app.processEvents()
    return counts["fast"] / seconds, counts["iterative"] / seconds, waits, engine.holds


def one_step_s(explorer: Explorer, t: int = 150, repeats: int = 3) -> float:
    """Seconds per iterative step (the longest a borrower holds the model)."""
    best = float("inf")
    for _ in range(repeats):
        start, n = time.perf_counter(), 0
        for _ in explorer.iterative_steps(t):
            n += 1
        best = min(best, (time.perf_counter() - start) / max(n, 1))
    return best


def back_to_back(explorer: Explorer, seconds: float, iterative: bool) -> float:
    """Columns per second computed one request after another (images converted too)."""
    done, t = 0, 1
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        cols = explorer.fast(t)
        fast_images(explorer, cols)
        if iterative:
            explorer.iterative(t)
        done += 1
        t = t % explorer.top + 7
    return done / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 2) - 1),
                        help="torch threads (the app leaves one core to the GUI)")
    parser.add_argument("--engine-every", type=float, default=0.25,
                        help="seconds between the stand-in engine's asks (0: none)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:
        spec, what = digit_model(Path(tmp))
        model = load_model(spec, "cpu")
        explorer = Explorer(model, a_digit(), "", 1.0, 180)
        explorer.columns(150)  # warm up
        print(f"model: {what}; T = {explorer.top}; {len(explorer.timesteps)} strided "
              f"timesteps; torch threads {args.threads}; {os.cpu_count()} cores")
        for iterative in (False, True):
            fast, full, waits, holds = drag(explorer, args.seconds, iterative,
                                            args.engine_every)
            ceiling = back_to_back(explorer, min(args.seconds, 3.0), iterative)
            label = "with iterative   " if iterative else "without iterative"
            extra = f", iterative columns {full:5.1f}/s" if iterative else ""
            print(f"{label}: drag {fast:5.1f} updates/s{extra}; back to back "
                  f"{ceiling:5.1f} requests/s (drag / back to back {fast / ceiling:4.2f})")
            if waits:
                step = one_step_s(explorer)
                print(f"  engine's wait for the model ({len(waits)} asks): median "
                      f"{statistics.median(waits) * 1000:5.1f} ms, max {max(waits) * 1000:5.1f}"
                      f" ms; one iterative step {step * 1000:5.1f} ms (max / step "
                      f"{max(waits) / step:4.2f}); borrowers' holds: median "
                      f"{statistics.median(holds) * 1000:5.1f} ms, max {max(holds) * 1000:5.1f}"
                      f" ms (max wait / max hold {max(waits) / max(holds):4.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
