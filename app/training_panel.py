"""The training panel: start, stop and resume a Part B model's training inside the app.

A run goes through the panel's worker (app/session/worker.py) as `train_run`: it calls
`engine.training.train.train`, whose step hook reports the loss through `Worker.report` (the
cancel point). A stop makes that report raise, and the hook turns it into a StopTraining, which
train() answers by saving the training state at that step before it unwinds. The checkpoint
after every epoch and that mid-epoch state (also written every `SAVE_EVERY_S`) are what a
resume continues from, so stopping loses no finished step. The epoch hook makes a sample grid
(digits for the class model, samples for the time model, denoised digits for the denoiser)
and reports it. `TrainingPanel` takes the session (the device chosen, the asker, loading a
trained folder), holds the command line's settings, a live log-scale loss curve, an epoch
progress bar with the run's ETA, and the latest grid (scaled to the panel, never the panel to
it). `busy_text` and `activityChanged` tell the window's status bar that training runs.
"""

from __future__ import annotations

import csv
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from PySide6.QtCore import QRect, QSize, Signal
from PySide6.QtGui import QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from torch import nn

from app.engine_thread import error_message
from app.qt_images import pil_to_qimage
from app.session.worker import Cancelled, Worker
from app.words import counted
from engine.errors import CheckpointError, EngineError
from engine.models.mnist import MnistModel
from engine.training import checkpoint as ckpt
from engine.training import figures
from engine.training.train import (
    DEFAULTS,
    LOSS_CSV,
    PRECISIONS,
    StopTraining,
    TrainConfig,
    train,
)
from engine.training.unets import KINDS
from widgets.loss_curve import LossCurve
from widgets.scrolling import scroll_vertically

if TYPE_CHECKING:
    from app.session.session import Session
    from app.settings import Settings

SAVE_EVERY_S = 30.0  # mid-epoch training state: a stop loses at most this much work
SAMPLE_STEPS = 20  # strided steps for the epoch-end samples (quick, still legible)
MNIST_TRAIN = 60_000
SAMPLES_FILE = "samples-epoch-{epoch}.png"
INT_FIELDS = ("epochs", "batch_size", "hidden", "seed", "limit")  # the panel's whole numbers


class _StopTraining(StopTraining):
    """Raised in the step hook to unwind train() when the user stops; train() saves the state
    at that step first."""


def steps_per_epoch(config: TrainConfig) -> int:
    n = min(config.limit or MNIST_TRAIN, MNIST_TRAIN)
    return max(1, math.ceil(n / config.batch_size))


def read_losses(out_dir: Path) -> list[tuple[int, float]]:
    """The saved run's (step, loss) rows from loss.csv; [] if there is none."""
    path = out_dir / LOSS_CSV
    if not path.is_file():
        return []
    rows = []
    with open(path, newline="") as f:
        for row in csv.reader(f):
            try:
                rows.append((int(row[0]), float(row[-1])))
            except (ValueError, IndexError):
                continue
    return rows


def resumed_losses(out_dir: Path, per_epoch: int) -> list[tuple[int, float]]:
    """loss.csv's rows and, for a run stopped inside an epoch, that epoch's steps so far (its
    state file holds them; loss.csv gets them at the epoch's end)."""
    rows = read_losses(out_dir)
    if not (out_dir / ckpt.STATE).is_file():
        return rows
    try:
        state = ckpt.load_training_state(out_dir)
        done, partial = int(state.get("epoch", 0)), list(state.get("epoch_losses") or [])
    except Exception:  # noqa: BLE001 - the resume itself reports a bad state file
        return rows
    last = rows[-1][0] if rows else 0
    steps = ((done * per_epoch + i + 1, float(loss)) for i, loss in enumerate(partial))
    return rows + [(step, loss) for step, loss in steps if step > last]


def saved_step(out_dir: Path, per_epoch: int) -> tuple[int, int] | None:
    """(global step, epoch it is in) of the run's last checkpoint; None if it has none."""
    try:
        manifest = ckpt.read_manifest(out_dir)
        epochs_done, step = int(manifest["epoch"]), int(manifest["step"])
    except (CheckpointError, KeyError, TypeError, ValueError):
        return None
    return epochs_done * per_epoch + step, epochs_done + (step > 0)


