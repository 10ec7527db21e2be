"""Training the emoji cascade (issue 12): `train emoji-base` (stage I) and `emoji-upscale` (II).

Stage I learns text -> 32x32 RGB in [-1, 1]: its UNet and a small T5 encoder are trained
together, the tokenizer is trained once from the data's labels at the start of the run. Stage II
learns 32 -> 64: the low-resolution image (the 64 px image averaged 2x2) is upsampled bilinearly
and noised to a random augmentation level with IF's image-noising scheduler, concatenated to
x_t, and the level is the class label; its text embeddings come from a finished stage I's
encoder, frozen (`text_encoder=` a stage I pipeline folder), as IF's stage II reads stage I's T5.

Determinism: the initial weights come from `seed`; the epoch's draw of images from
(seed, "order", epoch) and every random draw of a step (prompts, t, ε, augmentation) from
(seed, "step", global step), so a resume from any saved step sees the batches an uninterrupted
run sees. An epoch is len(set) weighted draws with replacement (flags and keycaps down-weighted).

Files in the run folder (the checkpoint functions of engine/training/checkpoint.py):
- training_state.pt: the step, raw and EMA weights, optimizer, loss history: the truth a
  `--resume` continues from; saved at every epoch's end and every `save_every_s` mid-epoch;
- model.safetensors + config.json: the EMA weights and settings after the last epoch (or a
  max_steps stop); `init_from` starts a new run from another run's model.safetensors;
- tokenizer/ (stage I), loss.csv (step, epoch, loss, simple, vlb, lr), samples/epoch-NNNN.png;
- pipeline/IF-I-emoji or pipeline/IF-II-emoji: the EMA weights as a DeepFloyd IF folder, what
  `--model` and diffusers' IFPipeline load.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from engine import images as _images_module  # noqa: F401 - loaded now: a long run outlives edits
from engine.devices import cpu_count, resolve_device
from engine.errors import CheckpointError, EngineError
from engine.models.folders import HINTS
from engine.training import checkpoint as ckpt
from engine.training import emoji_data, parallel
from engine.training.emoji_model import (
    EMA,
    STAGE_ONE,
    STAGE_ONE_SHAPES,
    STAGE_TWO,
    STAGE_TWO_STEPS,
    Diffusion,
    PromptTokens,
    TextShape,
    build_text_encoder,
    build_unet,
    hybrid_loss,
    load_tokenizer,
    train_tokenizer,
)
from engine.training.progress import progress_bar
from engine.training.train import _seeded, resolve_precision

STAGES = {"emoji-base": "base", "emoji-upscale": "upscale"}
FOLDERS = {"base": "IF-I-emoji", "upscale": "IF-II-emoji"}
LOSS_CSV = "loss.csv"
SAMPLE_PROMPTS = ("grinning face", "cat face", "red apple", "rocket", "pizza", "red heart",
                  "thumbs up, twemoji", "face savoring food, google")  # CLDR names
# torch.compile of the step (docs/benchmarks.md, "Emoji stage I training speed"): on this kind of
# CPU (fp32, oneDNN) it fuses the pointwise work around the convolutions for about a tenth off a
# step, after a compile of several minutes; so `auto` compiles only a CPU fp32 run with at least
# COMPILE_MIN_STEPS steps to go and a C++ compiler for inductor. It never changes the maths (the
# same losses to float rounding), so it is not a run setting: a resume may change it.
COMPILE_CHOICES = ("auto", "on", "off")
ATTENTION_CHOICES = ("auto", "sdpa", "classic")
COMPILE_MIN_STEPS = 5000
COMPILE_BACKEND = "inductor"  # tests use "aot_eager" (the same tracing, no C++ build)
# settings that change what a run computes: a resume must match them
RUN_SETTINGS = ("stage", "shape", "batch_size", "lr", "warmup", "ema", "p_uncond", "p_style",
                "vocab", "seed", "limit", "min_snr", "learn_variance", "data", "text_encoder",
                "init_from", "aug_max")
# what a run saved before a setting existed trained with (its resume still matches)
SETTINGS_BEFORE = {"aug_max": 1000}
UPSCALE_NOISE_LEVEL = 250  # the augmentation level stage II runs at (IF's default)


@dataclass
class EmojiTrainConfig:
    stage: str  # base | upscale
    data_dir: str
    epochs: int = 500
    batch_size: int = 32
    lr: float = 5e-4
    warmup: int = 250  # steps of linear LR warm-up, then constant
    ema: float = 0.999
    p_uncond: float = 0.1  # prompt dropout to '' (CFG)
    p_style: float = 0.5  # share of prompts that name the vendor's style word
    shape: str = ""  # UNet shape name (stage I); "" = the default of the stage
    vocab: int = 3000
    seed: int = 0
    limit: int | None = None
    min_snr: bool = True
    learn_variance: bool = True  # hybrid loss; False = L_simple only (fixed variance)
    text_encoder: str | None = None  # stage II: a stage I pipeline folder
    init_from: str | None = None  # a run of the same stage and shape whose EMA weights start this
    # stage II: augmentation levels are drawn from [0, aug_max); IF draws from all 1000, but a
    # small stage II then spends much of its training on inputs noised past use
    aug_max: int = 1000
    device: str = "auto"
    precision: str = "auto"
    num_threads: int | None = None
    save_every_s: float | None = 600.0
    compile: str = "auto"  # auto | on | off: torch.compile of the step's loss (resolve_compile)
    attention: str = "auto"  # auto | sdpa | classic: the UNet's attention (resolve_attention)
    sample_steps: int = 25
    sample_guidance: float = 3.0
    grad_clip: float = 1.0
    rewarm_from: int = 0  # the step a carried run's LR warm-up starts again (emoji_carry)
    decay_from: int = 0  # from this step the LR falls on a cosine to the run's last step (0: never)
    total_steps: int = 0  # the run's last step, epochs x steps per epoch (set by train_emoji)
    procs: int = 1  # data-parallel worker processes (parallel.py); the global batch stays

    def validate(self) -> None:
        problems = []
        if self.stage not in FOLDERS:
            problems.append(f"stage must be one of {', '.join(FOLDERS)}")
        for name in ("epochs", "batch_size", "vocab"):
            if int(getattr(self, name)) < 1:
                problems.append(f"{name.replace('_', '-')} must be at least 1")
        if not self.lr > 0:
            problems.append("lr must be positive")
        if self.warmup < 0:
            problems.append("warmup must be at least 0")
        if self.decay_from < 0:
            problems.append("decay-from must be at least 0")
        if int(self.procs) < 1 or int(self.batch_size) % int(self.procs):
            problems.append("procs must be at least 1 and divide batch_size")
        if not 0 <= self.ema < 1:
            problems.append("ema must be in [0, 1)")
        if not 0 <= self.p_uncond < 1 or not 0 <= self.p_style <= 1:
            problems.append("p_uncond must be in [0, 1) and p_style in [0, 1]")
        if self.stage == "base" and self.shape_name not in STAGE_ONE_SHAPES:
            problems.append(f"shape must be one of {', '.join(STAGE_ONE_SHAPES)}")
        if self.stage == "upscale" and not self.text_encoder:
            problems.append("stage II needs the text encoder of a stage I run (--text-encoder "
                            "RUN/pipeline/IF-I-emoji)")
        if not UPSCALE_NOISE_LEVEL < int(self.aug_max) <= 1000:
            problems.append(f"aug-max must be above {UPSCALE_NOISE_LEVEL} (the level stage II "
                            "runs at) and at most 1000")
        if self.limit is not None and self.limit < 1:
            problems.append("limit must be at least 1")
        if self.compile not in COMPILE_CHOICES:
            problems.append(f"compile must be one of {', '.join(COMPILE_CHOICES)}")
        if problems:
            raise EngineError("bad training settings: " + "; ".join(problems))

    @property
    def shape_name(self) -> str:
        return self.shape or (STAGE_ONE if self.stage == "base" else STAGE_TWO.name)


@dataclass
class EmojiTrainResult:
    out_dir: Path
    epochs_done: int
    steps_done: int
    final_loss: float | None
    pipeline: Path | None


# ----------------------------------------------------------------------------------------------
# the networks of a stage


class StageOne(nn.Module):
    """Stage I's trained pair: the UNet and the text encoder (state dict keys unet.*, text.*)."""

    def __init__(self, unet: nn.Module, text: nn.Module) -> None:
        super().__init__()
        self.unet = unet
        self.text = text

    def encode(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.text(ids, attention_mask=mask)[0]


class StageTwo(nn.Module):
    def __init__(self, unet: nn.Module) -> None:
        super().__init__()
        self.unet = unet


def _build(config: EmojiTrainConfig, vocab_size: int, text_dim: int) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        if config.stage == "base":
            unet = build_unet(STAGE_ONE_SHAPES[config.shape_name], 32, text_dim)
            return StageOne(unet, build_text_encoder(vocab_size, TextShape(vocab=config.vocab)))
        return StageTwo(build_unet(STAGE_TWO, 64, text_dim, stage_two=True))


def check_init_run(run: Path, config: EmojiTrainConfig) -> None:
    """CheckpointError unless `run` is an emoji run of this stage and shape (--init-from)."""
    training = read_record(run).get("training") or {}
    theirs = (training.get("stage"), training.get("shape"))
    if theirs != (config.stage, config.shape_name):
        raise CheckpointError(f"--init-from {run}: that run trained stage {theirs[0]}, shape "
                              f"{theirs[1]}; this one is stage {config.stage}, shape "
                              f"{config.shape_name}")


def start_from(model: nn.Module, run: Path, config: EmojiTrainConfig) -> None:
    """`model` given the EMA weights (model.safetensors) of `run`, an emoji run of the same stage
    and shape: a new run from an old one's weights, e.g. stage II again on a later stage I's
    text encoder, or other settings than a resume allows. CheckpointError where it does not fit."""
    check_init_run(run, config)
    ckpt.verify(run, ckpt.WEIGHTS)
    weights, _ = ckpt.load_weights(run / ckpt.WEIGHTS)
    ckpt.load_state_into(model, weights, run / ckpt.WEIGHTS, f"emoji {config.stage} model")


def _copy_tokenizer(run: Path, tok_dir: Path) -> None:
    source = run / "tokenizer"
    if not (source / "spiece.model").is_file():
        raise CheckpointError(f"--init-from {run}: it has no tokenizer/spiece.model, and its "
                              "weights need that tokenizer")
    shutil.copytree(source, tok_dir)


def _frozen_text(folder: Path):
    """(T5 encoder, tokenizer folder) of a stage I pipeline folder, for stage II."""
    from transformers import T5EncoderModel

    if not (folder / "text_encoder" / "config.json").is_file() or not (folder / "tokenizer"
                                                                        ).is_dir():
        raise EngineError(f"{folder} is not a stage I pipeline with text_encoder/ and "
                          "tokenizer/ (use RUN/pipeline/IF-I-emoji of an emoji-base run)")
    model = T5EncoderModel.from_pretrained(str(folder / "text_encoder"), local_files_only=True)
    return model.eval().requires_grad_(False), folder / "tokenizer"


# ----------------------------------------------------------------------------------------------
# prompts


def make_prompt(entry: dict, g: torch.Generator, p_uncond: float, p_style: float) -> str:
    """'' (p_uncond); else its CLDR name half the time, one of its names (CLDR, Unicode, short)
    30%, one of its CLDR keywords 20% (the names when it has none); the style word appended
    (p_style): 'face savoring food', 'yum, twemoji'."""
    r = torch.rand(3, generator=g).tolist()
    texts = emoji_data.texts_of(entry)
    keywords = emoji_data.keywords_of(entry)
    if r[0] < p_uncond or not texts:
        return ""
    pool = keywords if r[1] >= 0.8 and keywords else texts
    text = texts[0] if r[1] < 0.5 else pool[int(torch.randint(len(pool), (1,), generator=g))]
    return f"{text}, {entry['style']}" if r[2] < p_style else text


# ----------------------------------------------------------------------------------------------
# sampling (the sample grids; the app samples through the IF adapter)


@torch.no_grad()
def sample(unet: nn.Module, cond: torch.Tensor, uncond: torch.Tensor, steps: int,
           guidance: float, g: torch.Generator, size: int = 32,
           low_res: torch.Tensor | None = None, noise_level: int = UPSCALE_NOISE_LEVEL
           ) -> torch.Tensor:
    """IFPipeline's loop: DDPMScheduler (learned range, thresholding) on `steps` strided
    timesteps, CFG on ε, the conditional variance. Stage II when low_res is given."""
    from diffusers import DDPMScheduler

    from engine.models.tiny import IF_NOISING_SCHEDULER, IF_SCHEDULER

    sched = DDPMScheduler.from_config(IF_SCHEDULER)
    sched.set_timesteps(steps)
    n = cond.shape[0]
    x = torch.randn(n, 3, size, size, generator=g)
    extra: dict[str, Any] = {}
    if low_res is not None:
        noising = DDPMScheduler.from_config(IF_NOISING_SCHEDULER)
        up = F.interpolate(low_res, (size, size), mode="bilinear", align_corners=True)
        level = torch.full((n,), noise_level, dtype=torch.long)
        up = noising.add_noise(up, torch.randn(up.shape, generator=g), level)
        extra["class_labels"] = torch.cat([level, level])
    both = torch.cat([cond, uncond.expand(n, -1, -1)])
    for t in sched.timesteps:
        inp = torch.cat([x, x])
        if low_res is not None:
            inp = torch.cat([inp, torch.cat([up, up])], dim=1)
        out = unet(inp, t, encoder_hidden_states=both, **extra).sample.float()
        c, u = out.chunk(2)
        eps = u[:, :3] + guidance * (c[:, :3] - u[:, :3])
        x = sched.step(torch.cat([eps, c[:, 3:]], dim=1), t, x, generator=g).prev_sample
    return x.clamp(-1, 1)


# ----------------------------------------------------------------------------------------------
# the IF folder


def model_index(stage: str) -> dict[str, Any]:
    import diffusers

    text = stage == "base"
    index = {"_class_name": "IFPipeline" if text else "IFSuperResolutionPipeline",
             "_diffusers_version": diffusers.__version__,
             "unet": ["diffusers", "UNet2DConditionModel"],
             "scheduler": ["diffusers", "DDPMScheduler"],
             "text_encoder": ["transformers", "T5EncoderModel"] if text else [None, None],
             "tokenizer": ["transformers", "T5Tokenizer"] if text else [None, None],
             "safety_checker": [None, None], "feature_extractor": [None, None],
             "watermarker": [None, None], "requires_safety_checker": False}
    if not text:
        index["image_noising_scheduler"] = ["diffusers", "DDPMScheduler"]
    return index


def export_pipeline(stage: str, unet: nn.Module, folder: Path, text: nn.Module | None = None,
                    tokenizer_dir: Path | None = None, dtype: torch.dtype | None = None,
                    notes: dict[str, Any] | None = None) -> Path:
    """Write an IF pipeline folder (replacing `folder` whole, so a reader never sees half)."""
    from engine.models.tiny import IF_NOISING_SCHEDULER, IF_SCHEDULER

    tmp = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.mkdir(parents=True)
        unet_out = unet if dtype is None else _cast_copy(unet, dtype)
        unet_out.save_pretrained(tmp / "unet", safe_serialization=True)
        schedulers = {"scheduler": IF_SCHEDULER}
        if stage == "upscale":
            schedulers["image_noising_scheduler"] = IF_NOISING_SCHEDULER
        for sub, config in schedulers.items():
            (tmp / sub).mkdir()
            (tmp / sub / "scheduler_config.json").write_text(json.dumps(config, indent=2))
        if stage == "base":
            if text is None or tokenizer_dir is None:
                raise EngineError("a stage I folder needs its text encoder and tokenizer")
            (text if dtype is None else _cast_copy(text, dtype)).save_pretrained(
                tmp / "text_encoder", safe_serialization=True)
            shutil.copytree(tokenizer_dir, tmp / "tokenizer")
        (tmp / "model_index.json").write_text(json.dumps(model_index(stage), indent=2))
        if notes:
            (tmp / HINTS).write_text(json.dumps(notes, indent=2))
        old = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:8]}.old")
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def _cast_copy(module: nn.Module, dtype: torch.dtype) -> nn.Module:
    import copy

    return copy.deepcopy(module).to(dtype)


