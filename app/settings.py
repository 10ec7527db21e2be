"""The app's persistent settings: a small typed layer over QSettings.

Values are read defensively: a missing or malformed value (a hand-edited INI file, another
version's format) gives the default, never an exception. Tests pass their own QSettings, e.g.
`QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import QByteArray, QSettings

from engine.options import PRECISIONS

ORGANISATION = "DiffusionCanvas"
APPLICATION = "Diffusion Canvas"
MAX_RECENT = 10
MAX_MODELS = 20  # the models whose own run settings are remembered, most recent first
BRUSH_RANGE = (1, 2000)
DEFAULTS = {"model": "mnist", "device": "auto", "tool": "brush", "brush_size": 24,
            "hardness": 0.8, "precision": "auto", "offload": "none"}
OFFLOADS = ("none", "model", "sequential")
T = TypeVar("T")


class Settings:
    """Typed access to the settings; every setter writes through to QSettings at once."""

    def __init__(self, qsettings: QSettings | None = None) -> None:
        self.qsettings = qsettings if qsettings is not None else QSettings(ORGANISATION,
                                                                           APPLICATION)

    # --- generic ------------------------------------------------------------------------------
    def _read(self, key: str, default: T, convert: Callable[[object], T]) -> T:
        value = self.qsettings.value(key)
        if value is None:
            return default
        try:
            return convert(value)
        except (TypeError, ValueError, OverflowError):  # int(float("inf")): overflow
            return default

    def _write(self, key: str, value: object) -> None:
        self.qsettings.setValue(key, value)

    def sync(self) -> None:
        """Flushes to disk (QSettings also does this by itself, later)."""
        self.qsettings.sync()

    # --- run and tool settings ---------------------------------------------------------------
    @property
    def model(self) -> str:
        """The model last used; at first start the emoji cascade if it is bundled, else
        DEFAULTS' digit model (engine.models.registry.default_model)."""
        from engine.models.registry import default_model

        return self._read("run/model", default_model(), _text)

    @model.setter
    def model(self, value: str) -> None:
        self._write("run/model", str(value))

    @property
    def device(self) -> str:
        return self._read("run/device", DEFAULTS["device"], _text)

    @device.setter
    def device(self, value: str) -> None:
        self._write("run/device", str(value))

    @property
    def precision(self) -> str:
        return self._read("run/precision", DEFAULTS["precision"], _one_of(PRECISIONS))

    @precision.setter
    def precision(self, value: str) -> None:
        self._write("run/precision", _one_of(PRECISIONS)(value))

    @property
    def offload(self) -> str:
        return self._read("run/offload", DEFAULTS["offload"], _one_of(OFFLOADS))

    @offload.setter
    def offload(self, value: str) -> None:
        self._write("run/offload", _one_of(OFFLOADS)(value))

    @property
    def tool(self) -> str:
        return self._read("tools/tool", DEFAULTS["tool"], _text)

    @tool.setter
    def tool(self, value: str) -> None:
        self._write("tools/tool", str(getattr(value, "value", value)))  # str or a str Enum

    @property
    def brush_size(self) -> int:
        size = self._read("tools/brush_size", DEFAULTS["brush_size"], lambda v: int(float(v)))
        return min(max(size, BRUSH_RANGE[0]), BRUSH_RANGE[1])

    @brush_size.setter
    def brush_size(self, value: int) -> None:
        self._write("tools/brush_size", int(value))

    @property
    def hardness(self) -> float:
        value = self._read("tools/hardness", DEFAULTS["hardness"], float)
        return min(max(value, 0.0), 1.0) if value == value else DEFAULTS["hardness"]  # NaN

    @hardness.setter
    def hardness(self, value: float) -> None:
        self._write("tools/hardness", float(value))

    # --- folders and files -------------------------------------------------------------------
    def last_folder(self, kind: str = "open", *also: str) -> str:
        """The folder last used for `kind` ("open", "save", "export", "project", ...), else
        for the first of `also` that has one (an export starts beside the work's files), else
        the home folder."""
        for name in (kind, *also):
            folder = self._read(f"folders/{name}", "", _text)
            if folder and Path(folder).is_dir():
                return folder
        return str(Path.home())

    def set_last_folder(self, kind: str, path: str | os.PathLike[str]) -> None:
        """Remembers `path`'s folder for `kind`; a file's own folder is taken for a file."""
        p = Path(path)
        folder = p if p.is_dir() else p.parent
        self._write(f"folders/{kind}", str(folder.absolute()))

    def recent_files(self) -> list[str]:
        """Most recent first, at most MAX_RECENT, no duplicates."""
        files = self._read("files/recent", [], _json_strings)
        return _dedupe(files)[:MAX_RECENT]

    def add_recent_file(self, path: str | os.PathLike[str]) -> list[str]:
        """Puts `path` (made absolute) first; returns the new list."""
        files = _dedupe([_absolute(path), *self.recent_files()])[:MAX_RECENT]
        self._write("files/recent", json.dumps(files))
        return files

    def remove_recent_file(self, path: str | os.PathLike[str]) -> list[str]:
        key = _key(_absolute(path))
        files = [f for f in self.recent_files() if _key(f) != key]
        self._write("files/recent", json.dumps(files))
        return files

    def clear_recent_files(self) -> None:
        self._write("files/recent", "[]")

    # --- window ------------------------------------------------------------------------------
    @property
    def run_settings(self) -> dict[str, Any]:
        """The modes panel's settings at the last run or close (mode, prompts, strength...);
        the panel checks each value before it shows it."""
        return self._read("run/panel", {}, _json_object)

    @run_settings.setter
    def run_settings(self, value: dict[str, Any]) -> None:
        self._write("run/panel", json.dumps(value, default=str))

    def has_model_run_settings(self) -> bool:
        """Each model's settings were stored (by this version): False for a preference file
        from before they were kept per model, whose `run_settings` held the prompts too."""
        return self.qsettings.contains("run/models")

    def model_run_settings(self) -> dict[str, dict[str, Any]]:
        """Each model's own run settings (its prompts, guidance...) by `model_key`, most recent
        first; a damaged store gives none, a damaged entry is left out."""
        return self._read("run/models", {}, _json_models)

    def run_settings_for(self, spec: str) -> dict[str, Any]:
        """The run settings remembered for the model `spec` ({}: never used here)."""
        return dict(self.model_run_settings().get(model_key(spec), {}))

    def set_run_settings_for(self, spec: str, values: dict[str, Any]) -> None:
        """Remembers `values` for the model `spec`, as the most recent of MAX_MODELS."""
        key = model_key(spec)
        others = [(k, v) for k, v in self.model_run_settings().items() if k != key]
        kept = dict([(key, dict(values)), *others][:MAX_MODELS])
        self._write("run/models", json.dumps(kept, default=str))

    @property
    def training_settings(self) -> dict[str, Any]:
        """The Training panel's fields (kind, out folder, epochs...) at its last start or the
        window's close; the panel checks each value before it shows it."""
        return self._read("training/panel", {}, _json_object)

    @training_settings.setter
    def training_settings(self, value: dict[str, Any]) -> None:
        self._write("training/panel", json.dumps(value, default=str))

    def window_geometry(self) -> QByteArray | None:
        """What QWidget.saveGeometry() gave, for restoreGeometry(); None if never saved."""
        return self._read("window/geometry", None, _bytes)

    def set_window_geometry(self, data: QByteArray | bytes) -> None:
        self._write("window/geometry", QByteArray(data))

    def window_state(self) -> QByteArray | None:
        """What QMainWindow.saveState() gave, for restoreState(); None if never saved."""
        return self._read("window/state", None, _bytes)

    def set_window_state(self, data: QByteArray | bytes) -> None:
        self._write("window/state", QByteArray(data))


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"not text: {value!r}")
    return value


