"""bf16 inference for the emoji cascade (issue 15): chosen by the CPU's flags for small IF-format
folders only, overridden by --dtype, and drawing what fp32 draws."""

from __future__ import annotations

import pytest
import torch

from app.jobs import Job, make_run, resolve_job
from engine import devices, edits, loops
from engine.models import deepfloyd
from engine.models.registry import load_model
from engine.training.emoji_model import TEST_SHAPE
from tests.bench_modules import TINY_TEXT, emoji_speed_bench


@pytest.fixture(scope="module")
def cascade(tmp_path_factory):
    """IF-I-emoji and IF-II-emoji, random weights in tiny shapes, written by the trainer's
    export (what the bench measures in the bundle's shapes)."""
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("cascade")
    return emoji_speed_bench().export_random_cascade(root, TEST_SHAPE, TEST_SHAPE, TINY_TEXT)


def _native(monkeypatch, native: bool) -> None:
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: native)


@pytest.mark.parametrize("native, expected", [(True, torch.bfloat16), (False, torch.float32)])
def test_auto_is_bf16_only_on_a_cpu_with_native_bf16(monkeypatch, cascade, native, expected):
    _native(monkeypatch, native)
    model = load_model(str(cascade), "cpu")
    assert model.small and model.dtype == expected
    assert next(model.unet.parameters()).dtype == expected
    up = model.upscaler()
    assert up.dtype == expected and next(up.unet.parameters()).dtype == expected
    assert model.text_encoder.dtype == torch.float32  # the small encoder stays fp32
    assert devices.if_model_precision(torch.device("cpu"), small=True) == (
        "bf16" if native else "fp32")


def test_an_explicit_dtype_overrides_auto(monkeypatch, cascade):
    _native(monkeypatch, True)
    assert load_model(str(cascade), "cpu", "fp32").dtype == torch.float32
    _native(monkeypatch, False)
    assert load_model(str(cascade), "cpu", "bf16").dtype == torch.bfloat16
    # the app's settings go through the same path (Model > Precision)
    assert load_model(str(cascade), "cpu", "fp32", where_they_apply=True).dtype == torch.float32


def test_deepfloyd_if_itself_keeps_fp32_on_the_cpu(monkeypatch, cascade):
    _native(monkeypatch, True)
    monkeypatch.setattr(deepfloyd, "SMALL_UNET_PARAMETERS", 1000)  # the cascade counts as large
    model = load_model(str(cascade), "cpu")
    assert not model.small and model.dtype == torch.float32
    assert model.upscaler().dtype == torch.float32
    assert devices.if_model_precision(torch.device("cpu"), small=False) == "fp32"
    assert devices.if_model_precision(torch.device("cuda"), small=True) == "fp16"


def test_the_size_rule_reads_the_weights_headers(cascade, tmp_path):
    assert deepfloyd.is_small_if(cascade)
    assert not deepfloyd.is_small_if(tmp_path)  # no unet/ at all: not small, IF's defaults


def _sample(model, seed: int, steps: int = 8) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    record = loops.final(edits.sample(model, ["grinning face"] * 2, gen, steps=steps))
    assert record.x_t.dtype == torch.float32  # the loop stays fp32 whatever the UNet's dtype
    return record.x_t.clamp(-1, 1)


def test_bf16_draws_what_fp32_draws_for_the_same_seed(cascade):
    torch.set_num_threads(1)
    fp32 = load_model(str(cascade), "cpu", "fp32")
    bf16 = load_model(str(cascade), "cpu", "bf16")
    a, b, other = _sample(fp32, 0), _sample(bf16, 0), _sample(fp32, 1)
    bf16_gap = (a - b).abs().mean().item()
    seed_gap = (a - other).abs().mean().item()
    assert bf16_gap < seed_gap / 10, (bf16_gap, seed_gap)  # measured 0.021 against 0.90
    cond = fp32.encode(["grinning face"])
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    p32 = fp32.predict(x, torch.tensor([500]), cond)
    p16 = bf16.predict(x, torch.tensor([500]), cond)
    assert p16.eps.dtype == p16.variance.dtype == torch.float32
    scale = p32.eps.abs().mean()
    # measured 1.5% of the mean |ε| on this tiny random UNet: bf16 rounding, 8 bits
    assert (p32.eps - p16.eps).abs().mean() < 0.05 * scale, ((p32.eps - p16.eps).abs().mean(),
                                                               scale)
    hi32, hi16, hi_other = (_upscale(m, a, seed) for m, seed in ((fp32, 4), (bf16, 4), (fp32, 5)))
    assert hi16.dtype == torch.float32 and hi16.shape == (2, 3, 64, 64)
    bf16_gap = (hi32 - hi16).abs().mean().item()
    seed_gap = (hi32 - hi_other).abs().mean().item()
    assert bf16_gap < seed_gap / 5, (bf16_gap, seed_gap)  # measured 0.063 against 0.83


def _upscale(model, low: torch.Tensor, seed: int) -> torch.Tensor:
    cond, uncond = model.encode(["grinning face"]), model.encode([""])
    gen = torch.Generator().manual_seed(seed)
    return model.upscaler().upscale(low, cond, uncond, gen, steps=4)


@pytest.mark.parametrize("job", [
    Job(mode="sdedit", seed=1, steps=6),
    Job(mode="inpaint", seed=1, steps=6),
    Job(mode="anagram", prompt="cat", prompt2="dog", view="rot180", seed=1, steps=6),
    Job(mode="hybrid", prompt="cat", prompt2="dog", seed=1, steps=6),
    Job(mode="sample", seed=1, steps=4, upscale=True),
], ids=lambda j: j.mode + ("+upscale" if j.upscale else ""))
def test_every_mode_runs_in_bf16(cascade, job):
    model = load_model(str(cascade), "cpu", "bf16")
    image = torch.linspace(-0.9, 0.9, 3 * 32 * 32).reshape(1, 3, 32, 32)
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1
    fields = {"image": image} if job.mode in ("sdedit", "inpaint") else {}
    if job.mode == "inpaint":
        fields["mask"] = mask
    job = resolve_job(model, Job(**{**job.__dict__, **fields}))
    x = loops.final(make_run(model, job, loops.generator_for(model, job.seed, 1))).x_t
    assert x.dtype == torch.float32 and torch.isfinite(x).all()
    assert x.shape[-1] == (64 if job.upscale else 32)


def test_doctor_names_the_cascades_precision(monkeypatch):
    from app.commands import doctor

    _native(monkeypatch, True)
    line = doctor.inference_line(torch.device("cpu"), devices.cpu_info())
    assert "emoji cascade bf16" in line and "DeepFloyd IF fp32" in line
    _native(monkeypatch, False)
    line = doctor.inference_line(torch.device("cpu"), devices.cpu_info())
    assert "emoji cascade fp32" in line


def test_the_window_runs_the_cascade_in_bf16_and_precision_fp32_reloads_it(
        qtbot, monkeypatch, cascade, tmp_path):
    from test_app import open_window

    from app.model_menu import PRECISION_LABELS

    _native(monkeypatch, True)
    window = open_window(qtbot, str(cascade), tmp_path / "w")
    assert window.session.model_state.dtype == "bfloat16" and "bf16" in window.model_label.text()
    assert "emoji cascade" in PRECISION_LABELS["auto"]
    with qtbot.waitSignal(window.session.engine.modelLoaded, timeout=30_000) as loaded:
        window.precision_actions["fp32"].trigger()
    assert loaded.args[0].dtype == "float32" and "fp32" in window.model_label.text()
    assert window.session.engine.loaded_model().unet.dtype == torch.float32
