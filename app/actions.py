"""One table of the app's actions: id, text, keys, menu, callback and when each is enabled.

The builder makes the QActions, the menus and every key from the table; no other module of the
app or its widgets defines a key. Some actions are made by the widget that owns them (the undo
stack's Undo, a dock's toggle, the modes panel's Run, the tool bar's tools): `source` names that
action and the table gives it its text and keys. Some keys a widget handles itself, because they
follow its own rules (the canvas's space-pan and brush size work wherever the focus is in the
window but in a text field; Delete removes the result selected in the history): `handler`
names the widget and what the key does there, and the builder hands the keys to that widget.
Menus filled at run time (recent files, the models, devices, precisions) are built by their own
code, on the menus and submenus of this table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QMenuBar

from app.session.modes import is_illusion

Key = str | QKeySequence.StandardKey
Std = QKeySequence.StandardKey
Window = Any  # the main window: app/ never imports it (issue 13)

MENUS = (("File", "&File"), ("Edit", "&Edit"), ("Model", "&Model"), ("View", "&View"),
         ("Help", "&Help"))
PLACES = {"canvas": "Canvas", "history": "History"}  # where a widget's own keys act


@dataclass(frozen=True)
class Action:
    """One action. `callback`: a window attribute path ("session.save", "canvas.fit") or a
    callable taking the window. `source`: the same for an action a widget already makes; the
    callable also gets this row. `enabled`: a name of `PREDICATES`. `handler`: (widget, what)
    for a key that widget handles itself. `separator`: a separator above it in its menu."""

    id: str
    text: str
    keys: tuple[Key, ...] = ()
    menu: str | None = None
    callback: str | Callable[[Window], object] | None = None
    enabled: str | None = None
    toolbar: bool = False
    source: str | Callable[[Window, Action], QAction] | None = None
    handler: tuple[str, str] | None = None
    submenu: bool = False
    separator: bool = False
    tip: str = ""

    @property
    def plain(self) -> str:
        """The text as read: no mnemonic ampersand."""
        return self.text.replace("&", "")

    @property
    def place(self) -> str:
        """Where it is found: its menu, the tool bar, or the widget that handles its keys."""
        if self.menu:
            return self.menu
        if self.toolbar:
            return "Tool bar"
        return PLACES[self.handler[0]] if self.handler else ""

    @property
    def label(self) -> str:
        """How the README's table of keys names it: "File ▸ New…"."""
        return f"{self.place} ▸ {self.plain}"


def _undo(window: Window, row: Action) -> QAction:
    return window.session.document.undo_stack.createUndoAction(window, row.text)


def _redo(window: Window, row: Action) -> QAction:
    return window.session.document.undo_stack.createRedoAction(window, row.text)


def _tool(name: str) -> Callable[[Window, Action], QAction]:
    return lambda window, _row: window.tool_options.tool_actions[name]


def _zoom(factor: float) -> Callable[[Window], object]:
    return lambda window: window.canvas.zoom_by(factor)


TABLE: tuple[Action, ...] = (
    Action("new", "&New…", (Std.New,), "File", "new_dialog"),
    Action("open", "&Open…", (Std.Open,), "File", "session.open_dialog"),
    Action("recent", "Open &recent", menu="File", submenu=True),
    Action("open_project", "Open &project…", (), "File", "session.open_project_dialog"),
    Action("save", "&Save project", ("Ctrl+S",), "File", "session.save", separator=True),
    Action("save_as", "Save project &as…", ("Ctrl+Shift+S",), "File", "session.save_as"),
    Action("paste", "&Paste image", (Std.Paste,), "File", "paste", separator=True),
    Action("export", "&Export result…", ("Ctrl+E",), "File", "session.export_dialog",
           enabled="has_result"),
    Action("export_canvas", "Export &canvas…", ("Ctrl+Shift+E",), "File",
           "session.export_canvas_dialog"),
    Action("quit", "&Quit", ("Ctrl+Q",), "File", "close", separator=True),
    Action("undo", "&Undo", ("Ctrl+Z",), "Edit", source=_undo),
    Action("redo", "&Redo", ("Ctrl+Shift+Z", "Ctrl+Y"), "Edit", source=_redo),
    Action("copy_result", "&Copy result", ("Ctrl+Shift+C",), "Edit", "copy_result",
           enabled="has_result", separator=True),
    Action("run", "Run", ("Ctrl+Return", "Ctrl+Enter"), "Edit", source="modes.run_action",
           separator=True, tip="Run the current mode"),
    Action("cancel", "Cancel run", ("Esc",), "Edit", source="modes.cancel_action"),
    Action("open_model", "Open model &folder…", (), "Model", "session.open_model_dialog",
           separator=True),
    Action("prompts", "Prompt &embeddings file…", (), "Model", "session.open_prompts_dialog",
           tip="A .pth dict from prompt to embedding (the course's prompt_embeds_dict.pth), "
               "for DeepFloyd IF"),
    Action("zoom_in", "Zoom &in", (Std.ZoomIn, "Ctrl+="), "View", _zoom(1.25)),
    Action("zoom_out", "Zoom &out", (Std.ZoomOut,), "View", _zoom(1 / 1.25)),
    Action("fit", "&Fit", ("Ctrl+0",), "View", "canvas.fit"),
    Action("actual_size", "&100%", ("Ctrl+1",), "View", "canvas.actual_size"),
    Action("tools_dock", "T&ool options", (), "View", source="tools_dock.toggleViewAction",
           separator=True),
    Action("modes_dock", "&Modes", (), "View", source="modes_dock.toggleViewAction"),
    Action("history_dock", "&History", (), "View", source="history_dock.toggleViewAction"),
    Action("explorer", "Noise &explorer", ("Ctrl+Shift+X",), "View",
           source="explorer_dock.toggleViewAction"),
    Action("training", "&Training", (), "View", source="training_dock.toggleViewAction"),
    Action("sweep", "&Sweep…", ("Ctrl+Shift+W",), "View", "open_sweeps", separator=True),
    Action("view_illusion", "View &illusion…", ("Ctrl+Shift+I",), "View", "view_illusion",
           enabled="shows_illusion"),
    Action("messages", "Messa&ges…", (), "View", "show_messages", separator=True,
           tip="Every status message of this run, whole, with its time"),
    Action("about", "&About Diffusion Canvas…", (), "Help", "show_about"),
    Action("brush", "Brush", ("B",), toolbar=True, source=_tool("brush")),
    Action("eraser", "Eraser", ("E",), toolbar=True, source=_tool("eraser")),
    Action("mask", "Mask", ("M",), toolbar=True, source=_tool("mask")),
    Action("mask_eraser", "Erase mask", ("Shift+M",), toolbar=True, source=_tool("mask_eraser")),
    Action("region", "Region", ("R",), toolbar=True, source=_tool("region")),
    Action("brush_smaller", "Smaller brush", ("[",), handler=("canvas", "brush_smaller")),
    Action("brush_larger", "Larger brush", ("]",), handler=("canvas", "brush_larger")),
    Action("pan", "Pan (hold and drag)", ("Space",), handler=("canvas", "pan")),
    Action("remove_result", "Remove the selected result", ("Delete", "Backspace"),
           handler=("history", "remove")),
)
BY_ID = {row.id: row for row in TABLE}