# ----------------------------------------------------------------------------------------------
# the step's loss, eager or compiled


def resolve_compile(name: str, device: torch.device, precision: str, steps_left: int) -> bool:
    """Whether to torch.compile the step: on / off as asked; auto (see COMPILE_MIN_STEPS) on a
    CPU in fp32 with a C++ compiler, for a run with at least COMPILE_MIN_STEPS steps to go."""
    if name not in COMPILE_CHOICES:
        raise EngineError(f"compile must be one of {', '.join(COMPILE_CHOICES)}, not {name!r}")
    if name != "auto":
        return name == "on"
    return (device.type == "cpu" and precision == "fp32" and steps_left >= COMPILE_MIN_STEPS
            and _cxx_compiler() is not None)


def resolve_attention(name: str, device: torch.device, precision: str) -> str:
    """The UNet's attention: sdpa (diffusers' default processor) or classic (its plain
    matmul-softmax-matmul one). The same maths to rounding, so, like the compile, not a run
    setting. auto: classic for bf16 on a CPU, where its step measured 1.16-1.19x SDPA's
    (docs/benchmarks.md, "Emoji stage I training" on the AMX Xeon), sdpa elsewhere."""
    if name not in ATTENTION_CHOICES:
        raise EngineError(f"attention must be one of {', '.join(ATTENTION_CHOICES)}, not "
                          f"{name!r}")
    if name != "auto":
        return name
    return "classic" if device.type == "cpu" and precision == "bf16" else "sdpa"


