"""The autosave writes in a worker thread: the window never waits for PNG encoding or the zip
(QA walk 7: 5 s frozen every 30 s on a 9000 x 9000 image). A gate stands in for a slow write."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPointF, QRect, Qt, QTimer
from PySide6.QtGui import QColor

import app.autosave as autosave
from app.autosave import Autosaver
from app.document import Document, image_array
from app.history import History, Result
from app.project import ProjectError, load_project, save_project
from app.qt_images import numpy_to_qimage, qimage_to_numpy

ROOT = Path(__file__).resolve().parents[1]
PATIENCE_S = 30.0  # how long a gate waits before giving up (a safety net, never asserted)


class Gate:
    """Replaces the worker's write: records each call, then holds it until `release` is set (or
    the write is cancelled), then writes for real."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, honour_cancel: bool = True) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.threads: list[threading.Thread] = []
        self.gave_up = False
        self._real = autosave.write_snapshot
        self._honour_cancel = honour_cancel
        monkeypatch.setattr(autosave, "write_snapshot", self._write)

    def _write(self, path, snapshot, cancelled=None) -> None:
        self.threads.append(threading.current_thread())
        self.started.set()
        for _ in range(int(PATIENCE_S / 0.005)):
            if self.release.wait(0.005) or (cancelled is not None and cancelled()):
                break
        else:
            self.gave_up = True
        self._real(path, snapshot, cancelled if self._honour_cancel else None)

    @property
    def calls(self) -> int:
        return len(self.threads)


