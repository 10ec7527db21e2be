"""bf16 inference for the digit models: chosen by the CPU's flags, same draws as fp32."""

from __future__ import annotations

import copy

import pytest
import torch

from engine import devices, edits, loops
from engine.errors import EngineError
from engine.models import onednn
from engine.models.mnist import MnistModel
from engine.models.registry import load_model
from engine.training.unets import KINDS, build_unet

CPU = torch.device("cpu")


@pytest.mark.parametrize("native, expected", [(True, "bf16"), (False, "fp32")])
def test_auto_follows_the_detected_flags(monkeypatch, native, expected):
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: native)
    assert devices.small_model_precision("auto", CPU) == expected
    assert devices.small_model_precision(None, CPU) == expected
    assert devices.small_model_precision("fp32", CPU) == "fp32"  # an explicit choice wins
    assert devices.small_model_precision("bf16", CPU) == "bf16"
    model = load_model("mnist", "cpu")  # the CLI's default --dtype auto
    assert model.dtype == {"bf16": torch.bfloat16, "fp32": torch.float32}[expected]
    assert next(model.net.parameters()).dtype == model.dtype


def test_a_dtype_the_device_cannot_run_is_refused():
    with pytest.raises(EngineError, match="fp16 needs a CUDA GPU"):
        devices.small_model_precision("fp16", CPU)
    with pytest.raises(EngineError, match="unknown dtype"):
        devices.small_model_precision("int8", CPU)
    with pytest.raises(EngineError, match="fp16 needs a CUDA GPU"):
        load_model("mnist", "cpu", "fp16")
    # the app's settings hold for any model: one the digit model cannot take falls back to auto
    assert load_model("mnist", "cpu", "fp16", where_they_apply=True).dtype in (
        torch.float32, torch.bfloat16)


def _sample(model, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    record = loops.final(edits.sample(model, ["3"], gen, guidance=5.0, steps=6))
    assert record.x_t.dtype == torch.float32  # the loop stays in fp32 whatever the model's dtype
    return record.x_t.clamp(0, 1)


def test_bf16_draws_what_fp32_draws_for_the_same_seed():
    torch.set_num_threads(1)
    fp32 = load_model("mnist", "cpu", "fp32")
    bf16 = load_model("mnist", "cpu", "bf16")
    assert bf16.dtype == torch.bfloat16
    assert bf16.packed == onednn.can_pack(CPU)  # the packed oneDNN net where the CPU has it
    a, b = _sample(fp32, 0), _sample(bf16, 0)
    other = _sample(fp32, 1)
    bf16_gap = (a - b).abs().mean().item()
    seed_gap = (a - other).abs().mean().item()
    assert bf16_gap < 0.02, bf16_gap  # measured about 0.003 on the 30-step default
    assert bf16_gap < seed_gap / 5, (bf16_gap, seed_gap)  # far closer than another seed's draw
    x_t = loops.forward(a, 150, fp32.schedule, torch.Generator().manual_seed(2))
    eps32 = fp32.predict(x_t, torch.tensor([150]), None).eps
    eps16 = bf16.predict(x_t, torch.tensor([150]), None).eps
    assert eps16.dtype == torch.float32
    assert (eps32 - eps16).abs().mean() < 0.02 * eps32.abs().mean() + 0.01


needs_packing = pytest.mark.skipif(not onednn.can_pack(CPU),
                                   reason="no oneDNN bf16 kernels in this torch build or CPU")


def _random_net(kind: str) -> torch.nn.Module:
    """A fresh UNet whose BatchNorms hold statistics of their own (folding them is tested)."""
    torch.manual_seed(3)
    net = build_unet(kind, 16)
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.3, 0.3)
    return net.eval()


def _inputs(kind: str, batch: int = 3) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(batch, 1, 28, 28, generator=gen)
    t = torch.rand(batch, generator=gen)
    c = torch.nn.functional.one_hot(torch.arange(batch) % 10, 10).float()
    return {"denoiser": (x,), "time": (x, t), "class": (x, t, c)}[kind]


@needs_packing
@pytest.mark.parametrize("kind", KINDS)
def test_the_packed_net_computes_what_the_eager_net_computes(kind):
    net = _random_net(kind)
    inputs = _inputs(kind)
    with torch.no_grad():
        fp32 = net(*inputs)
        packed_fp32 = onednn.pack_for_inference(net, torch.float32)(*inputs)
        eager_bf16 = net.to(torch.bfloat16)(*(v.bfloat16() for v in inputs)).float()
        net.float()
        packed = onednn.pack_for_inference(net, torch.bfloat16)
        packed_bf16 = packed(*(v.bfloat16() for v in inputs)).float()
    assert packed_bf16.dtype == torch.float32 and packed_bf16.shape == fp32.shape
    # in fp32 the folded BatchNorm and fused GELU are the same maths to float rounding
    assert (packed_fp32 - fp32).abs().max() < 1e-4 * fp32.abs().max()
    # in bf16 the packed net is as close to fp32 as the eager bf16 net (measured: closer)
    scale = fp32.abs().mean()
    assert (packed_bf16 - fp32).abs().mean() < 0.05 * scale
    assert (packed_bf16 - fp32).abs().mean() < 1.5 * (eager_bf16 - fp32).abs().mean()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in packed.modules())


@needs_packing
def test_packing_leaves_the_callers_net_alone():
    net = _random_net("class")
    before = {k: v.clone() for k, v in net.state_dict().items()}
    model = MnistModel(net, {"kind": "class"}, "random", CPU, "bf16")
    assert model.packed and model.net is not net
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert next(net.parameters()).dtype == torch.float32
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    eager = MnistModel(_random_net("class"), {"kind": "class"}, "random", CPU, "bf16", pack=False)
    assert not eager.packed


@needs_packing
def test_packed_unflatten_is_the_transposed_convolution_on_a_one_by_one_input():
    torch.manual_seed(5)
    conv = torch.nn.ConvTranspose2d(8, 6, 7, 7, 0)
    x = torch.randn(2, 8, 1, 1)
    with torch.no_grad():
        want = torch.nn.functional.gelu(conv(x))
        got = onednn.PackedUnflatten(conv, torch.float32)(x)
    assert got.shape == want.shape and got.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(got, want, atol=1e-5)
    with pytest.raises(ValueError, match="1×1 input"):
        onednn.PackedUnflatten(conv, torch.float32)(torch.randn(2, 8, 2, 2))


@needs_packing
def test_the_packed_bf16_model_draws_what_the_eager_bf16_model_draws():
    torch.set_num_threads(1)
    fp32 = load_model("mnist", "cpu", "fp32")
    packed = load_model("mnist", "cpu", "bf16")
    eager = MnistModel(copy.deepcopy(fp32.net), fp32.config, "eager", CPU, "bf16", pack=False)
    assert packed.packed and not eager.packed
    a, b, c = _sample(packed, 0), _sample(eager, 0), _sample(fp32, 0)
    other = _sample(fp32, 1)
    seed_gap = (c - other).abs().mean().item()
    assert (a - c).abs().mean().item() < seed_gap / 10  # measured 0.006 against 0.09
    assert (a - b).abs().mean().item() < seed_gap / 10
