"""The main window: canvas, tool options, modes panel, result view, history, and the engine thread.

A run takes the document's region (and mask), converts it to the model's size and range, and
queues a job on the engine thread; previews are drawn over the region as they arrive, and every
finished image becomes an entry of the history (app.history) shown in the strip below the canvas.
Live mode re-runs SDEdit shortly after the user stops drawing and shows it in the result view.

Everything that would block in a test (file dialogs, questions) goes through `Asker`, which a
test replaces; settings go through an injected `app.settings.Settings`.
"""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QMimeData, QSize, Qt, QTimer
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QColor,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QImage,
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

from app import actions as action_table
from app import export
from app.autosave import DEFAULT_INTERVAL_S, Autosaver, Recovery
from app.document import Document
from app.engine_thread import EngineThread
from app.explorer import NoiseExplorer
from app.history import History, Result
from app.illusions import open_anagram_viewer
from app.jobs import Job, illusion_fields, own_parameters
from app.project import SUFFIX as PROJECT_SUFFIX
from app.project import ProjectError, apply_project, load_project, save_project
from app.qt_images import pil_to_qimage, qimage_to_numpy, qimage_to_pil
from app.restored import clean_run_settings
from app.restored import describe as describe_problems
from app.session import modes as mode_table
from app.session.jobs import JobKind, JobRecord
from app.session.model_state import LoadRequest, ModelSlot, ModelState
from app.session.runner import LIVE_DELAY_MS, Runner  # noqa: F401 - LIVE_DELAY_MS for tests
from app.session.settings import RunSettings, bind_panel
from app.session.suggested import suggested_for
from app.settings import APPLICATION, ORGANISATION, Settings
from app.sweeps import SweepDialog
from app.training_panel import TrainingPanel
from engine import images
from engine.devices import DEVICES, available_devices
from engine.errors import EngineError
from widgets.canvas import CanvasView
from widgets.history_strip import HistoryStrip
from widgets.illusion_options import VIEWS
from widgets.illusion_viewers import HybridViewer
from widgets.modes_panel import ModesPanel
from widgets.tool_options import ToolOptions

TITLE = "Diffusion Canvas"
DEFAULT_MODEL = "mnist"
IMAGE_SUFFIXES = "*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff *.gif"
PROJECT_FILTER = f"Diffusion Canvas project (*{PROJECT_SUFFIX})"
OPEN_FILTER = (f"Images and projects ({IMAGE_SUFFIXES} *{PROJECT_SUFFIX});;"
               f"Images ({IMAGE_SUFFIXES});;{PROJECT_FILTER};;All files (*)")
IMAGE_FILTER = f"Images ({IMAGE_SUFFIXES});;All files (*)"
PARAMETER_SUFFIXES = (".png", ".apng", ".gif")  # files whose settings we can read back
BLACK, WHITE = QColor(0, 0, 0), QColor(255, 255, 255)
RESULT_SIDE = 240
INPUT_SIDE = 112  # the model's view of the region, beside the result
INPUT_DELAY_MS = 150  # redrawn this long after the last change, not on every brush dab
DOCK_FEATURES = (QDockWidget.DockWidgetFeature.DockWidgetMovable
                 | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                 | QDockWidget.DockWidgetFeature.DockWidgetClosable)
DIGIT_CANVAS = 280  # ten canvas pixels per model pixel of the 28 x 28 digit model
EXPORT_SCALES = (1, 4, 8)
PRECISION_LABELS = {"auto": "Auto (IF: fp16 on a GPU; digits: bf16 on a CPU with native bf16; "
                            "else fp32)", "fp32": "fp32",
                    "bf16": "bf16 (half the memory of fp32 on the CPU)", "fp16": "fp16 (GPU only)"}
OFFLOAD_LABELS = {"none": "None: all of the model on the device",
                  "model": "Model offload: one module at a time on the GPU",
                  "sequential": "Sequential offload: least GPU memory, slowest"}
EXPORT_KINDS = (("png", "PNG image"), ("gif", "Denoising frames (GIF)"),
                ("apng", "Denoising frames (animated PNG)"))


def keep_title_whole(dialog: QWidget) -> None:
    """Wide enough that the window manager never cuts the title (its buttons take ~150 px)."""
    title = dialog.fontMetrics().horizontalAdvance(dialog.windowTitle())
    dialog.setMinimumWidth(max(dialog.minimumWidth(), round(title * 1.3) + 150, 300))


def is_digit_model(spec: str | None, state: ModelState | None) -> bool:
    if state is not None:
        return state.is_digit_model
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
        keep_title_whole(self)
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


@dataclass
class ExportChoice:
    """What to export: `kind` "png", "gif" or "apng"; a PNG's `scale` and `resample`."""

    kind: str = "png"
    scale: int = 1
    resample: str = "nearest"

    @property
    def suffix(self) -> str:
        return ".gif" if self.kind == "gif" else ".png"


class ExportDialog(QDialog):
    """The result as a PNG (×1, ×4, ×8; nearest or bicubic) or its frames as GIF / APNG."""

    def __init__(self, parent: QWidget | None, has_frames: bool) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export result")
        keep_title_whole(self)
        self.kind = QComboBox(self)
        for key, label in EXPORT_KINDS:
            self.kind.addItem(label, key)
            if key != "png" and not has_frames:
                self.kind.model().item(self.kind.count() - 1).setEnabled(False)
        self.scale = QComboBox(self)
        for factor in EXPORT_SCALES:
            self.scale.addItem(f"×{factor}" + ("  (model size)" if factor == 1 else ""), factor)
        self.resample = QComboBox(self)
        self.resample.addItem("Nearest (crisp pixels)", "nearest")
        self.resample.addItem("Bicubic (smooth)", "bicubic")
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Export", self.kind)
        form.addRow("Scale", self.scale)
        form.addRow("Resampling", self.resample)
        form.addRow(buttons)
        self.kind.currentIndexChanged.connect(self._on_kind)

    def _on_kind(self) -> None:
        png = self.kind.currentData() == "png"
        self.resample.setEnabled(png)  # the scale applies to frames too (square pixels)

    def choice(self) -> ExportChoice:
        return ExportChoice(str(self.kind.currentData()), int(self.scale.currentData()),
                            str(self.resample.currentData()))


