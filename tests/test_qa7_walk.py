"""Found in the seventh QA walk: a damaged project (cut short by a failed copy, a member lost)
could not be opened at all, though the autosave's salvage reads most of it; and it was called
'not a Diffusion Canvas project' when only its end was missing."""

from __future__ import annotations

import zipfile

import numpy as np
from PySide6.QtGui import QColor, QImage

from app.history import Result
from app.project import save_project
from tests.session_fakes import draw, make_session, pixels


def _result(value: int) -> Result:
    image = QImage(28, 28, QImage.Format.Format_Grayscale8)
    image.fill(value)
    return Result(image, {"mode": "sample", "seed": value}, [image.copy()])


def _saved_project(session, path, results: int = 30):
    """`session`'s drawing saved with `results` history results; its pixels."""
    session.document.new_blank(64, 48, QColor("black"))
    draw(session, 30)
    save_project(path, session.document, [_result(i) for i in range(results)])
    return pixels(session).copy()


def _truncated(source, target, keep: float = 0.5) -> bytes:
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * keep)])
    return target.read_bytes()


def test_a_truncated_project_opens_what_can_be_read_as_unsaved_work(qapp, tmp_path):
    session = make_session(tmp_path / "s")
    drawn = _saved_project(session, tmp_path / "good.dcproj")
    damaged = _truncated(tmp_path / "good.dcproj", tmp_path / "cut.dcproj")
    session.document.new_blank(28, 28, QColor("white"))
    session.asker.damaged = True
    assert session.open_path(str(tmp_path / "cut.dcproj"))
    asked = [line for line in session.asker.asked if line.startswith("damaged")]
    assert len(asked) == 1 and "cut.dcproj" in asked[0] and "history results" in asked[0]
    assert "damaged (cut short" in asked[0] and "not a Diffusion Canvas" not in asked[0]
    assert np.array_equal(pixels(session), drawn)  # the image is at the zip's start: whole
    assert 0 < len(session.history) < 30
    assert session.is_modified() and session.project_path is None
    assert session.document_name() == "cut (recovered)"
    assert (tmp_path / "cut.dcproj").read_bytes() == damaged  # the file is left as it was
    assert not session.said


def test_declining_a_damaged_project_changes_nothing(qapp, tmp_path):
    session = make_session(tmp_path / "s")
    _saved_project(session, tmp_path / "good.dcproj")
    _truncated(tmp_path / "good.dcproj", tmp_path / "cut.dcproj")
    session.document.new_blank(28, 28, QColor("white"))
    before, undo = pixels(session).copy(), session.document.undo_stack.count()
    assert not session.open_path(str(tmp_path / "cut.dcproj"))  # the fake declines
    assert any(line.startswith("damaged") for line in session.asker.asked)
    assert np.array_equal(pixels(session), before)
    assert session.document.undo_stack.count() == undo and len(session.history) == 0


def test_a_missing_member_is_offered_too_and_what_is_lost_is_named(qapp, tmp_path):
    session = make_session(tmp_path / "s")
    _saved_project(session, tmp_path / "good.dcproj", results=3)
    with zipfile.ZipFile(tmp_path / "good.dcproj") as src, \
            zipfile.ZipFile(tmp_path / "nomask.dcproj", "w") as dst:
        for item in src.infolist():
            if item.filename != "mask.png":
                dst.writestr(item, src.read(item))
    session.asker.damaged = True
    assert session.open_path(str(tmp_path / "nomask.dcproj"))
    asked = [line for line in session.asker.asked if line.startswith("damaged")]
    assert "mask.png is missing" in asked[0] and asked[0].endswith("lost the mask")
    assert len(session.history) == 3


def test_a_newer_or_foreign_file_is_not_salvaged(qapp, tmp_path):
    session = make_session(tmp_path / "s")
    _saved_project(session, tmp_path / "good.dcproj", results=1)
    with zipfile.ZipFile(tmp_path / "good.dcproj") as src, \
            zipfile.ZipFile(tmp_path / "newer.dcproj", "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, data.replace(b'"version": 1', b'"version": 99')
                         if item.filename == "manifest.json" else data)
    (tmp_path / "text.dcproj").write_text("hello")
    session.asker.damaged = True
    for name, message in (("newer", "newer version"), ("text", "not a Diffusion Canvas")):
        assert not session.open_path(str(tmp_path / f"{name}.dcproj"))
        assert message in session.said[-1][1]
    assert not [line for line in session.asker.asked if line.startswith("damaged")]


