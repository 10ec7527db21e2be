"""QA walk 8's window leftovers: a cancelled Live preview is not called a result, the Training
panel remembers its folder and settings, the region's size label stays in the view, and an
illusion needs its named prompts before the run."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPointF, QRect, QRectF, QSettings, Qt
from PySide6.QtGui import QColor, QImage, QPixmap
from session_fakes import make_session, model_state
from test_app import RUN_TIMEOUT, draw_digit, make_window, open_window, slow_down

from app.document import Document
from app.main_window import MainWindow
from app.qt_images import scaling_for
from app.results_view import RESULT_SIDE
from app.settings import Settings
from widgets.canvas import CanvasView


def shown_pixels(window: MainWindow) -> QImage:
    return window.result_view.image_label.pixmap().toImage().convertToFormat(
        QImage.Format.Format_RGB32)


def scaled_like_the_view(image: QImage) -> QImage:
    side = RESULT_SIDE - 8
    return QPixmap.fromImage(image).scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                           scaling_for(image)).toImage().convertToFormat(
        QImage.Format.Format_RGB32)


def test_a_cancelled_live_preview_gives_the_view_back_to_the_result_shown(qtbot, tiny_model,
                                                                          tmp_path):
    """A Live run's previews replaced the image under 'Live result'; cancelled, the half-made
    preview stayed there, and Keep would have kept the older result, not the image shown."""
    window = open_window(qtbot, tiny_model, tmp_path / "w")
    view, session = window.result_view, window.session
    window.modes.set_mode("sdedit")
    window.modes.steps.setValue(5)
    window.live_timer.setInterval(50)
    window.modes.live.setChecked(True)
    qtbot.waitUntil(lambda: view.title.text() == "<b>Live result</b>", timeout=RUN_TIMEOUT)
    qtbot.waitUntil(lambda: not session.engine.busy(), timeout=RUN_TIMEOUT)
    kept = session.shown_result
    assert shown_pixels(window) == scaled_like_the_view(kept.image)
    slow_down(window, 0.05)
    window.modes.steps.setValue(30)  # a change: Live runs again, slowly
    previews = []
    session.runner.preview.connect(lambda *args: previews.append(args))
    qtbot.waitUntil(lambda: len(previews) >= 2, timeout=RUN_TIMEOUT)
    assert view.title.text() == "<b>Live preview</b>", "a run on its way, not a result"
    assert not view.keep_button.isEnabled(), "Keep would keep another image than the one shown"
    with qtbot.waitSignal(session.engine.stopped, timeout=5000):
        window.modes.live.setChecked(False)  # cancels the Live run in flight
    assert session.shown_result is kept
    assert view.title.text() == "<b>Live result</b>"
    assert shown_pixels(window) == scaled_like_the_view(kept.image), "the preview is gone"
    assert view.keep_button.isEnabled() and view.apply_button.isEnabled()
    view.keep_button.click()
    assert session.history.results() == [kept]


def test_a_first_live_preview_cancelled_leaves_the_empty_view(qtbot, tiny_model, tmp_path):
    window = open_window(qtbot, tiny_model, tmp_path / "w")
    view, session = window.result_view, window.session
    slow_down(window, 0.05)
    window.modes.set_mode("sdedit")
    window.modes.steps.setValue(30)
    previews = []
    session.runner.preview.connect(lambda *args: previews.append(args))
    window.live_timer.setInterval(50)
    window.modes.live.setChecked(True)
    qtbot.waitUntil(lambda: len(previews) >= 1, timeout=RUN_TIMEOUT)
    assert view.title.text() == "<b>Live preview</b>"
    with qtbot.waitSignal(session.engine.stopped, timeout=5000):
        window.modes.live.setChecked(False)
    assert view.title.text() == "<b>Result</b>" and view.image_label.pixmap().isNull()
    assert view.image_label.text().startswith("No result yet")
    assert view.keep_button.isHidden() and not view.apply_button.isEnabled()


TRAINING = {"kind": "time", "epochs": 3, "batch_size": 32, "hidden": 8, "lr": 0.002,
            "seed": 5, "limit": 512, "precision": "fp32"}


def test_the_training_panel_remembers_its_folder_and_settings(qtbot, tiny_model, tmp_path):
    first = open_window(qtbot, tiny_model, tmp_path / "w")
    out = str(tmp_path / "my-runs" / "digits")
    first.training_panel.set_settings(out=out, **TRAINING)
    assert first.close()
    second = open_window(qtbot, tiny_model, tmp_path / "w")  # the same INI file
    panel = second.training_panel
    assert panel.out.text() == out
    assert panel.settings() == TRAINING | {"out": out}
    assert panel.lr.value() == pytest.approx(0.002)


def test_remembered_training_settings_that_do_not_fit_are_left_out(qtbot, tiny_model, tmp_path):
    """A hand-edited or another version's store: each bad value falls back, the rest stay."""
    folder = tmp_path / "w"
    folder.mkdir()
    prefs = Settings(QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat))
    prefs.training_settings = {"kind": "nonsense", "out": 7, "epochs": 10**12, "batch_size": True,
                               "hidden": "wide", "lr": float("nan"), "seed": -3, "limit": 100,
                               "precision": "fp8"}
    prefs.sync()
    panel = make_window(qtbot, None, folder).training_panel
    assert panel.kind.currentText() == "class" and panel.precision.currentText() == "auto"
    assert panel.out.text().endswith("class") and panel.limit.value() == 100
    assert panel.epochs.value() == panel.epochs.maximum(), "brought into the box's range"
    assert panel.seed.value() == 0
    prefs.qsettings.setValue("training/panel", "{not json")
    assert prefs.training_settings == {}


