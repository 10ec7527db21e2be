"""Our IF stage I CFG loop against diffusers' IFPipeline, same tiny model, same steps.

A tiny IF-shaped UNet (random weights, built from a config, saved and loaded like real weights)
samples one image with CFG (γ = 7) both ways: `engine.edits.sample` on our IFStageOne adapter,
and diffusers' `IFPipeline` built from the same UNet and scheduler with text_encoder=None,
given prompt_embeds / negative_prompt_embeds. Both make `steps` UNet calls of batch 2. Rounds
alternate the two and the fastest of each is kept. Goal: ratio (ours / diffusers) <= 1.0.

    nice -n 19 python benchmarks/bench_if.py [--steps 20] [--rounds 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import edits, loops  # noqa: E402
from engine.models.registry import load_model  # noqa: E402
from engine.models.tiny import save_tiny_if, tiny_embeddings  # noqa: E402

PROMPT = "a high quality photo"


def build(folder: Path):
    from diffusers import DDPMScheduler, IFPipeline

    save_tiny_if(folder)
    ours = load_model(str(folder), "cpu")
    ours.use_embeddings(tiny_embeddings([PROMPT, ""]))
    scheduler = DDPMScheduler.from_pretrained(folder, subfolder="scheduler")
    pipe = IFPipeline(unet=ours.unet, scheduler=scheduler, tokenizer=None, text_encoder=None,
                      safety_checker=None, feature_extractor=None, watermarker=None,
                      requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return ours, pipe


def time_ours(model, steps: int) -> float:
    start = time.perf_counter()
    loops.final(edits.sample(model, [PROMPT], torch.Generator().manual_seed(0), 7.0, steps))
    return time.perf_counter() - start


def time_diffusers(pipe, model, steps: int) -> float:
    cond, uncond = model.encode([PROMPT]), model.encode([""])
    start = time.perf_counter()
    pipe(prompt_embeds=cond, negative_prompt_embeds=uncond, num_inference_steps=steps,
         guidance_scale=7.0, generator=torch.Generator().manual_seed(0), output_type="pt")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        model, pipe = build(Path(tmp) / "IF-I-tiny")
        time_ours(model, 2)  # warm-up both
        time_diffusers(pipe, model, 2)
        ours, theirs = [], []
        for _ in range(args.rounds):
            ours.append(time_ours(model, args.steps))
            theirs.append(time_diffusers(pipe, model, args.steps))
    best_ours, best_theirs = min(ours), min(theirs)
    print(f"tiny IF 32x32, CFG 7, {args.steps} steps, {args.threads} thread(s), "
          f"best of {args.rounds}")
    print(f"  ours (engine loop):    {best_ours * 1000:8.1f} ms")
    print(f"  diffusers IFPipeline:  {best_theirs * 1000:8.1f} ms")
    ratio = best_ours / best_theirs
    verdict = "met" if ratio <= 1 else "NOT met"
    print(f"  ratio ours/diffusers:  {ratio:8.3f}  (goal <= 1.0: {verdict})")


if __name__ == "__main__":
    main()
