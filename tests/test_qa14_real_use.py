"""Session 14's real-use fixes: each test failed before its fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor, QImage
from session_fakes import make_session
from test_app import RUN_TIMEOUT, make_window, open_window

from widgets.message_log import MessageDialog


def run(session, **settings):
    """One finished run of the fake engine with `settings` changed."""
    from app.session.jobs import JobKind

    job = session.run_job(session.settings.job_fields() | settings, JobKind.USER)
    assert job is not None, session.said
    session.engine.finish(1)
    return job


def open_image(window, path, size: int) -> None:
    image = QImage(size, size, QImage.Format.Format_RGB32)
    image.fill(QColor(0, 0, 0))
    image.save(str(path))
    assert window.session.open_path(str(path))


def test_the_brush_fits_an_opened_small_image_and_comes_back_on_a_large_one(qtbot, tmp_path):
    """A 28×28 digit opened with the 24 px brush was one dab from edge to edge; now the brush
    is at most an eighth of the image, and the size the user chose comes back on a larger one."""
    window = make_window(qtbot, None, tmp_path / "w", check_recovery=False)
    window.canvas.set_brush_size(24)
    open_image(window, tmp_path / "digit.png", 28)
    assert window.canvas.brush_size() == 3
    assert window.tool_options._size.value() == 3
    assert window.session.preferences.brush_size == 24
    open_image(window, tmp_path / "photo.png", 512)
    assert window.canvas.brush_size() == 24
    window.canvas.set_brush_size(40)  # the user's own choice is the preference
    assert window.session.preferences.brush_size == 40


def test_status_messages_are_kept_whole_in_view_messages(qtbot, tmp_path):
    """A status message was cut to the bar's width and gone after a few seconds; now View ▸
    Messages keeps each one whole, with its time, and the bar's tooltip holds the one shown."""
    window = make_window(qtbot, None, tmp_path / "w", check_recovery=False)
    long = "Live: tiny-if is loading: this runs once it is in " + "and more words " * 20
    window.session.status.emit(long)
    window.session.status.emit(long)  # said twice in a row: kept once
    window.statusBar().clearMessage()
    window.session.status.emit("Done in 1.0 s")
    assert "Done in 1.0 s" in window.statusBar().toolTip()
    action = next(a for a in window.menus["View"].actions() if a.text() == "Messa&ges…")
    action.trigger()
    dialog = window.findChild(MessageDialog)
    lines = dialog.text.toPlainText().splitlines()
    assert [line.split("  ", 1)[1] for line in lines] == [long.strip(), "Done in 1.0 s"]
    window.session.status.emit("Saved p.dcproj")
    assert dialog.text.toPlainText().splitlines()[-1].endswith("Saved p.dcproj")


def test_a_large_model_loads_after_the_one_loaded_is_let_go(qtbot, lone_if, tmp_path,
                                                            monkeypatch, if_environment):
    """A switch held both models while the new one loaded: real IF weights beside the old
    model needed twice the memory. Now a large load lets the loaded model go first."""
    from app import engine_thread
    from engine.models import registry

    monkeypatch.setattr(registry, "REPORT_FROM", 0)  # the tiny IF counts as large
    window = open_window(qtbot, "mnist", tmp_path / "w")
    worker = window.session.engine._worker
    held = []
    real_load = engine_thread.load_model
    monkeypatch.setattr(engine_thread, "load_model",
                        lambda *a, **k: held.append(worker.model) or real_load(*a, **k))
    with qtbot.waitSignal(window.session.engine.modelLoaded, timeout=RUN_TIMEOUT), \
            qtbot.waitSignal(window.session.engine.modelReleased, timeout=RUN_TIMEOUT) as let_go:
        window.session.load_model(str(lone_if))
    assert let_go.args == ["mnist"] and held == [None]
    assert window.session.model_state.name == "IF-I-tiny"


def test_a_large_load_that_fails_says_nothing_is_loaded(qtbot, tmp_path, monkeypatch):
    from app import engine_thread

    monkeypatch.setattr(engine_thread, "loading_note", lambda *a, **k: "loading it: needs a lot")
    window = open_window(qtbot, "mnist", tmp_path / "w")
    with qtbot.waitSignal(window.session.modelFailed, timeout=RUN_TIMEOUT) as failed:
        window.session.load_model(str(tmp_path / "no-such-model"))
    assert "Nothing is loaded: mnist was let go first" in failed.args[0]
    assert window.session.model_state is None
    assert window.model_label.text().startswith("No model loaded")