def _shown(window: Window) -> Any:
    return window.current_result()


PREDICATES: dict[str, Callable[[Window], bool]] = {
    "has_result": lambda window: _shown(window) is not None,
    "shows_illusion": lambda window: _shown(window) is not None and is_illusion(
        _shown(window).parameters),
}


# --- keys -----------------------------------------------------------------------------------
def sequences(row: Action) -> list[QKeySequence]:
    """The row's keys as Qt binds them; a standard key brings all of the platform's bindings."""
    found: list[QKeySequence] = []
    for key in row.keys:
        found += QKeySequence.keyBindings(key) if isinstance(key, Std) else [QKeySequence(key)]
    return found


def key_names(row: Action) -> list[str]:
    """One name per key of the row, as a user reads it (a standard key: its first binding)."""
    return [QKeySequence(key).toString(QKeySequence.SequenceFormat.NativeText)
            for key in row.keys]


def key_text(action_id: str) -> str:
    """The keys of an action for a tooltip or a hint: "Ctrl+Shift+Z, Ctrl+Y"."""
    return ", ".join(key_names(BY_ID[action_id]))


def handler_keys(widget: str) -> dict[str, list[QKeySequence]]:
    """The keys `widget` ("canvas", "history") handles itself: what each does -> its keys."""
    return {row.handler[1]: sequences(row) for row in TABLE
            if row.handler and row.handler[0] == widget}


# --- building -------------------------------------------------------------------------------
def resolve(window: Window, path: str) -> Any:
    """`window`'s attribute at a dotted path ("canvas.fit")."""
    found = window
    for name in path.split("."):
        found = getattr(found, name)
    return found


def _slot(window: Window, callback: str | Callable[[Window], object]) -> Callable[[], object]:
    if isinstance(callback, str):
        method = resolve(window, callback)
        return lambda: method()  # never the `checked` argument of triggered
    return lambda: callback(window)


def _make(window: Window, row: Action) -> QAction:
    if row.source is None:
        return QAction(window)
    if isinstance(row.source, str):
        found = resolve(window, row.source)
        return found() if callable(found) else found
    return row.source(window, row)


def make_actions(window: Window) -> dict[str, QAction]:
    """Every row's QAction (made, or the one its widget made), with its text, keys, tip and
    callback; keyed by id. Rows that are submenus or a widget's own keys make none."""
    made = {}
    for row in TABLE:
        if row.submenu or row.handler:
            continue
        action = _make(window, row)
        action.setText(row.text)
        action.setShortcuts(sequences(row))
        if row.keys:
            action.setToolTip(f"{row.tip or row.plain} ({key_text(row.id)})")
        elif row.tip:
            action.setToolTip(row.tip)
        if row.callback is not None:
            action.triggered.connect(_slot(window, row.callback))
        made[row.id] = action
    return made


def rows_of(menu: str) -> list[Action]:
    return [row for row in TABLE if row.menu == menu]


def fill_menu(menu: QMenu, name: str, actions: dict[str, QAction]) -> dict[str, QMenu]:
    """Adds the table's items of the menu `name` to `menu`, in order; returns its submenus."""
    submenus = {}
    for row in rows_of(name):
        if row.separator and not menu.isEmpty():
            menu.addSeparator()
        if row.submenu:
            submenus[row.id] = menu.addMenu(row.text)
        else:
            menu.addAction(actions[row.id])
    return submenus


def build_menus(bar: QMenuBar, actions: dict[str, QAction]) -> dict[str, QMenu]:
    """The menu bar's menus in the table's order, by name, and their submenus, by id."""
    menus: dict[str, QMenu] = {}
    for name, title in MENUS:
        menus[name] = bar.addMenu(title)
        menus |= fill_menu(menus[name], name, actions)
    return menus


def refresh_enabled(window: Window, actions: dict[str, QAction]) -> None:
    """Enables each action whose row names a predicate as that predicate says: the one place."""
    for row in TABLE:
        if row.enabled and row.id in actions:
            actions[row.id].setEnabled(PREDICATES[row.enabled](window))
