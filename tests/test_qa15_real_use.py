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
