"""The run settings as properties, bound to the window's panel (app/session/settings.py)."""

import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

from app.history import Result
from app.session.settings import RunSettings

sys.path.insert(0, str(Path(__file__).parent))


def test_the_mode_is_checked_against_the_table():
    s = RunSettings()
    assert s.mode == "sample"
    s.mode = "hybrid"
    with pytest.raises(ValueError, match="unknown mode 'collage'"):
        s.mode = "collage"
    assert s.mode == "hybrid" and s.persisted() == {"mode": "hybrid"}


def test_the_window_binds_the_mode_both_ways_and_use_as_input_switches_it(qtbot, tmp_path):
    from test_app import make_window

    window = make_window(qtbot, None, tmp_path / "window")
    panel, settings = window.modes, window.run_settings
    panel.set_mode("anagram")
    assert settings.mode == "anagram"
    settings.mode = "inpaint"
    assert panel.current_mode() == "inpaint"
    image = QImage(28, 28, QImage.Format.Format_RGB32)
    image.fill(0xFF808080)
    window.use_as_input(Result(image, {"mode": "sample"}))
    assert (settings.mode, panel.current_mode()) == ("inpaint", "inpaint")  # takes an image
    settings.mode = "hybrid"
    window.use_as_input(Result(image, {"mode": "sample"}))
    assert (settings.mode, panel.current_mode()) == ("sdedit", "sdedit")