def use_attention(unet: nn.Module, name: str) -> None:
    """Give every attention layer of `unet` the processor `name` (resolve_attention) stands for."""
    from diffusers.models.attention_processor import AttnAddedKVProcessor, AttnAddedKVProcessor2_0

    unet.set_attn_processor(AttnAddedKVProcessor() if name == "classic"
                            else AttnAddedKVProcessor2_0())


def _cxx_compiler() -> str | None:
    import os

    return next((found for name in (os.environ.get("CXX"), "g++", "c++", "clang++")
                 if name and (found := shutil.which(name))), None)


def loss_parts(config: EmojiTrainConfig, model: nn.Module, frozen: nn.Module | None,
               diffusion: Diffusion, autocast_dtype: torch.dtype | None, ids: torch.Tensor,
               mask: torch.Tensor, inp: torch.Tensor, x0: torch.Tensor, x_t: torch.Tensor,
               t: torch.Tensor, eps: torch.Tensor, class_labels: torch.Tensor | None
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, L_simple, L_vlb) of one batch: the text encoder (stage I) or the frozen one, the
    UNet, then the hybrid loss (or min-SNR L_simple alone with a fixed variance)."""
    extra = {} if class_labels is None else {"class_labels": class_labels}
    with torch.autocast(inp.device.type, dtype=autocast_dtype or torch.float32,
                        enabled=autocast_dtype is not None):
        if config.stage == "base":
            cond = model.encode(ids, mask)
        else:
            with torch.no_grad():
                cond = frozen(ids, attention_mask=mask)[0]
        out = model.unet(inp, t, encoder_hidden_states=cond, **extra).sample
    if config.learn_variance:
        return hybrid_loss(diffusion, out, x0, x_t, t, eps, config.min_snr)
    mse = ((out.float()[:, :3] - eps) ** 2).mean(dim=(1, 2, 3))
    w = diffusion.min_snr_weight(t) if config.min_snr else torch.ones_like(mse)
    loss = (w * mse).mean()
    return loss, loss.detach(), torch.zeros((), device=loss.device)


class StepLoss:
    """loss_parts bound to a run, then its backward; compiled (torch.compile, static shapes:
    every batch of a run is full) when asked. A compile that fails on the first step falls back
    to the eager step with a line (compile "auto"), or is an EngineError (compile "on")."""

    def __init__(self, config: EmojiTrainConfig, model: nn.Module, frozen: nn.Module | None,
                 diffusion: Diffusion, autocast_dtype: torch.dtype | None, compiled: bool,
                 log: bool = True) -> None:
        import functools

        self.config, self.model, self.log = config, model, log
        self.eager = functools.partial(loss_parts, config, model, frozen, diffusion,
                                       autocast_dtype)
        self.compiled = compiled
        self.fn = (torch.compile(self.eager, backend=COMPILE_BACKEND, dynamic=False)
                   if compiled else self.eager)
        self.checked = not compiled

    def __call__(self, step_global: int, scaler, *inputs: torch.Tensor | None
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The loss parts of `inputs` (loss_parts' from ids on), the loss's gradients made
        (scaled when a GradScaler is given) into gradients set to None before."""
        if self.checked:
            return self._forward_backward(self.fn, step_global, scaler, inputs)
        try:
            parts = self._forward_backward(self.fn, step_global, scaler, inputs)
        except EngineError:
            raise
        except Exception as error:  # noqa: BLE001 - any compile failure: say it, or run eager
            reason = f"{type(error).__name__}: {str(error).strip().splitlines()[0][:200]}" \
                if str(error).strip() else type(error).__name__
            if self.config.compile == "on":
                raise EngineError(f"torch.compile of the training step failed ({reason}); "
                                  "train with --compile off") from None
            _log(f"torch.compile of the training step failed ({reason}); training eager",
                 self.log)
            self.fn, self.compiled = self.eager, False
            parts = self._forward_backward(self.fn, step_global, scaler, inputs)
        self.checked = True
        return parts

    def _forward_backward(self, fn, step_global: int, scaler, inputs):
        self.model.zero_grad(set_to_none=True)
        loss, simple, vlb = fn(*inputs)
        if not torch.isfinite(loss):
            raise EngineError(f"the loss became {loss.item()} at step {step_global + 1}: lower "
                              "--lr, or use --precision fp32")
        (scaler.scale(loss) if scaler is not None else loss).backward()
        return loss, simple, vlb


