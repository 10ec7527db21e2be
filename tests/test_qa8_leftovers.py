"""QA walk 8's leftovers: a restored seed survives a failed run, img2img asks for a named
prompt before the run, a cancelled Live preview is not called a result, the Training panel
remembers its folder and settings."""

from __future__ import annotations

from PIL import Image

from engine import images
from tests.session_fakes import make_session


def restored_session(tmp_path, seed: int = 4242):
    """A session that opened a PNG made with `seed` (the seed serves the next run)."""
    session = make_session(tmp_path / "s")
    path = tmp_path / "made.png"
    images.save_png(Image.new("L", (28, 28), 0), path,
                    {"mode": "sdedit", "prompt": "3", "seed": seed})
    assert session.open_path(str(path))
    assert session.settings.seed_once and session.settings.seed == seed
    return session


def test_a_run_that_fails_in_the_engine_keeps_the_restored_seed(qapp, tmp_path):
    """An unknown word fails when the engine builds the job: the file's seed was spent on it,
    so the run after fixing the prompt drew a random one."""
    session = restored_session(tmp_path)
    assert session.run_job() is not None
    session.engine.fail("the prompt 'zebra' has a word the model does not know")
    assert session.said[-1][0] == "The run failed"
    assert session.settings.seed == 4242 and session.settings.seed_once
    assert not session.settings.random_seed
    job = session.run_job()
    assert job is not None and job.params.seed == 4242, "the next run uses the file's seed"
    session.engine.finish()
    assert session.settings.random_seed and not session.settings.seed_once, "then it is spent"


def test_a_failed_run_gives_back_no_seed_the_user_has_replaced(qapp, tmp_path):
    """After the failure the user rolled a new seed: the file's does not come back over it."""
    session = restored_session(tmp_path)
    assert session.run_job() is not None
    rolled = session.settings.roll_seed()
    session.engine.fail("over 77 tokens")
    assert session.settings.seed == rolled and not session.settings.seed_once


def test_a_run_that_finishes_spends_the_restored_seed(qapp, tmp_path):
    session = restored_session(tmp_path)
    assert session.run_job() is not None
    session.engine.finish()
    assert session.settings.random_seed and not session.settings.seed_once


def test_image_to_image_without_a_named_prompt_is_refused_before_the_run(qapp, tmp_path):
    """The command line's edit img2img needs --prompt; the app ran it as '(unconditional)'."""
    session = make_session(tmp_path / "s")
    session.settings.mode = "img2img"
    session.settings.prompt = ""
    submitted = []
    session.runner.submitted.connect(submitted.append)
    assert session.run_job() is None and not submitted
    assert session.said[-1][0] == "Cannot run" and "needs a prompt" in session.said[-1][1]
    session.settings.prompt = "7"
    assert session.run_job() is not None
