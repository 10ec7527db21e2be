"""Projects, export, autosave, settings, the history strip and the QImage <-> numpy bridge."""

import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPointF, QRect, QSettings
from PySide6.QtGui import QImage

from app.autosave import Autosaver
from app.document import Document, image_array
from app.export import export_frames, export_png, settings_from_png
from app.history import History, Result
from app.project import ProjectError, apply_project, load_project, save_project
from app.qt_images import numpy_to_qimage, pil_to_qimage, qimage_to_numpy, qimage_to_pil
from app.settings import MAX_RECENT, Settings
from widgets.history_strip import HistoryStrip, thumbnail

ROOT = Path(__file__).resolve().parents[1]
PARAMS = {"app": "diffusion-canvas", "mode": "sdedit", "model": "mnist", "prompt": "7",
          "seed": 42, "guidance": 5.0, "steps": None, "timesteps": [290, 280, 0],
          "nested": {"a": [1, 2.5, "x"]}, "unicode": "ça va"}


def noise(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def digit(seed=0, frames=0):
    image = numpy_to_qimage(noise((28, 28), seed))
    return Result(image, dict(PARAMS, seed=seed),
                  [numpy_to_qimage(noise((28, 28), seed + 100 + i)) for i in range(frames)])


def painted_document(width=61, height=45):
    """A document with random opaque pixels, a stroke of mask and a moved region."""
    doc = Document()
    rgb = noise((height, width, 3), 7)
    doc.set_image(numpy_to_qimage(rgb))
    doc.begin_stroke("mask", QPointF(10, 10), 9, 0.5)
    doc.stroke_to(QPointF(40, 30))
    doc.end_stroke()
    doc.set_region(QRect(5, 3, 40, 40))
    return doc


def pixels(image: QImage) -> np.ndarray:
    return image_array(image).copy()


# --- qt_images ------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(28, 28), (5, 27), (3, 28, 3), (7, 27, 3), (4, 13, 4)])
def test_numpy_qimage_round_trip_is_exact(qapp, shape):
    a = noise(shape)
    image = numpy_to_qimage(a)
    a_copy = a.copy()
    a[...] = 0  # the QImage owns its pixels
    assert np.array_equal(qimage_to_numpy(image), a_copy)
    assert np.array_equal(np.asarray(qimage_to_pil(image)), a_copy)
    assert np.array_equal(qimage_to_numpy(pil_to_qimage(Image.fromarray(a_copy))), a_copy)


def test_qt_allocated_images_with_padded_lines(qapp):
    grey = QImage(27, 3, QImage.Format.Format_Grayscale8)
    grey.fill(200)
    assert grey.bytesPerLine() == 28
    assert qimage_to_numpy(grey).shape == (3, 27) and (qimage_to_numpy(grey) == 200).all()
    argb = QImage(27, 2, QImage.Format.Format_ARGB32)
    argb.fill(0xFF102030)
    assert qimage_to_numpy(argb, "RGB")[1, 26].tolist() == [0x10, 0x20, 0x30]
    assert qimage_to_numpy(argb).shape == (2, 27, 4)


def test_numpy_to_qimage_refuses_floats(qapp):
    with pytest.raises(ValueError, match="uint8"):
        numpy_to_qimage(np.zeros((4, 4), np.float32))


# --- projects -------------------------------------------------------------------------------
def test_project_round_trip_is_exact(qapp, tmp_path):
    doc, history = painted_document(), History()
    for seed in range(3):
        history.append(digit(seed, frames=seed))
    path = tmp_path / "work.dcproj"
    save_project(path, doc, history, settings={"mode": "inpaint"})

    data = load_project(path)
    other, other_history = Document(), History()
    cleared = []
    other_history.cleared.connect(lambda: cleared.append(True))
    apply_project(data, other, other_history)

    assert np.array_equal(pixels(other.image()), pixels(doc.image()))
    assert np.array_equal(pixels(other.mask()), pixels(doc.mask()))
    assert pixels(doc.mask()).any()
    assert other.region() == doc.region() == QRect(5, 3, 40, 40)
    assert not other.modified and not other.undo_stack.canUndo()
    assert cleared and len(other_history) == 3
    assert data.settings == {"mode": "inpaint"}
    for old, new in zip(history, other_history):
        assert new.parameters == old.parameters
        assert np.array_equal(qimage_to_numpy(new.image), qimage_to_numpy(old.image))
        assert len(new.frames) == len(old.frames)
        for a, b in zip(old.frames, new.frames):
            assert np.array_equal(qimage_to_numpy(a), qimage_to_numpy(b))
    assert [p.name for p in tmp_path.iterdir()] == ["work.dcproj"]  # no temp file left


def test_transparent_pixels_survive(qapp, tmp_path):
    doc = Document()
    rgba = noise((9, 11, 4), 3)
    doc.set_image(numpy_to_qimage(rgba))
    save_project(tmp_path / "a.dcproj", doc)
    other = Document()
    apply_project(load_project(tmp_path / "a.dcproj"), other)
    assert np.array_equal(pixels(other.image()), pixels(doc.image()))


def corrupt_files(tmp_path):
    good = tmp_path / "good.dcproj"
    save_project(good, painted_document(), [digit()])
    data = good.read_bytes()
    (tmp_path / "truncated.dcproj").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.dcproj").write_text("hello")
    with zipfile.ZipFile(tmp_path / "foreign.dcproj", "w") as zf:
        zf.writestr("manifest.json", '{"format": "something-else", "version": 1}')
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(tmp_path / "newer.dcproj", "w") as zf:
        zf.writestr("manifest.json", src.read("manifest.json").replace(b'"version": 1',
                                                                         b'"version": 99'))
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(tmp_path / "nomask.dcproj", "w") as zf:
        for info in src.infolist():
            if info.filename != "mask.png":
                zf.writestr(info, src.read(info))
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(tmp_path / "badpng.dcproj", "w") as zf:
        for info in src.infolist():
            zf.writestr(info, b"\x89PNG\r\n\x1a\nrubbish" if info.filename == "image.png"
                        else src.read(info))
    return {
        "truncated": "damaged|not a Diffusion Canvas project",
        "text": "not a Diffusion Canvas project",
        "foreign": "not a Diffusion Canvas project",
        "newer": "newer version",
        "nomask": "damaged.*mask.png is missing",
        "badpng": "damaged",
        "missing": "file not found",
    }


def test_corrupt_projects_are_refused_and_change_nothing(qapp, tmp_path):
    cases = corrupt_files(tmp_path)
    doc, history = painted_document(), History()
    history.append(digit(5))
    before = (pixels(doc.image()), pixels(doc.mask()), doc.region(), doc.undo_stack.count())
    for name, message in cases.items():
        with pytest.raises(ProjectError, match=message):
            apply_project(load_project(tmp_path / f"{name}.dcproj"), doc, history)
    assert np.array_equal(pixels(doc.image()), before[0])
    assert np.array_equal(pixels(doc.mask()), before[1])
    assert (doc.region(), doc.undo_stack.count()) == before[2:]
    assert len(history) == 1


def test_failed_save_keeps_the_old_file(qapp, tmp_path, monkeypatch):
    path = tmp_path / "keep.dcproj"
    save_project(path, painted_document())
    old = path.read_bytes()

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("app.project.os.fsync", fail)
    with pytest.raises(ProjectError, match="No space left"):
        save_project(path, Document())
    assert path.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == ["keep.dcproj"]


# --- export ---------------------------------------------------------------------------------
def test_export_png_keeps_the_parameters(qapp, tmp_path):
    result = digit(3)
    export_png(result, tmp_path / "r.png")
    assert settings_from_png(tmp_path / "r.png") == result.parameters
    with Image.open(tmp_path / "r.png") as im:
        assert im.size == (28, 28) and im.mode == "L"
        assert np.array_equal(np.asarray(im), qimage_to_numpy(result.image))
    assert settings_from_png(tmp_path / "missing.png") is None
    Image.new("RGB", (4, 4)).save(tmp_path / "plain.png")
    assert settings_from_png(tmp_path / "plain.png") is None


@pytest.mark.parametrize("resample", ["nearest", "bicubic"])
def test_export_scaled_png(qapp, tmp_path, resample):
    result = digit(4)
    export_png(result, tmp_path / "big.png", scale=4, resample=resample)
    with Image.open(tmp_path / "big.png") as im:
        assert im.size == (112, 112)
        big = np.asarray(im)
    if resample == "nearest":
        assert np.array_equal(big[::4, ::4], qimage_to_numpy(result.image))
    assert settings_from_png(tmp_path / "big.png") == result.parameters
    with pytest.raises(ValueError):
        export_png(result, tmp_path / "x.png", scale=0)


@pytest.mark.parametrize("suffix", [".gif", ".png"])
def test_export_frames(qapp, tmp_path, suffix):
    result = digit(1, frames=5)
    path = tmp_path / f"frames{suffix}"
    export_frames(result, path)
    with Image.open(path) as im:
        assert im.n_frames == 5
        assert im.size == (252, 252)  # 28 * 9: the largest whole factor that stays within 256 px
    assert settings_from_png(path) == result.parameters


# --- autosave -------------------------------------------------------------------------------
def test_autosave_writes_when_modified_and_a_new_session_recovers(qtbot, tmp_path):
    doc = Document()
    saver = Autosaver(doc, tmp_path, interval_s=0.05)
    qtbot.wait(150)
    assert not saver.autosave_path.exists()  # nothing to save yet
    doc.begin_stroke("brush", QPointF(20, 20), 15, 1.0)
    doc.end_stroke()
    with qtbot.waitSignal(saver.saved, timeout=3000):
        pass
    expected = pixels(doc.image())
    other = Autosaver(Document(), tmp_path)
    assert other.pending_recovery() is None  # the first session is alive
    saver.close()  # ... and now it is gone without a clean exit

    doc2 = Document()
    fresh = Autosaver(doc2, tmp_path)
    recovery = fresh.pending_recovery()
    assert recovery is not None and recovery.size == (512, 512)
    fresh.restore()
    assert np.array_equal(pixels(doc2.image()), expected)
    assert doc2.modified
    assert not recovery.folder.exists() and fresh.autosave_path.exists()
    assert Autosaver(Document(), tmp_path).pending_recovery() is None
    for s in (other, fresh):
        s.mark_clean_exit()
    assert list(tmp_path.iterdir()) == []


def test_clean_exit_leaves_no_recovery(qapp, tmp_path):
    doc = painted_document()
    saver = Autosaver(doc, tmp_path)
    assert saver.save_now() and saver.autosave_path.exists()
    saver.mark_clean_exit()
    assert Autosaver(Document(), tmp_path).pending_recovery() is None
    assert list(tmp_path.iterdir()) == []


def test_a_crashed_process_leaves_a_recovery(qapp, tmp_path):
    script = (
        "import os\n"
        "from PySide6.QtCore import QRect\n"
        "from PySide6.QtGui import QGuiApplication\n"
        "from app.autosave import Autosaver\n"
        "from app.document import Document\n"
        "app = QGuiApplication([])\n"
        "doc = Document()\n"
        "doc.new_blank(30, 20)\n"
        "doc.set_region(QRect(0, 0, 10, 10))\n"
        f"saver = Autosaver(doc, {str(tmp_path)!r})\n"
        "assert saver.save_now()\n"
        "os._exit(3)\n"
    )
    env = {"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, timeout=60)
    assert done.returncode == 3
    saver = Autosaver(Document(), tmp_path)
    recovery = saver.pending_recovery()
    assert recovery is not None and recovery.size == (30, 20)
    saver.discard()
    assert saver.pending_recovery() is None
    saver.mark_clean_exit()


# --- settings -------------------------------------------------------------------------------
@pytest.fixture
def settings(qapp, tmp_path):
    return Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


def test_recent_files_order_dedupe_limit(settings, tmp_path):
    for i in range(12):
        settings.add_recent_file(tmp_path / f"{i}.png")
    settings.add_recent_file(tmp_path / "5.png")
    settings.add_recent_file(str(tmp_path / "." / "5.png"))
    recent = settings.recent_files()
    assert len(recent) == MAX_RECENT
    assert [Path(p).name for p in recent[:3]] == ["5.png", "11.png", "10.png"]
    assert len(set(recent)) == len(recent)
    settings.remove_recent_file(tmp_path / "11.png")
    assert str(tmp_path / "11.png") not in settings.recent_files()


def test_settings_round_trip_and_defaults(settings, tmp_path):
    assert (settings.model, settings.device, settings.brush_size) == ("mnist", "auto", 24)
    settings.model, settings.device, settings.tool = "mnist-time", "cpu", "mask"
    settings.brush_size, settings.hardness = 40, 0.25
    settings.set_last_folder("export", tmp_path / "file.png")
    settings.set_window_geometry(b"\x01\x02")
    settings.sync()
    again = Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    assert (again.model, again.device, again.tool) == ("mnist-time", "cpu", "mask")
    assert (again.brush_size, again.hardness) == (40, 0.25)
    assert again.last_folder("export") == str(tmp_path)
    assert bytes(again.window_geometry()) == b"\x01\x02" and again.window_state() is None
    again.qsettings.setValue("tools/hardness", "rubbish")
    assert again.hardness == 0.8


# --- the history strip ----------------------------------------------------------------------
def test_history_strip_signals(qtbot):
    strip = HistoryStrip()
    qtbot.addWidget(strip)
    for seed in range(3):
        result = digit(seed)
        assert strip.add(result.image, result.title(), result.summary()) == seed
    assert strip.count() == 3 and "seed: 1" in strip.tooltip(1)
    with qtbot.waitSignal(strip.selected) as blocker:
        strip.set_current(2)
    assert blocker.args == [2]
    for name in ("applyRequested", "useAsInputRequested", "exportRequested", "removeRequested"):
        menu = strip.context_menu(1)
        action = next(a for a in menu.actions() if a.objectName() == name)
        with qtbot.waitSignal(getattr(strip, name)) as blocker:
            action.trigger()
        assert blocker.args == [1]
    strip.remove(0)
    assert strip.count() == 2
    strip.clear()
    assert strip.count() == 0


def test_small_thumbnails_stay_crisp(qapp):
    a = noise((28, 28), 9)
    thumb = thumbnail(numpy_to_qimage(a), 96).toImage()
    assert (thumb.width(), thumb.height()) == (84, 84)
    grey = qimage_to_numpy(thumb, "L")
    assert np.array_equal(grey[::3, ::3], a)
    assert np.array_equal(grey[1::3, 2::3], a)
