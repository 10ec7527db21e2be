"""The bf16 UNet levers of engine/models/unet_speed.py (fp32_norms, packed_convolutions,
packed_linears): each module gives what the plain bf16 module gives to bf16 rounding, and a
tiny emoji cascade with them draws what it draws without them."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine.models import unet_speed
from engine.models.onednn import can_pack
from tests import bench_modules

bench, cascade = bench_modules.bench, bench_modules.cascade  # the shared fixtures

CPU = torch.device("cpu")
needs_packing = pytest.mark.skipif(not can_pack(CPU), reason="no oneDNN bf16 kernels here")
ALL = ("channels_last", "cache_text", "fp32_norms", "packed_convolutions", "packed_linears")


def _bf16_cl(*shape: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(sum(shape))
    x = torch.randn(*shape, generator=g).to(torch.bfloat16)
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


def _rounding(x: torch.Tensor) -> float:
    """A bound for bf16 rounding of values the size of x's (8 bits of mantissa, a few ops)."""
    return 4 * 2.0 ** -8 * float(x.float().abs().max())


def test_fp32_norms_compute_small_maps_in_fp32_and_leave_the_rest():
    norm = torch.nn.GroupNorm(4, 32).to(torch.bfloat16).requires_grad_(False)
    torch.nn.init.normal_(norm.weight)
    torch.nn.init.normal_(norm.bias)
    plain = norm.forward
    assert unet_speed.fp32_norms(torch.nn.Sequential(norm)) == 1
    assert unet_speed.fp32_norms(torch.nn.Sequential(norm)) == 0  # once
    small = _bf16_cl(2, 32, 16, 16)
    want = F.group_norm(small.float(), 4, norm.weight.float(), norm.bias.float(), norm.eps)
    got = norm(small)
    assert got.dtype == torch.bfloat16
    assert torch.equal(got, want.to(torch.bfloat16))  # fp32 maths, one rounding at the end
    assert float((plain(small).float() - want).abs().max()) <= _rounding(want)
    large = _bf16_cl(2, 32, 32, 32)
    assert torch.equal(norm(large), plain(large))  # bf16's own kernel is the faster there
    vector = _bf16_cl(2, 32, 64)
    assert torch.equal(norm(vector), plain(vector))


@needs_packing
@pytest.mark.parametrize("spec", [dict(in_channels=32, out_channels=64, kernel_size=3, padding=1),
                                  dict(in_channels=6, out_channels=16, kernel_size=3, padding=1),
                                  dict(in_channels=64, out_channels=64, kernel_size=3, stride=2,
                                       padding=1),
                                  dict(in_channels=96, out_channels=32, kernel_size=1),
                                  dict(in_channels=32, out_channels=32, kernel_size=3, padding=1,
                                       bias=False)])
def test_packed_convolutions_give_the_plain_bf16_convolution(spec):
    conv = torch.nn.Conv2d(**spec).to(torch.bfloat16, memory_format=torch.channels_last)
    x = _bf16_cl(2, spec["in_channels"], 16, 16)
    with torch.no_grad():
        plain = conv(x)
        assert unet_speed.packed_convolutions(torch.nn.Sequential(conv)) == 1
        got, again = conv(x), conv(x)  # the second call uses the packed weights
        exact = F.conv2d(x.float(), conv.weight.float(),
                         None if conv.bias is None else conv.bias.float(), conv.stride,
                         conv.padding)
    assert got.shape == plain.shape and got.dtype == torch.bfloat16
    assert torch.equal(got, again)
    assert float((got.float() - exact).abs().max()) <= _rounding(exact)
    assert float((got.float() - plain.float()).abs().max()) <= _rounding(exact)
    assert list(conv.state_dict()) == (["weight", "bias"] if conv.bias is not None else
                                       ["weight"])


@needs_packing
@pytest.mark.parametrize("shape", [(2, 64), (2, 77, 64)])
def test_packed_linears_give_the_plain_bf16_linear(shape):
    lin = torch.nn.Linear(64, 48).to(torch.bfloat16)
    x = _bf16_cl(*shape)
    with torch.no_grad():
        plain = lin(x)
        assert unet_speed.packed_linears(torch.nn.Sequential(lin)) == 1
        got = lin(x)
        exact = F.linear(x.float(), lin.weight.float(), lin.bias.float())
    assert got.shape == plain.shape == (*shape[:-1], 48)
    assert float((got.float() - exact).abs().max()) <= _rounding(exact)


