"""benchmarks/bench_emoji_text_gain.py: the gain of models that know the answer or ignore the
text, and a run on a tiny cascade."""

from __future__ import annotations

import math

import pytest
import torch

from benchmarks import bench_emoji_text_gain as bench
from engine.loops import Prediction
from engine.schedules import NoiseSchedule
from tests.emoji_fixtures import train_tiny_cascade, write_emoji_set


class Oracle:
    """ε exact for the x_0 its prompt names; '' (or blind=True) gives the mean image's ε."""

    def __init__(self, pictures: dict[str, torch.Tensor], blind: bool = False) -> None:
        self.pictures, self.blind = pictures, blind
        self.names = list(pictures)
        self.schedule = NoiseSchedule.from_diffusers_config(
            {"num_train_timesteps": 1000, "beta_schedule": "squaredcos_cap_v2"})

    def encode(self, prompts: list[str]) -> torch.Tensor:
        index = [self.names.index(p) if p in self.names else -1 for p in prompts]
        return torch.tensor(index, dtype=torch.float32).view(-1, 1, 1)

    def predict(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> Prediction:
        mean = torch.stack(list(self.pictures.values())).mean(0)
        x0 = torch.stack([mean if self.blind or i < 0 else self.pictures[self.names[int(i)]]
                          for i in cond.flatten()])
        abar = self.schedule.abar(int(t[0]))
        return Prediction((x_t - abar ** 0.5 * x0) / (1 - abar) ** 0.5)


def _pictures(n: int = 4) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {f"emoji {i}": torch.rand(3, 8, 8, generator=g) * 2 - 1 for i in range(n)}


def test_a_model_that_knows_each_name_gains_everything_and_a_blind_one_nothing():
    pictures = _pictures()
    x0, prompts = torch.stack(list(pictures.values())), list(pictures)
    knows = bench.gains(Oracle(pictures), x0, prompts, [300, 900], seed=0)
    blind = bench.gains(Oracle(pictures, blind=True), x0, prompts, [300, 900], seed=0)
    for row in knows:
        assert row["right"] == pytest.approx(0.0, abs=1e-9) and row["none"] > 0.01
        assert row["gain"] == pytest.approx(1.0) and row["wrong_over_right"] > 1e6
    for row in blind:
        assert row["gain"] == pytest.approx(0.0, abs=1e-9)
        assert row["wrong_over_right"] == pytest.approx(1.0)
    assert knows[0]["none"] == pytest.approx(blind[0]["none"])  # same noise for every prompt


@pytest.fixture(scope="module")
def cascade(tmp_path_factory):
    root = tmp_path_factory.mktemp("gain")
    data = write_emoji_set(root / "set", copies=1)
    return data, train_tiny_cascade(data, root)


def test_a_run_prints_a_finite_row_per_timestep(cascade, capsys, if_environment):
    data, bundle = cascade
    assert bench.main(["--model", str(bundle / "IF-I-emoji"), "--data", str(data),
                       "--images", "3", "--timesteps", "200,800", "--threads", "1"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines()
            if line.startswith("| ") and "---" not in line][1:]
    assert [r.split(" | ")[0] for r in rows] == ["| 200", "| 800"]
    for row in rows:
        cells = row.strip("| ").replace("%", "").split(" | ")
        assert all(math.isfinite(float(v)) for v in cells)


def test_a_digit_model_or_a_timestep_out_of_range_is_one_line(cascade, capsys,
                                                               if_environment):
    data, bundle = cascade
    assert bench.main(["--model", "mnist", "--data", str(data)]) == 1
    assert "is not an emoji cascade" in capsys.readouterr().out
    assert bench.main(["--model", str(bundle / "IF-I-emoji"), "--data", str(data),
                       "--timesteps", "1000"]) == 1
    assert "timestep 1000 is outside" in capsys.readouterr().out
