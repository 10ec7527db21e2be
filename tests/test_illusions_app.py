"""The illusions in the app: the modes panel's 3-4 view anagrams and hybrid splits, the viewer's
views, animations, scores and GIF, and a 3-view anagram run end to end."""

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QMessageBox
from test_app import RUN_TIMEOUT, open_window, settings

from app.illusions import (
    as_tensor,
    export_gif,
    open_anagram_viewer,
    result_views,
    scores_line,
    write_gif,
)
from app.jobs import Job, illusion_fields, job_parameters
from app.qt_images import numpy_to_qimage, qimage_to_numpy
from app.session.modes import MODES
from app.session.settings import RunSettings, bind_panel
from engine.views import get_view
from widgets.illusion_viewers import SIDE, motion_frame
from widgets.modes_panel import ModesPanel


def grey(image: QImage) -> np.ndarray:
    return qimage_to_numpy(image, "L").astype(int)


def picture(side: int = 28) -> QImage:
    rng = np.random.default_rng(0)
    return numpy_to_qimage(rng.integers(0, 256, (side, side), dtype=np.uint8))


@pytest.mark.parametrize("name", ["jigsaw", "pixels", "inner-circle", "square-hinge", "skew"])
def test_a_permutation_animates_from_the_image_to_its_view(name):
    image = picture(28)
    view = get_view(name, size=28, seed=2)
    motion = view.motion(28).numpy()
    seen = grey(numpy_to_qimage(view.apply(torch.from_numpy(grey(image))[None].float())[0]
                                .numpy().astype(np.uint8)))
    scale = SIDE // 28
    start, end = grey(motion_frame(image, motion, 0.0)), grey(motion_frame(image, motion, 1.0))
    assert np.array_equal(start, np.kron(grey(image), np.ones((scale, scale), int)))
    assert np.array_equal(end, np.kron(seen, np.ones((scale, scale), int)))
    middle = grey(motion_frame(image, motion, 0.5))
    assert not np.array_equal(middle, start) and not np.array_equal(middle, end)


def test_the_viewer_shows_every_view_its_scores_and_exports_a_gif(qtbot, tmp_path):
    image = picture(28)
    p = {"mode": "anagram", "prompt": "6", "prompt2": "9", "view": "rot180",
         "prompts": ["6", "9", "1"], "views": ["rot180", "jigsaw"], "view_seed": 3}
    viewer = open_anagram_viewer(image, p, None)
    qtbot.addWidget(viewer)
    assert [name for name, _ in viewer.views] == ["rot180", "jigsaw"]
    jigsaw = get_view("jigsaw", size=28, seed=3)
    expected = jigsaw.apply(torch.from_numpy(grey(image))[None, None].float())[0, 0].numpy()
    assert np.array_equal(grey(viewer.cells[1].image()), expected.astype(int))
    assert viewer.scores.text().startswith("Alignment A = ")
    viewer.chooser.setCurrentIndex(1)
    assert viewer.view == "jigsaw" and "jigsaw" in viewer.motions
    frames = viewer.gif_frames(steps=4)
    assert len(frames) == 2 * (2 * 6 + 2 * 5)
    out = tmp_path / "views.gif"
    write_gif(viewer, str(out), p)
    with Image.open(out) as gif:
        assert gif.n_frames > 4 and b"jigsaw" in gif.info["comment"]


class OneAnswer:
    def __init__(self, path: str) -> None:
        self.path = path

    def save_path(self, parent, title, start, filters):
        return self.path


def test_a_gif_that_cannot_be_written_is_one_message_and_the_viewer_stays(qtbot, tmp_path):
    p = {"mode": "anagram", "prompt": "6", "prompt2": "9", "view": "rot180"}
    viewer = open_anagram_viewer(picture(28), p, None)
    qtbot.addWidget(viewer)
    (tmp_path / "a file").write_text("not a folder")
    where = tmp_path / "a file" / "views.gif"
    assert export_gif(viewer, p, OneAnswer(str(where))) is None
    boxes = viewer.findChildren(QMessageBox)
    assert len(boxes) == 1 and boxes[0].text().startswith("The GIF was not written")
    assert not where.exists()
    assert export_gif(viewer, p, OneAnswer(str(tmp_path / "views"))) == str(tmp_path / "views.gif")
    assert (tmp_path / "views.gif").is_file()


