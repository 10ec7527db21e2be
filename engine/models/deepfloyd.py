"""DeepFloyd IF stage I through diffusers, behind the model interface.

The weights are read from a folder laid out as the hub's (model_index.json, unet/, scheduler/,
optionally text_encoder/ and tokenizer/), never downloaded. The UNet gives 6 channels: ε (0-2)
and the learned-range variance v (3-5). Prompts come from an embeddings file in the course's
format, or from the T5 encoder where the folder has one.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from engine.errors import ModelError, PromptError
from engine.models.base import DiffusionModel, Prediction
from engine.schedules import NoiseSchedule

IF_PIPELINES = ("IFPipeline", "IFImg2ImgPipeline", "IFInpaintingPipeline")


def read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ModelError(f"{path} cannot be read ({error})") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path} is not a JSON object")
    return data


def is_if_folder(folder: Path) -> bool:
    index = folder / "model_index.json"
    if not index.is_file():
        return False
    try:
        return json.loads(index.read_text()).get("_class_name") in IF_PIPELINES
    except (OSError, ValueError, AttributeError):
        return False


def model_dtype(device: torch.device) -> torch.dtype:
    """fp16 on a GPU (as the course); fp32 on the CPU, where fp16 is slow or unsupported."""
    return torch.float16 if device.type in ("cuda", "mps") else torch.float32


def weights_variant(unet_folder: Path, dtype: torch.dtype) -> str | None:
    has_fp16 = any(unet_folder.glob("*.fp16.safetensors")) or any(unet_folder.glob("*.fp16.bin"))
    has_full = any(p for p in unet_folder.glob("diffusion_pytorch_model.*")
                   if ".fp16." not in p.name)
    if has_fp16 and (dtype == torch.float16 or not has_full):
        return "fp16"
    return None


def load_unet(folder: Path, dtype: torch.dtype, device: torch.device):
    from diffusers import UNet2DConditionModel

    unet_folder = folder / "unet"
    if not (unet_folder / "config.json").is_file():
        raise ModelError(f"{folder} has no unet/config.json: it is not a complete IF folder")
    try:
        unet = UNet2DConditionModel.from_pretrained(
            folder, subfolder="unet", torch_dtype=dtype, local_files_only=True,
            variant=weights_variant(unet_folder, dtype), use_safetensors=None)
    except (OSError, ValueError, RuntimeError) as error:
        raise ModelError(f"the IF UNet in {unet_folder} cannot be loaded: "
                         f"{str(error).splitlines()[0][:300]}") from None
    return unet.to(device).eval()


class IFStageOne(DiffusionModel):
    data_range = (-1.0, 1.0)
    channels = 3
    default_prompt = "a high quality photo"
    unconditional_prompt = ""
    default_guidance = 7.0

    def __init__(self, folder: Path, device: torch.device, name: str) -> None:
        self.folder = folder
        self.name = name
        self.device = device
        self.dtype = model_dtype(device)
        self.unet = load_unet(folder, self.dtype, device)
        self.image_size = int(self.unet.config.sample_size)
        config = read_json(folder / "scheduler" / "scheduler_config.json")
        stride = 30 if config.get("num_train_timesteps", 1000) >= 300 else 1
        top = (int(config.get("num_train_timesteps", 1000)) - 1) // stride * stride
        self.schedule = NoiseSchedule.from_diffusers_config(config, "learned_range", stride, top)
        hid = self.unet.config.encoder_hid_dim or self.unet.config.cross_attention_dim
        self.embedding_dim = int(hid)
        self.embeddings: dict[str, torch.Tensor] = {}
        self.text_encoder = None

    @property
    def embedding_shape(self) -> tuple[int, int, int]:
        return (1, 77, self.embedding_dim)

    def use_embeddings(self, embeddings: dict[str, torch.Tensor]) -> None:
        self.embeddings = dict(embeddings)

    def prompt_choices(self) -> list[str] | None:
        return None if self.text_encoder is not None else list(self.embeddings)

    def check_prompt(self, prompt: str) -> None:
        if self.text_encoder is None and not self.embeddings:
            raise PromptError(f"{self.name} needs prompt embeddings: pass --prompts FILE.pth "
                              "(the course's file), or put IF's text_encoder/ in its folder")
        super().check_prompt(prompt)

    def encode(self, prompts: list[str]) -> torch.Tensor:
        for prompt in prompts:
            self.check_prompt(prompt)
        if self.text_encoder is not None:
            return self.text_encoder(prompts).to(self.device, self.dtype)
        rows = [self.embeddings[p].reshape(1, -1, self.embedding_dim) for p in prompts]
        return torch.cat(rows).to(self.device, self.dtype)

    @torch.no_grad()
    def predict(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None
                ) -> Prediction:
        out = self.unet(x_t.to(self.dtype), t.to(self.device),
                        encoder_hidden_states=cond.to(self.dtype), return_dict=False)[0]
        eps, variance = out.float().split(self.channels, dim=1)
        return Prediction(eps, variance)


def load_if_model(folder: Path, device: torch.device, name: str) -> IFStageOne:
    return IFStageOne(folder, device, name)
