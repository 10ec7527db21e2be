"""The main window: canvas, tool options, modes panel, results, and the engine thread behind them.

A run takes the document's region (and mask), converts it to the model's size and range, and
queues a job on the engine thread; previews are drawn over the region as they arrive.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QMimeData, QSize, Qt
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QColor,
    QDragEnterEvent,
    QDropEvent,
    QImage,
    QKeySequence,
    QPixmap,
)
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QFileDialog,
    QFormLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.document import Document
from app.engine_thread import EngineThread, pil_to_qimage, qimage_to_pil
from app.jobs import NEEDS_IMAGE, Job
from engine import images
from engine.devices import DEVICES
from engine.errors import EngineError
from engine.schedules import evenly_spaced_timesteps
from widgets.canvas import CanvasView
from widgets.modes_panel import ModesPanel
from widgets.tool_options import ToolOptions

TITLE = "Diffusion Canvas"
DEFAULT_MODEL = "mnist"
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff *.gif);;All files (*)"
BLACK, WHITE = QColor(0, 0, 0), QColor(255, 255, 255)
RESULT_SIDE = 240
DIGIT_CANVAS = 280  # ten canvas pixels per model pixel of the 28 x 28 digit model


@dataclass
class Result:
    """One finished image with the settings that made it."""

    image: QImage
    parameters: dict[str, Any]
    frames: list[QImage] = field(default_factory=list)


def is_digit_model(spec: str | None, info: dict[str, Any] | None) -> bool:
    if info is not None:
        return info.get("channels") == 1 and int(info.get("size", 0)) <= 64
    return spec is not None and spec.startswith("mnist")


def scaling_for(image: QImage) -> Qt.TransformationMode:
    """Tiny model outputs (the 28 × 28 digits) keep square pixels; larger ones are smoothed."""
    if image.width() <= 64:
        return Qt.TransformationMode.FastTransformation
    return Qt.TransformationMode.SmoothTransformation


class NewDialog(QDialog):
    """Size and background of a new document."""

    def __init__(self, parent: QWidget | None, size: QSize, black: bool) -> None:
        super().__init__(parent)
        self.setWindowTitle("New image")
        self.width_box = QSpinBox(self, minimum=8, maximum=8192, value=size.width(), suffix=" px")
        self.height_box = QSpinBox(self, minimum=8, maximum=8192, value=size.height(),
                                   suffix=" px")
        self.background = QComboBox(self)
        self.background.addItem("Black", BLACK)
        self.background.addItem("White", WHITE)
        self.background.setCurrentIndex(0 if black else 1)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Width", self.width_box)
        form.addRow("Height", self.height_box)
        form.addRow("Background", self.background)
        form.addRow(buttons)

    def choice(self) -> tuple[int, int, QColor]:
        return self.width_box.value(), self.height_box.value(), self.background.currentData()


class ResultsView(QWidget):
    """The latest result, with Apply / Use as input / Export."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image_label = QLabel("No result yet.\nDraw something, pick a mode,\nthen Run "
                                  "(Ctrl+Enter).", self)
        self.image_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image_label.setFixedSize(RESULT_SIDE, RESULT_SIDE)
        self.image_label.setStyleSheet("QLabel { background: #2b2b2e; color: #aaa; }")
        self.caption = QLabel(self)
        self.caption.setWordWrap(True)
        self.apply_button = QPushButton("Apply to canvas", self, enabled=False)
        self.apply_button.setToolTip("Paste the result into the region (undoable)")
        self.input_button = QPushButton("Use as input", self, enabled=False)
        self.input_button.setToolTip("Paste the result into the region to edit it further")
        self.export_button = QPushButton("Export…", self, enabled=False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(QLabel("<b>Result</b>", self))
        layout.addWidget(self.image_label)
        layout.addWidget(self.caption)
        for button in (self.apply_button, self.input_button, self.export_button):
            layout.addWidget(button)
        layout.addStretch(1)

    def show_result(self, result: Result | None) -> None:
        for button in (self.apply_button, self.input_button, self.export_button):
            button.setEnabled(result is not None)
        if result is None:
            return
        side = RESULT_SIDE - 8
        pixmap = QPixmap.fromImage(result.image).scaled(
            side, side, Qt.AspectRatioMode.KeepAspectRatio, scaling_for(result.image))
        self.image_label.setPixmap(pixmap)
        params = result.parameters
        what = params.get("mode") or params.get("command", "")
        prompt = params.get("prompt")
        prompt_text = "(unconditional)" if prompt == "" else repr(prompt)
        self.caption.setText(f"{what}  prompt {prompt_text}  seed {params.get('seed')}")


class MainWindow(QMainWindow):
    """The app's window; `model` is a bundled name or a folder, loaded on the engine thread."""

    def __init__(self, model: str | None = DEFAULT_MODEL, device: str = "auto",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(TITLE)
        self.setAcceptDrops(True)
        self.results: list[Result] = []
        self.errors: list[str] = []  # every error shown, newest last (tests read it)
        self.model_spec = model
        self.device = device
        self.model_info: dict[str, Any] | None = None
        self._pristine = True  # the startup document, untouched: may follow the model
        self._run_started = 0.0
        self._shown: Result | None = None
        self._quiet_load = True  # a missing default model is said in the status bar, no box
        self.document = Document(self)
        self.canvas = CanvasView(self)
        self.canvas.set_document(self.document)
        self.tool_options = ToolOptions(self)
        self.tool_options.attach(self.canvas)
        self.tool_options.clearMaskRequested.connect(self.document.clear_mask)
        self.tool_options.invertMaskRequested.connect(self.document.invert_mask)
        self.modes = ModesPanel(self)
        self.result_view = ResultsView(self)
        self.engine = EngineThread(self)
        self._build_layout()
        self._build_status_bar()
        self._build_menus()
        self._connect()
        self._default_document(None)
        if model:
            self.load_model(model, device, quiet=True)
        else:
            self._show_no_model("no model chosen")

    # --- building -------------------------------------------------------------------------------
    def _build_layout(self) -> None:
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(self.canvas)
        splitter.addWidget(self.result_view)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 0)
        splitter.setSizes([800, RESULT_SIDE + 8])
        self.setCentralWidget(splitter)
        tools = QDockWidget("Tools", self)
        tools.setObjectName("tools")
        tools.setWidget(self.tool_options)
        tools.setFeatures(QDockWidget.DockWidgetFeature.NoDockWidgetFeatures)
        tools.setTitleBarWidget(QWidget(tools))  # a slim bar, no title
        self.addDockWidget(Qt.DockWidgetArea.TopDockWidgetArea, tools)
        modes = QDockWidget("Modes", self)
        modes.setObjectName("modes")
        modes.setWidget(self.modes)
        modes.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                          | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, modes)
        self.resize(1280, 800)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.model_label = QLabel(self)
        self.state_label = QLabel("Idle", self)
        self.state_label.setMinimumWidth(110)
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setFixedWidth(220)
        self.progress_bar.setFormat("step %v / %m")
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setTextVisible(False)
        self.eta_label = QLabel(self)
        self.eta_label.setMinimumWidth(80)
        for widget in (self.model_label, self.state_label, self.progress_bar, self.eta_label):
            bar.addPermanentWidget(widget)

    def _build_menus(self) -> None:
        menu = self.menuBar().addMenu("&File")
        self.new_action = self._action(menu, "&New…", QKeySequence.StandardKey.New,
                                       self.new_dialog)
        self.open_action = self._action(menu, "&Open…", QKeySequence.StandardKey.Open,
                                        self.open_dialog)
        self.paste_action = self._action(menu, "&Paste image", QKeySequence.StandardKey.Paste,
                                         self.paste)
        menu.addSeparator()
        self.export_action = self._action(menu, "&Export result…", "Ctrl+E", self.export_dialog)
        self.export_action.setEnabled(False)
        menu.addSeparator()
        self.quit_action = self._action(menu, "&Quit", "Ctrl+Q", self.close)

        menu = self.menuBar().addMenu("&Edit")
        self.undo_action = self.document.undo_stack.createUndoAction(self, "&Undo")
        self.undo_action.setShortcut(QKeySequence("Ctrl+Z"))
        self.redo_action = self.document.undo_stack.createRedoAction(self, "&Redo")
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        menu.addActions([self.undo_action, self.redo_action])
        menu.addSeparator()
        menu.addAction(self.modes.run_action)
        menu.addAction(self.modes.cancel_action)

        self.model_menu = self.menuBar().addMenu("&Model")
        self._fill_model_menu()

    def _action(self, menu: Any, text: str, key: Any, slot: Any) -> QAction:
        action = QAction(text, self)
        action.setShortcut(QKeySequence(key))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _fill_model_menu(self) -> None:
        from engine.models.registry import find_models

        menu = self.model_menu
        self._model_group = QActionGroup(self)
        try:
            found = find_models()
        except Exception:  # noqa: BLE001 - a broken cache must not stop the window
            found = []
        for info in found:
            action = QAction(f"{info.name}  ({info.kind})", self, checkable=True)
            action.setData(info.name)
            action.setChecked(info.name == self.model_spec)
            action.triggered.connect(lambda _=False, n=info.name: self.load_model(n))
            self._model_group.addAction(action)
            menu.addAction(action)
        if not found:
            none = menu.addAction("(no bundled model found)")
            none.setEnabled(False)
        menu.addSeparator()
        self.open_model_action = menu.addAction("Open model &folder…")
        self.open_model_action.triggered.connect(self.open_model_dialog)
        devices = menu.addMenu("&Device")
        group = QActionGroup(self)
        for name in DEVICES:
            action = QAction(name, self, checkable=True, checked=name == self.device)
            action.triggered.connect(lambda _=False, d=name: self.set_device(d))
            group.addAction(action)
            devices.addAction(action)

    def _connect(self) -> None:
        e = self.engine
        e.stateChanged.connect(self._on_state)
        e.modelLoaded.connect(self._on_model_loaded)
        e.loadFailed.connect(self._on_load_failed)
        e.progress.connect(self._on_progress)
        e.preview.connect(self._on_preview)
        e.finished.connect(self._on_finished)
        e.failed.connect(self._on_failed)
        e.cancelled.connect(self._on_cancelled)
        self.modes.runRequested.connect(self.run_job)
        self.modes.cancelRequested.connect(self.cancel_run)
        self.modes.stepsChanged.connect(self._update_timesteps)
        self.result_view.apply_button.clicked.connect(self.apply_result)
        self.result_view.input_button.clicked.connect(self.use_as_input)
        self.result_view.export_button.clicked.connect(self.export_dialog)
        self.document.undo_stack.indexChanged.connect(self._touched)

    def _touched(self) -> None:
        self._pristine = False

    # --- errors ---------------------------------------------------------------------------------
    def show_error(self, title: str, message: str) -> None:
        """A non-blocking message box: the app keeps working behind it."""
        self.errors.append(message)
        self.statusBar().showMessage(f"{title}: {message}", 10_000)
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok,
                          self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    # --- the model ------------------------------------------------------------------------------
    def load_model(self, spec: str, device: str | None = None, quiet: bool = False) -> None:
        """Loads a bundled name or a folder on the engine thread (once per model and device).

        With `quiet`, a failure is only said in the status bar (the startup default model).
        """
        self.model_spec = spec
        self.device = device or self.device
        self._quiet_load = quiet
        self.engine.load_model(spec, self.device)

    def set_device(self, device: str) -> None:
        self.device = device
        if self.model_spec:
            self.load_model(self.model_spec, device)

    def open_model_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open model folder")
        if folder:
            self.load_model(folder)

    def _on_model_loaded(self, info: dict[str, Any]) -> None:
        self.model_info = info
        self.model_spec = info.get("spec", self.model_spec)
        self.modes.set_model_info(info)
        self._update_timesteps(self.modes.steps.value())
        size, ch = info["size"], info["channels"]
        self.model_label.setStyleSheet("")
        self.model_label.setToolTip(str(info.get("spec", "")))
        self.model_label.setText(f"Model: {info['name']}  ({size}×{size}, {ch} channel"
                                 f"{'s' if ch != 1 else ''}, {info['device']})")
        for action in self._model_group.actions():
            action.setChecked(action.data() == self.model_spec)
        if self._pristine:
            self._default_document(info)

    def _on_load_failed(self, message: str) -> None:
        if self.model_info is None:
            self._show_no_model(message)
        if not self._quiet_load:
            self.show_error("Cannot load the model", message)

    def _show_no_model(self, reason: str) -> None:
        short = reason.split(";")[0].split(" from ")[0]  # the full text is the tooltip
        self.model_label.setText(f"No model loaded ({short}). Use Model ▸ Open model folder…")
        self.model_label.setToolTip(reason)
        self.model_label.setStyleSheet("QLabel { color: #c0392b; font-weight: bold; }")
        self.modes.set_model_info(None)

    def _update_timesteps(self, steps: int) -> None:
        info = self.model_info
        if info is None:
            return
        ts = info["timestep_values"] if not steps else evenly_spaced_timesteps(info["top"], steps)
        self.modes.set_timesteps(ts)

    # --- documents ------------------------------------------------------------------------------
    def _default_document(self, info: dict[str, Any] | None) -> None:
        """A black 280 × 280 canvas with a white brush for the digit model; white otherwise."""
        if is_digit_model(self.model_spec, info):
            self.new_document(DIGIT_CANVAS, DIGIT_CANVAS, BLACK)
        elif info is not None:
            self.new_document(512, 512, WHITE)
        self._pristine = True

    def new_document(self, width: int, height: int, background: QColor) -> None:
        """A fresh document; the brush takes the colour that shows on the background."""
        self.document.new_blank(width, height, background)
        brush = WHITE if background.lightness() < 128 else BLACK
        self.canvas.set_color(brush)
        self.tool_options.set_color(brush)
        self.canvas.preview(None)
        self.canvas.fit()
        self._pristine = False

    def new_dialog(self) -> None:
        black = is_digit_model(self.model_spec, self.model_info)
        dialog = NewDialog(self, self.document.size(), black)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.new_document(*dialog.choice())

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open image", "", IMAGE_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path: str) -> bool:
        """Opens an image file; on failure shows the error and leaves the document as it was."""
        try:
            picture = images.load_image(path)
            parameters = images.read_parameters(path) if path.lower().endswith(".png") else None
        except EngineError as error:
            self.show_error("Cannot open the image", str(error))
            return False
        self.document.set_image(pil_to_qimage(picture), "Open")
        self.document.undo_stack.clear()
        self.document.set_saved()
        self.canvas.preview(None)
        self.canvas.fit()
        self._pristine = False
        self.setWindowTitle(f"{Path(path).name} — {TITLE}")
        if parameters:
            self.modes.apply_settings(parameters)
        return True

    def paste(self) -> None:
        """Pastes an image (or an image file) from the clipboard into the document."""
        data = QApplication.clipboard().mimeData()
        if not self._take_mime(data, "Paste"):
            self.show_error("Cannot paste", "the clipboard holds no image")

    def _take_mime(self, data: QMimeData | None, text: str) -> bool:
        if data is None:
            return False
        files = [url.toLocalFile() for url in data.urls() if url.isLocalFile()]
        if files:
            return self.open_path(files[0])
        if data.hasImage():
            image = QImage(data.imageData())
            if not image.isNull():
                self.document.set_image(image, text)
                self.canvas.fit()
                return True
        return False

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        data = event.mimeData()
        if data.hasImage() or any(url.isLocalFile() for url in data.urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        if self._take_mime(event.mimeData(), "Drop image"):
            event.acceptProposedAction()

    # --- running --------------------------------------------------------------------------------
    def make_job(self, settings: dict[str, Any]) -> Job:
        """A job from the panel's settings and the document's region (and mask)."""
        info = self.model_info
        if info is None:
            raise EngineError("no model is loaded: pick one in the Model menu")
        job = Job(**settings)
        if job.mode in NEEDS_IMAGE:
            region = qimage_to_pil(self.document.region_image())
            job.image = images.prepare_image(region, info["size"], info["channels"],
                                             info["data_range"])
        if job.mode == "inpaint":
            job.mask = images.load_mask(qimage_to_pil(self.document.region_mask()),
                                        info["size"])
        return job

    def run_job(self, settings: dict[str, Any] | None = None) -> int | None:
        """Queues a run of the panel's settings (or `settings`); returns the job id."""
        try:
            job = self.make_job(settings if settings is not None else self.modes.settings())
        except EngineError as error:
            self.show_error("Cannot run", str(error))
            return None
        self._run_started = time.monotonic()
        self.modes.set_running(True)
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        return self.engine.submit(job)

    def cancel_run(self) -> None:
        self.engine.cancel()

    def _on_state(self, state: str) -> None:
        text = {"loading": "Loading model…", "idle": "Idle", "running": "Running"}
        self.state_label.setText(text.get(state, state))

    def _on_progress(self, step: int, total: int, eta: float) -> None:
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setRange(0, max(total, 1))
        self.progress_bar.setValue(step)
        self.eta_label.setText(f"ETA {eta:.0f} s" if step < total else "")

    def _on_preview(self, image: QImage, _step: int, _total: int) -> None:
        side = self.document.region().size()
        self.canvas.preview(image.scaled(side, Qt.AspectRatioMode.IgnoreAspectRatio,
                                         scaling_for(image)))

    def _run_ended(self, message: str) -> None:
        self.canvas.preview(None)
        self.modes.set_running(self.engine.busy())
        self.eta_label.setText("")
        self.statusBar().showMessage(message, 8000)

    def _on_finished(self, results: list, parameters: dict, frames: list) -> None:
        batch = [Result(image, parameters | {"index": i}, frames if i == 0 else [])
                 for i, image in enumerate(results)]
        self.results.extend(batch)
        self._run_ended(f"Done in {time.monotonic() - self._run_started:.1f} s")
        if batch:
            self.show_result(batch[0])

    def _on_failed(self, message: str) -> None:
        self._run_ended("The run failed")
        self.show_error("The run failed", message)

    def _on_cancelled(self) -> None:
        self.progress_bar.setValue(0)
        self._run_ended("Cancelled")

    # --- results --------------------------------------------------------------------------------
    def current_result(self) -> Result | None:
        return self._shown

    def show_result(self, result: Result) -> None:
        """Shows `result` beside the canvas (the history strip can call this too)."""
        self._shown = result
        self.result_view.show_result(result)
        self.export_action.setEnabled(True)

    def apply_result(self) -> None:
        if self._shown is not None:
            self.document.paste_into_region(self._shown.image, "Apply result")

    def use_as_input(self) -> None:
        if self._shown is not None:
            self.document.paste_into_region(self._shown.image, "Use result as input")

    def export_dialog(self) -> None:
        if self._shown is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export result", "result.png",
                                              "PNG image (*.png)")
        if path:
            self.export_result(path)

    def export_result(self, path: str, result: Result | None = None) -> bool:
        """Writes the result as PNG with its `parameters` chunk."""
        result = result or self._shown
        if result is None:
            return False
        if not path.lower().endswith(".png"):
            path += ".png"
        try:
            images.save_png(qimage_to_pil(result.image), path, result.parameters)
        except EngineError as error:
            self.show_error("Cannot export", str(error))
            return False
        self.statusBar().showMessage(f"Exported {path}", 5000)
        return True

    # --- closing --------------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        self.engine.shutdown()
        super().closeEvent(event)


def run_app(path: str | None = None) -> int:
    """Opens the window (and `path`, if given) and runs the event loop."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName(TITLE)
    window = MainWindow()
    app.aboutToQuit.connect(window.engine.shutdown)
    window.show()
    if path:
        window.open_path(path)
    return app.exec()
