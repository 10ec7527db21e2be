"""The noise explorer: slide t and watch A-1.1 to A-1.4 at that noise level, live.

Two workers (app/session/worker.py) compute off the GUI thread, each "newest request only": a
request that arrives while one is computed replaces any older one still waiting, so dragging
the slider never builds a queue. One makes the fast columns (x_t, blur, one step: one model
call) and the course figure, the other the iterative column (a few dozen calls). The iterative
one finishes the column it started and then takes the newest t, so while the slider is dragged
that column lags a little behind and fills in when the slider rests, and the fast columns never
wait for it.

The model is the engine thread's: the workers borrow it (`EngineThread.lend_model`) one step at
a time, so a run waits at most one explorer step, the explorer waits while a run goes, and the
two workers never use the model at once. The `Explorer` (engine.explore) is built under the lease
too, once per model and inputs, and shared by both workers.

`NoiseExplorer` is the dock's widget. It takes the session: the document's region, the prompt
of the run settings and the model state make its inputs (made again when the drawing, the
region, the prompt or the model change), and it asks the workers for columns as the slider
moves. Its course figure (t = 250, 500, 750 scaled to the model's T) is one image, exported as
one PNG.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QDialog, QLabel, QVBoxLayout, QWidget

from app.engine_thread import error_message, tensor_to_qimage
from app.model_sees import region_rgb
from app.qt_images import qimage_to_pil
from app.session.worker import Cancelled, Worker
from engine import images
from engine.errors import EngineError
from engine.explore import Columns, Explorer
from widgets.explorer_view import CAPTIONS, COLUMNS, ExplorerView
from widgets.image_strip import compose_grid

if TYPE_CHECKING:
    from app.session.session import Session
    from engine.models.base import DiffusionModel

REBUILD_DELAY_MS = 150  # after the last stroke, the explorer takes the new drawing
NOISE_SEED = 180  # the course's seed; fixed, so the slider changes the noise level only
JOIN_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Inputs:
    """What the explorer shows, made in the GUI thread: the region as the model takes it
    ([1, C, S, S] in its range), the prompt (None: unconditional), and a number that changes
    with each of them."""

    generation: int
    x0: torch.Tensor
    prompt: str | None


@dataclass
class FastColumns:
    t: int
    images: dict[str, QImage]  # x_t, blurred, one_step


@dataclass
class IterativeColumn:
    t: int
    image: QImage
    start: int  # the strided timestep it started from


@dataclass
class Figure:
    image: QImage


class SharedExplorer:
    """The one `Explorer` both workers use; read and made only under the engine's lease (so
    by one thread at a time). A new model or new inputs make a new one."""

    def __init__(self) -> None:
        self._explorer: Explorer | None = None
        self._generation = -1
        self._lock = threading.Lock()  # `forget` comes from the GUI thread

    def get(self, model: DiffusionModel, inputs: Inputs) -> Explorer:
        with self._lock:
            explorer = self._explorer
            if explorer is None or explorer.model is not model \
                    or self._generation != inputs.generation:
                explorer = Explorer(model, inputs.x0, inputs.prompt, 1.0, NOISE_SEED)
                self._explorer, self._generation = explorer, inputs.generation
            return explorer

    def current(self) -> Explorer | None:
        return self._explorer

    def forget(self) -> None:
        """Drops the explorer (and its hold on an old model)."""
        with self._lock:
            self._explorer = None


class ExplorerWork:
    """The explorer's computations, run in its workers' threads; each borrows the engine's
    model for one step at a time and yields between steps (the cancel point)."""

    def __init__(self, engine: Any, shared: SharedExplorer) -> None:
        self.engine = engine
        self.shared = shared

    @contextmanager
    def borrow(self, worker: Worker, inputs: Inputs, built: Explorer | None = None,
               urgent: bool = False) -> Iterator[Explorer]:
        """The explorer of the model lent now; `built`: the one a computation started with
        (a reload between two steps ends that computation quietly: a rebuild follows).
        `urgent`: before the iterative column's next step (the fast columns are one call)."""
        if worker.cancel_requested():
            raise Cancelled  # before building an explorer for inputs already replaced
        with self.engine.lend_model(worker.cancel_requested, urgent) as model:
            if model is None:
                raise EngineError("No model is loaded.")
            explorer = self.shared.get(model, inputs)
            if built is not None and explorer is not built:
                raise Cancelled
            yield explorer

    def fast(self, worker: Worker, inputs: Inputs, t: int) -> FastColumns:
        with self.borrow(worker, inputs, urgent=True) as explorer:
            cols = explorer.fast(t)
            return FastColumns(cols.t, fast_images(explorer, cols))

    def iterate(self, worker: Worker, inputs: Inputs, t: int, built: Explorer | None = None
                ) -> Generator[None, None, tuple[Explorer, torch.Tensor, int]]:
        """The iterative column at t, a step per lease: (explorer, x, strided start)."""
        with self.borrow(worker, inputs, built) as explorer:
            t = explorer.clamp_t(t)
            start, steps, x = explorer.iterative_start(t), explorer.iterative_steps(t), None
        try:
            while True:
                with self.borrow(worker, inputs, explorer):
                    step = next(steps, None)
                if step is None:
                    return explorer, (explorer.x0 if x is None else x), start
                x = step
                yield
        finally:
            steps.close()

    def iterative(self, worker: Worker, inputs: Inputs, t: int
                  ) -> Generator[None, None, IterativeColumn]:
        explorer, x, start = yield from self.iterate(worker, inputs, t)
        with self.borrow(worker, inputs, explorer):
            image = tensor_to_qimage(x[0], data_range_of(explorer))
        return IterativeColumn(explorer.clamp_t(t), image, start)

    def figure(self, worker: Worker, inputs: Inputs) -> Generator[None, None, Figure]:
        """A-1.1 to A-1.4 in one image (see `course_figure`), made step by step."""
        with self.borrow(worker, inputs) as explorer:
            timesteps = explorer.figure_timesteps()
        rows: list[Columns] = []
        for t in timesteps:
            with self.borrow(worker, inputs, explorer):
                cols = explorer.fast(t)
            yield
            _, cols.iterative, cols.iterative_from = yield from self.iterate(
                worker, inputs, t, explorer)
            rows.append(cols)
        with self.borrow(worker, inputs, explorer):
            return Figure(course_figure(explorer, rows))