def label_pixels(view: CanvasView, box: QRect) -> list[tuple[int, int]]:
    """The white pixels (the label's text) inside `box` of the view as drawn."""
    shot = view.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    return [(x, y) for y in range(box.top(), box.bottom() + 1)
            for x in range(box.left(), box.right() + 1)
            if shot.pixelColor(x, y) == QColor(255, 255, 255)]


def canvas_on(qtbot, side: int = 280) -> tuple[Document, CanvasView]:
    doc = Document()
    doc.new_blank(side, side, QColor(0, 0, 0))
    view = CanvasView()
    view.resize(300, 300)
    view.set_document(doc)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    return doc, view


def test_the_region_label_stays_in_the_view_when_the_frame_runs_past_its_edges(qtbot):
    """Zoomed in, the frame's corner is above and left of the view: the label went with it."""
    doc, view = canvas_on(qtbot)
    view.set_zoom(4.0)  # the whole region frame lies outside the 300 px view on every side
    frame = view.transform().mapRect(QRectF(doc.region()))
    assert frame.left() < -100 and frame.top() < -100 and frame.right() > 400
    metrics = view.fontMetrics()
    text = f"{doc.region().width()} × {doc.region().width()}"
    width = metrics.horizontalAdvance(text)
    at = CanvasView.region_label_pos(frame, metrics.ascent(), width, QRectF(view.rect()),
                                     metrics.descent())
    drawn = QRectF(at.x(), at.y() - metrics.ascent(), width, metrics.height())
    assert QRectF(view.rect()).contains(drawn)
    assert label_pixels(view, QRect(0, 0, 90, 30)), "drawn in the view's top-left corner"


def test_the_region_label_is_not_cut_at_the_views_right_edge(qtbot):
    doc, view = canvas_on(qtbot, 2000)
    view.set_zoom(0.14)
    doc.set_region(QRect(1880, 600, 120, 120))  # a small region at the image's right edge
    view.pan_by(300 - view.transform().mapRect(QRectF(doc.region())).left() - 6, 0)
    frame = view.transform().mapRect(QRectF(doc.region()))
    assert 280 < frame.left() < 300, "the frame's left edge is by the view's right edge"
    metrics = view.fontMetrics()
    width = metrics.horizontalAdvance("120 × 120")
    at = CanvasView.region_label_pos(frame, metrics.ascent(), width, QRectF(view.rect()),
                                     metrics.descent())
    assert at.x() + width <= 300 and at.x() >= 0
    shown = label_pixels(view, QRect(200, 0, 100, 300))
    assert shown and min(x for x, _ in shown) < 280, "the whole label, left of the edge"


def illusion_session(tmp_path, mode: str, **state):
    session = make_session(tmp_path / "s", load=not state)
    if state:
        session.engine.answer_load(model_state(**state))
    s = session.settings
    s.mode, s.prompt, s.prompt2 = mode, "6", "9"
    s.random_seed, s.seed = False, 77
    if mode == "anagram":
        s.view = "rot180"
    submitted = []
    session.runner.submitted.connect(submitted.append)
    return session, submitted


@pytest.mark.parametrize("mode, box, label, option", [
    ("anagram", "prompt", "Upright", "--prompt"),
    ("anagram", "prompt2", "Through view", "--prompt2"),
    ("hybrid", "prompt", "Far (low-pass)", "--prompt"),
    ("hybrid", "prompt2", "Close (high-pass)", "--prompt2")])
def test_an_illusion_without_its_named_prompts_is_refused_before_the_run(
        qapp, tmp_path, mode, box, label, option):
    """The command line's edit anagram/hybrid need --prompt and --prompt2; the app ran an empty
    one as '(unconditional)'."""
    session, submitted = illusion_session(tmp_path, mode)
    setattr(session.settings, box, "")
    before = session.settings.job_fields(draw=False)
    assert session.run_job() is None and not submitted
    title, message = session.said[-1]
    assert title == "Cannot run" and f"'{label}'" in message and f"the {label} box" in message
    assert option not in message, "the app's words, not the command line's"
    assert session.settings.job_fields(draw=False) == before, "nothing else changed"
    assert session.settings.seed == 77 and session.settings.mode == mode
    setattr(session.settings, box, "3")
    job = session.run_job()
    assert job is not None and (job.params.prompt, job.params.prompt2) == (
        ("3", "9") if box == "prompt" else ("6", "3"))
    assert job.params.seed == 77



