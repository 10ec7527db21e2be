"""Session 15's real-use fixes: each test failed before its fix."""

from __future__ import annotations

from test_app import make_window

from widgets.history_strip import MENU_ACTIONS


def test_the_second_result_button_says_it_applies_too_and_the_strip_says_the_same(qtbot,
                                                                                  tmp_path):
    window = make_window(qtbot, None, tmp_path / "w", check_recovery=False)
    view = window.result_view
    apply_text, input_text = view.apply_button.text(), view.input_button.text()
    assert apply_text.startswith("Apply") and input_text.startswith("Apply")
    assert input_text != apply_text and "edit" in input_text  # what it adds to Apply
    assert dict(MENU_ACTIONS)["useAsInputRequested"] == input_text


def test_a_stopped_training_run_says_the_step_its_checkpoint_holds(qtbot, tmp_path):
    """The label is redrawn every 10 steps and the step that stops the run is never
    reported, so "Stopped" once left the user a step or more behind what Resume continues."""
    from test_app import RUN_TIMEOUT

    from app.training_panel import TrainingPanel
    from engine.training.checkpoint import read_manifest

    panel = TrainingPanel()
    qtbot.addWidget(panel)
    out = tmp_path / "run"
    panel.set_settings(kind="class", out=str(out), epochs=2, batch_size=64, hidden=4, lr=1e-3,
                       seed=0, limit=1024, precision="fp32")  # 16 steps an epoch
    assert panel.start()

    def stop_at_5(step: int, *_) -> None:
        if step >= 5:
            panel.stop()

    panel.stepDone.connect(stop_at_5)
    qtbot.waitUntil(lambda: panel.state != "running", timeout=4 * RUN_TIMEOUT)
    assert panel.state == "stopped", panel.status.text()
    manifest = read_manifest(out)
    saved = manifest["epoch"] * 16 + manifest["step"]
    assert 5 <= saved < 16, manifest
    assert f"Stopped at step {saved} (epoch 1)" in panel.status.text()
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=RUN_TIMEOUT)


def test_edit_help_explains_each_mode_and_its_examples_parse(capsys):
    import shlex

    import pytest

    from app.cli import EDIT_EXAMPLES, EDIT_MODES, VIEWS, build_parser

    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["edit", "--help"])
    text = capsys.readouterr().out
    for mode in EDIT_MODES:
        assert f"\n  {mode} " in text, mode  # a line of its own under "modes:"
    assert text.count(", ".join(VIEWS[:3])) == 1, "the view list once, not once per --view"
    examples = [line.split("main.py ", 1)[1] for line in EDIT_EXAMPLES.splitlines()
                if "main.py edit" in line]
    assert {shlex.split(line)[1] for line in examples} == set(EDIT_MODES)
    for line in examples:
        args = parser.parse_args(shlex.split(line))
        assert args.command == "edit" and args.out


def test_switching_models_leaves_the_canvas_its_width(qtbot, tmp_path):
    from test_app import RUN_TIMEOUT, open_window

    window = open_window(qtbot, "mnist", tmp_path / "w")
    window.resize(1280, 800)
    qtbot.wait(100)
    widths = [(window.modes_dock.width(), window.canvas.width())]
    for spec in ("mnist-time", "mnist"):
        with qtbot.waitSignal(window.session.engine.modelLoaded, timeout=RUN_TIMEOUT):
            window.session.load_model(spec)
        qtbot.wait(100)
        widths.append((window.modes_dock.width(), window.canvas.width()))
    assert len(set(widths)) == 1, widths