class Asker:
    """The questions and file dialogs the window asks; tests pass a subclass that answers."""

    def unsaved_changes(self, parent: QWidget, name: str, action: str = "closing") -> str:
        """"save", "discard" or "cancel"; `action` is what would lose the changes."""
        buttons = (QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                   | QMessageBox.StandardButton.Cancel)
        box = QMessageBox(QMessageBox.Icon.Question, "Unsaved changes",
                          f"Save the changes to {name} before {action}?", buttons, parent)
        box.setDefaultButton(QMessageBox.StandardButton.Save)
        box.exec()
        answer = box.standardButton(box.clickedButton())
        return {QMessageBox.StandardButton.Save: "save",
                QMessageBox.StandardButton.Discard: "discard"}.get(answer, "cancel")

    def offer_recovery(self, parent: QWidget, recovery: Recovery) -> str:
        """"restore", "discard" or "later" (keep it, ask again next time)."""
        when = recovery.saved_at.strftime("%Y-%m-%d %H:%M")
        w, h = recovery.size
        box = QMessageBox(QMessageBox.Icon.Question, "Recover unsaved work",
                          f"Diffusion Canvas did not close cleanly last time.\nRestore the "
                          f"unsaved {w} × {h} image autosaved at {when}?", parent=parent)
        restore = box.addButton("Restore", QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(restore)
        box.exec()
        clicked = box.clickedButton()
        return "restore" if clicked is restore else "discard" if clicked is discard else "later"

    def save_path(self, parent: QWidget, title: str, start: str, filters: str) -> str:
        """A path to write, or "" if the user cancelled."""
        return QFileDialog.getSaveFileName(parent, title, start, filters)[0]

    def open_path(self, parent: QWidget, title: str, start: str, filters: str) -> str:
        """A path to read, or "" if the user cancelled."""
        return QFileDialog.getOpenFileName(parent, title, start, filters)[0]

    def folder(self, parent: QWidget, title: str, start: str) -> str:
        return QFileDialog.getExistingDirectory(parent, title, start)

    def export_choice(self, parent: QWidget, result: Result) -> ExportChoice | None:
        dialog = ExportDialog(parent, bool(result.frames))
        try:
            return dialog.choice() if dialog.exec() == QDialog.DialogCode.Accepted else None
        finally:
            dialog.deleteLater()


class ResultsView(QWidget):
    """The result shown (a history entry, or the latest Live run), with its actions."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("<b>Result</b>", self)
        self.image_label = QLabel("No result yet.\nDraw something, pick a mode,\nthen Run "
                                  f"({action_table.key_text('run')}).", self)
        self.image_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image_label.setFixedSize(RESULT_SIDE, RESULT_SIDE)
        self.image_label.setStyleSheet("QLabel { background: #2b2b2e; color: #aaa; }")
        self.caption = QLabel(self)
        self.caption.setWordWrap(True)
        self.caption.setFixedWidth(RESULT_SIDE)
        self.apply_button = QPushButton("Apply to canvas", self, enabled=False)
        self.apply_button.setToolTip("Paste the result into the region (undoable)")
        self.input_button = QPushButton("Use as input", self, enabled=False)
        self.input_button.setToolTip("Paste the result into the region and edit it further "
                                     "(SDEdit)")
        self.export_button = QPushButton("Export…", self, enabled=False)
        self.export_button.setToolTip("PNG at model size or larger, or the denoising frames "
                                      f"({action_table.key_text('export')})")
        self.keep_button = QPushButton("Keep in history", self, enabled=False)
        self.keep_button.setToolTip("Add this Live result to the history")
        self.keep_button.hide()
        self.input_title = QLabel("<b>What the model sees</b>", self)
        self.input_view = QLabel(self)
        self.input_view.setFixedSize(INPUT_SIDE, INPUT_SIDE)
        self.input_view.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.input_view.setStyleSheet("QLabel { background: #2b2b2e; }")
        self.input_caption = QLabel(self)
        self.input_caption.setWordWrap(True)
        self.input_caption.setFixedWidth(RESULT_SIDE)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.title)
        layout.addWidget(self.image_label)
        layout.addWidget(self.caption)
        for button in (self.apply_button, self.input_button, self.export_button,
                       self.keep_button):
            layout.addWidget(button)
        layout.addSpacing(8)
        for widget in (self.input_title, self.input_view, self.input_caption):
            layout.addWidget(widget)
        layout.addStretch(1)

    def show_model_input(self, image: QImage | None, caption: str) -> None:
        """The region as the model gets it: its size, its channels."""
        if image is None:
            self.input_view.clear()
        else:
            side = INPUT_SIDE - 4
            self.input_view.setPixmap(QPixmap.fromImage(image).scaled(
                side, side, Qt.AspectRatioMode.KeepAspectRatio, scaling_for(image)))
        self.input_caption.setText(caption)

    def show_image(self, image: QImage) -> None:
        side = RESULT_SIDE - 8
        pixmap = QPixmap.fromImage(image).scaled(
            side, side, Qt.AspectRatioMode.KeepAspectRatio, scaling_for(image))
        self.image_label.setPixmap(pixmap)

    def show_result(self, result: Result | None, live: bool = False) -> None:
        for button in (self.apply_button, self.input_button, self.export_button):
            button.setEnabled(result is not None)
        self.keep_button.setVisible(live)
        self.keep_button.setEnabled(live and result is not None)
        self.title.setText("<b>Live result</b>" if live else "<b>Result</b>")
        if result is None:
            self.image_label.clear()
            self.image_label.setText("No result selected.")
            self.caption.clear()
            return
        self.show_image(result.image)
        params = result.parameters
        what = params.get("mode") or params.get("command", "")
        prompt = params.get("prompt")
        prompt_text = "(unconditional)" if prompt == "" else repr(prompt)
        self.caption.setText(f"{what}  prompt {prompt_text}  seed {params.get('seed')}")


class MainWindow(QMainWindow):
    """The app's window; `model` is a bundled name or a folder, loaded on the engine thread.

    `settings` (default: the user's QSettings), `asker` (default: real dialogs) and
    `autosave_folder` (default: the app data folder) are injected by tests. With
    `check_recovery`, an autosave left by a crash is offered once the event loop runs.
    """

    def __init__(self, model: str | None = DEFAULT_MODEL, device: str = "auto",
                 parent: QWidget | None = None, *, settings: Settings | None = None,
                 asker: Asker | None = None, autosave_folder: str | Path | None = None,
                 autosave_interval_s: float = DEFAULT_INTERVAL_S,
                 check_recovery: bool = True) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.settings = settings if settings is not None else Settings()
        self.asker = asker if asker is not None else Asker()
        self.errors: list[str] = []  # every error shown, newest last (tests read it)
        self.project_path: str | None = None  # the .dcproj this document was saved to/opened
        self._file_name: str | None = None  # the image file opened, when not a project
        self._history_dirty = False  # the history changed since the last save or open
        self._pristine = True  # the startup document, untouched: may follow the model
        self._run_settings_restored = False
        self._run_started = 0.0
        self._shown: Result | None = None
        self._shown_live = False
        self._quiet_load = True  # a missing default model is said in the status bar, no box
        self.document = Document(self)
        self.history = History(self)
        self.canvas = CanvasView(self)
        self.canvas.set_document(self.document)
        self.tool_options = ToolOptions(self)
        self.tool_options.attach(self.canvas)
        self.tool_options.clearMaskRequested.connect(self.document.clear_mask)
        self.tool_options.invertMaskRequested.connect(self.document.invert_mask)
        self.modes = ModesPanel(self, mode_table.MODES)
        self.run_settings = RunSettings(self, views=[key for key, _ in VIEWS])
        self._bindings = bind_panel(self.run_settings, self.modes)
        self.result_view = ResultsView(self)
        self.history_strip = HistoryStrip(self, thumbnail_size=84)
        self.input_timer = QTimer(self, singleShot=True, interval=INPUT_DELAY_MS)
        self.input_timer.timeout.connect(self._update_model_input)
        self.engine = EngineThread(self)
        self.model_slot = ModelSlot(self.engine, LoadRequest(
            model, device, None, self.settings.precision, self.settings.offload), self)
        self.runner = Runner(self.engine, self.make_job,
                             lambda: self.run_settings.job_fields(draw=False), self)
        self.live_timer = self.runner.live_timer
        self.explorer = NoiseExplorer(self)
        self.training_panel = TrainingPanel(self)
        self.sweep_dialog: SweepDialog | None = None
        self.viewers: list[QDialog] = []
        self.autosaver = Autosaver(self.document, autosave_folder, autosave_interval_s,
                                   self.history, self, modified=self.is_modified)
        self._build_layout()
        self._build_status_bar()
        self._build_menus()
        self._connect()
        self._restore_settings()
        self._default_document(None)
        self._update_title()
        if model:
            self.load_model(model, device, quiet=True)
        else:
            self._show_no_model("no model chosen")
        if check_recovery:
            QTimer.singleShot(0, self.offer_recovery)

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
        tools.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetClosable)  # View menu hides it
        tools.setTitleBarWidget(QWidget(tools))  # a slim bar, no title
        self.addDockWidget(Qt.DockWidgetArea.TopDockWidgetArea, tools)
        modes = QDockWidget("Modes", self)
        modes.setObjectName("modes")
        modes.setWidget(self.modes)
        modes.setFeatures(DOCK_FEATURES)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, modes)
        history = QDockWidget("History", self)
        history.setObjectName("history")
        history.setWidget(self.history_strip)
        history.setFeatures(DOCK_FEATURES)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, history)
        self.tools_dock, self.modes_dock, self.history_dock = tools, modes, history
        self.explorer_dock = self._side_dock("Noise explorer", "explorer", self.explorer)
        self.training_dock = self._side_dock("Training", "training", self.training_panel)
        self.tabifyDockWidget(self.explorer_dock, self.training_dock)
        self.history_strip.setToolTip("Results: click to show, double-click to apply, "
                                      "right-click for more")
        self.resize(1280, 800)

    def _side_dock(self, title: str, name: str, widget: QWidget) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(DOCK_FEATURES)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        dock.hide()
        return dock

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
        self.zoom_label = QLabel(self)
        self.zoom_label.setMinimumWidth(60)
        self.zoom_label.setToolTip("Canvas zoom (View ▸ Zoom in / out / Fit / 100%)")
        self.canvas.zoomChanged.connect(self._show_zoom)
        self._show_zoom(self.canvas.zoom())
        for widget in (self.zoom_label, self.model_label, self.state_label, self.progress_bar,
                       self.eta_label):
            bar.addPermanentWidget(widget)

    def _show_zoom(self, zoom: float) -> None:
        self.zoom_label.setText(f"{zoom * 100:.0f}%")

    def _build_menus(self) -> None:
        """The menus, every key and the tool bar's keys, from the table of app/actions.py."""
        self._actions = action_table.make_actions(self)
        self.menus = action_table.build_menus(self.menuBar(), self._actions)
        self.recent_menu, self.model_menu = self.menus["recent"], self.menus["Model"]
        self._fill_recent_menu()
        self._fill_model_menu()
        self.canvas.set_keys(action_table.handler_keys("canvas"))
        self.history_strip.set_keys(action_table.handler_keys("history"))
        self.tool_options.show_size_keys(" and ".join(
            action_table.key_text(name) for name in ("brush_smaller", "brush_larger")))
        self.refresh_actions()

    def action(self, action_id: str) -> QAction:
        """The action of the table's row `action_id` ("save", "undo", "fit"...)."""
        return self._actions[action_id]

    def refresh_actions(self) -> None:
        """Enables the actions whose row says when (a result shown, an illusion shown)."""
        action_table.refresh_enabled(self, self._actions)

    def _fill_model_menu(self) -> None:
        """Bundled models, Hugging Face cache entries, a model folder, and the devices."""
        from engine.models.registry import RESOURCES, find_models

        menu = self.model_menu
        menu.clear()
        self._model_group = QActionGroup(self)
        try:
            found = find_models()
        except Exception:  # noqa: BLE001 - a broken cache must not stop the window
            found = []
        bundled = [m for m in found if RESOURCES in Path(m.where).parents]
        cached = [m for m in found if m not in bundled]
        sections = (("Bundled", bundled, "(no bundled model found)"),
                    ("Hugging Face cache", cached, "(nothing usable in the cache)"))
        for title, models, empty in sections:
            menu.addSection(title)
            for info in models:
                action = self._add_model_action(f"{info.name}  ({info.kind})", info.name,
                                                str(info.where))
                if info.kind == "deepfloyd-if-upscaler":  # found by stage I, not loaded alone
                    action.setEnabled(False)
                    action.setText(f"{info.name}  (IF stage II: Upscale uses it)")
                    action.setToolTip(f"{info.where}: stage II upscales stage I's results; "
                                      "load a stage I model (IF-I-*) and tick Upscale")
            if not models:
                menu.addAction(empty).setEnabled(False)
        known = {m.name for m in found}
        if self.model_spec and self.model_spec not in known and Path(self.model_spec).is_dir():
            menu.addSection("Folder")
            self._add_model_action(Path(self.model_spec).name, self.model_spec, self.model_spec)
        action_table.fill_menu(menu, "Model", self._actions)  # model folder, embeddings
        have = available_devices()
        self.device_actions = self._choice_menu(
            menu.addMenu("&Device"), {d: d for d in DEVICES}, self.device, self.set_device,
            {d: f"{d} is not available on this machine" for d in DEVICES if not have.get(d)})
        large = "applies to large models (DeepFloyd IF)"
        self.precision_menu = menu.addMenu("&Precision")
        self.precision_menu.setToolTipsVisible(True)
        self.precision_actions = self._choice_menu(self.precision_menu, PRECISION_LABELS,
                                                   self.precision, self.set_precision)
        self.offload_menu = menu.addMenu("&Offload")
        self.offload_actions = self._choice_menu(self.offload_menu, OFFLOAD_LABELS,
                                                 self.offload, self.set_offload)
        for sub in (self.precision_menu, self.offload_menu):
            sub.menuAction().setToolTip(f"{sub.title().replace('&', '')} {large}")
        self.precision_menu.menuAction().setToolTip(  # issue 15: the digit models take it too
            "Precision applies to DeepFloyd IF and the digit models (fp32 or bf16; `python "
            "main.py doctor` says which this CPU runs fast)")
        menu.setToolTipsVisible(True)

    def _choice_menu(self, menu: Any, labels: dict[str, str], current: str, slot: Any,
                     unavailable: dict[str, str] | None = None) -> dict[str, QAction]:
        """One checkable action per choice, exclusive; `unavailable` ones are disabled."""
        group = QActionGroup(menu)
        actions = {}
        for key, label in labels.items():
            action = QAction(label, menu, checkable=True, checked=key == current)
            if unavailable and key in unavailable:
                action.setEnabled(False)
                action.setToolTip(unavailable[key])
            action.triggered.connect(lambda _=False, k=key: slot(k))
            group.addAction(action)
            menu.addAction(action)
            actions[key] = action
        return actions

    def _add_model_action(self, text: str, spec: str, where: str) -> QAction:
        action = QAction(text, self, checkable=True)
        action.setData(spec)
        action.setToolTip(where)
        action.setChecked(spec == self.model_spec)
        action.triggered.connect(lambda _=False, n=spec: self.load_model(n))
        self._model_group.addAction(action)
        self.model_menu.addAction(action)
        return action

    def model_actions(self) -> list[QAction]:
        return self._model_group.actions()

    def _connect(self) -> None:
        e = self.engine
        e.stateChanged.connect(self._on_state)
        self.training_panel.activityChanged.connect(lambda _: self._on_state(e.state))
        self.model_slot.loaded.connect(self._on_model_loaded)
        self.model_slot.failed.connect(self._on_load_failed)
        self.model_slot.requestChanged.connect(self._on_request_changed)
        e.loadNote.connect(lambda note: self.statusBar().showMessage(note[:1].upper() + note[1:],
                                                                     15000))
        r = self.runner  # the jobs' signals come through it, each carrying its job
        r.submitted.connect(self._on_submitted)
        r.progress.connect(self._on_progress)
        r.preview.connect(self._on_preview)
        r.finished.connect(self._on_finished)
        for done in (r.userDone, r.sweepDone, r.upscaleDone):
            done.connect(self._add_results)
        r.liveDone.connect(self._show_live_result)
        r.failed.connect(self._on_failed)
        r.cancelled.connect(self._on_cancelled)
        r.liveRefused.connect(lambda why: self.statusBar().showMessage(f"Live: {why}", 5000))
        self.modes.runRequested.connect(lambda: self.run_job())
        self.modes.dice.clicked.connect(lambda: self.run_settings.roll_seed())
        self.modes.illusion.presetChosen.connect(self.run_settings.apply_parameters)
        self.modes.cancelRequested.connect(self.cancel_run)
        self.modes.stepsChanged.connect(self._update_timesteps)
        self.modes.liveChanged.connect(self._on_live_changed)
        rv = self.result_view
        rv.apply_button.clicked.connect(lambda: self.apply_result())
        rv.input_button.clicked.connect(lambda: self.use_as_input())
        rv.export_button.clicked.connect(lambda: self.export_dialog())
        rv.keep_button.clicked.connect(self.keep_live_result)
        doc = self.document
        doc.undo_stack.indexChanged.connect(self._touched)
        doc.modifiedChanged.connect(self._update_title)
        doc.changed.connect(self._on_drawing_changed)
        doc.regionChanged.connect(self._on_drawing_changed)
        for signal in (doc.changed, doc.regionChanged):
            signal.connect(lambda *_: self.input_timer.start())
        self.run_settings.inputsChanged.connect(self._on_drawing_changed)  # Live follows them
        doc.strokeEnded.connect(self._on_stroke_ended)
        h, strip = self.history, self.history_strip
        h.added.connect(self._on_history_added)
        h.removed.connect(self._on_history_removed)
        h.cleared.connect(self._on_history_cleared)
        strip.selected.connect(lambda i: self.show_result(self.history[i]))
        strip.applyRequested.connect(lambda i: self.apply_result(self.history[i]))
        strip.useAsInputRequested.connect(lambda i: self.use_as_input(self.history[i]))
        strip.exportRequested.connect(lambda i: self.export_dialog(self.history[i]))
        strip.removeRequested.connect(self.remove_result)
        strip.viewRequested.connect(lambda i: self.view_illusion(self.history[i]))
        strip.upscaleRequested.connect(lambda i: self.upscale_result(self.history[i]))
        self.explorer_dock.visibilityChanged.connect(self._on_explorer_shown)
        self.canvas.toolChanged.connect(self._remember_tool)
        self.canvas.brushSizeChanged.connect(self._remember_brush_size)
        self.tool_options.hardnessChanged.connect(self._remember_hardness)

    def _touched(self) -> None:
        self._pristine = False

    # --- settings -------------------------------------------------------------------------------
    def _restore_settings(self) -> None:
        s = self.settings
        with contextlib.suppress(ValueError):  # a tool this version does not have
            self.canvas.set_tool(s.tool)
        self.canvas.set_brush_size(s.brush_size)
        self.tool_options.set_size(self.canvas.brush_size())
        self.canvas.set_hardness(s.hardness)
        self.tool_options.set_hardness(s.hardness)
        geometry = s.window_geometry()
        if geometry is not None:
            self.restoreGeometry(geometry)

    def _remember_tool(self, tool: str) -> None:
        self.settings.tool = tool

    def _remember_brush_size(self, size: int) -> None:
        self.settings.brush_size = size

    def _remember_hardness(self, hardness: float) -> None:
        self.settings.hardness = hardness

    def _remember_file(self, path: str, kind: str) -> None:
        self.settings.add_recent_file(path)
        self.settings.set_last_folder(kind, path)
        self._fill_recent_menu()

    def _fill_recent_menu(self) -> None:
        menu = self.recent_menu
        menu.clear()
        files = self.settings.recent_files()
        for i, path in enumerate(files):
            label = f"&{i + 1}  {Path(path).name}" if i < 9 else Path(path).name
            action = menu.addAction(label)
            action.setData(path)
            action.setToolTip(path)
            action.setStatusTip(path)
            action.triggered.connect(lambda _=False, p=path: self.open_recent(p))
        if files:
            menu.addSeparator()
            menu.addAction("Clear recent files").triggered.connect(self._clear_recent)
        else:
            menu.addAction("(no recent files)").setEnabled(False)
        menu.setToolTipsVisible(True)

    def recent_actions(self) -> list[QAction]:
        """The recent files' actions of File ▸ Open recent, most recent first."""
        return [a for a in self.recent_menu.actions() if a.data()]

    def open_recent(self, path: str) -> bool:
        if not Path(path).exists():
            self.settings.remove_recent_file(path)
            self._fill_recent_menu()
            self.show_error("Cannot open", f"file not found: {path}")
            return False
        return self.open_path(path)

    def _clear_recent(self) -> None:
        self.settings.clear_recent_files()
        self._fill_recent_menu()

    # --- title and modified state ---------------------------------------------------------------
    def is_modified(self) -> bool:
        """True when the document or the history changed since it was saved or opened."""
        return self.document.modified or self._history_dirty

    def document_name(self) -> str:
        if self.project_path:
            return Path(self.project_path).stem
        return self._file_name or "Untitled"

    def _update_title(self, *_: object) -> None:
        modified = self.is_modified()
        if not self.project_path and not self._file_name and not modified:
            self.setWindowTitle(TITLE)
        else:
            self.setWindowTitle(f"{self.document_name()}{'*' if modified else ''} — {TITLE}")

    def _set_history_dirty(self, dirty: bool) -> None:
        self._history_dirty = dirty
        self._update_title()

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
    @property
    def model_state(self) -> ModelState | None:
        """The model loaded (None: none yet)."""
        return self.model_slot.state

    @property
    def model_spec(self) -> str | None:
        """The model asked for: the one loaded, or the one on its way."""
        return self.model_slot.request.spec

    @property
    def device(self) -> str:
        return self.model_slot.request.device

    @property
    def precision(self) -> str:  # these two apply to DeepFloyd IF and the digit models
        return self.model_slot.request.precision

    @property
    def offload(self) -> str:
        return self.model_slot.request.offload

    @property
    def prompts_file(self) -> str | None:
        return self.model_slot.request.prompts

    def load_model(self, spec: str, device: str | None = None, quiet: bool = False) -> None:
        """Loads a bundled name or a folder on the engine thread (once per model and device);
        a model that fails to load leaves the one loaded before.

        With `quiet`, a failure is only said in the status bar (the startup default model).
        """
        self._quiet_load = quiet
        self.model_slot.ask(spec=spec, device=device or self.device)

    def open_prompts_dialog(self) -> None:
        path = self.asker.open_path(self, "Prompt embeddings file",
                                    self.settings.last_folder("model"), "Embeddings (*.pth *.pt)")
        if path:
            self.use_prompts_file(path)

    def use_prompts_file(self, path: str) -> None:
        """Reloads the current model with the prompts of an embeddings file."""
        if self.model_spec:
            self._quiet_load = False
            self.model_slot.ask(prompts=path)

    def set_device(self, device: str) -> None:
        self.settings.device = device  # remembered (a failed load puts the last good one back)
        if self.model_spec:
            self.load_model(self.model_spec, device)
        else:
            self.model_slot.settle(device=device)

    def set_precision(self, precision: str) -> None:
        """fp32, bf16, fp16 or auto; reloads the model if it takes a precision (a choice it
        cannot load with is refused, and the one before comes back)."""
        self._choose_option(precision=precision)

    def set_offload(self, offload: str) -> None:
        self._choose_option(offload=offload)

    def _choose_option(self, **option: str) -> None:
        for key, value in option.items():
            setattr(self.settings, key, value)  # remembered (a failed reload puts it back)
        state = self.model_state
        if self.model_spec and state is not None and state.takes_precision:
            self._quiet_load = False
            self.model_slot.ask(**option)
        else:
            self.model_slot.settle(**option)

    def _on_request_changed(self, request: LoadRequest) -> None:
        """The Model menu and the remembered choices follow the request (a rollback too)."""
        self.settings.device = request.device
        self.settings.precision, self.settings.offload = request.precision, request.offload
        for actions, key in ((self.device_actions, request.device),
                             (self.precision_actions, request.precision),
                             (self.offload_actions, request.offload)):
            if key in actions:
                actions[key].setChecked(True)
        for action in self.model_actions():
            action.setChecked(action.data() == request.spec)

    def open_model_dialog(self) -> None:
        folder = self.asker.folder(self, "Open model folder", self.settings.last_folder("model"))
        if folder:
            self.settings.set_last_folder("model", folder)
            self.load_model(folder)

    def _on_model_loaded(self, state: ModelState) -> None:
        self.settings.model = state.spec
        self.modes.set_model_info(state.panel_values()
                                  | {"suggested": suggested_for(state.spec)})
        self.run_settings.upscale_available = state.upscaler
        self._update_timesteps(self.run_settings.steps)
        self.model_label.setStyleSheet("")
        self.model_label.setToolTip(state.spec)
        self.model_label.setText(f"Model: {state.describe()}")
        if state.spec not in [a.data() for a in self.model_actions()]:
            self._fill_model_menu()  # a folder opened by hand gets its own entry
        for action in self.model_actions():
            action.setChecked(action.data() == state.spec)
        if self._pristine:
            self._default_document(state)
        self.input_timer.start()
        if not self._run_settings_restored:  # once, when the first model's prompts are known
            self._run_settings_restored = True
            self._restore_run_settings(self.settings.run_settings)
        self.history_strip.set_action_state(
            "upscaleRequested", bool(state.upscaler_name), state.upscaler,
            self.modes.upscale.toolTip())

    def _on_load_failed(self, message: str) -> None:
        """`message` says what was kept (app.session.model_state.ModelSlot rolled back)."""
        if self.model_state is None:
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
        if self.model_state is not None:
            self.run_settings.timesteps = tuple(self.model_state.timesteps_for(steps))

    def _restore_run_settings(self, saved: dict[str, Any]) -> None:
        """The run settings of the last launch (one saved before they were properties gives
        its i_start)."""
        self.run_settings.restore(saved)
        if "strength" not in saved and isinstance(saved.get("i_start"), int):
            self.run_settings.set_i_start(saved["i_start"])

    # --- documents ------------------------------------------------------------------------------
    def _default_canvas(self, state: ModelState | None) -> tuple[int, QColor]:
        """The model's canvas: 280 × 280 black for the digit models, 512 × 512 white otherwise."""
        if is_digit_model(self.model_spec, state):
            return DIGIT_CANVAS, BLACK
        return 512, WHITE

    def _default_document(self, state: ModelState | None) -> None:
        if state is not None:
            side, background = self._default_canvas(state)
            self.new_document(side, side, background)
        self._pristine = True

    def may_replace_document(self, action: str) -> bool:
        """Before New, Open or a drop replaces the document: unsaved changes are saved,
        discarded or the replacement is cancelled, as the user answers."""
        if not self.is_modified():
            return True
        answer = self.asker.unsaved_changes(self, self.document_name(), action)
        return answer == "discard" or (answer == "save" and self.save_project())

    def new_document(self, width: int, height: int, background: QColor) -> None:
        """A fresh document; the brush takes the colour that shows on the background."""
        self.document.new_blank(width, height, background)
        self.run_settings.forget_restored_seed()
        self._brush_for(background)
        self.canvas.preview(None)
        self.canvas.fit()
        self._pristine = False
        self.project_path = self._file_name = None
        self.autosaver.project_path = None
        self._update_title()

    def _brush_for(self, background: QColor) -> None:
        """A brush colour that shows on `background`: white on dark, black on light."""
        brush = WHITE if background.lightness() < 128 else BLACK
        self.canvas.set_color(brush)
        self.tool_options.set_color(brush)

    def new_dialog(self) -> None:
        if not self.may_replace_document("starting a new image"):
            return
        side, background = self._default_canvas(self.model_state)
        dialog = NewDialog(self, QSize(side, side), background == BLACK)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.new_document(*dialog.choice())

    def open_dialog(self) -> None:
        path = self.asker.open_path(self, "Open image or project",
                                    self.settings.last_folder("open"), OPEN_FILTER)
        if path:
            self.open_path(path)

    def open_project_dialog(self) -> None:
        path = self.asker.open_path(self, "Open project", self.settings.last_folder("project"),
                                    f"{PROJECT_FILTER};;All files (*)")
        if path:
            self.open_project(path)

    def open_path(self, path: str) -> bool:
        """Opens an image or a project; on failure shows the error and changes nothing."""
        if path.lower().endswith(PROJECT_SUFFIX):
            return self.open_project(path)
        try:
            picture = images.load_image(path)
        except EngineError as error:
            self.show_error("Cannot open the image", str(error))
            return False
        if not self.may_replace_document("opening another file"):
            return False
        parameters = None
        if path.lower().endswith(PARAMETER_SUFFIXES):
            parameters = export.settings_from_png(path)
        opened = pil_to_qimage(picture)
        self.document.set_image(opened, "Open")
        self._brush_for(opened.scaled(1, 1, Qt.AspectRatioMode.IgnoreAspectRatio,
                                      Qt.TransformationMode.SmoothTransformation).pixelColor(0, 0))
        self.document.undo_stack.clear()
        self.document.set_saved()
        self.canvas.preview(None)
        self.canvas.fit()
        self._pristine = False
        self.project_path, self._file_name = None, Path(path).name
        self.autosaver.project_path = None
        self._remember_file(path, "open")
        self._update_title()
        parameters, problems = clean_run_settings(parameters) if parameters else ({}, [])
        if parameters:
            self.run_settings.apply_parameters(parameters)
        else:
            self.run_settings.forget_restored_seed()
        self._say_what_the_model_sees()
        if problems:
            self.statusBar().showMessage(describe_problems(problems), 15000)
        return True

    def _say_what_the_model_sees(self) -> None:
        """After opening an image the model cannot take as it is: one line on what it gets."""
        seen, caption = self.model_input()
        self.result_view.show_model_input(seen, caption)
        state = self.model_state
        if state is not None and "(" in caption:
            self.statusBar().showMessage(
                f"{state.name} sees the region as {caption}: see 'What the model sees'", 10000)

    def open_project(self, path: str) -> bool:
        """Opens a .dcproj: the document and the history. A damaged file changes nothing."""
        try:
            data = load_project(path)  # checks everything before anything changes
        except ProjectError as error:
            self.show_error("Cannot open the project", str(error))
            return False
        if not self.may_replace_document("opening another file"):
            return False
        self.live_timer.stop()
        apply_project(data, self.document, self.history)
        self.canvas.preview(None)
        self.canvas.fit()
        self._pristine = False
        self.project_path, self._file_name = str(Path(path).absolute()), None
        self.autosaver.project_path = self.project_path
        modes, problems = clean_run_settings(data.settings.get("modes") or {})
        if modes:
            self.run_settings.apply_parameters(modes)
        self._remember_file(path, "project")
        self._set_history_dirty(False)
        if len(self.history):
            self.history_strip.set_current(len(self.history) - 1)
        else:
            self.show_result(None)
        self.statusBar().showMessage(f"Opened {path}" + (
            f". {describe_problems(problems)}" if problems else ""), 15000 if problems else 5000)
        return True

    def save_project(self) -> bool:
        """Saves to the project's file (Ctrl+S), or asks for one; False if not saved."""
        if self.project_path:
            return self.save_project_to(self.project_path)
        return self.save_project_as()

    def save_project_as(self) -> bool:
        start = str(Path(self.settings.last_folder("project"))
                    / f"{Path(self.document_name()).stem}{PROJECT_SUFFIX}")
        path = self.asker.save_path(self, "Save project", start, PROJECT_FILTER)
        return bool(path) and self.save_project_to(path)

    def save_project_to(self, path: str) -> bool:
        """Writes the document, its history (with every result's parameters) and the panel's
        settings to `path` (.dcproj added when missing)."""
        if not path.lower().endswith(PROJECT_SUFFIX):
            path += PROJECT_SUFFIX
        extra = {"modes": self.run_settings.job_fields(draw=False), "model": self.model_spec,
                 "device": self.device}
        try:
            save_project(path, self.document, self.history, extra)
        except ProjectError as error:
            self.show_error("Cannot save the project", str(error))
            return False
        self.document.set_saved()
        self.project_path, self._file_name = str(Path(path).absolute()), None
        self.autosaver.project_path = self.project_path
        self._remember_file(path, "project")
        self._set_history_dirty(False)
        self.statusBar().showMessage(f"Saved {path}", 5000)
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

    # A drop is always a copy: a file manager deletes the source of an accepted move, so a
    # source that offers no copy is refused.
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        data = event.mimeData()
        if data.hasImage() or any(url.isLocalFile() for url in data.urls()):
            self._accept_as_copy(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        self._accept_as_copy(event)

    def dropEvent(self, event: QDropEvent) -> None:
        if self._accept_as_copy(event) and not self._take_mime(event.mimeData(), "Drop image"):
            event.ignore()

    @staticmethod
    def _accept_as_copy(event: QDropEvent) -> bool:
        if not event.possibleActions() & Qt.DropAction.CopyAction:
            event.ignore()
            return False
        event.setDropAction(Qt.DropAction.CopyAction)
        event.accept()
        return True

    # --- recovery -------------------------------------------------------------------------------
    def offer_recovery(self) -> bool:
        """If a session that crashed left an autosave, asks whether to restore it (via the
        asker); True if it was restored."""
        recovery = self.autosaver.pending_recovery()
        if recovery is None:
            return False
        answer = self.asker.offer_recovery(self, recovery)
        if answer == "discard":
            self.autosaver.discard()
            return False
        if answer != "restore":
            return False
        try:
            recovery = self.autosaver.restore(self.document, self.history)
        except ProjectError as error:  # the file is kept (the message says where)
            self.show_error("Cannot restore the autosave", str(error))
            return False
        self._pristine = False
        self.project_path = recovery.project_path
        self._file_name = None
        self.canvas.preview(None)
        self.canvas.fit()
        self._set_history_dirty(bool(len(self.history)))
        if len(self.history):
            self.history_strip.set_current(len(self.history) - 1)
        self.statusBar().showMessage("Restored the autosaved work", 8000)
        if recovery.lost:
            self.show_error("Part of the autosave was damaged", "Restored what could be read; "
                            f"lost: {'; '.join(recovery.lost)}. The damaged file is kept as "
                            f"{recovery.kept_at}.")
        return True

    # --- running --------------------------------------------------------------------------------
    def make_job(self, settings: dict[str, Any] | None = None) -> Job:
        """A job from the run settings (a random seed is drawn now) or from `settings`, and the
        document's region (and mask)."""
        state = self.model_state
        if state is None:
            raise EngineError("no model is loaded: pick one in the Model menu")
        job = Job(**(settings if settings is not None else self.run_settings.job_fields()))
        mode = mode_table.mode_of(job.mode)
        if mode.needs_image:
            region = qimage_to_pil(self.document.region_image(), "RGB")
            job.image = images.prepare_image(region, state.size, state.channels,
                                             state.data_range)
        if mode.needs_mask:
            job.mask = images.load_mask(qimage_to_pil(self.document.region_mask(), "L"),
                                        state.size)
        return job

    def run_job(self, settings: dict[str, Any] | None = None,
                kind: JobKind = JobKind.USER) -> JobRecord | None:
        """Queues a run of the run settings (or `settings`); returns its job, None (and says
        why) if it cannot be made."""
        self.settings.run_settings = self.run_settings.persisted()  # kept after a crash
        try:
            return self.runner.run(settings, kind)
        except EngineError as error:
            self.show_error("Cannot run", str(error))
            return None

    def _on_submitted(self, _job: JobRecord) -> None:
        self._run_started = time.monotonic()
        self.modes.set_running(True)
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)

    def upscale_result(self, result: Result | None = None) -> JobRecord | None:
        """Runs the upscaler on a result made by this model, with its prompts and views."""
        result = result or self._shown
        try:
            job = upscale_job(result, self.model_state)
        except EngineError as error:
            self.show_error("Cannot upscale", str(error))
            return None
        return self.runner.submit(job, JobKind.UPSCALE)

    def cancel_run(self) -> None:
        self.runner.cancel()

    def _on_state(self, state: str) -> None:
        text = {"loading": "Loading model…", "idle": "Idle", "running": "Running",
                "upscaling": "Upscaling (stage II)"}
        self.state_label.setText(state == "idle" and self.training_panel.busy_text()
                                 or text.get(state, state))

    def _on_progress(self, _job: JobRecord, step: int, total: int, eta: float) -> None:
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setRange(0, max(total, 1))
        self.progress_bar.setValue(step)
        self.eta_label.setText(f"ETA {eta:.0f} s" if step < total else "")

    def _on_preview(self, job: JobRecord, image: QImage, _step: int, _total: int) -> None:
        if job.kind is JobKind.LIVE:
            self.result_view.show_image(image)  # beside the sketch, never over it
            return
        side = self.document.region().size()
        self.canvas.preview(image.scaled(side, Qt.AspectRatioMode.IgnoreAspectRatio,
                                         scaling_for(image)))

    def _run_ended(self, message: str) -> None:
        self.canvas.preview(None)
        self.modes.set_running(self.runner.busy())
        self.eta_label.setText("")
        if message:
            self.statusBar().showMessage(message, 8000)

    def _on_finished(self, job: JobRecord) -> None:
        live = job.kind is JobKind.LIVE
        self._run_ended(f"{'Live: done' if live else 'Done'} in "
                        f"{time.monotonic() - self._run_started:.1f} s")

    def _add_results(self, job: JobRecord) -> None:
        """A user's, a sweep's or an upscale job's results: into the history, the first shown."""
        batch = results_of(job)
        first = len(self.history)
        for result in batch:
            self.history.append(result)
        if batch:
            self.history_strip.set_current(first)
            self.show_result(batch[0])

    def _show_live_result(self, job: JobRecord) -> None:
        batch = results_of(job)
        if batch:
            self.show_result(batch[0], live=True)

    def _on_failed(self, job: JobRecord, message: str) -> None:
        self._run_ended("The run failed")
        if job.kind is JobKind.LIVE:
            self.statusBar().showMessage(f"Live: {message}", 8000)
        else:
            self.show_error("The run failed", message)

    def _on_cancelled(self, job: JobRecord) -> None:
        self.progress_bar.setValue(0)
        self._run_ended("" if job.kind is JobKind.LIVE else "Cancelled")

    # --- live mode ------------------------------------------------------------------------------
    def _on_live_changed(self, _on: bool) -> None:
        live = self.modes.is_live()
        if live:
            self.statusBar().showMessage("Live: SDEdit runs again whenever you stop drawing",
                                         5000)
        self.runner.set_live(live)

    def model_input(self) -> tuple[QImage | None, str]:
        """The region converted exactly as a run converts it, and a line saying what changed."""
        state = self.model_state
        if state is None:
            return None, ""
        size, channels = state.size, state.channels
        region = self.document.region_image()
        x = images.prepare_image(qimage_to_pil(region, "RGB"), size, channels, state.data_range)
        seen = pil_to_qimage(images.to_pil(x, state.data_range))
        notes = []
        if region.width() != size or region.height() != size:
            notes.append(f"scaled from {region.width()}×{region.height()}")
        rgb = qimage_to_numpy(region, "RGB")
        if channels == 1 and not (np.array_equal(rgb[..., 0], rgb[..., 1])
                                  and np.array_equal(rgb[..., 1], rgb[..., 2])):
            notes.append("colour made grey")
        kind = "grey" if channels == 1 else "colour"
        caption = f"{size}×{size} {kind}" + (f" ({', '.join(notes)})" if notes else "")
        return seen, caption

    def _update_model_input(self) -> None:
        seen, caption = self.model_input()
        self.result_view.show_model_input(seen, caption)

    def _on_drawing_changed(self, *_: object) -> None:
        self.runner.changed()  # a Live run in flight is stale; one runs after the delay

    def _on_stroke_ended(self) -> None:
        """A stroke let go: Live answers at once, not after the delay (which is for changes
        that come in bursts: a drag paused mid-way, a slider, typing)."""
        self.runner.stroke_ended()

    def run_live(self) -> JobRecord | None:
        """One Live SDEdit run of the region, with the seed shown (not a new random one)."""
        return self.runner.run_live()

    def keep_live_result(self) -> None:
        """Adds the Live result shown to the history (once)."""
        if self._shown is not None and self._shown_live and self.runner.keep_live():
            index = self.history.append(self._shown)
            self.history_strip.set_current(index)

    # --- looking inside --------------------------------------------------------------------------
    def _on_explorer_shown(self, visible: bool) -> None:
        if visible:
            self.explorer.rebuild()

    def show_explorer(self) -> None:
        self.explorer_dock.show()
        self.explorer_dock.raise_()

    def open_sweeps(self) -> SweepDialog:
        """The sweep dialog (one per window, kept between uses)."""
        if self.sweep_dialog is None:
            self.sweep_dialog = SweepDialog(self)
        self.sweep_dialog._fill_values()
        self.sweep_dialog.show()
        self.sweep_dialog.raise_()
        return self.sweep_dialog

    def view_illusion(self, result: Result | None = None) -> QDialog | None:
        """The anagram or hybrid viewer for `result` (default: the one shown)."""
        result = result or self._shown
        if result is None or not is_illusion(result):
            self.statusBar().showMessage("View illusion: select an anagram or hybrid result",
                                         5000)
            return None
        p = result.parameters
        mode = p["mode"]
        prompts = (str(p.get("prompt") or ""), str(p.get("prompt2") or ""))
        if mode == "anagram":
            try:  # every view (3-4 view anagrams, seeded permutations), motions and scores
                viewer: QDialog = open_anagram_viewer(result.image, p, self, self.asker)
            except EngineError as error:
                self.statusBar().showMessage(f"View illusion: {error}", 8000)
                return None
        else:
            viewer = HybridViewer(result.image, prompts, self)
        viewer.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        viewer.finished.connect(lambda _=0, v=viewer: self._forget_viewer(v))
        self.viewers.append(viewer)
        viewer.show()
        return viewer

    def _forget_viewer(self, viewer: QDialog) -> None:
        if viewer in self.viewers:
            self.viewers.remove(viewer)

    # --- results --------------------------------------------------------------------------------
    @property
    def results(self) -> list[Result]:
        """The history's results, oldest first."""
        return self.history.results()

    def current_result(self) -> Result | None:
        return self._shown

    def show_result(self, result: Result | None, live: bool = False) -> None:
        """Shows `result` beside the canvas (None: nothing)."""
        self._shown, self._shown_live = result, live
        self.result_view.show_result(result, live)
        self.refresh_actions()

    def _on_history_added(self, index: int) -> None:
        result = self.history[index]
        hidden = () if is_illusion(result) else ("viewRequested",)
        self.history_strip.add(result.image, result.title(), result.summary(), hidden)
        self._set_history_dirty(True)

    def _on_history_removed(self, index: int) -> None:
        self.history_strip.remove(index)
        self._set_history_dirty(True)
        if self._shown is not None and not self._shown_live and self._shown not in self.results:
            current = self.history_strip.current()
            self.show_result(self.history[current] if 0 <= current < len(self.history) else None)

    def _on_history_cleared(self) -> None:
        self.history_strip.clear()
        self._set_history_dirty(True)
        if not self._shown_live:
            self.show_result(None)

    def remove_result(self, index: int) -> None:
        if 0 <= index < len(self.history):
            self.history.remove(index)

    def apply_result(self, result: Result | None = None) -> None:
        """Pastes `result` (default: the one shown) into the region, as one undo step."""
        result = result or self._shown
        if result is not None:
            self.document.paste_into_region(result.image, "Apply result",
                                            scaling_for(result.image))

    def use_as_input(self, result: Result | None = None) -> None:
        """Pastes `result` into the region as the next run's input; a mode that takes no
        image switches to SDEdit."""
        result = result or self._shown
        if result is None:
            return
        self.document.paste_into_region(result.image, "Use result as input",
                                        scaling_for(result.image))
        if not mode_table.needs_image(self.run_settings.mode):
            self.run_settings.mode = mode_table.IMAGE_DEFAULT
        self.statusBar().showMessage("The result is the input of the next run", 5000)

    def export_dialog(self, result: Result | None = None) -> bool:
        """Asks what to export (PNG ×1/×4/×8 or the frames as GIF/APNG) and where."""
        result = result or self._shown
        if result is None:
            return False
        choice = self.asker.export_choice(self, result)
        if choice is None:
            return False
        start = str(Path(self.settings.last_folder("export"))
                    / export.suggested_name(result, choice.suffix))
        filters = "GIF animation (*.gif)" if choice.kind == "gif" else "PNG image (*.png)"
        path = self.asker.save_path(self, "Export result", start, filters)
        if not path:
            return False
        if choice.kind == "png":
            return self.export_result(path, result, choice.scale, choice.resample)
        return self.export_frames(path, result, choice.scale)

    def export_result(self, path: str, result: Result | None = None, scale: int = 1,
                      resample: str = "nearest") -> bool:
        """Writes the result as PNG (×`scale`, nearest or bicubic) with its `parameters`."""
        result = result or self._shown
        if result is None:
            return False
        if not path.lower().endswith(".png"):
            path += ".png"
        try:
            export.export_png(result, path, scale, resample)
        except (EngineError, ValueError) as error:
            self.show_error("Cannot export", str(error))
            return False
        self.settings.set_last_folder("export", path)
        self.statusBar().showMessage(f"Exported {path}", 5000)
        return True

    def copy_result(self, result: Result | None = None) -> bool:
        """Puts the result (at the model's size) on the clipboard."""
        result = result or self._shown
        if result is None:
            return False
        QApplication.clipboard().setImage(result.image)
        self.statusBar().showMessage("Copied the result to the clipboard", 3000)
        return True

    def export_canvas_dialog(self) -> bool:
        start = str(Path(self.settings.last_folder("export"))
                    / f"{Path(self.document_name()).stem}.png")
        path = self.asker.save_path(self, "Export the canvas", start, "PNG image (*.png)")
        return bool(path) and self.export_canvas(path)

    def export_canvas(self, path: str) -> bool:
        """Writes the drawing itself, at the canvas's size, as a PNG."""
        if not path.lower().endswith(".png"):
            path += ".png"
        try:
            images.save_png(qimage_to_pil(self.document.image(), "RGB"), path)
        except (EngineError, OSError) as error:
            self.show_error("Cannot export the canvas", str(error))
            return False
        self.settings.set_last_folder("export", path)
        self.statusBar().showMessage(f"Exported the canvas to {path}", 5000)
        return True

    def export_frames(self, path: str, result: Result | None = None,
                      scale: int | None = None) -> bool:
        """Writes the result's denoising frames: GIF for .gif, APNG otherwise."""
        result = result or self._shown
        if result is None:
            return False
        if not path.lower().endswith((".gif", ".png", ".apng")):
            path += ".gif"
        try:
            export.export_frames(result, path, scale=scale)
        except (EngineError, ValueError) as error:
            self.show_error("Cannot export the frames", str(error))
            return False
        self.settings.set_last_folder("export", path)
        self.statusBar().showMessage(f"Exported {len(result.frames)} frames to {path}", 5000)
        return True

    # --- closing --------------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        """Asks to save unsaved changes (Save / Discard / Cancel), then cancels any run, joins
        the engine thread and removes this session's autosave."""
        if not self._may_close():
            event.ignore()
            return
        try:
            self.settings.run_settings = self.run_settings.persisted()
            self.settings.set_window_geometry(self.saveGeometry())
            self.settings.sync()
        except Exception as error:  # noqa: BLE001 - settings are not the user's work: close
            print(f"Diffusion Canvas: the settings were not saved: {error}", file=sys.stderr)
        finally:  # the threads must stop whatever failed above, or the exit crashes
            self.live_timer.stop()
            self.training_panel.shutdown()
            self.explorer.shutdown()
            self.engine.shutdown()
        self.autosaver.mark_clean_exit()
        super().closeEvent(event)

    def _may_close(self) -> bool:
        try:
            return self.may_replace_document("closing")
        except Exception as error:  # noqa: BLE001 - a broken question must not lose the work
            self.show_error("Close", f"Could not ask about the unsaved changes, so the window "
                                     f"stays open: {error}")
            return False


def is_illusion(result: Result | None) -> bool:
    """An anagram or a hybrid: a result the illusion viewer can show."""
    return result is not None and mode_table.is_illusion(result.parameters)


def results_of(job: JobRecord) -> list[Result]:
    """A finished job's images as Results, each with its own parameters and frames."""
    out = job.result
    count = len(out.images)
    return [Result(image, own_parameters(out.parameters, i, count),
                   list(out.frames[i]) if i < len(out.frames) else [])
            for i, image in enumerate(out.images)]


def upscale_job(result: Result | None, state: ModelState | None) -> Job:
    """The job that upscales `result` (a stage I image of the model loaded, `state`)."""
    if result is None:
        raise EngineError("pick a result to upscale")
    if state is None or not state.upscaler:
        raise EngineError("the model loaded has no upscaler: upscaling needs DeepFloyd IF with "
                          "its stage II")
    p = result.parameters
    size = state.size
    if p.get("upscale") or result.image.width() != size or result.image.height() != size:
        raise EngineError(f"only {size}×{size} results of {state.name} can be upscaled; "
                          f"this one is {result.image.width()}×{result.image.height()}")
    image = images.prepare_image(qimage_to_pil(result.image, "RGB"), size, state.channels,
                                 state.data_range)
    mode = p.get("mode")
    return Job(mode=mode if mode_table.is_mode(mode) else mode_table.DEFAULT,
               prompt=p.get("prompt"),
               prompt2=p.get("prompt2"), view=p.get("view") or "flip", sigma=p.get("sigma"),
               seed=int(p.get("seed") or 0), image=image, upscale_only=True,
               **illusion_fields(p))


def run_app(path: str | None = None) -> int:
    """Opens the window (and `path`, if given) and runs the event loop."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANISATION)  # before the Autosaver: it picks its folder by them
    app.setApplicationName(APPLICATION)
    settings = Settings()
    window = MainWindow(model=settings.model, device=settings.device, settings=settings)
    app.aboutToQuit.connect(window.engine.shutdown)
    window.show()
    if path:
        window.open_path(path)
    return app.exec()
