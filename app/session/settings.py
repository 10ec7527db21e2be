"""The run settings as observable properties. They move here from the modes panel's widgets one
at a time (issue 13); the window binds each to its widget. For now: the mode."""

from __future__ import annotations

from PySide6.QtCore import QObject

from app.session.modes import DEFAULT, KEYS, is_mode
from app.session.properties import Binding, Observable, Property, bind_combo


def known_mode(key: str) -> str:
    if not is_mode(key):
        raise ValueError(f"unknown mode {key!r}; choose from {', '.join(KEYS)}")
    return key


class RunSettings(Observable):
    """What the next run is made of. `mode` is remembered (the panel saves it today)."""

    mode = Property(DEFAULT, persist=True, check=known_mode)


def bind_mode(settings: RunSettings, combo: QObject) -> Binding:
    """The mode both ways with a combo box whose items' data are the mode keys."""
    return bind_combo(settings, "mode", combo)