def data_range_of(explorer: Explorer) -> tuple[float, float]:
    return explorer.model.data_range


def fast_images(explorer: Explorer, cols: Columns) -> dict[str, QImage]:
    data_range = data_range_of(explorer)
    return {"x_t": tensor_to_qimage(cols.x_t[0], data_range),
            "blurred": tensor_to_qimage(cols.blurred[0], data_range),
            "one_step": tensor_to_qimage(cols.one_step[0], data_range)}


def course_figure(explorer: Explorer, rows: list[Columns]) -> QImage:
    """A-1.1 to A-1.4 in one image: a row per t (250/500/750 of 1000 scaled to T), the
    columns x_t, blur, one step, iterative; the clean image heads the first row."""
    cells, labels, titles = [], [], []
    data_range = data_range_of(explorer)
    original = tensor_to_qimage(explorer.x0[0], data_range)
    for cols in rows:
        cells.append([original, *fast_images(explorer, cols).values(),
                      tensor_to_qimage(cols.iterative[0], data_range)])
        labels.append(["original", f"noisy t={cols.t}", "Gaussian blur", "one-step",
                       f"iterative from {cols.iterative_from}"])
        titles.append(f"t = {cols.t}")
    title = (f"{explorer.model.name}: forward process, blur, one-step and iterative "
             f"denoising (T = {explorer.num_timesteps}, noise seed {explorer.noise_seed})")
    return compose_grid(cells, labels, titles, title=title, cell=112)


class FigureDialog(QDialog):
    """The course figure, shown as made."""

    def __init__(self, parent: QWidget | None, image: QImage) -> None:
        super().__init__(parent)
        self.setWindowTitle("Noise explorer: course figure")
        self.label = QLabel(self)
        self.label.setPixmap(QPixmap.fromImage(image))
        layout = QVBoxLayout(self)
        layout.addWidget(self.label)


