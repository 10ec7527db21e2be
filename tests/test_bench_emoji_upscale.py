"""benchmarks/bench_emoji_upscale.py: its measures on known images, and a run on a tiny cascade."""

from __future__ import annotations

import math
import shutil

import pytest
import torch

from benchmarks import bench_emoji_upscale as bench
from tests.emoji_fixtures import train_tiny_cascade, write_emoji_set


def test_psnr_is_the_known_value_for_a_known_error():
    a = torch.zeros(2, 3, 8, 8)
    assert bench.psnr(a, a + 0.1) == pytest.approx(20.0, abs=1e-4)  # mse 0.01
    assert bench.psnr(a, a + 0.01) == pytest.approx(40.0, abs=1e-3)


def test_detail_is_one_for_the_art_and_small_for_its_bilinear_upscale():
    g = torch.Generator().manual_seed(0)
    art = (torch.rand(4, 3, 16, 16, generator=g) > 0.5).float()  # sharp edges everywhere
    assert bench.detail(art, art) == pytest.approx(1.0)
    smooth = bench.bilinear(bench.down(art), 16)
    assert bench.detail(smooth, art) < 0.2
    assert bench.scores(art, art, bench.down(art))["consistency"] > 90  # its own mean: exact


def test_picks_spread_over_the_set_without_repeats():
    assert bench.picks(3, 10) == [0, 4, 9]  # 4.5 rounds to even
    assert bench.picks(20, 5) == [0, 1, 2, 3, 4]


@pytest.fixture(scope="module")
def cascade(tmp_path_factory):
    root = tmp_path_factory.mktemp("up")
    data = write_emoji_set(root / "set", copies=1)
    return data, train_tiny_cascade(data, root)


def test_a_run_prints_the_baseline_and_each_step_count(cascade, capsys, if_environment):
    data, bundle = cascade
    assert bench.main(["--model", str(bundle / "IF-I-emoji"), "--data", str(data),
                       "--images", "3", "--seeds", "1", "--steps", "2,3", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    assert [r.split(" | ")[0] for r in rows[1:]] == ["| bilinear (baseline)",
                                                      "| stage II, 2 steps", "| stage II, 3 steps"]
    for row in rows[1:]:
        assert all(math.isfinite(float(v)) for v in row.strip("| ").split(" | ")[1:])


def test_a_stage_one_without_stage_two_is_one_line(cascade, capsys, tmp_path, if_environment):
    data, bundle = cascade
    alone = tmp_path / "alone" / "IF-I-emoji"
    shutil.copytree(bundle / "IF-I-emoji", alone)
    assert bench.main(["--model", str(alone), "--data", str(data)]) == 1
    assert "with a stage II beside it" in capsys.readouterr().out
