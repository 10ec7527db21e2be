"""The session's names the main window answers to: `window.open_path`, `window.document`,
`window.run_settings`... are read-only properties that return the session's attribute of that
name (or of its new name, RENAMED), so the tests and the action table's callbacks reach the
session through the window without the window holding any state.

    forward_session_names(MainWindow)   # once, after the class is defined
"""

from __future__ import annotations

# the names, as the session spells them (tests and the action table reach them here)
SESSION_NAMES = (
    "engine", "document", "history", "asker", "autosaver", "runner", "model_state",
    "model_spec", "device", "precision", "offload", "prompts_file", "project_path",
    "open_path", "open_project", "open_recent", "new_document",
    "show_result", "apply_result", "use_as_input", "export_result", "export_frames",
    "export_canvas", "export_dialog", "export_canvas_dialog", "is_modified", "load_model",
    "use_prompts_file", "set_device", "set_precision", "set_offload", "upscale_result",
    "run_job", "cancel_run", "model_input", "make_job", "document_name", "offer_recovery",
    "remove_result", "keep_live_result", "open_dialog", "open_project_dialog",
    "open_model_dialog", "open_prompts_dialog")
RENAMED = {"run_settings": "settings", "settings": "preferences", "save_project": "save",
           "save_project_to": "save_to",
           "save_project_as": "save_as", "may_replace_document": "may_replace"}


def _from_session(name: str) -> property:
    return property(lambda window: getattr(window.session, name),
                    doc=f"The session's `{name}` (app/session/session.py).")


def forward_session_names(cls: type) -> None:
    """Gives `cls` (whose instances have a `session`) each of SESSION_NAMES and RENAMED."""
    for name in SESSION_NAMES:
        setattr(cls, name, _from_session(name))
    for name, target in RENAMED.items():
        setattr(cls, name, _from_session(target))
