"""Bundle the two emoji runs as resources/models/emoji/: IF-I-emoji and IF-II-emoji in fp16.

    python -m engine.training.emoji_bundle BASE_RUN UPSCALE_RUN OUT [--data DIR]

Each run's IF folder (pipeline/IF-*-emoji, its EMA weights after the last epoch) is written again
with fp16 safetensors, beside a TRAINING.md that says how it was trained (from the runs'
config.json and loss.csv) and the art's licence notice. Whether a run is good enough to bundle is
decided by the quality benchmarks (issue 12), not by this tool.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from engine.errors import EngineError
from engine.training.emoji_data import LICENCES, licence_text
from engine.training.emoji_train import FOLDERS, export_pipeline, read_record


def _load_if(folder: Path, stage: str):
    from diffusers import UNet2DConditionModel
    from transformers import T5EncoderModel

    if not (folder / "model_index.json").is_file():
        raise EngineError(f"{folder} is missing: the run has not finished an epoch yet")
    unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet", local_files_only=True,
                                                torch_dtype=torch.float32)
    text = (T5EncoderModel.from_pretrained(folder / "text_encoder", local_files_only=True)
            if stage == "base" else None)
    return unet, text


def _record(run: Path) -> dict:
    return read_record(run)


def _commit() -> str:
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=False, cwd=Path(__file__).parent)
        return done.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def training_notes(records: dict[str, dict]) -> str:
    lines = ["# The emoji cascade: how it was trained", "",
             f"Commit of the bundling: {_commit()}; machine: {platform.processor() or 'cpu'} "
             f"({platform.machine()}).", ""]
    for stage, record in records.items():
        config = record.get("config") or {}
        lines += [f"## {FOLDERS[stage]} (`train emoji-{stage}`)", "",
                  f"- command: `python main.py train emoji-{stage} --data DATA --out RUN "
                  f"--threads {config.get('num_threads') or 1}"
                  + (" --text-encoder BASE_RUN/pipeline/IF-I-emoji" if stage == "upscale"
                     else "") + "` (then `--resume`)",
                  f"- shape {config.get('shape')}, batch {config.get('batch_size')}, lr "
                  f"{config.get('lr')} (warm-up {config.get('warmup')} steps), EMA "
                  f"{config.get('ema')}, prompt dropout {config.get('p_uncond')}",
                  f"- epochs {record.get('epochs_done')}, steps {record.get('steps_done')}, mean "
                  f"loss of the last epoch's steps {_loss(record.get('final_loss'))}",
                  f"- {_wall_time(record)}", ""]
    return "\n".join(lines)


def _loss(value: Any) -> str:
    return f"{value:.5f}" if isinstance(value, (int, float)) else "not recorded"


def _wall_time(record: dict) -> str:
    """Training time and hardware as the run's clock recorded them (runs from before the clock:
    counted from the step they were resumed at, which the line says)."""
    seconds = record.get("train_seconds")
    if not isinstance(seconds, (int, float)):
        return "training time: not recorded (the run predates its clock)"
    since = record.get("train_seconds_from_step") or 0
    counted = f", counted from step {since}" if since else ""
    hardware = "; ".join(str(h) for h in record.get("hardware") or []) or "not recorded"
    return f"training time {seconds / 3600:.1f} h{counted}; hardware: {hardware}"


def bundle(base_run: Path, up_run: Path, out: Path) -> list[Path]:
    records = {"base": _record(base_run), "upscale": _record(up_run)}
    written = []
    for stage, run in (("base", base_run), ("upscale", up_run)):
        source = run / "pipeline" / FOLDERS[stage]
        unet, text = _load_if(source, stage)
        hints_path = source / "diffusion_canvas.json"
        notes = json.loads(hints_path.read_text()) if hints_path.is_file() else {}
        notes["storage"] = "float16"
        folder = export_pipeline(stage, unet, out / FOLDERS[stage], text,
                                 source / "tokenizer" if stage == "base" else None,
                                 dtype=torch.float16, notes=notes)
        written.append(folder)
    out.mkdir(parents=True, exist_ok=True)
    (out / "TRAINING.md").write_text(training_notes(records) + "\n", encoding="utf-8")
    (out / LICENCES).write_text(licence_text(), encoding="utf-8")
    for path in out.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return written


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_run", help="the `train emoji-base` folder")
    parser.add_argument("upscale_run", help="the `train emoji-upscale` folder")
    parser.add_argument("out", help="the bundle, e.g. resources/models/emoji")
    args = parser.parse_args(argv)
    try:
        bundle(Path(args.base_run), Path(args.upscale_run), Path(args.out))
    except (EngineError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {args.out} ({folder_bytes(Path(args.out)) / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