# ----------------------------------------------------------------------------------------------
# the loop


def _log(message: str, enabled: bool = True) -> None:
    if enabled:
        from tqdm import tqdm

        tqdm.write(message, file=sys.stderr)


def run_settings(config: EmojiTrainConfig, data: emoji_data.EmojiSet) -> dict[str, Any]:
    values = asdict(config)
    values["shape"] = config.shape_name
    values["data"] = {"source": data.source, "fingerprint": data.fingerprint()}
    return {k: values[k] for k in RUN_SETTINGS}


def _images(data: emoji_data.EmojiSet) -> tuple[torch.Tensor, torch.Tensor]:
    """(64 px, 32 px) float images in [-1, 1]; 32 px is the exact 2x2 mean of 64 px."""
    x64 = torch.from_numpy(data.images).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
    return x64, F.avg_pool2d(x64, 2)


DECAY_FLOOR = 0.02  # the share of the LR left at the last step of a decay


def lr_at(config: EmojiTrainConfig, step: int) -> float:
    """Linear warm-up over `warmup` steps (step counts from 0, or from `rewarm_from` for a run
    carried to another machine with fresh AdamW moments), then constant; from `decay_from` on,
    a half cosine down to DECAY_FLOOR of it at `total_steps`."""
    warm = 1.0 if config.warmup <= 0 else min(
        1.0, (step - config.rewarm_from + 1) / config.warmup)
    return config.lr * warm * _decay(config, step)


