"""The run settings as properties (app/session/settings.py), bound to the real modes panel."""

import json
import random
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QImage

from app.history import Result
from app.session.modes import MODES
from app.session.settings import MAX_SEED, RunSettings, bind_panel
from app.settings import Settings
from widgets.illusion_options import VIEWS
from widgets.modes_panel import ModesPanel

sys.path.insert(0, str(Path(__file__).parent))

DIGITS = {"prompts": [*"0123456789", ""], "default_prompt": "0", "default_guidance": 5.0,
          "timesteps": 30, "timestep_values": list(range(300, -1, -10)), "size": 28,
          "upscaler_name": None}


@pytest.fixture
def bound(qtbot):
    panel = ModesPanel(modes=MODES)
    qtbot.addWidget(panel)
    settings = RunSettings(views=[key for key, _ in VIEWS])
    bind_panel(settings, panel)
    panel.set_model_info(DIGITS)
    settings.timesteps = tuple(DIGITS["timestep_values"])  # as the window does
    return settings, panel


def test_the_mode_is_checked_against_the_table():
    s = RunSettings()
    assert s.mode == "sample"
    s.mode = "hybrid"
    with pytest.raises(ValueError, match="unknown mode 'collage'"):
        s.mode = "collage"
    assert s.mode == "hybrid"
    assert s.persisted() == RunSettings().persisted() | {"mode": "hybrid"}, "only the mode moved"


def test_the_panel_shows_the_model_defaults_through_the_properties(bound):
    settings, panel = bound
    assert (settings.prompt, settings.prompt2, settings.guidance) == ("0", "1", 5.0)
    assert settings.i_start() == panel.i_start() == round(0.3 * 30)


def test_each_property_reaches_its_widget(bound):
    s, panel = bound
    ill = panel.illusion
    s.mode, s.prompt, s.prompt2 = "anagram", "6", "9"
    s.view, s.view3, s.prompt3, s.view4, s.prompt4 = "rot180", "jigsaw", "2", "skew", "3"
    s.view_seed, s.guidance, s.steps, s.seed, s.count = 8, 3.5, 12, 4242, 3
    s.random_seed, s.preview_every, s.preview_kind, s.sigma = False, 4, "x0", 2.5
    assert panel.current_mode() == "anagram"
    assert [b.prompt() for b in (panel.prompt, panel.prompt2, ill.prompt3, ill.prompt4)] == \
        ["6", "9", "2", "3"]
    assert [c.currentData() for c in (panel.view, ill.view3, ill.view4)] == \
        ["rot180", "jigsaw", "skew"]
    assert (ill.view_seed.value(), panel.guidance.value(), panel.steps.value()) == (8, 3.5, 12)
    assert (panel.seed.value(), panel.count.value(), panel.preview_every.value()) == (4242, 3, 4)
    assert not panel.random_seed.isChecked() and panel.show_x0.isChecked()
    assert panel.sigma.value() == 2.5
    s.mode, s.split, s.medium, s.sigma2 = "hybrid", "triple", "7", 1.25
    assert (ill.split.currentData(), ill.medium.prompt(), ill.sigma2.value()) == \
        ("triple", "7", 1.25)
    s.mode = "sdedit"
    s.set_i_start(5)
    assert panel.i_start() == 5 and s.strength == pytest.approx(1 - 5 / 30)


def test_each_widget_reaches_its_property(bound):
    s, panel = bound
    ill = panel.illusion
    panel.set_mode("anagram")
    panel.prompt.set_prompt("4")
    panel.prompt2.setEditText("seven")  # typed, not one of the items
    panel.view.setCurrentIndex(panel.view.findData("mirror"))
    ill.view3.setCurrentIndex(ill.view3.findData("pixels"))
    ill.prompt3.set_prompt("")
    ill.view_seed.setValue(3)
    panel.guidance.setValue(7.5)
    panel.steps.setValue(20)
    panel.seed.setValue(99)
    panel.random_seed.setChecked(False)
    panel.count.setValue(2)
    panel.show_x0.setChecked(True)
    assert (s.mode, s.prompt, s.prompt2, s.view, s.view3, s.prompt3) == \
        ("anagram", "4", "seven", "mirror", "pixels", "")
    assert (s.view_seed, s.guidance, s.steps, s.seed, s.random_seed, s.count) == \
        (3, 7.5, 20, 99, False, 2)
    assert s.preview_kind == "x0"
    fields = s.job_fields()
    assert fields["more_views"] == ("pixels",) and fields["more_prompts"] == ("",)
    assert fields["steps"] == 20 and fields["seed"] == 99 and fields["i_start"] is None
    panel.set_mode("sdedit")
    panel.set_i_start(7)  # the slider
    assert s.i_start() == 7 and s.job_fields()["i_start"] == 7


