"""The emoji cascade's networks and losses, in DeepFloyd IF's shapes (issue 12).

- Stage I: UNet2DConditionModel, 3 channels in, 6 out (ε and the learned-range variance v),
  text through cross-attention and IF's pooled text embedding (addition_embed_type "text").
- Stage II: the same family, 6 channels in (x_t and the noise-augmented, bilinearly upsampled
  low-resolution image), the augmentation level as the class label (class_embed_type
  "timestep"), as IF's stage II.
- Text: a small transformers T5EncoderModel and a T5 tokenizer trained with sentencepiece on the
  data's labels; prompts are lower-cased, padded to 77 tokens, as IF's pipelines do.
- Noise: DDPMScheduler, T = 1000, squaredcos_cap_v2 (IF's), learned_range variance.

Loss: improved DDPM's hybrid L_simple + L_vlb (λ = 0.001 on the sum over T terms, i.e. weight 1
on one sampled term in bits per dimension), with the mean's gradient stopped inside L_vlb so
that it trains only the variance; L_simple is weighted by min-SNR-γ (γ = 5) so the high-noise
steps that decide the layout are not drowned by the easy low-noise ones.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.models.tiny import IF_NOISING_SCHEDULER, IF_SCHEDULER

MAX_TOKENS = 77
MIN_SNR_GAMMA = 5.0


@dataclass(frozen=True)
class UNetShape:
    """A stage's UNet: widths per level, which levels cross-attend, layers per block."""

    name: str
    widths: tuple[int, ...]
    attention: tuple[bool, ...]  # per level, from the top (full resolution) down
    layers: int = 1
    head_dim: int = 32
    groups: int = 16


# Candidates measured in docs/benchmarks.md ("Emoji stage I throughput"); STAGE_ONE is the pick.
STAGE_ONE_SHAPES = {
    "s32": UNetShape("s32", (32, 64, 128), (False, True, True)),
    "s96": UNetShape("s96", (32, 96, 192), (False, True, True)),
    "s4l": UNetShape("s4l", (32, 64, 128, 256), (False, False, True, True)),
    "w64": UNetShape("w64", (64, 128, 192), (False, False, True)),
    "s3w": UNetShape("s3w", (32, 64, 256), (False, False, True)),
    "s4x": UNetShape("s4x", (32, 64, 192, 256), (False, False, True, True)),
    "s4a": UNetShape("s4a", (32, 64, 128, 256), (False, False, False, True)),
}
STAGE_ONE = "s4l"
# Stage II puts little width at 64 px, where it only sharpens: 1.09 GFLOP per forward against
# 2.97 for (32, 64, 96), so 25 CFG steps at batch 1 fit the 2 s goal on 2 AVX2 cores
# (docs/benchmarks.md, "Emoji stage II shape"); STAGE_TWO_STEPS is its default step count.
STAGE_TWO = UNetShape("up16", (16, 32, 64, 96), (False, False, False, True), groups=8)
STAGE_TWO_STEPS = 25
# for tests only: the same block types at the smallest widths
TEST_SHAPE = UNetShape("test", (16, 32), (False, True), head_dim=16, groups=8)
STAGE_ONE_SHAPES["test"] = TEST_SHAPE


@dataclass(frozen=True)
class TextShape:
    d_model: int = 128
    layers: int = 2
    heads: int = 4
    d_ff: int = 256
    vocab: int = 3000


def build_unet(shape: UNetShape, sample_size: int, embedding_dim: int, stage_two: bool = False):
    from diffusers import UNet2DConditionModel

    down, up = [], []
    for attn in shape.attention:
        down.append("SimpleCrossAttnDownBlock2D" if attn else "ResnetDownsampleBlock2D")
    for attn in reversed(shape.attention):
        up.append("SimpleCrossAttnUpBlock2D" if attn else "ResnetUpsampleBlock2D")
    extra: dict[str, Any] = {}
    if stage_two:
        extra = dict(class_embed_type="timestep", time_embedding_act_fn="gelu",
                     mid_block_scale_factor=1.414)
    return UNet2DConditionModel(
        sample_size=sample_size, in_channels=6 if stage_two else 3, out_channels=6,
        layers_per_block=shape.layers, block_out_channels=list(shape.widths),
        down_block_types=down, up_block_types=up,
        mid_block_type="UNetMidBlock2DSimpleCrossAttn",
        cross_attention_dim=max(shape.widths), encoder_hid_dim=embedding_dim,
        attention_head_dim=shape.head_dim, addition_embed_type="text",
        addition_embed_type_num_heads=2, cross_attention_norm="group_norm",
        resnet_time_scale_shift="scale_shift", act_fn="gelu", norm_num_groups=shape.groups,
        **extra)