def test_before_the_first_model_is_in_the_prompt_boxes_say_it_is_loading(qtbot):
    """At launch the panel offered the digit model's "(unconditional)" for an emoji cascade
    still loading; now the prompt boxes are empty and say the model is on its way, and no
    empty prompt reaches the settings, which keep the user's last one."""
    from app.session import modes
    from app.session.settings import RunSettings, bind_panel
    from widgets.modes_panel import WAITING, ModesPanel

    panel = ModesPanel(modes=modes.MODES)
    qtbot.addWidget(panel)
    settings = RunSettings()
    bind_panel(settings, panel)
    settings.prompt = "red heart"
    panel.set_loading(True)
    assert not panel.prompt.isEnabled() and panel.prompt.currentText() == ""
    assert panel.prompt.lineEdit().placeholderText() == WAITING
    assert settings.prompt == "red heart"
    panel.set_model_info({"prompts": None, "free_text": True, "default_prompt": "grinning face",
                          "size": 32, "timesteps": 30})
    panel.set_loading(False)
    assert panel.prompt.isEnabled() and panel.prompt.currentText() == "grinning face"
    assert panel.prompt.lineEdit().placeholderText() == ""
    panel.set_loading(True)  # a switch: the last model's settings stay, to edit meanwhile
    assert panel.prompt.isEnabled() and panel.prompt.currentText() == "grinning face"


def test_quitting_says_the_results_in_history_are_lost_by_discard(qtbot, tiny_model, tmp_path):
    """Quitting an opened PNG with 2 results asked only "Save the changes to digit.png?"; a
    user who chose Discard (the file is an image, after all) lost every result unwarned. Now
    the question says Discard loses the results and Save keeps them in a project."""
    from test_app_flows import run as run_in

    window = open_window(qtbot, tiny_model, tmp_path / "w")
    open_image(window, tmp_path / "digit.png", 28)
    run_in(qtbot, window, prompt="2")
    run_in(qtbot, window, prompt="3")
    asker = window.session.asker
    asker.unsaved = "cancel"
    assert not window.close()
    assert asker.details[-1].startswith("Discard loses all 2 results in History.")
    assert "project (.dcproj)" in asker.details[-1]
    doc = window.session.document  # a canvas edit joins the list
    doc.begin_stroke("brush", QPointF(14, 2), 3, 0.8, QColor(255, 255, 255))
    doc.stroke_to(QPointF(14, 25))
    doc.end_stroke()
    assert not window.close()
    assert asker.details[-1].startswith("Discard loses the canvas's edits and all 2 results")
    asker.unsaved = "discard"
    assert window.close()


def test_applying_an_inpainting_changes_only_the_masked_pixels(qtbot, tiny_model, tmp_path):
    """Apply to canvas pasted an inpainting's whole 28×28 result over the region, turning the
    smooth drawing outside the mask into blocks; the mode says "the rest is kept", and now it
    is, at full resolution."""
    import numpy as np
    from test_app import draw_digit, paint_mask
    from test_app_flows import run as run_in

    from app.document import image_array

    window = open_window(qtbot, tiny_model, tmp_path / "w")
    draw_digit(window)
    paint_mask(window)
    doc = window.session.document
    before = image_array(doc.image()).copy()
    run_in(qtbot, window, mode="inpaint")
    window.session.apply_result()
    after = image_array(doc.image())
    region = doc.region()
    rows = slice(region.top(), region.bottom() + 1)
    cols = slice(region.left(), region.right() + 1)
    outside = image_array(doc.region_mask()) == 0
    assert np.array_equal(after[rows, cols][outside], before[rows, cols][outside])
    inside = image_array(doc.region_mask()) == 255
    assert inside.sum() > 100 and not np.array_equal(after[rows, cols][inside],
                                                     before[rows, cols][inside])
    window.session.document.undo_stack.undo()
    assert np.array_equal(image_array(doc.image()), before), "one undo step"


