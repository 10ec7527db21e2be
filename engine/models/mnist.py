"""The Part B UNets behind the model interface: every Part A loop runs on them.

The class model takes the prompts '0' to '9' and '' (unconditional, the one-hot zeroed as in
training); the time model takes only ''. The single-step denoiser was trained on z = x + σ ε
at one σ; here x_t is rescaled to that form, x_t / sqrt(ᾱ_t) = x_0 + sqrt((1 - ᾱ_t)/ᾱ_t) ε, and its
x̂_0 turned into ε, so it runs in the loops too (well only near its training σ, as B-1.2.2 shows).

Precision: fp32, or bf16 weights in channels-last layout where the CPU has native bf16 (AMX or
AVX512-BF16; `engine.devices.small_model_precision` decides, `--dtype` overrides). In bf16 on
the CPU the net is a packed copy (engine.models.onednn: BatchNorm folded, GELU fused, weights
packed once for oneDNN), which the training's net never is. The loops stay
in fp32: x_t goes in cast to the model's dtype and ε comes back as fp32, and the noise is always
drawn in fp32, so a seed gives the same noise in either precision.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from engine.devices import DTYPES, small_model_precision
from engine.errors import ModelError
from engine.models.base import DiffusionModel, Prediction
from engine.models.onednn import can_pack, pack_for_inference
from engine.schedules import NoiseSchedule

DIGITS = [str(d) for d in range(10)]


class MnistModel(DiffusionModel):
    image_size = 28
    channels = 1
    data_range = (0.0, 1.0)
    default_prompt = ""
    unconditional_prompt = ""

    takes_precision = True  # fp32 or bf16: Model > Precision and --dtype apply

    def __init__(self, net: nn.Module, config: dict, name: str, device: torch.device,
                 dtype: str | None = "fp32", pack: bool = True) -> None:
        """dtype None or 'auto' chooses by the CPU. bf16 on the CPU packs a copy of `net`
        (pack=False: casts `net` in place, the eager path, for benchmarks); callers that keep
        training `net` leave the default fp32."""
        self.precision = small_model_precision(dtype, device)
        self.dtype = DTYPES[self.precision]
        self.net = net.to(device).eval()
        self.packed = pack and self.dtype == torch.bfloat16 and can_pack(device, self.dtype)
        if self.packed:
            self.net = pack_for_inference(self.net, self.dtype)
        elif self.dtype != torch.float32:
            self.net = self.net.to(dtype=self.dtype, memory_format=torch.channels_last)
        self.config = config
        self.kind = config["kind"]
        self.name = name
        self.device = device
        self.num_timesteps = int(config.get("num_timesteps", 300))
        if config.get("convention", "ddpm") != "ddpm":
            raise ModelError(f"{name}: unknown timestep convention {config.get('convention')!r}")
        self.schedule = NoiseSchedule.ddpm_linear(self.num_timesteps, "fixed_large", 10)
        self.default_guidance = 5.0 if self.kind == "class" else 1.0
        # 0.7 turns a drawn 7 into a 1 on these models; at 0.3 drawn digits stay themselves
        # (benchmarks/bench_strength.py, docs/benchmarks.md)
        self.default_strength = 0.3

    @property
    def conditional(self) -> bool:
        return self.kind == "class"

    def prompt_choices(self) -> list[str]:
        return [*DIGITS, ""] if self.kind == "class" else [""]

    def encode(self, prompts: list[str]) -> torch.Tensor | None:
        if self.kind != "class":
            return None
        onehot = torch.zeros(len(prompts), 10, device=self.device)
        for row, prompt in enumerate(prompts):
            if prompt:
                onehot[row, int(prompt)] = 1.0
        return onehot

    @torch.no_grad()
    def predict(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None
                ) -> Prediction:
        if self.kind == "denoiser":
            return Prediction(self._eps_from_denoiser(x_t, t))
        tt = t.to(self.device, torch.float32) / self.num_timesteps
        x = self._cast(x_t)
        if self.kind == "time":
            return Prediction(self.net(x, tt.to(self.dtype)).float())
        if cond is None:
            cond = torch.zeros(x_t.shape[0], 10, device=self.device)
        return Prediction(self.net(x, tt.to(self.dtype), cond.to(self.device, self.dtype)).float())

    def _cast(self, x: torch.Tensor) -> torch.Tensor:
        """x in the model's dtype (channels-last where that is not fp32), on its device."""
        x = x.to(self.device, self.dtype)
        return x if self.dtype == torch.float32 else x.contiguous(memory_format=torch.channels_last)

    def _eps_from_denoiser(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        abar = self.schedule.table.to(self.device)[t].float().view(-1, 1, 1, 1)
        x0_hat = self.net(self._cast(x_t / abar.sqrt())).float()
        return (x_t - abar.sqrt() * x0_hat) / (1 - abar).clamp_min(1e-8).sqrt()


def load_mnist_model(folder: Path, device: torch.device, name: str | None = None,
                     dtype: str | None = None, pack: bool = True) -> MnistModel:
    """A Part B checkpoint folder as a model; dtype auto (None), fp32, bf16 or fp16 (CUDA);
    pack=False keeps bf16 eager (benchmarks)."""
    from engine.training.checkpoint import load_model

    net, config = load_model(folder, device)
    return MnistModel(net, config, name or Path(folder).name, device, dtype or "auto", pack)


def is_mnist_folder(folder: Path) -> bool:
    import json

    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and config.get("kind") in ("denoiser", "time", "class")