class OneAtATime:
    """Answers like a user, but runs the event loop while it 'waits' as a dialog does, and
    records any question asked while another is still open."""

    def __init__(self) -> None:
        self.showing: str | None = None
        self.order: list[str] = []
        self.nested: list[tuple[str, str]] = []

    def _ask(self, what: str, answer):
        from PySide6.QtTest import QTest

        if self.showing:
            self.nested.append((self.showing, what))
        self.showing = what
        self.order.append(what)
        QTest.qWait(50)  # a dialog's own event loop: timers due now fire
        self.showing = None
        return answer

    def offer_recovery(self, parent, recovery):
        return self._ask("recovery", "later")

    def open_damaged(self, parent, problem, lost):
        return self._ask("damaged", False)

    def unsaved_changes(self, parent, name, action="closing", detail=""):
        return self._ask("unsaved", "cancel")

    def save_path(self, *args):
        return ""

    open_path = folder = save_path

    def export_choice(self, parent, result):
        return None


def test_at_start_the_recovery_is_asked_first_and_the_files_question_after_it(
        qtbot, tmp_path, monkeypatch):
    """main.py FILE after a crash: the damaged file's question came up, and the recovery's
    question on top of it (its timer fired in the first dialog's event loop)."""
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    import app.main_window as main_window
    from app.autosave import Autosaver
    from app.document import Document
    from app.settings import Settings

    left = Document()
    left.new_blank(40, 30, QColor("white"))
    saver = Autosaver(left, tmp_path / "autosave")
    assert saver.save_now()
    saver.close()  # a session that died: its autosave stays
    session = make_session(tmp_path / "s")
    _saved_project(session, tmp_path / "good.dcproj", results=2)
    _truncated(tmp_path / "good.dcproj", tmp_path / "cut.dcproj")
    asker, windows, real = OneAtATime(), [], main_window.MainWindow

    def make(*args, **kwargs):
        window = real(*args, **kwargs | {"asker": asker, "autosave_folder": tmp_path / "autosave"})
        qtbot.addWidget(window)
        windows.append(window)
        return window

    ini = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    monkeypatch.setattr(main_window, "MainWindow", make)
    monkeypatch.setattr(main_window, "Settings", lambda: Settings(ini))
    monkeypatch.setattr(QApplication, "exec", lambda self: qtbot.wait(400) or 0)
    assert main_window.run_app(str(tmp_path / "cut.dcproj"), model="mnist-denoiser") == 0
    assert asker.order == ["recovery", "damaged"] and asker.nested == []
    windows[0].session.engine.shutdown()


def test_a_bad_sweep_value_is_named_in_words_not_pythons():
    """The Sweep dialog said "Bad values: invalid literal for int() with base 10: 'abc'"."""
    import pytest

    from app.sweeps import parse_values

    for kind, text, message in (("i_start", "1, abc, 5", "'abc' is not a whole number"),
                                ("seed", "2.5", "'2.5' is not a whole number"),
                                ("guidance", "3, x", "'x' is not a number"),
                                ("guidance", "nan", "'nan' is not a finite number"),
                                ("guidance", "1 inf", "'inf' is not a finite number")):
        with pytest.raises(ValueError) as raised:
            parse_values(kind, text)
        assert str(raised.value) == message
    assert parse_values("i_start", "1; 3 5") == [1, 3, 5]
    assert parse_values("guidance", "1.5, 7") == [1.5, 7.0]


def test_a_folder_that_cannot_be_written_is_said_in_words():
    """The Training panel said "unexpected error: PermissionError: [Errno 1] Operation not
    permitted: '/…/train'" for an out folder it could not make."""
    import errno

    from app.engine_thread import error_message

    denied = PermissionError(errno.EPERM, "Operation not permitted", "/somewhere/train")
    assert error_message(denied) == "cannot use /somewhere/train: Operation not permitted"
    full = OSError(errno.ENOSPC, "No space left on device")
    assert error_message(full) == "No space left on device"
    assert error_message(RuntimeError("x")) == "unexpected error: RuntimeError: x"


