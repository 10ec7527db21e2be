"""Noise schedules: ᾱ tables, strided timesteps and the variance rules.

Two timestep conventions exist (SPEC.md, B-2.3):
- "ddpm": t runs 1..T and table[0] = 1 means clean (the course's Part B models);
- "diffusers": t runs 0..T-1 and table[0] < 1 is one step of noise (DeepFloyd IF and most
  diffusers checkpoints).
A NoiseSchedule hides the difference: table[t] is ᾱ_t for every valid t, in either convention.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

VARIANCE_RULES = ("fixed_small", "fixed_large", "learned_range")


def linear_betas(num_timesteps: int = 300, beta_start: float = 1e-4, beta_end: float = 0.02
                 ) -> torch.Tensor:
    return torch.linspace(beta_start, beta_end, num_timesteps, dtype=torch.float64)


def alphas_cumprod_from_diffusers_config(config: dict) -> torch.Tensor:
    """ᾱ of a diffusers scheduler config (IF uses squaredcos_cap_v2, T = 1000)."""
    from diffusers import DDPMScheduler

    keys = ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas")
    kwargs = {k: config[k] for k in keys if config.get(k) is not None}
    return DDPMScheduler(**kwargs).alphas_cumprod.to(torch.float64)


@dataclass(frozen=True)
class X0Limit:
    """How a sampler keeps x̂_0 in the data's range, as a diffusers scheduler config declares:
    `ratio` None clips to ±max_value (clip_sample); else dynamic thresholding (Imagen, IF):
    per image, s = the ratio-quantile of |x̂_0| held in [1, max_value], x̂_0 -> clip(x̂_0, ±s) / s."""

    max_value: float = 1.0
    ratio: float | None = None

    def apply(self, x0: torch.Tensor) -> torch.Tensor:
        if self.ratio is None or self.max_value == 1.0:  # s is held at 1: a plain clip
            return x0.clamp(-self.max_value, self.max_value)
        flat = x0.float().abs().reshape(x0.shape[0], -1)
        s = torch.quantile(flat, self.ratio, dim=1).clamp(1.0, self.max_value)
        s = s.reshape(-1, *([1] * (x0.dim() - 1))).to(x0.dtype)
        return torch.maximum(torch.minimum(x0, s), -s) / s

    @classmethod
    def from_diffusers_config(cls, config: dict) -> X0Limit | None:
        """None where the config asks for neither (the course's formula, unlimited)."""
        if config.get("thresholding"):
            return cls(float(config.get("sample_max_value", 1.0)),
                       float(config.get("dynamic_thresholding_ratio", 0.995)))
        if config.get("clip_sample"):
            return cls(float(config.get("clip_sample_range", 1.0)))
        return None


@dataclass(frozen=True)
class NoiseSchedule:
    table: torch.Tensor  # float64; table[t] = ᾱ_t
    convention: str  # "ddpm" or "diffusers"
    variance_rule: str = "fixed_small"
    default_stride: int = 10
    default_top: int | None = None  # first strided timestep; None = the largest valid t
    # the sampler's x̂_0 limit (a diffusers model's own config); None: x̂_0 as the course computes
    x0_limit: X0Limit | None = None

    @classmethod
    def ddpm_linear(cls, num_timesteps: int = 300, variance_rule: str = "fixed_large",
                    default_stride: int = 10) -> NoiseSchedule:
        cumprod = torch.cumprod(1 - linear_betas(num_timesteps), dim=0)
        table = torch.cat([torch.ones(1, dtype=torch.float64), cumprod])
        return cls(table, "ddpm", variance_rule, default_stride)

    @classmethod
    def from_diffusers_config(cls, config: dict, variance_rule: str | None = None,
                              default_stride: int = 30, default_top: int | None = None
                              ) -> NoiseSchedule:
        rule = variance_rule or config.get("variance_type") or "fixed_small"
        if rule not in VARIANCE_RULES:
            rule = "fixed_small"
        table = alphas_cumprod_from_diffusers_config(config)
        return cls(table, "diffusers", rule, default_stride, default_top,
                   X0Limit.from_diffusers_config(config))

    @property
    def num_train_timesteps(self) -> int:
        return len(self.table) - (1 if self.convention == "ddpm" else 0)

    @property
    def top(self) -> int:
        return self.default_top if self.default_top is not None else len(self.table) - 1

    def abar(self, t: int) -> float:
        return float(self.table[int(t)])

    def default_timesteps(self) -> list[int]:
        return strided_timesteps(self.top, self.default_stride)

    def timesteps(self, steps: int | None = None) -> list[int]:
        """The strided list, top down to 0: `steps` updates (steps + 1 entries)."""
        if steps is None:
            return self.default_timesteps()
        return evenly_spaced_timesteps(self.top, steps)

    def limit_x0(self, x0: torch.Tensor) -> torch.Tensor:
        return x0 if self.x0_limit is None else self.x0_limit.apply(x0)

    def time_input(self, t: torch.Tensor) -> torch.Tensor:
        """t as the model was trained to see it (unchanged; adapters may normalise)."""
        return t


def strided_timesteps(start: int, stride: int) -> list[int]:
    """start, start - stride, ..., down to 0 (0 is always the last entry)."""
    if stride < 1 or start < 0:
        raise ValueError("stride must be >= 1 and start >= 0")
    ts = list(range(start, -1, -stride))
    if ts[-1] != 0:
        ts.append(0)
    return ts


def evenly_spaced_timesteps(top: int, steps: int) -> list[int]:
    """steps + 1 distinct integers from top down to 0, as evenly spaced as rounding allows."""
    if steps < 1:
        raise ValueError("steps must be at least 1")
    steps = min(steps, top)
    return [round(top - i * top / steps) for i in range(steps + 1)]


def i_start_from_strength(strength: float, num_timesteps: int) -> int:
    """diffusers' strength (1 = pure noise, 0 = no change) as an index into the strided list."""
    if not 0.0 <= strength <= 1.0:
        raise ValueError("strength must be between 0 and 1")
    return round((1.0 - strength) * (num_timesteps - 1))


@dataclass(frozen=True)
class StepCoefficients:
    """The course's update x_t' = a · x̂_0 + b · x_t + σ z, for one pair (t, t')."""

    abar_t: float
    abar_prev: float
    coef_x0: float
    coef_xt: float
    beta: float
    beta_tilde: float


def step_coefficients(abar_t: float, abar_prev: float) -> StepCoefficients:
    alpha = abar_t / abar_prev
    beta = 1.0 - alpha
    coef_x0 = math.sqrt(abar_prev) * beta / (1.0 - abar_t)
    coef_xt = math.sqrt(alpha) * (1.0 - abar_prev) / (1.0 - abar_t)
    beta_tilde = (1.0 - abar_prev) / (1.0 - abar_t) * beta
    return StepCoefficients(abar_t, abar_prev, coef_x0, coef_xt, beta, beta_tilde)


def noise_std(c: StepCoefficients, rule: str, variance: torch.Tensor | None = None
              ) -> torch.Tensor | float:
    """σ of v_σ by the variance rule; `variance` is the model's raw output v, read in [-1, 1]."""
    if rule == "fixed_small":
        return math.sqrt(max(c.beta_tilde, 0.0))
    if rule == "fixed_large":
        return math.sqrt(c.beta)
    if rule == "learned_range":
        if variance is None:
            raise ValueError("learned_range needs the model's predicted variance")
        # the reverse step's true variance lies between β̃ and β: v outside [-1, 1] is the
        # model extrapolating, and a trained emoji UNet's v of 190 at t = 66 made σ 4e23
        frac = ((variance.float() + 1) / 2).clamp(0.0, 1.0)
        log_tilde = math.log(max(c.beta_tilde, 1e-20))
        log_var = frac * math.log(c.beta) + (1 - frac) * log_tilde
        return torch.exp(0.5 * log_var)
    raise ValueError(f"unknown variance rule {rule!r}")
