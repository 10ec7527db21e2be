"""benchmarks/bench_training.py's pieces on a narrow class UNet and random batches: the levers
it times run the same maths as train's default path, and its peaks and FLOPs are sane."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.training.unets import build_unet
from tests.bench_modules import load_benchmark


def _bench():
    return load_benchmark("bench_training")


def _batches(n: int, batch: int) -> list[tuple[torch.Tensor, ...]]:
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(batch, 1, 28, 28, generator=g), torch.rand(batch, generator=g),
             F.one_hot(torch.randint(0, 10, (batch,), generator=g), 10).float(),
             torch.randn(batch, 1, 28, 28, generator=g)) for _ in range(n)]


def test_fused_adam_and_layout_give_the_default_paths_losses():
    bench = _bench()
    torch.manual_seed(0)
    base = build_unet("class", 8)
    data = _batches(3, 4)
    losses = {}
    for name in ("course", "default", "nchw", "fused"):
        runner = bench.Runner(bench.VARIANTS[name], base, torch.bfloat16, torch.device("cpu"), 1)
        runner.round(data, timed=True)
        assert runner.best_cpu > 0
        losses[name] = runner.losses
    for name in ("nchw", "fused"):
        assert max(abs(a - b) for a, b in zip(losses[name], losses["default"])) < 2e-2
    # bf16 against fp32: close, and the training moves the loss (the steps are real)
    assert max(abs(a - b) for a, b in zip(losses["default"], losses["course"])) < 5e-2
    assert losses["course"][0] != losses["course"][-1]


def test_group_norm_variant_replaces_every_batch_norm():
    bench = _bench()
    net = bench.with_group_norm(build_unet("class", 32))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    norms = [m for m in net.modules() if isinstance(m, nn.GroupNorm)]
    assert norms and all(m.num_channels % m.num_groups == 0 for m in norms)
    out = net(torch.randn(2, 1, 28, 28), torch.rand(2), torch.zeros(2, 10))
    assert out.shape == (2, 1, 28, 28)


def test_step_flops_counts_forward_and_backward():
    bench = _bench()
    net = build_unet("class", 8)
    sample = _batches(1, 2)[0]
    x, t, c, _ = sample
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(x, t, c)
    forward = counter.get_total_flops()
    total = bench.step_flops(net, sample)
    assert 2.5 * forward < total < 3.5 * forward  # backward is about twice the forward
    assert all(p.grad is None for p in net.parameters())


def test_peaks_are_positive_flop_rates():
    bench = _bench()
    cpu = torch.device("cpu")
    assert bench.matmul_peak(torch.float32, cpu, n=128, reps=2) > 1e8
    assert bench.conv_peak(torch.float32, cpu, reps=1) > 1e8
