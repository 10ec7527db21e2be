"""Model folders on disk: their JSON files, the diffusers IF pipeline layout and its UNet, and
the local Hugging Face cache.

The pieces the registry and both IF stages share, kept below all three so that none of them
imports another to find a folder (issue 13: the registry <-> deepfloyd import cycle).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from engine.errors import ModelError
from engine.models.memory import OffloadGroup, translate_oom

IF_PIPELINES = ("IFPipeline", "IFImg2ImgPipeline", "IFInpaintingPipeline")
IF_UPSCALE_PIPELINES = ("IFSuperResolutionPipeline", "IFImg2ImgSuperResolutionPipeline",
                        "IFInpaintingSuperResolutionPipeline")
WEIGHT_NAMES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin",
                "diffusion_pytorch_model.fp16.safetensors", "diffusion_pytorch_model.fp16.bin",
                "diffusion_pytorch_model.safetensors.index.json",
                "diffusion_pytorch_model.fp16.safetensors.index.json")


def read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ModelError(f"{path} cannot be read ({error})") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path} is not a JSON object")
    return data


def pipeline_class(folder: Path) -> str | None:
    index = folder / "model_index.json"
    if not index.is_file():
        return None
    try:
        name = json.loads(index.read_text()).get("_class_name")
    except (OSError, ValueError, AttributeError):
        return None
    return name if isinstance(name, str) else None


def is_if_folder(folder: Path) -> bool:
    return pipeline_class(folder) in IF_PIPELINES


def is_if_upscaler_folder(folder: Path) -> bool:
    return pipeline_class(folder) in IF_UPSCALE_PIPELINES


def missing_pieces(folder: Path, schedulers: tuple[str, ...] = ("scheduler",)) -> list[str]:
    """The files a complete IF folder has and this one lacks, relative to the folder."""
    missing = [] if (folder / "model_index.json").is_file() else ["model_index.json"]
    if not (folder / "unet" / "config.json").is_file():
        missing.append("unet/config.json")
    if not any((folder / "unet" / name).is_file() for name in WEIGHT_NAMES):
        missing.append("unet/diffusion_pytorch_model.safetensors (the UNet weights)")
    missing += [f"{s}/scheduler_config.json" for s in schedulers
                if not (folder / s / "scheduler_config.json").is_file()]
    return missing


def check_complete(folder: Path, what: str, schedulers: tuple[str, ...] = ("scheduler",)
                   ) -> None:
    missing = missing_pieces(folder, schedulers)
    if missing:
        raise ModelError(f"{folder} is not a complete {what} folder: it has no "
                         f"{', '.join(missing)}; download the whole repository again")


def weights_variant(unet_folder: Path, dtype: torch.dtype) -> str | None:
    has_fp16 = any(unet_folder.glob("*.fp16.safetensors")) or any(unet_folder.glob("*.fp16.bin"))
    has_full = any(p for p in unet_folder.glob("diffusion_pytorch_model.*")
                   if ".fp16." not in p.name)
    if has_fp16 and (dtype == torch.float16 or not has_full):
        return "fp16"
    return None


def load_unet(folder: Path, dtype: torch.dtype, device: torch.device,
              group: OffloadGroup | None = None, name: str = "IF"):
    from diffusers import UNet2DConditionModel

    unet_folder = folder / "unet"
    if not (unet_folder / "config.json").is_file():
        raise ModelError(f"{folder} has no unet/config.json: it is not a complete IF folder")
    group = group or OffloadGroup(device)
    try:
        with translate_oom(name, device, dtype, group.mode):
            unet = UNet2DConditionModel.from_pretrained(
                folder, subfolder="unet", torch_dtype=dtype, local_files_only=True,
                variant=weights_variant(unet_folder, dtype), use_safetensors=None)
            return group.place(unet).eval()
    except (OSError, ValueError, RuntimeError) as error:
        raise ModelError(f"the IF UNet in {unet_folder} cannot be loaded: "
                         f"{str(error).splitlines()[0][:300]}") from None


def hub_cache_root() -> Path:
    """The Hugging Face cache, read from the environment at call time."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME", os.path.join(os.path.expanduser("~"), ".cache", "huggingface"))
    return Path(home) / "hub"


def cached_hub_folder(repo_id: str) -> Path | None:
    if repo_id.count("/") != 1:
        return None
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id, local_files_only=True,
                                      cache_dir=hub_cache_root()))
    except Exception:  # noqa: BLE001 - any failure means "not in the cache"
        return None


def hub_cache_folders() -> list[tuple[str, Path]]:
    """(repo id, snapshot folder) for each model in the local Hugging Face cache."""
    root = hub_cache_root()
    found = []
    for repo in sorted(root.glob("models--*")):
        snapshots = sorted((repo / "snapshots").glob("*"), key=lambda p: p.stat().st_mtime)
        if snapshots:
            found.append((repo.name[len("models--"):].replace("--", "/"), snapshots[-1]))
    return found


HINTS = "diffusion_canvas.json"


def read_hints(folder: Path) -> dict:
    """An IF folder's optional adapter hints (our own trained folders write them):
    default_prompt, default_guidance, default_steps (stage II), and `words`, the vocabulary
    its prompts were trained on. Absent or unreadable: {} and IF's defaults."""
    path = folder / HINTS
    if not path.is_file():
        return {}
    try:
        hints = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return hints if isinstance(hints, dict) else {}
