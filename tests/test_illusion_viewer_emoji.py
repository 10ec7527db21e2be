"""The illusion viewer on the emoji model (issue 12's QA leftovers): an emoji anagram is scored
by the emoji classifier whenever every prompt names one of its emoji (by its CLDR, Unicode or
short name, with or without a style word), a 64 px stage II result at the classifier's 32 px;
a prompt it does not know or a missing classifier is one line saying why; and every panel of
the viewer is drawn at one size, whatever the result's size."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from app import illusions
from app.illusions import open_anagram_viewer, result_views, scores_line, stage_one_side
from app.qt_images import numpy_to_qimage
from engine.training import emoji_data
from engine.training.emoji_classifier import BUNDLED, ClassifierConfig, train_emoji_classifier
from engine.training.emoji_judge import (
    NAMES,
    class_index,
    class_of,
    load_emoji_judge,
    read_names,
    write_names,
)
from engine.views import View
from tests.emoji_fixtures import write_emoji_set
from widgets.illusion_viewers import AnagramViewer, display_side

# the fixture's art (tests/emoji_fixtures.py): a centred square of one colour on white
FLAG, KEYCAP = "flag: Egypt", "keycap 0"  # a CLDR name (its Unicode name: 'egypt flag')


@pytest.fixture(scope="module")
def emoji_set(tmp_path_factory):
    return write_emoji_set(tmp_path_factory.mktemp("emoji") / "set", copies=2)


@pytest.fixture(scope="module")
def classifier(emoji_set, tmp_path_factory):
    """A tiny emoji classifier trained on the fixture's art, with its names.json."""
    out = tmp_path_factory.mktemp("judge") / "classifier"
    train_emoji_classifier(ClassifierConfig(str(emoji_set), epochs=8, lr=1e-2, batch_size=8,
                                            num_threads=1, device="cpu", width=8, fc=16),
                           out, log=lambda _: None)
    write_names(emoji_data.load_set(emoji_set), out)
    return out


@pytest.fixture
def judged_by(monkeypatch):
    """Points the viewer's emoji judge at a folder (its cache emptied before and after)."""
    def use(folder) -> None:
        monkeypatch.setattr(illusions, "EMOJI_CLASSIFIER", str(folder))
        illusions.emoji_judge.cache_clear()

    yield use
    illusions.emoji_judge.cache_clear()


def art(emoji_set, label: str) -> np.ndarray:
    """The fixture's 64 px art (google's) of the emoji whose CLDR name is `label`."""
    data = emoji_data.load_set(emoji_set)
    i = next(i for i, e in enumerate(data.entries) if e["label"] == emoji_data.words(label))
    return data.images[i]


def halved(a: np.ndarray) -> np.ndarray:
    """64 -> 32 px by 2 x 2 means (what a stage I image of the same art looks like)."""
    n = a.shape[0] // 2
    return a.reshape(n, 2, n, 2, 3).mean((1, 3)).round().astype(np.uint8)


def number(line: str, name: str) -> float:
    return float(line.split(f"{name} = ")[1].split(" ")[0])


# --- which prompts name a class --------------------------------------------------------------

CLASSES = [{"unified": "2764", "name": "heavy black heart", "short_names": ["heart"]},
           {"unified": "1F408", "name": "cat", "short_names": []},
           {"unified": "1F431", "name": "cat face", "short_names": ["cat"]},
           {"unified": "1F60B", "name": "face savouring delicious food", "short_names": ["yum"]}]
ENTRIES = [{"unified": "2764-FE0F", "label": "red heart"},
           {"unified": "1F60B", "label": "face savoring food"}]


@pytest.mark.parametrize("prompt, expected", [
    ("red heart", 0), ("heavy black heart", 0), ("heart", 0),  # CLDR, Unicode, short name
    ("Red Heart, google", 0), ("red heart, twemoji", 0), ("twemoji red heart", 0),
    ("  Face-Savoring   Food ", 3), ("yum", 3), ("cat", 1), ("cat face", 2),
    ("red heart, on a plate", 0),  # what follows a comma is not the emoji's name
    ("love", None), ("google", None), ("red", None), ("", None), ("a red heart", None)])
