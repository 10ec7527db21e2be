"""The session: the app's state without widgets (issue 13). QtCore directly; the document,
history, project, autosave and export modules it uses are QtGui at most.

It holds the document and its history, the run settings, the model slot, the job queue and
the runner, the result shown, the project's path, whether there are unsaved changes, and the
title. It opens, saves, pastes, recovers and exports, asking the user through the `Asker` seam
(app/session/asker.py): its file flows are the `Files` part (app/session/files.py), its exports
the `Exports` part (app/session/exports.py); the session's methods delegate to them. The
window only builds widgets, binds them to it, shows its `error`s and `status` lines, and
forwards Qt events.

    session = Session(DEFAULT_MODEL, "cpu", preferences=Settings(), asker=FakeAsker())
    session.titleChanged.connect(window.setWindowTitle)
    session.start()                        # loads the model chosen
    session.open_path("sketch.png")        # True: opened; False: said why, nothing changed
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import QObject, Signal

from app.autosave import DEFAULT_INTERVAL_S, Autosaver
from app.document import Document
from app.history import History, RemoveResultCommand, Result
from app.jobs import Job, illusion_fields, own_parameters
from app.model_sees import (
    InputSnapshot,
    model_input,
    take_snapshot,
    what_the_model_sees,
)
from app.qt_images import BLACK, WHITE, qimage_to_pil, scaling_for
from app.session import modes as mode_table
from app.session.asker import Asker
from app.session.exports import Exports
from app.session.files import Files
from app.session.jobs import JobKind, JobQueue, JobRecord
from app.session.model_state import LoadRequest, ModelSlot, ModelState
from app.session.runner import Runner
from app.session.settings import DERIVED_SETTINGS, MODEL_SETTINGS, RunSettings
from app.settings import Settings
from engine import images
from engine.errors import EmptyMaskError, EngineError
from engine.prompts import prompt_for_vocabulary
from engine.views import views_for

TITLE = "Diffusion Canvas"
DEFAULT_MODEL = "mnist"
DIGIT_CANVAS = 280  # ten canvas pixels per model pixel of the 28 x 28 digit model
OTHER_CANVAS = 512
PROMPT_SETTINGS = ("prompt", "prompt2", "prompt3", "prompt4", "medium")  # checked on restore
OLD_I_START = "i_start"  # how the strength was saved before the settings were properties


class Stoppable(Protocol):
    """A thread owner the session stops on close (the engine, a panel's worker)."""

    def shutdown(self) -> Any: ...


class HeldEdit:
    """A setting the user edited while a model loads, to be made again once it is in."""

    def __init__(self, session: Session, name: str, value: Any) -> None:
        self.session, self.edits, self.value = session, name, value

    def __call__(self) -> None:
        self.session._replay_edit(self.edits, self.value)


class Session(QObject):
    """The app's state. `model` (spec) and `device` are the model to load on `start()`;
    `preferences` (default: the user's QSettings), `asker` (required: dialogs or a fake),
    `engine` (default: a new EngineThread) and `autosave_folder` are injected by tests.
    `views`: the view keys the run settings accept."""

    shownResultChanged = Signal(object, bool)  # the result shown (None: none), is it Live
    projectPathChanged = Signal(object)  # str | None
    dirtyChanged = Signal(bool)
    titleChanged = Signal(str)
    error = Signal(str, str)  # title, message: the window shows it
    status = Signal(str)  # one line for the status bar
    documentReplaced = Signal(object)  # QColor: the brush that shows on the new document
    resultAdded = Signal(int)  # the history's signals, said before the session acts on them
    resultRemoved = Signal(int)
    resultsCleared = Signal()
    recentChanged = Signal()  # the recent files changed
    modelReady = Signal(object)  # ModelState: said before the session restores settings
    modelFailed = Signal(str)  # the message, saying what was kept
    requestChanged = Signal(object)  # LoadRequest: the Model menu follows it
    modelSees = Signal(object, str)  # the region as the model gets it (QImage), and a caption

    def __init__(self, model: str | None = DEFAULT_MODEL, device: str = "auto", *,
                 asker: Asker, preferences: Settings | None = None, engine: Any = None,
                 autosave_folder: str | Path | None = None,
                 autosave_interval_s: float = DEFAULT_INTERVAL_S, views: tuple[str, ...] = (),
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.asker = asker
        self.preferences = preferences if preferences is not None else Settings()
        self.dialog_parent: Any = None  # the widget the asker's dialogs belong to
        self.document = Document(self)
        self.history = History(self)
        self.settings = RunSettings(self, views=views)
        if engine is None:
            from app.engine_thread import EngineThread  # torch: only when a real one is made
            engine = EngineThread(self)
        self.engine = engine
        self.model = ModelSlot(engine, LoadRequest(
            model, device, None, self.preferences.precision, self.preferences.offload), self)
        self.runner = Runner(engine, self.make_job, self.settings.live_fields, self)
        self.jobs: JobQueue = self.runner.queue
        self.autosaver = Autosaver(self.document, autosave_folder, autosave_interval_s,
                                   self.history, self, modified=self.is_modified)
        self.files = Files(self)  # open, save, paste, recover, recent files
        self.exports = Exports(self)  # results, frames and the canvas
        self._threads: list[Stoppable] = []
        self._shown: Result | None = None
        self._shown_live = False
        self._live_stale = False  # the drawing changed since the Live result shown
        self._project_path: str | None = None
        self._file_name: str | None = None  # the image file opened, when not a project
        self._history_dirty = False
        self._dirty = False
        self._title = TITLE
        self._held = 0  # inside `_one_change`: dirty and title are said once, at its end
        self._pristine = True  # the startup document, untouched: it follows the model
        self._run_settings_restored = False
        self._settings_spec: str | None = None  # the model whose own run settings are shown
        self._quiet_load = True  # the startup model's failure is a status line, no box
        self._spent_seed: int | None = None  # the restored seed make_job just spent
        self._restored_seeds: dict[int, int] = {}  # job id -> the restored seed it spent
        self._waiting: list[Callable[[], None]] = []  # settings changes held for the model
        self._restoring = False  # a loaded model's settings are going in: not the user's edits
        self._connect()

    def _connect(self) -> None:
        doc, h, r = self.document, self.history, self.runner
        doc.undo_stack.indexChanged.connect(self._touched)
        doc.modifiedChanged.connect(self._refresh)
        for signal in (doc.changed, doc.regionChanged):
            signal.connect(self._on_canvas_changed)
        self.settings.inputsChanged.connect(self._on_settings_changed)
        doc.strokeEnded.connect(r.stroke_ended)
        h.added.connect(self._on_history_added)
        h.removed.connect(self._on_history_removed)
        h.cleared.connect(self._on_history_cleared)
        self.model.loaded.connect(self._on_model_loaded)
        self.model.failed.connect(self._on_load_failed)
        self.model.requestChanged.connect(self._on_request_changed)
        for done in (r.userDone, r.sweepDone, r.upscaleDone):
            done.connect(self._add_results)
        r.liveDone.connect(self._show_live_result)
        r.failed.connect(self._on_failed)
        for ended in (r.finished, r.cancelled):  # the seed was used: not given back
            ended.connect(lambda job: self._restored_seeds.pop(job.id, None))
        r.liveRefused.connect(lambda why: self.status.emit(f"Live: {why}"))
        self.settings.propertyChanged.connect(self._on_setting)

    def start(self) -> None:
        """Loads the model chosen at construction (a failure is only a status line)."""
        spec = self.model.request.spec
        if spec:
            self.load_model(spec, self.model.request.device, quiet=True)
        else:
            self.modelFailed.emit("no model chosen")

    def own_thread(self, owner: Stoppable) -> None:
        """`owner.shutdown()` is called on close, before the engine's."""
        self._threads.append(owner)

    # --- observable state -----------------------------------------------------------------------
    @property
    def shownResult(self) -> Result | None:  # noqa: N802 - the brief's (Qt-style) name
        return self._shown

    shown_result = shownResult

    @property
    def shown_live(self) -> bool:
        return self._shown_live

    @property
    def projectPath(self) -> str | None:  # noqa: N802
        return self._project_path

    project_path = projectPath

    @property
    def dirty(self) -> bool:
        """The document or the history changed since it was saved or opened."""
        return self._dirty

    @property
    def title(self) -> str:
        return self._title

    def is_modified(self) -> bool:
        return self.document.modified or self._history_dirty

    def document_name(self) -> str:
        if self._project_path:
            return Path(self._project_path).stem
        return self._file_name or "Untitled"

    @contextmanager
    def _one_change(self) -> Iterator[None]:
        """Opening or saving passes through states no one should see ("Untitled*" before the
        file's name): `dirty` and `title` are said once, when it is done."""
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
            self._refresh()

    def _refresh(self, *_: object) -> None:
        """Recomputes `dirty` and `title`, and says each that changed."""
        if self._held:
            return
        dirty = self.is_modified()
        if dirty != self._dirty:
            self._dirty = dirty
            self.dirtyChanged.emit(dirty)
        if not self._project_path and not self._file_name and not dirty:
            title = TITLE
        else:
            title = f"{self.document_name()}{'*' if dirty else ''} — {TITLE}"
        if title != self._title:
            self._title = title
            self.titleChanged.emit(title)

    def _set_source(self, project: str | None, file_name: str | None) -> None:
        """Where the document came from: a project's path, or an image file's name."""
        self._file_name = file_name
        self.autosaver.project_path = project
        if project != self._project_path:
            self._project_path = project
            self.projectPathChanged.emit(project)
        self._refresh()

    def _set_history_dirty(self, dirty: bool) -> None:
        self._history_dirty = dirty
        self._refresh()

    def _touched(self) -> None:
        self._pristine = False

    # --- results ----------------------------------------------------------------------------
    def show_result(self, result: Result | None, live: bool = False) -> None:
        """Shows `result` (None: nothing); `live`: the latest Live run, not kept yet."""
        if result is self._shown and live == self._shown_live:
            return
        self._shown, self._shown_live = result, live
        self._live_stale = False  # a Live result arrives only for the drawing as it is
        self.shownResultChanged.emit(result, live)

    def index_of(self, result: Result | None) -> int:
        """Where `result` (this very one) is in the history; -1 if not there."""
        return next((i for i, r in enumerate(self.history) if r is result), -1)

    def _on_history_added(self, index: int) -> None:
        self.resultAdded.emit(index)
        self._set_history_dirty(True)

    def _on_history_removed(self, index: int) -> None:
        self.resultRemoved.emit(index)
        self._set_history_dirty(True)
        if self._shown is not None and not self._shown_live and self.index_of(self._shown) < 0:
            left = len(self.history)
            self.show_result(self.history[min(index, left - 1)] if left else None)

    def _on_history_cleared(self) -> None:
        self.resultsCleared.emit()
        self._set_history_dirty(True)
        if not self._shown_live:
            self.show_result(None)

    def remove_result(self, index: int) -> None:
        """Removes result `index` as an undo step of the document (Edit > Undo brings it back,
        in the order of the other edits)."""
        if 0 <= index < len(self.history):
            step = RemoveResultCommand(self.history, index, self.show_result)
            self.document.undo_stack.push(step)
            self.status.emit(f"Removed result {index + 1}: Edit > Undo (Ctrl+Z) brings it back")

    def apply_result(self, result: Result | None = None) -> None:
        """Pastes `result` (default: the one shown) into the region, as one undo step."""
        result = result or self._shown
        if result is not None:
            self._keep_if_live(result)
            self.document.paste_into_region(result.image, "Apply result",
                                            scaling_for(result.image), is_inpainting(result))

    def use_as_input(self, result: Result | None = None) -> None:
        """Pastes `result` into the region as the next run's input; a mode that takes no
        image switches to SDEdit."""
        result = result or self._shown
        if result is None:
            return
        self._keep_if_live(result)
        self.document.paste_into_region(result.image, "Use result as input",
                                        scaling_for(result.image), is_inpainting(result))
        if not mode_table.needs_image(self.settings.mode):
            self.settings.mode = mode_table.IMAGE_DEFAULT
        self.status.emit("The result is the input of the next run")

    def _keep_if_live(self, result: Result) -> None:
        """A Live result applied goes into the History first: the canvas change that follows
        would otherwise drop it as stale."""
        if result is self._shown and self._shown_live:
            self.keep_live_result()

    def keep_live_result(self) -> bool:
        """Adds the Live result shown to the history (once)."""
        if self._shown is None or not self._shown_live or self.runner.keep_live() is None:
            return False
        self.history.append(self._shown)
        self.show_result(self._shown)
        return True

    # --- the model ------------------------------------------------------------------------------
    @property
    def model_state(self) -> ModelState | None:
        """The model loaded (None: none yet)."""
        return self.model.state

    @property
    def model_spec(self) -> str | None:
        """The model asked for: the one loaded, or the one on its way."""
        return self.model.request.spec

    @property
    def device(self) -> str:
        return self.model.request.device

    @property
    def precision(self) -> str:  # these two apply to DeepFloyd IF and the digit models
        return self.model.request.precision

    @property
    def offload(self) -> str:
        return self.model.request.offload

    @property
    def prompts_file(self) -> str | None:
        return self.model.request.prompts

    def load_model(self, spec: str, device: str | None = None, quiet: bool = False) -> None:
        """Loads a bundled name, folder or cache id on the engine (once per model and device);
        a model that fails to load leaves the one loaded before. `quiet`: a failure is only a
        status line (the startup default model)."""
        self._quiet_load = quiet
        if self.model.ask(spec=spec, device=device or self.device) and self.runner.busy():
            # the engine loads it once the runs before it end (nothing the user asked for is
            # thrown away); said now, or the status bar shows the old model with no word
            self.status.emit(f"Switching to {Path(spec).name or spec} after this run "
                             "(Esc cancels it)")

    def use_prompts_file(self, path: str) -> None:
        """Reloads the current model with the prompts of an embeddings file."""
        if self.model_spec:
            self._quiet_load = False
            self.model.ask(prompts=path)

    def set_device(self, device: str) -> None:
        self.preferences.device = device  # remembered (a failed load puts the last good back)
        if self.model_spec:
            self.load_model(self.model_spec, device)
        else:
            self.model.settle(device=device)

    def set_precision(self, precision: str) -> None:
        """fp32, bf16, fp16 or auto; reloads the model if it takes a precision (a choice it
        cannot load with is refused, and the one before comes back)."""
        self._choose_option(precision=precision)

    def set_offload(self, offload: str) -> None:
        self._choose_option(offload=offload)

    def _choose_option(self, **option: str) -> None:
        for key, value in option.items():
            setattr(self.preferences, key, value)  # remembered (a failed reload puts it back)
        state = self.model_state
        if self.model_spec and state is not None and state.takes_precision:
            self._quiet_load = False
            self.model.ask(**option)
        else:
            self.model.settle(**option)

    def open_model_dialog(self) -> None:
        folder = self.asker.folder(self.dialog_parent, "Open model folder",
                                   self.preferences.last_folder("model"))
        if folder:
            self.preferences.set_last_folder("model", folder)
            self.load_model(folder)

    def open_prompts_dialog(self) -> None:
        path = self.asker.open_path(self.dialog_parent, "Prompt embeddings file",
                                    self.preferences.last_folder("model"),
                                    "Embeddings (*.pth *.pt)")
        if path:
            self.use_prompts_file(path)

    def _on_request_changed(self, request: LoadRequest) -> None:
        """The remembered choices follow the request (a rollback too)."""
        p = self.preferences
        p.device, p.precision, p.offload = request.device, request.precision, request.offload
        self.requestChanged.emit(request)

    def _on_model_loaded(self, state: ModelState) -> None:
        self._restoring = True
        try:
            self._take_model(state)
        finally:
            self._restoring = False
        self._run_waiting()
        self.runner.changed()  # Live waited for the model: it runs on this one now

    def _take_model(self, state: ModelState) -> None:
        saved_with = self.preferences.model  # the model an old single run_settings was for
        self._remember_model_settings()  # those shown belong to the model loaded before
        self.preferences.model = state.spec
        self.modelReady.emit(state)  # first: the panel learns the prompts the model takes
        self.settings.upscale_available = state.upscaler
        self._update_timesteps()
        if self._pristine:
            self._default_document(state)
        if not self._run_settings_restored:  # once: the shared settings of the last launch
            self._run_settings_restored = True
            self._restore_shared_settings(saved_with)
        self._restore_model_settings(state)
        self._settings_spec = state.spec

    def _on_load_failed(self, message: str) -> None:
        """`message` says what was kept (ModelSlot rolled back)."""
        self.modelFailed.emit(message)
        if not self._quiet_load:
            self.error.emit("Cannot load the model", message)
        self._run_waiting()
        self.runner.changed()

    def when_model_settles(self, change: Callable[[], None]) -> None:
        """Makes `change` to the run settings (an opened file's) now, or, while a model is on
        its way (at launch, during a switch), once it has loaded: its own settings, restored
        then, would overwrite the file's, and the file's i_start needs its schedule. Held
        changes are made in order, after a load that fails too."""
        if self.model.busy() or self._waiting:
            self._waiting.append(change)
        else:
            change()

    def _run_waiting(self) -> None:
        while self._waiting and not self.model.busy():
            self._waiting.pop(0)()

    def _on_setting(self, name: str, value: Any) -> None:
        if name == "steps":
            self._update_timesteps()
        if self.model.busy() and not self._restoring and self._keeps_edit(name):
            self._hold_edit(name, value)

    def _keeps_edit(self, name: str) -> bool:
        """An edit made while a model loads that its arrival must not undo: one every model
        shares, or any at launch (no model's own settings are shown yet). A shown model's own
        setting stays that model's (remembered for it when the new one arrives)."""
        return name not in DERIVED_SETTINGS and (
            name not in MODEL_SETTINGS or self._settings_spec is None)

    def _hold_edit(self, name: str, value: Any) -> None:
        """Made again once the model is in, after the settings restored for it and after any
        file's opened before the edit (the latest edit of a setting only)."""
        self._waiting = [c for c in self._waiting if getattr(c, "edits", None) != name]
        self._waiting.append(HeldEdit(self, name, value))

    def _replay_edit(self, name: str, value: Any) -> None:
        state = self.model_state
        if name in PROMPT_SETTINGS and state is not None and not state.takes_prompt(value):
            self.status.emit(f"{value!r}, typed while {state.name} loaded, is not a prompt it "
                             f"takes: it keeps {getattr(self.settings, name)!r}")
            return
        setattr(self.settings, name, value)

    def _update_timesteps(self) -> None:
        if self.model_state is not None:
            self.settings.timesteps = tuple(self.model_state.timesteps_for(self.settings.steps))

    def _restore_shared_settings(self, saved_with: str) -> None:
        """The settings every model shares, as the last launch left them. A preference file
        from before each model kept its own settings held the prompts, guidance... of the model
        it was saved with (`saved_with`): they become that model's own."""
        saved = dict(self.preferences.run_settings)
        own = {k: v for k, v in saved.items() if k in MODEL_SETTINGS or k == OLD_I_START}
        if own and saved_with and not self.preferences.has_model_run_settings():
            self.preferences.set_run_settings_for(saved_with, own)
        self.settings.restore({k: v for k, v in saved.items() if k not in own})

    def _restore_model_settings(self, state: ModelState) -> None:
        """The loaded model's own settings: those remembered for it, else its defaults (a
        prompt it does not take, such as a digit for another prompt file, gives the default).
        One saved before the settings were properties gives its i_start."""
        saved = self.preferences.run_settings_for(state.spec)
        for name in PROMPT_SETTINGS:
            if name in saved and not state.takes_prompt(saved[name]):
                del saved[name]
        self.settings.restore_model(state.run_defaults(), saved)
        if "strength" not in saved and isinstance(saved.get(OLD_I_START), int):
            self.settings.set_i_start(saved[OLD_I_START])

    def _remember_model_settings(self) -> None:
        """Keeps the settings shown as the own settings of the model they belong to."""
        if self._settings_spec:
            self.preferences.set_run_settings_for(self._settings_spec,
                                                  self.settings.model_values())

    def remember_run_settings(self) -> None:
        """Writes the run settings to the preferences: the shared ones and the model's own."""
        self.preferences.run_settings = self.settings.shared()
        self._remember_model_settings()

    def model_input(self) -> tuple[Any, str]:
        """The region converted exactly as a run converts it (a QImage; None without a model),
        and a line saying what changed (app/session/model_sees.py; the window works it out
        off the GUI thread from `model_input_snapshot`)."""
        snap = self.model_input_snapshot()
        return what_the_model_sees(snap) if snap is not None else (None, "")

    def model_input_snapshot(self) -> InputSnapshot | None:
        """The document's image (shared, cheap) and region for the model loaded; None without."""
        if self.model_state is None:
            return None
        return take_snapshot(self.document.image(), self.document.region(), self.model_state)

    # --- documents ------------------------------------------------------------------------------
    def default_canvas(self) -> tuple[int, Any]:
        """The model's canvas: 280 × 280 black for the digit models, 512 × 512 white otherwise."""
        state = self.model_state
        digits = state.is_digit_model if state is not None else bool(
            self.model_spec and self.model_spec.startswith("mnist"))
        return (DIGIT_CANVAS, BLACK) if digits else (OTHER_CANVAS, WHITE)

    def _default_document(self, state: ModelState) -> None:
        side, background = self.default_canvas()
        self.new_document(side, side, background)
        self._pristine = True

    def new_document(self, width: int, height: int, background: Any) -> None:
        """A fresh document (`background` a QColor)."""
        with self._one_change():
            self.document.new_blank(width, height, background)
            self._set_source(None, None)
        self.when_model_settles(self.settings.forget_restored_seed)
        self._pristine = False
        self.documentReplaced.emit(background)

    # --- files (app/session/files.py) and exports (app/session/exports.py) -------------------
    def may_replace(self, action: str, keeps_history: bool = False) -> bool:
        """Before New, Open or a drop replaces the document: unsaved changes are saved,
        discarded or the replacement is cancelled, as the user answers (`keeps_history`: a
        new or opened image, which leaves the History as it is)."""
        return self.files.may_replace(action, keeps_history)

    def open_path(self, path: str) -> bool:
        """Opens an image or a project; on failure says why and changes nothing."""
        return self.files.open_path(path)

    def open_project(self, path: str) -> bool:
        """Opens a .dcproj: the document and the history. A damaged file changes nothing."""
        return self.files.open_project(path)

    def save(self) -> bool:
        """Saves to the project's file (Ctrl+S), or asks for one; False if not saved."""
        return self.files.save()

    def save_as(self) -> bool:
        return self.files.save_as()

    def save_to(self, path: str) -> bool:
        """Writes the document, its history and the run settings to `path` (.dcproj added)."""
        return self.files.save_to(path)

    def paste(self, image: Any, text: str = "Paste") -> bool:
        """Replaces the document's image by `image` (a QImage; a null one is refused)."""
        return self.files.paste(image, text)

    def open_recent(self, path: str) -> bool:
        return self.files.open_recent(path)

    def clear_recent(self) -> None:
        self.files.clear_recent()

    def open_dialog(self) -> bool:
        return self.files.open_dialog()

    def open_project_dialog(self) -> bool:
        return self.files.open_project_dialog()

    def offer_recovery(self) -> bool:
        """If a session that crashed left an autosave, asks whether to restore it; True if it
        was restored."""
        return self.files.offer_recovery()

    def export_dialog(self, result: Result | None = None) -> bool:
        """Asks what to export (PNG ×1/×4/×8 or the frames as GIF/APNG) and where."""
        return self.exports.export_dialog(result)

    def export_result(self, path: str, result: Result | None = None, scale: int = 1,
                      resample: str = "nearest") -> bool:
        """Writes the result as PNG (×`scale`, nearest or bicubic) with its `parameters`."""
        return self.exports.export_result(path, result, scale, resample)

    def export_frames(self, path: str, result: Result | None = None,
                      scale: int | None = None) -> bool:
        """Writes the result's denoising frames: GIF for .gif, APNG otherwise."""
        return self.exports.export_frames(path, result, scale)

    def export_canvas_dialog(self) -> bool:
        return self.exports.export_canvas_dialog()

    def export_canvas(self, path: str) -> bool:
        """Writes the drawing itself, at the canvas's size, as a PNG."""
        return self.exports.export_canvas(path)

    # --- running --------------------------------------------------------------------------------
    def make_job(self, settings: dict[str, Any] | None = None) -> Job:
        """A job from the run settings (a random seed is drawn now) or from `settings`, and the
        document's region (and mask)."""
        state = self.model_state
        if state is None:
            raise EngineError("no model is loaded: pick one in the Model menu")
        if self.model.busy():  # `state` is the model going: the job would run on the one coming
            raise EngineError(f"{self._coming()} is loading: this runs once it is in")
        # the seed is drawn once the job can run: a refused one spends no restored seed
        job = Job(**(settings if settings is not None else self.settings.job_fields(draw=False)))
        mode = mode_table.mode_of(job.mode)
        refuse_missing_prompts(job, mode, state)
        refuse_before_the_run(job, state)
        if mode.needs_image:  # converted on the engine thread: 0.2-0.5 s at 4000² (QA walk 8)
            snap = take_snapshot(self.document.image(), self.document.region(), state)
            job.image_source = partial(model_input, snap)
        if mode.needs_mask:
            try:
                job.mask = images.load_mask(qimage_to_pil(self.document.region_mask(), "L"),
                                            state.size)
            except EmptyMaskError as error:  # the app's way, not the command line's
                raise EngineError(error.in_app()) from None
        if settings is None:
            restored = self.settings.seed_once
            job.seed = self.settings.draw_seed()
            self._spent_seed = job.seed if restored else None
        return job

    def run_job(self, settings: dict[str, Any] | None = None,
                kind: JobKind = JobKind.USER) -> JobRecord | None:
        """Queues a run of the run settings (or `settings`); its job, or None (said why).
        None while a model loads: the settings shown are the last model's, not its."""
        if self.model.busy():
            self.status.emit(f"{self._coming()} is loading: Run once it is in")
            return None
        self.remember_run_settings()  # kept after a crash
        self._spent_seed = None
        try:
            job = self.runner.run(settings, kind)
        except EngineError as error:
            self.error.emit("Cannot run", str(error))
            return None
        if self._spent_seed is not None:  # given back if the job fails (_on_failed)
            self._restored_seeds[job.id] = self._spent_seed
        return job

    def _coming(self) -> str:
        return Path(self.model.request.spec or "").name or "the model"

    def upscale_result(self, result: Result | None = None) -> JobRecord | None:
        """Runs the upscaler on a result made by this model, with its prompts and views."""
        if self.model.busy():  # the job would run on the model coming, not the one that made it
            self.status.emit(f"{self._coming()} is loading: upscale once it is in")
            return None
        try:
            job = upscale_job(result or self._shown, self.model_state)
        except EngineError as error:
            self.error.emit("Cannot upscale", str(error))
            return None
        return self.runner.submit(job, JobKind.UPSCALE)

    def cancel_run(self) -> None:
        self.runner.cancel()

    def set_live(self, on: bool) -> None:
        if on:
            self.status.emit("Live: SDEdit runs again whenever you stop drawing")
        self.runner.set_live(on)
        if not on and self._live_stale:
            self._drop_live_result()

    def _drop_live_result(self) -> None:
        """A Live result not kept, of a drawing since changed (a stroke undone, say): it no
        longer answers the canvas, so the panel goes back to the History's newest."""
        if self._shown_live:
            self.runner.keep_live()
            self.show_result(self.history[-1] if len(self.history) else None)

    def _on_settings_changed(self, *_: object) -> None:
        # A Live result still answers the drawing; it carries the settings it was made with.
        self.runner.changed()  # a Live run in flight is stale; one runs after the delay

    def _on_canvas_changed(self, *_: object) -> None:
        self.runner.changed()
        self._live_stale = self._shown_live
        if self._live_stale and not self.runner.is_live():
            self._drop_live_result()

    def _add_results(self, job: JobRecord) -> None:
        """A user's, a sweep's or an upscale job's results: into the history, the first shown."""
        batch = results_of(job)
        for result in batch:
            self.history.append(result)
        if batch:
            self.show_result(batch[0])

    def _show_live_result(self, job: JobRecord) -> None:
        batch = results_of(job)
        if batch:
            self.show_result(batch[0], live=True)

    def _on_failed(self, job: JobRecord, message: str) -> None:
        seed = self._restored_seeds.pop(job.id, None)
        if seed is not None:  # a seed restored from a file survives a run that failed
            self.settings.give_back_seed(seed)
        if job.kind is JobKind.LIVE:
            self.status.emit(f"Live: {message}")
        else:
            self.error.emit("The run failed", message)

    # --- closing --------------------------------------------------------------------------------
    def close(self, remember: Callable[[Settings], None] | None = None,
              leaving: Callable[[], None] | None = None) -> bool:
        """Asks about unsaved changes (a question that fails keeps everything: one message,
        False); then saves the preferences (`remember` adds the window's), calls `leaving` (the
        window goes: a model load cannot be cancelled, and joining it takes as long as it
        does), stops every thread whatever fails, and marks the autosave clean. True: closed."""
        try:
            if not self.may_replace("closing"):
                return False
        except Exception as error:  # noqa: BLE001 - a broken question must not lose the work
            self.error.emit("Close", "Could not ask about the unsaved changes, so the window "
                                     f"stays open: {error}")
            return False
        try:
            self.remember_run_settings()
            if remember is not None:
                remember(self.preferences)
            self.preferences.sync()
        except Exception as error:  # noqa: BLE001 - settings are not the user's work: close
            print(f"Diffusion Canvas: the settings were not saved: {error}", file=sys.stderr)
        finally:  # the threads must stop whatever failed above, or the exit crashes
            if leaving is not None:
                leaving()
            self.stop_threads()
        self.autosaver.mark_clean_exit()
        return True

    def stop_threads(self) -> None:
        """Stops Live, each owned thread and the engine; one that raises stops none less."""
        self.runner.live_timer.stop()
        failures = []
        for owner in [*self._threads, self.engine]:
            try:
                owner.shutdown()
            except Exception as error:  # noqa: BLE001 - the others must stop all the same
                failures.append(f"{type(owner).__name__}: {error}")
        if failures:
            print("Diffusion Canvas: stopping threads: " + "; ".join(failures), file=sys.stderr)


def refuse_missing_prompts(job: Job, mode: mode_table.Mode, state: ModelState) -> None:
    """The prompts a mode needs (img2img's, an anagram's or a hybrid's), refused empty before
    the run with EngineError, in the app's words (the command line says its own)."""
    if not mode.needs_prompt:
        return
    if not mode.illusion:
        if not (job.prompt or "").strip():
            raise EngineError(f"{mode.label} needs a prompt to change the image toward: choose "
                              "or type one in the Prompt box (without a prompt it is SDEdit)")
        return
    if not state.conditional:
        raise EngineError(f"{mode.label} mixes the estimates of two prompts; {state.name} is "
                          "unconditional, so it cannot make one: pick a class- or "
                          "text-conditioned model in the Model menu")
    more = ("Medium",) if job.mode == "hybrid" else ("Prompt 3", "Prompt 4")
    labels = (*mode.prompt_labels, *more)
    for label, prompt in zip(labels, (job.prompt, job.prompt2, *job.more_prompts), strict=False):
        if not (prompt or "").strip():
            raise EngineError(f"{mode.label} needs a prompt for its '{label}' image: choose or "
                              f"type one in the {label} box")


def refuse_before_the_run(job: Job, state: ModelState) -> None:
    """What the run would refuse at its first step, refused now: no seed spent, no run
    queued, and the message as it is (not "the run failed")."""
    if state.words:
        for prompt in (job.prompt, job.prompt2, *job.more_prompts):
            if prompt and prompt.strip():
                prompt_for_vocabulary(prompt, state.words, state.name)
    if job.mode == "anagram":
        views_for([job.view, *job.more_views], state.size, state.symmetric, job.view_seed)


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


def is_inpainting(result: Result) -> bool:
    """An inpainting's result goes back under the mask only: outside it the model saw (and
    returns) the region at its own low resolution."""
    return result.parameters.get("mode") == "inpaint"
