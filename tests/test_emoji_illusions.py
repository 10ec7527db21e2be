"""Choosing the emoji cascade's illusion pairs by measurement (issue 12): the both-ways judge on
images made to read one way or two, the ranking, the pairs file's round trip and its refusals,
the prompt sets and the app's suggestions reading it, and the chooser end to end on the tiny
IF-shaped cascade with the bundled emoji classifier."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

from app.session import suggested
from app.session.suggested import suggested_for
from engine import prompt_sets
from engine.prompt_sets import (
    EMOJI_ANAGRAM_CANDIDATES,
    EMOJI_HYBRID_CANDIDATES,
    FIXED,
    PART_A,
    ChosenPairs,
    MeasuredPair,
    PairsFileError,
    load_pairs,
    write_pairs,
)
from engine.training.emoji_classifier import BUNDLED as CLASSIFIER
from engine.views import VIEWS

ROOT = Path(__file__).resolve().parents[1]
# the candidates named by a CLDR name that is not the classifier's (Unicode) name for the emoji,
# as the prepared data (labels.json: label, name) pairs them
CLDR_OF = {"six o'clock": "clock face six oclock", "twelve thirty": "clock face twelve thirty",
           "light bulb": "electric light bulb", "frog": "frog face",
           "first quarter moon face": "first quarter moon with face",
           "last quarter moon face": "last quarter moon with face",
           "full moon face": "full moon with face", "red heart": "heavy black heart",
           "new moon": "new moon symbol", "new moon face": "new moon with face",
           "waning crescent moon": "waning crescent moon symbol",
           "waxing crescent moon": "waxing crescent moon symbol"}


def _bench():
    spec = importlib.util.spec_from_file_location(
        "bench_emoji_illusions", ROOT / "benchmarks" / "bench_emoji_illusions.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


bench = _bench()


def anagram(prompts, view, both, a, reads=None, base=None):
    return MeasuredPair("anagram", prompts, view, both, reads or (both, both), a, 0.5,
                        *(base or (None, None)))


def hybrid(prompts, both, a):
    return MeasuredPair("hybrid", prompts, "", both, (both, both), a, 0.5, 0.0, 0.1)


@pytest.fixture
def pairs_file(tmp_path, monkeypatch):
    path = tmp_path / "emoji" / "illusion_pairs.json"
    monkeypatch.setattr(prompt_sets, "EMOJI_PAIRS_FILE", path)
    return path


def test_the_candidates_are_emoji_the_classifier_knows_on_every_view_the_app_offers():
    from widgets.illusion_options import VIEWS as PANEL_VIEWS

    assert set(EMOJI_ANAGRAM_CANDIDATES) == {key for key, _ in PANEL_VIEWS}
    assert all(VIEWS[v].iid for v in EMOJI_ANAGRAM_CANDIDATES)
    assert all(pairs for pairs in EMOJI_ANAGRAM_CANDIDATES.values()) and EMOJI_HYBRID_CANDIDATES
    if not (CLASSIFIER / "config.json").is_file():
        pytest.skip("no bundled emoji classifier")
    classes = json.loads((CLASSIFIER / "config.json").read_text())["classes"]
    wanted = {p for pairs in EMOJI_ANAGRAM_CANDIDATES.values() for pair in pairs for p in pair}
    wanted |= {p for pair in EMOJI_HYBRID_CANDIDATES for p in pair} | set(FIXED["emoji"].all())
    own = bench.class_index(classes)
    assert set(CLDR_OF.values()) <= set(own)
    assert wanted - set(own) <= set(CLDR_OF), "every other candidate is a class's own name"
    assert "red heart" not in own and own["frog"] == own["frog face"], "a short name is known"
    names = [c["name"] for c in classes]
    assert own["cat"] == names.index("cat") != own["cat face"], "🐈's name, not 🐱's short name"
    # the data's entries (label: CLDR name) join the CLDR names on the code point
    by_name = {c["name"]: c for c in classes}
    entries = [{"label": cldr, "name": name, "unified": by_name[name]["unified"] + "-FE0F"}
               for cldr, name in CLDR_OF.items()]
    index = bench.class_index(classes, entries)
    assert wanted <= set(index)
    assert all(index[cldr] == own[name] for cldr, name in CLDR_OF.items())
    assert all(a != b for pairs in EMOJI_ANAGRAM_CANDIDATES.values() for a, b in pairs)


def _top_half_colour(x: torch.Tensor) -> torch.Tensor:
    """A judge whose classes are red, green, blue: the top half's mean of each channel."""
    return 10 * x[..., : x.shape[-2] // 2, :].mean((-2, -1))


def _two_halves(top: int, bottom: int) -> torch.Tensor:
    x = torch.zeros(3, 8, 8)
    x[top, :4] = 1.0
    x[bottom, 4:] = 1.0
    return x


def test_an_anagram_reads_both_ways_only_where_each_view_reads_its_own_prompt():
    views = [VIEWS["identity"], VIEWS["flip"]]
    red_blue, red_green = _two_halves(0, 2), _two_halves(0, 1)
    x = torch.stack([red_blue, red_blue, red_green, red_green])
    got = bench.measure(_top_half_colour, x, views, [0, 2], top=1)
    assert got["both_ways"] == 0.5 and got["reads"] == (1.0, 0.5)
    assert bench.measure(_top_half_colour, x[:2], views, [0, 2], top=1)["both_ways"] == 1.0
    assert bench.measure(_top_half_colour, x[:2], views, [2, 0], top=1)["both_ways"] == 0.0
    # top 2 of 3 classes: flipped red/green has green first and red second, never blue
    assert bench.measure(_top_half_colour, x[2:], views, [0, 2], top=2)["both_ways"] == 0.0
    assert bench.measure(_top_half_colour, x[2:], views, [0, 0], top=2)["both_ways"] == 1.0
    soft = torch.softmax(_top_half_colour(x[:2]), -1)
    assert got["alignment"] <= float(soft[:, 0].min()) + 1e-6


def test_the_ranking_is_by_both_ways_then_alignment_and_keeps_ties_in_order():
    pairs = [anagram(("a", "b"), "flip", 0.5, 0.2), anagram(("c", "d"), "rot180", 0.75, 0.1),
             hybrid(("e", "f"), 0.25, 0.9), anagram(("g", "h"), "mirror", 0.5, 0.4),
             anagram(("i", "j"), "flip", 0.5, 0.4), hybrid(("k", "l"), 0.5, 0.1)]
    ranked = bench.rank(pairs)
    assert [p.prompts[0] for p in ranked] == ["c", "g", "i", "a", "k", "e"]
    chosen = bench.choose(pairs, 2, {"seeds": 4})
    assert [p.prompts[0] for p in chosen.anagrams] == ["c", "g"]
    assert [p.prompts[0] for p in chosen.hybrids] == ["k", "e"]
    assert len(bench.choose(pairs, 10, {}).anagrams) == 4


def test_the_pairs_file_round_trips_and_is_written_whole(tmp_path):
    chosen = ChosenPairs((anagram(("cat face", "dog face"), "flip", 0.6, 0.31, (0.8, 0.7),
                                  (0.1, 0.05)),
                          anagram(("red apple", "tomato"), "jigsaw", 0.4, 0.2)),
                         (hybrid(("grinning face", "snowman"), 0.55, 0.3),),
                         {"seeds": 20, "training_step": 53500, "view_seed": 3})
    path = tmp_path / "deep" / "pairs.json"
    assert load_pairs(path) is None
    write_pairs(chosen, path)
    back = load_pairs(path)
    assert back == chosen and back.view_seed == 3
    assert [p.name for p in path.parent.iterdir()] == ["pairs.json"]
    assert json.loads(path.read_text())["anagrams"][0]["baseline"] == {"both_ways": 0.1,
                                                                        "alignment": 0.05}


GOOD = ChosenPairs((anagram(("cat face", "dog face"), "flip", 0.6, 0.3),), (), {}).to_json()
BAD = {
    "not JSON": "{oops",
    "another format": json.dumps({**GOOD, "format": "something/2"}),
    "a rate above 1": json.dumps({**GOOD, "anagrams": [{**GOOD["anagrams"][0],
                                                        "both_ways": 1.5}]}),
    "a failure view": json.dumps({**GOOD, "anagrams": [{**GOOD["anagrams"][0],
                                                        "view": "blur"}]}),
    "one prompt": json.dumps({**GOOD, "anagrams": [{**GOOD["anagrams"][0],
                                                    "prompts": ["cat face"]}]}),
    "no hybrids list": json.dumps({k: v for k, v in GOOD.items() if k != "hybrids"}),
    "a bad view seed": json.dumps({**GOOD, "measured": {"view_seed": -1}}),
}


@pytest.mark.parametrize("what", list(BAD))
def test_a_malformed_pairs_file_is_one_clear_message(what, pairs_file, capsys):
    pairs_file.parent.mkdir(parents=True)
    pairs_file.write_text(BAD[what])
    with pytest.raises(PairsFileError) as raised:
        load_pairs()
    message = str(raised.value)
    assert message.count("\n") == 0 and str(pairs_file) in message
    assert "is not a usable illusion-pairs file" in message and "--choose" in message
    with pytest.raises(PairsFileError, match="not a usable"):
        PART_A["emoji"]  # reproduce part-a: one line from the CLI's EngineError handling
    assert PART_A["digits"] is FIXED["digits"]
    capsys.readouterr()
    assert suggested_for("emoji") == []
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(pairs_file) in err and "no suggested pairs" in err
    assert suggested_for("emoji") == [] and capsys.readouterr().err == "", "said once"
    assert len(suggested_for("mnist")) == len(suggested.SUGGESTED["mnist"])


def test_the_prompt_set_and_the_suggestions_follow_the_chosen_pairs(pairs_file, qtbot):
    assert PART_A["emoji"] == FIXED["emoji"] and "provisional" in PART_A["emoji"].status
    assert suggested_for("emoji") == []
    rates = [0.8, 0.6, 0.5, 0.45]
    write_pairs(ChosenPairs(
        tuple(anagram((f"a{i}", f"b{i}"), view, r, 0.3, base=(0.0, 0.1))
              for i, (r, view) in enumerate(zip(rates, ["flip", "rot180", "jigsaw", "mirror"]))),
        (hybrid(("sun with face", "sunflower"), 0.7, 0.4),), {"seeds": 20, "view_seed": 2}),
        pairs_file)
    emoji = PART_A["emoji"]
    assert emoji.anagrams == (("a0", "b0", "flip"), ("a1", "b1", "rot180"), ("a2", "b2", "jigsaw"))
    assert emoji.hybrids == (("sun with face", "sunflower"),)
    assert emoji.sample == FIXED["emoji"].sample and "provisional" not in emoji.status
    assert "chosen by measurement" in emoji.status and "a0 / b0 (flip) 80%" in emoji.status
    offered = suggested_for("emoji")
    assert [(s["prompt"], s["prompt2"], s["view"]) for s in offered] == [
        ("a0", "b0", "flip"), ("a1", "b1", "rot180"), ("a2", "b2", "jigsaw")], ">= 50% only"
    assert offered[0]["label"] == "a0 / b0 · flip (both ways 80% of seeds, A 0.30, 3.00× the blend)"
    assert {s["view_seed"] for s in offered} == {2}

    from app.session.modes import MODES
    from widgets.modes_panel import ModesPanel

    panel = ModesPanel(modes=MODES)
    qtbot.addWidget(panel)
    panel.set_model_info({"prompts": ["a0", "b0", ""], "default_prompt": "a0", "size": 32,
                          "default_guidance": 3.0, "timesteps": 34, "name": "emoji",
                          "suggested": offered})
    panel.set_mode("anagram")
    assert panel.illusion.suggested.count() == 1 + 3


@pytest.fixture(scope="module")
def tiny_stage_one(tmp_path_factory):
    from engine.models.tiny import save_tiny_if, save_tiny_t5

    folder = save_tiny_if(tmp_path_factory.mktemp("emoji-illusions") / "IF-I-tiny")
    save_tiny_t5(folder)
    return folder


@pytest.fixture
def tiny_cascade(tiny_stage_one, if_environment, tmp_path):
    """The tiny IF stage I with a vocabulary holding the words of some candidates only."""
    folder = shutil.copytree(tiny_stage_one, tmp_path / "IF-I-tiny")
    words = sorted({w for p in ("cat face", "dog face", "snowman", "fire", "grinning face",
                                "waving hand") for w in p.split()})
    (folder / "diffusion_canvas.json").write_text(json.dumps({"words": words, "steps_done": 7}))
    return folder


def test_the_chooser_measures_ranks_and_writes_the_best_on_the_tiny_cascade(
        tiny_cascade, tmp_path, capsys, monkeypatch):
    from tests.emoji_fixtures import write_emoji_set

    if not (CLASSIFIER / "config.json").is_file():
        pytest.skip("no bundled emoji classifier")
    data = write_emoji_set(tmp_path / "set", copies=1)  # 'waving hand' is its CLDR name
    monkeypatch.setitem(EMOJI_ANAGRAM_CANDIDATES, "flip", (
        ("waving hand", "grinning face"), ("snowman", "fire")))
    out = tmp_path / "pairs.json"
    common = ["--model", str(tiny_cascade), "--seeds", "2", "--batch", "2", "--steps", "2",
              "--threads", "1", "--data", str(data)]
    assert bench.main([*common, "--views", "flip,negate", "--per-view", "2", "--hybrids", "1",
                       "--choose", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    rows = [line.strip("|").split("|") for line in printed.splitlines()
            if line.startswith("| ") and not line.startswith("| rank")]
    assert [int(r[0]) for r in rows] == [1, 2, 3], "two flipped pairs and a hybrid"
    assert {r[2].strip() for r in rows} == {"snowman / fire", "waving hand / grinning face",
                                             "grinning face / snowman"}
    assert "Skipped: full moon face / new moon face (negate)" in printed
    assert "training step 7" in printed
    chosen = load_pairs(out)
    assert len(chosen.anagrams) == 1 and len(chosen.hybrids) == 1
    ranked_anagrams = [r for r in rows if r[1].strip() == "anagram"]
    assert chosen.anagrams[0].prompts == tuple(ranked_anagrams[0][2].strip().split(" / "))
    assert f"{chosen.anagrams[0].both_ways:.0%}" == ranked_anagrams[0][4].strip()
    for p in (*chosen.anagrams, *chosen.hybrids):
        assert p.both_ways in (0.0, 0.5, 1.0) and p.both_ways <= min(p.reads)
        assert p.baseline_both_ways is not None
    assert chosen.measured["seeds"] == 2 and chosen.measured["training_step"] == 7


def test_the_choosers_bad_input_is_one_line_or_a_usage_error(tiny_cascade, tmp_path, capsys):
    with pytest.raises(SystemExit) as usage:
        bench.main(["--model", str(tiny_cascade), "--choose", "3"])
    assert usage.value.code == 2 and "needs --out FILE" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        bench.main(["--views", "blur"])
    assert usage.value.code == 2
    assert bench.main(["--model", str(tmp_path / "none"), "--threads", "1"]) == 1
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("bench_emoji_illusions: ")
    assert bench.main(["--model", str(tiny_cascade), "--views", "rot90", "--hybrids", "0",
                       "--threads", "1"]) == 1
    assert "no candidate can be made" in capsys.readouterr().out


def test_the_art_check_judges_the_datas_own_art_through_each_view(tmp_path, capsys, monkeypatch):
    """The fake art is a centred square: mirrored it is itself, so a pair of one emoji with
    itself reads both ways exactly where its upright art reads it."""
    from tests.emoji_fixtures import write_emoji_set

    if not (CLASSIFIER / "config.json").is_file():
        pytest.skip("no bundled emoji classifier")
    data = write_emoji_set(tmp_path / "set", copies=1)
    monkeypatch.setitem(EMOJI_ANAGRAM_CANDIDATES, "mirror", (
        ("waving hand", "waving hand"), ("rocket", "grinning face"), ("piñata", "rocket")))
    assert bench.main(["--art", "--views", "mirror", "--data", str(data), "--threads", "1"]) == 0
    rows = [[c.strip() for c in line.strip("|").split("|")]
            for line in capsys.readouterr().out.splitlines() if line.startswith("| mirror")]
    assert [r[3] for r in rows] == ["2", "1", "0"], "both vendors' hand, google's rocket only"
    assert rows[0][4] == rows[0][5] == rows[0][6]
    assert rows[2][4] == "n/a"
    with pytest.raises(SystemExit) as usage:
        bench.main(["--art"])
    assert usage.value.code == 2
