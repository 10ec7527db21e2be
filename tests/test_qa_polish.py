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


# --- the status bar ------------------------------------------------------------------------------

@pytest.fixture
def line(qtbot):
    from PySide6.QtWidgets import QMainWindow

    from app.status_line import StatusLine

    window = QMainWindow()
    qtbot.addWidget(window)
    status = StatusLine(window.statusBar())
    status.show_zoom(1.87)
    window.resize(900, 300)
    window.show()
    qtbot.waitExposed(window)
    return window, status


def test_a_long_message_is_cut_before_the_zoom_label(line, qtbot):
    window, status = line
    text = "Cannot run: the mask is empty: " + "paint where new content goes " * 12
    window.statusBar().showMessage(text, 10_000)
    label = status.message_label
    qtbot.waitUntil(lambda: label.full_text() == text)
    shown = label.text()
    assert shown.endswith("…") and len(shown) < len(text)
    assert label.fontMetrics().horizontalAdvance(shown) <= label.width()
    assert label.geometry().right() < status.zoom_label.geometry().left()
    assert label.toolTip() == text
    assert window.statusBar().currentMessage() == text  # the bar's message itself is whole
    window.statusBar().clearMessage()
    assert label.text() == ""


def test_a_short_message_is_shown_whole(line):
    window, status = line
    window.statusBar().showMessage("Done in 1.2 s")
    assert status.message_label.text() == "Done in 1.2 s"


def test_a_cancelled_run_leaves_no_step_count(line):
    _window, status = line
    bar = status.progress_bar
    status.started()
    status.progress(4, 9, 3.0)
    assert bar.text() == "step 4 / 9"
    status.ended(cancelled=True)
    assert "step" not in bar.text() and bar.text() == "Cancelled"
    assert bar.value() == 0
    status.started()
    status.progress(1, 9, 3.0)
    assert bar.text() == "step 1 / 9"  # the next run counts again


# --- the empty mask ------------------------------------------------------------------------------

def test_an_empty_mask_in_the_app_names_the_mask_tool(session):
    session.settings.mode = "inpaint"
    assert session.run_job(session.settings.job_fields()) is None
    title, message = session.said[-1]
    assert title == "Cannot run" and message.startswith("The mask is empty")
    assert "Mask tool (M)" in message and "white" not in message


def test_an_empty_mask_on_the_command_line_says_white(tmp_path):
    from PIL import Image

    from engine import images
    from engine.errors import EmptyMaskError

    with pytest.raises(EmptyMaskError, match="paint white") as caught:
        images.load_mask(Image.new("L", (40, 40), 0), 28)
    assert "Mask tool" not in str(caught.value)
    corner = Image.new("L", (120, 40), 0)
    corner.paste(255, (0, 0, 20, 40))  # white only outside the centre square
    with pytest.raises(EmptyMaskError, match="inside the square") as caught:
        images.load_mask(corner, 28)
    assert "inside the region" in caught.value.in_app()


# --- Model > Precision > fp16 on the CPU -------------------------------------------------------

def model_menu(session):
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QMenu

    from app import actions as action_table
    from app.model_menu import ModelMenu

    menu = QMenu()
    actions = {row.id: QAction(row.text, menu) for row in action_table.rows_of("Model")}
    model = ModelMenu(menu, session, actions)
    session.modelReady.connect(model.loaded)  # as the window does
    model.keep = menu
    return model


def ticked(menu) -> list[str]:
    return [key for key, action in menu.precision_actions.items() if action.isChecked()]


def test_fp16_is_not_offered_on_the_cpu(session):
    menu = model_menu(session)
    fp16 = menu.precision_actions["fp16"]
    assert not fp16.isEnabled() and "GPU" in fp16.toolTip()
    assert menu.precision_actions["bf16"].isEnabled() and ticked(menu) == ["auto"]


def test_a_remembered_fp16_on_the_cpu_ticks_what_runs_and_says_so_once(session):
    from tests.session_fakes import model_state

    menu = model_menu(session)
    session.set_precision("fp16")  # remembered from a GPU session, say
    session.engine.answer_load(model_state(device="cpu", dtype="float32"))
    assert ticked(menu) == ["auto"] and not menu.precision_actions["fp16"].isChecked()
    said = [line for line in session.lines if "fp16" in line]
    assert said == ["fp16 is not supported on the CPU: running fp32"]


def test_fp16_is_offered_and_ticked_on_a_gpu(session):
    from tests.session_fakes import model_state

    menu = model_menu(session)
    session.set_precision("fp16")
    session.engine.answer_load(model_state(device="cuda:0", dtype="float16"))
    fp16 = menu.precision_actions["fp16"]
    assert fp16.isEnabled() and ticked(menu) == ["fp16"]
    assert not [line for line in session.lines if "not supported" in line]


# --- every export starts in the one remembered export folder --------------------------------------

class StartAsker:
    """Records where each save dialog starts and answers `answer`."""

    def __init__(self, answer: str) -> None:
        self.answer, self.starts = answer, []

    def save_path(self, parent, title, start, filters) -> str:
        self.starts.append(start)
        return self.answer


def test_the_illusion_gif_export_starts_in_the_last_export_folder(session, qtbot, tmp_path):
    from PySide6.QtGui import QImage

    from app.illusions import open_illusion_viewer

    before, after = tmp_path / "exports", tmp_path / "later"
    before.mkdir()
    after.mkdir()
    prefs = session.preferences
    prefs.set_last_folder("export", before / "result.png")  # an Export result… went here
    image = QImage(28, 28, QImage.Format.Format_Grayscale8)
    image.fill(90)
    p = {"mode": "anagram", "prompt": "6", "prompt2": "9", "view": "rot180"}
    asker = StartAsker(str(after / "views"))
    viewer = open_illusion_viewer(image, p, None, asker, prefs)
    qtbot.addWidget(viewer)
    viewer.exportRequested.emit()
    assert asker.starts == [str(before / "illusion.gif")]
    assert (after / "views.gif").stat().st_size > 0
    assert prefs.last_folder("export") == str(after)  # the next export starts here
