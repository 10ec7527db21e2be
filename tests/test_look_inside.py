"""Looking inside: the noise explorer, sweeps, the illusion viewers and the training panel."""

import numpy as np
import pytest
import torch
from PySide6.QtGui import QImage
from test_app import RUN_TIMEOUT, draw_digit, open_window, settings

from app.qt_images import numpy_to_qimage, qimage_to_numpy
from app.sweeps import COURSE_I_STARTS, clamp_i_starts
from app.training_panel import TrainingPanel
from engine import images
from engine.explore import figure_timesteps, nearest_index
from engine.training.checkpoint import read_config
from engine.views import VIEWS
from widgets.illusion_viewers import HYBRID_SIZES, AnagramViewer, HybridViewer, view_image


@pytest.fixture
def window(qtbot, tiny_model, tmp_path):
    w = open_window(qtbot, tiny_model, tmp_path / "window")
    draw_digit(w)
    return w


def grey(image: QImage) -> np.ndarray:
    return qimage_to_numpy(image, "L").astype(int)


def test_figure_timesteps_and_nearest_strided_index():
    assert figure_timesteps(300) == [75, 150, 225]
    assert figure_timesteps(999) == [250, 500, 749]
    ts = list(range(300, -1, -10))
    assert nearest_index(ts, 148) == ts.index(150)
    assert nearest_index(ts, 1) == len(ts) - 2, "never the last entry"
    assert clamp_i_starts(list(COURSE_I_STARTS), 8) == [1, 3, 5, 6]


def test_explorer_follows_the_slider_and_exports_the_course_rows(qtbot, window, tmp_path):
    explorer = window.explorer
    with qtbot.waitSignal(explorer.updated, timeout=RUN_TIMEOUT):
        window.show_explorer()
    assert explorer.view.slider.maximum() == 300, "t runs over the model's T"
    with qtbot.waitSignal(explorer.updated, timeout=RUN_TIMEOUT,
                          check_params_cb=lambda t: t == 40):
        explorer.set_t(40)
    low = grey(explorer.column("x_t"))
    with qtbot.waitSignals([explorer.updated, explorer.iterativeShown], timeout=RUN_TIMEOUT,
                           check_params_cbs=[lambda t: t == 250, lambda t: t == 250]):
        explorer.set_t(250)
    high = grey(explorer.column("x_t"))
    assert np.abs(high - low).mean() > 10, "more noise at t = 250 than at 40"
    assert not explorer.column("iterative").isNull()

    # the one-step column is x̂_0 = (x_t - sqrt(1 - ᾱ_t) ε) / sqrt(ᾱ_t) of the model
    with window.session.engine.lend_model() as model:  # the explorer's workers do not hold it now
        x_t = explorer.built().noisy(250)
        eps = model.predict(x_t, torch.tensor([250]), model.encode([""])).eps
        abar = model.schedule.abar(250)
    expected = np.asarray(images.to_pil((x_t - (1 - abar) ** 0.5 * eps) / abar ** 0.5),
                          dtype=int)
    assert np.abs(grey(explorer.column("one_step")) - expected).max() <= 1

    window.session.asker.paths = [str(tmp_path / "rows")]
    with qtbot.waitSignal(explorer.figureMade, timeout=RUN_TIMEOUT):
        explorer.view.export_button.click()
    figure = QImage(str(tmp_path / "rows.png"))
    assert not figure.isNull() and figure.height() > 3 * 112 and figure.width() > 5 * 112


def test_i_start_sweep_makes_six_labelled_results_in_the_history(qtbot, window, tmp_path):
    settings(window, "sdedit")
    window.modes.steps.setValue(0)  # the default schedule: 31 strided timesteps
    dialog = window.open_sweeps()
    before = len(window.session.history)
    sweep = dialog.run_sweep("i_start")
    assert sweep is not None
    qtbot.waitUntil(lambda: not sweep.active, timeout=4 * RUN_TIMEOUT)
    assert [item.label for item in sweep.items] == [f"i_start {i}" for i in COURSE_I_STARTS]
    assert all(item.image is not None for item in sweep.items)
    assert dialog.strip.labels() == sweep.labels()
    new = window.results[before:]
    assert [r.parameters["i_start"] for r in new] == list(COURSE_I_STARTS)
    assert all(r.parameters["mode"] == "sdedit" for r in new)
    assert dialog.export(str(tmp_path / "sweep.png"))
    strip = QImage(str(tmp_path / "sweep.png"))
    assert strip.width() > 6 * 112
    dialog.close()


def asymmetric(side: int = 28) -> QImage:
    a = np.zeros((side, side), np.uint8)
    a[2:10, 3:6] = 255  # a bar near the top left
    a[20:24, 18:26] = 128
    return numpy_to_qimage(a)


