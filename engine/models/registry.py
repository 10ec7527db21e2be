"""How `--model` resolves: a bundled name, a folder, or a Hugging Face id in the local cache.

Weights are found on disk only; nothing is downloaded. A loader is (kind, detect, load): the
first in LOADERS whose `detect(folder)` is true loads the folder.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from engine.devices import resolve_device, small_model_precision
from engine.errors import EngineError, ModelError
from engine.models.base import DiffusionModel
from engine.models.deepfloyd import load_if_model, refuse_upscaler_folder
from engine.models.diffusers_unet import DiffusersUNet, is_unet2d_folder
from engine.models.folders import (
    cached_hub_folder,
    hub_cache_folders,
    is_if_folder,
    is_if_upscaler_folder,
)
from engine.models.mnist import is_mnist_folder, load_mnist_model

RESOURCES = Path(__file__).resolve().parents[2] / "resources" / "models"
BUNDLED = {"mnist": "mnist-class", "mnist-time": "mnist-time", "mnist-denoiser": "mnist-denoiser",
           "emoji": "emoji/IF-I-emoji"}
ALIASES = {"mnist-class": "mnist"}  # the class model's folder name, which About and `models` show
# what to say when a bundled name's folder is absent for a known reason
NOT_BUNDLED_YET = {
    "emoji": ("the emoji model is not bundled yet: it is still being trained (issue 12). Train "
              "one with `python main.py data emoji --out DATA` and `python main.py train "
              "emoji-base --data DATA --out RUN`, then pass --model RUN/pipeline/IF-I-emoji"),
}

Detect = Callable[[Path], bool]
Load = Callable[[Path, torch.device, str], DiffusionModel]


@dataclass(frozen=True)
class Loader:
    kind: str
    detect: Detect
    load: Load


@dataclass(frozen=True)
class FoundModel:
    """A model found on disk (`find_models`), not loaded: the app's loaded model is
    app.session.model_state.ModelState."""

    name: str
    kind: str
    size_bytes: int
    where: Path
    memory_fp16: int | None = None  # IF: accelerator memory estimate at fp16, no offload


LOADERS: list[Loader] = [
    Loader("mnist", is_mnist_folder, load_mnist_model),
    Loader("deepfloyd-if", is_if_folder, load_if_model),
    Loader("deepfloyd-if-upscaler", is_if_upscaler_folder, refuse_upscaler_folder),
    Loader("diffusers-unet", is_unet2d_folder, DiffusersUNet),
]


def bundled_folder(name: str) -> Path:
    return RESOURCES / BUNDLED[name]


def default_model() -> str:
    """The model the app opens on at first start: the emoji cascade where it is bundled (colour
    and words), else the digit model. The command line's --model default stays `mnist`."""
    return "emoji" if bundled_folder("emoji").is_dir() else "mnist"


def resolve_folder(spec: str) -> Path:
    """The folder behind a bundled name, a path, or a cached Hugging Face id."""
    spec = ALIASES.get(spec, spec)
    if spec in BUNDLED:
        folder = bundled_folder(spec)
        if not folder.is_dir() and spec in NOT_BUNDLED_YET:
            raise ModelError(NOT_BUNDLED_YET[spec])
        if not folder.is_dir():
            raise ModelError(f"the bundled model {spec!r} is missing from {folder}; "
                             "reinstall, or train one with `python main.py train`")
        return folder
    path = Path(spec).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelError(f"{spec} is a file; a model is a folder (config.json + weights)")
        return path
    cached = cached_hub_folder(spec)
    if cached is not None:
        return cached
    names = ", ".join(BUNDLED)
    raise ModelError(f"no model {spec!r}: not a bundled name ({names}), not a folder, and not "
                     "in the local Hugging Face cache (nothing is downloaded)")


def kind_of(folder: Path) -> str | None:
    for loader in LOADERS:
        if loader.detect(folder):
            return loader.kind
    return None


# loaders that take the large-model options (dtype, offload)
TAKES_OPTIONS = ("deepfloyd-if", "deepfloyd-if-upscaler")
TAKES_DTYPE = ("mnist",)  # small models: fp32 or bf16 (auto by the CPU), no offload


def small_dtype(dtype: str | None, device: torch.device, lenient: bool) -> str:
    """The small model's dtype; `lenient` (the app's settings): one it cannot run -> auto."""
    if not lenient:
        return small_model_precision(dtype, device)
    try:
        return small_model_precision(dtype, device)
    except EngineError:
        return small_model_precision("auto", device)


