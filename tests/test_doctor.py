"""`doctor` and the one CPU-feature detector it reads (engine.devices)."""

from __future__ import annotations

import pytest

from app.cli import main
from engine import devices
from engine.models import onednn, unet_speed

AMX = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\nflags\t\t: fpu sse avx2 " \
      "avx512f avx512_bf16 amx_bf16 amx_tile\n\nprocessor\t: 1\nflags\t\t: fpu\n"
ZEN4 = "model name\t: AMD EPYC 9R14\nflags\t\t: fpu avx2 avx512f avx512_bf16\n"
ZEN3 = "model name\t: AMD EPYC 7R13\nflags\t\t: fpu sse4_2 avx avx2 fma\n"


@pytest.mark.parametrize("text, support, native, isa, model", [
    (AMX, "AMX", True, "AVX512F", "Intel(R) Xeon(R) Platinum 8480+"),
    (ZEN4, "AVX512-BF16", True, "AVX512F", "AMD EPYC 9R14"),
    (ZEN3, "none", False, "AVX2", "AMD EPYC 7R13"),
])
def test_cpuinfo_flags_give_the_bf16_support(text, support, native, isa, model):
    cpu = devices.parse_cpuinfo(text)
    assert (cpu.bf16_support, cpu.native_bf16, cpu.vector_isa, cpu.model) == (
        support, native, isa, model)


def test_no_cpuinfo_means_unknown_and_fp32(tmp_path, monkeypatch):
    cpu = devices.cpu_info(tmp_path / "absent")  # macOS, Windows: no /proc/cpuinfo
    assert (cpu.flags, cpu.bf16_support, cpu.native_bf16) == (None, "unknown", False)
    assert cpu.model  # platform's name, never empty
    monkeypatch.setattr(devices, "cpu_info", lambda path=None: cpu)
    assert devices.small_model_precision("auto", devices.torch.device("cpu")) == "fp32"


def _doctor(monkeypatch, capsys, text: str) -> dict[str, str]:
    monkeypatch.setattr(devices, "cpu_info", lambda path=None: devices.parse_cpuinfo(text))
    monkeypatch.setattr(devices.torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "mps_available", lambda: False)
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    return {line.split()[0]: line.split(None, 1)[1] for line in out.splitlines()}


def test_doctor_says_bf16_on_an_amx_cpu(monkeypatch, capsys):
    rows = _doctor(monkeypatch, capsys, AMX)
    assert rows["CPU"] == "Intel(R) Xeon(R) Platinum 8480+"
    assert rows["bf16"].startswith("AMX")
    assert rows["training"].startswith("bf16 (the CPU has native bf16 (AMX))")
    assert rows["inference"].startswith("digit models bf16 + channels-last")
    # the packed net where this machine's oneDNN has bf16 kernels (engine/models/onednn.py)
    packed = onednn.can_pack(devices.torch.device("cpu"))
    assert ("packed for oneDNN" in rows["inference"]) == packed
    assert rows["device"] == "auto -> cpu"


def test_doctor_says_bf16_everywhere_on_an_avx512_bf16_cpu_without_amx(monkeypatch, capsys):
    # measured in session 10 on such an EPYC: bf16 beat fp32 on every model, stage and lever
    rows = _doctor(monkeypatch, capsys, ZEN4)
    assert rows["bf16"].startswith("AVX512-BF16 (native bf16)")
    assert rows["training"].startswith("bf16 (the CPU has native bf16 (AVX512-BF16))")
    assert rows["inference"].startswith("digit models bf16 + channels-last")
    assert "emoji cascade bf16 (the CPU has native bf16 (AVX512-BF16))" in rows["inference"]
    assert "DeepFloyd IF fp32" in rows["inference"]
    cpu = devices.torch.device("cpu")
    assert devices.if_model_precision(cpu, small=True) == "bf16"
    assert unet_speed.default_levers(cpu) == unet_speed.CPU_LEVERS


def test_doctor_says_fp32_and_why_without_native_bf16(monkeypatch, capsys):
    rows = _doctor(monkeypatch, capsys, ZEN3)
    assert rows["CPU"] == "AMD EPYC 7R13"
    assert rows["bf16"].startswith("none")
    for key in ("training", "inference"):
        assert "fp32 (no AMX or AVX512-BF16" in rows[key]
    assert "bf16" not in rows["inference"].split("(")[0]
    assert set(rows) >= {"threads", "torch", "CUDA", "MPS", "cores", "vector"}


def test_doctor_is_a_command():
    with pytest.raises(SystemExit) as exit_info:
        main(["doctor", "--bogus"])
    assert exit_info.value.code == 2