def test_an_embeddings_file_with_objects_is_refused_without_torchs_advice(tmp_path):
    """The refusal quoted torch: "... Re-running `torch.load` with `weights_only` set to
    `False` will likely succeed ...": advice that would run the file's code."""
    import pytest
    import torch

    from engine.errors import PromptError
    from engine.prompts import load_embeddings

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"a": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(PromptError) as raised:
        load_embeddings(tmp_path / "evil.pth")
    said = str(raised.value)
    assert "holds Python objects besides tensors" in said and "weights_only" not in said
    (tmp_path / "junk.pth").write_bytes(b"not a pickle")
    with pytest.raises(PromptError) as raised:
        load_embeddings(tmp_path / "junk.pth")
    said = str(raised.value)
    assert said.endswith("damaged or not a file of tensors saved by torch")
    assert "weights_only" not in said


def test_a_file_made_with_another_model_leaves_the_loaded_models_own_settings(qapp, tmp_path):
    """An emoji project opened on the digit model put 'red heart', guidance 5.5 and 200 steps
    into the digit model's panel (and its next run failed on the prompt)."""
    from PIL import Image

    from engine.images import save_png

    session = make_session(tmp_path / "s")  # the digit model, 'mnist'
    settings = session.settings
    settings.prompt, settings.guidance, settings.steps = "3", 4.0, 0
    emoji = {"mode": "sample", "model": "/runs/IF-I-emoji", "prompt": "red heart",
             "guidance": 5.5, "steps": 200, "seed": 42, "count": 2}
    save_png(Image.new("L", (28, 28)), tmp_path / "emoji.png", emoji)
    assert session.open_path(str(tmp_path / "emoji.png"))
    assert (settings.prompt, settings.guidance, settings.steps) == ("3", 4.0, 0)
    assert (settings.seed, settings.count) == (42, 2), "the shared settings still come back"
    assert "were for IF-I-emoji: mnist keeps its own" in session.lines[-1]
    save_png(Image.new("L", (28, 28)), tmp_path / "digit.png", emoji | {"model": "mnist",
                                                                        "prompt": "7"})
    assert session.open_path(str(tmp_path / "digit.png"))
    assert (settings.prompt, settings.guidance, settings.steps) == ("7", 5.5, 200)


def test_a_project_made_with_another_model_leaves_the_own_settings_too(qapp, tmp_path):
    session = make_session(tmp_path / "s")
    settings = session.settings
    settings.prompt, settings.guidance = "3", 4.0
    save_project(tmp_path / "emoji.dcproj", session.document, [],
                 {"model": "/runs/IF-I-emoji", "modes": {"mode": "hybrid",
                                                         "prompt": "red heart", "guidance": 7.0}})
    assert session.open_path(str(tmp_path / "emoji.dcproj"))
    assert (settings.mode, settings.prompt, settings.guidance) == ("hybrid", "3", 4.0)
    assert "were for IF-I-emoji" in session.lines[-1]


def test_the_model_menu_still_lists_the_folders_used_before_a_restart(qapp, tmp_path):
    """After a restart on the digit model the emoji folder opened the day before was gone from
    Model > Folder (its prompts were remembered, the menu forgot it)."""
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QMenu

    from app import actions as action_table
    from app.model_menu import ModelMenu

    older, newer, gone = tmp_path / "IF-I-emoji", tmp_path / "my-run", tmp_path / "deleted"
    older.mkdir()
    newer.mkdir()
    session = make_session(tmp_path / "s")
    for folder in (gone, older, newer):
        session.preferences.set_run_settings_for(str(folder), {"guidance": 3.0})
    session.preferences.set_run_settings_for("mnist", {"guidance": 5.0})
    menu = QMenu()
    actions = {row.id: QAction(row.text, menu) for row in action_table.rows_of("Model")}
    model_menu = ModelMenu(menu, session, actions)  # it fills the menu
    specs = [action.data() for action in model_menu.model_actions()]
    assert specs[-2:] == [str(newer), str(older)], specs
    assert str(gone) not in specs and specs.count("mnist") == 1