def test_anagram_viewer_shows_the_view_and_animates_the_turn(qtbot):
    image = asymmetric()
    pixels = torch.from_numpy(grey(image).astype(np.float32))[None]
    for name in ("flip", "mirror", "rot90", "rot180", "rot270", "transpose"):
        expected = VIEWS[name].apply(pixels)[0].numpy().astype(int)
        assert np.array_equal(grey(view_image(image, name)), expected), name
    viewer = AnagramViewer(image, "rot90", ("an old man", "people around a campfire"))
    qtbot.addWidget(viewer)
    viewer.show()
    expected = np.rot90(grey(image))
    assert np.array_equal(grey(viewer.viewed.image()), expected)
    start = grey(viewer.frame())
    seen: list[float] = []
    viewer.animation.valueChanged.connect(seen.append)
    viewer.turn()
    qtbot.waitUntil(lambda: viewer.progress == 1.0, timeout=5000)
    assert len(seen) > 2 and 0 < seen[len(seen) // 2] < 1, "it moved through the turn"
    end = grey(viewer.frame())
    assert not np.array_equal(start, end)
    turned = grey(viewer.viewed.image().scaled(224, 224))
    assert np.abs(end - turned).mean() < 20, "the turn ends on the view"


def test_hybrid_viewer_shows_sizes_and_both_filters(qtbot):
    viewer = HybridViewer(asymmetric(64), ("a lithograph of a skull", "waterfalls"))
    qtbot.addWidget(viewer)
    assert viewer.shown_sizes() == list(HYBRID_SIZES)
    assert not viewer.far.image().isNull() and not viewer.close_.image().isNull()
    assert grey(viewer.close_.image()).std() > 0


def test_anagram_result_opens_its_viewer_from_the_history(qtbot, window):
    with qtbot.waitSignal(window.session.engine.finished, timeout=RUN_TIMEOUT):
        window.session.run_job(settings(window, "anagram", prompt="3", prompt2="5", view="flip"))
    menu = window.history_strip.context_menu(len(window.session.history) - 1)
    next(a for a in menu.actions() if a.objectName() == "viewRequested").trigger()
    viewer = window.viewers[-1]
    assert isinstance(viewer, AnagramViewer) and viewer.view == "flip"
    assert np.array_equal(grey(viewer.viewed.image()), grey(window.session.history[-1].image)[::-1])


def test_training_panel_starts_stops_and_resumes(qtbot, tmp_path):
    panel = TrainingPanel()
    qtbot.addWidget(panel)
    out = tmp_path / "run"
    # 16 steps an epoch: the stop asked at step 17 has 15 steps of slack on a loaded machine
    panel.set_settings(kind="class", out=str(out), epochs=2, batch_size=64, hidden=4, lr=1e-3,
                       seed=0, limit=1024, precision="fp32")
    assert panel.start()
    def stop_at_17(step: int, *_) -> None:
        if step >= 17:
            panel.stop()

    panel.stepDone.connect(stop_at_17)
    qtbot.waitUntil(lambda: panel.state != "running", timeout=4 * RUN_TIMEOUT)
    assert panel.state == "stopped", panel.status.text()
    assert read_config(out)["epochs_done"] == 1, "the first epoch's checkpoint is kept"
    assert panel.sample_image is not None, "a sample grid at the end of epoch 1"
    stopped_at = len(panel.curve.points())
    assert stopped_at >= 17
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=RUN_TIMEOUT)  # as Resume waits
    panel.stepDone.disconnect(stop_at_17)
    assert panel.start(resume=True)
    qtbot.waitUntil(lambda: panel.state != "running", timeout=4 * RUN_TIMEOUT)
    assert panel.state == "finished", panel.status.text()
    assert read_config(out)["epochs_done"] == 2
    steps = [s for s, _ in panel.curve.points()]
    assert len(steps) >= 25 and steps[-1] == 32, "epoch 1 from loss.csv, then the rest"
    assert (out / "samples-epoch-2.png").exists()
    assert panel.load_button.isEnabled() and panel.load_into_canvas()


def test_closing_while_training_stops_cleanly(qtbot, window, tmp_path):
    panel = window.training_panel
    out = tmp_path / "run"
    panel.set_settings(kind="time", out=str(out), epochs=2, batch_size=64, hidden=4,
                       limit=256, precision="fp32")
    assert panel.start()
    qtbot.waitUntil(lambda: len(panel.curve.points()) >= 1, timeout=RUN_TIMEOUT)
    window.close()
    assert not panel.is_running(), "closing the window stops the run and waits for it"
    assert (out / "training_state.pt").exists(), "the mid-epoch state is kept"
    again = TrainingPanel()
    qtbot.addWidget(again)
    again.set_settings(out=str(out))
    assert again.start(resume=True), "it resumes from where the window closed"
    qtbot.waitUntil(lambda: again.state != "running", timeout=4 * RUN_TIMEOUT)
    assert again.state == "finished", again.status.text()
    assert read_config(out)["epochs_done"] == 2


def test_a_prompt_the_model_cannot_take_is_named_in_the_explorer(qtbot, window):
    window.modes.prompt.set_prompt("not a digit")
    explorer = window.explorer
    with qtbot.waitSignal(explorer.failed, timeout=RUN_TIMEOUT) as failed:
        window.show_explorer()
    assert "not a digit" in failed.args[0]
    assert explorer.view.status.text() == failed.args[0]
