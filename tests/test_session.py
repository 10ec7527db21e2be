"""The session (app/session/session.py) with a fake engine and a fake asker: no window, no
thread; each test takes milliseconds. The flows that needed a threaded window: opening,
saving, the dirty state and title, questions before replacing work, recovery, model reload
with rollback, Live, sweeps and closing."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QSize

from app.document import image_array
from app.project import load_project
from app.session.asker import ExportChoice
from app.session.jobs import JobKind
from app.session.session import TITLE
from engine import images
from tests.session_fakes import draw, make_session, model_state, pixels


@pytest.fixture
def session(qapp, tmp_path):
    return make_session(tmp_path / "s")


def run(session, kind: JobKind = JobKind.USER, count: int = 1, **settings):
    job = session.run_job(session.settings.job_fields() | settings, kind)
    assert job is not None, session.said
    session.engine.finish(count)
    return job


def test_the_startup_document_follows_the_model_and_is_clean(session):
    assert session.document.size() == QSize(280, 280), "the digit model's canvas"
    assert not session.dirty and session.title == TITLE and session.projectPath is None
    assert session.model_state.spec == "mnist" and session.preferences.model == "mnist"
    assert session.settings.timesteps == session.model_state.timestep_values


def test_opening_an_image_names_the_title_and_takes_its_settings(session, tmp_path):
    path = tmp_path / "seven.png"
    images.save_png(Image.new("L", (56, 42), 255), path,
                    {"mode": "img2img", "prompt": "7", "seed": 123, "guidance": 3.0})
    titles, replaced = [], []
    session.titleChanged.connect(titles.append)
    session.documentReplaced.connect(replaced.append)
    assert session.open_path(str(path))
    assert session.document.size() == QSize(56, 42)
    assert titles == ["seven.png — Diffusion Canvas"] == [session.title]
    assert not session.dirty and session.projectPath is None
    assert replaced[0].lightness() == 255, "the brush is told the image is white"
    s = session.settings
    assert (s.mode, s.prompt, s.seed, s.guidance) == ("img2img", "7", 123, 3.0)
    assert s.seed_once, "a seed from a file serves one job"
    assert session.preferences.recent_files() == [str(path)]
    assert session.asker.asked == [], "nothing was unsaved: no question"


def test_a_stroke_and_a_result_make_it_dirty_and_the_title_says_so(session):
    changes, titles = [], []
    session.dirtyChanged.connect(changes.append)
    session.titleChanged.connect(titles.append)
    draw(session)
    assert session.dirty and changes == [True] and titles == ["Untitled* — Diffusion Canvas"]
    session.document.undo_stack.undo()
    assert not session.dirty and changes == [True, False] and session.title == TITLE
    run(session, prompt="3")
    assert session.dirty and changes == [True, False, True], "a new result is unsaved work"
    assert session.shownResult is session.history[0] and not session.shown_live


def test_save_asks_for_a_path_once_then_saves_there(session, tmp_path):
    draw(session)
    run(session, prompt="5")
    session.asker.paths = [str(tmp_path / "p")]
    paths = []
    session.projectPathChanged.connect(paths.append)
    assert session.save()
    target = tmp_path / "p.dcproj"
    assert target.is_file() and paths == [str(target.absolute())] == [session.projectPath]
    assert session.asker.asked == ["save Save project"]
    assert not session.dirty and session.title == "p — Diffusion Canvas"
    draw(session, x=60)
    assert session.dirty and session.title == "p* — Diffusion Canvas"
    assert session.save() and session.asker.asked == ["save Save project"], "no new question"
    assert not session.dirty
    saved = load_project(target)
    assert np.array_equal(image_array(saved.image), pixels(session)), "the second stroke too"


def test_save_as_always_asks_and_a_cancel_changes_nothing(session, tmp_path):
    assert session.save_to(str(tmp_path / "p.dcproj"))
    draw(session)
    assert not session.save_as(), "the dialog was cancelled"
    assert session.dirty and session.projectPath == str((tmp_path / "p.dcproj").absolute())
    session.asker.paths = [str(tmp_path / "q.dcproj")]
    assert session.save_as() and session.projectPath.endswith("q.dcproj")
    assert not session.dirty and session.asker.asked == ["save Save project"] * 2


def test_a_saved_project_opens_in_another_session_with_its_history(session, tmp_path):
    draw(session)
    run(session, prompt="4", seed=11)
    run(session, prompt="6", seed=12)
    session.settings.prompt = "8"
    path = str(tmp_path / "p.dcproj")
    assert session.save_to(path)
    other = make_session(tmp_path / "other")
    assert other.open_path(path)
    assert np.array_equal(pixels(other), pixels(session))
    assert [r.parameters for r in other.history] == [r.parameters for r in session.history]
    assert other.shownResult is other.history[1], "the newest result is shown"
    assert other.title == "p — Diffusion Canvas" and not other.dirty
    assert other.settings.prompt == "8", "the run settings come back with the project"


def test_replacing_unsaved_work_asks_first(session, tmp_path):
    draw(session)
    drawn = pixels(session)
    asker = session.asker
    asker.unsaved = "cancel"
    assert not session.may_replace("starting a new image")
    assert asker.asked == ["unsaved Untitled starting a new image"]
    photo = tmp_path / "photo.png"
    Image.new("RGB", (40, 40), (200, 10, 10)).save(photo)
    assert not session.open_path(str(photo)) and np.array_equal(pixels(session), drawn)
    asker.unsaved = "save"  # and then the save dialog is cancelled: nothing is replaced
    assert not session.may_replace("starting a new image")
    assert asker.asked[-1] == "save Save project"
    asker.unsaved = "discard"
    assert session.open_path(str(photo)) and session.document.size() == QSize(40, 40)
    asked = len(asker.asked)
    assert session.may_replace("starting a new image") and len(asker.asked) == asked, \
        "an opened, untouched image is not unsaved work"


@pytest.mark.parametrize("name", ["broken.png", "broken.dcproj"])
def test_a_corrupt_file_asks_nothing_and_says_one_message(session, tmp_path, name):
    draw(session)  # unsaved work: a question would come if the file were read first
    before, title = pixels(session), session.title
    path = tmp_path / name
    path.write_bytes(b"this is not what the name says" * 10)
    assert not session.open_path(str(path))
    assert session.asker.asked == [] and len(session.said) == 1
    assert name in session.said[0][1] or "broken" in session.said[0][1]
    assert np.array_equal(pixels(session), before) and session.title == title
    assert session.projectPath is None and session.preferences.recent_files() == []


def test_recovery_restores_the_work_a_crash_left(qapp, tmp_path):
    crashed = make_session(tmp_path / "a")
    draw(crashed)
    run(crashed, prompt="2")
    assert crashed.autosaver.save_now()
    crashed.autosaver.close()  # what a crash leaves: the autosave, no lock
    again = make_session(tmp_path / "b", autosave_folder=tmp_path / "a" / "autosave")
    assert again.offer_recovery() and again.asker.asked == ["recovery"]
    assert np.array_equal(pixels(again), pixels(crashed))
    assert [r.parameters for r in again.history] == [crashed.history[0].parameters]
    assert again.dirty and "*" in again.title and again.shownResult is again.history[0]
    again.document.undo_stack.undo()  # the restore is one undo step
    assert not np.array_equal(pixels(again), pixels(crashed))


def test_recovery_later_keeps_it_and_discard_drops_it(qapp, tmp_path):
    crashed = make_session(tmp_path / "a")
    draw(crashed)
    assert crashed.autosaver.save_now()
    crashed.autosaver.close()
    again = make_session(tmp_path / "b", autosave_folder=tmp_path / "a" / "autosave")
    again.asker.recovery = "later"
    assert not again.offer_recovery() and again.autosaver.pending_recovery() is not None
    again.asker.recovery = "discard"
    assert not again.offer_recovery() and again.autosaver.pending_recovery() is None
    assert not again.dirty and again.document.size() == QSize(280, 280)


def test_a_reload_that_fails_keeps_the_model_and_says_what_was_kept(session):
    engine, loaded = session.engine, session.model_state
    requests = []
    session.requestChanged.connect(requests.append)
    session.set_precision("bf16")
    assert engine.loads[-1] == ("mnist", "cpu", None, "bf16", "none")
    engine.fail_load("bf16 is not supported here")
    assert session.said == [("Cannot load the model",
                             "bf16 is not supported here. Kept mnist (cpu, fp32)")]
    assert session.precision == "auto" == session.preferences.precision, "rolled back"
    assert [r.precision for r in requests] == ["bf16", "auto"]
    assert session.model_state is loaded
    session.load_model("mnist-time")
    engine.answer_load(model_state("mnist-time", device="cpu", prompts=("",),
                                   conditional=False))
    assert session.model_state.spec == "mnist-time" == session.preferences.model
    assert len(session.said) == 1


def test_the_startup_model_failing_is_a_status_line_not_a_box(qapp, tmp_path):
    session = make_session(tmp_path / "s", load=False)
    failed = []
    session.modelFailed.connect(failed.append)
    session.engine.fail_load("no model named mnist")
    assert failed == ["no model named mnist"] and session.said == []
    assert session.run_job() is None, "no model: the run is refused"
    assert "no model is loaded" in session.said[0][1]


def test_live_reaches_the_live_slot_and_is_kept_once(session):
    engine = session.engine
    session.settings.mode = "sdedit"
    session.settings.seed, session.settings.random_seed = 77, False
    session.set_live(True)
    draw(session)  # the stroke's end runs Live at once
    assert len(engine.pending) == 1 and engine.jobs[engine.pending[0]].seed == 77
    engine.step()
    engine.finish()
    assert session.shown_live and session.shownResult is not None
    assert len(session.history) == 0, "a Live result is not kept by itself"
    assert session.keep_live_result() and len(session.history) == 1
    assert session.shownResult is session.history[0] and not session.shown_live
    assert not session.keep_live_result(), "kept once"
    session.set_live(False)
    draw(session, x=60)
    assert engine.pending == [], "Live off: no more runs"


def test_a_change_cancels_the_live_run_in_flight(session):
    engine = session.engine
    session.settings.mode = "sdedit"
    session.set_live(True)
    draw(session)
    first = list(engine.pending)
    session.settings.prompt = "9"  # a Live input: the run in flight is stale
    assert engine.pending == [] and first
    assert session.runner.live_timer.isActive(), "one runs after the delay"


def test_a_sweeps_results_reach_the_history_in_order(session):
    done = []
    session.runner.sweepDone.connect(done.append)
    jobs = [session.run_job(session.settings.job_fields() | {"seed": seed}, JobKind.SWEEP)
            for seed in (1, 2, 3)]
    for _ in jobs:
        session.engine.finish()
    assert done == jobs
    assert [r.parameters["seed"] for r in session.history] == [1, 2, 3]
    assert session.shownResult is session.history[2]


def test_a_batch_goes_to_the_history_with_the_first_shown(session):
    run(session, count=3, seed=40)
    assert len(session.history) == 3 and session.shownResult is session.history[0]
    session.remove_result(0)
    assert session.shownResult is session.history[0], "the next one is shown"
    session.history.clear()
    assert session.shownResult is None


def test_a_failed_run_says_one_message_and_a_live_failure_a_line(session):
    session.run_job()
    session.engine.fail("out of memory")
    assert session.said == [("The run failed", "out of memory")]
    session.settings.mode = "sdedit"
    session.set_live(True)
    draw(session)
    session.engine.fail("the region is empty")
    assert len(session.said) == 1 and session.lines[-1] == "Live: the region is empty"


def test_export_asks_what_and_where_then_writes(session, tmp_path):
    run(session, prompt="1", seed=5)
    session.asker.export = ExportChoice("png", 4, "nearest")
    session.asker.paths = [str(tmp_path / "out")]
    assert session.export_dialog()
    written = Image.open(tmp_path / "out.png")
    assert written.size == (112, 112) and images.read_parameters(tmp_path / "out.png")["seed"] == 5
    assert session.export_canvas(str(tmp_path / "canvas"))
    assert Image.open(tmp_path / "canvas.png").size == (280, 280)
    (tmp_path / "a-file").write_text("not a folder")
    assert not session.export_result(str(tmp_path / "a-file" / "x.png"))
    assert len(session.said) == 1 and session.said[0][0] == "Cannot export"


def test_close_with_a_failing_question_keeps_everything(session):
    draw(session)
    drawn = pixels(session)
    assert session.autosaver.save_now()
    asker = session.asker

    def broken(*_args, **_kwargs):
        raise TypeError("unsaved_changes() got an unexpected keyword")

    asker.unsaved_changes = broken
    assert not session.close()
    assert session.engine.shut_down == 0, "the threads still run"
    assert np.array_equal(pixels(session), drawn)
    assert "stays open" in session.said[-1][1]
    assert session.autosaver.autosave_path.exists(), "the autosave is kept"
    del asker.unsaved_changes
    asker.unsaved = "cancel"
    assert not session.close() and session.engine.shut_down == 0
    asker.unsaved = "discard"
    assert session.close() and session.engine.shut_down == 1
    assert not session.autosaver.autosave_path.exists(), "a clean exit leaves no autosave"


def test_close_stops_every_thread_even_when_one_fails(session, capfd):
    class Broken:
        def shutdown(self) -> None:
            raise RuntimeError("stuck")

    session.own_thread(Broken())

    def no_sync() -> None:
        raise OSError("settings file is read-only")

    session.preferences.sync = no_sync
    assert session.close()
    assert session.engine.shut_down == 1
    err = capfd.readouterr().err
    assert "settings were not saved: settings file is read-only" in err and "stuck" in err


def test_use_as_input_switches_a_mode_that_takes_no_image(session):
    run(session, prompt="2")
    session.settings.mode = "sample"
    before = pixels(session)
    session.use_as_input()
    assert session.settings.mode == "sdedit" and not np.array_equal(pixels(session), before)
    assert session.document.undo_stack.undoText() == "Use result as input"


def test_paste_replaces_the_image_and_a_null_image_is_refused(session):
    from tests.session_fakes import grey_image

    assert session.paste(grey_image(200, 64)) and session.document.size() == QSize(64, 64)
    assert not session.paste(type(grey_image(0))()), "a null image"
    assert session.dirty

