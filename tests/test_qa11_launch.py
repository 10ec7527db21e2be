"""A file named on the command line (QA 11): `main.py FILE` opens it before the model has
loaded, and the model's own settings, restored when it loads, replaced the file's (a Run PNG
with i_start 10 showed the default strength). Opened at launch, a PNG or a project now gives
what File > Open gives in a running window; the same holds for a file opened during a switch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from app import main_window
from app.jobs import Job, job_parameters
from app.main_window import TITLE, MainWindow
from app.settings import Settings
from engine.images import save_png
from tests.session_fakes import make_session
from tests.test_app import RUN_TIMEOUT, FakeAsker, open_window

RUN_PNG = {"mode": "sdedit", "prompt": "7", "guidance": 3.0, "steps": 20, "i_start": 10,
           "seed": 4242}
LAST_LAUNCH = {"mode": "sample", "seed": 99, "random_seed": True, "live_steps": 4}
MODELS_OWN = {"prompt": "1", "guidance": 9.0, "strength": 0.9, "steps": 25}


def last_launch(ini: Path, model: str) -> Settings:
    """Preferences a launch before left: its shared settings and the model's own."""
    ini.parent.mkdir(parents=True, exist_ok=True)
    settings = Settings(QSettings(str(ini), QSettings.Format.IniFormat))
    settings.run_settings = LAST_LAUNCH
    settings.set_run_settings_for(model, MODELS_OWN)
    settings.sync()
    return settings


@pytest.fixture
def launch(qtbot, monkeypatch, tmp_path):
    """`launch(path, model)`: `main.py FILE` through run_app, its settings and autosaves in
    tmp_path; the event loop runs until the model has loaded (or failed) and the file was
    opened, and the window is returned. `window.lines`: the session's status lines. The
    preferences are those `last_launch` left."""
    windows: list[MainWindow] = []
    real = main_window.MainWindow

    def make(*args: Any, **kwargs: Any) -> MainWindow:
        window = real(*args, **kwargs | {"asker": FakeAsker(),
                                         "autosave_folder": tmp_path / "launch-autosave"})
        window.lines = []
        window.session.status.connect(window.lines.append)
        qtbot.addWidget(window)
        windows.append(window)
        return window

    def settled() -> bool:
        s = windows[-1].session
        return not s.model.busy() and (s.document_name() != "Untitled" or bool(windows[-1].errors))

    def event_loop(_app: QApplication) -> int:
        qtbot.waitUntil(settled, timeout=RUN_TIMEOUT)
        return 0

    monkeypatch.setattr(main_window, "MainWindow", make)
    monkeypatch.setattr(QApplication, "exec", event_loop)

    def run(path: Path, model: str) -> MainWindow:
        settings = last_launch(tmp_path / "launch" / "settings.ini", model)
        monkeypatch.setattr(main_window, "Settings", lambda: settings)
        assert main_window.run_app(str(path), model=model) == 0
        return windows[-1]
    return run


def png_of(path: Path, model: str, **parameters: Any) -> Path:
    """A 28 × 28 PNG carrying the parameters chunk a run of `parameters` on `model` writes."""
    save_png(Image.new("L", (28, 28), 0), path, job_parameters(Job(**parameters), model))
    return path


def file_open(qtbot, model: str, folder: Path, path: Path) -> MainWindow:
    """A running window (model loaded, the same last launch) that opens `path` through
    File > Open."""
    last_launch(folder / "settings.ini", model).sync()
    window = open_window(qtbot, model, folder)
    window.session.asker.paths.append(str(path))
    window.action("open").trigger()
    assert window.session.document_name() != "Untitled"
    return window


def shown(window: MainWindow) -> dict[str, Any]:
    """The run settings the window shows, and what its next run (and Live run) is made of."""
    s, m = window.session.settings, window.modes
    return s.job_fields(draw=False) | {
        "strength": s.strength, "live_steps": s.live_steps, "random_seed": s.random_seed,
        "seed_once": s.seed_once, "live i_start": s.live_fields()["i_start"],
        "panel": (m.prompt.prompt(), m.guidance.value(), m.steps.value(), m.seed.value(),
                  m.live_steps.value(), round(m.strength_fraction(), 6))}


