"""The noise explorer: slide t and watch A-1.1 to A-1.4 at that noise level, live.

`ExplorerThread` computes off the GUI thread with a "latest request wins" slot: a request that
arrives while one is computed replaces any older one still waiting, so dragging the slider never
builds a queue. Two of them run: one for the fast columns (x_t, blur, one step: one model call)
and the course figure, one for the iterative column (a few dozen calls). The iterative one
finishes the column it started and then takes the newest t, so while the slider is dragged that
column lags a little behind and fills in when the slider rests, and the fast columns never wait
for it.

`NoiseExplorer` is the dock's widget: it builds an `engine.explore.Explorer` from the window's
model and region (rebuilt when the drawing, the region, the prompt or the model change) and asks
the thread for columns as the slider moves. Its course figure (t = 250, 500, 750 scaled to the
model's T) is one image, exported as one PNG.
"""

from __future__ import annotations

import threading
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QThread, QTimer, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QDialog, QLabel, QVBoxLayout, QWidget

from app.engine_thread import error_message, tensor_to_qimage
from app.qt_images import qimage_to_pil
from engine import images
from engine.explore import Columns, Explorer, figure_timesteps
from widgets.explorer_view import CAPTIONS, COLUMNS, ExplorerView
from widgets.image_strip import compose_grid

if TYPE_CHECKING:
    from app.main_window import MainWindow

REBUILD_DELAY_MS = 150  # after the last stroke, the explorer takes the new drawing
NOISE_SEED = 180  # the course's seed; fixed, so the slider changes the noise level only


@dataclass
class _Request:
    serial: int
    explorer: Explorer
    t: int
    iterative: bool = False  # the fast part also makes the iterative column
    figure: bool = False


class ExplorerThread(QThread):
    """Computes the explorer's columns for the newest request only."""

    fastReady = Signal(int, int, object)  # serial, t, {column: QImage}
    iterativeReady = Signal(int, int, QImage, int)  # serial, t, image, strided start
    figureReady = Signal(int, QImage)  # serial, the course figure
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None, part: str = "fast") -> None:
        super().__init__(parent)
        if part not in ("fast", "iterative"):
            raise ValueError(f"part must be 'fast' or 'iterative', not {part!r}")
        self.part = part
        self._cond = threading.Condition()
        self._latest: _Request | None = None
        self._figure: _Request | None = None
        self._stop = False
        self._serial = 0

    # --- GUI side ---------------------------------------------------------------------------
    def request(self, explorer: Explorer, t: int, iterative: bool = False) -> int:
        """Asks for the columns at t (replacing any request not yet started); its serial."""
        with self._cond:
            self._serial += 1
            self._latest = _Request(self._serial, explorer, int(t), iterative)
            self._cond.notify()
            return self._serial

    def request_figure(self, explorer: Explorer) -> int:
        with self._cond:
            self._serial += 1
            self._figure = _Request(self._serial, explorer, 0, figure=True)
            self._cond.notify()
            return self._serial

    def stop(self, timeout_ms: int = 10_000) -> bool:
        with self._cond:
            self._stop = True
            self._cond.notify()
        return self.wait(timeout_ms)

    def stopping(self) -> bool:
        return self._stop

    # --- the thread -------------------------------------------------------------------------
    def run(self) -> None:
        while True:
            with self._cond:
                while self._latest is None and self._figure is None and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                request = self._latest or self._figure
                if request is self._latest:
                    self._latest = None
                else:
                    self._figure = None
            try:
                self._serve(request)
            except Exception as error:  # noqa: BLE001 - the thread must keep serving
                traceback.print_exc()
                self.failed.emit(error_message(error))

    def _serve(self, request: _Request) -> None:
        if request.figure:
            self.figureReady.emit(request.serial, course_figure(request.explorer))
            return
        explorer, t = request.explorer, explorer_t(request)
        if self.part == "fast":
            cols = explorer.fast(t)
            self.fastReady.emit(request.serial, cols.t, fast_images(explorer, cols))
        if self.part == "fast" and not request.iterative:
            return
        x = None
        for x in explorer.iterative_steps(t):  # noqa: B007 - the last x is kept
            if self._stop:
                return
        if x is not None:
            image = tensor_to_qimage(x[0], explorer.model.data_range)
            self.iterativeReady.emit(request.serial, t, image, explorer.iterative_start(t))


def explorer_t(request: _Request) -> int:
    return request.explorer.clamp_t(request.t)


def fast_images(explorer: Explorer, cols: Columns) -> dict[str, QImage]:
    data_range = explorer.model.data_range
    return {"x_t": tensor_to_qimage(cols.x_t[0], data_range),
            "blurred": tensor_to_qimage(cols.blurred[0], data_range),
            "one_step": tensor_to_qimage(cols.one_step[0], data_range)}


