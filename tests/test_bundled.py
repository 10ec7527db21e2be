"""The models shipped in resources/: they load, and the digit model draws the digit asked for."""

import pytest
import torch

from engine import edits, loops
from engine.models.registry import bundled_folder, load_model
from engine.training.classifier import as_images, load_classifier, predict_digits

LEGIBLE_SHARE = 0.5  # of the time model's samples, read by the classifier with p >= 0.9
pytestmark = pytest.mark.skipif(not (bundled_folder("mnist") / "config.json").exists(),
                                reason="the bundled digit model is not in this checkout")


def test_the_bundled_model_is_small_and_class_conditioned():
    model = load_model("mnist", "cpu")
    assert model.conditional and model.prompt_choices() == [*"0123456789", ""]
    assert model.default_guidance == 5.0
    weights = bundled_folder("mnist") / "model.safetensors"
    assert weights.stat().st_size <= 16 * 2**20


def test_the_classifier_reads_each_digit_the_bundled_model_draws():
    model = load_model("mnist", "cpu")
    digits = [str(d) for d in range(10)]
    x = loops.final(edits.sample(model, digits, torch.Generator().manual_seed(0))).x_t
    judged = predict_digits(load_classifier(), x.clamp(0, 1))
    assert judged.tolist() == list(range(10))


@pytest.mark.parametrize("upright, turned", [("6", "9"), ("4", "7")])
def test_an_anagram_reads_as_one_digit_upright_and_another_turned_over(upright, turned):
    """6/9 is the showcase; 4/7 shows the views at work, since a 4 turned over is no 7."""
    from engine.views import get_view

    model = load_model("mnist", "cpu")
    views = [get_view("identity", model.symmetric_range), get_view("rot180", model.symmetric_range)]
    net = load_classifier()
    x = loops.final(edits.anagram(model, [upright, turned], views,
                                  torch.Generator().manual_seed(0), batch=6)).x_t.clamp(0, 1)
    assert predict_digits(net, x).tolist() == [int(upright)] * 6
    assert (predict_digits(net, views[1].apply(x)) == int(turned)).sum() >= 5
    if upright == "4":
        plain = loops.final(edits.sample(model, ["4"] * 6, torch.Generator().manual_seed(0))).x_t
        assert (predict_digits(net, views[1].apply(plain.clamp(0, 1))) == 7).sum() <= 1


@pytest.mark.skipif(not (bundled_folder("mnist-time") / "config.json").exists(),
                    reason="the time-conditioned model is not bundled in this checkout")
def test_the_bundled_time_model_draws_legible_digits_of_many_kinds():
    from engine.training.classifier import logits

    model = load_model("mnist-time", "cpu")
    assert not model.conditional
    assert (bundled_folder("mnist-time") / "model.safetensors").stat().st_size <= 16 * 2**20
    x = loops.final(edits.sample(model, [""] * 40, torch.Generator().manual_seed(0))).x_t
    probs = torch.softmax(logits(load_classifier(), x.clamp(0, 1)), dim=1)
    legible = probs.max(1).values >= 0.9
    assert legible.float().mean() >= LEGIBLE_SHARE, legible.float().mean()
    assert len(set(probs.argmax(1)[legible].tolist())) >= 7, "not one digit drawn over and over"


@pytest.mark.skipif(not (bundled_folder("mnist-denoiser") / "config.json").exists(),
                    reason="the single-step denoiser is not bundled in this checkout")
def test_the_bundled_denoiser_recovers_digits_noised_at_its_sigma():
    from engine.training.data import load_mnist

    model = load_model("mnist-denoiser", "cpu")
    assert model.kind == "denoiser" and not model.conditional
    assert (bundled_folder("mnist-denoiser") / "model.safetensors").stat().st_size <= 16 * 2**20
    test = load_mnist("test")
    x = as_images(test.images[:200])
    z = x + 0.5 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        # the net runs in the precision auto picked (bf16 on a CPU with native bf16, packed)
        out = model.net(z.to(model.dtype)).float()
    assert (out - x).pow(2).mean() < 0.02, "the noisy input's error is 0.25"
    net, labels = load_classifier(), torch.from_numpy(test.labels[:200].astype("int64"))
    assert (predict_digits(net, out.clamp(0, 1)) == labels).float().mean() >= 0.9
    assert (predict_digits(net, z.clamp(0, 1)) == labels).float().mean() < 0.5, "noise hides them"
