"""Illusions beyond two views: anagrams over 3 and 4 views, triple and colour hybrids, their
parameters chunk, the command line, and the scores that say whether an illusion works."""

import pytest
import torch

from app.cli import VIEWS as CLI_VIEWS
from app.cli import main
from app.jobs import Job, illusion_fields, job_parameters, make_loop
from engine import edits, loops
from engine.errors import EngineError
from engine.illusion_scores import alignment, blend, concealment, score, summary
from engine.images import read_parameters
from engine.models.analytic import GaussianModel
from engine.schedules import NoiseSchedule
from engine.views import VIEW_NAMES, VIEWS, get_view, views_for

IF_CONFIG = {"num_train_timesteps": 1000, "beta_schedule": "squaredcos_cap_v2"}


def gaussian_model(**kw):
    schedule = NoiseSchedule.from_diffusers_config(IF_CONFIG, "fixed_small", 30, 990)
    return GaussianModel({"a": 0.5, "b": -0.5, "": 0.0}, 0.2, schedule, **kw)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# --- anagrams over 3 and 4 views ----------------------------------------------------------------

def test_the_command_line_offers_every_view_of_the_engine():
    assert set(CLI_VIEWS) == set(VIEW_NAMES)


def test_a_four_view_anagram_of_one_prompt_equals_plain_sampling():
    """The exact ε of i.i.d. data commutes with every permutation: all paths must agree."""
    model = gaussian_model(image_size=16)
    views = views_for(["jigsaw", "pixels", "square-hinge"], 16, True, seed=3)
    ana = loops.final(edits.anagram(model, ["a"] * 4, views, gen(2), guidance=2.0,
                                    steps=6)).x_t
    plain = loops.final(edits.sample(model, ["a"], gen(2), guidance=2.0, steps=6)).x_t
    assert torch.allclose(ana, plain, atol=1e-5)


def test_a_job_refuses_views_and_prompts_that_do_not_pair_up():
    model = gaussian_model(image_size=16)
    with pytest.raises(EngineError, match="one view for each prompt"):
        make_loop(model, Job(mode="anagram", prompt="a", prompt2="b", more_prompts=("a",)), gen())
    with pytest.raises(EngineError, match="at most 4"):
        make_loop(model, Job(mode="anagram", prompt="a", prompt2="b", more_prompts=("a",) * 3,
                             more_views=("flip",) * 3), gen())
    with pytest.raises(EngineError, match="divides by 8; this model's images are 12 px"):
        make_loop(gaussian_model(image_size=12),
                  Job(mode="anagram", prompt="a", prompt2="b", view="patches"), gen())


# --- hybrids ------------------------------------------------------------------------------------

def test_the_triple_split_sums_to_the_estimate_and_each_band_is_its_own():
    split = edits.resolve_split(64, "triple", prompts=3)
    assert (split.sigma, split.sigma2, split.kernel) == (2.0, 1.0, 33)  # the paper's at 64 px
    low, mid, high = split.parts()
    x = torch.randn(2, 3, 64, 64, generator=gen(1))
    assert torch.allclose(low(x) + mid(x) + high(x), x, atol=1e-5)
    flat = torch.full((1, 1, 32, 32), 0.7)
    assert torch.allclose(low(flat), flat, atol=1e-6)
    assert mid(flat).abs().max() < 1e-6 and high(flat).abs().max() < 1e-6
    # each band holds most of its own frequencies: a fine checkerboard lives in the high one
    checker = (torch.arange(64)[:, None] + torch.arange(64)[None, :]) % 2 * 2.0 - 1
    checker = checker.view(1, 1, 64, 64)
    assert high(checker).norm() > 0.8 * checker.norm() > 10 * low(checker).norm()


def test_a_split_refuses_what_it_cannot_do():
    with pytest.raises(EngineError, match="takes 3 prompts"):
        edits.resolve_split(28, "triple", prompts=2)
    with pytest.raises(EngineError, match="below the coarse"):
        edits.resolve_split(28, "triple", sigma=1.0, sigma2=2.0, prompts=3)
    with pytest.raises(EngineError, match="RGB"):
        edits.split_hybrid(gaussian_model(), ["a", "b"], edits.Split("colour"), gen())


@pytest.mark.parametrize("low, expected", [("a", 0.5), ("b", -0.5)])
def test_a_triple_hybrid_takes_its_mean_from_the_far_prompt(low, expected):
    """--prompt is the low band; --prompt3 (the medium) and --prompt2 (the high) hold none of
    the image mean, so it comes from the far prompt whatever the others are."""
    other = "b" if low == "a" else "a"
    model = gaussian_model(image_size=32)
    job = Job(mode="hybrid", prompt=low, prompt2=other, more_prompts=(other,), split="triple",
              guidance=1.0, steps=20, count=8)
    out = loops.final(make_loop(model, job, gen())).x_t
    assert out.mean().item() == pytest.approx(expected, abs=0.1)
    params = job_parameters(job, "gaussian", model)
    assert params["split"] == "triple" and params["prompt3"] == other
    assert params["sigma"] == 1.0 and params["sigma2"] == 0.5


def test_a_colour_hybrid_runs_and_records_its_split():
    model = gaussian_model(image_size=8, channels=3)
    job = Job(mode="hybrid", prompt="a", prompt2="b", split="colour", steps=4)
    assert loops.final(make_loop(model, job, gen())).x_t.shape == (1, 3, 8, 8)
    assert job_parameters(job, "gaussian", model)["split"] == "colour"


# --- the command line ---------------------------------------------------------------------------

