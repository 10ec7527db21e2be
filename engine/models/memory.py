"""Memory for large models: estimates read from file headers, offloading, out-of-memory advice.

`estimate_memory` counts parameters from the safetensors headers (8-byte length + JSON with every
tensor's shape) without reading a weight, so it can be shown before a multi-gigabyte load.
`OffloadGroup` keeps one module at a time on the accelerator (model CPU offload): a run moves its
UNet there once and it stays while the run lasts; the next module asked for (stage II, the T5
encoder) sends the previous one back to the CPU.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from engine.errors import ModelError

GIB = 1024**3
# weights + this share for activations, the CUDA context and allocator slack (64 px, batch 2-4)
ACTIVATION_SHARE = 0.2
OFFLOAD_MODES = ("none", "model", "sequential")
_SAFETENSORS_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2,
                      "I8": 1, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}


def dtype_size(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


def safetensors_parameters(path: Path) -> int:
    """The number of values in a .safetensors file, from its header alone."""
    try:
        with open(path, "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            if length > 100_000_000:
                raise ValueError("header too large")
            header = json.loads(f.read(length))
    except (OSError, ValueError, struct.error) as error:
        raise ModelError(f"{path} is not a readable safetensors file ({error})") from None
    count = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        n = 1
        for side in entry.get("shape", []):
            n *= int(side)
        count += n
    return count


def weight_files(component: Path) -> list[Path]:
    """The weight files of one component folder (unet/, text_encoder/): one variant only."""
    for pattern in ("*.safetensors.index.json", "*.safetensors", "*.bin"):
        found = sorted(component.glob(pattern))
        full = [p for p in found if ".fp16." not in p.name]
        chosen = full or found
        if pattern.endswith("index.json") and chosen:
            index = json.loads(chosen[0].read_text())
            return sorted({component / name for name in index.get("weight_map", {}).values()})
        if chosen:
            return chosen if pattern != "*.safetensors" else _one_variant(chosen)
    return []


def _one_variant(files: list[Path]) -> list[Path]:
    """Shards of one variant (model-00001-of-00002...) or the single file."""
    shards = [p for p in files if "-of-" in p.name]
    return shards or files[:1]


def component_parameters(component: Path) -> int:
    """Parameters of one component, from headers (safetensors) or file sizes (.bin, fp32/fp16)."""
    total = 0
    for path in weight_files(component):
        if path.suffix == ".safetensors":
            total += safetensors_parameters(path)
        elif path.is_file():
            total += path.stat().st_size // (2 if ".fp16." in path.name else 4)
    return total


def parameter_count(folder: str | Path, components: tuple[str, ...] = ("unet",)) -> int:
    folder = Path(folder)
    return sum(component_parameters(folder / name) for name in components
               if (folder / name).is_dir())


def estimate_memory(folder: str | Path, dtype: torch.dtype = torch.float16,
                    components: tuple[str, ...] = ("unet",), offload: str = "none") -> int:
    """Bytes of accelerator memory a run needs: weights at `dtype` plus ACTIVATION_SHARE.

    With model offload only the largest component is on the accelerator at once; sequential
    offload streams layers, so about a tenth of the largest component is counted.
    """
    folder = Path(folder)
    sizes = [component_parameters(folder / c) * dtype_size(dtype) for c in components
             if (folder / c).is_dir()]
    if not sizes:
        return 0
    if offload == "model":
        weights = max(sizes)
    elif offload == "sequential":
        weights = max(sizes) // 10
    else:
        weights = sum(sizes)
    return int(weights * (1 + ACTIVATION_SHARE))


def describe_bytes(n: int) -> str:
    return f"{n / GIB:.1f} GiB" if n >= GIB / 10 else f"{n / 1024**2:.1f} MiB"


# --- out of memory ------------------------------------------------------------------------------


def is_out_of_memory(error: BaseException) -> bool:
    if isinstance(error, MemoryError):
        return True
    oom_type = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(error, oom_type):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


def oom_advice(name: str, device: torch.device, dtype: torch.dtype, offload: str) -> str:
    tips = []
    if offload == "none":
        tips.append("turn on model offload (--offload model), or --offload sequential for the "
                    "least memory")
    elif offload == "model":
        tips.append("use --offload sequential (slower, the least memory)")
    if device.type != "cpu" and dtype == torch.float32:
        tips.append("use fp16 (--dtype fp16)")
    tips.append("use a smaller IF variant (DeepFloyd/IF-I-L-v1.0 or IF-I-M-v1.0; stage II M)")
    tips.append("make fewer images at once, and close other programs using the GPU")
    where = "GPU" if device.type in ("cuda", "mps") else "computer"
    return f"{name} ran out of memory on the {where} ({device.type}). Try: " + "; ".join(tips)


@contextmanager
def translate_oom(name: str, device: torch.device, dtype: torch.dtype, offload: str = "none"
                  ) -> Iterator[None]:
    """Re-raise an out-of-memory error as a ModelError that says what to try."""
    try:
        yield
    except (MemoryError, RuntimeError) as error:
        if not is_out_of_memory(error):
            raise
        if device.type == "cuda":
            torch.cuda.empty_cache()
        raise ModelError(oom_advice(name, device, dtype, offload)) from None


# --- offloading ---------------------------------------------------------------------------------


class OffloadGroup:
    """Modules that share one accelerator: at most one of them is on it at a time.

    mode "none": every module stays on the device. "model": `activate(m)` moves m to the device
    and the previously active one back to the CPU. "sequential": accelerate's cpu_offload streams
    each module's weights layer by layer (the least memory, the slowest).
    """

    def __init__(self, device: torch.device, mode: str = "none") -> None:
        if mode not in OFFLOAD_MODES:
            raise ModelError(f"unknown offload mode {mode!r}; choose from "
                             f"{', '.join(OFFLOAD_MODES)}")
        self.device = device
        self.mode = "none" if device.type == "cpu" else mode
        self.active: nn.Module | None = None
        self.moves = 0

    def place(self, module: nn.Module) -> nn.Module:
        """Where a freshly loaded module goes: the device, or the CPU until it is used."""
        if self.mode == "none":
            return module.to(self.device)
        if self.mode == "sequential":
            from accelerate import cpu_offload

            cpu_offload(module, execution_device=self.device)
            return module
        return module.to("cpu")

    def activate(self, module: nn.Module) -> None:
        """Make `module` ready to run on the device (model offload moves it there)."""
        if self.mode != "model" or self.active is module:
            return
        if self.active is not None:
            self.active.to("cpu")
        module.to(self.device)
        self.active = module
        self.moves += 1
