"""Left by the seventh QA walk: a GIF export from the illusion viewer said nothing; a training
run that failed to start left its bar at "Epoch 1/20: 0%", and opening Training squeezed the
canvas to a strip; a model switch asked for during a run was silent until the run ended."""

from __future__ import annotations

import numpy as np
from PIL import Image
from test_app import RUN_TIMEOUT, make_window, open_window

from app.illusions import export_gif, open_anagram_viewer
from app.qt_images import numpy_to_qimage
from app.training_panel import TrainingPanel

ANAGRAM = {"mode": "anagram", "prompt": "6", "prompt2": "9", "view": "rot180"}


class OneAnswer:
    def __init__(self, path: str) -> None:
        self.path = path

    def save_path(self, parent, title, start, filters):
        return self.path


def _viewer(qtbot):
    image = numpy_to_qimage(np.random.default_rng(0).integers(0, 256, (28, 28), np.uint8))
    viewer = open_anagram_viewer(image, ANAGRAM, None)
    qtbot.addWidget(viewer)
    return viewer


def test_a_gif_export_says_where_it_went_in_the_viewer(qtbot, tmp_path):
    viewer = _viewer(qtbot)
    assert viewer.note.text() == ""
    out = export_gif(viewer, ANAGRAM, OneAnswer(str(tmp_path / "turns")))
    assert out == str(tmp_path / "turns.gif")
    with Image.open(out) as gif:
        assert gif.n_frames > 1
    assert viewer.note.text() == f"Exported {out}"
    (tmp_path / "a file").write_text("not a folder")
    assert export_gif(viewer, ANAGRAM, OneAnswer(str(tmp_path / "a file" / "x.gif"))) is None
    assert viewer.note.text() == "", "a failed export does not leave the last success's line"


def test_a_failed_start_puts_the_epoch_bar_back_and_says_why(qtbot, tmp_path):
    panel = TrainingPanel()
    qtbot.addWidget(panel)
    idle = panel.progress.format()
    (tmp_path / "a file").write_text("not a folder")
    panel.set_settings(out=str(tmp_path / "a file" / "run"), epochs=20, limit=64)
    with qtbot.waitSignal(panel.stateChanged, timeout=RUN_TIMEOUT,
                          check_params_cb=lambda state: state == "failed"):
        assert panel.start()
    qtbot.waitUntil(lambda: panel.start_button.isEnabled(), timeout=RUN_TIMEOUT)  # ended
    assert "Epoch" not in panel.progress.format()
    assert panel.progress.format().startswith(idle)
    assert panel.progress.value() == panel.progress.minimum()
    assert panel.status.text().startswith("Training failed: ") and "a file" in panel.status.text()
    assert not panel.stop_button.isEnabled() and not panel.is_running()
    assert panel.eta.text() == "" and panel.busy_text() == ""


def test_opening_training_leaves_the_canvas_its_width(qtbot, tmp_path):
    window = make_window(qtbot, None, tmp_path / "window")
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    before = window.canvas.width()
    window.training_dock.toggleViewAction().trigger()  # View > Training
    qtbot.waitUntil(lambda: window.training_panel.start_button.isVisible())
    qtbot.waitUntil(lambda: window.training_dock.geometry().left() >= 0)  # its tab in front
    assert window.canvas.width() >= before - 2
    assert window.canvas.width() >= 0.35 * window.width()
    window.modes_dock.raise_()  # the modes are one tab away
    qtbot.waitUntil(lambda: window.modes_dock.geometry().left() >= 0)
    assert window.modes.isVisible()


def test_a_switch_asked_during_a_run_is_said_at_once_and_happens_after_it(qtbot, tmp_path,
                                                                          tiny_model):
    window = open_window(qtbot, tiny_model, tmp_path / "window")
    s = window.session
    lines: list[str] = []
    s.status.connect(lines.append)
    window.modes.set_mode("sample")
    window.modes.steps.setValue(30)
    with qtbot.waitSignal(s.runner.finished, timeout=RUN_TIMEOUT):
        s.run_job()
        s.load_model("mnist-time")
        assert lines and lines[-1] == "Switching to mnist-time after this run (Esc cancels it)"
        assert window.statusBar().currentMessage() == lines[-1]
        assert s.model_state.spec == tiny_model, "the run keeps its model"
    assert s.history.results()[-1].parameters["model"] != "mnist-time"
    qtbot.waitUntil(lambda: s.model_state.spec == "mnist-time", timeout=RUN_TIMEOUT)
    assert window.model_label.text().startswith("Model: ")
    assert "mnist" in window.model_label.text() and tiny_model != "mnist-time"


def test_esc_after_asking_for_a_switch_cancels_the_run_and_the_switch_follows(qtbot, tmp_path,
                                                                              tiny_model):
    window = open_window(qtbot, tiny_model, tmp_path / "window")
    s = window.session
    window.modes.set_mode("sample")
    window.modes.steps.setValue(300)
    count = len(s.history.results())
    s.run_job()
    s.load_model("mnist-time")
    with qtbot.waitSignal(s.runner.cancelled, timeout=RUN_TIMEOUT):
        s.cancel_run()
    qtbot.waitUntil(lambda: s.model_state.spec == "mnist-time", timeout=RUN_TIMEOUT)
    assert len(s.history.results()) == count, "the cancelled run left no result"
