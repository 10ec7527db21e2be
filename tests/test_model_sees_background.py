"""'What the model sees' is worked out off the GUI thread (QA walk 7: a 9000 x 9000 image froze
the window for 3.5-5 s after every change), and it is exactly what a run gets."""

import sys
import threading
from pathlib import Path

import numpy as np
from PySide6.QtCore import QRect
from PySide6.QtGui import QColor, QImage

sys.path.insert(0, str(Path(__file__).parent))

from test_app import open_window  # noqa: E402

from app import model_sees  # noqa: E402
from app.qt_images import numpy_to_qimage, qimage_to_numpy, qimage_to_pil  # noqa: E402


def _argb(rgba: np.ndarray) -> QImage:
    return numpy_to_qimage(rgba).convertToFormat(QImage.Format.Format_ARGB32)


def test_the_region_read_from_the_bytes_equals_qts_conversion():
    g = np.random.default_rng(0)
    rgba = g.integers(0, 256, (37, 53, 4), dtype=np.uint8)  # alpha anywhere, 0 to 255
    image = _argb(rgba)
    for region in (QRect(0, 0, 53, 37), QRect(5, 3, 20, 30), QRect(40, 20, 13, 17)):
        ours = np.asarray(model_sees.region_rgb(image, region))
        qts = np.asarray(qimage_to_pil(image.copy(region), "RGB"))
        assert ours.shape == qts.shape and np.array_equal(ours, qts), region


class _State:
    size, channels, data_range = 28, 1, (-1.0, 1.0)


def test_the_caption_says_scaled_and_colour_made_grey():
    rgba = np.zeros((90, 120, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 220, 255
    snap = model_sees.take_snapshot(_argb(rgba), QRect(10, 0, 90, 90), _State())
    seen, caption = model_sees.what_the_model_sees(snap)
    assert seen.width() == 28 and seen.isGrayscale()
    assert caption == "28×28 grey (scaled from 90×90, colour made grey)"


def test_the_window_converts_on_another_thread_and_shows_only_the_newest(qtbot, tmp_path,
                                                                         monkeypatch):
    window = open_window(qtbot, "mnist", tmp_path / "window")
    qtbot.waitUntil(lambda: window.result_view.input_caption.text() != "", timeout=10_000)
    real = model_sees.what_the_model_sees
    gate, threads = threading.Event(), []

    def held(snap):
        threads.append(threading.current_thread())
        gate.wait(10)
        return real(snap)

    monkeypatch.setattr(model_sees, "what_the_model_sees", held)
    doc = window.session.document
    image = QImage(doc.image())
    image.fill(QColor(200, 30, 30))
    doc.set_image(image)
    window._update_model_input()  # the request returns at once, the conversion waits
    qtbot.waitUntil(lambda: len(threads) == 1)
    assert threads[0] is not threading.main_thread()
    qtbot.wait(50)  # the GUI thread runs meanwhile
    assert "colour made grey" not in window.result_view.input_caption.text()
    image.fill(QColor(90, 90, 90))
    doc.set_image(image)
    window._update_model_input()  # newer: the first answer must not be shown
    with qtbot.waitSignal(window.model_sees.ready, timeout=10_000) as shown:
        gate.set()
    assert shown.args[1] == window.session.model_input()[1]
    assert "colour made grey" not in shown.args[1], "the newest (grey) image's caption"
    seen, _ = window.session.model_input()
    assert np.array_equal(qimage_to_numpy(shown.args[0]), qimage_to_numpy(seen))
