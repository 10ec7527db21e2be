"""Edits made while a model loads (QA 12): at launch the panel can be used before the model is
in, and its arrival restored the last launch's settings over what the user had just typed or
set; a file opened at launch then replaced them once more. An edit made during the wait now
stays: the model's settings and a file's opened before it go in first, then the edit."""

from __future__ import annotations

from pathlib import Path

from app.session import modes
from app.session.settings import bind_panel
from tests.session_fakes import make_session, model_state
from tests.test_qa11_launch import MODELS_OWN, RUN_PNG, last_launch, png_of
from widgets.modes_panel import ModesPanel


def launching(folder: Path, model: str = "mnist"):
    """A session at launch: the last launch's preferences, its model still on the way."""
    last_launch(folder / "settings.ini", model)
    return make_session(folder, model, load=False)


def test_edits_in_the_panel_at_launch_survive_the_models_arrival(qtbot, tmp_path):
    session = launching(tmp_path)
    panel = ModesPanel(modes=modes.MODES)
    qtbot.addWidget(panel)
    bind_panel(session.settings, panel)
    assert session.model.busy()
    panel.guidance.setValue(4.5)
    panel.steps.setValue(12)
    panel.live_steps.setValue(7)
    session.engine.answer_load()
    s = session.settings
    assert (s.guidance, s.steps, s.live_steps) == (4.5, 12, 7), "the user's, not the last launch's"
    assert (panel.guidance.value(), panel.steps.value(), panel.live_steps.value()) == (4.5, 12, 7)
    assert s.prompt == MODELS_OWN["prompt"], "what was not touched comes from the last launch"


def test_an_edit_after_a_launch_file_goes_in_after_the_files_settings(tmp_path):
    session = launching(tmp_path)
    assert session.open_path(str(png_of(tmp_path / "run.png", "mnist", **RUN_PNG)))
    session.settings.guidance = 4.5
    session.engine.answer_load()
    s = session.settings
    assert (s.prompt, s.steps, s.i_start(), s.seed) == ("7", 20, 10, 4242), "the file's"
    assert s.guidance == 4.5, "edited after the file was opened"


def test_a_file_opened_after_an_edit_has_the_last_word(tmp_path):
    session = launching(tmp_path)
    session.settings.guidance = 4.5
    assert session.open_path(str(png_of(tmp_path / "run.png", "mnist", **RUN_PNG)))
    session.engine.answer_load()
    assert session.settings.guidance == RUN_PNG["guidance"]


def test_the_latest_of_several_edits_is_the_one_kept(tmp_path):
    session = launching(tmp_path)
    for value in (2.0, 3.5, 8.0):
        session.settings.guidance = value
    session.engine.answer_load()
    assert session.settings.guidance == 8.0


def test_a_prompt_at_launch_the_model_does_not_take_leaves_its_own(tmp_path):
    session = launching(tmp_path)
    session.settings.prompt = "a red heart"  # typed for another model
    session.engine.answer_load()
    assert session.settings.prompt == MODELS_OWN["prompt"]
    assert session.lines[-1] == ("'a red heart', typed while mnist loaded, is not a prompt it "
                                 "takes: it keeps '1'"), "said, not dropped in silence"


def test_during_a_switch_a_shown_models_own_edit_stays_that_models(tmp_path):
    """The panel shows the model switched from: its guidance edited then is its own (kept for
    it); the model switched to brings its own. A shared setting edited then stays."""
    session = make_session(tmp_path / "s", "mnist")
    s = session.settings
    session.load_model("mnist-b")
    s.guidance, s.mode, s.live_steps = 6.5, "sdedit", 5
    session.engine.answer_load()
    assert s.guidance == model_state().default_guidance, "mnist-b's own (its default)"
    assert (s.mode, s.live_steps) == ("sdedit", 5)
    assert session.preferences.run_settings_for("mnist")["guidance"] == 6.5


def test_a_shared_edit_after_a_file_opened_during_a_switch_stays(tmp_path):
    session = make_session(tmp_path / "s", "mnist")
    session.load_model("mnist-b")
    assert session.open_path(str(png_of(tmp_path / "b.png", "mnist-b", **RUN_PNG)))
    session.settings.mode = "inpaint"
    session.engine.answer_load()
    s = session.settings
    assert (s.mode, s.prompt, s.steps) == ("inpaint", "7", 20), "the edit, over the file's"


def test_a_model_arriving_with_another_on_the_way_is_no_edit(tmp_path):
    """Two switches in a row: the first model's restored settings (it arrives while the second
    is on the way) are not taken for the user's edits and carried to the second."""
    session = make_session(tmp_path / "s", "mnist")
    session.preferences.set_run_settings_for("mnist-b", {"guidance": 9.5, "steps": 40})
    session.load_model("mnist-b")
    session.load_model("mnist-c")
    session.engine.modelLoaded.emit(model_state("mnist-b"))
    assert session.model.busy()
    session.engine.modelLoaded.emit(model_state("mnist-c"))
    s = session.settings
    assert (s.guidance, s.steps) != (9.5, 40), "mnist-c has its own"
    assert s.guidance == model_state().default_guidance


# --- Run and Quit while a model loads (QA 12) --------------------------------------------------
def test_run_during_a_switch_is_refused_with_a_line(tmp_path):
    """Clicked during a switch, Run made a job of the settings shown (the last model's) and the
    new model ran it; now it says to wait, and runs once the model is in."""
    session = make_session(tmp_path / "s", "mnist")
    session.load_model("mnist-b")
    assert session.run_job() is None
    assert session.engine.jobs == {}
    assert session.lines[-1] == "mnist-b is loading: Run once it is in"
    session.engine.answer_load()
    assert session.run_job() is not None and len(session.engine.jobs) == 1


def test_the_panels_run_waits_while_a_model_loads(qtbot, tmp_path):
    from tests.test_app import open_window

    window = open_window(qtbot, "mnist", tmp_path / "w")
    run = window.modes.run_button
    assert run.isEnabled()
    states: list[tuple[str, bool]] = []
    label = window.status_line.state_label
    window.session.engine.stateChanged.connect(
        lambda state: states.append((state, run.isEnabled(), label.text())))
    with qtbot.waitSignal(window.session.engine.modelLoaded, timeout=30_000):
        window.session.load_model("mnist-time")
    qtbot.waitUntil(lambda: run.isEnabled(), timeout=30_000)
    assert ("loading", False, "Loading mnist-time…") in states, \
        "greyed while the model loads, and the status bar names the model on its way"
    assert window.modes.run_action.isEnabled(), "and Ctrl+Return with it, once it is in"


def test_quitting_hides_the_window_before_the_threads_are_joined(qtbot, tmp_path, monkeypatch):
    """A load cannot be cancelled: the window stood frozen (Discard pressed) for as long as the
    load took, up to a minute for a big model. It is gone before the engine is joined."""
    from tests.test_app import open_window

    window = open_window(qtbot, "mnist", tmp_path / "w")
    engine = window.session.engine
    seen: list[bool] = []
    real = engine.shutdown
    monkeypatch.setattr(engine, "shutdown", lambda *a: (seen.append(window.isVisible()),
                                                         real(*a))[1])
    assert window.close()
    assert seen == [False]