def build_text_encoder(vocab_size: int, shape: TextShape = TextShape()):
    from transformers import T5Config, T5EncoderModel

    config = T5Config(vocab_size=vocab_size, d_model=shape.d_model,
                      d_kv=shape.d_model // shape.heads,
                      d_ff=shape.d_ff, num_layers=shape.layers, num_heads=shape.heads,
                      relative_attention_num_buckets=16, dropout_rate=0.0,
                      feed_forward_proj="gated-gelu", pad_token_id=0, eos_token_id=1)
    return T5EncoderModel(config)


# ----------------------------------------------------------------------------------------------
# tokenizer


def train_tokenizer(lines: list[str], folder: Path, vocab_size: int) -> Path:
    """A sentencepiece unigram model on `lines`, saved as IF's tokenizer/ folder is (spiece.model,
    special_tokens_map.json, tokenizer_config.json: T5Tokenizer, 77 tokens, no extra ids)."""
    import sentencepiece as spm

    folder.mkdir(parents=True, exist_ok=True)
    text = folder / "corpus.txt"
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    try:
        spm.SentencePieceTrainer.train(
            input=str(text), model_prefix=str(folder / "spiece"), vocab_size=vocab_size,
            model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1, minloglevel=2,
            hard_vocab_limit=False, character_coverage=1.0, num_threads=1,
            input_sentence_size=0, shuffle_input_sentence=False)
    finally:
        text.unlink(missing_ok=True)
    (folder / "spiece.vocab").unlink(missing_ok=True)
    specials = {"eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
    (folder / "special_tokens_map.json").write_text(json.dumps(specials))
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "T5Tokenizer", "model_max_length": MAX_TOKENS, "extra_ids": 0}
        | specials))
    return folder


def load_tokenizer(folder: Path):
    from transformers import T5TokenizerFast

    return T5TokenizerFast.from_pretrained(str(folder), local_files_only=True)


