"""IF's T5 text encoder: prompt -> [n, 77, d] embeddings, loaded on first use only.

As diffusers' IF pipelines: lower-cased, stripped text, padded to 77 tokens with truncation, the
attention mask passed to the encoder. Files come from the IF folder's text_encoder/ and
tokenizer/ (local files only).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import torch

from engine.errors import ModelError, PromptError
from engine.files import replacing
from engine.models.memory import OffloadGroup, translate_oom

MAX_TOKENS = 77


def preprocess(prompt: str) -> str:
    return prompt.lower().strip()


def check_tokenizer_packages(folder: Path) -> None:
    """IF's tokenizer is a sentencepiece file (no tokenizer.json): reading it needs two
    packages, and without them transformers fails with an unrelated message."""
    if (folder / "tokenizer.json").is_file():
        return
    missing = [name for name, module in (("sentencepiece", "sentencepiece"),
                                         ("protobuf", "google.protobuf"))
               if not _importable(module)]
    if missing:
        raise ModelError(f"IF's tokenizer ({folder}) needs {' and '.join(missing)}: "
                         f"pip install {' '.join(missing)}")


def _importable(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # the parent package is missing
        return False


class T5PromptEncoder:
    def __init__(self, folder: Path, device: torch.device, dtype: torch.dtype,
                 offload: OffloadGroup | None = None, name: str = "IF") -> None:
        self.folder = Path(folder)
        self.device = device
        self.dtype = dtype
        self.offload = offload or OffloadGroup(device)
        self.name = name
        self.model = None
        self.tokenizer = None
        self._lock = threading.Lock()  # two threads asking at once load it once

    def load(self) -> None:
        with self._lock:
            if self.model is None:
                self._load()

    def _load(self) -> None:
        missing = [p for p in ("text_encoder/config.json", "tokenizer")
                   if not (self.folder / p).exists()]
        if missing:
            raise ModelError(f"{self.folder} has no T5 encoder: missing {', '.join(missing)} "
                             "(use the course's embeddings file with --prompts instead)")
        check_tokenizer_packages(self.folder / "tokenizer")
        from transformers import AutoTokenizer, T5EncoderModel

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.folder / "tokenizer",
                                                           local_files_only=True)
            with translate_oom(f"{self.name}'s T5 encoder", self.device, self.dtype,
                               self.offload.mode):
                model = T5EncoderModel.from_pretrained(self.folder / "text_encoder",
                                                       torch_dtype=self.dtype,
                                                       local_files_only=True)
                self.model = self.offload.place(model).eval()
        except ImportError as error:
            raise ModelError(f"IF's tokenizer needs a package that is missing ({error}); "
                             "install it with pip install sentencepiece protobuf") from None
        except (OSError, ValueError) as error:
            raise ModelError(f"the T5 encoder in {self.folder} cannot be loaded: "
                             f"{str(error).splitlines()[0][:300]}") from None

    @torch.no_grad()
    def __call__(self, prompts: list[str]) -> torch.Tensor:
        self.load()
        texts = [preprocess(p) for p in prompts]
        for text in texts:
            self.check_length(text)
        tokens = self.tokenizer(texts, padding="max_length",
                                max_length=MAX_TOKENS, truncation=True, add_special_tokens=True,
                                return_tensors="pt")
        with translate_oom(f"{self.name}'s T5 encoder", self.device, self.dtype,
                           self.offload.mode):
            self.offload.activate(self.model)
            out = self.model(tokens.input_ids.to(self.device),
                             attention_mask=tokens.attention_mask.to(self.device))[0]
        return out


    def check_length(self, text: str) -> None:
        """A prompt longer than the encoder reads is one PromptError saying where it is cut,
        rather than an end silently dropped (diffusers' IF pipelines only log a warning)."""
        ids = self.tokenizer(text, add_special_tokens=True, verbose=False).input_ids
        if len(ids) <= MAX_TOKENS:
            return
        dropped = self.tokenizer.decode(ids[MAX_TOKENS - 1:], skip_special_tokens=True).strip()
        raise PromptError(f"the prompt is {len(ids)} tokens and {self.name}'s T5 encoder reads "
                          f"{MAX_TOKENS} at most: it would not read '{_clip(dropped)}'; "
                          "shorten the prompt")


def _clip(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def encode_to_file(encoder: T5PromptEncoder, prompts: list[str], path: str | Path,
                   reads: Callable[[str], str] | None = None) -> dict[str, torch.Tensor]:
    """The course's format: {prompt: [1, 77, d] fp16 on the CPU}, '' always included. `reads`
    gives the text the encoder reads for a prompt (a model with a vocabulary: its form of the
    prompt); the file is keyed by the prompt as given."""
    wanted = list(dict.fromkeys([*prompts, ""]))
    embeddings = encoder([reads(p) if reads else p for p in wanted]).to("cpu", torch.float16)
    data = {p: embeddings[i:i + 1].clone() for i, p in enumerate(wanted)}
    with replacing(path) as tmp:  # removed if the save fails: no <out>.tmp left behind
        torch.save(data, tmp)
    return data
