"""Damaged autosaves and projects (issue 16, 3 and 5): restore what can be restored, keep the
file, say what was lost; bound what a project may ask to decode before decoding it."""

from __future__ import annotations

import io
import json
import random
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor, QImage

from app.autosave import AUTOSAVE_NAME, Autosaver
from app.document import Document
from app.history import History, Result
from app.project import (
    MAX_HISTORY,
    MAX_TOTAL_PIXELS,
    ProjectError,
    load_project,
    salvage_project,
    save_project,
)
from app.qt_images import qimage_to_numpy


def _painted() -> Document:
    doc = Document()
    doc.new_blank(64, 48, QColor("white"))
    doc.begin_stroke("brush", QPointF(20, 20), 9, 1.0)
    doc.end_stroke()
    return doc


def _result(value: int, frames: int = 2) -> Result:
    image = QImage(28, 28, QImage.Format.Format_Grayscale8)
    image.fill(value)
    return Result(image, {"mode": "sample", "seed": value}, [image.copy() for _ in range(frames)])


def _crashed_autosave(root: Path, doc: Document, results: list[Result]) -> Path:
    """An autosave as a session that died would leave it (saved, never cleanly closed)."""
    history = History()
    for result in results:
        history.append(result)
    saver = Autosaver(doc, root, history=history)
    assert saver.save_now()
    saver.close()
    return saver.autosave_path


def _rewrite(path: Path, change) -> None:
    """Rewrites the zip with change(name, data) -> data for each entry."""
    with zipfile.ZipFile(path) as zf:
        items = [(info.filename, zf.read(info)) for info in zf.infolist()]
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in items:
            zf.writestr(name, change(name, data), compress_type=zipfile.ZIP_STORED)


def test_a_damaged_frame_loses_only_that_frame_and_the_file_is_kept(qapp, tmp_path):
    doc = _painted()
    path = _crashed_autosave(tmp_path, doc, [_result(10), _result(200)])
    expected = qimage_to_numpy(doc.image(), "RGBA")
    _rewrite(path, lambda name, data: data[:40] if name == "history/0001/frame-0000.png"
             else data)
    fresh_doc, fresh_history = Document(), History()
    saver = Autosaver(fresh_doc, tmp_path, history=fresh_history)
    recovery = saver.pending_recovery()
    assert recovery is not None
    saver.restore()
    assert np.array_equal(qimage_to_numpy(fresh_doc.image(), "RGBA"), expected)
    assert len(fresh_history) == 2 and len(fresh_history[0].frames) == 2
    assert fresh_history[1].frames == []
    assert recovery.lost == ["the frames of 1 history result(s)"]
    assert recovery.kept_at is not None and recovery.kept_at.is_file()
    assert saver.pending_recovery() is None, "the kept file is not offered again"
    saver.mark_clean_exit()
    assert recovery.kept_at.is_file()


def test_a_truncated_autosave_is_offered_and_restores_what_it_holds(qapp, tmp_path):
    doc = _painted()
    path = _crashed_autosave(tmp_path, doc, [_result(10), _result(200)])
    data = path.read_bytes()
    with zipfile.ZipFile(path) as zf:  # cut inside the second result: its image is gone
        cut = zf.getinfo("history/0001/image.png").header_offset + 50
    path.write_bytes(data[:cut])
    with pytest.raises(ProjectError):
        load_project(path)
    fresh_doc, fresh_history = Document(), History()
    saver = Autosaver(fresh_doc, tmp_path, history=fresh_history)
    recovery = saver.pending_recovery()
    assert recovery is not None and recovery.damaged and recovery.size == (64, 48)
    saver.restore()
    assert np.array_equal(qimage_to_numpy(fresh_doc.image(), "RGBA"),
                          qimage_to_numpy(doc.image(), "RGBA"))
    assert len(fresh_history) == 1 and qimage_to_numpy(fresh_history[0].image, "L")[0, 0] == 10
    assert recovery.lost == ["1 of 2 history results"]
    assert recovery.kept_at.read_bytes() == data[:cut]
    saver.mark_clean_exit()


