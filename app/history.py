"""The results of the runs this session (or project) kept: a list with change signals.

A `Result` is the image at the model's size, the parameters that made it (the same dict that
goes into an exported PNG's `parameters` chunk) and, optionally, the frames of its run.
`History` is the list; a view (widgets.history_strip) follows it through `added`, `removed`
and `cleared`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage, QUndoCommand

from app.session.modes import find_mode
from app.session.settings import live_steps_of, timesteps_ran

TITLE_KEYS = ("mode", "command")
SUMMARY_KEYS = ("mode", "command", "model", "prompt", "prompt2", "view", "seed", "index",
                "batch_seed", "guidance", "steps", "strength", "i_start", "sigma", "live_steps",
                "run_steps")
MAX_VALUE_CHARS = 80


@dataclass
class Result:
    """One kept result: `image` at model size, its `parameters`, the `frames` of its run."""

    image: QImage
    parameters: dict[str, Any] = field(default_factory=dict)
    frames: list[QImage] = field(default_factory=list)

    def title(self) -> str:
        """A short label: the mode, its key setting, the seed and the place in its batch,
        e.g. "sdedit i 9 · 42", "anagram 6/9 rot180 · 7 #2", "Live 10: sdedit i 3 · 42"."""
        p = self.parameters
        kind = next((str(p[k]) for k in TITLE_KEYS if p.get(k)), "result")
        parts = [kind, key_setting(p)]
        if p.get("seed") is not None:
            parts.append(f"· {p['seed']}")
        if isinstance(p.get("index"), int):
            parts.append(f"#{p['index'] + 1}")
        live = self.live_steps()
        if live is not None:  # first: the strip elides a long title at its end
            parts.insert(0, f"Live {live}:")
        return " ".join(part for part in parts if part)

    def live_steps(self) -> int | None:
        """The steps it ran on if a Live run made it (Live's schedule is coarser than Run's);
        None for a Run's result, or a Live one kept before the parameters recorded it."""
        ran = timesteps_ran(self.parameters)
        return ran - 1 if ran and live_steps_of(self.parameters) is not None else None

    def summary(self) -> str:
        """Its main parameters, one `key: value` per line (a tooltip)."""
        lines = [f"{self.image.width()} x {self.image.height()}"]
        for key in SUMMARY_KEYS:
            value = self.parameters.get(key)
            if value is not None and value != "":
                lines.append(f"{key}: {_short(value)}")
        if self.frames:
            lines.append(f"frames: {len(self.frames)}")
        return "\n".join(lines)

    def to_json(self, prefix: str) -> dict[str, Any]:
        """Its manifest entry: the parameters and the file names (under `prefix`) that
        `History.from_json` reads the image and frames back from."""
        return {
            "parameters": self.parameters,
            "image": f"{prefix}/image.png",
            "frames": [f"{prefix}/frame-{i:04d}.png" for i in range(len(self.frames))],
        }

    @classmethod
    def from_json(cls, entry: dict[str, Any], read: Callable[[str], QImage]) -> Result:
        """The result of a manifest entry; `read(name)` gives the image stored under `name`."""
        if not isinstance(entry, dict) or not isinstance(entry.get("image"), str):
            raise ValueError("a history entry has no image")
        parameters = entry.get("parameters") or {}
        frames = entry.get("frames") or []
        if not isinstance(parameters, dict) or not isinstance(frames, list):
            raise ValueError("a history entry has malformed parameters or frames")
        return cls(read(entry["image"]), dict(parameters), [read(str(n)) for n in frames])


def key_setting(p: dict[str, Any]) -> str:
    """What tells results of one mode apart: the prompt(s), the strength, the view (the mode's
    `key_parts` in app/session/modes.py); the prompt where those say nothing."""
    mode = find_mode(p.get("mode") or p.get("command"))

    def prompt(key: str) -> str:
        text = p.get(key)
        return "uncond." if text == "" else _short(text, 14) if text is not None else ""

    parts = {
        "prompt": lambda: prompt("prompt"),
        "prompts": lambda: f"{prompt('prompt')}/{prompt('prompt2')}",
        "view": lambda: str(p.get("view") or ""),
        "strength": lambda: f"i {p['i_start']}" if p.get("i_start") is not None else "",
    }
    shown = [parts[name]() for name in (mode.key_parts if mode else ())]
    return " ".join(text for text in shown if text) or prompt("prompt")


def _short(value: object, limit: int = MAX_VALUE_CHARS) -> str:
    text = str(value).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


class History(QObject):
    """An ordered list of `Result`s. Indices are positions; removing shifts the later ones."""

    added = Signal(int)  # the index of the new result (the last one, unless inserted)
    removed = Signal(int)  # the index the result had
    cleared = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._results: list[Result] = []
        self.generation = 0  # counts clears: an undo step of an earlier list no longer applies

    def __len__(self) -> int:
        return len(self._results)

    def __getitem__(self, index: int) -> Result:
        return self._results[index]

    def __iter__(self) -> Iterator[Result]:
        return iter(list(self._results))

    def results(self) -> list[Result]:
        return list(self._results)

    def append(self, result: Result) -> int:
        """Adds `result` at the end; returns its index."""
        self._results.append(result)
        index = len(self._results) - 1
        self.added.emit(index)
        return index

    def insert(self, index: int, result: Result) -> int:
        """Puts `result` at `index` (clamped to the list), the later ones shift; returns it."""
        index = max(0, min(index, len(self._results)))
        self._results.insert(index, result)
        self.added.emit(index)
        return index

    def remove(self, index: int) -> Result:
        """Removes and returns the result at `index` (IndexError if there is none)."""
        if not 0 <= index < len(self._results):
            raise IndexError(f"no result {index} (the history has {len(self._results)})")
        result = self._results.pop(index)
        self.removed.emit(index)
        return result

    def clear(self) -> None:
        self._results.clear()
        self.generation += 1
        self.cleared.emit()

    def replace(self, results: list[Result]) -> None:
        """Clears, then appends `results` (one `cleared`, then one `added` each)."""
        self.clear()
        for result in results:
            self.append(result)

    def to_json(self, prefix: str = "history") -> list[dict[str, Any]]:
        """The manifest entries of all results; result i's files go under `prefix/NNNN`."""
        return [r.to_json(f"{prefix}/{i:04d}") for i, r in enumerate(self._results)]

    @staticmethod
    def from_json(entries: list[dict[str, Any]], read: Callable[[str], QImage]) -> list[Result]:
        """The results of `to_json`'s entries; `read(name)` gives a stored image."""
        if not isinstance(entries, list):
            raise ValueError("the history is not a list")
        return [Result.from_json(entry, read) for entry in entries]


class RemoveResultCommand(QUndoCommand):
    """Removing result `index` as an undo step: undo puts that very result back where it was.
    Once the history has been cleared or replaced (a project opened) the step does nothing."""

    def __init__(self, history: History, index: int,
                 shown: Callable[[Result], None] | None = None) -> None:
        super().__init__(f"Remove result {index + 1}")
        self._history, self._index, self._shown = history, index, shown
        self._result = history[index]
        self._generation = history.generation

    def _applies(self) -> bool:
        if self._history.generation == self._generation:
            return True
        self.setObsolete(True)
        return False

    def redo(self) -> None:
        h, i = self._history, self._index
        if self._applies() and 0 <= i < len(h) and h[i] is self._result:
            h.remove(i)

    def undo(self) -> None:
        if self._applies():
            self._history.insert(self._index, self._result)
            if self._shown is not None:
                self._shown(self._result)