def test_a_run_png_opened_at_launch_keeps_its_settings(qtbot, launch, tiny_model, tmp_path):
    png = png_of(tmp_path / "run.png", tiny_model, **RUN_PNG)
    window = launch(png, tiny_model)
    s = window.session.settings
    assert window.session.model_state is not None
    assert (s.mode, s.prompt, s.guidance, s.steps, s.i_start(), s.seed) == (
        "sdedit", "7", 3.0, 20, 10, 4242)
    assert not s.random_seed and s.seed_once, "the file's seed serves the next run"
    assert window.modes.prompt.prompt() == "7" and window.modes.steps.value() == 20
    assert window.windowTitle() == f"run.png — {TITLE}"
    running = file_open(qtbot, tiny_model, tmp_path / "running", png)
    assert shown(window) == shown(running)


def test_a_live_png_opened_at_launch_keeps_lives_steps(qtbot, launch, tiny_model, tmp_path):
    png = png_of(tmp_path / "live.png", tiny_model, **RUN_PNG | {
        "steps": 6, "i_start": 3, "live_steps": 6, "run_steps": 20})
    window = launch(png, tiny_model)
    s = window.session.settings
    assert (s.live_steps, s.steps) == (6, 20)
    assert s.live_fields()["i_start"] == 3, "the strength as the share Live ran on"
    running = file_open(qtbot, tiny_model, tmp_path / "running", png)
    assert shown(window) == shown(running)


def test_another_models_png_at_launch_keeps_the_loaded_models_own(qtbot, launch, tiny_model,
                                                                   tmp_path):
    png = png_of(tmp_path / "other.png", "some/other-model", **RUN_PNG)
    window = launch(png, tiny_model)
    s = window.session.settings
    assert (s.prompt, s.guidance, s.strength, s.steps) == ("1", 9.0, 0.9, 25), "its own"
    assert (s.mode, s.seed) == ("sdedit", 4242), "what every model shares comes along"
    assert s.live_steps == 4, "the file says none: the last launch's"
    assert any("were for other-model" in line for line in window.lines)
    running = file_open(qtbot, tiny_model, tmp_path / "running", png)
    assert shown(window) == shown(running)


def test_a_project_opened_at_launch_keeps_its_settings(qtbot, launch, tiny_model, tmp_path):
    maker = open_window(qtbot, tiny_model, tmp_path / "maker")
    s = maker.session.settings
    s.mode, s.prompt, s.guidance, s.steps, s.strength = "sdedit", "3", 2.5, 12, 0.4
    s.roll_seed()
    project = tmp_path / "work.dcproj"
    assert maker.session.save_to(str(project))
    saved = s.job_fields(draw=False)
    window = launch(project, tiny_model)
    assert window.session.project_path == str(project.absolute())
    launched = shown(window)
    assert {key: launched[key] for key in saved} == saved, "as saved (its i_start, its seed)"
    running = file_open(qtbot, tiny_model, tmp_path / "running", project)
    assert launched == shown(running)
    assert any(line.startswith(f"Opened {project}") for line in window.lines)


def test_a_file_that_cannot_be_opened_at_launch_is_one_message(launch, tiny_model, tmp_path):
    window = launch(tmp_path / "missing.png", tiny_model)
    assert len(window.errors) == 1 and "missing.png" in window.errors[0]
    assert window.isVisible() and window.session.model_state is not None
    assert window.windowTitle() == TITLE


def test_a_file_opened_during_a_model_switch_gets_the_new_models_settings(tmp_path):
    """The file's settings wait for the model on its way: the one switched from keeps its own,
    and the new one's, restored on its arrival, do not replace the file's."""
    session = make_session(tmp_path / "s", "mnist")
    s = session.settings
    s.prompt, s.guidance = "4", 6.0  # mnist's own
    session.load_model("mnist-b")
    png = png_of(tmp_path / "b.png", "mnist-b", **RUN_PNG)
    assert session.open_path(str(png))
    session.engine.answer_load()
    assert (s.prompt, s.guidance, s.steps, s.i_start(), s.seed) == ("7", 3.0, 20, 10, 4242)
    kept = session.preferences.run_settings_for("mnist")
    assert (kept["prompt"], kept["guidance"]) == ("4", 6.0)


def test_new_after_a_launch_file_forgets_its_seed_once_the_model_is_in(tmp_path):
    """Open then New before the model has loaded: as in a running window, the file's settings
    stay shown and its seed no longer serves the next run."""
    session = make_session(tmp_path / "s", "mnist", load=False)
    assert session.open_path(str(png_of(tmp_path / "run.png", "mnist", **RUN_PNG)))
    session.new_document(280, 280, QApplication.palette().base().color())
    session.engine.answer_load()
    s = session.settings
    assert (s.prompt, s.steps) == ("7", 20)
    assert s.random_seed and not s.seed_once
