"""Device choice (auto picks CUDA, then MPS, then the CPU) and what the CPU can do.

The one place that reads the CPU's features: `cpu_info()` parses /proc/cpuinfo (Linux); on other
systems the flags are unknown and the app takes fp32, the safe path. `cpu_has_native_bf16()` is
what training and inference ask before choosing bf16: with AMX or AVX512-BF16, oneDNN runs bf16
convolutions and matmuls natively (a 30-step digit sample 2.7x faster than fp32 on an AMX Xeon,
2.1x on an AVX512-BF16 EPYC without AMX, with packed weights; docs/benchmarks.md); without them
bf16 is emulated and slower than fp32. Both native kinds get the same choices: on the EPYC bf16
won on every model, stage and lever measured, so nothing here tells AMX from AVX512-BF16.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

import torch

from engine.errors import EngineError
from engine.options import DEVICES

CPUINFO = Path("/proc/cpuinfo")
BF16_FLAGS = {"amx_bf16": "AMX", "avx512_bf16": "AVX512-BF16"}  # strongest first


def resolve_device(name: str = "auto") -> torch.device:
    """The device for a name of DEVICES: auto is CUDA, then MPS, then the CPU; a device this
    machine lacks is an EngineError (for inference and training alike)."""
    if name not in DEVICES:
        raise EngineError(f"unknown device {name!r}; choose from {', '.join(DEVICES)}")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise EngineError("CUDA was asked for, but this torch build sees no CUDA GPU")
    if name == "mps" and not mps_available():
        raise EngineError("MPS was asked for, but it is not available on this machine")
    return torch.device(name)


def mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps and mps.is_available())


def available_devices() -> dict[str, bool]:
    """Each name of DEVICES, and whether this machine has it (the app's Device menu)."""
    have = {"auto": True, "cpu": True, "cuda": torch.cuda.is_available(), "mps": mps_available()}
    return {name: have[name] for name in DEVICES}


@dataclass(frozen=True)
class CpuInfo:
    """The CPU's name and feature flags; flags is None where they cannot be read (not Linux)."""

    model: str
    flags: frozenset[str] | None

    @property
    def bf16_support(self) -> str:
        """'AMX', 'AVX512-BF16', 'none', or 'unknown' where the flags were not readable."""
        if self.flags is None:
            return "unknown"
        for flag, name in BF16_FLAGS.items():
            if flag in self.flags:
                return name
        return "none"

    @property
    def native_bf16(self) -> bool:
        return self.bf16_support in BF16_FLAGS.values()

    @property
    def vector_isa(self) -> str:
        """The widest vector extension among the flags: AVX512F, AVX2, ... or 'unknown'."""
        if self.flags is None:
            return "unknown"
        for flag in ("avx512f", "avx2", "avx", "sse4_2", "asimd", "neon"):
            if flag in self.flags:
                return flag.upper()
        return "none"


def parse_cpuinfo(text: str) -> CpuInfo:
    """The first processor's model name and flags from /proc/cpuinfo text."""
    model, flags = "", None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("model name", "Model", "Hardware") and not model:
            model = value.strip()
        elif key in ("flags", "Features") and flags is None:
            flags = frozenset(value.split())
    return CpuInfo(model or fallback_cpu_name(), flags)


def fallback_cpu_name() -> str:
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_info(path: Path = CPUINFO) -> CpuInfo:
    """This machine's CPU; flags None where /proc/cpuinfo is absent (macOS, Windows)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return CpuInfo(fallback_cpu_name(), None)
    return parse_cpuinfo(text)


def cpu_has_native_bf16() -> bool:
    """AMX or AVX512-BF16 among the CPU's flags (False where they are unknown)."""
    return cpu_info().native_bf16


def cpu_count() -> int:
    """Cores this process may use (the affinity mask where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
DTYPE_NAMES = {dtype: name for name, dtype in DTYPES.items()}


def small_model_precision(name: str | None, device: torch.device) -> str:
    """fp32, bf16 or fp16 for the small models' inference (the digit UNets).

    auto: bf16 on a CPU with native bf16 (AMX or AVX512-BF16), fp32 everywhere else (an emulated
    bf16 is slower than fp32; on a GPU these models are quick in fp32). An explicit choice the
    device cannot run is an EngineError.
    """
    if name in (None, "auto"):
        return "bf16" if device.type == "cpu" and cpu_has_native_bf16() else "fp32"
    if name not in DTYPES:
        raise EngineError(f"unknown dtype {name!r}; choose from auto, {', '.join(DTYPES)}")
    if name == "fp16" and device.type != "cuda":
        raise EngineError(f"fp16 needs a CUDA GPU (on {device.type}, use bf16 or fp32)")
    if name == "bf16" and device.type == "mps":
        raise EngineError("bf16 is not supported on MPS; use fp32")
    return name


def if_model_precision(device: torch.device, small: bool) -> str:
    """What auto picks for an IF-format model: fp16 on a GPU (as the course); on the CPU a small
    one (the emoji cascade) as the digit models, bf16 where native and fp32 elsewhere, and
    DeepFloyd IF itself fp32 (docs/benchmarks.md, "bf16 inference on the emoji cascade")."""
    if device.type in ("cuda", "mps"):
        return "fp16"
    return small_model_precision("auto", device) if small else "fp32"


def precision_reason(precision: str, device: torch.device, cpu: CpuInfo | None = None) -> str:
    """Why auto picked `precision` on `device`: one short clause for `doctor`."""
    if device.type != "cpu":
        return f"on {device.type}"
    cpu = cpu or cpu_info()
    if precision == "bf16":
        return f"the CPU has native bf16 ({cpu.bf16_support})"
    if cpu.bf16_support == "unknown":
        return "the CPU's bf16 support is unknown on this system, fp32 is the safe choice"
    return "no AMX or AVX512-BF16 on this CPU: bf16 would be emulated, slower than fp32"
