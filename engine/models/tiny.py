"""Tiny models with the shapes of the real ones, built from configs with random weights.

They are saved and loaded through the same code path as real weights, so tests and benchmarks
exercise the real loaders without a download. Their images are noise: only shapes are real.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

IF_SCHEDULER = {
    "_class_name": "DDPMScheduler",
    "num_train_timesteps": 1000,
    "beta_schedule": "squaredcos_cap_v2",
    "beta_start": 0.0001,
    "beta_end": 0.02,
    "variance_type": "learned_range",
    "prediction_type": "epsilon",
    "thresholding": True,
    "dynamic_thresholding_ratio": 0.95,
    "sample_max_value": 1.0,
    "clip_sample": True,
}


def tiny_if_unet(sample_size: int = 32, embedding_dim: int = 32):
    """An IF stage I UNet in miniature: 3 channels in, 6 out, text cross-attention."""
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    return UNet2DConditionModel(
        sample_size=sample_size, layers_per_block=1, block_out_channels=[32, 64],
        down_block_types=["ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"],
        mid_block_type="UNetMidBlock2DSimpleCrossAttn",
        up_block_types=["SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"],
        in_channels=3, out_channels=6, cross_attention_dim=32, encoder_hid_dim=embedding_dim,
        attention_head_dim=8, addition_embed_type="text", addition_embed_type_num_heads=2,
        cross_attention_norm="group_norm", resnet_time_scale_shift="scale_shift", act_fn="gelu",
    )


def save_tiny_if(folder: str | Path, sample_size: int = 32, embedding_dim: int = 32) -> Path:
    """A folder laid out like DeepFloyd/IF-I-*: model_index.json, unet/, scheduler/."""
    folder = Path(folder)
    tiny_if_unet(sample_size, embedding_dim).save_pretrained(folder / "unet")
    (folder / "scheduler").mkdir(parents=True, exist_ok=True)
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(IF_SCHEDULER))
    index = {"_class_name": "IFPipeline", "_diffusers_version": "0.42.1",
             "unet": ["diffusers", "UNet2DConditionModel"],
             "scheduler": ["diffusers", "DDPMScheduler"],
             "text_encoder": [None, None], "tokenizer": [None, None],
             "safety_checker": [None, None], "feature_extractor": [None, None],
             "watermarker": [None, None], "requires_safety_checker": False}
    (folder / "model_index.json").write_text(json.dumps(index))
    return folder


def tiny_embeddings(prompts: list[str], embedding_dim: int = 32, tokens: int = 77
                    ) -> dict[str, torch.Tensor]:
    """An embeddings dict in the course's format ([1, tokens, dim], fp16) for tiny IF models."""
    g = torch.Generator().manual_seed(0)
    return {p: torch.randn(1, tokens, embedding_dim, generator=g).half() for p in prompts}


def save_tiny_unet2d(folder: str | Path, sample_size: int = 32, channels: int = 3) -> Path:
    """An unconditional diffusers UNet2DModel checkpoint with a DDPM scheduler."""
    from diffusers import UNet2DModel

    folder = Path(folder)
    torch.manual_seed(0)
    UNet2DModel(sample_size=sample_size, in_channels=channels, out_channels=channels,
                layers_per_block=1, block_out_channels=(32, 64),
                down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                up_block_types=("AttnUpBlock2D", "UpBlock2D")).save_pretrained(folder / "unet")
    (folder / "scheduler").mkdir(parents=True, exist_ok=True)
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(
        {"_class_name": "DDPMScheduler", "num_train_timesteps": 1000, "beta_schedule": "linear",
         "variance_type": "fixed_small"}))
    (folder / "model_index.json").write_text(json.dumps(
        {"_class_name": "DDPMPipeline", "unet": ["diffusers", "UNet2DModel"],
         "scheduler": ["diffusers", "DDPMScheduler"]}))
    return folder