@pytest.mark.parametrize("mode, fields, label, option", [
    ("hybrid", {"split": "triple", "medium": ""}, "Medium", "--prompt3"),
    ("anagram", {"view3": "flip", "prompt3": " "}, "Prompt 3", "--prompt3"),
    ("anagram", {"view3": "flip", "prompt3": "1", "view4": "rot90", "prompt4": ""},
     "Prompt 4", "--prompt4")])
def test_an_illusions_third_or_fourth_prompt_is_refused_empty_too(qapp, tmp_path, mode, fields,
                                                                  label, option):
    """A triple hybrid's medium band, an anagram's third and fourth views: an empty box ran that
    band or view unconditioned, as the first two did before e448973."""
    session, submitted = illusion_session(tmp_path, mode)
    for name, value in fields.items():
        setattr(session.settings, name, value)
    assert session.run_job() is None and not submitted
    title, message = session.said[-1]
    assert title == "Cannot run" and f"'{label}'" in message and f"the {label} box" in message
    assert option not in message, "the app's words, not the command line's"
    box = "medium" if mode == "hybrid" else ("prompt4" if "prompt4" in fields else "prompt3")
    setattr(session.settings, box, "3")
    job = session.run_job()
    assert job is not None and job.params.more_prompts[-1] == "3"

def test_an_illusion_on_an_unconditional_model_says_it_needs_a_conditioned_one(qapp, tmp_path):
    session, submitted = illusion_session(tmp_path, "anagram", conditional=False, prompts=("",))
    assert session.run_job() is None and not submitted
    assert "unconditional" in session.said[-1][1] and "Model menu" in session.said[-1][1]


def test_the_window_refuses_an_unconditional_upright_prompt_and_keeps_the_panel(
        qtbot, tiny_model, tmp_path):
    window = open_window(qtbot, tiny_model, tmp_path / "w")
    modes = window.modes
    modes.set_mode("anagram")
    modes.prompt.set_prompt("")  # '(unconditional)' in the digit model's list
    modes.prompt2.set_prompt("9")
    modes.steps.setValue(7)
    modes.seed.setValue(123)
    submitted = []
    window.session.runner.submitted.connect(submitted.append)
    modes.run_button.click()
    assert not submitted and len(window.errors) == 1 and "'Upright'" in window.errors[0]
    assert modes.current_mode() == "anagram" and modes.prompt2.prompt() == "9"
    assert modes.steps.value() == 7 and modes.seed.value() == 123
    assert modes.prompt.currentText() == "(unconditional)"


def test_a_runs_region_is_converted_on_the_engine_thread_as_it_was_at_run(
        qtbot, tiny_model, tmp_path, monkeypatch):
    """make_job converted the region on the GUI thread (0.5 s at 4000²); now the job takes a
    snapshot, converted as the engine starts it: the same tensor, painting after Run or not."""
    import threading

    import torch

    from app.model_sees import region_rgb
    from engine import images

    window = open_window(qtbot, tiny_model, tmp_path / "w")
    session = window.session
    draw_digit(window)
    state = session.model_state
    before = images.prepare_image(region_rgb(session.document.image(),
                                             session.document.region()),
                                  state.size, state.channels, state.data_range)
    threads: list[str] = []
    prepare = images.prepare_image
    monkeypatch.setattr(images, "prepare_image", lambda *a, **k: threads.append(
        threading.current_thread().name) or prepare(*a, **k))
    hold = threading.Event()  # the engine thread waits until the test has painted
    source: list = []

    def held(model, job):
        source.append(job.image_source)
        hold.wait(10)
        return real_resolve(model, job)

    import app.engine_thread as engine_thread

    real_resolve = engine_thread.resolve_job
    monkeypatch.setattr(engine_thread, "resolve_job", held)
    window.modes.set_mode("sdedit")
    window.modes.steps.setValue(2)
    record = session.run_job()
    assert record is not None and record.params.image is None and record.params.image_source
    main = threading.main_thread().name
    assert main not in threads, "nothing converted on the GUI thread"
    doc = session.document  # painted after Run: not the run's input
    doc.begin_stroke("brush", QPointF(60, 40), 30, 0.8, QColor(255, 255, 255))
    doc.stroke_to(QPointF(200, 240))
    doc.end_stroke()
    ended = []
    session.runner.finished.connect(ended.append)
    session.runner.failed.connect(lambda _job, message: ended.append(message))
    hold.set()
    qtbot.waitUntil(lambda: bool(ended), timeout=RUN_TIMEOUT)
    assert ended[0] is record, ended
    engine = [name for name in threads if not name.startswith("model-sees")]
    assert engine and main not in engine, "the engine thread converted it"
    assert torch.equal(source[0](), before)
