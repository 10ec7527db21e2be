"""Sweeps: the current mode over the course's i_start list, over seeds, or over guidance.

A sweep queues one SWEEP job per value through the session (`run_job`, so Esc / Cancel stops all
of them at once), each with the run settings and one value changed. Every result goes into the
history as usual (the session routes sweep results there); the sweep also collects them, in
order, into a labelled strip like the write-up's figures, exportable as one PNG. The runner's
signals carry the job, so the sweep knows its own without asking the engine. The sweep and its
dialog take the session, never the window.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QCloseEvent, QImage, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.qt_images import qimage_to_pil
from app.session.jobs import JobKind, JobRecord
from app.session.modes import IMAGE_DEFAULT, mode_of, needs_image
from engine import images
from engine.errors import EngineError
from widgets.image_strip import LabelledStrip

if TYPE_CHECKING:
    from app.session.session import Session

COURSE_I_STARTS = (1, 3, 5, 7, 10, 20)
DEFAULT_GUIDANCE = (1.0, 3.0, 5.0, 7.0, 10.0)
DEFAULT_SEEDS = 6
KINDS = {"i_start": "i_start (SDEdit strength)", "seed": "seeds", "guidance": "guidance γ"}


def sweep_runs(kind: str, mode: str) -> str:
    """What a sweep of `kind` runs from `mode`: an i_start sweep needs an image."""
    label = mode_of(mode).label
    if kind == "i_start" and not needs_image(mode):
        return (f"{mode_of(IMAGE_DEFAULT).label} of the canvas: i_start is where an edit of "
                f"the image starts, and {label} takes no image")
    return f"{label}, once for each value"


def clamp_i_starts(values: list[int], num_timesteps: int) -> list[int]:
    """Each i_start clamped to 0 … num_timesteps - 2, duplicates dropped, order kept."""
    top = max(0, num_timesteps - 2)
    out: list[int] = []
    for value in values:
        v = max(0, min(top, int(value)))
        if v not in out:
            out.append(v)
    return out


def clamped_note(values: list[int], num_timesteps: int) -> str:
    """Which asked i_starts the model has not got, and where they run instead; '' if none."""
    top = max(0, num_timesteps - 2)
    outside = [v for v in values if not 0 <= v <= top]
    if not outside:
        return ""
    return (f"i_start {', '.join(map(str, outside))} is outside this model's 0–{top}: run at "
            f"the nearest end")


def label_for(kind: str, value: float) -> str:
    if kind == "guidance":
        return f"γ = {value:g}"
    return f"{kind} {int(value)}"


def parse_values(kind: str, text: str) -> list[float]:
    """'1, 3, 5' -> [1, 3, 5]; seeds and i_start as whole numbers. ValueError if malformed."""
    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p]
    if not parts:
        raise ValueError("give at least one value")
    return [_value(kind, p) for p in parts]


def _value(kind: str, text: str) -> float:
    """One value of a sweep, or a ValueError that names it in words (not Python's)."""
    try:
        value = float(text) if kind == "guidance" else int(text)
    except ValueError:
        what = "a number" if kind == "guidance" else "a whole number"
        raise ValueError(f"'{text}' is not {what}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"'{text}' is not a finite number")
    return value


@dataclass
class SweepItem:
    value: float
    label: str
    job: JobRecord | None = None
    image: QImage | None = None


class Sweep(QObject):
    """One sweep in flight: its items, filled in as their jobs finish."""

    itemDone = Signal(int)  # the item's index
    done = Signal()  # every item has a result
    stopped = Signal()  # cancelled or failed before the end

    def __init__(self, session: Session, kind: str, values: list[float],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        if kind not in KINDS:
            raise ValueError(f"unknown sweep {kind!r}; choose from {', '.join(KINDS)}")
        self.session = session
        self.kind = kind
        self.items = [SweepItem(v, label_for(kind, v)) for v in values]
        self.base: dict[str, Any] = {}
        self.active = False

    def settings_for(self, value: float) -> dict[str, Any]:
        key = {"i_start": "i_start", "seed": "seed", "guidance": "guidance"}[self.kind]
        return self.base | {key: value, "count": 1}

    def start(self) -> bool:
        """Queues one job per value; False if the first could not be made."""
        self.base = self.session.settings.job_fields(draw=self.kind != "seed")
        if self.kind == "i_start" and not needs_image(self.base["mode"]):
            self.base["mode"] = IMAGE_DEFAULT
        runner = self.session.runner
        runner.sweepDone.connect(self._on_finished)
        runner.cancelled.connect(self._on_ended)
        runner.failed.connect(self._on_ended)
        self.active = True
        for item in self.items:
            item.job = self.session.run_job(self.settings_for(item.value), JobKind.SWEEP)
            if item.job is None:
                self.cancel()
                return False
        return True

    def cancel(self) -> None:
        """Cancels this sweep's jobs (no other job)."""
        if self.active:
            self.session.runner.cancel([i.job for i in self.items if i.job is not None])
            self._on_stopped()

    def _disconnect(self) -> None:
        runner = self.session.runner
        for signal, slot in ((runner.sweepDone, self._on_finished),
                             (runner.cancelled, self._on_ended),
                             (runner.failed, self._on_ended)):
            with contextlib.suppress(RuntimeError, TypeError):
                signal.disconnect(slot)

    def _on_finished(self, job: JobRecord) -> None:
        for index, item in enumerate(self.items):
            if item.job is job and job.result.images:
                item.image = job.result.images[0]
                self.itemDone.emit(index)
        if all(item.image is not None for item in self.items):
            self.active = False
            self._disconnect()
            self.done.emit()

    def _on_ended(self, job: JobRecord, *_: object) -> None:
        """A job cancelled or failed: the sweep stops if it was one of its own."""
        if any(item.job is job for item in self.items):
            self._on_stopped()

    def _on_stopped(self) -> None:
        if not self.active:
            return
        self.active = False
        self._disconnect()
        self.stopped.emit()

    def labels(self) -> list[str]:
        return [item.label for item in self.items]

    def images(self) -> list[QImage | None]:
        return [item.image for item in self.items]


class SweepDialog(QDialog):
    """Pick what to sweep and the values; run; the strip fills in; export it as one PNG."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setWindowTitle("Sweep")
        self.sweep: Sweep | None = None
        self.kind = QComboBox(self)
        for key, text in KINDS.items():
            self.kind.addItem(text, key)
        self.values = QLineEdit(self)
        self.values.setToolTip("Comma-separated values")
        self.run_button = QPushButton("Run sweep", self)
        self.cancel_button = QPushButton("Cancel", self, enabled=False)
        self.export_button = QPushButton("Export strip…", self, enabled=False)
        self.what = QLabel(self)  # what the sweep runs: i_start makes Sample an SDEdit
        self.what.setWordWrap(True)
        self.status = QLabel(self)
        self._note = ""  # what the sweep changed of the values asked (i_starts past the end)
        self.strip = LabelledStrip(112, self)
        self._lay_out()
        self.kind.currentIndexChanged.connect(self._fill_values)
        self.run_button.clicked.connect(lambda: self.run_sweep())
        self.cancel_button.clicked.connect(self.cancel)
        self.export_button.clicked.connect(self.export_dialog)
        self._fill_values()
        self.resize(760, 300)

    def _lay_out(self) -> None:
        form = QFormLayout()
        form.addRow("Sweep over", self.kind)
        form.addRow("Values", self.values)
        form.addRow("Runs", self.what)
        buttons = QHBoxLayout()
        for button in (self.run_button, self.cancel_button, self.export_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(self.strip, 1)

    def default_values(self, kind: str) -> list[float]:
        if kind == "i_start":
            return list(clamp_i_starts(list(COURSE_I_STARTS), self._num_timesteps()))
        if kind == "seed":
            seed = self.session.settings.seed
            return list(range(seed, seed + DEFAULT_SEEDS))
        return list(DEFAULT_GUIDANCE)

    def _num_timesteps(self) -> int:
        state = self.session.model.state
        if state is None:
            return 34
        return len(state.timesteps_for(self.session.settings.steps))

    def _fill_values(self) -> None:
        kind = str(self.kind.currentData())
        self.values.setText(", ".join(f"{v:g}" for v in self.default_values(kind)))
        self.what.setText(sweep_runs(kind, self.session.settings.mode))

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        self.what.setText(sweep_runs(str(self.kind.currentData()), self.session.settings.mode))
        super().showEvent(event)

    def set_kind(self, kind: str) -> None:
        self.kind.setCurrentIndex(self.kind.findData(kind))

    def run_sweep(self, kind: str | None = None, values: list[float] | None = None
                  ) -> Sweep | None:
        """Starts a sweep (default: the dialog's choice); None if it could not start."""
        kind = kind or str(self.kind.currentData())
        try:
            values = values if values is not None else parse_values(kind, self.values.text())
        except ValueError as error:
            self.status.setText(f"Bad values: {error}")
            return None
        self._note = ""
        if kind == "i_start":
            asked = [int(v) for v in values]
            self._note = clamped_note(asked, self._num_timesteps())
            values = clamp_i_starts(asked, self._num_timesteps())
        self.strip.clear()
        sweep = Sweep(self.session, kind, values, self)
        for item in sweep.items:
            self.strip.add(None, item.label)
        sweep.itemDone.connect(self._on_item)
        sweep.done.connect(self._on_done)
        sweep.stopped.connect(self._on_stopped)
        self.sweep = sweep
        self.export_button.setEnabled(False)
        if not sweep.start():
            self.status.setText("The sweep could not start.")
            return None
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self._say(f"Running {len(values)} jobs…")
        return sweep

    def _say(self, text: str) -> None:
        """The status line, with what the sweep changed of the values asked."""
        self.status.setText(f"{text} ({self._note})" if self._note else text)

    def cancel(self) -> None:
        if self.sweep is not None:
            self.sweep.cancel()

    def reject(self) -> None:
        """Esc: the dialog goes and takes every job of its sweep with it."""
        self.cancel()
        super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.cancel()
        super().closeEvent(event)

    def _on_item(self, index: int) -> None:
        assert self.sweep is not None
        self.strip.cells[index].set_image(self.sweep.items[index].image)
        done = sum(item.image is not None for item in self.sweep.items)
        self.status.setText(f"{done} of {len(self.sweep.items)} done")

    def _on_done(self) -> None:
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.export_button.setEnabled(True)
        self._say("Done: every result is also in the history.")

    def _on_stopped(self) -> None:
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.export_button.setEnabled(any(i.image is not None for i in self.sweep.items))
        self.status.setText("The sweep stopped before the end.")

    def title(self) -> str:
        if self.sweep is None:
            return ""
        b = self.sweep.base
        prompt = b.get("prompt")
        return (f"{b.get('mode')} over {KINDS[self.sweep.kind]}, prompt {prompt!r}, "
                f"seed {b.get('seed')}, guidance {b.get('guidance')}")

    def compose(self) -> QImage:
        return self.strip.compose(self.title())

    def export_dialog(self) -> None:
        s = self.session
        start = str(Path(s.preferences.last_folder("export")) / "sweep.png")
        path = s.asker.save_path(self, "Export the sweep", start, "PNG image (*.png)")
        if path:
            self.export(path)

    def export(self, path: str) -> bool:
        if not path.lower().endswith(".png"):
            path += ".png"
        try:  # atomic, and the reason when it fails (QImage.save gave neither)
            images.save_png(qimage_to_pil(self.compose(), "RGB"), path)
        except EngineError as error:
            self.session.error.emit("Cannot export", str(error))
            return False
        self.session.preferences.set_last_folder("export", path)
        self.status.setText(f"Exported {path}")
        return True

