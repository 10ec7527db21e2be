"""The noise explorer's update rate on the digit model while the slider is dragged.

The model is resources/models/mnist-class when it is there, otherwise the course's D = 64
class-conditioned UNet with random weights saved to a temporary folder (the speed is the same;
the pictures are not). Two measurements, each with and without the iterative column:

- drag: the slider moves to a new t every 16 ms (a 60 Hz mouse) for `--seconds`, through the
  app's `ExplorerThread`s (latest request wins; one for the fast columns, one for the iterative
  column) with Qt offscreen; counted are the updates the GUI thread receives per second (fast
  columns: x_t, blur, one step) and the iterative columns that complete;
- back to back: requests computed one after another with no pacing (the ceiling).

Goal: at least 10 updates per second on 2 cores.

    python benchmarks/bench_explorer.py [--seconds 5] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from PySide6.QtCore import QCoreApplication, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.explorer import ExplorerThread, fast_images  # noqa: E402
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


def drag(explorer: Explorer, seconds: float, iterative: bool) -> tuple[float, float]:
    """(fast updates / s, iterative columns / s) received by the GUI thread while dragging,
    with the app's two threads (fast columns; iterative column)."""
    app = QCoreApplication.instance()
    threads = [ExplorerThread(part="fast")]
    if iterative:
        threads.append(ExplorerThread(part="iterative"))
    counts = {"fast": 0, "iterative": 0}
    threads[0].fastReady.connect(lambda *_: counts.__setitem__("fast", counts["fast"] + 1))
    threads[-1].iterativeReady.connect(
        lambda *_: counts.__setitem__("iterative", counts["iterative"] + 1))
    for thread in threads:
        thread.start()
    ts = list(range(1, explorer.top + 1)) + list(range(explorer.top, 0, -1))
    state = {"i": 0}

    def move() -> None:
        state["i"] += 1
        for thread in threads:
            thread.request(explorer, ts[state["i"] % len(ts)])

    timer = QTimer(interval=DRAG_INTERVAL_MS)
    timer.timeout.connect(move)
    timer.start()
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.002)
    timer.stop()
    for thread in threads:
        thread.stop()
    app.processEvents()
    return counts["fast"] / seconds, counts["iterative"] / seconds


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
            fast, full = drag(explorer, args.seconds, iterative)
            ceiling = back_to_back(explorer, min(args.seconds, 3.0), iterative)
            label = "with iterative   " if iterative else "without iterative"
            extra = f", iterative columns {full:5.1f}/s" if iterative else ""
            print(f"{label}: drag {fast:5.1f} updates/s{extra}; back to back "
                  f"{ceiling:5.1f} requests/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