def course_figure(explorer: Explorer) -> QImage:
    """A-1.1 to A-1.4 in one image: a row per t (250/500/750 of 1000 scaled to T), the
    columns x_t, blur, one step, iterative; the clean image heads the first row."""
    rows, labels, titles = [], [], []
    data_range = explorer.model.data_range
    original = tensor_to_qimage(explorer.x0[0], data_range)
    for t in figure_timesteps(explorer.top):
        cols = explorer.columns(t)
        images_ = [original, *fast_images(explorer, cols).values(),
                   tensor_to_qimage(cols.iterative[0], data_range)]
        rows.append(images_)
        labels.append(["original", f"noisy t={t}", "Gaussian blur", "one-step",
                       f"iterative from {cols.iterative_from}"])
        titles.append(f"t = {t}")
    title = (f"{explorer.model.name}: forward process, blur, one-step and iterative "
             f"denoising (T = {explorer.top}, noise seed {explorer.noise_seed})")
    return compose_grid(rows, labels, titles, title=title, cell=112)


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
    """The dock's widget: the view, the thread, and the explorer built from the window."""

    updated = Signal(int)  # t, once the fast columns of a request are shown
    iterativeShown = Signal(int)
    figureMade = Signal(QImage)

    def __init__(self, window: MainWindow, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.window_ = window
        self.view = ExplorerView(self)
        self.thread_ = ExplorerThread(self, "fast")
        self.iterative_thread = ExplorerThread(self, "iterative")
        self.explorer: Explorer | None = None
        self.show_iterative = True
        self.figure: QImage | None = None
        self._serial = 0
        self._figure_serial = 0
        self._export_to: str | None = None
        self._show_figure = False
        self.rebuild_timer = QTimer(self, singleShot=True, interval=REBUILD_DELAY_MS)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        self._connect()
        self.thread_.start()
        self.iterative_thread.start()

    def _connect(self) -> None:
        w = self.window_
        self.view.tChanged.connect(self.request)
        self.view.figureRequested.connect(self.show_figure)
        self.view.exportRequested.connect(self.export_dialog)
        self.thread_.fastReady.connect(self._on_fast)
        self.iterative_thread.iterativeReady.connect(self._on_iterative)
        self.iterative_thread.failed.connect(self.view.set_status)
        self.thread_.figureReady.connect(self._on_figure)
        self.thread_.failed.connect(self.view.set_status)
        self.rebuild_timer.timeout.connect(self._rebuild_when_shown)
        w.document.changed.connect(self._schedule_rebuild)
        w.document.regionChanged.connect(self._schedule_rebuild)
        w.engine.modelLoaded.connect(self._schedule_rebuild)
        w.run_settings.propertyChanged.connect(
            lambda name, _: name == "prompt" and self._schedule_rebuild())

    # --- building ---------------------------------------------------------------------------
    def _schedule_rebuild(self, *_: Any) -> None:
        self.rebuild_timer.start()

    def _rebuild_when_shown(self) -> None:
        """Hidden, the explorer only forgets the old columns: rebuilding asks its threads to
        run the model (and maybe load a text encoder), which must not happen for nothing."""
        if self._active():
            self.rebuild()
        else:
            self.explorer = None

    def _active(self) -> bool:
        dock = self.parentWidget()
        return self.isVisible() or (dock is not None and dock.isVisible())

    def rebuild(self) -> bool:
        """A new Explorer from the window's model, region and prompt; True if made."""
        model = self.window_.engine.loaded_model()
        if model is None:
            self.explorer = None
            self.view.set_status("No model is loaded.")
            return False
        region = qimage_to_pil(self.window_.document.region_image(), "RGB")
        x0 = images.prepare_image(region, model.image_size, model.channels, model.data_range)
        prompt = self.window_.run_settings.prompt if model.conditional else None
        try:
            self.explorer = Explorer(model, x0, prompt, 1.0, NOISE_SEED)
        except Exception as error:  # noqa: BLE001 - a prompt the model cannot take, etc.
            self.explorer = None
            self.view.set_status(error_message(error))
            return False
        self.figure = None
        self.view.set_range(self.explorer.top)
        shown = "(unconditional)" if not prompt else repr(prompt)
        self.view.set_status(f"{model.name}, T = {self.explorer.top}, prompt {shown}, "
                             "no guidance (as in A-1.3/1.4)")
        if self._active():
            self.request(self.view.t())
        return True

    def _ensure(self) -> Explorer | None:
        if self.explorer is None:
            self.rebuild()
        return self.explorer

    # --- columns ----------------------------------------------------------------------------
    def request(self, t: int) -> int | None:
        """Asks the thread for the columns at t; returns the request's serial."""
        explorer = self._ensure()
        if explorer is None:
            return None
        self._serial = self.thread_.request(explorer, t)
        if self.show_iterative:
            self.iterative_thread.request(explorer, t)
            self.view.cells["iterative"].caption.setText("iterative (working…)")
        return self._serial

    def set_t(self, t: int) -> None:
        self.view.slider.setValue(t)

    def _on_fast(self, serial: int, t: int, shown: dict) -> None:
        for name, image in shown.items():
            caption = f"{CAPTIONS[name]}, t={t}" if name == "x_t" else CAPTIONS[name]
            self.view.set_column(name, image, caption)
        self.updated.emit(t)

    def _on_iterative(self, serial: int, t: int, image: QImage, start: int) -> None:
        self.view.set_column("iterative", image, f"iterative from t={start}")
        self.iterativeShown.emit(t)

    def column(self, name: str) -> QImage:
        assert name in COLUMNS
        return self.view.column(name)

    # --- the course figure --------------------------------------------------------------------
    def request_figure(self) -> int | None:
        explorer = self._ensure()
        if explorer is None:
            return None
        self._figure_serial = self.thread_.request_figure(explorer)
        self.view.set_status("Making the course figure…")
        return self._figure_serial

    def show_figure(self) -> None:
        self._show_figure = True
        self.request_figure()

    def export_dialog(self) -> None:
        start = str(Path(self.window_.settings.last_folder("export")) / "explorer-figure.png")
        path = self.window_.asker.save_path(self, "Export the explorer figure", start,
                                            "PNG image (*.png)")
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

    def _on_figure(self, serial: int, image: QImage) -> None:
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
        if self.figure.save(path, "PNG"):
            self.window_.settings.set_last_folder("export", path)
            self.view.set_status(f"Exported {path}")
        else:
            self.window_.show_error("Cannot export", f"could not write {path}")

    def shutdown(self) -> None:
        self.rebuild_timer.stop()
        self.thread_.stop()
        self.iterative_thread.stop()
