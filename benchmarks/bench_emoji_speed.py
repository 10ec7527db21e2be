"""Emoji cascade inference speed on this CPU (issue 12, "Speed on 2 CPU cores").

The cascade is loaded the way the app loads it (engine/models/registry.load_model: the IF
adapter for stage I, its stage II found beside it), and each row runs the app's own job code
(app/jobs.py make_run):

1. stage I: text -> 32 px, 30 CFG steps (--steps 30: 30 UNet calls at batch 2), one image;
2. stage II: 32 -> 64 at stage II's default steps (an upscale job);
3. live SDEdit: the app's Live job (runner.LIVE_OVERRIDES: one image, x̂_0 shown after every
   step) at the model's default strength and steps, through the engine thread's own run loop
   (app/engine_thread.py EngineWorker, QImage previews included): finished results per second
   and preview frames per second;
4. unet1, unet2 (not run by default): one UNet call of stage I / stage II (batch 2, fixed
   inputs), the mean of UNET_CALLS by process CPU time.

Each row at each --threads, for each variant of the UNet call (engine/models/unet_speed.py:
eager, then the levers; +norm, +pconv, +plin and +all add the bf16 levers fp32_norms,
packed_convolutions, packed_linears, which leave an fp32 UNet as it is) in each --dtypes (fp32,
and bf16: the UNets' weights and inputs in bf16, the loop in fp32, what `--dtype auto` picks on
a CPU with AMX or AVX512-BF16), in alternating rounds in one process; the ratio of each variant
is against fp32 `eager` of the same row and thread count, a bf16 variant's also against the same
variant in fp32, and each row's best is set against its goal. Speed does not depend on the
weights, so by default the cascade is a random-weight one in the bundle's real shapes
(engine/training/emoji_model.py STAGE_ONE / STAGE_TWO, read when this runs) written by the
trainer's own export (emoji_train.export_pipeline); --model DIR measures a real stage I folder
(and --upscale DIR its stage II).

The machine's background training run can be paused during each timed block (--pause PID[,PID]):
SIGSTOP, then SIGCONT when the block ends, fails or is interrupted; a watchdog process resumes
it after PAUSE_LIMIT_S whatever happens to this one.

    python benchmarks/bench_emoji_speed.py [--threads 1,2] [--rows stage1,stage2,live]
        [--variants eager,contig,cl,cache,contig+cache,cl+cache,cl+cache+norm,cl+cache+pconv,
                    cl+cache+plin,cl+cache+all] [--dtypes fp32,bf16]
        [--rounds 2] [--model DIR] [--upscale DIR] [--pause PID[,PID]]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from app.jobs import Job, make_run, resolve_job  # noqa: E402
from benchmarks._common import machine  # noqa: E402
from engine import devices  # noqa: E402
from engine.errors import EngineError  # noqa: E402
from engine.loops import final, generator_for  # noqa: E402
from engine.models.deepfloyd import IFStageOne  # noqa: E402
from engine.models.registry import load_model  # noqa: E402
from engine.models.unet_speed import LEVERS  # noqa: E402
from engine.training import emoji_model  # noqa: E402

GOALS = {"stage1": ("s", 1.0), "stage2": ("s", 2.0), "live": ("results/s", 3.0)}
STAGE_ONE_STEPS = 30
PAUSE_LIMIT_S = 170  # the brief's limit is 3 minutes per measurement
VARIANTS: dict[str, tuple[str, ...]] = {
    "eager": (),
    "contig": ("contiguous_convolutions",),
    "cl": ("channels_last",),
    "cache": ("cache_text",),
    "contig+cache": ("contiguous_convolutions", "cache_text"),
    "cl+cache": ("channels_last", "cache_text"),
    "cl+cache+norm": ("channels_last", "cache_text", "fp32_norms"),
    "cl+cache+pconv": ("channels_last", "cache_text", "packed_convolutions"),
    "cl+cache+plin": ("channels_last", "cache_text", "packed_linears"),
    "cl+cache+all": ("channels_last", "cache_text", "fp32_norms", "packed_convolutions",
                     "packed_linears"),
}
WORDS = ("grinning", "face", "cat", "red", "apple", "rocket", "pizza", "snowman", "thumbs",
         "up", "sign", "dog", "google", "twemoji", "heart", "star", "sun", "moon", "tree",
         "house", "car", "smiling", "eyes", "open", "mouth", "hand", "flag", "fire", "water")


# --- the cascade ----------------------------------------------------------------------------


def export_random_cascade(root: Path, stage_one: emoji_model.UNetShape | None = None,
                          stage_two: emoji_model.UNetShape | None = None,
                          text: emoji_model.TextShape | None = None, seed: int = 0) -> Path:
    """IF-I-emoji and IF-II-emoji side by side under `root`, random weights in the given shapes
    (default: the bundle's, emoji_model.STAGE_ONE / STAGE_TWO as they are now), written by the
    trainer's export with its hints; returns the stage I folder."""
    from engine.training.emoji_train import FOLDERS, EmojiTrainConfig, export_pipeline

    stage_one = stage_one or emoji_model.STAGE_ONE_SHAPES[emoji_model.STAGE_ONE]
    stage_two = stage_two or emoji_model.STAGE_TWO
    text = text or emoji_model.TextShape()
    lines = [f"{a} {b}" for a in WORDS for b in WORDS[::7]]
    tok_dir = emoji_model.train_tokenizer(lines, root / "tokenizer", 96)
    vocab = max(len(emoji_model.load_tokenizer(tok_dir)), 8)
    torch.manual_seed(seed)
    unet_one = emoji_model.build_unet(stage_one, 32, text.d_model)
    encoder = emoji_model.build_text_encoder(vocab, text)
    unet_two = emoji_model.build_unet(stage_two, 64, text.d_model, stage_two=True)
    notes = {"default_prompt": "grinning face",
             "default_guidance": EmojiTrainConfig("base", "").sample_guidance,
             "words": sorted(WORDS)}
    one = export_pipeline("base", unet_one, root / FOLDERS["base"], encoder, tok_dir,
                          notes=notes)
    steps = getattr(emoji_model, "STAGE_TWO_STEPS", None)
    export_pipeline("upscale", unet_two, root / FOLDERS["upscale"],
                    notes=notes | ({"default_steps": steps} if steps else {}))
    shutil.rmtree(tok_dir, ignore_errors=True)
    return one


def load_cascade(stage_one: Path, levers: tuple[str, ...] | None, dtype: str | None = None
                 ) -> IFStageOne:
    """The cascade as the app loads it; `levers` None: the adapters' own choice, else those;
    `dtype` None: auto (bf16 on a CPU with native bf16), else fp32 or bf16."""
    model = load_model(str(stage_one), "cpu", dtype)
    if not isinstance(model, IFStageOne):
        raise EngineError(f"{stage_one} is not an IF stage I folder")
    if levers is not None:
        model.unet_levers = levers
        if model.has_upscaler():
            model.upscaler().unet_levers = levers
    return model


def describe(model: IFStageOne) -> str:
    def params(m: torch.nn.Module) -> str:
        return f"{sum(p.numel() for p in m.parameters()) / 1e6:.2f} M"

    text = f"stage I {model.folder.name}: UNet {params(model.unet)}"
    if model.has_upscaler():
        up = model.upscaler()
        text += (f"; stage II {up.folder.name}: UNet {params(up.unet)}, "
                 f"{up.num_steps()} default steps")
    live = resolve_job(model, live_job(model))
    n = len(model.schedule.timesteps(live.steps)) - 1
    return (text + f"; live: strength {model.default_strength}, i_start {live.i_start} of "
            f"{n} updates ({n - live.i_start} CFG calls)")


# --- the rows -------------------------------------------------------------------------------


def test_image(size: int = 32) -> torch.Tensor:
    """A smooth colour pattern in [-1, 1], [1, 3, size, size] (SDEdit's input, stage II's)."""
    r = torch.linspace(-1, 1, size)
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    img = torch.stack([xx, yy, (xx * yy).clamp(-1, 1)])
    return (0.9 * img).unsqueeze(0)


def live_job(model: IFStageOne, image: torch.Tensor | None = None) -> Job:
    from app.session.runner import LIVE_OVERRIDES

    fields = {k: v for k, v in LIVE_OVERRIDES.items() if k in Job.__dataclass_fields__}
    return Job(mode="sdedit", image=test_image(model.image_size) if image is None else image,
               seed=0, **fields)


def run_job(model: IFStageOne, job: Job) -> torch.Tensor:
    job = resolve_job(model, job)
    return final(make_run(model, job, generator_for(model, job.seed, job.count))).x_t


def stage_one(model: IFStageOne) -> dict:
    start = time.perf_counter()
    x = run_job(model, Job(mode="sample", steps=STAGE_ONE_STEPS, count=1, seed=0))
    return {"s": time.perf_counter() - start, "out": x}


def stage_two(model: IFStageOne) -> dict:
    image = test_image(model.image_size)
    start = time.perf_counter()
    x = run_job(model, Job(mode="sample", upscale_only=True, image=image, seed=0))
    return {"s": time.perf_counter() - start, "out": x}


def live(model: IFStageOne) -> dict:
    """One Live job through the engine thread's run loop (QImage previews and all)."""
    import queue

    from app.engine_thread import EngineWorker, _Cancels

    worker = EngineWorker(queue.Queue(), _Cancels())
    worker.model = model
    previews: list[float] = []
    results: list[object] = []
    worker.preview.connect(lambda *_: previews.append(time.perf_counter()))
    worker.finished.connect(lambda _id, images, *_: results.append(images))
    job = live_job(model)
    start = time.perf_counter()
    worker._run_loop(model, job, 1)
    seconds = time.perf_counter() - start
    if len(results) != 1:
        raise RuntimeError("the live job made no result")
    first = previews[0] - start if previews else float("nan")
    return {"s": seconds, "results/s": 1.0 / seconds, "previews/s": len(previews) / seconds,
            "first_preview_s": first, "previews": len(previews)}


UNET_CALLS = 10


def unet_calls(model: IFStageOne, upscaler: bool) -> dict:
    """UNET_CALLS UNet calls of one stage (batch 2, CFG's) on fixed inputs, by process CPU time
    (less moved by other processes than the wall clock): seconds a call, no goal."""
    cond = model.encode([model.default_prompt, model.unconditional_prompt])
    g = torch.Generator().manual_seed(0)
    if upscaler:
        up = model.upscaler()
        x6 = torch.randn((2, 6, up.image_size, up.image_size), generator=g)
        call = lambda: up.forward(x6, 500, cond, 250)  # noqa: E731
    else:
        x = torch.randn((2, 3, model.image_size, model.image_size), generator=g)
        t = torch.full((2,), 500)
        call = lambda: model.predict(x, t, cond)  # noqa: E731
    start = time.process_time()
    for _ in range(UNET_CALLS):
        call()
    return {"s": (time.process_time() - start) / UNET_CALLS}


ROWS: dict[str, Callable[[IFStageOne], dict]] = {
    "stage1": stage_one, "stage2": stage_two, "live": live,
    "unet1": lambda model: unet_calls(model, False),
    "unet2": lambda model: unet_calls(model, True)}


# --- pausing the background run ---------------------------------------------------------------


@contextmanager
def paused(pids: int | list[int] | None) -> Iterator[None]:
    """The processes `pids` (one or several) stopped for the block (None: nothing), resumed after
    it however it ends; a detached watchdog resumes them after PAUSE_LIMIT_S even if this process
    dies."""
    if pids is None:
        yield
        return
    pids = [pids] if isinstance(pids, int) else list(pids)
    listed = " ".join(str(pid) for pid in pids)
    watchdog = subprocess.Popen(["sh", "-c", f"sleep {PAUSE_LIMIT_S}; kill -CONT {listed}"],
                                start_new_session=True)
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        for pid in pids:  # inside: a process already gone still ends the watchdog
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        yield
    finally:
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        signal.signal(signal.SIGTERM, previous)
        watchdog.kill()
        watchdog.wait()


# --- measuring ------------------------------------------------------------------------------


@dataclass
class Result:
    row: str
    threads: int
    variant: str  # label(): the levers, with /bf16 for a bf16 cascade
    runs: list[dict]

    def median(self, key: str) -> float:
        return statistics.median(r[key] for r in self.runs)


def label(variant: str, dtype: str) -> str:
    """A cascade's name in the tables: the variant, with /DTYPE where it is not fp32."""
    return variant if dtype == "fp32" else f"{variant}/{dtype}"


def fp32_twin(name: str) -> str:
    return name.split("/")[0]


def measure(models: dict[str, IFStageOne], rows: list[str], threads: list[int], rounds: int,
            pause: list[int] | None) -> list[Result]:
    results = []
    for row in rows:
        for n in threads:
            torch.set_num_threads(n)
            block = {v: Result(row, n, v, []) for v in models}
            start = time.monotonic()
            with paused(pause):
                for model in models.values():  # warm-up: first calls, levers, caches
                    ROWS[row](model)
                for _ in range(rounds):
                    for variant, model in models.items():
                        block[variant].runs.append(ROWS[row](model))
            if pause is not None and time.monotonic() - start > PAUSE_LIMIT_S:
                print(f"warning: the block took over {PAUSE_LIMIT_S} s, so the paused process "
                      "was resumed during it (fewer --rounds or --variants)")
            results.extend(block.values())
            print_block(list(block.values()))
    return results


def call_outputs(model: IFStageOne, calls: int = 2) -> list[torch.Tensor]:
    """ε and v of `calls` UNet calls of each stage on fixed inputs (the second call of the same
    prompts is where the text cache answers), as a flat list of tensors."""
    g = torch.Generator().manual_seed(0)
    cond = model.encode([model.default_prompt, model.unconditional_prompt])
    size = model.image_size
    outs = []
    for i in range(calls):
        x = torch.randn((2, 3, size, size), generator=g)
        pred = model.predict(x, torch.full((2,), 500 - 100 * i), cond.clone())
        outs += [pred.eps, pred.variance]
    if model.has_upscaler():
        up = model.upscaler()
        for i in range(calls):
            x6 = torch.randn((2, 6, up.image_size, up.image_size), generator=g)
            pred = up.forward(x6, 500 - 100 * i, cond.clone(), 250)
            outs += [pred.eps, pred.variance]
    return outs


def call_difference(models: dict[str, IFStageOne]) -> dict[str, float]:
    """Each variant's largest |ε or v - eager's| over the calls of call_outputs."""
    ref = call_outputs(models["eager"])
    return {v: max(float((a - b).abs().max()) for a, b in zip(call_outputs(m), ref))
            for v, m in models.items()}


def max_difference(models: dict[str, IFStageOne], rows: list[str]) -> dict[str, dict[str, float]]:
    """Each variant's final image against eager's, row by row (same seed, same job): the
    per-call rounding differences carried through the whole loop."""
    out: dict[str, dict[str, float]] = {}
    for row in rows:
        if row not in ("stage1", "stage2"):
            continue
        ref = ROWS[row](models["eager"])["out"]
        out[row] = {v: float((ROWS[row](m)["out"] - ref).abs().max()) for v, m in models.items()}
    return out


def print_block(block: list[Result]) -> None:
    base = next((r for r in block if r.variant == "eager"), block[0])
    by_name = {r.variant: r for r in block}
    unit, goal = GOALS.get(base.row, ("s", None))
    for r in block:
        s = r.median("s")
        line = (f"{r.row:7s} threads {r.threads} {r.variant:18s} {s * 1000:8.0f} ms  "
                f"x{base.median('s') / s:.2f} vs eager")
        twin = by_name.get(fp32_twin(r.variant))
        if twin is not None and twin is not r:
            line += f", x{twin.median('s') / s:.2f} vs fp32"
        if goal is None:
            line += "  (one UNet call, process CPU time)"
        elif r.row == "live":
            line += (f"  {r.median('results/s'):.2f} results/s, {r.median('previews/s'):.1f} "
                     f"previews/s, first x̂_0 {r.median('first_preview_s') * 1000:.0f} ms")
            line += f"  goal {goal} {unit}: x{r.median('results/s') / goal:.2f}"
        else:
            line += f"  goal <= {goal} s: {'met' if s <= goal else 'not met'} (x{goal / s:.2f})"
        print(line, flush=True)


def pid_list(text: str) -> list[int]:
    """--pause's value: process ids, comma-separated."""
    try:
        return [int(pid) for pid in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not process ids: {text!r}") from None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a stage I IF folder (default: random)")
    parser.add_argument("--upscale", type=Path, help="its stage II folder (default: beside it)")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rows", default="stage1,stage2,live")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--dtypes", default="fp32,bf16",
                        help="fp32 and/or bf16 (each variant in each dtype)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--pause", type=pid_list, metavar="PID[,PID]",
                        help="SIGSTOP these processes during each timed block")
    parser.add_argument("--json", type=Path, help="write the measurements here")
    args = parser.parse_args(argv)
    args.threads = [int(t) for t in args.threads.split(",")]
    args.rows = args.rows.split(",")
    args.variants = args.variants.split(",")
    args.dtypes = args.dtypes.split(",")
    bad = ([r for r in args.rows if r not in ROWS] + [v for v in args.variants if v not in VARIANTS]
           + [d for d in args.dtypes if d not in ("fp32", "bf16")])
    if (bad or "eager" not in args.variants or "fp32" not in args.dtypes or args.rounds < 1
            or min(args.threads) < 1):
        parser.error(f"rows from {', '.join(ROWS)}; variants from {', '.join(VARIANTS)} "
                     f"(eager among them); dtypes fp32 (first) and bf16; rounds and threads >= 1 "
                     f"(bad: {bad})")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-emoji-speed-") as tmp:
        folder = args.model or export_random_cascade(Path(tmp))
        if args.upscale:
            os.environ["DIFFUSION_CANVAS_IF_STAGE_II"] = str(args.upscale)
        try:
            models = {label(v, d): load_cascade(folder, VARIANTS[v], d)
                      for d in args.dtypes for v in args.variants}
            auto = load_cascade(folder, None).dtype
        except EngineError as error:
            print(f"cannot load the cascade: {error}")
            return 1
        print(f"{machine()}, load {os.getloadavg()[0]:.1f}; levers: {', '.join(LEVERS)}"
              f"; --dtype auto loads it in {devices.DTYPE_NAMES[auto]}")
        print(describe(models["eager"]))
        rows = [r for r in args.rows
                if r not in ("stage2", "unet2") or models["eager"].has_upscaler()]
        torch.set_num_threads(1)
        calls = call_difference(models)
        print("one UNet call (both stages): max |variant - eager| " + ", ".join(
            f"{v} {d:.1e}" for v, d in calls.items()))
        diffs = max_difference(models, rows)
        for row, by_variant in diffs.items():
            print(f"{row}, final image: max |variant - eager| " + ", ".join(
                f"{v} {d:.1e}" for v, d in by_variant.items()))
        results = measure(models, rows, args.threads, args.rounds, args.pause)
    if args.json:
        args.json.write_text(json.dumps({"calls": calls, "diffs": diffs, "results": [
            {"row": r.row, "threads": r.threads, "variant": r.variant,
             "runs": [{k: v for k, v in run.items() if k != "out"} for run in r.runs]}
            for r in results]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