def noise(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def work(opaque: bool = True) -> tuple[Document, History]:
    """A modified document (odd width, so rows are padded; some see-through pixels unless
    `opaque`), a mask stroke, a moved region and one result with frames."""
    doc = Document()
    rgba = noise((45, 61, 4), 1)
    if opaque:
        rgba[..., 3] = 255
    doc.set_image(numpy_to_qimage(rgba))
    doc.begin_stroke("mask", QPointF(10, 10), 9, 0.5)
    doc.stroke_to(QPointF(40, 30))
    doc.end_stroke()
    doc.set_region(QRect(5, 3, 40, 40))
    doc.background = QColor("#204060")
    history = History()
    history.append(Result(numpy_to_qimage(noise((16, 16, 3), 2)), {"mode": "sample", "seed": 4},
                          [numpy_to_qimage(noise((16, 16), 3)) for _ in range(2)]))
    return doc, history


def paint(doc: Document, x: float) -> None:
    doc.begin_stroke("brush", QPointF(x, 20), 7, 1.0, QColor("red"))
    doc.end_stroke()


def image_of(path: Path) -> np.ndarray:
    return qimage_to_numpy(load_project(path).image, "RGBA")


def rgba(doc: Document) -> np.ndarray:
    return qimage_to_numpy(doc.image(), "RGBA")


def on_main_thread(signal) -> list[bool]:
    """For each emission of `signal`: whether it was emitted on the main (GUI) thread (a direct
    connection runs its slot in the emitting thread)."""
    seen: list[bool] = []
    signal.connect(lambda *_: seen.append(threading.current_thread() is threading.main_thread()),
                   Qt.ConnectionType.DirectConnection)
    return seen


def test_a_tick_returns_at_once_and_the_window_runs_while_the_write_waits(qtbot, tmp_path,
                                                                         monkeypatch):
    gate = Gate(monkeypatch)
    doc, history = work()
    saver = Autosaver(doc, tmp_path, interval_s=3600, history=history)
    saved = on_main_thread(saver.saved)
    saver._tick()  # what the timer does: returns with the write held in the worker
    assert gate.started.wait(PATIENCE_S) and saver.writing
    assert gate.threads[0] is not threading.main_thread()
    ticks = []
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start()
    qtbot.waitUntil(lambda: len(ticks) >= 5, timeout=10_000)  # events flow meanwhile
    assert saver.writing and not saver.autosave_path.exists()
    with qtbot.waitSignal(saver.saved, timeout=20_000):
        gate.release.set()
    timer.stop()
    assert saved == [True], "saved is emitted once, on the GUI thread"
    assert not saver.writing and not gate.gave_up
    assert np.array_equal(image_of(saver.autosave_path), rgba(doc))
    saver.mark_clean_exit()


@pytest.mark.parametrize("opaque", [True, False])
def test_the_background_file_is_what_save_project_writes(qtbot, tmp_path, opaque):
    doc, history = work(opaque)
    saver = Autosaver(doc, tmp_path / "autosave", interval_s=3600, history=history)
    saver.project_path = "/somewhere/p.dcproj"
    with qtbot.waitSignal(saver.saved, timeout=20_000):
        assert saver.save_in_background()
    by_hand = tmp_path / "by-hand.dcproj"
    save_project(by_hand, doc, history, {"autosave": {"project_path": "/somewhere/p.dcproj"}})
    a, b = load_project(saver.autosave_path), load_project(by_hand)
    assert np.array_equal(qimage_to_numpy(a.image, "RGBA"), qimage_to_numpy(b.image, "RGBA"))
    assert np.array_equal(qimage_to_numpy(a.image, "RGBA"), rgba(doc)), "exact pixels"
    assert np.array_equal(qimage_to_numpy(a.mask, "L"), qimage_to_numpy(doc.mask(), "L"))
    assert np.array_equal(qimage_to_numpy(b.mask, "L"), qimage_to_numpy(doc.mask(), "L"))
    assert qimage_to_numpy(doc.mask(), "L").any(), "the mask stroke is there to compare"
    assert a.region == b.region == QRect(5, 3, 40, 40)
    assert a.background == b.background == QColor("#204060")
    assert a.settings == b.settings == {"autosave": {"project_path": "/somewhere/p.dcproj"}}
    assert len(a.results) == len(b.results) == 1
    for x, y in zip(a.results, b.results):
        assert x.parameters == y.parameters == {"mode": "sample", "seed": 4}
        assert np.array_equal(qimage_to_numpy(x.image), qimage_to_numpy(y.image))
        assert [qimage_to_numpy(f).tolist() for f in x.frames] == \
            [qimage_to_numpy(f).tolist() for f in y.frames]
    saver.mark_clean_exit()


def test_a_tick_during_a_write_starts_no_second_one_and_the_next_saves_the_newest(
        qtbot, tmp_path, monkeypatch):
    gate = Gate(monkeypatch)
    doc, _ = work()
    saver = Autosaver(doc, tmp_path, interval_s=3600)
    saver._tick()
    assert gate.started.wait(PATIENCE_S)
    first = rgba(doc)
    paint(doc, 30)  # a change while the write runs: the document copies itself, not the write
    second = rgba(doc)
    assert not np.array_equal(first, second)
    saver._tick()
    assert gate.calls == 1, "one write at a time"
    with qtbot.waitSignal(saver.saved, timeout=20_000):
        gate.release.set()
    assert np.array_equal(image_of(saver.autosave_path), first), "the state when it started"
    with qtbot.waitSignal(saver.saved, timeout=20_000):
        saver._tick()  # still dirty: the change made during the write is saved now
    assert gate.calls == 2
    assert np.array_equal(image_of(saver.autosave_path), second)
    saver._tick()
    assert gate.calls == 2 and not saver.writing, "nothing new: nothing written"
    saver.mark_clean_exit()


@pytest.mark.parametrize("honour_cancel", [True, False])
def test_a_clean_exit_during_a_write_leaves_no_folder_ever(qtbot, tmp_path, monkeypatch,
                                                          honour_cancel):
    """Cancelled, or written to its end despite the cancel: the folder goes after the write
    has ended, so a late write cannot bring it back."""
    gate = Gate(monkeypatch, honour_cancel)
    doc, history = work()
    saver = Autosaver(doc, tmp_path, interval_s=3600, history=history)
    ended: list[str] = []
    saver.saved.connect(ended.append)
    saver.failed.connect(ended.append)
    saver._tick()
    assert gate.started.wait(PATIENCE_S) and saver.writing
    saver.mark_clean_exit()  # the gate opens only through the cancel
    assert not gate.gave_up and not saver.writing
    assert list(tmp_path.iterdir()) == []
    qtbot.wait(50)  # any queued report of the write is delivered now
    assert list(tmp_path.iterdir()) == [], "never recreated"
    assert ended == [], "a clean exit reports nothing about the autosave it deletes"
    saver._tick()
    assert gate.calls == 1 and list(tmp_path.iterdir()) == []


def test_close_during_a_write_keeps_the_newest_autosave(qtbot, tmp_path, monkeypatch):
    gate = Gate(monkeypatch, honour_cancel=False)
    doc, _ = work()
    saver = Autosaver(doc, tmp_path, interval_s=3600)
    saver._tick()
    assert gate.started.wait(PATIENCE_S)
    gate.release.set()
    saver.close()  # waits for the write: what a crash leaves is the newest state
    assert saver.autosave_path.is_file()
    assert np.array_equal(image_of(saver.autosave_path), rgba(doc))
    recovery = Autosaver(Document(), tmp_path).pending_recovery()
    assert recovery is not None and recovery.size == (61, 45)


def test_back_to_clean_during_a_write_unlinks_only_after_it(qtbot, tmp_path, monkeypatch):
    doc, _ = work()
    saver = Autosaver(doc, tmp_path, interval_s=3600)
    assert saver.save_now()
    gate = Gate(monkeypatch)
    paint(doc, 20)
    saver._tick()
    assert gate.started.wait(PATIENCE_S)
    doc.set_saved()  # saved by hand meanwhile: nothing to recover any more
    saver._tick()
    assert saver.autosave_path.is_file(), "not unlinked under the write"
    with qtbot.waitSignal(saver.saved, timeout=20_000):
        gate.release.set()
    saver._tick()
    assert not saver.autosave_path.exists() and gate.calls == 1
    saver.mark_clean_exit()


def test_a_failing_write_says_so_on_the_gui_thread_and_stays_dirty(qtbot, tmp_path,
                                                                   monkeypatch):
    real, threads = autosave.write_snapshot, []

    def failing(path, snapshot, cancelled=None):
        threads.append(threading.current_thread())
        raise ProjectError(f"cannot save {path}: No space left on device")

    monkeypatch.setattr(autosave, "write_snapshot", failing)
    doc, _ = work()
    saver = Autosaver(doc, tmp_path, interval_s=3600)
    failed = on_main_thread(saver.failed)
    with qtbot.waitSignal(saver.failed, timeout=20_000) as blocker:
        saver._tick()
    assert "No space left on device" in blocker.args[0]
    assert failed == [True] and threads[0] is not threading.main_thread()
    assert not saver.writing and not saver.autosave_path.exists()
    monkeypatch.setattr(autosave, "write_snapshot", real)
    with qtbot.waitSignal(saver.saved, timeout=20_000):
        saver._tick()  # no change since: it is still dirty, so it tries again
    assert np.array_equal(image_of(saver.autosave_path), rgba(doc))
    saver.mark_clean_exit()


def test_a_crash_in_the_middle_of_a_write_leaves_the_last_autosave_whole(qapp, tmp_path):
    """A process killed halfway through its second autosave (inside the PNG encoding) leaves
    the first one, intact, for the next session."""
    script = f"""
import os
import numpy as np
from PySide6.QtGui import QGuiApplication
import app.autosave as autosave
from app.autosave import Autosaver
from app.document import Document
from app.qt_images import numpy_to_qimage
app = QGuiApplication([])
doc = Document()
doc.set_image(numpy_to_qimage(np.full((300, 400, 3), 90, np.uint8)))
saver = Autosaver(doc, {str(tmp_path)!r}, interval_s=3600)
assert saver.save_now()
doc.set_image(numpy_to_qimage(np.random.default_rng(0).integers(0, 256, (300, 400, 3),
                                                                dtype=np.uint8)))
real, asked = autosave.write_snapshot, []
def dies(*_):
    asked.append(1)
    if len(asked) == 3:
        os._exit(9)  # killed with the new file half written
    return False
autosave.write_snapshot = lambda path, snapshot, cancelled=None: real(path, snapshot, dies)
saver._tick()
saver.wait()
os._exit(0)
"""
    env = {"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, timeout=120)
    assert done.returncode == 9, "it died inside the write"
    saver = Autosaver(Document(), tmp_path)
    recovery = saver.pending_recovery()
    assert recovery is not None and not recovery.damaged
    assert np.array_equal(image_of(recovery.path)[..., :3], np.full((300, 400, 3), 90, np.uint8))
    leftovers = [p.name for p in recovery.folder.iterdir() if p.name.endswith(".tmp")]
    assert len(leftovers) == 1, "the half-written temporary, never the autosave itself"
    saver.discard()
    saver.mark_clean_exit()


def test_a_stroke_during_the_write_never_reaches_the_snapshot(qtbot, tmp_path, monkeypatch):
    """The snapshot shares the image's pixels; painting detaches the document's copy."""
    gate = Gate(monkeypatch)
    doc, _ = work()
    saver = Autosaver(doc, tmp_path, interval_s=3600)
    before = rgba(doc)
    saver._tick()
    assert gate.started.wait(PATIENCE_S)
    image_array(doc.image())[:5, :5] = 0  # even a write straight into the pixels
    doc.mask().fill(255)
    with qtbot.waitSignal(saver.saved, timeout=20_000):
        gate.release.set()
    data = load_project(saver.autosave_path)
    assert np.array_equal(qimage_to_numpy(data.image, "RGBA"), before)
    assert not qimage_to_numpy(data.mask, "L").all()
    saver.mark_clean_exit()