def test_a_prompt_names_a_class_by_any_of_its_names_with_or_without_a_style(prompt, expected):
    assert class_of(class_index(CLASSES, ENTRIES), prompt) == expected


def test_without_the_cldr_names_only_the_classifiers_own_names_are_known():
    own = class_index(CLASSES)
    assert class_of(own, "red heart") is None and class_of(own, "heavy black heart") == 0


@pytest.mark.skipif(not (BUNDLED / "config.json").is_file(), reason="no bundled classifier")
def test_the_bundled_classifier_knows_the_emoji_models_prompts_by_their_cldr_names():
    from engine.prompt_sets import EMOJI_ANAGRAM_CANDIDATES, EMOJI_HYBRID_CANDIDATES, FIXED

    assert (BUNDLED / NAMES).is_file()
    judge = load_emoji_judge()
    classes = json.loads((BUNDLED / "config.json").read_text())["classes"]
    assert len(read_names(BUNDLED)) == len(classes)
    heart = judge.class_of("heavy black heart")
    assert classes[heart]["unified"].startswith("2764")
    assert judge.class_of("red heart") == judge.class_of("Red heart, google") == heart
    assert judge.class_of("grinning face") == 0 and judge.class_of("love") is None
    wanted = {p for pairs in EMOJI_ANAGRAM_CANDIDATES.values() for pair in pairs for p in pair}
    wanted |= {p for pair in EMOJI_HYBRID_CANDIDATES for p in pair} | set(FIXED["emoji"].all())
    assert [p for p in sorted(wanted) if judge.class_of(p) is None] == []


def test_a_broken_names_table_is_one_clear_message(tmp_path):
    (tmp_path / NAMES).write_text(json.dumps({"format": "other", "labels": {}}))
    with pytest.raises(Exception, match="is not an emoji names table"):
        read_names(tmp_path)
    assert read_names(tmp_path / "none") == []


# --- the scores --------------------------------------------------------------------------------

def test_an_emoji_anagram_is_scored_by_the_emoji_classifier(emoji_set, classifier, judged_by):
    judged_by(classifier)
    flag = numpy_to_qimage(art(emoji_set, FLAG))
    views = result_views(flag, {"view": "mirror", "upscale": True})  # a symmetric picture
    line = scores_line(flag, views, [FLAG, "egypt flag, google"])
    assert line.startswith("Alignment A = ") and line.endswith("by the emoji classifier")
    assert number(line, "Alignment A") > 0.9, "the class's own art reads as it"
    keycap = scores_line(numpy_to_qimage(art(emoji_set, KEYCAP)), views, [FLAG, FLAG])
    assert number(keycap, "Alignment A") < 0.05, "another emoji's art does not"
    blank = numpy_to_qimage(np.full((64, 64, 3), 255, np.uint8))
    assert number(scores_line(blank, views, [FLAG, FLAG]), "Alignment A") < 0.2
    # the same picture both ways cannot tell two prompts apart: C = 1/2 exactly
    both = scores_line(flag, views, [FLAG, KEYCAP])
    assert number(both, "concealment C") == 0.5 and number(both, "Alignment A") < 0.05


def test_a_view_that_shows_the_other_emoji_conceals_it(emoji_set, classifier, judged_by):
    judged_by(classifier)
    flag = numpy_to_qimage(art(emoji_set, FLAG))
    keycap = torch.from_numpy(art(emoji_set, KEYCAP)).permute(2, 0, 1)[None].float()
    keycap = keycap / 127.5 - 1  # the range the viewer judges in

    def to_keycap(x: torch.Tensor) -> torch.Tensor:
        return keycap.expand_as(x)

    views = [*result_views(flag, {"view": "flip"})[:1], View("to keycap", to_keycap, to_keycap)]
    line = scores_line(flag, views, [FLAG, KEYCAP])
    assert number(line, "Alignment A") > 0.9 and number(line, "concealment C") > 0.95