@needs_packing
def test_packed_modules_compute_plainly_under_autograd_and_in_fp32():
    conv = torch.nn.Conv2d(8, 8, 3, padding=1).to(torch.bfloat16)
    lin32 = torch.nn.Linear(8, 8)
    net = torch.nn.Sequential(conv, lin32)
    assert unet_speed.packed_convolutions(net) == 1
    assert unet_speed.packed_linears(net) == 0  # fp32 weights stay as they are
    y = conv(_bf16_cl(1, 8, 8, 8))
    assert y.requires_grad  # outside no_grad: the plain forward, so training still works
    y.float().sum().backward()
    assert conv.weight.grad is not None


@needs_packing
def test_a_unet_call_with_the_levers_is_the_bf16_call_to_rounding(bench, cascade):
    exact = bench.call_outputs(bench.load_cascade(cascade, ("cache_text",), "fp32"))
    plain = bench.call_outputs(bench.load_cascade(cascade, ALL[:2], "bf16"))
    fast_model = bench.load_cascade(cascade, ALL, "bf16")
    fast = bench.call_outputs(fast_model)
    assert unet_speed.packed_convolutions(fast_model.unet) == 0  # applied, once
    for f, p, e in zip(fast, plain, exact):  # ε and v of both stages
        bf16_error = float((p - e).abs().max())
        assert bf16_error > 0  # really bf16
        assert float((f - e).abs().max()) <= 2 * bf16_error + 1e-3


@needs_packing
def test_a_whole_sample_with_the_levers_draws_what_bf16_draws(bench, cascade):
    plain = bench.load_cascade(cascade, ALL[:2], "bf16")
    fast = bench.load_cascade(cascade, ALL, "bf16")
    for row in (bench.stage_one, bench.stage_two):
        a, b = row(plain)["out"], row(fast)["out"]
        assert a.shape == b.shape
        other = bench.run_job(plain, bench.Job(mode="sample", steps=30, count=1, seed=1)) if (
            row is bench.stage_one) else None
        gap = float((a - b).abs().mean())
        if other is not None:  # a tenth of what another seed changes, as tests for bf16 ask
            assert gap <= 0.1 * float((a - other).abs().mean())
        assert gap <= 0.05


def test_the_unet_rows_time_one_call_of_each_stage(bench, cascade, capsys):
    models = {v: bench.load_cascade(cascade, bench.VARIANTS[v], "bf16")
              for v in ("eager", "cl+cache+all")}
    results = bench.measure(models, ["unet1", "unet2"], [1], 2, None)
    assert [(r.row, r.variant, len(r.runs)) for r in results] == [
        ("unet1", "eager", 2), ("unet1", "cl+cache+all", 2), ("unet2", "eager", 2),
        ("unet2", "cl+cache+all", 2)]
    assert all(run["s"] > 0 for r in results for run in r.runs)
    out = capsys.readouterr().out
    assert out.count("(one UNet call, process CPU time)") == 4 and "goal" not in out
    assert bench.max_difference(models, ["unet1", "live"]) == {}  # no final image to compare


@needs_packing
def test_packed_convolutions_stay_right_when_a_later_call_has_another_size():
    """The weights are packed for the first call's input size; a batch of 1, then of 32, then
    other maps (CFG off, a batch of samples, another stage's size) must still be the conv."""
    conv = torch.nn.Conv2d(32, 64, 3, padding=1).to(torch.bfloat16,
                                                    memory_format=torch.channels_last)
    unet_speed.packed_convolutions(torch.nn.Sequential(conv))
    with torch.no_grad():
        for shape in ((2, 32, 16, 16), (1, 32, 16, 16), (32, 32, 16, 16), (2, 32, 8, 8),
                      (2, 32, 32, 32)):
            x = _bf16_cl(*shape)
            exact = F.conv2d(x.float(), conv.weight.float(), conv.bias.float(), 1, 1)
            got = conv(x)
            assert got.shape == exact.shape, shape
            assert float((got.float() - exact).abs().max()) <= _rounding(exact), shape
