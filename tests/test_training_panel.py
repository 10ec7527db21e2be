"""The Training panel in the window: its sample grid fits the dock, its progress and ETA, the
status bar while it trains, and a new run's clean slate."""

import pytest
from PySide6.QtCore import QSize
from PySide6.QtGui import QColor, QImage
from test_app import RUN_TIMEOUT, open_window

from app.training_panel import SAMPLES_FILE, ScaledImage, TrainingPanel, eta_seconds, format_eta


@pytest.fixture
def window(qtbot, tiny_model, tmp_path):
    return open_window(qtbot, tiny_model, tmp_path / "window")


def big_grid(width: int = 1800, height: int = 400) -> QImage:
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(QColor(200, 200, 200))
    return image


def tiny_run(panel: TrainingPanel, out, epochs: int = 2, limit: int = 256) -> None:
    panel.set_settings(kind="time", out=str(out), epochs=epochs, batch_size=64, hidden=4,
                       lr=1e-3, seed=0, limit=limit, precision="fp32")


def test_a_grid_wider_than_the_dock_leaves_the_window_its_width(qtbot, window):
    window.resize(1280, 800)
    window.training_dock.show()
    window.training_dock.raise_()
    qtbot.wait(50)
    width, dock_width = window.width(), window.training_dock.width()
    window.training_panel._on_epoch(1, big_grid())
    qtbot.wait(100)
    assert window.width() == width, "the grid scales to the dock, not the dock to the grid"
    assert window.training_dock.width() == dock_width
    shown = window.training_panel.samples.shown_size()
    assert 0 < shown.width() <= window.training_dock.width()
    assert shown.height() * 1800 == pytest.approx(shown.width() * 400, abs=1800), "aspect kept"


def test_the_scaled_image_fits_its_box_and_keeps_small_grids_crisp(qtbot):
    label = ScaledImage()
    qtbot.addWidget(label)
    label.resize(300, 200)
    label.set_image(big_grid(1800, 400))
    assert label.shown_size() == QSize(300, 66)
    label.set_image(big_grid(28, 28))
    assert label.shown_size() == QSize(196, 196), "whole factors when scaling up (7 × 28)"
    assert label.minimumSizeHint().width() < 100
    label.set_image(None)
    assert label.shown_size() == QSize(0, 0)


def test_eta_from_the_rate_so_far():
    assert eta_seconds(done=10, total=110, elapsed_s=5.0) == pytest.approx(50.0)
    assert eta_seconds(done=0, total=100, elapsed_s=3.0) is None
    assert eta_seconds(done=100, total=100, elapsed_s=3.0) == 0.0
    assert format_eta(None) == ""
    assert format_eta(42.4) == "ETA 42 s"
    assert format_eta(125) == "ETA 2 min 05 s"
    assert format_eta(3 * 3600 + 60) == "ETA 3 h 01 min"


def test_training_shows_progress_eta_and_the_window_is_not_idle(qtbot, window, tmp_path):
    panel = window.training_panel
    window.training_dock.show()
    assert window.state_label.text() == "Idle"
    out = tmp_path / "run"
    tiny_run(panel, out, epochs=2, limit=256)  # 4 steps an epoch
    seen: list[tuple[str, str, str]] = []

    def watch() -> bool:
        if panel.state == "running":
            seen.append((window.state_label.text(), panel.progress.format(), panel.eta.text()))
        return panel.state != "running"

    assert panel.start()
    qtbot.waitUntil(watch, timeout=4 * RUN_TIMEOUT)
    assert panel.state == "finished", panel.status.text()
    assert seen, "steps were reported"
    assert all(state.startswith("Training") for state, _, _ in seen), seen
    assert any("ETA" in eta for _, _, eta in seen), seen
    assert any("Epoch 2/2" in fmt for _, fmt, _ in seen), seen
    assert panel.progress.maximum() == 4
    assert panel.progress.value() == 4, "the last epoch's bar is full"
    assert window.state_label.text() == "Idle", "idle again once training ends"
    assert panel.eta.text() == ""


