"""The emoji trainers' shared resume (engine/training/checkpoint.py resume_state, optimizer_to):
the saved weights, optimizer and other states come back exactly; other settings, or a state
that does not fit, are one CheckpointError each."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.errors import CheckpointError
from engine.training.checkpoint import optimizer_to, resume_state, save_training_state

SETTINGS = {"lr": 0.001, "batch_size": 8}
KEYS = ("lr", "batch_size")


def trained(seed: int) -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    net = nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(net.parameters(), lr=SETTINGS["lr"])
    net(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    return net, optimizer


def saved_run(folder, **extra) -> tuple[nn.Module, torch.optim.Optimizer]:
    net, optimizer = trained(0)
    save_training_state(folder, {"epoch": 1, "settings": SETTINGS, "model": net.state_dict(),
                                 "optimizer": optimizer.state_dict(), **extra})
    return net, optimizer


def test_the_saved_model_optimizer_and_others_come_back(tmp_path):
    net, optimizer = saved_run(tmp_path, ema={"decay": 0.5})

    class Ema:
        def load_state_dict(self, state):
            self.state = state

    other, other_optimizer = trained(1)
    ema = Ema()
    state = resume_state(tmp_path, SETTINGS, KEYS, other, other_optimizer, ema=ema)
    assert state["epoch"] == 1 and ema.state == {"decay": 0.5}
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(),
                                                 other.state_dict().values()))
    saved, loaded = optimizer.state_dict()["state"][0], other_optimizer.state_dict()["state"][0]
    assert all(torch.equal(saved[k], loaded[k]) for k in saved)


def test_other_settings_or_a_state_that_does_not_fit_are_refused(tmp_path):
    saved_run(tmp_path)
    net, optimizer = trained(1)
    with pytest.raises(CheckpointError, match=r"settings differ.*batch-size 8 \(saved\) vs 16"):
        resume_state(tmp_path, SETTINGS | {"batch_size": 16}, KEYS, net, optimizer)
    with pytest.raises(CheckpointError, match="does not fit this classifier"):
        resume_state(tmp_path, SETTINGS, KEYS, net, optimizer, "classifier", ema=net)
    wider = nn.Linear(3, 5)
    with pytest.raises(CheckpointError, match="of another shape"):
        resume_state(tmp_path, SETTINGS, KEYS, wider,
                     torch.optim.AdamW(wider.parameters()))


def test_optimizer_to_moves_the_moments_not_the_step():
    _, optimizer = trained(0)
    optimizer_to(optimizer, "meta")
    state = optimizer.state_dict()["state"][0]
    assert state["exp_avg"].device.type == "meta" and state["exp_avg_sq"].is_meta
    assert state["step"].device.type == "cpu"
