"""The emoji trainers' faster step (issue 15, 2): torch.compile as an option that reaches the
step, chosen by `auto` only where it pays, giving the eager step's loss; a resume may change it
(it does not change the maths); fused AdamW resumes an old run's optimizer state; the EMA's
foreach lerp is the same average."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from app.cli import main
from engine.errors import EngineError
from engine.training import checkpoint as ckpt
from engine.training import emoji_train as et
from engine.training.emoji_model import (
    EMA,
    TEST_SHAPE,
    Diffusion,
    TextShape,
    build_text_encoder,
    build_unet,
)
from tests.emoji_fixtures import write_emoji_set

SMALL = dict(shape="test", batch_size=4, sample_steps=2, num_threads=1, device="cpu",
             warmup=2, save_every_s=None)
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def emoji_set(tmp_path_factory):
    return write_emoji_set(tmp_path_factory.mktemp("emoji") / "set", copies=1)


class FakeCompile:
    """Stands in for torch.compile: records the call, runs the function as it is."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.runs = 0

    def __call__(self, fn, **options):
        self.calls.append(options)

        def compiled(*args):
            self.runs += 1
            return fn(*args)

        return compiled


def test_auto_compiles_only_a_long_cpu_fp32_run_with_a_compiler(monkeypatch):
    monkeypatch.setattr(et, "_cxx_compiler", lambda: "/usr/bin/g++")
    long = et.COMPILE_MIN_STEPS
    assert et.resolve_compile("auto", CPU, "fp32", long)
    assert not et.resolve_compile("auto", CPU, "fp32", long - 1)
    assert not et.resolve_compile("auto", CPU, "bf16", long)
    assert not et.resolve_compile("auto", torch.device("cuda"), "fp16", long)
    assert et.resolve_compile("on", CPU, "fp32", 1) and not et.resolve_compile("off", CPU,
                                                                                "fp32", long)
    monkeypatch.setattr(et, "_cxx_compiler", lambda: None)
    assert not et.resolve_compile("auto", CPU, "fp32", long)
    with pytest.raises(EngineError, match="compile must be one of auto, on, off"):
        et.resolve_compile("yes", CPU, "fp32", long)
    with pytest.raises(EngineError, match="compile must be one of"):
        et.EmojiTrainConfig("base", "x", compile="always").validate()


def test_the_option_reaches_the_step(emoji_set, tmp_path, monkeypatch):
    fake = FakeCompile()
    monkeypatch.setattr(torch, "compile", fake)
    et.train_emoji(et.EmojiTrainConfig("base", str(emoji_set), epochs=1, compile="on", **SMALL),
                   tmp_path / "on", progress=False)
    assert fake.calls == [{"backend": et.COMPILE_BACKEND, "dynamic": False}]
    assert fake.runs == 2  # both steps of the epoch went through the compiled function
    for name in ("off", "auto"):  # auto: two steps do not pay for a compile
        et.train_emoji(et.EmojiTrainConfig("base", str(emoji_set), epochs=1, compile=name,
                                           **SMALL), tmp_path / name, progress=False)
    assert len(fake.calls) == 1 and fake.runs == 2


def test_a_resume_may_change_the_compile_setting_and_an_old_optimizer_state(emoji_set,
                                                                             tmp_path,
                                                                             monkeypatch):
    whole = et.train_emoji(et.EmojiTrainConfig("base", str(emoji_set), epochs=2, compile="off",
                                               **SMALL), tmp_path / "whole", progress=False)
    split = tmp_path / "split"
    et.train_emoji(et.EmojiTrainConfig("base", str(emoji_set), epochs=2, compile="off", **SMALL),
                   split, progress=False, max_steps=1)
    state = ckpt.load_training_state(split)  # as the running job saved it: no fused groups
    for group in state["optimizer"]["param_groups"]:
        group["fused"] = group["foreach"] = None
    ckpt.save_training_state(split, state)
    fake = FakeCompile()
    monkeypatch.setattr(torch, "compile", fake)
    rest = et.train_emoji(et.EmojiTrainConfig("base", str(emoji_set), epochs=2, compile="on",
                                              **SMALL), split, resume=True, progress=False)
    assert rest.steps_done == whole.steps_done == 4 and fake.runs == 3
    from safetensors.torch import load_file

    a, b = load_file(whole.out_dir / "model.safetensors"), load_file(split / "model.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.allclose(a[k], b[k], rtol=1e-4, atol=1e-6) for k in a)


def tiny_stage_one() -> tuple[et.StageOne, tuple[torch.Tensor, ...]]:
    torch.manual_seed(0)
    text = TextShape(d_model=32, layers=1, heads=2, d_ff=64, vocab=64)
    model = et.StageOne(build_unet(TEST_SHAPE, 32, text.d_model), build_text_encoder(64, text))
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(3, 60, (2, 77), generator=g)
    mask = (torch.arange(77)[None] < torch.tensor([[5], [9]])).long()
    x0 = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    t = torch.tensor([0, 700])  # the decoder term and a KL term of the VLB
    eps = torch.randn(x0.shape, generator=g)
    x_t = Diffusion().q_sample(x0, t, eps)
    return model, (ids, mask, x_t, x0, x_t, t, eps, None)


def gradients(model: nn.Module) -> list[torch.Tensor]:
    return [p.grad.clone() for p in model.parameters()]


@pytest.mark.slow  # about 25 s of CPU: dynamo and AOT autograd trace the UNet
def test_a_compiled_step_gives_the_eager_loss_and_gradients(monkeypatch):
    """The real torch.compile (AOT autograd's tracing; the aot_eager backend, so no C++ build
    in the tests: benchmarks/bench_train_speed.py checks inductor's losses)."""
    monkeypatch.setattr(et, "COMPILE_BACKEND", "aot_eager")
    model, inputs = tiny_stage_one()
    config = et.EmojiTrainConfig("base", "", shape="test", compile="on")
    diffusion = Diffusion()
    eager = et.StepLoss(config, model, None, diffusion, None, compiled=False)(0, None, *inputs)
    eager_grads = gradients(model)
    step = et.StepLoss(config, model, None, diffusion, None, compiled=True)
    compiled = step(0, None, *inputs)
    assert step.compiled
    for a, b in zip(eager, compiled):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-7), (a, b)
    for a, b in zip(eager_grads, gradients(model)):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-7)