def test_scores_are_those_of_the_digit_classifier_or_say_why_not():
    views = result_views(picture(28), {"view": "rot180"})
    line = scores_line(picture(28), views, ["6", "9"])
    assert line.startswith("Alignment A = ") and "concealment C = " in line
    assert scores_line(picture(32), result_views(picture(32), {"view": "flip"}),
                       ["a castle", "a tree"]).startswith("No scores")


def test_an_upscaled_result_is_seen_through_the_stage_one_views():
    views = result_views(picture(64), {"view": "jigsaw", "upscale": True, "view_seed": 1})
    assert views[1].size == 32 and views[1].seed == 1  # the emoji cascade: 32 -> 64 px
    x = as_tensor(picture(64))
    assert torch.equal(views[1].inverse(views[1].apply(x)), x)


def test_the_modes_panel_offers_more_views_and_splits(qtbot):
    panel = ModesPanel(modes=MODES)
    qtbot.addWidget(panel)
    run = RunSettings()
    bind_panel(run, panel)
    panel.set_model_info({"prompts": [*"0123456789", ""], "default_prompt": "0",
                          "default_guidance": 5.0, "timesteps": 30, "size": 28})
    panel.set_mode("anagram")
    views = [panel.view.itemData(i) for i in range(panel.view.count())]
    assert {"jigsaw", "inner-circle", "square-hinge", "skew", "pixels"} <= set(views)
    opts = panel.illusion
    opts.view3.setCurrentIndex(opts.view3.findData("jigsaw"))
    opts.prompt3.set_prompt("1")
    opts.view_seed.setValue(4)
    s = run.job_fields()
    assert s["more_views"] == ("jigsaw",) and s["more_prompts"] == ("1",)
    job = Job(**s)
    params = job_parameters(job, "mnist")
    assert params["views"][1] == "jigsaw" and params["view_seed"] == 4
    assert illusion_fields(params) == {"view_seed": 4, "more_prompts": ("1",),
                                       "more_views": ("jigsaw",)}
    panel.set_mode("hybrid")
    opts.split.setCurrentIndex(opts.split.findData("triple"))
    opts.medium.set_prompt("7")
    s = run.job_fields()
    assert s["split"] == "triple" and s["more_prompts"] == ("7",)
    panel.set_mode("sdedit")
    assert "more_prompts" not in run.job_fields()
    # an earlier run's parameters come back into the rows
    run.apply_parameters({"mode": "anagram", "prompts": ["6", "9", "2", "3"],
                          "views": ["rot180", "pixels", "skew"], "view_seed": 9})
    assert panel.illusion.more_views() == ("pixels", "skew")
    assert run.job_fields()["more_prompts"] == ("2", "3") and opts.view_seed.value() == 9


def test_a_three_view_anagram_runs_in_the_app_and_opens_its_viewer(qtbot, tiny_model, tmp_path):
    window = open_window(qtbot, tiny_model, tmp_path / "window")
    s = settings(window, "anagram", prompt="6", prompt2="9", view="rot180",
                 more_prompts=("1",), more_views=("inner-circle",))
    with qtbot.waitSignal(window.session.engine.finished, timeout=RUN_TIMEOUT):
        assert window.session.run_job(s) is not None
    result = window.session.history[-1]
    assert result.parameters["views"] == ["rot180", "inner-circle"]
    viewer = window.view_illusion(result)
    assert [name for name, _ in viewer.views] == ["rot180", "inner-circle"]
    turned = get_view("inner-circle", size=28).apply(
        torch.from_numpy(grey(result.image))[None, None].float())[0, 0].numpy().astype(int)
    assert np.array_equal(grey(viewer.cells[1].image()), turned)