def test_a_64_px_result_is_judged_at_the_classifiers_32_px(emoji_set, classifier, judged_by):
    judged_by(classifier)
    big = art(emoji_set, FLAG)
    at = {}
    for a in (big, halved(big)):
        image = numpy_to_qimage(a)
        at[a.shape[0]] = number(scores_line(image, result_views(image, {"view": "mirror"}),
                                            [FLAG, FLAG]), "Alignment A")
    assert at[64] > 0.9 and abs(at[64] - at[32]) < 0.02


def test_a_prompt_with_no_class_or_no_classifier_is_one_line_saying_why(
        emoji_set, classifier, judged_by, tmp_path):
    judged_by(classifier)
    flag = numpy_to_qimage(art(emoji_set, FLAG))
    views = result_views(flag, {"view": "flip"})
    line = scores_line(flag, views, [FLAG, "a castle"])
    assert line.startswith("No scores: the prompt 'a castle' is neither") and "\n" not in line
    odd = numpy_to_qimage(np.full((48, 48, 3), 255, np.uint8))
    assert "multiple of 32 px; this one is 48×48" in scores_line(
        odd, result_views(odd, {"view": "flip"}), [FLAG, FLAG])
    judged_by(tmp_path / "none")
    line = scores_line(flag, views, [FLAG, FLAG])
    assert line.startswith("No scores: ") and "holds no emoji classifier" in line
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "model.safetensors"):
        (broken / name).write_text("not this")
    judged_by(broken)
    assert "cannot be read" in scores_line(flag, views, [FLAG, FLAG])


def test_digit_illusions_keep_the_digit_judge(judged_by, tmp_path):
    judged_by(tmp_path / "none")  # the emoji judge is not asked
    digit = numpy_to_qimage(np.random.default_rng(0).integers(0, 256, (28, 28), np.uint8))
    line = scores_line(digit, result_views(digit, {"view": "rot180"}), ["6", "9"])
    assert line.startswith("Alignment A = ") and line.endswith("by the digit classifier")


# --- the panels ----------------------------------------------------------------------------------

def test_an_upscaled_result_is_seen_through_its_stage_one_views():
    assert [stage_one_side(n, True) for n in (256, 64, 128, 28)] == [64, 32, 32, 28]
    assert stage_one_side(64, False) == 64


@pytest.mark.parametrize("side", [28, 32, 64, 256])
@pytest.mark.parametrize("view", ["flip", "jigsaw"])
def test_every_panel_is_drawn_at_one_size(qtbot, side, view):
    rng = np.random.default_rng(side)
    image = numpy_to_qimage(rng.integers(0, 256, (side, side, 3), np.uint8))
    p = {"mode": "anagram", "prompt": "grinning face", "prompt2": "snowman", "view": view,
         "upscale": side in (64, 256)}
    viewer = open_anagram_viewer(image, p, None)
    qtbot.addWidget(viewer)
    shown = {viewer.stage.pixmap().size().toTuple(), viewer.frame(p=0.5).size().toTuple()}
    shown |= {cell.picture.pixmap().size().toTuple() for cell in [viewer.upright, *viewer.cells]}
    shown |= {cell.picture.size().toTuple() for cell in [viewer.upright, *viewer.cells]}
    assert shown == {(viewer.side, viewer.side)}
    assert viewer.side == display_side(side) and viewer.side % side == 0
    assert 224 <= viewer.side <= 256


def test_the_default_view_made_in_the_widget_is_drawn_at_the_same_size(qtbot):
    image = numpy_to_qimage(np.zeros((64, 64, 3), np.uint8))
    viewer = AnagramViewer(image, "rot90")
    qtbot.addWidget(viewer)
    assert (viewer.upright.picture.pixmap().size() == viewer.cells[0].picture.pixmap().size()
            == viewer.stage.pixmap().size())
