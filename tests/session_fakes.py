"""Fakes for testing app/session/ without threads or windows: an engine whose loads and jobs the
test answers, an asker that answers and records, and a model state in plain values."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QPointF, QSettings, Signal
from PySide6.QtGui import QColor, QImage

from app.document import image_array
from app.session.model_state import ModelState
from app.session.session import Session
from app.settings import Settings


def model_state(spec: str = "mnist", **changes: Any) -> ModelState:
    """A 28 × 28 grey digit model's state (prompts '0'-'9' and '')."""
    values = dict(spec=spec, name=spec, size=28, channels=1, data_range=(0.0, 1.0),
                  symmetric=False, conditional=True,
                  prompts=tuple(str(d) for d in range(10)) + ("",), free_text=False,
                  words=None, upscaler=False, upscaler_name=None, dtype="float32",
                  takes_precision=True, default_prompt="0", default_guidance=5.0,
                  default_strength=0.7, timesteps=30, timestep_values=tuple(range(290, -1, -10)),
                  top=299, device="cpu")
    return ModelState(**(values | changes))


def grey_image(level: int, side: int = 28) -> QImage:
    image = QImage(side, side, QImage.Format.Format_RGB32)
    image.fill(QColor(level, level, level))
    return image


class FakeEngine(QObject):
    """The engine thread's signals and requests. Loads wait for `answer_load`/`fail_load`;
    jobs run when the test says (`step`, `finish`, `fail`), first submitted first."""

    stateChanged = Signal(str)
    modelLoaded = Signal(object)
    loadFailed = Signal(str)
    loadNote = Signal(str)
    modelReleased = Signal(str)
    started = Signal(int)
    progress = Signal(int, int, int, float)
    preview = Signal(int, object, int, int)
    finished = Signal(int, list, object, list)
    failed = Signal(int, str)
    cancelled = Signal(list)

    def __init__(self, first_id: int = 500) -> None:
        super().__init__()
        self.state = "idle"
        self.loads: list[tuple] = []
        self.jobs: dict[int, Any] = {}
        self.pending: list[int] = []
        self.cancel_calls: list[list[int] | None] = []  # each cancel's ids (None: all)
        self.first_id = first_id  # the engine's ids are not the runner's: the runner maps them
        self.shut_down = 0

    def load_model(self, spec: str, device: str = "auto", prompts: str | None = None,
                   dtype: str = "auto", offload: str = "none") -> None:
        self.loads.append((spec, device, prompts, dtype, offload))

    def answer_load(self, state: ModelState | None = None) -> ModelState:
        spec, device = self.loads[-1][:2]
        state = state or model_state(spec, device="cpu" if device == "auto" else device)
        self.modelLoaded.emit(state)
        return state

    def fail_load(self, message: str) -> None:
        self.loadFailed.emit(message)

    def submit(self, job: Any) -> int:
        engine_id = self.first_id + len(self.jobs)
        self.jobs[engine_id] = job
        self.pending.append(engine_id)
        return engine_id

    def cancel(self, job_ids: Iterable[int] | None = None) -> list[int]:
        self.cancel_calls.append(None if job_ids is None else list(job_ids))
        ids = list(self.pending) if job_ids is None else [i for i in job_ids
                                                           if i in self.pending]
        for i in ids:
            self.pending.remove(i)
        if ids:
            self.cancelled.emit(ids)
        return ids

    def step(self, step: int = 1, total: int = 2) -> int:
        engine_id = self.pending[0]
        if step == 1:
            self.started.emit(engine_id)
        self.progress.emit(engine_id, step, total, 0.0)
        self.preview.emit(engine_id, self.preview_of(engine_id, step), step, total)
        return engine_id

    def finish(self, count: int = 1) -> Any:
        """The first pending job ends with `count` images (`result_of`)."""
        engine_id = self.pending.pop(0)
        job = self.jobs[engine_id]
        self.finished.emit(engine_id, *self.result_of(job, count))
        return job

    def preview_of(self, engine_id: int, step: int) -> Any:
        """The x̂_0 shown at `step`: a grey image of that level."""
        return grey_image(step)

    def result_of(self, job: Any, count: int) -> tuple[list, dict, list]:
        """A finished job's images (grey levels from its seed), parameters and frames."""
        images = [grey_image((job.seed + i) % 256) for i in range(count)]
        parameters = {"mode": job.mode, "prompt": job.prompt, "seed": job.seed,
                      "steps": job.steps}
        return images, parameters, [[grey_image(0)] for _ in images]

    def fail(self, message: str) -> None:
        self.failed.emit(self.pending.pop(0), message)

    def is_running(self) -> bool:
        return self.shut_down == 0

    def shutdown(self) -> bool:
        self.shut_down += 1
        return True


