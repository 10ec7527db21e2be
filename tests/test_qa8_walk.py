"""Found in QA walk 8 (the real window under Xvfb): the history menu's Upscale names the
cascade's own factor."""

from __future__ import annotations

from PySide6.QtGui import QImage
from test_app import open_window

from engine.models.tiny import save_tiny_if, save_tiny_if_stage_two


def upscale_action(window):
    menu = window.history_strip.context_menu(0)
    return next(a for a in menu.actions() if a.objectName() == "upscaleRequested")


def test_the_history_menus_upscale_names_the_cascades_factor(qtbot, tmp_path):
    """The emoji cascade's stage II is 32 -> 64: the menu said 'Upscale ×4' beside the
    panel's '×2 with IF stage II'."""
    stage_one = save_tiny_if(tmp_path / "IF-I-x", sample_size=32)
    save_tiny_if_stage_two(tmp_path / "IF-II-x", sample_size=64)
    window = open_window(qtbot, str(stage_one), tmp_path / "w")
    assert window.session.model_state.upscale_factor == 2
    window.history_strip.add(QImage(32, 32, QImage.Format.Format_RGB32), "a", "a")
    action = upscale_action(window)
    assert action.isVisible() and action.text() == "Upscale ×2", action.text()
    assert window.modes.upscale.text().startswith("×2 ")
