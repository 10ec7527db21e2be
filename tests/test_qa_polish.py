"""The QA walk's small findings (H14): each test fails on the code before its fix."""

from __future__ import annotations

import pytest

from app.session.modes import mode_of
from tests.session_fakes import draw, make_session


@pytest.fixture
def session(qapp, tmp_path):
    return make_session(tmp_path / "s")


def test_sdedit_hint_names_the_prompt_box_the_run_uses(session):
    hint = mode_of("sdedit").hint
    assert "Prompt box" in hint
    assert "with the model's default prompt)" not in hint
    draw(session)
    session.settings.mode, session.settings.prompt = "sdedit", "3"
    assert session.run_job(session.settings.job_fields()) is not None, session.said
    job = next(iter(session.engine.jobs.values()))
    assert job.prompt == "3"  # what the hint says: the Prompt box's text
