"""Which SDEdit strength keeps a careful drawing recognisable on the digit model?

For each example digit drawing in resources/examples (digit-sketch-2/4/7, digit-typed-5), SDEdit
runs with the model's default prompt at each strength over `--seeds` seeds, and the bundled
digit classifier reads the results: the share still read as the drawn digit. The app's default
strength is the largest one that keeps every drawing at >= 90%.

    python benchmarks/bench_strength.py [--model mnist] [--seeds 50] [--threads 1]

Prints a markdown table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine import edits, loops  # noqa: E402
from engine.images import prepare_image  # noqa: E402
from engine.models.registry import load_model  # noqa: E402
from engine.schedules import i_start_from_strength  # noqa: E402
from engine.training.classifier import load_classifier, predict_digits  # noqa: E402

DRAWINGS = {"digit-sketch-2.png": 2, "digit-sketch-4.png": 4, "digit-sketch-7.png": 7,
            "digit-typed-5.png": 5}
STRENGTHS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def kept_share(model, net, image: torch.Tensor, digit: int, strength: float, seeds: int) -> float:
    n = len(model.schedule.timesteps(None))
    i_start = min(i_start_from_strength(strength, n), n - 2)
    batch = image.reshape(1, *image.shape[-3:]).expand(seeds, -1, -1, -1)
    generator = torch.Generator().manual_seed(0)
    record = loops.final(edits.sdedit(model, batch, i_start, generator))
    read = predict_digits(net, record.x_t.detach().float().cpu().clamp(0, 1))
    return float((read == digit).float().mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="mnist")
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = load_model(args.model, "cpu")
    net = load_classifier()
    print(f"| drawing | read as | {' | '.join(f'strength {s}' for s in STRENGTHS)} |")
    print(f"|---|---|{'---|' * len(STRENGTHS)}")
    start = time.perf_counter()
    for name, digit in DRAWINGS.items():
        image = prepare_image(ROOT / "resources" / "examples" / name, model.image_size,
                              model.channels, model.data_range)
        shares = [kept_share(model, net, image, digit, s, args.seeds) for s in STRENGTHS]
        itself = int(predict_digits(net, image.reshape(1, *image.shape[-3:]))[0])
        print(f"| {name} ({digit}) | {itself} | "
              f"{' | '.join(f'{100 * v:.0f}%' for v in shares)} |")
    print(f"\n{args.seeds} seeds each, {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
