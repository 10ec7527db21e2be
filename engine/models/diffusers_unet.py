"""Unconditional diffusers UNet2DModel checkpoints (DDPM-style): no prompts, so no CFG."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from engine.errors import ModelError
from engine.models.base import DiffusionModel, Prediction
from engine.models.folders import read_json
from engine.schedules import NoiseSchedule


def unet_folder(folder: Path) -> Path | None:
    for candidate in (folder, folder / "unet"):
        try:
            config = json.loads((candidate / "config.json").read_text())
        except (OSError, ValueError):
            continue
        if isinstance(config, dict) and config.get("_class_name") == "UNet2DModel":
            return candidate
    return None


def is_unet2d_folder(folder: Path) -> bool:
    return unet_folder(folder) is not None


class DiffusersUNet(DiffusionModel):
    data_range = (-1.0, 1.0)
    default_prompt = ""
    default_guidance = 1.0

    def __init__(self, folder: Path, device: torch.device, name: str) -> None:
        from diffusers import UNet2DModel

        self.name, self.device, self.dtype = name, device, torch.float32
        sub = unet_folder(folder)
        try:
            self.unet = UNet2DModel.from_pretrained(sub, local_files_only=True).to(device).eval()
        except (OSError, ValueError, RuntimeError) as error:
            raise ModelError(f"{sub} cannot be loaded: {str(error).splitlines()[0][:300]}"
                             ) from None
        self.image_size = int(self.unet.config.sample_size)
        self.channels = int(self.unet.config.in_channels)
        config_path = folder / "scheduler" / "scheduler_config.json"
        config = read_json(config_path) if config_path.is_file() else {}
        config.setdefault("num_train_timesteps", 1000)
        stride = max(1, config["num_train_timesteps"] // 50)
        top = (config["num_train_timesteps"] - 1) // stride * stride
        rule = config.get("variance_type") or "fixed_small"
        self.schedule = NoiseSchedule.from_diffusers_config(config, rule, stride, top)

    @property
    def conditional(self) -> bool:
        return False

    def prompt_choices(self) -> list[str]:
        return [""]

    def encode(self, prompts: list[str]) -> None:
        return None

    @torch.no_grad()
    def predict(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None
                ) -> Prediction:
        out = self.unet(x_t, t.to(self.device)).sample.float()
        if out.shape[1] == 2 * self.channels:
            eps, variance = out.split(self.channels, dim=1)
            return Prediction(eps, variance)
        return Prediction(out)
