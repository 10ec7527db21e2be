"""DeepFloyd IF stage I through diffusers, behind the model interface.

The weights are read from a folder laid out as the hub's (model_index.json, unet/, scheduler/,
optionally text_encoder/ and tokenizer/), never downloaded. The UNet gives 6 channels: ε (0-2)
and the learned-range variance v (3-5). Prompts come from an embeddings file in the course's
format, or from the T5 encoder where the folder has one (loaded on first use only, so a run with
an embeddings file never pays for the 4.7B-parameter encoder).

dtype: fp16 on CUDA and MPS (as the course). On the CPU a small folder (a UNet of at most
SMALL_UNET_PARAMETERS, the emoji cascade) runs as the digit models do: bf16 where the CPU has native
bf16 (AMX or AVX512-BF16), fp32 elsewhere, its small text encoder in fp32 either way; DeepFloyd IF
itself runs fp32 there. `dtype` ("fp32", "bf16") overrides. The loops stay in fp32: x_t goes in
cast to the UNet's dtype and ε and v come back as fp32.
offload: "model" keeps one module at a time on the GPU (engine/models/memory.py).
"""

from __future__ import annotations

from pathlib import Path

import torch

from engine.devices import DTYPES, if_model_precision
from engine.errors import ModelError, PromptError
from engine.models.base import DiffusionModel, Prediction, Upscaler
from engine.models.folders import check_complete, load_unet, read_hints, read_json
from engine.models.memory import OffloadGroup, parameter_count, translate_oom
from engine.models.unet_speed import ready_unet, unet_input
from engine.prompts import prompt_for_vocabulary
from engine.schedules import NoiseSchedule

# the emoji cascade's UNets have about 13 M parameters, IF's smallest (IF-I-M, IF-II-M) 400 M
SMALL_UNET_PARAMETERS = 100_000_000


