"""Carry an emoji training run to another machine in a small folder that git can hold.

A run's training state is four copies of its weights in fp32 (the model, its EMA and AdamW's two
moments): about 220 MB for stage I. What a new machine needs to go on is much less:

    python -m engine.training.emoji_carry pack RUN CARRY     # on the old machine
    python -m engine.training.emoji_carry unpack CARRY RUN   # on the new one, then
    python main.py train emoji-base --out RUN --data DATA --resume

CARRY holds carry.json (the step, the run's settings and config.json, its clock), the EMA weights
in fp16 (ema.safetensors), the loss history (losses.safetensors) and, for stage I, the tokenizer;
for stage II, the stage I text encoder and tokenizer it is trained on (stage1-text/).
`unpack` makes a run folder that `--resume` continues at the same step: the model and its EMA both
start from the carried EMA weights, AdamW from fresh moments, and the learning rate warms up again
over the run's warm-up steps from that step (`rewarm_from`), since fresh moments make Adam's first
updates full-sized. So a carried run is not bit-identical to one that never moved; its step count,
loss history, sample grids and clock go on as one run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import torch

from engine.errors import CheckpointError, EngineError
from engine.training import checkpoint as ckpt
from engine.training.emoji_data import LICENCES, licence_text

FORMAT = "diffusion-canvas-emoji-carry/1"
CARRY = "carry.json"
EMA_FILE = "ema.safetensors"
LOSSES_FILE = "losses.safetensors"
STAGE1_TEXT = "stage1-text"  # a stage II carry's frozen text encoder and tokenizer (~3 MB)


def pack(run: str | Path, carry: str | Path) -> Path:
    """Write the carry folder of the emoji run in `run` (its last saved state) to `carry`."""
    run, carry = Path(run), Path(carry)
    state = _run_state(run)
    record = json.loads((run / ckpt.CONFIG).read_text(encoding="utf-8")) if (
        run / ckpt.CONFIG).is_file() else {}
    if carry.exists() and any(carry.iterdir()):
        if not (carry / CARRY).is_file():
            raise CheckpointError(f"{carry} is not empty and is not a carry folder: choose "
                                  "another place")
        shutil.rmtree(carry)
    carry.mkdir(parents=True, exist_ok=True)
    ema = state["ema"]
    ckpt.save_weights(ema["shadow"], carry / EMA_FILE, dtype=torch.float16)
    _save_losses(state["losses"], carry / LOSSES_FILE)
    if (run / "tokenizer" / "spiece.model").is_file():
        shutil.copytree(run / "tokenizer", carry / "tokenizer")
    _carry_text_encoder(state["settings"], carry)
    info = {"format": FORMAT, "stage": state["settings"].get("stage"), "step": state["step"],
            "ema_decay": ema["decay"], "ema_updates": ema["updates"],
            "settings": state["settings"], "clock": state.get("clock"), "record": record}
    ckpt.atomic_write(carry / CARRY, ckpt.config_writer(info))
    _write_readme(carry, info, state["losses"])
    ckpt.atomic_write(carry / LICENCES,  # the weights learnt from the art
                      lambda tmp: Path(tmp).write_text(licence_text(), "utf-8"))
    return carry


def _carry_text_encoder(settings: dict[str, Any], carry: Path) -> None:
    """A stage II run's stage I text encoder travels with it: the run cannot go on without the
    encoder it was trained on, and stage I's own folder may not come along."""
    folder = Path(settings.get("text_encoder") or "").expanduser()
    if settings.get("stage") != "upscale" or not _is_text_folder(folder):
        return
    for part in ("text_encoder", "tokenizer"):
        shutil.copytree(folder / part, carry / STAGE1_TEXT / part)


def _is_text_folder(folder: Path) -> bool:
    return (folder / "text_encoder" / "config.json").is_file() and (folder / "tokenizer").is_dir()


def _write_readme(carry: Path, info: dict[str, Any], losses: list[list[float]]) -> None:
    """README.md of a carry folder: what it is, where the run stands, how to go on."""
    kind = f"emoji-{info['stage']}"
    recent = [row[0] for row in losses[-100:]]
    loss = f"{sum(recent) / len(recent):.4f}" if recent else "n/a"
    hours = float((info.get("clock") or {}).get("train_seconds", 0.0)) / 3600
    hardware = "; ".join((info.get("clock") or {}).get("hardware", [])) or "not recorded"
    text = (f"# An {kind} training run in progress, carried between machines\n\n"
            f"Not a model the app offers: the run's state at step {info['step']:,} (mean loss of "
            f"the last 100 steps {loss}; {hours:.1f} h of training on {hardware}), small enough "
            "for git: its EMA weights in fp16, its loss history, settings, clock and tokenizer "
            "(engine/training/emoji_carry.py says what is left behind). To go on with it:\n\n"
            f"    python -m engine.training.emoji_carry unpack {carry.as_posix()} RUN\n"
            f"    python main.py train {kind} --out RUN --data DATA --resume\n\n"
            "DATA is the set `python main.py data emoji --out DATA` prepares (the run checks it "
            "holds the same images). The weights learnt from emoji art whose licence notices "
            "are in LICENSES.md.\n")
    if (carry / STAGE1_TEXT).is_dir():
        text += (f"\nThe stage I text encoder this run is trained on travels in {STAGE1_TEXT}/ and "
                 "is unpacked with it; `unpack ... --text-encoder DIR` names another stage I "
                 "folder instead.\n")
    ckpt.atomic_write(carry / "README.md", lambda tmp: Path(tmp).write_text(text, "utf-8"))