def test_a_new_run_clears_the_previous_grid_and_a_resume_shows_its_own(qtbot, tmp_path):
    panel = TrainingPanel()
    qtbot.addWidget(panel)
    panel._on_epoch(3, big_grid(280, 28))
    assert panel.sample_image is not None
    out = tmp_path / "run"
    tiny_run(panel, out, epochs=1, limit=64)
    assert panel.start()
    assert panel.sample_image is None and panel.samples.image() is None, "the old grid is gone"
    qtbot.waitUntil(lambda: panel.state != "running", timeout=4 * RUN_TIMEOUT)
    assert panel.state == "finished", panel.status.text()
    assert (out / SAMPLES_FILE.format(epoch=1)).exists()
    other = TrainingPanel()
    qtbot.addWidget(other)
    other._on_epoch(7, big_grid(280, 28))
    other.set_settings(out=str(out), epochs=2)
    assert other.start(resume=True)
    shown = other.samples.image()
    assert shown is not None and shown.size() != QSize(280, 28), "the folder's own last grid"
    qtbot.waitUntil(lambda: other.state != "running", timeout=4 * RUN_TIMEOUT)
    assert other.state == "finished", other.status.text()


def test_start_over_a_trained_folder_names_the_panels_buttons_and_keeps_its_curve(qtbot, tmp_path):
    """Start on a folder that holds a run: the message names the panel's Resume and Out folder
    (not the command line's --resume / --out), and the folder's curve and grid stay shown."""
    panel = TrainingPanel()
    qtbot.addWidget(panel)
    out = tmp_path / "run"
    tiny_run(panel, out, epochs=1, limit=64)
    assert panel.start()
    qtbot.waitUntil(lambda: panel.state != "running", timeout=4 * RUN_TIMEOUT)
    assert panel.state == "finished", panel.status.text()
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=RUN_TIMEOUT)
    points, grid = len(panel.curve.points()), panel.samples.image()
    assert points > 0 and grid is not None
    assert not panel.start()
    text = panel.status.text()
    assert "Resume" in text and "Out folder" in text and "--" not in text, text
    assert len(panel.curve.points()) == points and panel.samples.image() is not None
    assert not panel.is_running()
    assert panel.resume_button.isEnabled() and panel.start_button.isEnabled()


def test_resume_of_a_finished_run_says_it_has_nothing_left_to_train(qtbot, tmp_path):
    panel = TrainingPanel()
    qtbot.addWidget(panel)
    out = tmp_path / "run"
    tiny_run(panel, out, epochs=1, limit=64)
    assert panel.start()
    qtbot.waitUntil(lambda: panel.state != "running", timeout=4 * RUN_TIMEOUT)
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=RUN_TIMEOUT)
    panel.start(resume=True)
    qtbot.waitUntil(lambda: panel.state != "running" and not panel.is_running(),
                    timeout=4 * RUN_TIMEOUT)
    assert "already finished" in panel.status.text(), panel.status.text()
    assert panel.progress.value() == panel.progress.maximum(), panel.progress.format()


def test_a_resume_inside_an_epoch_draws_the_steps_it_had_made(qtbot, tmp_path):
    """A run stopped at step 3 of epoch 1 has no loss.csv rows yet (they are written at the
    epoch's end) but keeps those losses in its state: the resumed curve began at step 4."""
    import pytest

    from engine.training.train import StopTraining, train

    panel = TrainingPanel()
    qtbot.addWidget(panel)
    out = tmp_path / "run"
    tiny_run(panel, out, epochs=1, limit=256)

    def stop_at_three(epoch: int, step: int, loss: float) -> None:
        if step == 3:
            raise StopTraining

    with pytest.raises(StopTraining):
        train(panel.config(), out, False, progress=False, on_step_end=stop_at_three)
    assert panel.start(resume=True)
    first = [step for step, _ in panel.curve.points()][:3]
    assert first == [1, 2, 3], panel.curve.points()
    qtbot.waitUntil(lambda: panel.state != "running" and not panel.is_running(),
                    timeout=4 * RUN_TIMEOUT)
    steps = [step for step, _ in panel.curve.points()]
    assert steps == sorted(set(steps)), "no step drawn twice"
