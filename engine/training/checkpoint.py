"""Checkpoint folders: `model.safetensors` + `config.json` (+ `training_state.pt` while training).

- model.safetensors: the UNet's state dict (fp32, or fp16 for bundling; loads back as fp32). Its
  metadata holds the kind, width and epoch, so a stray file from another run is caught.
- config.json: kind, hidden, num_timesteps (300), convention "ddpm", time_input "t/T", sigma for
  the denoiser, the training settings, epochs_done, final_loss.
- training_state.pt: optimizer, LR scheduler, RNG states, epoch, loss history; plain tensors,
  dicts, lists and numbers, so it loads with torch.load(..., weights_only=True). A mid-epoch save
  (train.py, every 10 min) writes only this file, with `step` > 0 and the weights inside it.
  It is deleted when the run finishes.
- checkpoint.json: the manifest of the last checkpoint: the SHA-256 of every file it wrote (so
  bytes damaged after saving are caught on load) and its epoch and step.

A checkpoint is one atomic unit (`save_checkpoint`): its files are written into a fresh folder
`.checkpoint.staging/` beside them, with the manifest last and everything synced; renaming that
folder to `.checkpoint.pending/` is the commit point; the files are then moved into place one by
one and the folder removed. `recover` (run before every save and every resume; not by
load_model, which may read a folder that a running training is saving into) finishes a commit
that a kill interrupted after its commit point and drops a staging folder from before it, so a
kill at any instant leaves the previous checkpoint or the new one, never a mix.
Single files outside a checkpoint (`save_weights`, `write_config`, ...) are written to a
temporary name and moved into place with os.replace.
"""


from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import shutil
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.errors import CheckpointError, short_reason
from engine.files import replacing

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
STATE = "training_state.pt"
MANIFEST = "checkpoint.json"
STAGING = ".checkpoint.staging"
PENDING = ".checkpoint.pending"
FORMAT = "diffusion-canvas-partb/1"
MANIFEST_FORMAT = "diffusion-canvas-checkpoint/1"

Writer = Callable[[str], None]  # writes one file at the path it is given

# Tests set this to a function of the step's name ("staged model.safetensors", "committed",
# "moved config.json", ...) that raises, to stop a save at that exact point as a kill would.
fault: Callable[[str], None] | None = None
_TEMP = re.compile(r"^\..+\.[0-9a-f]{8}\.tmp$")  # engine.files.replacing's temporaries


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Call write(temp_path) on a temporary file beside `path`, then move it into place. When
    the folder's manifest lists the file, its checksum there is brought up to date."""
    with replacing(path) as tmp:
        write(str(tmp))
    _update_manifest_entry(Path(path))