class PromptTokens:
    """Prompt -> (ids, mask) rows of 77, as IF's pipelines tokenize; cached per prompt."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self._cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def __call__(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        todo = [p for p in dict.fromkeys(prompts) if p not in self._cache]
        if todo:
            out = self.tokenizer([p.lower().strip() for p in todo], padding="max_length",
                                 max_length=MAX_TOKENS, truncation=True,
                                 add_special_tokens=True, return_tensors="pt")
            for i, p in enumerate(todo):
                self._cache[p] = (out.input_ids[i], out.attention_mask[i])
        ids = torch.stack([self._cache[p][0] for p in prompts])
        mask = torch.stack([self._cache[p][1] for p in prompts])
        return ids, mask


# ----------------------------------------------------------------------------------------------
# the diffusion terms


class Diffusion:
    """ᾱ, β, posterior tables of DDPMScheduler (T = 1000, IF's cosine) as float64 tensors."""

    def __init__(self, config: dict | None = None) -> None:
        from diffusers import DDPMScheduler

        sched = DDPMScheduler.from_config(config or IF_SCHEDULER)
        self.T = int(sched.config.num_train_timesteps)
        abar = sched.alphas_cumprod.double()
        abar_prev = torch.cat([torch.ones(1, dtype=torch.float64), abar[:-1]])
        betas = 1 - abar / abar_prev
        self.abar, self.abar_prev, self.betas = abar, abar_prev, betas
        post = betas * (1 - abar_prev) / (1 - abar)
        # improved DDPM: at t = 0 the posterior variance is 0; its log takes t = 1's value
        self.log_post = torch.log(torch.cat([post[1:2], post[1:]]))
        self.log_beta = torch.log(betas)
        self.coef_x0 = betas * abar_prev.sqrt() / (1 - abar)
        self.coef_xt = (1 - abar_prev) * (1 - betas).sqrt() / (1 - abar)
        self.snr = abar / (1 - abar)

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        a = self.abar.to(x0.device)[t].float().view(-1, 1, 1, 1)
        return a.sqrt() * x0 + (1 - a).sqrt() * eps

    def model_log_variance(self, v: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """IF's learned range: log σ² = f log β_t + (1 - f) log β̃_t, f = (v + 1) / 2."""
        frac = (v + 1) / 2
        hi = _at(self.log_beta, t, v)
        lo = _at(self.log_post, t, v)
        return frac * hi + (1 - frac) * lo

    def posterior_mean(self, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor
                       ) -> torch.Tensor:
        return _at(self.coef_x0, t, x0) * x0 + _at(self.coef_xt, t, x0) * x_t

    def x0_from_eps(self, x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        a = _at(self.abar, t, x_t)
        return (x_t - (1 - a).sqrt() * eps) / a.sqrt()

    def vlb_bits(self, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor,
                 eps_pred: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """One term of the VLB per sample, in bits per dimension (ε detached: the term trains
        the variance only). t = 0: the discretized Gaussian decoder's NLL of x0 (8-bit)."""
        mean_p = self.posterior_mean(self.x0_from_eps(x_t, t, eps_pred.detach()), x_t, t)
        logvar_p = self.model_log_variance(v, t)
        mean_q = self.posterior_mean(x0, x_t, t)
        logvar_q = _at(self.log_post, t, x0)
        kl = 0.5 * (-1.0 + logvar_p - logvar_q + torch.exp(logvar_q - logvar_p)
                    + (mean_q - mean_p) ** 2 * torch.exp(-logvar_p))
        kl = kl.mean(dim=(1, 2, 3)) / math.log(2.0)
        nll = -discretized_gaussian_log_likelihood(x0, mean_p, logvar_p).mean(dim=(1, 2, 3))
        nll = nll / math.log(2.0)
        return torch.where(t == 0, nll, kl)

    def min_snr_weight(self, t: torch.Tensor) -> torch.Tensor:
        snr = self.snr.to(t.device)[t].float()
        return torch.clamp(snr, max=MIN_SNR_GAMMA) / snr


def _at(table: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return table.to(like.device)[t].to(like.dtype).view(-1, *([1] * (like.dim() - 1)))


def discretized_gaussian_log_likelihood(x: torch.Tensor, mean: torch.Tensor,
                                        log_var: torch.Tensor) -> torch.Tensor:
    """log P(x) of 8-bit data in [-1, 1] (bins of width 2/255) under N(mean, exp(log_var))."""
    inv_std = torch.exp(-0.5 * log_var)
    centred = x - mean
    cdf_plus = torch.special.ndtr(inv_std * (centred + 1.0 / 255))
    cdf_min = torch.special.ndtr(inv_std * (centred - 1.0 / 255))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=1e-12))
    delta = torch.log((cdf_plus - cdf_min).clamp(min=1e-12))
    return torch.where(x < -0.999, log_cdf_plus,
                       torch.where(x > 0.999, log_one_minus_cdf_min, delta))


def hybrid_loss(diffusion: Diffusion, out: torch.Tensor, x0: torch.Tensor, x_t: torch.Tensor,
                t: torch.Tensor, eps: torch.Tensor, min_snr: bool = True
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, simple, vlb): the 6-channel output against the noise and the posterior."""
    out = out.float()
    eps_pred, v = out[:, :3], out[:, 3:]
    mse = ((eps_pred - eps) ** 2).mean(dim=(1, 2, 3))
    weight = diffusion.min_snr_weight(t) if min_snr else torch.ones_like(mse)
    simple = (weight * mse).mean()
    vlb = diffusion.vlb_bits(x0, x_t, t, eps_pred, v).mean()
    return simple + vlb, simple.detach(), vlb.detach()


# ----------------------------------------------------------------------------------------------
# EMA


class EMA:
    """Exponential moving average of parameters (and buffers copied), decay warmed up as
    min(decay, (1 + n) / (10 + n))."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = {k: v.detach().clone().float() for k, v in model.state_dict().items()}
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """shadow ← shadow + (1 - d)(v - shadow), one foreach lerp over the float tensors (the
        same average as d·shadow + (1 - d)·v, to rounding)."""
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        shadows, values = [], []
        for k, v in model.state_dict().items():
            if v.is_floating_point():
                shadows.append(self.shadow[k])
                values.append(v.detach().float())
            else:
                self.shadow[k].copy_(v)
        if shadows:
            torch._foreach_lerp_(shadows, values, 1.0 - d)

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "updates": self.updates, "shadow": self.shadow}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.decay = float(state["decay"])
        self.updates = int(state["updates"])
        self.shadow = {k: v.float() for k, v in state["shadow"].items()}


def stage_two_scheduler_configs() -> tuple[dict, dict]:
    return dict(IF_SCHEDULER), dict(IF_NOISING_SCHEDULER)
