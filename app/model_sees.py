"""'What the model sees': the document's region converted exactly as a run converts it, and a
caption saying what changed; worked out on a background thread for the window.

On a 9000 x 9000 image the conversion takes seconds, and the window redraws it after every
stroke, so the window takes a snapshot (a shared QImage: painting on the document afterwards
copies it, never changes it) and `ModelSeesWorker` converts it on its own thread, showing only
the newest request's answer. The region's pixels are read by Pillow from the image's bytes,
which lets the GUI thread run meanwhile (QImage's own conversions hold Python's lock).
"""

from __future__ import annotations

import contextlib
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from PySide6.QtCore import QObject, QRect, Signal
from PySide6.QtGui import QImage

from app.qt_images import pil_to_qimage, qimage_to_pil, raw_rows
from engine import images


@dataclass(frozen=True)
class InputSnapshot:
    """What the conversion needs, taken on the GUI thread."""

    image: QImage  # the whole document image, shared
    region: QRect
    size: int
    channels: int
    data_range: tuple[float, float]


def take_snapshot(image: QImage, region: QRect, state: Any) -> InputSnapshot:
    """A snapshot of `image` (QImage's copy constructor shares the pixels) for model `state`."""
    return InputSnapshot(QImage(image), QRect(region), int(state.size), int(state.channels),
                         tuple(state.data_range))


def region_rgb(image: QImage, region: QRect) -> Image.Image:
    """The region as an RGB Pillow image, alpha dropped as Qt's conversion to RGB888 drops it.
    An ARGB32 image is read straight from its bytes; any other format through Qt."""
    inside = region.intersected(image.rect())
    raw = raw_rows(image, QImage.Format.Format_ARGB32)
    if raw is None or sys.byteorder != "little" or inside.isEmpty():
        return qimage_to_pil(image.copy(region), "RGB")
    rows = raw[inside.top():inside.bottom() + 1]
    start = 4 * inside.left()
    part = np.ascontiguousarray(rows[:, start:start + 4 * inside.width()])
    rgb = Image.frombytes("RGB", (inside.width(), inside.height()), part, "raw", "BGRX")
    if inside == region:
        return rgb
    full = Image.new("RGB", (region.width(), region.height()), (0, 0, 0))  # as QImage.copy
    full.paste(rgb, (inside.left() - region.left(), inside.top() - region.top()))
    return full


def model_input(snap: InputSnapshot) -> torch.Tensor:
    """The region as a run's job gets it: [1, C, size, size] in the model's range."""
    return images.prepare_image(region_rgb(snap.image, snap.region), snap.size, snap.channels,
                                snap.data_range)


def what_the_model_sees(snap: InputSnapshot) -> tuple[QImage, str]:
    """The region as the model gets it, and a caption ("28×28 grey (scaled from 90×90, colour
    made grey)")."""
    region = region_rgb(snap.image, snap.region)
    x = images.prepare_image(region, snap.size, snap.channels, snap.data_range)
    seen = pil_to_qimage(images.to_pil(x, snap.data_range))
    notes = [images.size_note(region.size, snap.size)]  # the region is square: no crop
    if snap.channels == 1 and _has_colour(np.asarray(region)):
        notes.append("colour made grey")
    kind = "grey" if snap.channels == 1 else "colour"
    notes = [note for note in notes if note]
    return seen, f"{snap.size}×{snap.size} {kind}" + (f" ({', '.join(notes)})" if notes else "")


def _has_colour(rgb: np.ndarray) -> bool:
    return not (np.array_equal(rgb[..., 0], rgb[..., 1])
                and np.array_equal(rgb[..., 1], rgb[..., 2]))


class ModelSeesWorker(QObject):
    """Converts snapshots on one background thread; `ready` (on the GUI thread) carries the
    answer to the newest request only. A conversion that fails says why in the caption."""

    ready = Signal(object, str)  # QImage or None, caption
    _finished = Signal(int, object)  # request number, Future (from the worker thread)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-sees")
        self._latest = 0
        self._lock = threading.Lock()
        self._closed = False
        self._finished.connect(self._on_finished)

    def request(self, snap: InputSnapshot) -> None:
        with self._lock:
            if self._closed:
                return
            self._latest += 1
            number = self._latest
            future = self._pool.submit(self._convert_if_newest, number, snap)
        future.add_done_callback(lambda f: self._report(number, f))

    def _convert_if_newest(self, number: int, snap: InputSnapshot) -> tuple[QImage, str] | None:
        if number != self._latest:  # a newer request is queued: skip the work
            return None
        return what_the_model_sees(snap)

    def _report(self, number: int, future: Future) -> None:
        with contextlib.suppress(RuntimeError):  # the window is gone (quitting): nobody to tell
            self._finished.emit(number, future)

    def _on_finished(self, number: int, future: Future) -> None:
        if number != self._latest or future.cancelled():
            return
        error = future.exception()
        if error is not None:
            self.ready.emit(None, f"cannot show what the model sees: {error}")
            return
        answer = future.result()
        if answer is not None:
            self.ready.emit(*answer)

    def shutdown(self) -> None:
        """Drops queued requests and waits for the one running (at most one conversion)."""
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)
