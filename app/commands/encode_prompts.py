"""`encode-prompts --model M --out FILE.pth PROMPT...`: T5 embeddings in the course's format.

The file maps each prompt (and '' always, the unconditional branch) to a [1, 77, d] fp16 tensor,
so it works with `--prompts FILE.pth` on a machine without the 9.5 GB encoder. A model with a
vocabulary (the emoji cascade) checks every prompt's words first, with the message sample and
edit give, and encodes each in the vocabulary's form (keyed as typed).
"""

from __future__ import annotations

import argparse

from app.commands.outputs import check_file_outputs
from engine.devices import resolve_device
from engine.errors import EngineError, ModelError
from engine.models.deepfloyd import has_text_encoder, resolve_dtype
from engine.models.folders import is_if_folder, read_hints
from engine.models.registry import resolve_folder
from engine.models.t5 import T5PromptEncoder, encode_to_file
from engine.prompts import prompt_for_vocabulary


def run(args: argparse.Namespace) -> int:
    check_file_outputs(out=args.out)
    folder = resolve_folder(args.model)
    if not is_if_folder(folder):
        raise ModelError(f"{folder} is not a DeepFloyd IF folder: encode-prompts needs IF's "
                         "T5 encoder (text_encoder/ and tokenizer/)")
    if not has_text_encoder(folder):
        missing = [p for p in ("text_encoder/config.json", "tokenizer/")
                   if not (folder / p.rstrip("/")).exists()]
        raise ModelError(f"{folder} has no T5 encoder: missing {', '.join(missing)}. "
                         "Download IF-I-XL-v1.0 with its text_encoder/ and tokenizer/")
    if any(not isinstance(p, str) for p in args.prompt):
        raise EngineError("prompts must be text")
    words = read_hints(folder).get("words")
    words = [w for w in words if isinstance(w, str)] if isinstance(words, list) else None

    def reads(prompt: str) -> str:  # a word the model does not know: one PromptError
        return prompt_for_vocabulary(prompt, words, folder.name)

    for prompt in args.prompt:  # every prompt checked before the encoder loads
        reads(prompt)
    device = resolve_device(args.device)
    encoder = T5PromptEncoder(folder, device, resolve_dtype(device, args.dtype))
    data = encode_to_file(encoder, list(args.prompt), args.out, reads)
    shape = tuple(next(iter(data.values())).shape)
    print(f"wrote {len(data)} embeddings of shape {shape} to {args.out}")
    return 0