def has_run(out_dir: Path) -> bool:
    return (out_dir / ckpt.CONFIG).exists() or (out_dir / ckpt.STATE).exists()


def latest_samples(out_dir: Path) -> Path | None:
    """The run's last epoch-end grid (samples-epoch-N.png with the largest N), if any."""
    found = []
    for path in out_dir.glob(SAMPLES_FILE.format(epoch="*")):
        number = path.stem.rsplit("-", 1)[-1]
        if number.isdigit():
            found.append((int(number), path))
    return max(found)[1] if found else None


def eta_seconds(done: int, total: int, elapsed_s: float) -> float | None:
    """Seconds left at the rate so far: `done` of `total` steps took `elapsed_s`; None before
    the first step."""
    if done <= 0:
        return None
    return max(0, total - done) * elapsed_s / done


def format_eta(seconds: float | None) -> str:
    """'ETA 42 s', 'ETA 2 min 05 s', 'ETA 3 h 01 min'; '' when unknown."""
    if seconds is None:
        return ""
    s = round(seconds)
    if s < 60:
        return f"ETA {s} s"
    if s < 3600:
        return f"ETA {s // 60} min {s % 60:02d} s"
    return f"ETA {s // 3600} h {s % 3600 // 60:02d} min"


class ScaledImage(QWidget):
    """An image drawn as large as its box allows, aspect kept: whole factors (square pixels)
    when it is smaller than the box, smooth scaling down when it is larger. Its size never
    depends on the image's, so a wide grid cannot widen the dock it sits in."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setMinimumHeight(90)

    def set_image(self, image: QImage | None) -> None:
        self._image = None if image is None or image.isNull() else image
        self.setToolTip("" if self._image is None else
                        f"{self._image.width()} × {self._image.height()} px")
        self.update()

    def image(self) -> QImage | None:
        return self._image

    def sizeHint(self) -> QSize:
        return QSize(160, 120)

    def minimumSizeHint(self) -> QSize:
        return QSize(40, 90)

    def shown_size(self) -> QSize:
        """The size the image is drawn at in the current box (0 × 0 without an image)."""
        if self._image is None:
            return QSize(0, 0)
        box, w, h = self.contentsRect(), self._image.width(), self._image.height()
        whole = min(box.width() // w, box.height() // h)
        if whole >= 1:
            return QSize(w * whole, h * whole)
        factor = min(box.width() / w, box.height() / h)
        return QSize(max(1, int(w * factor)), max(1, int(h * factor)))

    def paintEvent(self, event: QPaintEvent) -> None:
        if self._image is None:
            return
        size = self.shown_size()
        target = QRect(0, 0, size.width(), size.height())
        target.moveCenter(self.contentsRect().center())
        painter = QPainter(self)
        crisp = size.width() >= self._image.width()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, not crisp)
        painter.drawImage(target, self._image)
        painter.end()


@torch.no_grad()
def sample_grid(net: nn.Module, config: TrainConfig, seed: int = 0) -> QImage:
    """The epoch-end picture: one sample per digit (class), ten samples (time), or eight
    training digits noised at σ and denoised (denoiser)."""
    device = next(net.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    if config.kind == "denoiser":
        from engine.training.data import load_mnist

        data = load_mnist("train", config.data_dir)
        x = torch.from_numpy(data.images[:8]).float().div(255).unsqueeze(1)
        picture = figures.denoise_figure(net, x.to(device), config.sigma or 0.5, generator)
    else:
        adapter = MnistModel(net, {"kind": config.kind, "num_timesteps": config.num_timesteps},
                             config.kind, device)
        if config.kind == "class":
            picture = figures.class_samples_figure(adapter, generator, per_digit=1,
                                                   steps=SAMPLE_STEPS)
        else:
            picture = figures.unconditional_samples_figure(adapter, generator, 10, SAMPLE_STEPS)
    return pil_to_qimage(picture)


@dataclass
class StepReport:
    step: int  # global step, counted over the epochs
    epoch: int
    loss: float


@dataclass
class EpochReport:
    epoch: int
    image: QImage  # the epoch's sample grid


def train_run(worker: Worker, config: TrainConfig, out_dir: Path, resume: bool
              ) -> tuple[int, float | None, bool]:
    """One training run (start or resume), in `worker`'s thread: reports a `StepReport` per
    step and an `EpochReport` per epoch; a cancel stops it at the next step, the state of
    that step saved. Returns (epochs done, final loss, whether it trained: False for a resume
    of a run that had finished)."""
    per_epoch = steps_per_epoch(config)

    def on_step_end(epoch: int, step: int, loss: float) -> None:
        try:
            worker.report(StepReport((epoch - 1) * per_epoch + step, epoch, loss))
        except Cancelled:
            raise _StopTraining from None  # train() saves the state at this step

    def on_epoch_end(epoch: int, net: nn.Module, config: TrainConfig, out_dir: Path) -> None:
        if worker.cancel_requested():
            raise _StopTraining  # the epoch's checkpoint is written already
        image = sample_grid(net, config, seed=epoch)
        image.save(str(out_dir / SAMPLES_FILE.format(epoch=epoch)), "PNG")
        try:
            worker.report(EpochReport(epoch, image))
        except Cancelled:
            raise _StopTraining from None

    try:
        result = train(config, Path(out_dir), resume, progress=False,
                       on_epoch_end=on_epoch_end, on_step_end=on_step_end)
    except _StopTraining:
        raise Cancelled from None
    return result.epochs_done, result.final_loss, result.trained


class TrainingPanel(QWidget):
    """Settings (as on the command line), Start / Stop / Resume, the curve and the samples."""

    stateChanged = Signal(str)  # "running", "stopped", "finished", "failed"
    activityChanged = Signal(str)  # busy_text(): "Training …" while a run goes, else ""
    stepDone = Signal(int, int, float)  # global step, epoch, loss: once shown

    def __init__(self, session: Session | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session  # None: a panel on its own (no asker, no canvas to load into)
        self.worker: Worker | None = None  # made with the first run
        self._serial: int | None = None
        self.state = "idle"
        self._first_step: tuple[int, float] | None = None  # (global step, time) seen first
        self._total_steps = 0
        self._busy = ""
        self._build()
        self._lay_out()
        self._connect()
        self._on_kind()
        if session is not None:
            self.restore_settings(session.preferences.training_settings)

    # --- building -------------------------------------------------------------------------------
    def _build(self) -> None:
        self.kind = QComboBox(self)
        self.kind.addItems(list(KINDS))
        self.kind.setCurrentText("class")
        self.out = QLineEdit(str(Path.home() / "diffusion-canvas-runs" / "class"), self)
        self.browse = QToolButton(self, text="…")
        self.epochs = QSpinBox(self, minimum=1, maximum=1000)
        self.batch_size = QSpinBox(self, minimum=1, maximum=65536)
        self.hidden = QSpinBox(self, minimum=1, maximum=1024)
        self.lr = QDoubleSpinBox(self, decimals=6, minimum=1e-6, maximum=1.0, singleStep=1e-4)
        self.seed = QSpinBox(self, minimum=0, maximum=2**31 - 1)
        self.limit = QSpinBox(self, minimum=0, maximum=MNIST_TRAIN, specialValueText="all")
        self.limit.setToolTip("Train on the first N images (all: the whole training set)")
        self.precision = QComboBox(self)
        self.precision.addItems(list(PRECISIONS))
        self.start_button = QPushButton("Start", self)
        self.stop_button = QPushButton("Stop", self, enabled=False)
        self.resume_button = QPushButton("Resume", self)
        self.load_button = QPushButton("Load into canvas", self)
        self.status = QLabel("Not training.", self)
        self.status.setWordWrap(True)
        self.curve = LossCurve(self)
        self.progress = QProgressBar(self)
        self._idle_progress()
        self.eta = QLabel(self)
        self.samples = ScaledImage(self)
        self.sample_image: QImage | None = None

    def _lay_out(self) -> None:
        form = QFormLayout()
        folder = QHBoxLayout()
        folder.addWidget(self.out, 1)
        folder.addWidget(self.browse)
        form.addRow("Model", self.kind)
        form.addRow("Out folder", folder)
        for label, box in (("Epochs", self.epochs), ("Batch size", self.batch_size),
                           ("Hidden (D)", self.hidden), ("Learning rate", self.lr),
                           ("Seed", self.seed), ("Images", self.limit),
                           ("Precision", self.precision)):
            form.addRow(label, box)
        buttons = QHBoxLayout()
        for button in (self.start_button, self.stop_button, self.resume_button, self.load_button):
            buttons.addWidget(button)
        body = QWidget(self)  # scrolls: the dock never sets the window's least height
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        progress = QHBoxLayout()
        progress.addWidget(self.progress, 1)
        progress.addWidget(self.eta)
        layout.addLayout(progress)
        layout.addWidget(self.curve, 1)
        layout.addWidget(self.samples, 1)
        scroll_vertically(self, body)

    def _connect(self) -> None:
        self.kind.currentTextChanged.connect(self._on_kind)
        self.start_button.clicked.connect(lambda: self.start(resume=False))
        self.resume_button.clicked.connect(lambda: self.start(resume=True))
        self.stop_button.clicked.connect(self.stop)
        self.load_button.clicked.connect(self.load_into_canvas)
        self.browse.clicked.connect(self._browse)

    def _on_kind(self, *_: Any) -> None:
        kind = self.kind.currentText()
        d = DEFAULTS[kind]
        self.epochs.setValue(d["epochs"])
        self.batch_size.setValue(d["batch_size"])
        self.hidden.setValue(d["hidden"])
        self.lr.setValue(d["lr"])
        out = Path(self.out.text())
        if out.name in KINDS:
            self.out.setText(str(out.with_name(kind)))

    def _browse(self) -> None:
        if self.session is None:
            return
        folder = self.session.asker.folder(self, "Training folder", self.out.text())
        if folder:
            self.out.setText(folder)

    # --- settings -------------------------------------------------------------------------------
    def set_settings(self, **values: Any) -> None:
        """Fills the fields: kind, out, epochs, batch_size, hidden, lr, seed, limit, precision."""
        if "kind" in values:
            self.kind.setCurrentText(str(values.pop("kind")))
        if "out" in values:
            self.out.setText(str(values.pop("out")))
        if "precision" in values:
            self.precision.setCurrentText(str(values.pop("precision")))
        for key, value in values.items():
            getattr(self, key).setValue(0 if value is None else value)

    def settings(self) -> dict[str, Any]:
        """The fields as set_settings takes them (what is remembered between launches)."""
        return {"kind": self.kind.currentText(), "out": self.out.text(),
                "precision": self.precision.currentText(), "lr": self.lr.value(),
                **{key: getattr(self, key).value() for key in INT_FIELDS}}

    def restore_settings(self, saved: dict[str, Any]) -> None:
        """Shows remembered fields; a value that does not fit (another version's, a hand-edited
        file) is left out, and a number out of its box's range is brought into it."""
        values: dict[str, Any] = {}
        if saved.get("kind") in KINDS:
            values["kind"] = saved["kind"]
        if isinstance(saved.get("out"), str) and saved["out"].strip():
            values["out"] = saved["out"]
        if saved.get("precision") in PRECISIONS:
            values["precision"] = saved["precision"]
        for key in INT_FIELDS:
            value = saved.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                box = getattr(self, key)
                values[key] = min(max(value, box.minimum()), box.maximum())
        lr = saved.get("lr")
        if isinstance(lr, int | float) and not isinstance(lr, bool) and math.isfinite(lr):
            values["lr"] = min(max(float(lr), self.lr.minimum()), self.lr.maximum())
        self.set_settings(**values)

    def remember(self, preferences: Settings | None = None) -> None:
        """Writes the fields to the preferences (default: the session's)."""
        if preferences is None and self.session is not None:
            preferences = self.session.preferences
        if preferences is not None:
            preferences.training_settings = self.settings()

    def config(self) -> TrainConfig:
        threads = max(1, (os.cpu_count() or 2) - 1)  # one core stays with the GUI
        return TrainConfig.for_kind(
            self.kind.currentText(), epochs=self.epochs.value(),
            batch_size=self.batch_size.value(), hidden=self.hidden.value(), lr=self.lr.value(),
            seed=self.seed.value(), limit=self.limit.value() or None,
            precision=self.precision.currentText(), save_every_s=SAVE_EVERY_S,
            num_threads=threads, device="cpu" if self._cpu_only() else "auto")

    def _cpu_only(self) -> bool:
        return self.session is not None and self.session.model.request.device == "cpu"

    def out_dir(self) -> Path:
        return Path(self.out.text()).expanduser()

    def _take_saved_settings(self, out_dir: Path) -> None:
        saved = ckpt.saved_settings(out_dir)
        if saved.get("kind") in KINDS:
            self.kind.setCurrentText(saved["kind"])
        for key in ("epochs", "batch_size", "hidden", "seed"):
            if isinstance(saved.get(key), int):
                getattr(self, key).setValue(saved[key])
        if isinstance(saved.get("lr"), int | float):
            self.lr.setValue(float(saved["lr"]))
        if "limit" in saved:
            self.limit.setValue(int(saved["limit"] or 0))

    # --- running --------------------------------------------------------------------------------
    def is_running(self) -> bool:
        """A run is in the worker's thread (a stopped one until it has saved and left)."""
        return self.worker is not None and self.worker.busy()

    def start(self, resume: bool = False) -> bool:
        """Starts (or resumes) training in the out folder; False if it could not start."""
        if self.is_running():
            return False
        out_dir = self.out_dir()
        if resume and not has_run(out_dir):
            self._set_state("failed", f"{out_dir} holds no run to resume: press Start")
            return False
        if not resume and has_run(out_dir):  # the engine's message names --resume and --out
            self.status.setText(f"{out_dir} already holds a training run: Resume continues it, "
                                "or choose another Out folder for a new one.")
            return False
        if resume:
            self._take_saved_settings(out_dir)
        self.remember()
        try:
            config = self.config()
        except EngineError as error:
            self._set_state("failed", str(error))
            return False
        self.curve.set_points(resumed_losses(out_dir, steps_per_epoch(config)) if resume
                              else [])
        self._begin_progress(config, out_dir, resume)
        worker = self._worker()
        self._set_buttons(True)
        self._set_busy("Training…")
        self._set_state("running", f"{'Resuming' if resume else 'Training'} {config.kind} "
                        f"(D={config.hidden}, batch {config.batch_size}, {config.epochs} "
                        f"epochs) in {out_dir}…")
        self._serial = worker.submit(train_run, worker, config, out_dir, resume)
        return True

    def _worker(self) -> Worker:
        """The panel's worker (a new one after a shutdown)."""
        if self.worker is None:
            worker = Worker("training", error_message, self)
            worker.yielded.connect(self._on_report)
            worker.finished.connect(lambda _, result: self._on_succeeded(*result))
            worker.failed.connect(lambda _, message: self._set_state(
                "failed", f"Training failed: {message}"))
            worker.ended.connect(lambda serial: self._on_ended(worker, serial))
            self.worker = worker
        return self.worker

    def _on_report(self, serial: int, report: object) -> None:
        if isinstance(report, StepReport):
            self._on_step(report.step, report.epoch, report.loss)
        elif isinstance(report, EpochReport):
            self._on_epoch(report.epoch, report.image)

    def _on_ended(self, worker: Worker, serial: int) -> None:
        """The run has left the worker's thread: a stopped one has saved its state."""
        if worker is not self.worker or serial != self._serial:
            return  # a worker shut down, or a run before this one
        if self.state == "running":
            self._set_state("stopped", f"{self._stopped_where()}; the checkpoints in "
                            f"{self.out_dir()} are kept: Resume continues.")
        self._set_buttons(False)

    def _stopped_where(self) -> str:
        """Where the stopped run saved its state, read from its checkpoint: the label is
        redrawn every 10 steps and the step that stopped it is never reported."""
        saved = saved_step(self.out_dir(), steps_per_epoch(self.config()))
        if saved is None:
            return "Stopped"
        step, epoch = saved
        return f"Stopped at step {step} (epoch {epoch})"

    def stop(self) -> None:
        """Asks the run to stop after the current step (its checkpoints stay)."""
        if self.is_running() and self._serial is not None:
            self.worker.cancel(self._serial)
            self.status.setText("Stopping after this step…")

    def shutdown(self, timeout_ms: int = 120_000) -> bool:
        """Stops any run and waits for it (the window is closing)."""
        if self.worker is None:
            return True
        worker, self.worker = self.worker, None
        return worker.join(timeout_ms / 1000)

    def _begin_progress(self, config: TrainConfig, out_dir: Path, resume: bool) -> None:
        """A clean slate for the run: no grid from another run (a resume shows its folder's
        last one), an empty epoch bar, no ETA until steps have been timed."""
        previous = latest_samples(out_dir) if resume else None
        self._show_grid(QImage(str(previous)) if previous is not None else None)
        per_epoch = steps_per_epoch(config)
        self._total_steps = config.epochs * per_epoch
        self._first_step = None
        self.progress.setRange(0, per_epoch)
        self.progress.setValue(0)
        self.progress.setFormat(f"Epoch 1/{config.epochs}: %p%")
        self.eta.setText("")

    def _show_grid(self, image: QImage | None) -> None:
        self.sample_image = None if image is None or image.isNull() else image
        self.samples.set_image(self.sample_image)

    def _on_step(self, step: int, epoch: int, loss: float) -> None:
        self.curve.add_point(step, loss)
        self.stepDone.emit(step, epoch, loss)
        if step % 10 == 0:
            self.status.setText(f"Epoch {epoch}/{self.epochs.value()}, step {step}, "
                                f"loss {loss:.4f}")
        per_epoch = max(1, self.progress.maximum())
        epochs = max(1, self._total_steps // per_epoch)
        self.progress.setFormat(f"Epoch {epoch}/{epochs}: %p%")
        self.progress.setValue(step - (epoch - 1) * per_epoch)
        now = time.monotonic()
        if self._first_step is None:
            self._first_step = (step, now)
        first, since = self._first_step
        eta = format_eta(eta_seconds(step - first, self._total_steps - first, now - since))
        self.eta.setText(eta)
        self._set_busy(f"Training {epoch}/{epochs}" + (f" · {eta}" if eta else ""))

    def _on_epoch(self, epoch: int, image: QImage) -> None:
        self._show_grid(image)
        self.status.setText(f"Epoch {epoch}/{self.epochs.value()} saved in {self.out_dir()}")

    def busy_text(self) -> str:
        """What the status bar says while a run trains ("Training 2/5 · ETA 3 min 10 s"),
        "" when none does."""
        return self._busy

    def _set_busy(self, text: str) -> None:
        if text != self._busy:
            self._busy = text
            self.activityChanged.emit(text)

    def _on_succeeded(self, epochs: int, final: float | None, trained: bool = True) -> None:
        loss = f"{final:.4f}" if final is not None else "n/a"
        done = "Finished" if trained else "This run had already finished all"
        self._set_state("finished", f"{done} {counted(epochs, 'epoch')} (final loss {loss}). "
                        "Load into canvas to use it.")
        self.progress.setValue(self.progress.maximum())
        self.progress.setFormat(f"Epoch {epochs}/{epochs}: 100%")

    def _set_buttons(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.resume_button.setEnabled(not running)
        self.stop_button.setEnabled(running)

    def _set_state(self, state: str, text: str) -> None:
        self.state = state
        self.status.setText(text)
        if state != "running":
            self.eta.setText("")
            self._set_busy("")
        if state == "failed":
            self._idle_progress("Not training: the run failed")
        self.stateChanged.emit(state)

    def _idle_progress(self, text: str = "Not training") -> None:
        """The epoch bar as before any run: empty, saying `text`."""
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat(text)

    def load_into_canvas(self) -> bool:
        """Loads the out folder's trained model as the session's model."""
        out_dir = self.out_dir()
        if not (out_dir / ckpt.WEIGHTS).is_file():
            self.status.setText(f"{out_dir} holds no trained model yet (one epoch makes one).")
            return False
        if self.session is not None:
            self.session.load_model(str(out_dir))
        return True