def test_three_and_four_view_anagrams_from_the_command_line(tiny_model, tmp_path):
    out = tmp_path / "four.png"
    assert main(["edit", "anagram", "--model", tiny_model, "--steps", "4", "--prompt", "6",
                 "--prompt2", "9", "--view", "rot180", "--prompt3", "1", "--view3", "jigsaw",
                 "--prompt4", "7", "--view4", "pixels", "--view-seed", "5",
                 "--out", str(out)]) == 0
    params = read_parameters(out)
    assert params["prompts"] == ["6", "9", "1", "7"]
    assert params["views"] == ["rot180", "jigsaw", "pixels"] and params["view_seed"] == 5
    assert params["prompt"] == "6" and params["view"] == "rot180"  # the two-view keys stay


def test_a_failure_view_runs_from_the_command_line_when_asked_for(tiny_model, tmp_path):
    out = tmp_path / "failure.png"
    assert main(["edit", "anagram", "--model", tiny_model, "--steps", "3", "--prompt", "4",
                 "--prompt2", "7", "--view", "inner-circle-interp", "--allow-failure-views",
                 "--out", str(out)]) == 0
    params = read_parameters(out)
    assert params["view"] == "inner-circle-interp" and params["allow_failure_views"] is True
    assert illusion_fields(params)["allow_failure_views"] is True  # re-viewed or upscaled later


def test_a_triple_hybrid_from_the_command_line(tiny_model, tmp_path):
    out = tmp_path / "triple.png"
    assert main(["edit", "hybrid", "--model", tiny_model, "--steps", "4", "--prompt", "0",
                 "--prompt2", "1", "--prompt3", "7", "--sigma", "1.5", "--out", str(out)]) == 0
    params = read_parameters(out)
    assert params["split"] == "triple" and params["prompt3"] == "7"
    assert (params["sigma"], params["sigma2"], params["kernel"]) == (1.5, 0.75, 25)


@pytest.mark.parametrize("extra, message", [
    (["anagram", "--prompt", "0", "--prompt2", "1", "--view", "patches"], "divides by 8"),
    (["anagram", "--prompt", "0", "--prompt2", "1", "--prompt3", "2"], "go together"),
    (["anagram", "--prompt", "0", "--prompt2", "1", "--prompt4", "2", "--view4", "flip"],
     "--prompt4 needs --prompt3"),
    (["hybrid", "--prompt", "0", "--prompt2", "1", "--split", "colour"], "RGB"),
    (["hybrid", "--prompt", "0", "--prompt2", "1", "--split", "triple"], "third prompt"),
    (["sdedit", "--prompt3", "1"], "one prompt"),
    (["anagram", "--prompt", "4", "--prompt2", "7", "--view", "blur"],
     "the blur view is one of the paper's failure views and is refused by default"),
    (["anagram", "--prompt", "4", "--prompt2", "7", "--view", "rot90", "--prompt3", "1",
      "--view3", "white-balance"], "--allow-failure-views"),
    (["anagram", "--prompt", "4", "--prompt2", "7", "--view", "flip", "--prompt3", "1",
      "--view3", "flip"], "the flip view is named twice"),
])
def test_illusions_the_command_line_refuses(tiny_model, tmp_path, capsys, extra, message):
    out = tmp_path / "x.png"
    argv = ["edit", *extra[:1], "--model", tiny_model, "--steps", "3", "--out", str(out),
            *extra[1:]]
    if extra[0] == "sdedit":
        from PIL import Image

        Image.new("L", (28, 28)).save(tmp_path / "in.png")
        argv += ["--image", str(tmp_path / "in.png")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists()


# --- scores -------------------------------------------------------------------------------------

def test_alignment_and_concealment_of_a_known_matrix():
    s = torch.tensor([[[0.9, 0.05], [0.3, 0.6]]])
    assert alignment(s).item() == pytest.approx(0.6)
    # each row renormalised over the illusion's prompts: 0.9 / 0.95 and 0.6 / 0.9
    assert concealment(s).item() == pytest.approx((0.9 / 0.95 + 0.6 / 0.9) / 2)
    same = torch.full((1, 3, 3), 0.2)
    assert concealment(same).item() == pytest.approx(1 / 3)  # views that cannot be told apart


def test_score_reads_each_view_with_the_classifier():
    """A 'classifier' that reads the top row's brightness as class 1 and the bottom's as 0: an
    image bright on top is class 1 upright and class 0 upside down."""
    def logits_of(x):
        top, bottom = x[:, 0, 0].mean(-1), x[:, 0, -1].mean(-1)
        return torch.stack([10 * bottom, 10 * top], dim=1)

    x = torch.zeros(4, 1, 8, 8)
    x[:, :, 0] = 1.0
    views = [VIEWS["identity"], get_view("flip")]
    result = score(logits_of, x, views, [1, 0])
    assert result.alignment.min().item() > 0.99 and result.concealment.min().item() > 0.99
    wrong = score(logits_of, x, views, [0, 1])
    assert wrong.alignment.max().item() < 0.01


def test_the_baseline_blend_puts_each_sample_where_its_view_sees_it():
    views = views_for(["rot90"], 8, True)
    a, b = torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8)
    mixed = blend([a, b], views)
    assert torch.allclose(views[1].apply(mixed), (views[1].apply(a) + b) / 2)


def test_summary_has_the_mean_and_the_upper_percentiles():
    s = summary(torch.arange(101.0))
    assert s == {"mean": 50.0, "p90": 90.0, "p95": 95.0}