def test_a_new_step_count_keeps_the_share_of_noise(bound):
    s, panel = bound
    s.mode = "sdedit"
    s.set_i_start(6)  # of 31 timesteps
    s.timesteps = tuple(range(300, -1, -1))  # 301
    assert s.i_start() == panel.i_start() == 60


def test_the_remembered_settings_come_back_through_restore(bound, qtbot):
    s, _ = bound
    s.mode, s.prompt, s.guidance, s.steps, s.count, s.view_seed = "img2img", "7", 2.5, 9, 4, 5
    s.set_i_start(12)
    s.random_seed, s.seed = False, 321
    s.prompt3, s.preview_every = "3", 6  # not remembered (the panel never brought them back)
    saved = json.loads(json.dumps(s.persisted()))  # as QSettings keeps it
    assert "prompt3" not in saved and "preview_every" not in saved and "timesteps" not in saved
    again = RunSettings()
    panel = ModesPanel(modes=MODES)
    qtbot.addWidget(panel)
    bind_panel(again, panel)
    panel.set_model_info(DIGITS)
    again.timesteps = s.timesteps
    assert again.restore(saved | {"nonsense": 1}) == ["nonsense"]
    assert again.restore({"guidance": float("nan"), "count": 0}) == ["guidance", "count"]
    assert again.persisted() == saved
    assert (panel.current_mode(), panel.prompt.prompt(), panel.i_start()) == ("img2img", "7", 12)
    assert (panel.seed.value(), panel.random_seed.isChecked()) == (321, False)
    assert again.prompt3 == "0" and again.preview_every == 1, "the model's, not the last's"


def test_the_seed_is_drawn_when_a_job_is_made_and_never_by_reading(bound):
    s, panel = bound
    changes = []
    s.inputsChanged.connect(lambda: changes.append(1))
    shown = s.seed
    for _ in range(2):
        assert s.job_fields(draw=False)["seed"] == shown  # reading draws nothing
        assert s.seed == panel.seed.value() == shown
    expected = random.Random(11).randint(0, MAX_SEED)
    assert s.job_fields(random.Random(11))["seed"] == expected
    assert s.seed == panel.seed.value() == expected, "shown, so it can be reused"
    assert changes == [], "a drawn seed is no input change: Live does not re-run for it"
    panel.seed.setValue(5)
    assert changes == [1], "a seed the user types is one"


def test_a_fixed_seed_stays(bound):
    s, panel = bound
    panel.random_seed.setChecked(False)
    panel.seed.setValue(77)
    assert [s.job_fields(random.Random(i))["seed"] for i in range(3)] == [77, 77, 77]
    rolled = s.roll_seed(random.Random(2))
    assert rolled == random.Random(2).randint(0, MAX_SEED) and not s.random_seed
    assert [s.job_fields()["seed"] for _ in range(2)] == [rolled, rolled]


def test_a_restored_seed_serves_one_job(bound):
    s, panel = bound
    s.apply_parameters({"mode": "sample", "seed": 1234, "view": "no-such-view"})
    assert s.view == "flip", "a view the app does not offer is left out"
    assert s.seed_once and not panel.random_seed.isChecked()
    assert s.job_fields(draw=False)["seed"] == 1234 and s.seed_once, "a save is no job"
    assert s.job_fields(random.Random(1))["seed"] == 1234
    assert s.random_seed and panel.random_seed.isChecked(), "then random again"
    assert s.job_fields(random.Random(1))["seed"] == random.Random(1).randint(0, MAX_SEED)
    s.apply_parameters({"seed": 50})
    panel.random_seed.setChecked(True)  # the user chose: the restored seed is forgotten
    panel.random_seed.setChecked(False)
    assert not s.seed_once and [s.job_fields()["seed"] for _ in range(2)] == [50, 50]


