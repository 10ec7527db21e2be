"""bf16 inference for the digit models: chosen by the CPU's flags, same draws as fp32."""

from __future__ import annotations

import pytest
import torch

from engine import devices, edits, loops
from engine.errors import EngineError
from engine.models.registry import load_model

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
    conv = next(w for w in bf16.net.parameters() if w.dim() == 4 and w.shape[-1] > 1)
    assert conv.is_contiguous(memory_format=torch.channels_last)
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