def _decay(config: EmojiTrainConfig, step: int) -> float:
    start, end = config.decay_from, config.total_steps
    if start <= 0 or step < start or end <= start:
        return 1.0
    done = min(1.0, (step - start) / (end - start))
    return DECAY_FLOOR + (1.0 - DECAY_FLOOR) * 0.5 * (1.0 + math.cos(math.pi * done))


def train_emoji(config: EmojiTrainConfig, out_dir: str | Path, resume: bool = False,
                progress: bool = True, max_steps: int | None = None) -> EmojiTrainResult:
    """Train one stage per `config` into out_dir (resume=True continues the run there).

    max_steps stops the run (saved) after that many optimizer steps in this call (smoke runs).
    """

    config.validate()
    out_dir = Path(out_dir)
    device = resolve_device(config.device)
    ranks = parallel.current()
    if config.procs > 1 and ranks.world == 1:
        if device.type != "cpu":
            raise EngineError("--procs runs data-parallel workers on the CPU's cores; on a GPU "
                              "train with one process")
        parallel.run_workers(train_emoji, config.procs,
                             (config, out_dir, resume, progress, max_steps))
        return _result_of(out_dir, config)
    progress = progress and ranks.main
    if not ranks.main:  # rank 0 sets the folder up (tokenizer, a cut-short save) first
        parallel.barrier(ranks)
    precision = resolve_precision(config.precision, device)
    torch.set_num_threads(config.num_threads or max(1, cpu_count() // ranks.world))
    has_run = ckpt.holds_state(out_dir, resume)  # a cut-short save finished or dropped first
    if not resume and has_run:
        raise CheckpointError(f"{out_dir} already holds a training run; pass --resume to continue "
                              "it, or choose another --out")
    if resume and not has_run:
        if (out_dir / ckpt.CONFIG).exists():
            raise CheckpointError(f"{out_dir} has no {ckpt.STATE}: the run finished or cannot be "
                                  "resumed")
        raise CheckpointError(f"{out_dir} holds no training run to resume")

    data = emoji_data.load_set(config.data_dir)
    if config.limit is not None:
        data = emoji_data.EmojiSet(data.images[:config.limit], data.entries[:config.limit],
                                   data.source)
    settings = run_settings(config, data)
    out_dir.mkdir(parents=True, exist_ok=True)

    if config.init_from and not resume:
        check_init_run(Path(config.init_from), config)
    # text: stage I trains its tokenizer once; stage II reads stage I's, frozen
    frozen = None
    if config.stage == "base":
        tok_dir = out_dir / "tokenizer"
        if not (tok_dir / "spiece.model").is_file():
            if resume:
                raise CheckpointError(f"{tok_dir} is missing: the run cannot be resumed")
            if config.init_from:  # its weights index its tokenizer's pieces
                _copy_tokenizer(Path(config.init_from), tok_dir)
            else:
                train_tokenizer(emoji_data.corpus(data.entries), tok_dir, config.vocab)
        tokenizer = load_tokenizer(tok_dir)
        vocab_size = max(len(tokenizer), 8)
        text_dim = TextShape(vocab=config.vocab).d_model
    else:
        frozen, tok_dir = _frozen_text(Path(config.text_encoder).expanduser())
        tokenizer = load_tokenizer(tok_dir)
        vocab_size = len(tokenizer)
        text_dim = int(frozen.config.d_model)
    tokens = PromptTokens(tokenizer)
    if ranks.main:
        parallel.barrier(ranks)
    model = _build(config, vocab_size, text_dim)
    if config.init_from and not resume:  # a resume's state holds the weights since
        start_from(model, Path(config.init_from), config)
    ema = EMA(model, config.ema)
    params = [p for p in model.parameters() if p.requires_grad]
    fused = device.type in ("cpu", "cuda")  # one kernel for all tensors: the same update
    optimizer = torch.optim.AdamW(params, lr=config.lr, betas=(0.9, 0.999), weight_decay=0.0,
                                  fused=fused)

    step_global, losses, clock = 0, [], RunClock()
    clock.ran_on(device)
    if resume:
        state = ckpt.resume_state(out_dir, settings, RUN_SETTINGS, model, optimizer,
                                  saved_defaults=SETTINGS_BEFORE, ema=ema)
        step_global = int(state["step"])
        losses = [list(map(float, row)) for row in state.get("losses", [])]
        clock = RunClock.resumed(state.get("clock"), step_global, device)
        rewarm = int((state.get("settings") or {}).get("rewarm_from", 0))
        if rewarm:  # kept in every later save, so the warm-up resumes where it was
            config = replace(config, rewarm_from=rewarm)
            settings["rewarm_from"] = rewarm
        config = _kept_decay(config, state.get("settings") or {})
        if len(losses) != step_global:
            raise CheckpointError(f"{out_dir / ckpt.STATE}: its loss history does not match its "
                                  "step; start again in a new folder")
    if config.decay_from:
        settings["decay_from"] = config.decay_from

    for group in optimizer.param_groups:  # a saved run's groups say how it was stepped then
        group["fused"], group["foreach"] = fused, None if fused else group.get("foreach")
    model = model.to(device)
    ckpt.optimizer_to(optimizer, device)
    if frozen is not None:
        frozen = frozen.to(device)
    autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None

    x64, x32 = _images(data)
    weights = torch.from_numpy(data.weights())
    per_epoch = max(1, round(float(weights.sum())))
    steps_per_epoch = math.ceil(per_epoch / config.batch_size)
    diffusion = Diffusion()
    noising = Diffusion(_noising_config()) if config.stage == "upscale" else None
    start_epoch, start_step = divmod(step_global, steps_per_epoch)
    config = replace(config, total_steps=steps_per_epoch * config.epochs)
    if config.decay_from:
        _log(f"the LR falls from step {config.decay_from} to {DECAY_FLOOR:.0%} of it at step "
             f"{config.total_steps}", progress)
    if ranks.main:
        _rewrite_loss_csv(out_dir, losses, steps_per_epoch)
    if start_epoch >= config.epochs:
        _log(f"{out_dir}: this run already finished all {config.epochs} epochs", progress)
        return EmojiTrainResult(out_dir, start_epoch, step_global, _last_mean(losses),
                                _pipeline_dir(out_dir, config))

    compiled = resolve_compile(config.compile, device, precision,
                               steps_per_epoch * config.epochs - step_global)
    attention = resolve_attention(config.attention, device, precision)
    use_attention(model.unet, attention)
    step_loss = StepLoss(config, model, frozen, diffusion, autocast_dtype, compiled, progress)
    n_params = sum(p.numel() for p in params) / 1e6
    how = ", compiled (the first step compiles: minutes)" if compiled else ""
    _log(f"training emoji {config.stage} ({config.shape_name}, {n_params:.2f} M trained "
         f"parameters) on {len(data)} images ({per_epoch} weighted draws per epoch), "
         f"{device.type} {precision}{how}, {attention} attention, "
         f"{torch.get_num_threads()} thread(s){_workers(ranks)}, batch "
         f"{config.batch_size}, {steps_per_epoch} steps/epoch, epochs {start_epoch + 1}.."
         f"{config.epochs}, from step {step_global}", progress)
    bar = progress_bar(steps_per_epoch * config.epochs, step_global, enabled=progress)
    done_here = 0
    last_save = time.perf_counter()
    stopped = False
    epoch = start_epoch
    for epoch in range(start_epoch, config.epochs):
        bar.set_description(f"emoji-{config.stage} epoch {epoch + 1}/{config.epochs}")
        order = torch.multinomial(weights, steps_per_epoch * config.batch_size,
                                  replacement=True,
                                  generator=_seeded(config.seed, "order", epoch))
        started, seen = time.perf_counter(), 0
        first = start_step if epoch == start_epoch else 0
        model.train()
        for step in range(first, steps_per_epoch):
            idx = order[step * config.batch_size:(step + 1) * config.batch_size]
            g = _seeded(config.seed, "step", step_global)
            row = _train_step(config, model, step_loss, optimizer, scaler, ema, diffusion,
                              noising, tokens, data, x64, x32, idx, g, device, step_global,
                              ranks)
            losses.append(row)
            step_global += 1
            done_here += 1
            seen += len(idx)
            bar.update(1)
            if step % 10 == 0:
                recent = losses[-50:]
                bar.set_postfix(loss=f"{sum(r[0] for r in recent) / len(recent):.4f}",
                                refresh=False)
            if max_steps is not None and done_here >= max_steps:
                stopped = True
                break
            if (ranks.main and step < steps_per_epoch - 1 and config.save_every_s is not None
                    and time.perf_counter() - last_save >= config.save_every_s):
                _save_state(out_dir, model, optimizer, ema, settings, step_global, losses,
                            clock)
                _append_loss_csv(out_dir, losses, steps_per_epoch)
                last_save = time.perf_counter()
        # a --max-steps stop mid-epoch saves all an epoch's end does, so its IF folder can be used
        mid_epoch = stopped and step < steps_per_epoch - 1
        elapsed = time.perf_counter() - started
        if not ranks.main:  # rank 0 saves; the others go on to the next epoch's first step
            if stopped:
                break
            continue
        _end_epoch(config, out_dir, model, optimizer, ema, settings, step_global, losses, clock,
                   steps_per_epoch, epoch + (0 if mid_epoch else 1), tok_dir, frozen, tokens, x32,
                   [(emoji_data.texts_of(e) or [""])[0] for e in data.entries],
                   emoji_data.vocabulary(data.entries),
                   grid=f"step-{step_global:06d}" if mid_epoch else None)
        last_save = time.perf_counter()
        if mid_epoch:
            _log(f"stopped at step {step_global} (--max-steps), in epoch {epoch + 1}; saved "
                 f"{out_dir}", progress)
        else:
            _log(f"epoch {epoch + 1}/{config.epochs}: mean loss "
                 f"{_mean_of(losses[-steps_per_epoch:]):.5f}, {elapsed:.0f} s "
                 f"({seen / max(elapsed, 1e-9):.1f} images/s), saved {out_dir}", progress)
        if stopped:
            break
    bar.close()
    return EmojiTrainResult(out_dir, step_global // steps_per_epoch, step_global,
                            _last_mean(losses[-steps_per_epoch:]), _pipeline_dir(out_dir, config))


def read_record(out_dir: Path) -> dict[str, Any]:
    """An emoji run's config.json (the Part B reader checks Part B fields, so not that one)."""
    path = Path(out_dir) / ckpt.CONFIG
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise CheckpointError(f"{path} cannot be read ({error})") from None
    if not isinstance(record, dict) or not str(record.get("kind", "")).startswith("emoji-"):
        raise CheckpointError(f"{path} is not the record of an emoji training run")
    return record


def _kept_decay(config: EmojiTrainConfig, saved: dict) -> EmojiTrainConfig:
    """A resume keeps the decay its run was given unless --decay-from names another step."""
    if config.decay_from:
        return config
    return replace(config, decay_from=int(saved.get("decay_from", 0) or 0))


def _noising_config() -> dict:
    from engine.models.tiny import IF_NOISING_SCHEDULER

    return dict(IF_NOISING_SCHEDULER)


def _train_step(config: EmojiTrainConfig, model: nn.Module, step_loss: StepLoss, optimizer,
                scaler, ema: EMA, diffusion: Diffusion, noising: Diffusion | None,
                tokens: PromptTokens, data: emoji_data.EmojiSet, x64: torch.Tensor,
                x32: torch.Tensor, idx: torch.Tensor, g: torch.Generator,
                device: torch.device, step_global: int, ranks: parallel.Ranks) -> list[float]:
    prompts = [make_prompt(data.entries[i], g, config.p_uncond, config.p_style)
               for i in idx.tolist()]
    ids, mask = tokens(prompts)
    b = len(prompts)
    x0 = (x32 if config.stage == "base" else x64)[idx]
    t = torch.randint(0, diffusion.T, (b,), generator=g)
    eps = torch.randn(x0.shape, generator=g)
    extra: dict[str, Any] = {}
    if config.stage == "upscale":
        level = torch.randint(0, min(config.aug_max, noising.T), (b,), generator=g)
        up = F.interpolate(x32[idx], (64, 64), mode="bilinear", align_corners=True)
        up = noising.q_sample(up, level, torch.randn(up.shape, generator=g))[ranks.part(b)]
        extra["class_labels"] = level[ranks.part(b)].to(device)
    # every worker draws the whole batch (the same generator), then takes its rows
    ids, mask, x0, t, eps = (v[ranks.part(b)] for v in (ids, mask, x0, t, eps))
    x0, t, eps = x0.to(device), t.to(device), eps.to(device)
    x_t = diffusion.q_sample(x0, t, eps)
    inp = x_t if config.stage == "base" else torch.cat([x_t, up.to(device)], dim=1)
    lr = lr_at(config, step_global)
    for group in optimizer.param_groups:
        group["lr"] = lr
    loss, simple, vlb = step_loss(step_global, scaler, ids.to(device), mask.to(device), inp, x0,
                                  x_t, t, eps, extra.get("class_labels"))
    params = [p for p in model.parameters() if p.requires_grad]
    loss, simple, vlb = parallel.average(params, (loss, simple, vlb), ranks)
    if scaler is not None:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
        scaler.step(optimizer)
        scaler.update()
    else:
        torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
        optimizer.step()
    ema.update(model)
    return [float(loss.detach()), float(simple), float(vlb), lr]


def _workers(ranks: parallel.Ranks) -> str:
    return f" in each of {ranks.world} worker processes" if ranks.world > 1 else ""


def _result_of(out_dir: Path, config: EmojiTrainConfig) -> EmojiTrainResult:
    """What the workers' run reached, from the files rank 0 wrote."""
    record = read_record(out_dir)
    return EmojiTrainResult(out_dir, int(record.get("epochs_done", 0)),
                            int(record.get("steps_done", 0)), record.get("final_loss"),
                            _pipeline_dir(out_dir, config))


def _mean_of(rows: list[list[float]]) -> float:
    return sum(r[0] for r in rows) / len(rows) if rows else float("nan")


def _last_mean(rows: list[list[float]]) -> float | None:
    return _mean_of(rows) if rows else None


def _pipeline_dir(out_dir: Path, config: EmojiTrainConfig) -> Path | None:
    folder = out_dir / "pipeline" / FOLDERS[config.stage]
    return folder if folder.is_dir() else None


def _cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous() for k, v in module.state_dict().items()}


@dataclass
class RunClock:
    """A run's training time over all its processes, and the machines it ran on (TRAINING.md).
    A run saved before the clock existed counts from the step it was resumed at."""

    before: float = 0.0  # seconds trained by earlier processes
    from_step: int = 0
    hardware: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    @classmethod
    def resumed(cls, saved: Any, step: int, device: torch.device) -> RunClock:
        clock = cls(from_step=step)
        if isinstance(saved, dict):
            clock.before = float(saved.get("train_seconds", 0.0))
            clock.from_step = int(saved.get("train_seconds_from_step", step))
            clock.hardware = [str(h) for h in saved.get("hardware", [])][:20]
        clock.ran_on(device)
        return clock

    def ran_on(self, device: torch.device) -> None:
        if device.type == "cuda":
            name = torch.cuda.get_device_name(device)
        else:
            from engine.devices import cpu_info

            name = f"{cpu_info().model}, {torch.get_num_threads()} thread(s)"
        if name not in self.hardware:
            self.hardware.append(name)

    def record(self) -> dict[str, Any]:
        return {"train_seconds": round(self.before + time.perf_counter() - self.started, 1),
                "train_seconds_from_step": self.from_step, "hardware": list(self.hardware)}


def _state(model: nn.Module, optimizer, ema: EMA, settings: dict, step_global: int,
           losses: list[list[float]], clock: RunClock) -> dict:
    return {"epoch": None, "step": step_global, "model": _cpu_state(model),
            "ema": ckpt.to_cpu(ema.state_dict()), "optimizer": ckpt.to_cpu(optimizer.state_dict()),
            "settings": settings, "losses": losses, "clock": clock.record()}


def _save_state(out_dir: Path, model: nn.Module, optimizer, ema: EMA, settings: dict,
                step_global: int, losses: list[list[float]], clock: RunClock) -> None:
    ckpt.save_training_state(out_dir, _state(model, optimizer, ema, settings, step_global,
                                             losses, clock))


def _ema_model(model: nn.Module, ema: EMA) -> nn.Module:
    import copy

    shadow = copy.deepcopy(model).cpu()
    shadow.load_state_dict(ema.shadow)
    return shadow.eval()


def _end_epoch(config: EmojiTrainConfig, out_dir: Path, model: nn.Module, optimizer, ema: EMA,
               settings: dict, step_global: int, losses: list[list[float]], clock: RunClock,
               steps_per_epoch: int, done: int, tok_dir: Path, frozen, tokens: PromptTokens,
               x32: torch.Tensor, names: list[str], words: list[str], grid: str | None = None
               ) -> None:
    """Training state, EMA weights, config.json and loss.csv as one atomic checkpoint; then
    the IF folder and a sample grid (both made again from the checkpoint if a kill cuts them),
    samples/`grid`.png (default epoch-NNNN)."""
    shadow = _ema_model(model, ema)
    weights = {k: v.clone() for k, v in shadow.state_dict().items()}  # T5 ties two tensors
    final = _mean_of(losses[-steps_per_epoch:])
    record = {"format": "diffusion-canvas-emoji-run/1", "kind": f"emoji-{config.stage}",
              "hidden": 0, "training": settings, "epochs": config.epochs, "epochs_done": done,
              "steps_done": step_global, "final_loss": final, **clock.record(),
              "config": {k: v for k, v in asdict(config).items()
                         if k not in ("device", "num_threads", "procs")}
                         | {"shape": config.shape_name}}
    ckpt.save_checkpoint(
        out_dir, weights=weights, config=record,
        weights_metadata={"kind": f"emoji-{config.stage}", "epoch": done, "step": step_global},
        state=_state(model, optimizer, ema, settings, step_global, losses, clock),
        files={LOSS_CSV: _loss_csv_writer(losses, steps_per_epoch)})
    folder = out_dir / "pipeline" / FOLDERS[config.stage]
    notes = {"default_prompt": "grinning face", "default_guidance": config.sample_guidance,
             "prompt_format": "NAME or NAME, STYLE (style: google, twemoji)",
             "epochs_done": done, "steps_done": step_global, "final_loss": final,
             "words": words}
    if config.stage == "base":
        export_pipeline("base", shadow.unet, folder, shadow.text, tok_dir, notes=notes)
    else:
        notes["default_steps"] = STAGE_TWO_STEPS
        notes["noise_levels"] = config.aug_max  # the augmentation levels it was trained on
        export_pipeline("upscale", shadow.unet, folder, notes=notes)
    _sample_grid(config, out_dir, shadow, frozen, tokens, x32, done, names,
                 grid or f"epoch-{done:04d}")


def _sample_grid(config: EmojiTrainConfig, out_dir: Path, shadow: nn.Module, frozen,
                 tokens: PromptTokens, x32: torch.Tensor, done: int, names: list[str],
                 name: str) -> Path:
    """Stage I: the SAMPLE_PROMPTS; stage II: spread-out training images at 32 px (top row)
    and their upscales, prompted with their names."""
    from engine.images import make_grid, save_png, to_pil

    picks = torch.linspace(0, len(x32) - 1, len(SAMPLE_PROMPTS)).long()
    prompts = (list(SAMPLE_PROMPTS) if config.stage == "base"
               else [names[i] for i in picks.tolist()])
    ids, mask = tokens(prompts + [""])
    with torch.no_grad():
        text = shadow.text if config.stage == "base" else frozen.cpu()
        emb = text(ids, attention_mask=mask)[0].float()
    g = torch.Generator().manual_seed(config.seed)
    low = None
    if config.stage == "upscale":
        low = x32[picks]
    x = sample(shadow.unet, emb[:-1], emb[-1:], config.sample_steps, config.sample_guidance, g,
               size=32 if config.stage == "base" else 64, low_res=low)
    images = [to_pil(im, (-1.0, 1.0)) for im in x]
    if low is not None:
        images = [to_pil(F.interpolate(im[None], (64, 64), mode="nearest")[0], (-1.0, 1.0))
                  for im in low] + images
        prompts = ["low res"] * len(low) + prompts
    path = out_dir / "samples" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_png(make_grid(images, columns=len(SAMPLE_PROMPTS)), path,
             {"epoch": done, "prompts": prompts, "steps": config.sample_steps,
              "guidance": config.sample_guidance, "seed": config.seed})
    return path


def _rows(losses: list[list[float]], steps_per_epoch: int, start: int = 0):
    for i in range(start, len(losses)):
        loss, simple, vlb, lr = losses[i]
        yield [i + 1, i // steps_per_epoch + 1, f"{loss:.6g}", f"{simple:.6g}", f"{vlb:.6g}",
               f"{lr:.3g}"]


def _loss_csv_writer(losses: list[list[float]], steps_per_epoch: int) -> ckpt.Writer:
    """A Writer of the whole loss.csv from the saved history."""
    def write(tmp: str) -> None:
        with open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["step", "epoch", "loss", "simple", "vlb", "lr"])
            writer.writerows(_rows(losses, steps_per_epoch))

    return write


def _rewrite_loss_csv(out_dir: Path, losses: list[list[float]], steps_per_epoch: int) -> None:
    """loss.csv from the saved history (rows of steps never saved are dropped)."""
    ckpt.atomic_write(out_dir / LOSS_CSV, _loss_csv_writer(losses, steps_per_epoch))


def _append_loss_csv(out_dir: Path, losses: list[list[float]], steps_per_epoch: int) -> None:
    path = out_dir / LOSS_CSV
    try:
        with open(path, newline="") as f:
            written = max(0, sum(1 for _ in f) - 1)
    except OSError:
        written = 0
    if written > len(losses):
        _rewrite_loss_csv(out_dir, losses, steps_per_epoch)
        return
    with open(path, "a", newline="") as f:
        csv.writer(f).writerows(_rows(losses, steps_per_epoch, written))