def _update_manifest_entry(path: Path) -> None:
    manifest_path = path.parent / MANIFEST
    if path.name == MANIFEST or not manifest_path.is_file():
        return
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if path.name not in manifest.get("files", {}):
            return
    except (OSError, ValueError, AttributeError):
        return  # a damaged manifest is reported when it is read
    manifest["files"][path.name] = file_digest(path)
    text = json.dumps(manifest, indent=1) + "\n"
    with replacing(manifest_path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def save_weights(model_or_state: nn.Module | dict, path: str | os.PathLike,
                 dtype: torch.dtype | None = None, metadata: dict[str, Any] | None = None) -> None:
    """The model's state dict as safetensors; dtype=torch.float16 halves the file for bundling.

    Only floating tensors are cast (BatchNorm's num_batches_tracked stays int64).
    """
    atomic_write(path, weights_writer(model_or_state, dtype, metadata))


def weights_writer(model_or_state: nn.Module | dict, dtype: torch.dtype | None = None,
                   metadata: dict[str, Any] | None = None) -> Writer:
    """A Writer of the safetensors file save_weights writes (the tensors copied now)."""
    from safetensors.torch import save_file

    state = model_or_state.state_dict() if isinstance(model_or_state, nn.Module) else model_or_state
    tensors = {}
    for name, tensor in state.items():
        tensor = tensor.detach().to("cpu")
        if dtype is not None and tensor.is_floating_point():
            tensor = tensor.to(dtype)
        tensors[name] = tensor.contiguous()
    meta = {"format": FORMAT}
    meta.update({k: str(v) for k, v in (metadata or {}).items()})
    return lambda tmp: save_file(tensors, tmp, metadata=meta)


def load_weights(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(state dict in fp32, metadata); CheckpointError if missing or unreadable."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} is missing")
    try:
        tensors = {}
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = dict(f.metadata() or {})
            for name in f.keys():  # noqa: SIM118 (safe_open is not a dict)
                tensors[name] = f.get_tensor(name)
    except Exception as error:
        raise CheckpointError(f"{path} is not a readable safetensors file (corrupt or truncated: "
                              f"{_short(error)})") from None
    check_finite(tensors.items(), path)
    return {k: (v.float() if v.is_floating_point() else v) for k, v in tensors.items()}, metadata


def write_config(out_dir: str | os.PathLike, config: dict[str, Any]) -> None:
    atomic_write(Path(out_dir) / CONFIG, config_writer(config))


def config_writer(config: dict[str, Any]) -> Writer:
    """A Writer of config.json; ValueError for a value JSON cannot hold (NaN, a tensor)."""
    text = json.dumps(config, indent=2, sort_keys=False, allow_nan=False) + "\n"

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    return write


def read_config(out_dir: str | os.PathLike) -> dict[str, Any]:
    path = Path(out_dir) / CONFIG
    if not path.is_file():
        raise CheckpointError(f"{out_dir} holds no checkpoint ({CONFIG} is missing)")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path} is corrupt ({_short(error)})") from None
    if not isinstance(config, dict) or "kind" not in config or "hidden" not in config:
        raise CheckpointError(f"{path} is not a Diffusion Canvas Part B model config")
    for key, most in (("hidden", 1024), ("num_timesteps", 100_000)):
        value = config.get(key, 1)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= most:
            raise CheckpointError(f"{path}: {key} must be a whole number from 1 to {most}, not "
                                  f"{value!r}")
    return config


def save_training_state(out_dir: str | os.PathLike, state: dict[str, Any]) -> None:
    """training_state.pt alone, as a checkpoint of its own (the manifest keeps the others)."""
    save_checkpoint(out_dir, state=state)


def state_writer(state: dict[str, Any]) -> Writer:
    return lambda tmp: torch.save(state, tmp)


def load_training_state(out_dir: str | os.PathLike) -> dict[str, Any]:
    path = Path(out_dir) / STATE
    if not path.is_file():
        raise CheckpointError(f"{out_dir} has no {STATE}: nothing to resume")
    verify(out_dir, STATE)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(f"{path} is corrupt or not a training state ({_short(error)})"
                              ) from None
    if not isinstance(state, dict) or "epoch" not in state or "optimizer" not in state:
        raise CheckpointError(f"{path} is not a Diffusion Canvas training state")
    check_finite(tensors_in({k: v for k, v in state.items() if k != "rng"}), path)
    return state


def saved_settings(out_dir: str | os.PathLike) -> dict[str, Any]:
    """The training settings of the run in `out_dir` (its config, or its state file when it
    stopped inside the first epoch), for a resume to take; {} when there is none to read (a
    broken checkpoint is reported by the resume itself)."""
    out_dir = Path(out_dir)
    try:
        if (out_dir / CONFIG).is_file():
            return dict(read_config(out_dir).get("training") or {})
        if (out_dir / STATE).is_file():
            return dict(load_training_state(out_dir).get("settings") or {})
    except Exception:  # noqa: BLE001 - any failure here is the resume's to report
        pass
    return {}