def load_model(spec: str, device: str = "auto", dtype: str | None = None,
               offload: str = "none", *, where_they_apply: bool = False) -> DiffusionModel:
    """The model `spec` names, on the device asked for.

    dtype ("auto", "fp32", "fp16", "bf16") and offload ("none", "model", "sequential") apply to
    DeepFloyd IF; dtype applies to the digit models too (auto: bf16 on a CPU with native bf16,
    else fp32). Other models refuse them, or ignore them `where_they_apply` (the app's settings
    hold for whichever model is picked).
    """
    folder = resolve_folder(spec)
    dev = resolve_device(device)
    options = {k: v for k, v in (("dtype", dtype), ("offload", offload))
               if v not in (None, "auto", "none")}
    for loader in LOADERS:
        if loader.detect(folder):
            name = spec if spec in BUNDLED else folder.name
            if loader.kind in TAKES_OPTIONS:
                return loader.load(folder, dev, name, **options)
            if where_they_apply:
                options.clear()
            elif dtype == "fp32" or loader.kind in TAKES_DTYPE:  # the small models' dtypes
                options.pop("dtype", None)
            if options:
                asked = ", ".join(f"--{k} {v}" for k, v in options.items())
                takes = "fp32 or bf16" if loader.kind in TAKES_DTYPE else "fp32"
                raise ModelError(f"{asked} applies to DeepFloyd IF only; {name} is a "
                                 f"{loader.kind} model ({takes}, no offload)")
            if loader.kind in TAKES_DTYPE:
                return loader.load(folder, dev, name, small_dtype(dtype, dev, where_they_apply))
            return loader.load(folder, dev, name)
    _refuse_a_training_run(folder)
    config = folder / "config.json"
    if config.is_file():
        try:
            json.loads(config.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise ModelError(f"{config} is not valid JSON ({error})") from None
        raise ModelError(f"{config} is not the config of a model this app can load (a Part B "
                         "UNet's or a diffusers model's)")
    raise ModelError(f"{folder} is not a model this app can load: no config.json of a Part B "
                     "model, no model_index.json of a diffusers pipeline")


def _refuse_a_training_run(folder: Path) -> None:
    """An emoji training run holds its model in pipeline/: name it rather than call the run's
    config.json unloadable."""
    for stage in ("IF-I-emoji", "IF-II-emoji"):
        if (folder / "pipeline" / stage).is_dir():
            raise ModelError(f"{folder} is an emoji training run; its model is the IF folder "
                             f"inside it: --model {folder / 'pipeline' / stage}")


def folder_size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def find_models() -> list[FoundModel]:
    """Every model found: the bundled ones, then the Hugging Face cache entries."""
    found = []
    for name, sub in BUNDLED.items():
        folder = RESOURCES / sub
        if folder.is_dir():
            found.append(FoundModel(name, kind_of(folder) or "unknown", folder_size(folder),
                                   folder))
    for repo_id, folder in hub_cache_folders():
        kind = kind_of(folder)
        if kind is not None:
            found.append(FoundModel(repo_id, kind, folder_size(folder), folder,
                                   memory_estimate(folder, kind)))
    return found


def memory_estimate(folder: Path, kind: str) -> int | None:
    """fp16 memory for IF folders, from the safetensors headers (no weights read)."""
    if not kind.startswith("deepfloyd-if"):
        return None
    from engine.models.memory import estimate_memory

    try:
        return estimate_memory(folder, torch.float16) or None
    except ModelError:
        return None


REPORT_FROM = 256 * 1024**2  # real IF weights; tiny test models stay quiet


def loading_note(spec: str, device: str = "auto", dtype: str | None = None,
                 offload: str = "none") -> str | None:
    """For DeepFloyd IF with real weights (REPORT_FROM or more): the memory it will need, said
    before loading; the engine lets the model loaded go first for such a load."""
    from engine.models.deepfloyd import resolve_dtype
    from engine.models.memory import describe_bytes, estimate_memory

    try:
        folder = resolve_folder(spec)
        if not is_if_folder(folder):
            return None
        dev = resolve_device(device)
        torch_dtype = resolve_dtype(dev, dtype)
        need = estimate_memory(folder, torch_dtype, offload=offload or "none")
    except EngineError:
        return None
    if need < REPORT_FROM:
        return None
    where = "GPU memory" if dev.type != "cpu" else "memory"
    return (f"loading {folder.name}: needs about {describe_bytes(need)} of {where} "
            f"({str(torch_dtype).removeprefix('torch.')})")