def test_a_failed_compile_falls_back_on_auto_and_is_one_message_on_on(monkeypatch, capsys):
    def broken(fn, **options):
        def compiled(*args):
            raise RuntimeError("no C++ compiler found\nmore lines")

        return compiled

    monkeypatch.setattr(torch, "compile", broken)
    model, inputs = tiny_stage_one()
    diffusion = Diffusion()
    eager = et.StepLoss(et.EmojiTrainConfig("base", "", shape="test"), model, None, diffusion,
                        None, compiled=False)(0, None, *inputs)
    auto = et.StepLoss(et.EmojiTrainConfig("base", "", shape="test", compile="auto"), model,
                       None, diffusion, None, compiled=True)
    assert torch.equal(auto(0, None, *inputs)[0], eager[0]) and not auto.compiled
    assert "no C++ compiler found); training eager" in capsys.readouterr().err
    on = et.StepLoss(et.EmojiTrainConfig("base", "", shape="test", compile="on"), model, None,
                     diffusion, None, compiled=True)
    with pytest.raises(EngineError, match="RuntimeError: no C\\+\\+ compiler found\\); train "
                                          "with --compile off"):
        on(0, None, *inputs)


def test_the_ema_lerp_is_the_same_average():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    ema = EMA(net, 0.9)
    shadow = {k: v.clone() for k, v in ema.shadow.items()}
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p))
    net.train()(torch.randn(5, 4))  # the batch-norm buffers move, its counter too
    ema.update(net)
    d = min(0.9, 2 / 11)
    for k, v in net.state_dict().items():
        want = d * shadow[k] + (1 - d) * v.float() if v.is_floating_point() else v
        assert torch.allclose(ema.shadow[k], want.to(ema.shadow[k].dtype), atol=1e-6), k


def test_cli_compile_reaches_the_config_and_is_refused_for_other_kinds(emoji_set, tmp_path,
                                                                       monkeypatch, capsys):
    seen = []
    real = et.train_emoji

    def spy(config, *args, **kwargs):
        seen.append(config.compile)
        return real(config, *args, **kwargs)

    monkeypatch.setattr(et, "train_emoji", spy)
    common = ["train", "emoji-base", "--data", str(emoji_set), "--out", str(tmp_path / "run"),
              "--threads", "1", "--device", "cpu", "--shape", "test", "--batch-size", "4",
              "--max-steps", "1"]
    assert main([*common, "--compile", "off"]) == 0
    assert main([*common, "--resume"]) == 0
    assert seen == ["off", "off"], "auto is off for a --max-steps run this short (test_cli_qa)"
    capsys.readouterr()
    assert main(["train", "class", "--out", str(tmp_path / "digits"), "--compile", "on"]) == 1
    assert "--compile applies to emoji-base and emoji-upscale" in capsys.readouterr().err


def test_attention_auto_is_classic_for_bf16_on_a_cpu_and_both_give_the_same_losses(tmp_path):
    from diffusers.models.attention_processor import AttnAddedKVProcessor, AttnAddedKVProcessor2_0

    from engine.errors import EngineError
    from engine.training.emoji_model import STAGE_ONE_SHAPES, build_unet
    from engine.training.emoji_train import resolve_attention, use_attention

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_attention("auto", cpu, "bf16") == "classic"
    assert resolve_attention("auto", cpu, "fp32") == "sdpa"
    assert resolve_attention("auto", cuda, "fp16") == "sdpa"
    assert resolve_attention("sdpa", cpu, "bf16") == "sdpa"
    with pytest.raises(EngineError, match="attention must be one of"):
        resolve_attention("flash", cpu, "bf16")
    unet = build_unet(STAGE_ONE_SHAPES["test"], 32, 32)
    use_attention(unet, "classic")
    kinds = {type(p) for p in unet.attn_processors.values()}
    assert kinds == {AttnAddedKVProcessor}
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    text = torch.randn(2, 5, 32, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([10, 500])
    with torch.no_grad():
        classic = unet(x, t, encoder_hidden_states=text).sample
        use_attention(unet, "sdpa")
        assert {type(p) for p in unet.attn_processors.values()} == {AttnAddedKVProcessor2_0}
        sdpa = unet(x, t, encoder_hidden_states=text).sample
    assert torch.allclose(classic, sdpa, atol=1e-5)
    assert not torch.equal(classic, torch.zeros_like(classic))


def test_attention_is_refused_for_the_part_b_kinds(tmp_path, capsys):
    assert main(["train", "denoiser", "--out", str(tmp_path / "d"), "--attention",
                 "classic"]) == 1
    assert "--attention applies to emoji-base and emoji-upscale" in capsys.readouterr().err