def resolve_dtype(device: torch.device, dtype: str | torch.dtype | None = None,
                  small: bool = False) -> torch.dtype:
    """auto: devices.if_model_precision (fp16 on a GPU; on the CPU bf16 for a `small` model where
    the CPU has native bf16, else fp32); or the dtype asked for."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype in (None, "auto"):
        return DTYPES[if_model_precision(device, small)]
    if dtype not in DTYPES:
        raise ModelError(f"unknown dtype {dtype!r}; choose from auto, {', '.join(DTYPES)}")
    if dtype == "fp16" and device.type == "cpu":
        raise ModelError("fp16 is too slow or unsupported on the CPU: use fp32 or bf16 there")
    return DTYPES[dtype]


def model_dtype(device: torch.device) -> torch.dtype:
    return resolve_dtype(device)


def is_small_if(folder: Path) -> bool:
    """A UNet of at most SMALL_UNET_PARAMETERS (counted from the weight files' headers)."""
    try:
        count = parameter_count(folder, ("unet",))
    except (ModelError, OSError, ValueError):
        return False
    return 0 < count <= SMALL_UNET_PARAMETERS


def has_text_encoder(folder: Path) -> bool:
    return (folder / "text_encoder" / "config.json").is_file() and (folder / "tokenizer").is_dir()


class IFStageOne(DiffusionModel):
    data_range = (-1.0, 1.0)
    channels = 3
    default_prompt = "a high quality photo"
    unconditional_prompt = ""
    default_guidance = 7.0
    upscaler_name = "IF stage II"
    takes_precision = True

    def __init__(self, folder: Path, device: torch.device, name: str,
                 dtype: str | torch.dtype | None = None, offload: str = "none") -> None:
        check_complete(folder, "DeepFloyd IF stage I")
        self.folder = folder
        self.name = name
        self.device = device
        self.small = is_small_if(folder)
        self.dtype = resolve_dtype(device, dtype, self.small)
        self.offload = OffloadGroup(device, offload)
        self.unet = load_unet(folder, self.dtype, device, self.offload, name)
        self.image_size = int(self.unet.config.sample_size)
        config = read_json(folder / "scheduler" / "scheduler_config.json")
        stride = 30 if config.get("num_train_timesteps", 1000) >= 300 else 1
        top = (int(config.get("num_train_timesteps", 1000)) - 1) // stride * stride
        self.schedule = NoiseSchedule.from_diffusers_config(config, "learned_range", stride, top)
        hid = self.unet.config.encoder_hid_dim or self.unet.config.cross_attention_dim
        self.embedding_dim = int(hid)
        self.embeddings: dict[str, torch.Tensor] = {}
        hints = read_hints(folder)
        if isinstance(hints.get("default_prompt"), str):
            self.default_prompt = hints["default_prompt"]
        if isinstance(hints.get("default_guidance"), (int, float)):
            self.default_guidance = float(hints["default_guidance"])
        words = hints.get("words")
        self.words: list[str] | None = ([w for w in words if isinstance(w, str)]
                                        if isinstance(words, list) else None)
        self.text_encoder = None
        if has_text_encoder(folder):
            from engine.models.t5 import T5PromptEncoder

            # a small encoder runs once a prompt: fp32 costs nothing and rounds only once
            text_dtype = torch.float32 if self.small and device.type == "cpu" else self.dtype
            self.text_encoder = T5PromptEncoder(folder, device, text_dtype, self.offload, name)
        self._upscaler: Upscaler | None = None

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
        self.encoder_text(prompt)

    def encoder_text(self, prompt: str) -> str:
        """What the text encoder reads for a prompt: a model with a vocabulary (`words`) gets
        it in the vocabulary's form, and a word it does not know is refused (PromptError)."""
        if prompt in self.embeddings:
            return prompt
        return prompt_for_vocabulary(prompt, self.words, self.name)

    def encode(self, prompts: list[str]) -> torch.Tensor:
        for prompt in prompts:
            self.check_prompt(prompt)
        if all(p in self.embeddings for p in prompts):
            rows = [self.embeddings[p].reshape(1, -1, self.embedding_dim) for p in prompts]
            return torch.cat(rows).to(self.device, self.dtype)
        texts = [self.encoder_text(p) for p in prompts]
        return self.text_encoder(texts).to(self.device, self.dtype)

    unet_levers: tuple[str, ...] | None = None  # None: unet_speed.default_levers (the device's)

    @torch.no_grad()
    def predict(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None
                ) -> Prediction:
        levers = ready_unet(self)
        with translate_oom(self.name, self.device, self.dtype, self.offload.mode):
            self.offload.activate(self.unet)
            out = self.unet(unet_input(x_t.to(self.device, self.dtype), levers), t.to(self.device),
                            encoder_hidden_states=cond.to(self.device, self.dtype),
                            return_dict=False)[0]
        eps, variance = out.float().split(self.channels, dim=1)
        return Prediction(eps, variance)

    def has_upscaler(self) -> bool:
        from engine.models.deepfloyd_upscale import find_stage_two

        try:
            folder = find_stage_two(self.folder)
        except ModelError:
            return False
        return folder.is_dir()

    def upscale_factor(self) -> int:
        """Stage II's size over stage I's (IF: 64 -> 256 is 4; the emoji cascade: 32 -> 64, 2)."""
        if self._upscaler is not None:
            return int(self._upscaler.scale)
        from engine.models.deepfloyd_upscale import stage_two_factor

        return stage_two_factor(self.folder, self.image_size)

    def upscaler(self) -> Upscaler:
        """IF stage II, found beside this folder or in the Hugging Face cache (else an error)."""
        if self._upscaler is None:
            from engine.models.deepfloyd_upscale import IFStageTwo, find_stage_two

            folder = find_stage_two(self.folder)
            self._upscaler = IFStageTwo(folder, self.device, self.dtype, self.offload,
                                        self.embedding_dim, low_size=self.image_size)
        return self._upscaler


def load_if_model(folder: Path, device: torch.device, name: str,
                  dtype: str | torch.dtype | None = None, offload: str = "none") -> IFStageOne:
    return IFStageOne(folder, device, name, dtype, offload)


def refuse_upscaler_folder(folder: Path, device: torch.device, name: str, **_: object
                           ) -> DiffusionModel:
    raise ModelError(f"{folder} is DeepFloyd IF stage II, an upscaler: pass the stage I folder "
                     "(IF-I-*) as --model and add --upscale; stage II is found beside it")