def test_steps_stop_at_the_models_timesteps(qtbot, tiny_model, tmp_path):
    """1000 steps typed on a 300-step digit model showed 1000 while the run did 300; now the
    box stops at the model's timesteps and says why in its tooltip."""
    window = open_window(qtbot, tiny_model, tmp_path / "w")
    top = window.session.model_state.top
    steps = window.modes.steps
    assert steps.maximum() == top + 1
    steps.setValue(1000)
    assert steps.value() == top + 1 and str(top + 1) in steps.toolTip()


def test_the_apps_messages_for_a_missing_prompt_speak_of_its_boxes(qapp, tmp_path):
    """The anagram's refusal sent GUI users to "the command line's --prompt"; now it names
    the box only, and the app's errors start with a capital like its other messages."""
    session = make_session(tmp_path / "s")
    session.settings.mode = "anagram"
    session.settings.prompt = ""
    assert session.run_job(session.settings.job_fields()) is None
    message = session.said[-1][1]
    assert message == ("Visual anagram needs a prompt for its 'Upright' image: choose or type "
                       "one in the Upright box")
    session.settings.mode = "inpaint"
    assert session.run_job(session.settings.job_fields()) is None
    assert session.said[-1][1].startswith("The mask is empty")


def test_a_project_saved_with_random_seeds_reopens_with_random_ticked(qapp, tmp_path):
    """A project saved with "random" ticked reopened unticked on its last seed, and the first
    Run ticked it again; now the box reopens as it was saved, ticked or not."""
    for random_seed in (True, False):
        first = make_session(tmp_path / f"a{random_seed}")
        first.settings.seed = 1234
        first.settings.random_seed = random_seed
        path = str(tmp_path / f"p{random_seed}.dcproj")
        assert first.save_to(path)
        again = make_session(tmp_path / f"b{random_seed}")
        again.settings.random_seed = True
        assert again.open_path(path)
        assert again.settings.random_seed is random_seed and again.settings.seed == 1234
        assert not again.settings.seed_once


def test_undo_and_redo_say_which_step_they_took(qtbot, tiny_model, tmp_path):
    """After Ctrl+Z brought a removed result back the bar still said "Removed result 2: …";
    now Undo and Redo each say the step they took."""
    from test_app_flows import run as run_in

    window = open_window(qtbot, tiny_model, tmp_path / "w")
    run_in(qtbot, window, prompt="2")
    run_in(qtbot, window, prompt="3")
    window.session.remove_result(1)
    assert window.statusBar().currentMessage().startswith("Removed result 2")
    window._actions["undo"].trigger()
    assert len(window.session.history) == 2
    assert window.statusBar().currentMessage() == "Undid: Remove result 2"
    window._actions["redo"].trigger()
    assert len(window.session.history) == 1
    assert window.statusBar().currentMessage() == "Redid: Remove result 2"


def test_opening_an_image_says_so(qtbot, tmp_path):
    """File ▸ Open of an image left the bar and View ▸ Messages empty; a project said
    "Opened …". Now an image does too, with its size."""
    window = make_window(qtbot, None, tmp_path / "w", check_recovery=False)
    open_image(window, tmp_path / "digit.png", 28)
    said = f"Opened {tmp_path / 'digit.png'} (28 × 28)"
    assert window.statusBar().currentMessage() == said
    assert window.messages.lines()[-1].endswith(said)


def test_an_export_starts_beside_the_project_before_any_export(qapp, tmp_path):
    """Export result… opened in the home folder while Open project… opened beside the saved
    project; a first export now starts where the work is, and later ones where the last went."""
    from PySide6.QtCore import QSettings

    from app.settings import Settings

    settings = Settings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    (tmp_path / "work").mkdir()
    (tmp_path / "out").mkdir()
    settings.set_last_folder("project", tmp_path / "work" / "p.dcproj")
    assert settings.last_folder("export", "project", "open") == str(tmp_path / "work")
    settings.set_last_folder("export", tmp_path / "out" / "r.png")
    assert settings.last_folder("export", "project", "open") == str(tmp_path / "out")
    assert settings.last_folder("model") != str(tmp_path / "work"), "only the kinds named"


def test_export_result_opens_beside_the_saved_project(qapp, tmp_path):
    from pathlib import Path

    from app.session.asker import ExportChoice
    from app.session.jobs import JobKind

    session = make_session(tmp_path / "s")
    (tmp_path / "work").mkdir()
    assert session.save_to(str(tmp_path / "work" / "p.dcproj"))
    assert session.run_job(session.settings.job_fields(), JobKind.USER) is not None
    session.engine.finish(1)
    session.asker.export = ExportChoice()
    assert not session.export_dialog(session.history[0])  # the dialog is cancelled
    assert Path(session.asker.starts[-1]).parent == tmp_path / "work"


