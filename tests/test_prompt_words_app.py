"""The prompt box of a model with a vocabulary (issue 12, 3): the word being typed completes from
the model's words, and a word it does not know is one message in the window's error path."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from test_app import open_window
from test_prompt_words import WORDS, write_words_cascade

from widgets.modes_panel import PromptBox


@pytest.fixture(autouse=True)
def isolated(if_environment):
    pass


@pytest.fixture(scope="module")
def words_model(if_models, tmp_path_factory):
    return write_words_cascade(if_models, tmp_path_factory.mktemp("words-app"))


def type_into(qtbot, box: PromptBox, text: str) -> None:
    box.lineEdit().clear()
    qtbot.keyClicks(box.lineEdit(), text)


def test_typing_offers_the_models_words_for_the_word_being_typed(qtbot, words_model, tmp_path):
    window = open_window(qtbot, str(words_model), tmp_path / "w")
    assert window.session.model_state.words == tuple(WORDS)
    box = window.modes.prompt
    completer = box.word_completer
    type_into(qtbot, box, "hea")
    assert completer.offered() == ["heart", "heavy"]
    assert completer.completer.popup().isVisible()
    qtbot.keyClick(completer.completer.popup(), Qt.Key.Key_Return)
    assert box.prompt() == "heart"
    type_into(qtbot, box, "Red HEA")
    assert completer.prefix() == "HEA" and completer.offered() == ["heart", "heavy"]
    completer.insert("heart")
    assert box.prompt() == "Red heart" and box.lineEdit().cursorPosition() == len("Red heart")
    box.lineEdit().setText("red he face")
    box.lineEdit().setCursorPosition(len("red he"))
    completer.insert("heavy")
    assert box.prompt() == "red heavy face", "the word under the cursor, not the last one"
    type_into(qtbot, box, "red ")
    assert not completer.completer.popup().isVisible(), "no word begun: nothing offered"
    type_into(qtbot, box, "zq")
    assert completer.offered() == [] and not completer.completer.popup().isVisible()
    illusion = window.modes.illusion
    for other in (window.modes.prompt2, illusion.prompt3, illusion.prompt4, illusion.medium):
        assert other.word_completer.words() == WORDS, "every prompt box completes"
    type_into(qtbot, illusion.prompt3, "roc")
    assert illusion.prompt3.word_completer.offered() == ["rocket"]
    assert "words this model knows" in box.toolTip()


def test_an_unknown_word_is_one_message_in_the_window(qtbot, words_model, tmp_path):
    """Refused before the run (session 16's QA): not "The run failed", no random seed spent,
    nothing queued, the progress bar untouched."""
    window = open_window(qtbot, str(words_model), tmp_path / "w")
    window.modes.set_mode("sample")
    window.modes.prompt.set_prompt("red hart")
    seed_before, bar_before = window.modes.seed.value(), window.status_line.bar_state()
    assert window.session.run_job() is None
    assert window.modes.seed.value() == seed_before and not window.session.runner.busy()
    assert window.status_line.bar_state() == bar_before
    assert "Cannot run" in window.statusBar().currentMessage()
    assert len(window.errors) == 1
    assert window.errors[0].startswith(
        "IF-I-words does not know the word 'hart' (the closest words it knows: heart")
    assert "does not know the word 'hart'" in window.statusBar().currentMessage()
    assert not window.results, "nothing made"


def test_a_t5_model_has_no_word_completion(qtbot, if_models, tmp_path):
    window = open_window(qtbot, str(if_models / "IF-I-tiny-v1.0"), tmp_path / "w")
    box = window.modes.prompt
    assert window.session.model_state.words is None and box.word_completer.words() == []
    assert window.modes.illusion.prompt4.word_completer.words() == []
    assert box.lineEdit().completer() is not None, "the combo's own completion is back"
    type_into(qtbot, box, "a ro")
    assert not box.word_completer.completer.popup().isVisible()


def test_the_word_list_follows_the_model(qtbot):
    box = PromptBox()
    qtbot.addWidget(box)
    box.set_choices(["grinning face"], "")
    with qtbot.waitExposed(box):
        box.show()
    box.activateWindow()
    box.lineEdit().setFocus()  # inline completion works in the focused line only
    qtbot.waitUntil(box.lineEdit().hasFocus)
    own = box.lineEdit().completer()
    box.set_words(["heart"])
    assert box.lineEdit().completer() is None and box.word_completer.words() == ["heart"]
    type_into(qtbot, box, "gri")
    assert box.lineEdit().text() == "gri", "no inline completion from the items"
    box.set_words(None)
    assert box.lineEdit().completer() is own and box.word_completer.words() == []
    type_into(qtbot, box, "gri")
    assert box.lineEdit().text() == "grinning face", "the items complete inline again"
