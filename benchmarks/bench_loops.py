"""Loop overhead: each loop's time divided by the time of the same model forwards, bare.

Two fixed models with random weights: the course's D = 64 class-conditioned UNet at 28×28 and a
tiny IF-shaped UNet at 32×32. For each loop the benchmark records the batches the loop sends
to the model, then times exactly those forwards called on the bare network, in the same
process, alternating the two and keeping the fastest of several rounds. Goal: ratio <= 1.05.

    python benchmarks/bench_loops.py [--rounds 5] [--threads N]
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
from engine.models.deepfloyd import IFStageOne  # noqa: E402
from engine.models.mnist import MnistModel  # noqa: E402
from engine.models.tiny import save_tiny_if, tiny_embeddings  # noqa: E402
from engine.training.unets import build_unet  # noqa: E402
from engine.views import VIEWS  # noqa: E402


class Recorder:
    """Wraps a model's predict to note each call's (x, t, cond) for the bare replay."""

    def __init__(self, model):
        self.model, self.calls = model, []
        self.inner = model.predict

    def __enter__(self):
        def record(x, t, cond):
            self.calls.append((x.clone(), t.clone(), None if cond is None else cond.clone()))
            return self.inner(x, t, cond)

        self.model.predict = record
        return self

    def __exit__(self, *exc):
        del self.model.predict


def mnist_model() -> tuple[MnistModel, callable]:
    torch.manual_seed(0)
    net = build_unet("class", 64)
    model = MnistModel(net, {"kind": "class", "hidden": 64}, "mnist-d64", torch.device("cpu"))

    @torch.no_grad()
    def bare(x, t, cond):
        return net(x, t.float() / 300, cond)

    return model, bare


def if_model(folder: Path) -> tuple[IFStageOne, callable]:
    save_tiny_if(folder)
    model = IFStageOne(folder, torch.device("cpu"), "tiny-if")
    prompts = ["a high quality photo", "", "an oil painting of an old man",
               "an oil painting of people around a campfire", "a lithograph of a skull",
               "a lithograph of waterfalls"]
    model.use_embeddings(tiny_embeddings(prompts))

    @torch.no_grad()
    def bare(x, t, cond):
        return model.unet(x, t, encoder_hidden_states=cond, return_dict=False)[0]

    return model, bare


def loops_for(model, steps: int) -> dict[str, callable]:
    size, c = model.image_size, model.channels
    image = torch.rand(1, c, size, size) * (model.data_range[1] - model.data_range[0]) \
        + model.data_range[0]
    mask = torch.zeros(1, 1, size, size)
    mask[..., size // 4: 3 * size // 4, size // 4: 3 * size // 4] = 1
    if model.name == "tiny-if":
        p1, p2, p3, p4 = ("a high quality photo", "an oil painting of an old man",
                          "an oil painting of people around a campfire",
                          "a lithograph of a skull")
        p5 = "a lithograph of waterfalls"
    else:
        p1, p2, p3, p4, p5 = "3", "6", "9", "0", "1"

    def g():
        return torch.Generator().manual_seed(0)

    return {
        f"CFG sample ({steps} steps)": lambda: edits.sample(model, [p1], g(), steps=steps),
        "SDEdit (i_start 10)": lambda: edits.sdedit(model, image, 10, g(), p1, steps=steps),
        "inpaint": lambda: edits.inpaint(model, image, mask, g(), p1, steps=steps),
        "anagram (flip)": lambda: edits.anagram(model, [p2, p3], [VIEWS["identity"],
                                                VIEWS["flip"]], g(), steps=steps),
        "hybrid": lambda: edits.hybrid(model, p4, p5, g(), steps=steps),
    }


def time_loop(make) -> float:
    start = time.perf_counter()
    loops.final(make())
    return time.perf_counter() - start


def time_bare(bare, calls) -> float:
    start = time.perf_counter()
    for x, t, cond in calls:
        bare(x, t, cond)
    return time.perf_counter() - start


def measure(model, bare, steps: int, rounds: int) -> list[tuple[str, int, float, float]]:
    rows = []
    for name, make in loops_for(model, steps).items():
        with Recorder(model) as rec:
            loops.final(make())  # warm-up, and the calls to replay
        loop_t, bare_t = [], []
        for _ in range(rounds):
            loop_t.append(time_loop(make))
            bare_t.append(time_bare(bare, rec.calls))
        batch = rec.calls[0][0].shape[0]
        rows.append((name, len(rec.calls), batch, min(loop_t), min(bare_t)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, best of {args.rounds} rounds\n")
    print("| model | loop | forwards × batch | loop ms | bare forwards ms | ratio |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for model, bare in (mnist_model(), if_model(Path(tmp) / "tiny-if")):
            for name, calls, batch, loop_s, bare_s in measure(model, bare, args.steps,
                                                              args.rounds):
                print(f"| {model.name} | {name} | {calls} × {batch} | {loop_s * 1e3:.1f} | "
                      f"{bare_s * 1e3:.1f} | {loop_s / bare_s:.3f} |", flush=True)


if __name__ == "__main__":
    main()