def test_a_live_result_needs_no_more_height_in_the_result_column(qtbot):
    """Live's Keep button took a row of its own and pushed "What the model sees" out of the
    column (a scroll bar, its caption cut); it now sits beside Export."""
    from PySide6.QtGui import QImage

    from app.results_view import ResultsView

    view = ResultsView()
    qtbot.addWidget(view)
    view.show()
    body = view.keep_button.parentWidget()
    view.show_live_preview(QImage(28, 28, QImage.Format.Format_Grayscale8), 10)
    assert view.keep_button.isVisibleTo(view)
    with_keep = body.sizeHint().height()
    view.keep_button.hide()
    assert body.sizeHint().height() == with_keep
    view.keep_button.show()
    body.layout().activate()
    assert view.keep_button.geometry().top() == view.export_button.geometry().top()


def test_the_tool_bar_keeps_its_height_for_every_tool(qtbot):
    """With the Region tool (no options) the bar got 2 px shorter and every panel moved."""
    from widgets.tool_options import ToolOptions

    bar = ToolOptions()
    qtbot.addWidget(bar)
    bar.show()
    heights = set()
    for tool in ("brush", "eraser", "mask", "mask_eraser", "region"):
        bar.set_tool(tool)
        bar.layout().activate()
        heights.add(max(bar.minimumSizeHint().height(), bar.minimumHeight()))
    assert len(heights) == 1


def test_a_reopened_project_shows_the_result_it_showed_when_saved(qapp, tmp_path):
    """Reopening selected the newest result, not the one the user had selected and saved."""
    session = make_session(tmp_path / "s")
    for seed in (1, 2, 3):
        run(session, seed=seed)
    session.show_result(session.history[0])
    path = str(tmp_path / "p.dcproj")
    assert session.save_to(path)
    again = make_session(tmp_path / "t")
    assert again.open_path(path)
    assert again.shown_result.parameters["seed"] == 1


def test_painting_a_mask_clears_the_line_that_said_it_was_empty(qtbot, tiny_model, tmp_path):
    """After painting the mask the bar still read "Cannot run: The mask is empty…"."""
    from test_app import paint_mask
    from test_app_flows import settings as settings_of

    window = open_window(qtbot, tiny_model, tmp_path / "w")
    assert window.session.run_job(settings_of(window, "inpaint")) is None
    assert "The mask is empty" in window.statusBar().currentMessage()
    paint_mask(window)
    assert window.statusBar().currentMessage() == ""


def test_opening_an_image_asks_only_about_the_canvas_which_is_all_it_replaces(
        qtbot, tiny_model, tmp_path):
    """Open… over 8 results said Discard loses them, yet the History stayed; an opened image
    replaces the canvas only, so only canvas edits are asked about."""
    from test_app_flows import run as run_in

    window = open_window(qtbot, tiny_model, tmp_path / "w")
    run_in(qtbot, window, prompt="2")
    asker = window.session.asker
    open_image(window, tmp_path / "a.png", 28)  # results only: nothing to lose, no question
    assert asker.details == [] and len(window.session.history) == 1
    doc = window.session.document
    doc.begin_stroke("brush", QPointF(14, 2), 3, 0.8, QColor(255, 255, 255))
    doc.stroke_to(QPointF(14, 25))
    doc.end_stroke()
    asker.unsaved = "discard"
    open_image(window, tmp_path / "b.png", 28)
    assert asker.details == ["Discard loses the canvas's edits. Save keeps the canvas and the "
                             "History in a project (.dcproj), which Open brings back as it was."]
    assert len(window.session.history) == 1