def test_an_autosave_with_nothing_left_says_so_and_is_kept(qapp, tmp_path):
    path = _crashed_autosave(tmp_path, _painted(), [])
    path.write_bytes(b"PK\x03\x04" + b"\0" * 20)
    saver = Autosaver(Document(), tmp_path)
    recovery = saver.pending_recovery()
    assert recovery is None, "no manifest: nothing that could be offered"
    assert path.exists(), "but the file is not deleted"
    saver.mark_clean_exit()


def test_a_lost_image_leaves_a_blank_one_and_says_so(qapp, tmp_path):
    path = tmp_path / "p.dcproj"
    save_project(path, _painted(), [_result(7)])
    _rewrite(path, lambda name, data: b"garbage" if name == "image.png" else data)
    data, lost = salvage_project(path)
    assert (data.image.width(), data.image.height()) == (64, 48)
    assert lost == ["the image (a blank one of its size stands in)"]
    assert len(data.results) == 1


def _bomb_project(path: Path, history: int, side: int) -> None:
    """A small file whose entries all name one large, highly compressible image."""
    big = io.BytesIO()
    Image.new("L", (side, side)).save(big, format="PNG")
    small = io.BytesIO()
    Image.new("RGB", (8, 8)).save(small, format="PNG")
    manifest = {"format": "diffusion-canvas-project", "version": 1, "size": [8, 8],
                "region": [0, 0, 8, 8], "image": "image.png", "mask": "mask.png",
                "history": [{"image": "big.png", "parameters": {}, "frames": []}] * history}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", json.dumps(manifest))
        zf.writestr("image.png", small.getvalue())
        zf.writestr("mask.png", small.getvalue())
        zf.writestr("big.png", big.getvalue())


def test_a_project_that_would_decode_to_gigabytes_is_refused_before_decoding(qapp, tmp_path):
    path = tmp_path / "bomb.dcproj"
    _bomb_project(path, history=600, side=1000)  # 600 M pixels from a file of a few kB
    assert path.stat().st_size < 100_000
    with pytest.raises(ProjectError, match=f"more than {MAX_TOTAL_PIXELS:,} pixels"):
        load_project(path)
    with pytest.raises(ProjectError, match="pixels"):
        salvage_project(path)


def test_a_project_with_too_many_history_entries_is_refused(qapp, tmp_path):
    path = tmp_path / "long.dcproj"
    _bomb_project(path, history=MAX_HISTORY + 1, side=8)
    with pytest.raises(ProjectError, match="at most 2,000"):
        load_project(path)


def test_seeded_mutations_of_a_project_give_a_result_or_one_clear_error(qapp, tmp_path):
    """Flipped bytes and cuts anywhere in a project: load gives the project or a ProjectError,
    salvage gives a project of the right size or a ProjectError; nothing else escapes."""
    path = tmp_path / "p.dcproj"
    save_project(path, _painted(), [_result(10), _result(99, frames=1)])
    original = path.read_bytes()
    rng = random.Random(16)
    outcomes = {"loaded": 0, "salvaged": 0, "refused": 0}
    for trial in range(40):
        data = bytearray(original)
        if trial % 2:
            data = data[:rng.randrange(len(data))]
        else:
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        damaged = tmp_path / f"m{trial}.dcproj"
        damaged.write_bytes(bytes(data))
        try:
            load_project(damaged)
            outcomes["loaded"] += 1
            continue
        except ProjectError as error:
            assert "\n" not in str(error)
        try:
            project, lost = salvage_project(damaged)
        except ProjectError as error:
            assert "\n" not in str(error)
            outcomes["refused"] += 1
            continue
        assert (project.image.width(), project.image.height()) == (64, 48)
        assert all(isinstance(item, str) for item in lost)
        outcomes["salvaged"] += 1
    print("project mutations:", outcomes)  # docs/reliability.md quotes these
    assert outcomes["salvaged"] > 5, outcomes


