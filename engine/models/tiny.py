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


IF_NOISING_SCHEDULER = {"_class_name": "DDPMScheduler", "num_train_timesteps": 1000,
                        "beta_schedule": "squaredcos_cap_v2", "beta_start": 0.0001,
                        "beta_end": 0.02, "variance_type": "fixed_small"}


def tiny_if_stage_two_unet(sample_size: int = 128, embedding_dim: int = 32):
    """An IF stage II UNet in miniature: noisy image + upsampled low-res in (6), ε + v out (6),
    the noise level as a class label (timestep embedding)."""
    from diffusers import UNet2DConditionModel

    torch.manual_seed(1)
    return UNet2DConditionModel(
        sample_size=sample_size, layers_per_block=1, block_out_channels=[16, 16, 32],
        down_block_types=["ResnetDownsampleBlock2D", "ResnetDownsampleBlock2D",
                          "SimpleCrossAttnDownBlock2D"],
        mid_block_type="UNetMidBlock2DSimpleCrossAttn",
        up_block_types=["SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D",
                        "ResnetUpsampleBlock2D"],
        in_channels=6, out_channels=6, cross_attention_dim=32, encoder_hid_dim=embedding_dim,
        attention_head_dim=8, addition_embed_type="text", addition_embed_type_num_heads=2,
        cross_attention_norm="group_norm", resnet_time_scale_shift="scale_shift", act_fn="gelu",
        norm_num_groups=8, class_embed_type="timestep", mid_block_scale_factor=1.414,
        time_embedding_act_fn="gelu", time_embedding_type="positional",
    )


def save_tiny_if_stage_two(folder: str | Path, sample_size: int = 128, embedding_dim: int = 32
                           ) -> Path:
    """A folder laid out like DeepFloyd/IF-II-*: unet/, scheduler/, image_noising_scheduler/."""
    folder = Path(folder)
    tiny_if_stage_two_unet(sample_size, embedding_dim).save_pretrained(folder / "unet")
    for sub, config in (("scheduler", IF_SCHEDULER),
                        ("image_noising_scheduler", IF_NOISING_SCHEDULER)):
        (folder / sub).mkdir(parents=True, exist_ok=True)
        (folder / sub / "scheduler_config.json").write_text(json.dumps(config))
    index = {"_class_name": "IFSuperResolutionPipeline", "_diffusers_version": "0.42.1",
             "unet": ["diffusers", "UNet2DConditionModel"],
             "scheduler": ["diffusers", "DDPMScheduler"],
             "image_noising_scheduler": ["diffusers", "DDPMScheduler"],
             "text_encoder": [None, None], "tokenizer": [None, None],
             "safety_checker": [None, None], "feature_extractor": [None, None],
             "watermarker": [None, None], "requires_safety_checker": False}
    (folder / "model_index.json").write_text(json.dumps(index))
    return folder


TOKENIZER_TEXT = ("a high quality photo", "a rocket ship", "a pencil", "a man wearing a hat",
                  "an oil painting of an old man", "an oil painting of people around a campfire",
                  "a lithograph of waterfalls", "a lithograph of a skull", "a photo of a dog",
                  "a photo of a man", "a photo of a hipster barista")


def save_tiny_t5(folder: str | Path, embedding_dim: int = 32) -> Path:
    """A tiny T5 encoder (random) and a sentencepiece tokenizer trained here, into an IF folder's
    text_encoder/ and tokenizer/. The tokenizer folder holds what the hub's IF repositories
    hold (spiece.model and the two JSON files, no tokenizer.json), so loading it takes the same
    conversion as the real one."""
    import sentencepiece as spm
    from transformers import T5Config, T5EncoderModel

    folder = Path(folder)
    tokenizer = folder / "tokenizer"
    tokenizer.mkdir(parents=True, exist_ok=True)
    text = tokenizer / "text.txt"
    text.write_text("\n".join(TOKENIZER_TEXT * 10) + "\n")
    spm.SentencePieceTrainer.train(
        input=str(text), model_prefix=str(tokenizer / "spiece"), vocab_size=64,
        model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1, minloglevel=2,
        hard_vocab_limit=False)
    text.unlink()
    (tokenizer / "spiece.vocab").unlink()
    pieces = spm.SentencePieceProcessor(model_file=str(tokenizer / "spiece.model"))
    specials = {"eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
    (tokenizer / "special_tokens_map.json").write_text(json.dumps(specials))
    (tokenizer / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "T5Tokenizer", "model_max_length": 77, "extra_ids": 0} | specials))
    torch.manual_seed(2)
    config = T5Config(vocab_size=max(pieces.get_piece_size(), 64), d_model=embedding_dim,
                      d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                      relative_attention_num_buckets=8)
    T5EncoderModel(config).save_pretrained(folder / "text_encoder")
    index_path = folder / "model_index.json"
    index = json.loads(index_path.read_text())
    index["text_encoder"] = ["transformers", "T5EncoderModel"]
    index["tokenizer"] = ["transformers", "T5Tokenizer"]
    index_path.write_text(json.dumps(index))
    return folder


def save_tiny_digit_model(folder: str | Path, kind: str = "class", hidden: int = 4) -> Path:
    """A Part B checkpoint folder (random weights) that loads like a trained one."""
    from engine.training.checkpoint import save_weights, write_config
    from engine.training.unets import build_unet

    folder = Path(folder)
    torch.manual_seed(0)
    save_weights(build_unet(kind, hidden), folder / "model.safetensors",
                 metadata={"kind": kind, "hidden": hidden})
    write_config(folder, {"kind": kind, "hidden": hidden, "num_timesteps": 300,
                          "convention": "ddpm"})
    return folder
