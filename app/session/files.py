"""The session's files part (QtCore only): opening an image or a project, saving, save-as,
pasting, recovering an autosave and the recent files, every question through the session's
`Asker`. `Session` delegates its file methods here; this part reads and writes the session's
document, history, run settings and source (project path, file name, history dirty).

    files = Files(session)
    files.open_path("sketch.png")   # True: opened; False: said why, nothing changed
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app import export
from app.project import SUFFIX as PROJECT_SUFFIX
from app.project import (
    NewerProjectError,
    ProjectData,
    ProjectError,
    apply_project,
    load_project,
    salvage_project,
    save_project,
)
from app.qt_images import busy_cursor, mean_colour, pil_to_qimage
from app.restored import clean_run_settings
from app.restored import describe as describe_problems
from app.session.settings import MODEL_SETTINGS
from engine import images
from engine.errors import EngineError

if TYPE_CHECKING:
    from app.history import History, Result
    from app.session.session import Session

IMAGE_SUFFIXES = "*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff *.gif"
PROJECT_FILTER = f"Diffusion Canvas project (*{PROJECT_SUFFIX})"
OPEN_FILTER = (f"Images and projects ({IMAGE_SUFFIXES} *{PROJECT_SUFFIX});;"
               f"Images ({IMAGE_SUFFIXES});;{PROJECT_FILTER};;All files (*)")
PARAMETER_SUFFIXES = (".png", ".apng", ".gif")  # files whose settings we can read back
# a file's settings that belong to its model (a Live PNG's Run steps too)
OWN_SETTINGS = (*MODEL_SETTINGS, "i_start", "run_steps")
SEES_PHRASE = " sees the region as "


def sees_message(model_name: str, caption: str) -> str:
    """The status line said after opening an image the model cannot take as it is."""
    return f"{model_name}{SEES_PHRASE}{caption}: see 'What the model sees'"


class Files:
    """Open, save, paste, recover and the recent files of `session`."""

    def __init__(self, session: Session) -> None:
        self._s = session

    # --- replacing the document -----------------------------------------------------------------
    def may_replace(self, action: str, keeps_history: bool = False) -> bool:
        """Before New, Open or a drop replaces the document: unsaved changes are saved,
        discarded or the replacement is cancelled, as the user answers. `keeps_history`: the
        History stays (a new or opened image), so only the canvas's edits are at stake."""
        s = self._s
        if not (s.document.modified if keeps_history else s.is_modified()):
            return True
        answer = s.asker.unsaved_changes(s.dialog_parent, s.document_name(), action,
                                         self.unsaved_detail(keeps_history))
        return answer == "discard" or (answer == "save" and s.save())

    def unsaved_detail(self, keeps_history: bool = False) -> str:
        """What Discard would lose, said plainly: an image file keeps no history, so results
        survive only in a project (or in the History, while the app stays open)."""
        s = self._s
        lost = []
        if s.document.modified:
            lost.append("the canvas's edits")
        if s._history_dirty and len(s.history) and not keeps_history:
            n = len(s.history)
            lost.append(f"{'the result' if n == 1 else f'all {n} results'} in History")
        if not lost:
            return ""
        running = (" The run in progress stops either way: its result is not kept."
                   if s.runner.user_busy() else "")
        return (f"Discard loses {' and '.join(lost)}. Save keeps the canvas and the "
                f"History in a project (.dcproj), which Open brings back as it was.{running}")

    def open_path(self, path: str) -> bool:
        """Opens an image or a project; on failure says why and changes nothing."""
        s = self._s
        if path.lower().endswith(PROJECT_SUFFIX):
            return s.open_project(path)
        try:
            with busy_cursor():  # a photo of 8000 × 6000 takes seconds to decode
                picture = images.load_image(path)
        except EngineError as error:
            s.error.emit("Cannot open the image", str(error))
            return False
        if not s.may_replace("opening another file", keeps_history=True):
            return False
        parameters = None
        if path.lower().endswith(PARAMETER_SUFFIXES):
            parameters = export.settings_from_png(path)
        with busy_cursor():
            opened = pil_to_qimage(picture)
        with busy_cursor(), s._one_change():
            s.document.set_image(opened, "Open")
            s.document.undo_stack.clear()
            s.document.set_saved()
            s._set_source(None, Path(path).name)
        s._pristine = False
        s.documentReplaced.emit(mean_colour(opened))
        s.status.emit(f"Opened {path} ({opened.width()} × {opened.height()})")
        self._remember_file(path, "open")
        s.when_model_settles(partial(self._apply_opened_settings, parameters))
        return True

    def _apply_opened_settings(self, parameters: dict[str, Any] | None) -> None:
        """The run settings an opened image carries (its PNG `parameters`), and what the model
        makes of it."""
        s = self._s
        parameters, problems = clean_run_settings(parameters) if parameters else ({}, [])
        other = self._keep_own_settings(parameters, parameters.get("model"))
        if parameters:
            s.settings.apply_parameters(parameters)
        else:
            s.settings.forget_restored_seed()
        self._say_what_the_model_sees()
        if problems or other:
            s.status.emit(". ".join(filter(None, (other, problems and
                                                  describe_problems(problems)))))

    def _keep_own_settings(self, parameters: dict[str, Any], made_with: object) -> str:
        """A file made with another model than the one loaded: its prompts, guidance, strength
        and steps are dropped from `parameters` (a digit's '7' or the emoji's guidance mean
        nothing to the other model; the loaded one keeps its own). One phrase saying so, or
        ''."""
        loaded = self._s.model_spec
        if not isinstance(made_with, str) or not made_with or not loaded or made_with == loaded:
            return ""
        dropped = [key for key in OWN_SETTINGS if parameters.pop(key, None) is not None]
        if not dropped:
            return ""
        return (f"Its prompts, guidance and steps were for {Path(made_with).name}: "
                f"{Path(loaded).name} keeps its own")

    def _say_what_the_model_sees(self) -> None:
        """After opening an image the model cannot take as it is: one line on what it gets."""
        s = self._s
        state = s.model_state
        if state is None:
            return
        seen, caption = s.model_input()
        s.modelSees.emit(seen, caption)
        if "(" in caption:
            s.status.emit(sees_message(state.name, caption))

    def open_project(self, path: str) -> bool:
        """Opens a .dcproj: the document and the history. A damaged file changes nothing,
        unless the user opens what can be read of it (as unsaved work; the file stays as it
        is)."""
        s = self._s
        salvaged = False
        try:
            data = load_project(path)  # checks everything before anything changes
        except ProjectError as error:
            data = self._salvage(path, error)
            if data is None:
                return False
            salvaged = True
        if not s.may_replace("opening another file"):
            return False
        s.runner.live_timer.stop()
        with s._one_change():
            apply_project(data, s.document, s.history)
            if salvaged:  # unsaved work under a new name: Ctrl+S never overwrites the file
                s._set_source(None, f"{Path(path).stem} (recovered)")
            else:
                s._set_source(str(Path(path).absolute()), None)
            s._history_dirty = salvaged
        s._pristine = False
        s.documentReplaced.emit(None)
        self._remember_file(path, "project")
        s.show_result(shown_of(data.settings.get("shown"), s.history))
        opened = f"Opened what could be read of {path} (unsaved)" if salvaged else f"Opened {path}"
        s.when_model_settles(partial(self._apply_project_settings, data.settings, opened))
        return True

    def _apply_project_settings(self, saved: dict[str, Any], opened: str) -> None:
        """The run settings a project saved (its panel's, for its model), and one status line
        starting with `opened`."""
        s = self._s
        modes, problems = clean_run_settings(saved.get("modes") or {})
        other = self._keep_own_settings(modes, saved.get("model"))
        if modes:
            s.settings.apply_parameters(modes)
        if isinstance(modes.get("random_seed"), bool):  # older projects: the seed serves once
            s.settings.restore_seed_choice(modes["random_seed"])
        said = [opened, other, describe_problems(problems) if problems else ""]
        s.status.emit(". ".join(filter(None, said)))

    def _salvage(self, path: str, error: ProjectError) -> ProjectData | None:
        """What can be read of a damaged project, if the user wants it; None (and the reason
        said, unless the user declined) when there is nothing to open."""
        s = self._s
        if not isinstance(error, NewerProjectError):
            try:
                data, lost = salvage_project(path)
            except ProjectError:
                pass
            else:
                if s.asker.open_damaged(s.dialog_parent, str(error), lost):
                    return data
                return None
        s.error.emit("Cannot open the project", str(error))
        return None

    def paste(self, image: Any, text: str = "Paste") -> bool:
        """Replaces the document's image by `image` (a QImage; a null one is refused)."""
        if image is None or image.isNull():
            return False
        self._s.document.set_image(image, text)
        self._s.documentReplaced.emit(None)
        self._s.status.emit(f"{text}: the canvas is now the {image.width()} × {image.height()} "
                            "image (Edit ▸ Undo brings the drawing back)")
        return True

    # --- saving ---------------------------------------------------------------------------------
    def save(self) -> bool:
        """Saves to the project's file (Ctrl+S), or asks for one; False if not saved."""
        s = self._s
        if s.project_path:
            return s.save_to(s.project_path)
        return s.save_as()

    def save_as(self) -> bool:
        s = self._s
        start = str(Path(s.preferences.last_folder("project"))
                    / f"{Path(s.document_name()).stem}{PROJECT_SUFFIX}")
        path = s.asker.save_path(s.dialog_parent, "Save project", start, PROJECT_FILTER)
        return bool(path) and s.save_to(path)

    def save_to(self, path: str) -> bool:
        """Writes the document, its history (with every result's parameters) and the run
        settings to `path` (.dcproj added when missing)."""
        s = self._s
        if not path.lower().endswith(PROJECT_SUFFIX):
            path += PROJECT_SUFFIX
        modes = s.settings.job_fields(draw=False) | {
            "random_seed": s.settings.random_seed or s.settings.seed_once}
        extra = {"modes": modes, "model": s.model_spec,
                 "device": s.device, "shown": s.index_of(s.shown_result)}
        try:
            save_project(path, s.document, s.history, extra)
        except ProjectError as error:
            s.error.emit("Cannot save the project", str(error))
            return False
        with s._one_change():
            s.document.set_saved()
            s._history_dirty = False
            s._set_source(str(Path(path).absolute()), None)
        self._remember_file(path, "project")
        s.status.emit(f"Saved {path}")
        return True

    # --- recent files and the open dialogs ------------------------------------------------------
    def _remember_file(self, path: str, kind: str) -> None:
        prefs = self._s.preferences
        prefs.add_recent_file(path)
        prefs.set_last_folder(kind, path)
        self._s.recentChanged.emit()

    def open_recent(self, path: str) -> bool:
        s = self._s
        if not Path(path).exists():
            s.preferences.remove_recent_file(path)
            s.recentChanged.emit()
            s.error.emit("Cannot open", f"file not found: {path}")
            return False
        return s.open_path(path)

    def clear_recent(self) -> None:
        self._s.preferences.clear_recent_files()
        self._s.recentChanged.emit()

    def open_dialog(self) -> bool:
        s = self._s
        path = s.asker.open_path(s.dialog_parent, "Open image or project",
                                 s.preferences.last_folder("open"), OPEN_FILTER)
        return bool(path) and s.open_path(path)

    def open_project_dialog(self) -> bool:
        s = self._s
        path = s.asker.open_path(s.dialog_parent, "Open project",
                                 s.preferences.last_folder("project"),
                                 f"{PROJECT_FILTER};;All files (*)")
        return bool(path) and s.open_project(path)

    # --- recovery -------------------------------------------------------------------------------
    def offer_recovery(self) -> bool:
        """If a session that crashed left an autosave, asks whether to restore it; True if it
        was restored."""
        s = self._s
        recovery = s.autosaver.pending_recovery()
        if recovery is None:
            return False
        answer = s.asker.offer_recovery(s.dialog_parent, recovery)
        if answer == "discard":
            s.autosaver.discard()
            return False
        if answer != "restore":
            return False
        try:
            with s._one_change():
                recovery = s.autosaver.restore(s.document, s.history)
                s._set_source(recovery.project_path, None)
                s._history_dirty = bool(len(s.history))
        except ProjectError as error:  # the file is kept (the message says where)
            s.error.emit("Cannot restore the autosave", str(error))
            return False
        self._after_recovery(recovery)
        return True

    def _after_recovery(self, recovery: Any) -> None:
        s = self._s
        s._pristine = False
        s.documentReplaced.emit(None)
        if len(s.history):
            s.show_result(s.history[len(s.history) - 1])
        s.status.emit("Restored the autosaved work")
        if recovery.lost:
            s.error.emit("Part of the autosave was damaged", "Restored what could be read; "
                         f"lost: {'; '.join(recovery.lost)}. The damaged file is kept as "
                         f"{recovery.kept_at}.")


def shown_of(index: object, history: History) -> Result | None:
    """The result a project showed when saved (its index), else the newest."""
    if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(history):
        return history[index]
    return history[len(history) - 1] if len(history) else None