def _one_of(choices: tuple[str, ...]) -> Callable[[object], str]:
    def convert(value: object) -> str:
        if value not in choices:
            raise ValueError(f"{value!r} is not one of {choices}")
        return str(value)

    return convert


def _bytes(value: object) -> QByteArray | None:
    if isinstance(value, (QByteArray, bytes, bytearray)):
        data = QByteArray(value)
        return data if not data.isEmpty() else None
    raise TypeError(f"not bytes: {value!r}")


def _json_object(value: object) -> dict[str, Any]:
    data = json.loads(_text(value))
    if not isinstance(data, dict):
        raise ValueError("not an object")
    return data


def _json_models(value: object) -> dict[str, dict[str, Any]]:
    return {key: entry for key, entry in _json_object(value).items()
            if isinstance(key, str) and key and isinstance(entry, dict)}


def model_key(spec: str) -> str:
    """The name a model's settings are kept under: a bundled name or a Hugging Face id as it
    is, a folder by its absolute path (so "./run" and "/home/me/run" are one model)."""
    path = Path(spec).expanduser()
    if (os.sep in spec or "/" in spec or spec.startswith("~")) and path.is_dir():
        return _key(str(path.resolve()))
    return spec


def _json_strings(value: object) -> list[str]:
    items = json.loads(_text(value))
    if not isinstance(items, list):
        raise ValueError("not a list")
    return [item for item in items if isinstance(item, str) and item]


def _absolute(path: str | os.PathLike[str]) -> str:
    return os.path.abspath(os.fspath(path))


def _key(path: str) -> str:
    return os.path.normcase(os.path.normpath(path))


def _dedupe(paths: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for path in paths:
        if _key(path) not in seen:
            seen.add(_key(path))
            out.append(path)
    return out
