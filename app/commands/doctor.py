"""`doctor`: what this machine can do, and which precision the app picks on it, and why.

The CPU's features come from engine.devices (the one place that reads them); the precisions are
the ones training (`train --precision auto`) and the digit models' inference (`--dtype auto`)
resolve to, and the IF-format models' (the emoji cascade, DeepFloyd IF), so what this prints is
what a run will do.
"""

from __future__ import annotations

import argparse
import os

import torch

from engine import devices
from engine.models import onednn
from engine.training.train import resolve_precision


def report(cpu: devices.CpuInfo | None = None) -> list[str]:
    """The lines `doctor` prints, as (label, value) text."""
    cpu = cpu or devices.cpu_info()
    device = devices.resolve_device("auto")
    rows = [
        ("CPU", cpu.model),
        ("vector ISA", f"{cpu.vector_isa} (torch dispatches {cpu_capability()})"),
        ("bf16", bf16_line(cpu)),
        ("cores", f"{devices.cpu_count()} usable of {os.cpu_count()}"),
        ("threads", f"torch uses {torch.get_num_threads()} here; the app's engine thread "
                    f"{max(1, (os.cpu_count() or 2) - 1)} (one core stays with the window)"),
        ("torch", torch_build()),
        ("CUDA", cuda_line()),
        ("MPS", "available" if devices.mps_available() else "not available"),
        ("device", f"auto -> {device.type}"),
        ("training", training_line(device, cpu)),
        ("inference", inference_line(device, cpu)),
    ]
    width = max(len(label) for label, _ in rows)
    return [f"{label.ljust(width)}  {value}" for label, value in rows]


def bf16_line(cpu: devices.CpuInfo) -> str:
    support = cpu.bf16_support
    if support == "unknown":
        return "unknown (no /proc/cpuinfo on this system)"
    if support == "none":
        return "none (no AMX, no AVX512-BF16: bf16 is emulated, slower than fp32)"
    return f"{support} (native bf16)"


def cpu_capability() -> str:
    try:
        return torch.backends.cpu.get_cpu_capability()
    except AttributeError:  # an old torch
        return "unknown"


def torch_build() -> str:
    parts = [torch.__version__]
    parts.append(f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU-only build")
    parts.append("oneDNN" if torch.backends.mkldnn.is_available() else "no oneDNN")
    return ", ".join(parts)


def cuda_line() -> str:
    if not torch.cuda.is_available():
        return "not available"
    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return "available: " + ", ".join(names)


def training_line(device: torch.device, cpu: devices.CpuInfo) -> str:
    precision = resolve_precision("auto", device)
    if device.type == "cuda":
        return f"{precision} (mixed precision on the GPU)"
    return f"{precision} ({devices.precision_reason(precision, device, cpu)})"


def inference_line(device: torch.device, cpu: devices.CpuInfo) -> str:
    precision = devices.small_model_precision("auto", device)
    why = devices.precision_reason(precision, device, cpu)
    if device.type != "cpu":
        why = f"on {device.type} the digit models run in fp32"
    layout = ""
    if precision == "bf16":
        packed = onednn.can_pack(device, torch.bfloat16)
        layout = " + channels-last" + (", packed for oneDNN" if packed else "")
    emoji = devices.if_model_precision(device, small=True)
    large = devices.if_model_precision(device, small=False)
    return (f"digit models {precision}{layout}, emoji cascade {emoji} ({why}); DeepFloyd IF "
            f"{large}; --dtype fp32|bf16 or Model > Precision overrides")


def run(args: argparse.Namespace) -> int:
    for line in report():
        print(line)
    return 0