def test_without_a_display_the_app_says_so_in_one_line():
    """With no DISPLAY the app aborted (rc 134) with Qt's note about an xcb-cursor plugin."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from app.main_window import no_display

    assert "no display" in no_display({}, "linux")
    assert no_display({"DISPLAY": ":0"}, "linux") == ""
    assert no_display({"WAYLAND_DISPLAY": "wayland-0"}, "linux") == ""
    assert no_display({"QT_QPA_PLATFORM": "offscreen"}, "linux") == ""
    assert no_display({}, "darwin") == "" and no_display({}, "win32") == ""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    done = subprocess.run([sys.executable, "main.py"], env=env, capture_output=True, text=True,
                          timeout=120, cwd=str(Path(__file__).parents[1]))
    assert done.returncode == 1
    assert done.stderr.strip().startswith("Diffusion Canvas: no display")
    assert "xcb" not in done.stderr


def test_the_class_model_answers_to_the_name_about_and_models_show(tmp_path):
    """About and `models` show the bundled class model as mnist-class, and `sample --model
    mnist-class` said there is no such model."""
    from app.cli import main
    from engine.models.registry import resolve_folder

    assert resolve_folder("mnist-class") == resolve_folder("mnist")
    assert main(["sample", "--model", "mnist-class", "--prompt", "3", "-n", "1", "--steps", "2",
                 "--out", str(tmp_path / "s")]) == 0
    assert (tmp_path / "s" / "sample-000.png").is_file()


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_sample_refuses_an_unwritable_out_before_it_samples(monkeypatch, capsys):
    """As root (or on /sys, a read-only mount) --out passed the mode-bit check, and the
    error came after the whole run."""
    from app.cli import main
    from app.commands import sample

    def no_model(*_a, **_k):
        raise AssertionError("sampled before checking --out")

    monkeypatch.setattr(sample, "model_from_args", no_model)
    assert main(["sample", "-n", "1", "--out", "/proc/diffusion-canvas-out"]) == 1
    assert "cannot write --out /proc/diffusion-canvas-out" in capsys.readouterr().err


def test_one_sample_and_one_epoch_are_singular(tmp_path, capsys):
    """"wrote 1 samples and grid.png", "Finished 1 epochs"."""
    from app.cli import main
    from app.words import counted

    assert (counted(1, "epoch"), counted(0, "epoch"), counted(3, "sample")) == (
        "1 epoch", "0 epochs", "3 samples")
    assert main(["sample", "-n", "1", "--steps", "2", "--out", str(tmp_path / "s")]) == 0
    assert f"wrote 1 sample and grid.png to {tmp_path / 's'}" in capsys.readouterr().out


def test_edit_says_when_it_writes_over_an_earlier_file(tmp_path, capsys):
    """edit --out over an existing file replaced it without a word."""
    from app.cli import main

    image = tmp_path / "digit.png"
    QImage(28, 28, QImage.Format.Format_Grayscale8).save(str(image))
    out = tmp_path / "keep.png"
    args = ["edit", "sdedit", "--image", str(image), "--i-start", "2", "--steps", "4",
            "--out", str(out)]
    assert main(args) == 0
    assert "replaced" not in capsys.readouterr().err
    assert main(args) == 0
    assert f"note: replaced the earlier {out}" in capsys.readouterr().err


def test_a_sweep_says_which_i_starts_it_moved_to_the_models_end(qtbot, tiny_model, tmp_path):
    """Values 99999 ran as one tile "i_start 29" with no word; the CLI refuses it."""
    from test_app_flows import settings as settings_of

    window = open_window(qtbot, tiny_model, tmp_path / "w")
    settings_of(window, "sdedit")
    dialog = window.open_sweeps()
    dialog.set_kind("i_start")
    dialog.values.setText("3, 99999")
    sweep = dialog.run_sweep()
    assert sweep is not None
    assert "i_start 99999 is outside this model's 0–" in dialog.status.text()
    qtbot.waitUntil(lambda: not sweep.active, timeout=4 * RUN_TIMEOUT)
    assert dialog.status.text().startswith("Done") and "99999" in dialog.status.text()
    dialog.close()


def test_edit_says_how_it_fitted_an_image_of_another_size(tmp_path, capsys):
    """A 1×1 or 300×200 image became a 28×28 result without a word (the app says it)."""
    from app.cli import main
    from engine.images import size_note

    assert size_note((28, 28), 28) == ""
    assert size_note((300, 200), 28) == "scaled from 300×200, its centre square"
    image = tmp_path / "wide.png"
    QImage(300, 200, QImage.Format.Format_RGB32).save(str(image))
    assert main(["edit", "sdedit", "--image", str(image), "--i-start", "2", "--steps", "4",
                 "--out", str(tmp_path / "o.png")]) == 0
    assert (f"note: the model sees {image} as 28×28 (scaled from 300×200, its centre square)"
            in capsys.readouterr().err)


@pytest.mark.parametrize(("extra", "said"), [
    (["--frames", "f.gif", "--frames-scale", "0"],
     "error: --frames-scale must be a whole number from 1 to 64 (not '0')"),
    (["--strength", "0.5", "--i-start", "3"],
     "error: --i-start and --strength cannot be given together: choose one"),
])
def test_these_mistakes_are_one_line_like_the_others(tmp_path, capsys, extra, said):
    """They printed the whole usage (25 lines) and exited 2; every other bad value is one
    error line and exit 1."""
    from app.cli import main

    args = ["edit", "sdedit", "--image", "x.png", "--out", str(tmp_path / "o.png"), *extra]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.strip() == said


def test_a_loss_curve_of_one_point_shows_it(qtbot):
    """A run stopped after one step drew empty axes: a one-point polyline paints nothing."""
    from PySide6.QtGui import QColor

    from widgets.loss_curve import LossCurve

    curve = LossCurve()
    qtbot.addWidget(curve)
    curve.resize(300, 160)
    curve.add_point(1, 1.319)
    picture = curve.grab().toImage()
    blue = QColor(31, 119, 180)
    assert any(picture.pixelColor(x, y) == blue
               for x in range(picture.width()) for y in range(picture.height()))


def test_an_unconditional_model_greys_out_the_two_prompt_modes(qtbot):
    """With mnist-time the anagram and hybrid were offered, and Run then said no."""
    from app.session import modes
    from widgets.modes_panel import ModesPanel

    panel = ModesPanel(modes=modes.MODES)
    qtbot.addWidget(panel)
    item = {panel.mode.itemData(i): panel.mode.model().item(i) for i in range(panel.mode.count())}
    panel.set_model_info({"conditional": False, "timesteps": 30, "size": 28})
    assert not item["anagram"].isEnabled() and not item["hybrid"].isEnabled()
    assert "unconditional" in item["anagram"].toolTip()
    assert item["sdedit"].isEnabled() and item["sample"].isEnabled()
    panel.set_model_info({"conditional": True, "timesteps": 30, "size": 28})
    assert item["anagram"].isEnabled() and item["hybrid"].isEnabled()


def test_a_long_reason_for_no_model_leaves_the_bar_room_for_messages(qtbot, tmp_path):
    """"No model loaded (no model 'nosuch': not a bundled name (mnist, …), not" filled the
    bar and cut its message to "Ca..."; the line is short now, all of it in the tooltip."""
    window = make_window(qtbot, None, tmp_path / "w", check_recovery=False)
    reason = ("no model 'nosuch': not a bundled name (mnist, mnist-time, mnist-denoiser, "
              "emoji), not a folder, and not in the local Hugging Face cache")
    window.status_line.show_no_model(reason)
    text = window.model_label.text()
    assert text == "No model loaded (no model 'nosuch'). Use the Model menu"
    assert window.model_label.toolTip() == reason
    window.status_line.show_no_model("x" * 200)
    assert len(window.model_label.text()) < 90


def test_sample_edit_and_reproduce_take_threads(tmp_path, capsys):
    """Only train took --threads: reproduce used every core beside another job."""
    import torch

    from app.cli import build_parser, main

    before = torch.get_num_threads()
    try:
        assert main(["sample", "-n", "1", "--steps", "2", "--threads", "1",
                     "--out", str(tmp_path / "s")]) == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    parser = build_parser()
    for argv in (["edit", "sdedit"], ["reproduce", "part-a"]):
        args = parser.parse_args([*argv, "--out", "o", "--threads", "2"])
        assert args.threads == 2
    capsys.readouterr()


def test_a_quoted_licence_wraps_to_the_about_dialog(qtbot):
    """The MIT notice, an indented block hard-wrapped at ~90 characters, wrapped twice in
    About ("a copy of / this"); its paragraphs are quoted prose now."""
    from app.about import reflow_quoted

    text = "under the MIT License:\n\n    Copyright (c) 2017\n\n    Permission is hereby\n" \
           "    granted, free of charge.\n\nAfter."
    assert reflow_quoted(text) == ("under the MIT License:\n\n> Copyright (c) 2017\n\n"
                                   "> Permission is hereby granted, free of charge.\n\nAfter.")
