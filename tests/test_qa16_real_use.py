"""Session 16's real-use fixes (a QA pass on the emoji model): each test failed before its fix."""

from __future__ import annotations

import re
import time

import pytest
from test_app import BUNDLED, RUN_TIMEOUT, open_window, settings, slow_down


@pytest.fixture
def window(qtbot, tiny_model, tmp_path):
    model = "mnist" if (BUNDLED / "config.json").exists() else tiny_model
    return open_window(qtbot, model, tmp_path / "window")


def test_queued_runs_are_counted_and_each_is_timed_from_its_own_start(qtbot, window):
    """Two runs asked for at once: the second waits (the status says so) and its "Done in"
    is its own time, not the time since the click that queued it."""
    slow_down(window, 0.05)
    job = settings(window, "sample", steps=8)
    asked = time.monotonic()
    window.session.run_job(job)
    window.session.run_job(job)
    runner, state = window.session.runner, window.status_line.state_label
    qtbot.waitUntil(lambda: runner.queue.running() is not None, timeout=RUN_TIMEOUT)
    assert runner.queued() == 1 and state.text().endswith("· 1 queued")
    qtbot.waitUntil(lambda: not runner.busy(), timeout=RUN_TIMEOUT)
    whole = time.monotonic() - asked
    took = float(re.search(r"Done in ([\d.]+) s", window.statusBar().currentMessage())[1])
    assert took < 0.75 * whole, (took, whole)  # the two runs take about the same time
    assert "queued" not in state.text()


def test_an_anagram_refuses_a_view_named_twice_or_the_identity():
    """Two prompts through one view (a seeded view shares the view seed, so jigsaw twice is
    the same permutation) ask one image to look like both: it ran and made a muddle."""
    from engine.errors import EngineError
    from engine.views import views_for

    assert len(views_for(["flip", "jigsaw"], 32, True, seed=3)) == 3
    with pytest.raises(EngineError, match="the jigsaw view is named twice"):
        views_for(["jigsaw", "jigsaw"], 32, True, seed=3)
    with pytest.raises(EngineError, match="identity view is the upright image"):
        views_for(["identity"], 32, True)


def test_the_app_refuses_an_anagram_with_the_same_view_twice(qtbot, window):
    modes = window.modes
    modes.set_mode("anagram")
    modes.view.setCurrentIndex(modes.view.findData("flip"))
    opts = modes.illusion
    opts.view3.setCurrentIndex(opts.view3.findData("flip"))
    opts.prompt3.set_prompt("7")
    job = settings(window, "anagram", prompt="0", prompt2="1")
    errors: list[tuple[str, str]] = []
    window.session.error.connect(lambda title, text: errors.append((title, text)))
    assert window.session.run_job(job) is None
    assert errors and "the flip view is named twice" in errors[-1][1]
    assert not window.session.runner.busy()
