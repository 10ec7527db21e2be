"""Does the Qt binding keep its references to None? Checked before the window opens.

A binding that drops a reference to None on calls that return nothing (PySide6-Essentials 6.12.0
does it on every such call on Python 3.10/3.11) makes the interpreter abort ("none_dealloc")
once None's count reaches zero: in real use, after some minutes of painting, with the work of
the session since its last autosave. A thousand-odd calls of the kinds the window makes all the
time show it at launch, in a few milliseconds, so the app can refuse with one message instead.
On Python 3.12+ None is immortal and the check has nothing to measure.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Sequence
from importlib import metadata

from PySide6.QtCore import QObject, QPoint, QRect, Signal
from PySide6.QtGui import QColor, QImage, QPainter

CALLS = 2000
# a sound binding loses none; a few transient holders can come and go between two counts
TOLERATED = 20
NONE_IS_IMMORTAL = sys.version_info >= (3, 12)


class _Sender(QObject):
    sent = Signal(object)


def _probes() -> list[Callable[[int], None]]:
    """Calls that return nothing, of the kinds the window makes all the time: a setter, a
    painter's drawing, a signal carrying None to a Python slot."""
    image = QImage(8, 8, QImage.Format.Format_ARGB32)
    point, obj, sender = QPoint(), QObject(), _Sender()
    sender.sent.connect(lambda _value: None)
    colour, rect = QColor(1, 2, 3), QRect(0, 0, 4, 4)

    def paint(_i: int) -> None:
        painter = QPainter(image)
        painter.fillRect(rect, colour)
        painter.end()

    return [lambda i: point.setX(i), lambda _i: obj.setObjectName("probe"),
            lambda _i: image.fill(colour), paint, lambda _i: sender.sent.emit(None)]


def references_lost(probes: Sequence[Callable[[int], None]] | None = None,
                    calls: int = CALLS) -> int:
    """How many references to None `calls` binding calls (spread over `probes`) lost; 0 where
    None is immortal. The garbage collector is held, since freeing a cycle that held None
    lowers the count as the binding's fault does."""
    if NONE_IS_IMMORTAL:
        return 0
    probes = list(probes or _probes())
    for i in range(len(probes) * 4):  # caches and first-call allocations before the count
        probes[i % len(probes)](i)
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        before = sys.getrefcount(None)
        for i in range(calls):
            probes[i % len(probes)](i)
        return before - sys.getrefcount(None)
    finally:
        if was_enabled:
            gc.enable()


def problem(lost: int | None = None) -> str | None:
    """One message when the binding loses references to None (None: sound)."""
    lost = references_lost() if lost is None else lost
    if lost <= TOLERATED:
        return None
    return (f"The Qt binding installed (PySide6-Essentials {_version()}) loses references to "
            f"None: {lost} over {CALLS} calls. On Python {sys.version_info.major}."
            f"{sys.version_info.minor} the app would abort after some minutes of use and lose "
            "the work since the last autosave, so it does not start. Install a sound release, "
            "as ./setup.sh does: pip install \"PySide6-Essentials>=6.6,<6.12\"")


def _version() -> str:
    try:
        return metadata.version("PySide6-Essentials")
    except metadata.PackageNotFoundError:
        import PySide6

        return getattr(PySide6, "__version__", "unknown")
