"""Frames export at the whole scale the user picks, in the app and on the command line."""

import numpy as np
import pytest
from PIL import Image
from test_app import RUN_TIMEOUT, open_window, settings
from test_app_extras import digit

from app.cli import main
from app.export import export_frames, frames_size
from app.main_window import ExportChoice, ExportDialog
from app.qt_images import qimage_to_numpy
from engine.images import frames_at_scale


def frame_sizes(path) -> set[tuple[int, int]]:
    with Image.open(path) as im:
        sizes = set()
        for index in range(im.n_frames):
            im.seek(index)
            sizes.add(im.size)
        return sizes


@pytest.mark.parametrize(("scale", "side"), [(1, 28), (4, 112), (9, 252), (None, 252)])
def test_frames_export_at_the_scale_asked(qapp, tmp_path, scale, side):
    result = digit(2, frames=3)
    path = tmp_path / "frames.gif"
    export_frames(result, path, scale=scale)
    assert frame_sizes(path) == {(side, side)}
    assert frames_size(result, scale) == (side, side), "the size a dialog can announce"
    with Image.open(path) as im:
        first = np.asarray(im.convert("L"))
    k = side // 28
    expected = qimage_to_numpy(result.frames[0], "L")
    assert np.array_equal(first[::k, ::k], expected), "square pixels: every pixel k × k"
    assert np.all(first == np.repeat(np.repeat(expected, k, 0), k, 1))


def test_a_scale_that_is_not_whole_is_refused(qapp, tmp_path):
    for bad in (0, 2.5, 65):
        with pytest.raises(ValueError, match="whole number"):
            export_frames(digit(1, frames=2), tmp_path / "x.gif", scale=bad)
    assert not (tmp_path / "x.gif").exists()


def test_narrow_frames_join_the_widest_by_whole_factors():
    small = Image.new("L", (16, 16), 40)
    big = Image.new("L", (64, 64), 200)
    out = frames_at_scale([small, small, big], 2)
    assert {f.size for f in out} == {(128, 128)}
    assert np.asarray(out[0]).min() == 40 and np.asarray(out[-1]).max() == 200
    assert [f.size for f in frames_at_scale([small, big])] == [(256, 256)] * 2


def test_the_dialog_offers_the_scale_for_frames_and_the_window_uses_it(qtbot, tiny_model,
                                                                         tmp_path):
    dialog = ExportDialog(None, has_frames=True)
    qtbot.addWidget(dialog)
    dialog.kind.setCurrentIndex(dialog.kind.findData("gif"))
    assert dialog.scale.isEnabled(), "the scale shown is the scale written"
    dialog.scale.setCurrentIndex(dialog.scale.findData(4))
    assert dialog.choice() == ExportChoice("gif", 4, "nearest")
    window = open_window(qtbot, tiny_model, tmp_path / "window")
    with qtbot.waitSignal(window.session.engine.finished, timeout=RUN_TIMEOUT):
        assert window.session.run_job(settings(window, "sample"))
    for scale, side in ((1, 28), (4, 112)):
        window.session.asker.export = ExportChoice("gif", scale)
        window.session.asker.paths = [str(tmp_path / f"x{scale}.gif")]
        assert window.session.export_dialog()
        assert frame_sizes(tmp_path / f"x{scale}.gif") == {(side, side)}


def test_cli_frames_are_a_whole_scale(tiny_model, tmp_path):
    image = np.zeros((56, 56), np.uint8)
    image[10:46, 24:32] = 255
    Image.fromarray(image).save(tmp_path / "one.png")
    base = ["edit", "sdedit", "--model", tiny_model, "--image", str(tmp_path / "one.png"),
            "--steps", "4", "--out", str(tmp_path / "out.png")]
    assert main([*base, "--frames", str(tmp_path / "a.gif")]) == 0
    assert frame_sizes(tmp_path / "a.gif") == {(252, 252)}, "28 × 9, not 256"
    assert main([*base, "--frames", str(tmp_path / "b.gif"), "--frames-scale", "3"]) == 0
    assert frame_sizes(tmp_path / "b.gif") == {(84, 84)}
    assert main([*base, "--frames", str(tmp_path / "c.gif"), "--frames-scale", "1.5"]) == 1
    assert not (tmp_path / "c.gif").exists()  # one error line, as every other bad value
