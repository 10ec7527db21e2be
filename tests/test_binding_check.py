"""The Qt binding's references to None, checked before the window opens (app/binding_check.py).
A binding that drops them makes Python 3.10/3.11 abort in the middle of a session; the app
refuses to start with one message instead."""

from __future__ import annotations

import ctypes

import pytest
from PySide6.QtWidgets import QMessageBox

from app import binding_check, main_window

pytestmark = pytest.mark.skipif(binding_check.NONE_IS_IMMORTAL,
                                reason="None is immortal on Python 3.12+: nothing to lose")


def test_the_installed_binding_keeps_its_references_to_none(qapp):
    lost = binding_check.references_lost()
    assert lost <= binding_check.TOLERATED, f"{lost} references to None lost"
    assert binding_check.problem(lost) is None


def test_a_binding_that_drops_them_is_found_and_named(qapp):
    dropped = []

    def lossy(i: int) -> None:  # as a faulty binding does on one call in 12.5
        if i % 25 in (0, 12):
            ctypes.pythonapi.Py_DecRef(ctypes.py_object(None))
            dropped.append(i)

    try:
        lost = binding_check.references_lost([lossy], calls=2000)
    finally:
        for _ in dropped:
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(None))
    assert lost == len([i for i in range(2000) if i % 25 in (0, 12)]) == 160
    message = binding_check.problem(lost)
    assert message is not None and "160 over 2000 calls" in message
    assert "PySide6-Essentials" in message and "<6.12" in message


def test_the_app_refuses_to_start_on_such_a_binding(qapp, monkeypatch, capsys):
    shown = []
    monkeypatch.setattr(binding_check, "problem", lambda: "the binding loses references")
    monkeypatch.setattr(QMessageBox, "critical", lambda *args: shown.append(args[1:]))
    monkeypatch.setattr(main_window, "MainWindow", lambda *a, **k: pytest.fail("opened"))
    assert main_window.run_app() == 1
    assert shown == [("Diffusion Canvas cannot start", "the binding loses references")]
    assert "the binding loses references" in capsys.readouterr().err