class FakeAsker:
    """Answers the session's questions (app/session/asker.py) and records each."""

    def __init__(self) -> None:
        self.unsaved = "discard"
        self.recovery = "restore"
        self.paths: list[str] = []  # the answers to file dialogs, first first
        self.export = None
        self.damaged = False  # open what can be read of a damaged project?
        self.asked: list[str] = []
        self.starts: list[str] = []  # where each save dialog opened

    def unsaved_changes(self, parent: Any, name: str, action: str = "closing",
                        detail: str = "") -> str:
        self.asked.append(f"unsaved {name} {action}")
        return self.unsaved

    def offer_recovery(self, parent: Any, recovery: Any) -> str:
        self.asked.append("recovery")
        return self.recovery

    def open_damaged(self, parent: Any, problem: str, lost: list[str]) -> bool:
        self.asked.append(f"damaged {problem} lost {'; '.join(lost)}")
        return self.damaged

    def save_path(self, parent: Any, title: str, start: str, filters: str) -> str:
        self.asked.append(f"save {title}")
        self.starts.append(start)
        return self.paths.pop(0) if self.paths else ""

    def open_path(self, parent: Any, title: str, start: str, filters: str) -> str:
        self.asked.append(f"open {title}")
        return self.paths.pop(0) if self.paths else ""

    def folder(self, parent: Any, title: str, start: str) -> str:
        self.asked.append(f"folder {title}")
        return self.paths.pop(0) if self.paths else ""

    def export_choice(self, parent: Any, result: Any) -> Any:
        self.asked.append("export")
        return self.export


def make_session(folder: Path, model: str | None = "mnist", *, load: bool = True,
                 autosave_folder: Path | None = None) -> Session:
    """A session on a fake engine and asker, its settings and autosaves in `folder`; with
    `load`, the model has loaded (the startup document follows it)."""
    folder.mkdir(parents=True, exist_ok=True)
    ini = QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)
    engine = FakeEngine()
    session = Session(model, "cpu", asker=FakeAsker(), preferences=Settings(ini), engine=engine,
                      autosave_folder=autosave_folder or folder / "autosave",
                      autosave_interval_s=3600)
    session.said = []  # (title, message) of each error
    session.lines = []  # each status line
    session.error.connect(lambda title, message: session.said.append((title, message)))
    session.status.connect(session.lines.append)
    session.start()
    if load and model:
        engine.answer_load()
    return session


def pixels(session: Session) -> np.ndarray:
    """A copy of the document's pixels."""
    return image_array(session.document.image()).copy()


def draw(session: Session, x: float = 140) -> None:
    """One white brush stroke down the canvas at `x` (an undo step, and a stroke's end)."""
    doc = session.document
    doc.begin_stroke("brush", QPointF(x, 60), 30, 0.8, QColor(255, 255, 255))
    doc.stroke_to(QPointF(x, 220))
    doc.end_stroke()


def cut_member(source: Path, target: Path, name: str, keep: int = 40) -> None:
    """`target`: a copy of the zip `source` (a project) whose member `name` keeps only its
    first `keep` bytes; every other member is whole (the manifest survives, the image not)."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, data[:keep] if item.filename == name else data)
