"""Found walking the app on a real-size emoji cascade (issue 12, 3): the Upscale row names the
factor its stage II really has (the emoji cascade's 32 -> 64 is ×2, IF's 64 -> 256 ×4), and the
hybrid hint keeps the digit models' measured failure to the digit models."""

from __future__ import annotations

import pytest

from app.session import modes
from app.session.settings import RunSettings, bind_panel
from engine.models.deepfloyd_upscale import stage_two_factor
from engine.models.tiny import save_tiny_if, save_tiny_if_stage_two
from widgets.modes_panel import ModesPanel

INFO = {"prompts": None, "free_text": True, "default_prompt": "red heart", "timesteps": 30,
        "timestep_values": list(range(29, -1, -1)), "upscaler_name": "IF stage II",
        "upscaler": True}


@pytest.mark.parametrize(("low", "high"), [(32, 64), (32, 128)])
def test_the_factor_is_stage_two_over_stage_one_read_without_loading(tmp_path, low, high):
    stage_one = save_tiny_if(tmp_path / "IF-I-x", sample_size=low)
    assert stage_two_factor(stage_one, low) == 4, "no stage II beside it: IF's factor"
    save_tiny_if_stage_two(tmp_path / "IF-II-x", sample_size=high)
    assert stage_two_factor(stage_one, low) == high // low


def panel(qtbot, **info) -> ModesPanel:
    widget = ModesPanel(modes=modes.MODES)
    qtbot.addWidget(widget)
    bind_panel(RunSettings(), widget)
    widget.set_model_info(INFO | info)
    return widget


def test_the_upscale_row_names_the_real_factor(qtbot):
    two = panel(qtbot, size=32, upscale_factor=2)
    assert two.upscale.text() == "×2 with IF stage II"
    assert "2× larger" in two.upscale.toolTip() and "4×" not in two.upscale.toolTip()
    assert panel(qtbot, size=64, upscale_factor=4).upscale.text() == "×4 with IF stage II"


@pytest.mark.parametrize("key", ["hybrid", "anagram"])
def test_the_digit_notes_are_not_claimed_for_a_32_px_colour_model(qtbot, key):
    """Measured on digits: the hybrid finding, and the anagram note on a Suggested row the
    emoji model has not got (session 16's QA)."""
    mode = modes.BY_KEY[key]
    emoji = panel(qtbot, size=32, channels=3)
    emoji.set_mode(key)
    assert emoji.mode_hint.text() == mode.hint
    digits = panel(qtbot, size=28, channels=1)
    digits.set_mode(key)
    assert digits.mode_hint.text().endswith(mode.small_note)


@pytest.mark.parametrize(("argv", "opened"), [
    (["--model", "/tmp/IF-I-emoji"], ("/tmp/IF-I-emoji", None)),
    (["--model=emoji"], ("emoji", None)),
    (["--model", "emoji", "picture.png"], ("emoji", "picture.png")),
])
def test_main_with_only_a_model_opens_the_app_on_it(monkeypatch, argv, opened):
    import app.main_window
    from app.cli import main

    calls = []
    monkeypatch.setattr(app.main_window, "run_app",
                        lambda path=None, model=None: calls.append((model, path)) or 0)
    assert main(argv) == 0
    assert calls == [opened]


@pytest.mark.parametrize("argv", [["--model"], ["--model", "emoji", "sample"],
                                  ["--model", "emoji", "--steps", "3"]])
def test_anything_more_is_still_a_usage_error(monkeypatch, capsys, argv):
    import app.main_window
    from app.cli import main

    monkeypatch.setattr(app.main_window, "run_app", lambda *a, **k: pytest.fail("opened"))
    with pytest.raises(SystemExit) as raised:
        main(argv)
    assert raised.value.code == 2


def test_a_missing_stage_two_tooltip_also_tells_a_cascade_of_ones_own(qtbot):
    alone = panel(qtbot, size=32, upscaler=False)
    assert not alone.upscale.isEnabled()
    tip = alone.upscale.toolTip()
    assert "IF-II-L or IF-II-M" in tip and "train emoji-upscale" in tip