def test_a_restored_seed_is_remembered_as_random(bound):
    """The settings kept at a run (before its seed is drawn) or at a close: a seed restored
    from a file serves one run of this launch, so the next launch draws random seeds again."""
    s, _ = bound
    s.apply_parameters({"mode": "sample", "seed": 1234})
    assert s.seed_once and not s.random_seed
    saved = s.persisted()
    assert saved["random_seed"] is True and not s.random_seed, "the panel keeps it this launch"
    again = RunSettings()
    again.restore(json.loads(json.dumps(saved)))
    assert again.random_seed and not again.seed_once
    s.roll_seed(random.Random(3))  # a seed the user fixed is remembered fixed
    assert s.persisted()["random_seed"] is False and s.persisted()["seed"] == s.seed


def test_the_window_binds_the_mode_both_ways_and_use_as_input_switches_it(qtbot, tmp_path):
    from test_app import make_window

    window = make_window(qtbot, None, tmp_path / "window")
    panel, settings = window.modes, window.session.settings
    panel.set_mode("anagram")
    assert settings.mode == "anagram"
    settings.mode = "inpaint"
    assert panel.current_mode() == "inpaint"
    image = QImage(28, 28, QImage.Format.Format_RGB32)
    image.fill(0xFF808080)
    window.session.use_as_input(Result(image, {"mode": "sample"}))
    assert (settings.mode, panel.current_mode()) == ("inpaint", "inpaint")  # takes an image
    settings.mode = "hybrid"
    window.session.use_as_input(Result(image, {"mode": "sample"}))
    assert (settings.mode, panel.current_mode()) == ("sdedit", "sdedit")


def test_a_crash_after_a_run_of_a_restored_seed_keeps_seeds_random(qtbot, tmp_path):
    """Open a PNG (its seed restored for one run), run, crash: the settings kept at that run
    must not bring the next launch back with random seeds off and the file's seed fixed."""
    from test_app import RUN_TIMEOUT, open_window

    folder = tmp_path / "window"
    window = open_window(qtbot, "mnist", folder)
    window.session.settings.apply_parameters({"mode": "sample", "prompt": "3", "seed": 1234,
                                          "steps": 2})
    with qtbot.waitSignal(window.session.engine.finished, timeout=RUN_TIMEOUT):
        assert window.session.run_job() is not None
    assert window.session.settings.random_seed, "random again after the one run"
    kept = window.session.preferences.run_settings  # what a crash leaves: no close saves it again
    assert kept["random_seed"] is True
    again = open_window(qtbot, "mnist", tmp_path / "again",
                        settings=Settings(QSettings(str(folder / "settings.ini"),
                                                    QSettings.Format.IniFormat)))
    assert again.session.settings.random_seed and again.modes.random_seed.isChecked()


def test_a_suggested_anagram_picked_in_the_panel_reaches_the_settings(bound):
    from app.session.suggested import SUGGESTED, suggested_for

    s, panel = bound
    panel.set_model_info(DIGITS | {"suggested": suggested_for("mnist")})
    panel.illusion.presetChosen.connect(s.apply_parameters)  # as the window connects it
    panel.set_mode("anagram")
    best = SUGGESTED["mnist"][1]
    opts = panel.illusion
    opts.suggested.setCurrentIndex(opts.suggested.findText(best.label()))
    fields = s.job_fields(draw=False)
    assert (fields["prompt"], fields["prompt2"], fields["view"]) == (*best.prompts, *best.views)
    assert fields["more_views"] == () and not s.seed_once, "a suggestion carries no seed"


def test_a_file_made_on_the_default_schedule_restores_it_and_its_i_start(qtbot, tmp_path):
    """A PNG written with default steps records "steps": null; opened while the panel shows
    25 steps, its i_start must index the default schedule, not the 25-step one (CLI QA walk)."""
    from test_app import open_window

    window = open_window(qtbot, "mnist", tmp_path / "window")
    s = window.session.settings
    s.steps = 25
    s.apply_parameters({"mode": "sdedit", "steps": None, "i_start": 18})
    assert s.steps == 0
    default = window.session.model_state.timesteps_for(0)
    assert tuple(s.timesteps) == tuple(default)
    assert s.strength == pytest.approx(1.0 - 18 / (len(default) - 1))


@pytest.mark.parametrize("text", ["inf", "-inf", "1e400", "nan"])
def test_an_infinite_brush_size_in_the_settings_file_gives_the_default(qapp, tmp_path, text):
    """A hand-edited (or damaged) ini: int(float('inf')) raised OverflowError, which no reader
    caught, so the window could not be built."""
    ini = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    ini.setValue("tools/brush_size", text)
    ini.setValue("tools/hardness", text)
    settings = Settings(ini)
    assert settings.brush_size == 24
    assert 0.0 <= settings.hardness <= 1.0