def unpack(carry: str | Path, run: str | Path, text_encoder: str | Path | None = None) -> Path:
    """Make `run` (absent or empty) a run folder that `train ... --resume` continues. A stage II
    run names its stage I folder by path; `text_encoder` is where that folder lies now."""
    carry, run = Path(carry), Path(run)
    info = read_carry(carry)
    if run.exists() and any(run.iterdir()):
        raise CheckpointError(f"{run} is not empty: unpack into a new folder")
    if text_encoder is None and _is_text_folder(carry / STAGE1_TEXT):
        text_encoder = run / STAGE1_TEXT  # the carried copy, unpacked with the run
        shutil.copytree(carry / STAGE1_TEXT, text_encoder)
    info["settings"] = _moved_text_encoder(info, text_encoder)
    shadow, _ = ckpt.load_weights(carry / EMA_FILE)
    losses = _load_losses(carry / LOSSES_FILE, info["step"])
    settings = dict(info["settings"]) | {"rewarm_from": info["step"]}
    state = {"epoch": None, "step": info["step"], "model": shadow,
             "ema": {"decay": info["ema_decay"], "updates": info["ema_updates"],
                     "shadow": shadow},
             "optimizer": None, "settings": settings, "losses": losses, "clock": info["clock"]}
    run.mkdir(parents=True, exist_ok=True)
    if (carry / "tokenizer").is_dir():
        shutil.copytree(carry / "tokenizer", run / "tokenizer")
    record = info["record"] or None
    if record is not None:
        record = record | {"training": settings}
    ckpt.save_checkpoint(run, weights=shadow if record else None, config=record, state=state,
                         weights_metadata={"kind": f"emoji-{info['stage']}",
                                           "step": info["step"]})
    return run


def _moved_text_encoder(info: dict[str, Any], text_encoder: str | Path | None) -> dict:
    """The carried settings, a stage II run's text encoder at its path on this machine."""
    settings = dict(info["settings"])
    if info.get("stage") != "upscale":
        if text_encoder is not None:
            raise CheckpointError("--text-encoder applies to a carried emoji-upscale run")
        return settings
    folder = Path(text_encoder or settings.get("text_encoder") or "").expanduser()
    if not (folder / "text_encoder" / "config.json").is_file():
        raise CheckpointError(f"this stage II run was trained on the stage I folder "
                              f"{settings.get('text_encoder')}, which is not here: name where it "
                              "lies now with --text-encoder DIR")
    settings["text_encoder"] = str(folder.resolve())
    if isinstance(info.get("record"), dict) and isinstance(info["record"].get("config"), dict):
        info["record"]["config"]["text_encoder"] = settings["text_encoder"]
    return settings


def read_carry(carry: Path) -> dict[str, Any]:
    """carry.json of a carry folder, checked; CheckpointError naming what is wrong."""
    path = carry / CARRY
    if not path.is_file():
        raise CheckpointError(f"{carry} is not a carry folder ({CARRY} is missing)")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path} is corrupt ({error})") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a Diffusion Canvas carry file ({FORMAT})")
    for key, kind in (("step", int), ("ema_updates", int), ("ema_decay", float),
                      ("settings", dict)):
        if not isinstance(info.get(key), kind) or isinstance(info.get(key), bool):
            raise CheckpointError(f"{path}: {key} is missing or not a {kind.__name__}")
    for name in (EMA_FILE, LOSSES_FILE):
        if not (carry / name).is_file():
            raise CheckpointError(f"{carry} has no {name}: the carry folder is incomplete")
    return info


def _run_state(run: Path) -> dict[str, Any]:
    state = ckpt.load_training_state(run)  # one clear message where there is none
    for key in ("ema", "settings", "losses", "step"):
        if key not in state:
            raise CheckpointError(f"{run / ckpt.STATE} is not an emoji run's state (no {key})")
    if state["settings"].get("stage") not in ("base", "upscale"):
        raise CheckpointError(f"{run} is not an emoji-base or emoji-upscale run")
    return state


def _save_losses(losses: list[list[float]], path: Path) -> None:
    from safetensors.torch import save_file

    table = torch.tensor(losses, dtype=torch.float64).reshape(len(losses), -1)
    ckpt.atomic_write(path, lambda tmp: save_file({"losses": table}, tmp))


def _load_losses(path: Path, steps: int) -> list[list[float]]:
    from safetensors.torch import load_file

    try:
        table = load_file(str(path))["losses"]
    except Exception as error:  # noqa: BLE001 - any unreadable file is the same message
        raise CheckpointError(f"{path} is not a readable loss history ({error})") from None
    if table.ndim != 2 or table.shape[0] != steps:
        raise CheckpointError(f"{path} holds {table.shape[0]} steps of losses, but the carry "
                              f"is at step {steps}")
    return table.tolist()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.training.emoji_carry",
                                     description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    p = sub.add_parser("pack", help="RUN -> CARRY: the run's last state, small")
    p.add_argument("run")
    p.add_argument("carry")
    u = sub.add_parser("unpack", help="CARRY -> RUN: a run folder that --resume continues")
    u.add_argument("carry")
    u.add_argument("run")
    u.add_argument("--text-encoder", metavar="DIR",
                   help="a stage II run: where its stage I folder lies on this machine")
    args = parser.parse_args(argv)
    try:
        if args.verb == "pack":
            out = pack(args.run, args.carry)
            size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
            print(f"packed {args.run} into {out} ({size / 1e6:.1f} MB)")
        else:
            out = unpack(args.carry, args.run, args.text_encoder)
            print(f"unpacked {args.carry} into {out}; continue it with: python main.py train "
                  f"emoji-{read_carry(Path(args.carry))['stage']} --out {out} --data DATA "
                  "--resume")
    except EngineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