def load_model(out_dir: str | os.PathLike, device: str | torch.device = "cpu"
               ) -> tuple[nn.Module, dict[str, Any]]:
    """(UNet in eval mode, fp32, on device; its config) from a checkpoint folder."""
    from engine.training.unets import KINDS, build_unet

    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise CheckpointError(f"{out_dir}: no such checkpoint folder")
    config = read_config(out_dir)  # no recover() here: a run may be saving into this folder
    kind, hidden = config.get("kind"), config.get("hidden")
    if kind not in KINDS or not isinstance(hidden, int) or hidden < 1:
        raise CheckpointError(f"{out_dir / CONFIG}: unknown model kind {kind!r} / width {hidden!r}")
    verify(out_dir, WEIGHTS)
    state, meta = load_weights(out_dir / WEIGHTS)
    if meta.get("kind", kind) != kind or meta.get("hidden", str(hidden)) != str(hidden):
        raise CheckpointError(
            f"{out_dir}: {WEIGHTS} is a {meta.get('kind')} model of width {meta.get('hidden')}, "
            f"but {CONFIG} says {kind} of width {hidden}")
    model = build_unet(kind, hidden)
    load_state_into(model, state, out_dir / WEIGHTS)
    return model.to(device).eval(), config


def load_state_into(model: nn.Module, state: dict[str, torch.Tensor], where: Path | str,
                    what: str | None = None) -> None:
    """load_state_dict with one clear CheckpointError for missing, extra or mis-shaped tensors
    (`what` names the model; a Part B UNet's kind and width by default)."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or extra or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if extra:
            parts.append(f"{len(extra)} unexpected (e.g. {extra[0]})")
        if shapes:
            k = shapes[0]
            parts.append(f"{len(shapes)} of another shape (e.g. {k}: "
                         f"{tuple(state[k].shape)} vs {tuple(own[k].shape)})")
        what = what or (f"{getattr(model, 'kind', '?')} UNet of width "
                        f"{getattr(model, 'hidden', '?')}")
        raise CheckpointError(f"{where} does not match a {what}: " + "; ".join(parts))
    model.load_state_dict(state)



# ----------------------------------------------------------------------------------------------
# a checkpoint as one atomic unit


def setting_differences(saved: dict[str, Any], now: dict[str, Any], keys: Iterable[str]
                        ) -> list[str]:
    """What a resume would change, one "key saved vs now" text each. Floats equal to 1e-9 are
    the same; a training set ("data": source and fingerprint) with the same fingerprint is the
    same images, wherever it now lies."""
    diffs = []
    for key in keys:
        a, b = saved.get(key), now.get(key)
        if isinstance(a, float) and isinstance(b, float) and math.isclose(a, b, rel_tol=1e-9):
            continue
        if (key == "data" and isinstance(a, dict) and isinstance(b, dict)
                and a.get("fingerprint") == b.get("fingerprint")):
            continue
        if a != b:
            if key == "data":
                a, b = (f"{v.get('source')} [{v.get('fingerprint')}]" if isinstance(v, dict)
                        else v for v in (a, b))
            diffs.append(f"{key.replace('_', '-')} {a} (saved) vs {b} (now)")
    return diffs


def resume_state(out_dir: str | os.PathLike, settings: dict[str, Any], keys: Iterable[str],
                 model: nn.Module, optimizer: torch.optim.Optimizer, what: str = "model",
                 saved_defaults: dict[str, Any] | None = None, **others: Any) -> dict[str, Any]:
    """The training state in `out_dir`, refused when its `keys` of the settings differ from
    this run's `settings`; its "model" and "optimizer" loaded into `model` and `optimizer`, and
    each of `others` (state key -> object with load_state_dict) from its own key. A state that
    does not fit is one CheckpointError naming `what` it does not fit. `saved_defaults` are the
    values of settings added since a run was saved, as it trained with them."""
    out_dir = Path(out_dir)
    state = load_training_state(out_dir)
    saved = (saved_defaults or {}) | (state.get("settings") or {})
    diffs = setting_differences(saved, settings, keys)
    if diffs:
        raise CheckpointError(f"cannot resume {out_dir}: the settings differ from the saved "
                              f"run's: {'; '.join(diffs)}")
    try:
        load_state_into(model, state["model"], out_dir / STATE)
        if state["optimizer"] is not None:  # None: a carried run's fresh moments (emoji_carry)
            optimizer.load_state_dict(state["optimizer"])
        for key, target in others.items():
            target.load_state_dict(state[key])
    except (KeyError, ValueError, RuntimeError) as error:
        raise CheckpointError(f"{out_dir / STATE} does not fit this {what} ({error})") from None
    return state


def holds_state(out_dir: str | os.PathLike, resume: bool) -> bool:
    """Whether `out_dir` holds a training state; with `resume`, a save a kill cut short there is
    first finished or dropped (recover), never half there."""
    if resume:
        recover(out_dir)
    return (Path(out_dir) / STATE).exists()


def optimizer_to(optimizer: torch.optim.Optimizer, device: torch.device | str) -> None:
    """The optimizer's state tensors (a resume loads them on the CPU) moved to `device`; the
    step counts stay where they are."""
    for group_state in optimizer.state.values():
        for key, value in group_state.items():
            if torch.is_tensor(value) and key != "step":
                group_state[key] = value.to(device)


def to_cpu(value: Any) -> Any:
    """Tensors in nested dicts and lists, detached and on the CPU (what a state file holds)."""
    if torch.is_tensor(value):
        return value.detach().to("cpu")
    if isinstance(value, dict):
        return {k: to_cpu(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_cpu(v) for v in value]
    return value


def save_checkpoint(out_dir: str | os.PathLike, *, weights: nn.Module | dict | None = None,
                    weights_metadata: dict[str, Any] | None = None,
                    config: dict[str, Any] | None = None, state: dict[str, Any] | None = None,
                    files: Mapping[str, Writer] | None = None, remove: Iterable[str] = (),
                    info: dict[str, Any] | None = None) -> None:
    """Writes model.safetensors, config.json, training_state.pt (those given) and `files` (name
    -> Writer) as one unit, and deletes the files named in `remove` with it: after a kill at any
    instant the folder holds the previous checkpoint or this one. Files left out are kept as
    they were (their checksums stay in the manifest). `info` goes into the manifest."""
    writers: dict[str, Writer] = {}
    if weights is not None:
        writers[WEIGHTS] = weights_writer(weights, metadata=weights_metadata)
    if state is not None:
        writers[STATE] = state_writer(state)
    writers.update(files or {})
    if config is not None:
        writers[CONFIG] = config_writer(config)
    commit(out_dir, writers, remove, info)


def commit(out_dir: str | os.PathLike, writers: Mapping[str, Writer], remove: Iterable[str] = (),
           info: dict[str, Any] | None = None) -> None:
    """The unit behind save_checkpoint: stage every file, commit by one rename, move in place."""
    out_dir = Path(out_dir)
    remove = sorted(set(remove) - set(writers))
    for name in [*writers, *remove]:
        if name in (MANIFEST, STAGING, PENDING) or Path(name).name != name:
            raise ValueError(f"{name!r} cannot be part of a checkpoint")
    out_dir.mkdir(parents=True, exist_ok=True)
    recover(out_dir)
    staging = out_dir / STAGING
    staging.mkdir()
    sums = {k: v for k, v in read_manifest(out_dir).get("files", {}).items()
            if k not in remove and k not in writers and (out_dir / k).is_file()}
    for name, write in writers.items():
        path = staging / name
        write(str(path))
        os.chmod(path, 0o644)  # safetensors creates files readable by their owner only
        _fsync(path)
        sums[name] = file_digest(path)
        _fault_point(f"staged {name}")
    manifest = dict(info or {}, format=MANIFEST_FORMAT, files=sums, remove=remove)
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    _fsync(staging / MANIFEST)
    _fsync(staging)
    _fault_point("staged manifest")
    os.rename(staging, out_dir / PENDING)  # the commit point
    _fsync(out_dir)
    _fault_point("committed")
    _roll_forward(out_dir)


def recover(out_dir: str | os.PathLike) -> str | None:
    """Brings a folder an interrupted save left back to one checkpoint: a committed save is
    finished, an uncommitted one dropped, stale temporaries removed. Says what it did (or None).
    OSError if the folder cannot be written."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return None
    done = None
    if (out_dir / STAGING).exists():
        shutil.rmtree(out_dir / STAGING)
        done = "dropped a checkpoint that was being written when the run stopped"
    if (out_dir / PENDING).exists():
        _roll_forward(out_dir)
        done = "finished saving the checkpoint that was being moved into place"
    for path in out_dir.iterdir():
        if _TEMP.match(path.name) and path.is_file():
            path.unlink(missing_ok=True)
    return done


