"""One-click suggested anagrams (the measured best of docs/benchmarks.md) and the failure views'
group in the view lists: at the widget level (plain data in, settings out) and in the window."""

import re
from pathlib import Path

import pytest
from test_app import BUNDLED, RUN_TIMEOUT, open_window

from app.session.modes import MODES
from app.session.suggested import SUGGESTED, suggested_for
from engine.views import FAILURES, VIEWS
from widgets.illusion_options import FAILURE_GROUP, FAILURE_KEYS, SUGGESTED_PLACEHOLDER
from widgets.illusion_options import VIEWS as PANEL_VIEWS
from widgets.modes_panel import ModesPanel

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
DIGITS = {"prompts": [*"0123456789", ""], "default_prompt": "0", "default_guidance": 5.0,
          "timesteps": 30, "size": 28, "name": "mnist"}


def table_row(prompts, views) -> list[str]:
    """The illusion-scores row of docs/benchmarks.md for these prompts and views."""
    head = rf"^\| {re.escape(' / '.join(prompts))} \| {re.escape(', '.join(views))} \|"
    rows = [line for line in DOCS.read_text().splitlines() if re.match(head, line)]
    assert len(rows) == 1, (prompts, views, rows)
    return [cell.strip() for cell in rows[0].strip("|").split("|")]


def test_every_suggestion_is_a_measured_row_that_works():
    for suggestion in SUGGESTED["mnist"]:
        cells = table_row(suggestion.prompts, suggestion.views)
        assert float(cells[2]) == suggestion.alignment >= 0.8
        assert cells[10] == f"{suggestion.over_baseline:.2f}×"
    assert suggested_for("no such model") == []  # the emoji's: tests/test_emoji_illusions.py


def test_the_failure_views_are_offered_apart_under_a_heading(qtbot):
    panel = ModesPanel(modes=MODES)
    qtbot.addWidget(panel)
    panel.set_model_info(DIGITS)
    panel.set_mode("anagram")
    box = panel.view
    keys = [box.itemData(i) for i in range(box.count())]
    heading = box.findText(FAILURE_GROUP)
    assert heading > 0 and not box.model().item(heading).isEnabled()
    assert set(keys[heading + 1:]) == set(FAILURE_KEYS) == set(FAILURES)
    assert {k for k in keys[:heading] if k} == {k for k, _ in PANEL_VIEWS}
    assert all(VIEWS[k].iid for k, _ in PANEL_VIEWS) and not any(VIEWS[k].iid for k in FAILURES)
    opts = panel.illusion
    assert not opts._form.isRowVisible(opts.failure_note)
    box.setCurrentIndex(box.findData("blur"))
    assert opts._form.isRowVisible(opts.failure_note) and opts.failure_chosen()
    box.setCurrentIndex(box.findData("rot180"))
    opts.view3.setCurrentIndex(opts.view3.findData("white-balance"))
    assert opts._form.isRowVisible(opts.failure_note)
    opts.view3.setCurrentIndex(0)
    assert not opts.failure_chosen() and not opts._form.isRowVisible(opts.failure_note)


def test_a_suggestion_picked_gives_its_prompts_and_views_at_once(qtbot):
    panel = ModesPanel(modes=MODES)
    qtbot.addWidget(panel)
    panel.set_model_info(DIGITS | {"suggested": suggested_for("mnist")})
    panel.set_mode("anagram")
    opts = panel.illusion
    assert opts._form.isRowVisible(opts.suggested)
    assert opts.suggested.count() == 1 + len(SUGGESTED["mnist"])
    assert opts.suggested.itemText(0) == SUGGESTED_PLACEHOLDER
    index = opts.suggested.findText(SUGGESTED["mnist"][2].label())
    with qtbot.waitSignal(opts.presetChosen) as picked:
        opts.suggested.setCurrentIndex(index)
    chosen = picked.args[0]
    assert (chosen["prompt"], chosen["prompt2"], chosen["view"]) == ("4", "7", "inner-circle")
    assert chosen["prompts"] == ["4", "7"] and chosen["views"] == ["inner-circle"]
    assert chosen["mode"] == "anagram" and "label" not in chosen
    assert opts.suggested.currentIndex() == 0  # a one-shot pick
    panel.set_mode("hybrid")
    assert not opts._form.isRowVisible(opts.suggested)
    panel.set_mode("anagram")
    panel.set_model_info(DIGITS | {"suggested": []})  # a model without measurements
    assert not opts._form.isRowVisible(opts.suggested)


def test_the_window_takes_a_suggestion_in_one_click_and_runs_it(qtbot, tmp_path):
    """On the bundled digit model: the panel offers its measured anagrams; one pick sets both
    prompts and the view (widgets and run settings); the run makes that anagram. A failure view
    picked from its group runs too (the app asks for it knowingly) and says so in its chunk."""
    if not (BUNDLED / "config.json").exists():
        pytest.skip("the bundled digit model is not on this disk")
    window = open_window(qtbot, "mnist", tmp_path / "window")
    panel, opts = window.modes, window.modes.illusion
    panel.set_mode("anagram")
    assert opts._form.isRowVisible(opts.suggested)
    opts.suggested.setCurrentIndex(opts.suggested.findText(SUGGESTED["mnist"][1].label()))
    assert (panel.prompt.prompt(), panel.prompt2.prompt()) == ("4", "7")
    assert panel.view.currentData() == "transpose" and opts.more_views() == ()
    run = window.session.settings
    assert (run.prompt, run.prompt2, run.view) == ("4", "7", "transpose")
    panel.steps.setValue(3)
    with qtbot.waitSignal(window.session.engine.finished, timeout=RUN_TIMEOUT):
        assert window.session.run_job() is not None
    p = window.session.history[-1].parameters
    assert (p["prompt"], p["prompt2"], p["view"]) == ("4", "7", "transpose")
    panel.view.setCurrentIndex(panel.view.findData("blur"))
    assert opts._form.isRowVisible(opts.failure_note)
    with qtbot.waitSignal(window.session.engine.finished, timeout=RUN_TIMEOUT):
        assert window.session.run_job() is not None
    p = window.session.history[-1].parameters
    assert p["view"] == "blur" and p["allow_failure_views"] is True