class NoiseExplorer(QWidget):
    """The dock's widget: the view, the two workers, and the inputs taken from the session."""

    updated = Signal(int)  # t, once the fast columns of a request are shown
    iterativeShown = Signal(int)
    figureMade = Signal(QImage)
    failed = Signal(str)  # a request failed: the message (also the view's status)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.view = ExplorerView(self)
        self.fast_worker = Worker("explorer-fast", error_message, self)
        self.iterative_worker = Worker("explorer-iterative", error_message, self)
        self.shared = SharedExplorer()
        self.work = ExplorerWork(session.engine, self.shared)
        self.inputs: Inputs | None = None
        self.show_iterative = True
        self.figure: QImage | None = None
        self._generation = 0
        self._serial: int | None = None
        self._iterative_serial: int | None = None
        self._figure_serial: int | None = None
        self._export_to: str | None = None
        self._show_figure = False
        self.rebuild_timer = QTimer(self, singleShot=True, interval=REBUILD_DELAY_MS)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        self._connect()

    def _connect(self) -> None:
        s = self.session
        self.view.tChanged.connect(self.request)
        self.view.figureRequested.connect(self.show_figure)
        self.view.exportRequested.connect(self.export_dialog)
        self.fast_worker.finished.connect(self._on_result)
        self.iterative_worker.finished.connect(self._on_result)
        for worker in (self.fast_worker, self.iterative_worker):
            worker.failed.connect(self._on_failed)
        self.rebuild_timer.timeout.connect(self._rebuild_when_shown)
        s.document.changed.connect(self._schedule_rebuild)
        s.document.regionChanged.connect(self._schedule_rebuild)
        s.model.loaded.connect(self._on_model_loaded)
        s.settings.propertyChanged.connect(
            lambda name, _: name == "prompt" and self._schedule_rebuild())

    # --- building ---------------------------------------------------------------------------
    def _on_model_loaded(self, *_: Any) -> None:
        self.shared.forget()  # the old model can go
        self._schedule_rebuild()

    def _schedule_rebuild(self, *_: Any) -> None:
        self.rebuild_timer.start()

    def _rebuild_when_shown(self) -> None:
        """Hidden, the explorer only forgets the old inputs: rebuilding asks its workers to
        run the model (and maybe load a text encoder), which must not happen for nothing."""
        if self._active():
            self.rebuild()
        else:
            self.inputs = None
            self.shared.forget()

    def _active(self) -> bool:
        dock = self.parentWidget()
        return self.isVisible() or (dock is not None and dock.isVisible())

    def rebuild(self) -> bool:
        """New inputs from the session's model state, region and prompt; True if made. The
        columns of the old ones still on the way are cancelled."""
        state = self.session.model.state
        if state is None:
            self.inputs = None
            self.view.set_status("No model is loaded.")
            return False
        region = region_rgb(self.session.document.image(), self.session.document.region())
        x0 = images.prepare_image(region, state.size, state.channels, state.data_range)
        prompt = self.session.settings.prompt if state.conditional else None
        self._generation += 1
        self.inputs = Inputs(self._generation, x0, prompt)
        self._cancel_columns()
        self.figure = None
        self._figure_again()
        self.view.set_range(state.top)
        shown = "(unconditional)" if not prompt else repr(prompt)
        big_t = state.num_timesteps or state.top
        self.view.set_status(f"{state.name}, T = {big_t}, prompt {shown}, "
                             "no guidance (as in A-1.3/1.4)")
        if self._active():
            self.request(self.view.t())
        return True

    def _cancel_columns(self) -> None:
        for worker, serial in ((self.fast_worker, self._serial),
                               (self.iterative_worker, self._iterative_serial)):
            if serial is not None:
                worker.cancel(serial)

    def _figure_again(self) -> None:
        """A figure on its way for the old inputs is cancelled, and asked again of the new
        ones when it is to be shown or exported."""
        if self._figure_serial is None:
            return
        self.fast_worker.cancel(self._figure_serial)
        self._figure_serial = None
        if self._export_to or self._show_figure:
            self.request_figure()

    def _ensure(self) -> Inputs | None:
        if self.inputs is None:
            self.rebuild()
        return self.inputs

    def built(self) -> Explorer | None:
        """The Explorer the workers use now (None before their first request); read it only
        while holding the engine's lease."""
        return self.shared.current()

    # --- columns ----------------------------------------------------------------------------
    def request(self, t: int) -> int | None:
        """Asks the workers for the columns at t; returns the fast request's serial."""
        inputs = self._ensure()
        if inputs is None:
            return None
        w = self.work
        self._serial = self.fast_worker.submit(w.fast, self.fast_worker, inputs, int(t),
                                               key="columns")
        if self.show_iterative:
            self._iterative_serial = self.iterative_worker.submit(
                w.iterative, self.iterative_worker, inputs, int(t), key="columns")
            self.view.cells["iterative"].caption.setText("iterative (working…)")
        return self._serial

    def set_t(self, t: int) -> None:
        self.view.slider.setValue(t)

    def _on_result(self, serial: int, result: object) -> None:
        if isinstance(result, FastColumns):
            self._on_fast(result)
        elif isinstance(result, IterativeColumn):
            self._on_iterative(result)
        elif isinstance(result, Figure):
            self._figure_serial = None
            self._on_figure(result.image)

    def _on_fast(self, columns: FastColumns) -> None:
        t = columns.t
        for name, image in columns.images.items():
            caption = f"{CAPTIONS[name]}, t={t}" if name == "x_t" else CAPTIONS[name]
            self.view.set_column(name, image, caption)
        self.updated.emit(t)

    def _on_iterative(self, column: IterativeColumn) -> None:
        self.view.set_column("iterative", column.image, f"iterative from t={column.start}")
        self.iterativeShown.emit(column.t)

    def _on_failed(self, serial: int, message: str) -> None:
        self.view.set_status(message)
        self.failed.emit(message)

    def column(self, name: str) -> QImage:
        assert name in COLUMNS
        return self.view.column(name)

    # --- the course figure --------------------------------------------------------------------
    def request_figure(self) -> int | None:
        inputs = self._ensure()
        if inputs is None:
            return None
        self._figure_serial = self.fast_worker.submit(self.work.figure, self.fast_worker,
                                                      inputs, key="figure")
        self.view.set_status("Making the course figure…")
        return self._figure_serial

    def show_figure(self) -> None:
        self._show_figure = True
        self.request_figure()

    def export_dialog(self) -> None:
        s = self.session
        start = str(Path(s.preferences.last_folder("export")) / "explorer-figure.png")
        path = s.asker.save_path(self, "Export the explorer figure", start, "PNG image (*.png)")
        if path:
            self.export_figure(path)

    def export_figure(self, path: str) -> None:
        """Writes the course figure to `path` once it is made (at once if it is)."""
        if not path.lower().endswith(".png"):
            path += ".png"
        self._export_to = path
        if self.figure is not None:
            self._write_figure()
        else:
            self.request_figure()

    def _on_figure(self, image: QImage) -> None:
        self.figure = image
        self.view.set_status("Course figure made.")
        if self._export_to:
            self._write_figure()
        if self._show_figure:
            self._show_figure = False
            dialog = FigureDialog(self, image)
            dialog.setModal(False)
            dialog.show()
        self.figureMade.emit(image)

    def _write_figure(self) -> None:
        path, self._export_to = self._export_to, None
        if self.figure is None or not path:
            return
        try:  # atomic, and the reason when it fails (QImage.save gave neither)
            images.save_png(qimage_to_pil(self.figure, "RGB"), path)
        except EngineError as error:
            self.session.error.emit("Cannot export", str(error))
            return
        self.session.preferences.set_last_folder("export", path)
        self.view.set_status(f"Exported {path}")

    def shutdown(self, timeout_s: float = JOIN_TIMEOUT_S) -> bool:
        """Stops both workers (each within one step) and waits for them."""
        self.rebuild_timer.stop()
        fast = self.fast_worker.join(timeout_s)
        return self.iterative_worker.join(timeout_s) and fast