def read_manifest(out_dir: str | os.PathLike) -> dict[str, Any]:
    """checkpoint.json, or {} when there is none (a folder from before manifests, a bundle)."""
    path = Path(out_dir) / MANIFEST
    if not path.is_file():
        return {}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path} is corrupt ({_short(error)})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files", {}), dict):
        raise CheckpointError(f"{path} is not a checkpoint manifest")
    return manifest


def verify(out_dir: str | os.PathLike, *names: str) -> None:
    """CheckpointError if a named file differs from the checksum the manifest holds for it."""
    out_dir = Path(out_dir)
    sums = read_manifest(out_dir).get("files", {})
    for name in names:
        path = out_dir / name
        if name in sums and path.is_file() and file_digest(path) != sums[name]:
            raise CheckpointError(f"{path} was changed or damaged after it was saved (its "
                                  f"checksum differs from {MANIFEST}'s)")


def file_digest(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _roll_forward(out_dir: Path) -> None:
    pending = out_dir / PENDING
    manifest_path = pending / MANIFEST
    if manifest_path.is_file():  # else every file, the manifest last, was moved already
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        for name in manifest.get("files", {}):
            if (pending / name).is_file():
                os.replace(pending / name, out_dir / name)
                _fault_point(f"moved {name}")
        for name in manifest.get("remove", []):
            (out_dir / name).unlink(missing_ok=True)
        os.replace(manifest_path, out_dir / MANIFEST)
        _fsync(out_dir)
        _fault_point(f"moved {MANIFEST}")
    shutil.rmtree(pending)


def _fsync(path: Path) -> None:
    """Flushes a file, or a folder's entries, to the disk (folders: where the OS allows it)."""
    flags = os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() and hasattr(os, "O_DIRECTORY") else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if path.is_dir():
            return  # Windows cannot open a folder
        raise
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def _fault_point(step: str) -> None:
    if fault is not None:
        fault(step)


def check_finite(tensors: Iterable[tuple[str, Any]], where: Path | str) -> None:
    """CheckpointError naming the first floating tensor holding NaN or infinity."""
    for name, value in tensors:
        if torch.is_tensor(value) and value.is_floating_point() and value.numel() \
                and not bool(torch.isfinite(value).all()):
            raise CheckpointError(f"{where} holds non-finite values (NaN or infinity) in "
                                  f"{name}: it is damaged, or the run diverged before it saved")


def tensors_in(value: Any, prefix: str = "") -> Iterable[tuple[str, Any]]:
    """(dotted name, tensor) for every tensor inside nested dicts and lists."""
    if torch.is_tensor(value):
        yield prefix or "tensor", value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from tensors_in(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from tensors_in(item, f"{prefix}[{index}]")


def _short(error: BaseException) -> str:
    return short_reason(error)
