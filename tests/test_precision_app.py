"""Model > Precision reaches the digit models: bf16 reloads the bundled model in bf16."""

from __future__ import annotations

import torch
from test_app import RUN_TIMEOUT, open_window

from engine import devices


def test_precision_menu_reloads_the_digit_model(qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: False)  # auto = fp32
    window = open_window(qtbot, "mnist", tmp_path / "w")
    assert window.session.model_state.dtype == "float32" and "fp32" in window.model_label.text()
    with qtbot.waitSignal(window.session.engine.modelLoaded, timeout=RUN_TIMEOUT) as loaded:
        window.precision_actions["bf16"].trigger()
    assert loaded.args[0].dtype == "bfloat16" and "bf16" in window.model_label.text()
    assert next(window.session.engine.loaded_model().net.parameters()).dtype == torch.bfloat16
    with qtbot.waitSignal(window.session.engine.modelLoaded, timeout=RUN_TIMEOUT) as loaded:
        window.precision_actions["fp32"].trigger()
    assert loaded.args[0].dtype == "float32"
    assert next(window.session.engine.loaded_model().net.parameters()).dtype == torch.float32
