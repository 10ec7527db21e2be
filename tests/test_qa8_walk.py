"""Found in QA walk 8 (the real window under Xvfb): the history menu's Upscale names the
cascade's own factor."""

from __future__ import annotations

from PySide6.QtGui import QImage
from test_app import RUN_TIMEOUT, open_window

from engine.models.tiny import save_tiny_if, save_tiny_if_stage_two


def upscale_action(window):
    menu = window.history_strip.context_menu(0)
    return next(a for a in menu.actions() if a.objectName() == "upscaleRequested")


def test_the_history_menus_upscale_names_the_cascades_factor(qtbot, tmp_path):
    """The emoji cascade's stage II is 32 -> 64: the menu said 'Upscale ×4' beside the
    panel's '×2 with IF stage II'."""
    stage_one = save_tiny_if(tmp_path / "IF-I-x", sample_size=32)
    save_tiny_if_stage_two(tmp_path / "IF-II-x", sample_size=64)
    window = open_window(qtbot, str(stage_one), tmp_path / "w")
    assert window.session.model_state.upscale_factor == 2
    window.history_strip.add(QImage(32, 32, QImage.Format.Format_RGB32), "a", "a")
    action = upscale_action(window)
    assert action.isVisible() and action.text() == "Upscale ×2", action.text()
    assert window.modes.upscale.text().startswith("×2 ")


def test_the_course_figure_on_if_is_the_courses_own_250_500_750(tmp_path):
    """IF's strided schedule tops out at 990 (T = 1000): the figure scaled by 990 showed
    t = 248, 495, 742 where the course (and `reproduce part-a`) shows 250, 500, 750; the
    explorer's caption said T = 990."""
    import torch

    from engine.explore import Explorer
    from engine.models.registry import load_model

    model = load_model(str(save_tiny_if(tmp_path / "IF-I-x", sample_size=32)), "cpu")
    explorer = Explorer(model, torch.zeros(1, 3, 32, 32))
    assert explorer.top == 990 and explorer.num_timesteps == 1000
    assert explorer.figure_timesteps() == [250, 500, 750]


def test_the_explorer_caption_names_ifs_t_of_1000(qtbot, tmp_path):
    window = open_window(qtbot, str(save_tiny_if(tmp_path / "IF-I-x", sample_size=32)),
                         tmp_path / "w")
    assert window.session.model_state.num_timesteps == 1000
    window.show_explorer()
    status = window.explorer.view.status
    qtbot.waitUntil(lambda: "T = " in status.text(), timeout=RUN_TIMEOUT)
    assert "T = 1000," in status.text(), status.text()


def test_a_two_line_caption_in_the_explorer_does_not_cover_its_picture(qtbot, tmp_path):
    """'iterative from t=150' wraps to two lines in the 120 px cell: the cell kept its one-line
    height, so the caption was drawn over the bottom of the picture."""
    window = open_window(qtbot, "mnist", tmp_path / "w")
    window.resize(1280, 800)
    with qtbot.waitSignal(window.explorer.iterativeShown, timeout=RUN_TIMEOUT):
        window.show_explorer()
    cell = window.explorer.view.cells["iterative"]
    # a later request (the window settling) may have set "working…" again: wait for its column
    qtbot.waitUntil(lambda: cell.caption.text().startswith("iterative from t="),
                    timeout=RUN_TIMEOUT)
    qtbot.wait(100)
    caption, picture = cell.caption.geometry(), cell.picture.geometry()
    assert caption.top() > picture.bottom(), (caption, picture)
    assert caption.height() >= cell.caption.heightForWidth(caption.width())


def test_a_sweep_strip_that_cannot_be_written_says_why(qtbot, tmp_path):
    """'could not write PATH' named no reason (the other exports say 'cannot write PATH:
    WHY'), and QImage.save wrote in place, not atomically."""
    window = open_window(qtbot, "mnist", tmp_path / "w")
    dialog = window.open_sweeps()
    said = []
    window.session.error.connect(lambda title, text: said.append(text))
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert not dialog.export(str(blocker / "sweep.png"))
    assert said == [f"cannot write {blocker / 'sweep.png'}: Not a directory"], said
    assert dialog.export(str(tmp_path / "sweep.png"))
    assert not QImage(str(tmp_path / "sweep.png")).isNull()
    dialog.close()


def test_the_image_to_image_hint_keeps_its_digit_example_to_the_digit_models(qtbot):
    """On the emoji cascade the hint said 'draw a 1, ask for a 7'."""
    from test_qa_emoji_walk import panel

    emoji = panel(qtbot, size=32, channels=3)
    emoji.set_mode("img2img")
    assert "a 7" not in emoji.mode_hint.text() and "prompt you name" in emoji.mode_hint.text()
    digits = panel(qtbot, size=28, channels=1)
    digits.set_mode("img2img")
    assert digits.mode_hint.text().endswith("On digits: draw a 1, ask for a 7.")


def test_a_refused_run_keeps_the_seed_a_file_restored(qapp, tmp_path):
    """Open an exported inpaint PNG to make it again, press Run before painting the mask:
    'the mask is empty' - and the file's seed was spent on that refused job, so the run after
    painting drew a random one (the refused run also rolled a shown random seed)."""
    from PIL import Image

    from engine import images
    from tests.session_fakes import make_session

    session = make_session(tmp_path / "s")
    path = tmp_path / "filled.png"
    images.save_png(Image.new("L", (28, 28), 0), path,
                    {"mode": "inpaint", "prompt": "3", "seed": 4242})
    assert session.open_path(str(path))
    assert session.settings.seed_once and session.settings.seed == 4242
    assert session.run_job() is None and "mask is empty" in session.said[-1][1]
    assert session.settings.seed == 4242 and session.settings.seed_once, "still the file's"
    session.settings.random_seed = True
    shown = session.settings.seed
    assert session.run_job() is None
    assert session.settings.seed == shown, "a refused run draws no seed"
