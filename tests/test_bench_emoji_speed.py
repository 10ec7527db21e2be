"""benchmarks/bench_emoji_speed.py's pieces and the IF adapters' UNet levers
(engine/models/unet_speed.py), on a tiny random cascade in the bundle's layout."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from engine.models import unet_speed
from tests import bench_modules

bench, cascade = bench_modules.bench, bench_modules.cascade  # the shared fixtures


def test_the_random_cascade_loads_as_the_app_loads_the_bundle(bench, cascade):
    model = bench.load_cascade(cascade, None)
    assert cascade.name == "IF-I-emoji" and model.has_upscaler()
    up = model.upscaler()
    assert up.folder.name == "IF-II-emoji" and (model.image_size, up.image_size) == (32, 64)
    assert model.default_prompt == "grinning face"
    from engine.training import emoji_model

    assert up.num_steps() == emoji_model.STAGE_TWO_STEPS  # the trainer's hint, read now
    assert "23 CFG calls" in bench.describe(model)  # strength 0.7 of 33 updates


@pytest.mark.parametrize("variant", ["contig", "cl", "cache", "contig+cache", "cl+cache"])
def test_each_lever_gives_eager_outputs(bench, cascade, variant):
    # in fp32: bf16 (auto on an AMX CPU) rounds differently in the two layouts' kernels
    eager = bench.load_cascade(cascade, (), "fp32")
    fast = bench.load_cascade(cascade, bench.VARIANTS[variant], "fp32")
    ref, got = bench.call_outputs(eager), bench.call_outputs(fast)
    assert len(got) == 8
    for a, b in zip(got, ref):
        assert a.shape == b.shape
        assert float((a - b).abs().max()) <= 1e-4
    assert float(ref[0].abs().max()) > 0.01  # not a trivially zero output
    if "cache" in variant:  # the second call of each stage was answered from the cache
        memos = unet_speed.cache_text(fast.unet) + unet_speed.cache_text(fast.upscaler().unet)
        assert memos and all(m.hits >= 1 for m in memos)


def test_the_text_cache_follows_a_new_prompt(bench, cascade):
    eager, fast = bench.load_cascade(cascade, ()), bench.load_cascade(cascade, ("cache_text",))
    x, t = torch.randn(2, 3, 32, 32), torch.full((2,), 400)
    for prompts in (["grinning face", ""], ["red apple", ""], ["grinning face", ""]):
        cond = eager.encode(prompts)
        assert torch.equal(fast.predict(x, t, cond).eps, eager.predict(x, t, cond).eps)
    cond = eager.encode(["cat face", ""])
    before = fast.predict(x, t, cond).eps
    cond.add_(0.5)  # changed in place: the cache must not answer for the old values
    assert torch.equal(fast.predict(x, t, cond).eps, eager.predict(x, t, cond).eps)
    assert not torch.equal(before, eager.predict(x, t, cond).eps)


def test_the_cache_computes_under_autograd():
    lin = torch.nn.Linear(4, 4)
    memo = unet_speed._memoize(torch.nn.Module(), "missing")
    assert memo is None
    holder = torch.nn.Module()
    holder.proj = lin
    memo = unet_speed._memoize(holder, "proj")
    x = torch.randn(2, 4)
    with torch.no_grad():
        first = holder.proj(x)
        assert holder.proj(x) is first and memo.hits == 1
    y = holder.proj(x)
    assert y.requires_grad and memo.hits == 1
    assert list(holder.state_dict()) == ["proj.weight", "proj.bias"]


def test_adapters_apply_their_levers_once_before_the_first_call(bench, cascade):
    model = bench.load_cascade(cascade, None)
    assert getattr(model, "_applied_levers", None) is None
    bench.call_outputs(model, calls=1)
    assert model._applied_levers == unet_speed.CPU_LEVERS
    assert model.upscaler()._applied_levers == unet_speed.CPU_LEVERS
    with pytest.raises(ValueError, match="unknown levers"):
        unet_speed.speed_up(torch.nn.Linear(2, 2), ("fast",))


def test_the_rows_run_the_apps_jobs(bench, cascade):
    model = bench.load_cascade(cascade, None)
    one = bench.stage_one(model)
    assert one["out"].shape == (1, 3, 32, 32) and one["s"] > 0
    two = bench.stage_two(model)
    assert two["out"].shape == (1, 3, 64, 64)
    live = bench.live(model)
    assert live["previews"] == 23  # x̂_0 after every one of the 23 CFG calls
    assert live["previews/s"] == pytest.approx(23 * live["results/s"])
    assert 0 < live["first_preview_s"] < live["s"]


def test_measure_prints_ratios_against_eager_and_the_goal(bench, cascade, capsys):
    models = {v: bench.load_cascade(cascade, bench.VARIANTS[v]) for v in ("eager", "cache")}
    results = bench.measure(models, ["stage2", "live"], [1], 1, None)
    assert [(r.row, r.variant, len(r.runs)) for r in results] == [
        ("stage2", "eager", 1), ("stage2", "cache", 1), ("live", "eager", 1),
        ("live", "cache", 1)]
    out = capsys.readouterr().out
    assert out.count("x1.00 vs eager") >= 2 and "goal <= 2.0 s" in out
    assert "goal 3.0 results/s" in out


def test_bf16_rows_are_set_against_fp32_in_the_same_process(bench, cascade, capsys):
    models = {bench.label(v, d): bench.load_cascade(cascade, bench.VARIANTS[v], d)
              for d in ("fp32", "bf16") for v in ("eager", "cl+cache")}
    assert list(models) == ["eager", "cl+cache", "eager/bf16", "cl+cache/bf16"]
    assert models["cl+cache/bf16"].dtype == torch.bfloat16
    assert models["cl+cache/bf16"].upscaler().dtype == torch.bfloat16
    results = bench.measure(models, ["stage2"], [1], 1, None)
    assert [r.variant for r in results] == list(models)
    lines = capsys.readouterr().out.splitlines()
    assert [("vs fp32" in line) for line in lines] == [False, False, True, True]
    assert "eager/bf16" in lines[2] and "x1.00 vs eager" in lines[0]
    calls = bench.call_difference(models)
    assert calls["cl+cache"] <= 1e-4 < calls["eager/bf16"]  # bf16 really rounds
    with pytest.raises(SystemExit):
        bench.parse_args(["--dtypes", "bf16"])  # no fp32 to compare with


def test_paused_stops_the_process_and_always_resumes_it(bench):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])

    def state(want: str) -> str:  # signals arrive asynchronously: wait up to 5 s
        for _ in range(100):
            now = Path(f"/proc/{child.pid}/stat").read_text().split(") ")[1].split()[0]
            if now in want:
                break
            time.sleep(0.05)
        return now

    try:
        with pytest.raises(RuntimeError), bench.paused(child.pid):
            assert state("T") == "T"
            raise RuntimeError("a failed measurement")
        assert state("SR") in "SR"
    finally:
        child.kill()
        child.wait()


def test_paused_stops_several_processes(bench):
    children = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
                for _ in range(2)]

    def state(pid: int, want: str) -> str:
        for _ in range(100):
            now = Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()[0]
            if now in want:
                break
            time.sleep(0.05)
        return now

    try:
        with bench.paused([c.pid for c in children]):
            assert [state(c.pid, "T") for c in children] == ["T", "T"]
        assert all(state(c.pid, "SR") in "SR" for c in children)
        assert bench.parse_args(["--pause", "12,34"]).pause == [12, 34]
    finally:
        for child in children:
            child.kill()
            child.wait()


def test_bad_arguments_and_a_missing_model(bench, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        bench.parse_args(["--variants", "cache"])  # no eager to compare with
    assert exit_.value.code == 2
    assert bench.main(["--model", str(tmp_path / "none"), "--rows", "stage1"]) == 1
    assert "cannot load the cascade" in capsys.readouterr().out
