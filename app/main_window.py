"""The main window: it builds the docks and menus, binds the widgets to the session
(app/session/session.py), shows the session's errors and status lines, and forwards Qt's
events (close, drag and drop, paste) to it. It holds no state of its own beyond its widgets.
The layout is app/docks.py, drops and pastes app/drops.py, the recent files' menu
app/recent_menu.py. Code outside the window reaches the session as `window.session`.

The session holds the document, the history, the run settings, the model, the jobs and the
project; every question goes through its `Asker` (app/dialogs.py here, a fake in tests).
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import QMimeData, QSize, Qt, QTimer
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QColor,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QImage,
)
from PySide6.QtWidgets import QApplication, QDialog, QMainWindow, QMessageBox, QWidget

from app import actions as action_table
from app import binding_check, drops
from app.autosave import DEFAULT_INTERVAL_S
from app.dialogs import DialogAsker, ExportDialog, NewDialog  # noqa: F401 - tests import them
from app.docks import build_layout
from app.explorer import NoiseExplorer
from app.history import Result
from app.illusions import open_illusion_viewer
from app.model_menu import PRECISION_LABELS, ModelMenu  # noqa: F401 - tests read the labels here
from app.model_sees import ModelSeesWorker
from app.qt_images import BLACK, brush_that_shows, scaling_for
from app.recent_menu import fill_recent_menu
from app.results_view import ResultsView
from app.session import modes as mode_table
from app.session.asker import ExportChoice  # noqa: F401 - tests import it from here
from app.session.files import SEES_PHRASE, sees_message
from app.session.jobs import JobKind, JobRecord, done_text
from app.session.model_state import ModelState
from app.session.runner import LIVE_DELAY_MS  # noqa: F401 - tests import it from here
from app.session.session import DEFAULT_MODEL, TITLE, Session  # noqa: F401 - TITLE for tests
from app.session.settings import bind_panel
from app.session.suggested import suggested_for
from app.settings import APPLICATION, ORGANISATION, Settings
from app.status_line import StatusLine
from app.sweeps import SweepDialog
from app.training_panel import TrainingPanel
from engine.errors import MASK_EMPTY_IN_APP, EngineError
from widgets.canvas import CanvasView
from widgets.canvas_scroll import ScrolledCanvas
from widgets.history_strip import HistoryStrip
from widgets.illusion_options import FAILURE_VIEWS, VIEWS
from widgets.message_log import MessageDialog, MessageLog
from widgets.modes_panel import ModesPanel
from widgets.tool_options import ToolOptions

Asker = DialogAsker  # the name tests and benchmarks subclass
INPUT_DELAY_MS = 150  # 'What the model sees' is redrawn this long after the last change
STATUS_MS = 8000


class MainWindow(QMainWindow):
    """The app's window; `model` is a bundled name or a folder, loaded on the engine thread.

    `settings` (default: the user's QSettings), `asker` (default: real dialogs) and
    `autosave_folder` (default: the app data folder) are injected by tests. With
    `check_recovery`, an autosave left by a crash is offered once the event loop runs.
    """

    def __init__(self, model: str | None = DEFAULT_MODEL, device: str = "auto",
                 parent: QWidget | None = None, *, settings: Settings | None = None,
                 asker: Any = None, autosave_folder: str | Path | None = None,
                 autosave_interval_s: float = DEFAULT_INTERVAL_S,
                 check_recovery: bool = True) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.errors: list[str] = []  # every error shown, newest last (tests read it)
        self._fitting_brush = False  # a brush fitted to the image is no new preference
        self._fitted_for = QSize()  # the image size the brush was last fitted to
        self.session = Session(
            model, device, asker=asker if asker is not None else DialogAsker(),
            preferences=settings, autosave_folder=autosave_folder,
            autosave_interval_s=autosave_interval_s,
            views=tuple(key for key, _ in VIEWS + FAILURE_VIEWS), parent=self)
        self.session.dialog_parent = self
        self.live_timer = self.session.runner.live_timer
        self._build_widgets()
        self._build_layout()
        self._build_status_bar()
        self._build_menus()
        self._bind_session()
        self._bind_widgets()
        self._restore_settings()
        self.setWindowTitle(self.session.title)
        self.session.start()
        if check_recovery:
            QTimer.singleShot(0, self.session.offer_recovery)

    # --- building -------------------------------------------------------------------------------
    def _build_widgets(self) -> None:
        self.canvas = CanvasView(self)
        self.canvas.set_document(self.session.document)
        self.tool_options = ToolOptions(self)
        self.tool_options.attach(self.canvas)
        self.modes = ModesPanel(self, mode_table.MODES)
        self._bindings = bind_panel(self.session.settings, self.modes)
        self.result_view = ResultsView(self)
        self.history_strip = HistoryStrip(self, thumbnail_size=84)
        self.history_strip.setToolTip("Results: click to show, double-click to apply, "
                                      "right-click for more")
        self.input_timer = QTimer(self, singleShot=True, interval=INPUT_DELAY_MS)
        self.model_sees = ModelSeesWorker(self)  # off the GUI thread: seconds on a big image
        self.session.own_thread(self.model_sees)
        self.explorer = NoiseExplorer(self.session)
        self.training_panel = TrainingPanel(self.session)
        self.session.own_thread(self.training_panel)
        self.session.own_thread(self.explorer)
        self.sweep_dialog: SweepDialog | None = None
        self.viewers: list[QDialog] = []

    def _build_layout(self) -> None:
        docks = build_layout(self, ScrolledCanvas(self.canvas), self.result_view,
                             tools=self.tool_options, modes=self.modes,
                             history=self.history_strip, explorer=self.explorer,
                             training=self.training_panel)
        self.tools_dock, self.modes_dock, self.history_dock = (
            docks["tools"], docks["modes"], docks["history"])
        self.explorer_dock, self.training_dock = docks["explorer"], docks["training"]

    def _build_status_bar(self) -> None:
        self.status_line = line = StatusLine(self.statusBar())
        self._bar_job = -1  # id of the job the bar shows (its record would keep a snapshot)
        self._bar_before = line.bar_state()  # what it showed before that job
        self.model_label, self.state_label = line.model_label, line.state_label
        self.progress_bar, self.eta_label, self.zoom_label = (
            line.progress_bar, line.eta_label, line.zoom_label)
        self.canvas.zoomChanged.connect(line.show_zoom)
        line.show_zoom(self.canvas.zoom())
        self.messages = MessageLog(self)
        self.statusBar().messageChanged.connect(self._on_message)

    def _build_menus(self) -> None:
        """The menus, every key and the tool bar's keys, from the table of app/actions.py."""
        self._actions = action_table.make_actions(self)
        stack = self.session.document.undo_stack  # after the stack's own slot has stepped it
        self._actions["undo"].triggered.connect(
            lambda: self._say_step("Undid", stack.text(stack.index())))
        self._actions["redo"].triggered.connect(
            lambda: self._say_step("Redid", stack.text(stack.index() - 1)))
        self.menus = action_table.build_menus(self.menuBar(), self._actions)
        self.recent_menu = self.menus["recent"]
        self._fill_recent_menu()
        self.model_menu = ModelMenu(self.menus["Model"], self.session, self._actions)
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

    def model_actions(self) -> list[QAction]:
        return self.model_menu.model_actions()

    @property
    def device_actions(self) -> dict[str, QAction]:
        return self.model_menu.device_actions

    @property
    def precision_actions(self) -> dict[str, QAction]:
        return self.model_menu.precision_actions

    @property
    def offload_actions(self) -> dict[str, QAction]:
        return self.model_menu.offload_actions

    def _fill_recent_menu(self) -> None:
        fill_recent_menu(self.recent_menu, self.session)

    def recent_actions(self) -> list[QAction]:
        """The recent files' actions of File ▸ Open recent, most recent first."""
        return [a for a in self.recent_menu.actions() if a.data()]

    # --- binding --------------------------------------------------------------------------------
    def _bind_session(self) -> None:
        s, e, r = self.session, self.session.engine, self.session.runner
        s.titleChanged.connect(self.setWindowTitle)
        s.error.connect(self.show_error)
        s.status.connect(lambda text: self.statusBar().showMessage(text, STATUS_MS))
        s.documentReplaced.connect(self._on_document_replaced)
        s.shownResultChanged.connect(self._on_shown)
        s.resultAdded.connect(self._on_result_added)
        s.resultRemoved.connect(self.history_strip.remove)
        s.resultsCleared.connect(self.history_strip.clear)
        s.recentChanged.connect(self._fill_recent_menu)
        s.modelReady.connect(self._on_model_ready)
        s.modelFailed.connect(self._on_model_failed)
        s.modelSees.connect(self._on_model_sees)
        e.stateChanged.connect(self._on_state)
        e.loadNote.connect(lambda note: self.statusBar().showMessage(
            note[:1].upper() + note[1:], 15000))
        r.submitted.connect(self._on_submitted)
        r.progress.connect(lambda _job, *step: self.status_line.progress(*step))
        r.preview.connect(self._on_preview)
        r.finished.connect(lambda job: self._run_ended(done_text(job)))
        r.failed.connect(lambda _job, _message: self._run_ended(""))  # the session says why
        r.cancelled.connect(self._on_cancelled)
        for ended in (r.cancelled, r.failed):
            ended.connect(self._on_live_stopped)
        for moved in (r.started, r.finished, r.failed, r.cancelled):
            moved.connect(lambda *_: self._on_state(e.state))

    def _bind_widgets(self) -> None:
        s, doc, settings = self.session, self.session.document, self.session.settings
        self.tool_options.clearMaskRequested.connect(doc.clear_mask)
        self.tool_options.invertMaskRequested.connect(doc.invert_mask)
        doc.maskChanged.connect(self._forget_empty_mask_line)
        self.training_panel.activityChanged.connect(
            lambda _: self._on_state(self.session.engine.state))
        m = self.modes
        m.runRequested.connect(lambda: s.run_job())
        m.dice.clicked.connect(lambda: settings.roll_seed())
        m.illusion.presetChosen.connect(settings.apply_parameters)
        m.cancelRequested.connect(s.cancel_run)
        m.liveChanged.connect(lambda _on: s.set_live(m.is_live()))
        rv = self.result_view
        rv.apply_button.clicked.connect(lambda: s.apply_result())
        rv.input_button.clicked.connect(lambda: s.use_as_input())
        rv.export_button.clicked.connect(lambda: s.export_dialog())
        rv.keep_button.clicked.connect(s.keep_live_result)
        self.input_timer.timeout.connect(self._update_model_input)
        self.model_sees.ready.connect(self._on_model_sees)
        for signal in (doc.changed, doc.regionChanged):
            signal.connect(lambda *_: self.input_timer.start())
        doc.changed.connect(self._refit_brush_on_resize)
        strip, h = self.history_strip, self.session.history
        strip.selected.connect(lambda i: s.show_result(h[i]))
        strip.applyRequested.connect(lambda i: s.apply_result(h[i]))
        strip.useAsInputRequested.connect(lambda i: s.use_as_input(h[i]))
        strip.exportRequested.connect(lambda i: s.export_dialog(h[i]))
        strip.removeRequested.connect(s.remove_result)
        strip.viewRequested.connect(lambda i: self.view_illusion(h[i]))
        strip.upscaleRequested.connect(lambda i: s.upscale_result(h[i]))
        self.explorer_dock.visibilityChanged.connect(
            lambda visible: visible and self.explorer.rebuild())
        prefs = self.session.preferences
        self.canvas.toolChanged.connect(lambda tool: setattr(prefs, "tool", tool))
        for changed in (self.canvas.toolChanged, self.modes.modeChanged):
            changed.connect(lambda *_: self._show_mask_where_used())
        self.canvas.brushSizeChanged.connect(
            lambda size: self._fitting_brush or setattr(prefs, "brush_size", size))
        self.tool_options.hardnessChanged.connect(
            lambda hardness: setattr(prefs, "hardness", hardness))

    def _restore_settings(self) -> None:
        s = self.session.preferences
        with contextlib.suppress(ValueError):  # a tool this version does not have
            self.canvas.set_tool(s.tool)
        self._fit_brush()
        self._show_mask_where_used()
        self.tool_options.set_size(self.canvas.brush_size())
        self.canvas.set_hardness(s.hardness)
        self.tool_options.set_hardness(s.hardness)
        geometry = s.window_geometry()
        if geometry is not None:
            self.restoreGeometry(geometry)

    # --- the session's news ---------------------------------------------------------------------
    def show_error(self, title: str, message: str) -> None:
        """A non-blocking message box: the app keeps working behind it."""
        self.errors.append(message)
        self.statusBar().showMessage(f"{title}: {message}", 10_000)
        box = QMessageBox(QMessageBox.Icon.Warning, title, message[:1].upper() + message[1:],
                          QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def _on_document_replaced(self, background: QColor | None) -> None:
        """A new, opened or restored document: no preview over it, fitted, a brush that shows."""
        if background is not None:
            brush = brush_that_shows(self.canvas.color(), background)
            self.canvas.set_color(brush)
            self.tool_options.set_color(brush)
        self.canvas.preview(None)
        self.canvas.fit()
        self._fit_brush()

    def _show_mask_where_used(self) -> None:
        """The mask's tint shows in a mode that uses the mask, or while a mask tool is held:
        elsewhere it looked like paint over the image (it is kept, and comes back)."""
        tool = self.canvas.tool().value
        self.canvas.set_mask_shown(mode_table.mode_of(self.modes.current_mode()).needs_mask
                                   or tool in ("mask", "mask_eraser"))

    def _refit_brush_on_resize(self, *_: object) -> None:
        """An undo or redo of a paste changes the image's size: the brush fits it again (the
        size the user chose comes back on the larger image)."""
        if self.session.document.size() != self._fitted_for:
            self._fit_brush()
            self.tool_options.set_size(self.canvas.brush_size())

    def _fit_brush(self) -> None:
        """At most an eighth of the image's short side, so one dab is not a whole 28×28 digit;
        the preference keeps the size the user chose, for the next, larger image."""
        size = self.session.document.size()
        self._fitted_for = size
        wanted = self.session.preferences.brush_size
        fitted = min(wanted, max(1, min(size.width(), size.height()) // 8))
        self._fitting_brush = True
        try:
            self.canvas.set_brush_size(fitted)
        finally:
            self._fitting_brush = False

    def _on_shown(self, result: Result | None, live: bool) -> None:
        self.result_view.show_result(result, live)
        index = -1 if live else self.session.index_of(result)
        if index >= 0:
            self.history_strip.set_current(index)
        self.refresh_actions()

    def _on_result_added(self, index: int) -> None:
        result = self.session.history[index]
        hidden = () if mode_table.is_illusion(result.parameters) else ("viewRequested",)
        self.history_strip.add(result.image, result.title(), result.summary(), hidden, index)

    def _on_model_ready(self, state: ModelState) -> None:
        self.modes.set_model_info(state.panel_values() | {"suggested": suggested_for(state.spec)})
        self.status_line.show_model(state)
        self.model_menu.loaded(state)
        self.input_timer.start()
        self.history_strip.set_action_state(
            "upscaleRequested", bool(state.upscaler_name), state.upscaler,
            self.modes.upscale.toolTip(), f"Upscale ×{state.upscale_factor}")

    def _on_model_failed(self, reason: str) -> None:
        if self.session.model_state is not None:
            return
        self.status_line.show_no_model(reason)
        self.modes.set_model_info(None)

    def _update_model_input(self) -> None:
        snap = self.session.model_input_snapshot()
        if snap is None:
            self._on_model_sees(None, "")
        else:
            self.model_sees.request(snap)

    def _on_model_sees(self, image: QImage | None, caption: str) -> None:
        """The caption under 'What the model sees', and the status bar's line about it (said
        after opening an image) kept in step: a new region, model or image size changes both."""
        self.result_view.show_model_input(image, caption)
        bar, state = self.statusBar(), self.session.model_state
        said = bar.currentMessage()
        if SEES_PHRASE not in said:
            return
        now = sees_message(state.name, caption) if state is not None and "(" in caption else ""
        if not now:
            bar.clearMessage()
        elif now != said:
            bar.showMessage(now, STATUS_MS)

    # --- runs -----------------------------------------------------------------------------------
    def _on_state(self, state: str) -> None:
        coming = Path(self.session.model.request.spec or "").name
        self.status_line.show_state(state, self.training_panel.busy_text(), coming,
                                    self.session.runner.queued())
        self.modes.set_loading(state == "loading")

    def _on_submitted(self, job: JobRecord) -> None:
        self.modes.set_running(True)
        if job.kind is JobKind.USER:
            self.modes.remember_prompts()
        self._on_state(self.session.engine.state)
        self._bar_job, self._bar_before = job.id, self.status_line.bar_state()
        self.status_line.started()

    def _on_cancelled(self, job: JobRecord) -> None:
        if job.kind is not JobKind.LIVE:
            self._run_ended("Cancelled", cancelled=True)
            return
        # a Live run superseded or switched off: the user did not start it, so the progress
        # bar goes back to what it showed before it (unless a later job has the bar since)
        self._run_ended("")
        if job.id == self._bar_job:
            self.status_line.restore(self._bar_before)

    def _on_preview(self, job: JobRecord, image: QImage, _step: int, _total: int) -> None:
        if job.kind is JobKind.LIVE:
            state = self.session.model_state  # steps None: the model's default schedule
            steps = getattr(job.params, "steps", None) or (state.timesteps if state else None)
            self.result_view.show_live_preview(image, steps)  # beside the sketch, not over it
            return
        # the canvas scales it into the region as it paints (a region can be 9000² pixels)
        smooth = scaling_for(image) == Qt.TransformationMode.SmoothTransformation
        self.canvas.preview(image, smooth)

    def _on_live_stopped(self, job: JobRecord, *_: object) -> None:
        """A Live run that will not finish leaves no preview behind: the view shows the result
        it showed before (image, title and buttons agree again)."""
        if job.kind is JobKind.LIVE:
            self.result_view.show_result(self.session.shown_result, self.session.shown_live)

    def _run_ended(self, message: str, cancelled: bool = False) -> None:
        self.canvas.preview(None)
        self.modes.set_running(self.session.runner.busy())
        self.status_line.ended(cancelled)
        if message:
            self.statusBar().showMessage(message, STATUS_MS)

    def run_live(self) -> JobRecord | None:
        """One Live SDEdit run of the region, with the seed shown (not a new random one)."""
        return self.session.runner.run_live()

    # --- views of results -----------------------------------------------------------------------
    @property
    def results(self) -> list[Result]:
        """The history's results, oldest first."""
        return self.session.history.results()

    def current_result(self) -> Result | None:
        return self.session.shown_result

    def show_explorer(self) -> None:
        self.explorer_dock.show()
        self.explorer_dock.raise_()

    def open_sweeps(self) -> SweepDialog:
        """The sweep dialog (one per window, kept between uses)."""
        if self.sweep_dialog is None:
            self.sweep_dialog = SweepDialog(self.session, self)
        self.sweep_dialog._fill_values()
        self.sweep_dialog.show()
        self.sweep_dialog.raise_()
        return self.sweep_dialog

    def _forget_empty_mask_line(self) -> None:
        """"Cannot run: the mask is empty" is untrue once the user paints a mask."""
        if MASK_EMPTY_IN_APP in self.statusBar().currentMessage():
            self.statusBar().clearMessage()

    def _say_step(self, done: str, text: str) -> None:
        """Which step Undo or Redo took, in place of a line it made untrue ("Removed…")."""
        if text:
            self.statusBar().showMessage(f"{done}: {text}", STATUS_MS)

    def _on_message(self, text: str) -> None:
        """Each message goes to the log, and stays whole in the bar's tooltip while it shows."""
        self.messages.add(text)
        self.statusBar().setToolTip(f"{text}\n\nView ▸ Messages… keeps them all" if text else "")

    def show_messages(self) -> QDialog:
        """View ▸ Messages: every status message of this run, whole, with its time."""
        dialog = MessageDialog(self.messages, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def show_about(self) -> QDialog:
        """Help ▸ About: version, libraries, bundled models and their licence notices."""
        from app.about import AboutDialog
        from engine.models.registry import RESOURCES

        dialog = AboutDialog(RESOURCES, self)
        dialog.setModal(False)
        dialog.show()
        return dialog

    def view_illusion(self, result: Result | None = None) -> QDialog | None:
        """The anagram or hybrid viewer for `result` (default: the one shown)."""
        result = result or self.session.shown_result
        if result is None or not mode_table.is_illusion(result.parameters):
            self.statusBar().showMessage("View illusion: select an anagram or hybrid result",
                                         5000)
            return None
        try:  # every view (3-4 view anagrams, seeded permutations), motions and scores
            viewer = open_illusion_viewer(result.image, result.parameters, self,
                                          self.session.asker,
                                          self.session.preferences)
        except EngineError as error:
            self.statusBar().showMessage(f"View illusion: {error}", STATUS_MS)
            return None
        viewer.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        viewer.finished.connect(lambda _=0, v=viewer: v in self.viewers and self.viewers.remove(v))
        self.viewers.append(viewer)
        viewer.show()
        return viewer

    def copy_result(self, result: Result | None = None) -> bool:
        """Puts the result (at the model's size) on the clipboard."""
        result = result or self.session.shown_result
        if result is None:
            return False
        QApplication.clipboard().setImage(result.image)
        self.statusBar().showMessage("Copied the result to the clipboard", 3000)
        return True

    # --- documents: dialogs and Qt's events -----------------------------------------------------
    def new_dialog(self) -> None:
        if not self.session.may_replace("starting a new image", keeps_history=True):
            return
        side, background = self.session.default_canvas()
        dialog = NewDialog(self, QSize(side, side), background == BLACK)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.session.new_document(*dialog.choice())

    def paste(self) -> None:
        """Pastes an image (or an image file) from the clipboard into the document."""
        if not self._take_mime(QApplication.clipboard().mimeData(), "Paste"):
            self.show_error("Cannot paste", "the clipboard holds no image")

    def _take_mime(self, data: QMimeData | None, text: str) -> bool:
        return drops.take_mime(self.session, data, text)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # a drop is always a copy
        if drops.can_take(event.mimeData()):
            drops.accept_as_copy(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        drops.accept_as_copy(event)

    def dropEvent(self, event: QDropEvent) -> None:
        if drops.accept_as_copy(event) and not self._take_mime(event.mimeData(), "Drop image"):
            event.ignore()

    def closeEvent(self, event: QCloseEvent) -> None:
        """Asks to save unsaved changes (Save / Discard / Cancel), then cancels any run, joins
        the threads and removes this session's autosave (app.session.session.Session.close)."""
        if not self.session.close(self._remember, self._leave):
            event.ignore()
            return
        super().closeEvent(event)

    def _leave(self) -> None:
        """Hidden at once on quitting: the engine thread may be in a model load, which cannot
        be cancelled, and the window must not stand frozen while it is joined."""
        self.hide()
        QApplication.sync()  # the window server unmaps it now, not at the next event loop turn

    def _remember(self, prefs: Settings) -> None:
        """What the window adds to the preferences at close: its geometry, the Training
        panel's fields."""
        prefs.set_window_geometry(self.saveGeometry())
        self.training_panel.remember(prefs)


def no_display(env: dict[str, str] | None = None, platform: str = sys.platform) -> str:
    """Why the window cannot open on this Linux session (no X or Wayland display and no Qt
    platform named), or ''."""
    env = os.environ if env is None else env
    if not platform.startswith("linux") or any(
            env.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")):
        return ""
    return ("no display to open the window on (neither DISPLAY nor WAYLAND_DISPLAY is set): "
            "run it in a desktop session, or use a subcommand such as `python main.py sample` "
            "(`python main.py --help`)")


def run_app(path: str | None = None, model: str | None = None) -> int:
    """Opens the window (and `path`, if given) and runs the event loop; `model` (the command
    line's --model) instead of the one last used."""
    missing = no_display()
    if missing and QApplication.instance() is None:  # Qt would abort, naming a plugin
        print(f"Diffusion Canvas: {missing}", file=sys.stderr)
        return 1
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANISATION)  # before the Autosaver: it picks its folder by them
    app.setApplicationName(APPLICATION)
    unsound = binding_check.problem()
    if unsound:  # refused before any work exists, rather than an abort in the middle of it
        print(f"Diffusion Canvas: {unsound}", file=sys.stderr)
        QMessageBox.critical(None, "Diffusion Canvas cannot start", unsound)
        return 1
    settings = Settings()
    window = MainWindow(model=model or settings.model, device=settings.device, settings=settings,
                        check_recovery=False)
    app.aboutToQuit.connect(window.session.engine.shutdown)
    window.show()
    QTimer.singleShot(0, lambda: open_at_start(window, path))
    return app.exec()


def open_at_start(window: MainWindow, path: str | None) -> None:
    """The crash recovery's question first, then the file named on the command line: one
    question at a time (a damaged file's question or error was shown under the recovery's,
    which the first dialog's event loop let in)."""
    window.session.offer_recovery()
    if path:
        window.session.open_path(path)