def test_the_autosave_name_is_what_the_tests_assume():
    assert AUTOSAVE_NAME.endswith(".dcproj")


# --- settings read back from a file (issue 16, 4) ---------------------------------------------
BAD_SETTINGS = {"mode": "sample", "seed": 1e30, "guidance": float("nan"), "steps": 7,
                "count": 10 ** 9, "prompt": "3", "view_seed": -5, "upscale": "yes",
                "views": [{"x": 1}], "sigma": float("inf")}


def test_clean_run_settings_keeps_the_good_and_names_the_bad():
    from app.restored import clean_run_settings

    clean, problems = clean_run_settings(BAD_SETTINGS)
    assert clean == {"mode": "sample", "steps": 7, "prompt": "3"}
    assert len(problems) == 7 and problems[0] == "seed 1e+30 is not a whole number from 0 to " \
        "2147483647"
    assert clean_run_settings("nonsense") == ({}, ["the saved settings are not a JSON object"])


def test_the_rules_match_the_panel_ranges(qtbot):
    from app.restored import RULES
    from app.session.modes import MODES
    from widgets.modes_panel import ModesPanel

    panel = ModesPanel(modes=MODES)
    qtbot.addWidget(panel)
    for key in ("guidance", "sigma", "steps", "seed", "count"):
        box = getattr(panel, key)
        assert RULES[key](box.minimum()) and RULES[key](box.maximum()), key
        assert not RULES[key](box.maximum() + 1), key


@pytest.fixture
def window(qtbot, tmp_path):
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from test_app import open_window

    from engine.models.tiny import save_tiny_digit_model

    return open_window(qtbot, str(save_tiny_digit_model(tmp_path / "tiny")), tmp_path / "window")


def test_a_png_with_out_of_range_settings_opens_and_says_what_was_left_out(window, tmp_path):
    from engine.images import save_png

    path = tmp_path / "bad.png"
    save_png(Image.new("L", (28, 28)), path, BAD_SETTINGS)
    seed_before = window.modes.seed.value()
    assert window.session.open_path(str(path))
    assert window.modes.steps.value() == 7
    assert window.modes.seed.value() == seed_before
    assert "seed 1e+30" in window.statusBar().currentMessage()


def test_a_project_with_out_of_range_settings_opens_whole(window, tmp_path):
    path = tmp_path / "bad.dcproj"
    save_project(path, _painted(), [_result(5)], {"modes": BAD_SETTINGS})
    assert window.session.open_project(str(path))
    assert len(window.session.history) == 1 and window.modes.steps.value() == 7
    image = window.session.document.image()
    assert (image.width(), image.height()) == (64, 48)
    assert "Some saved settings were left out" in window.statusBar().currentMessage()


def test_seeded_fuzz_of_settings_never_breaks_the_panel(qtbot):
    """Random values of every type in every key the panel reads: cleaned, they always apply."""
    from app.restored import RULES, clean_run_settings
    from app.session.modes import MODES
    from app.session.settings import RunSettings, bind_panel
    from widgets.illusion_options import VIEWS
    from widgets.modes_panel import ModesPanel

    panel = ModesPanel(modes=MODES)
    qtbot.addWidget(panel)
    run = RunSettings(views=[key for key, _ in VIEWS])
    bind_panel(run, panel)
    rng = random.Random(4)
    values = [None, True, -1, 0, 1, 7, 2 ** 31, 2 ** 64, -1e30, 1e30, float("nan"),
              float("inf"), 0.5, 29.9, "", "3", "x" * 5000, [], ["flip", None], [1, 2],
              {"a": 1}, "sample", "anagram", "hybrid", "rot90"]
    keys = sorted(RULES)
    for _ in range(200):
        raw = {key: rng.choice(values) for key in rng.sample(keys, rng.randint(1, len(keys)))}
        clean, problems = clean_run_settings(raw)
        run.apply_parameters(clean)
        assert len(clean) + len(problems) == len(raw)
