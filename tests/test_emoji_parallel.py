"""`train emoji-* --procs N`: data-parallel workers on one machine's cores (parallel.py)."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from app.cli import main
from engine.errors import CheckpointError, EngineError
from engine.training.emoji_train import EmojiTrainConfig, train_emoji
from tests.emoji_fixtures import TINY_TRAINING, write_emoji_set

# fp32: bf16 autocast (auto's choice on an AVX512-BF16 or AMX CPU) rounds differently for a
# batch of 4 and two of 2, so only fp32 can show that the workers compute the same steps
EXACT = {**TINY_TRAINING, "precision": "fp32"}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_emoji_set(tmp_path_factory.mktemp("parallel") / "set", copies=2)


def _losses(run) -> list[list[float]]:
    with open(run / "loss.csv", newline="") as f:
        return [[float(r["loss"]), float(r["simple"]), float(r["vlb"])] for r in csv.DictReader(f)]


def _same_run(one, two) -> None:
    assert one.steps_done == two.steps_done == 3
    assert torch.tensor(_losses(two.out_dir)) == pytest.approx(
        torch.tensor(_losses(one.out_dir)), rel=1e-4, abs=1e-6)
    a = load_file(one.out_dir / "model.safetensors")
    b = load_file(two.out_dir / "model.safetensors")
    assert a.keys() == b.keys()
    diff = torch.cat([(a[k].float() - b[k].float()).abs().flatten() for k in a])
    # Adam turns a rounding-level gradient into a whole step where the gradient is ~0, so a
    # few weights of hundreds of thousands differ by ~lr; the rest agree to float rounding
    assert float(diff.mean()) < 1e-6
    assert float((diff > 1e-5).float().mean()) < 1e-3


@pytest.fixture(scope="module")
def one(data, tmp_path_factory):
    """3 steps of stage I in one process."""
    config = EmojiTrainConfig("base", str(data), epochs=1, **EXACT)
    return train_emoji(config, tmp_path_factory.mktemp("one") / "run", progress=False,
                       max_steps=3)


def test_two_workers_train_what_one_process_trains(data, one, tmp_path):
    config = EmojiTrainConfig("base", str(data), epochs=1, **EXACT)
    two = train_emoji(replace(config, procs=2), tmp_path / "two", progress=False, max_steps=3)
    _same_run(one, two)
    assert two.pipeline is not None and (two.pipeline / "unet").is_dir()
    # stage II, on stage I's encoder, the same
    up = EmojiTrainConfig("upscale", str(data), epochs=1, text_encoder=str(one.pipeline),
                          **{**EXACT, "shape": ""})
    _same_run(train_emoji(up, tmp_path / "up1", progress=False, max_steps=3),
              train_emoji(replace(up, procs=2), tmp_path / "up2", progress=False, max_steps=3))


def test_a_run_resumes_across_worker_counts(data, one, tmp_path):
    config = EmojiTrainConfig("base", str(data), epochs=1, **EXACT)
    train_emoji(config, tmp_path / "a", progress=False, max_steps=1)
    train_emoji(replace(config, procs=2), tmp_path / "a", resume=True, progress=False,
                max_steps=1)
    resumed = train_emoji(config, tmp_path / "a", resume=True, progress=False, max_steps=1)
    assert resumed.steps_done == one.steps_done == 3
    assert torch.tensor(_losses(tmp_path / "a")) == pytest.approx(
        torch.tensor(_losses(one.out_dir)), rel=1e-4, abs=1e-6)


def test_a_workers_error_is_one_message(data, tmp_path):
    config = EmojiTrainConfig("base", str(data), epochs=1, procs=2, **EXACT)
    with pytest.raises(CheckpointError, match="holds no training run to resume"):
        train_emoji(config, tmp_path / "empty", resume=True, progress=False, max_steps=1)
    with pytest.raises(EngineError, match="procs must be at least 1 and divide batch_size"):
        train_emoji(replace(config, procs=3), tmp_path / "odd", progress=False, max_steps=1)


def test_the_cli_trains_with_procs_and_refuses_it_elsewhere(data, tmp_path, capsys):
    assert main(["train", "emoji-base", "--data", str(data), "--out", str(tmp_path / "new"),
                 "--shape", "test", "--batch-size", "4", "--threads", "1", "--device", "cpu",
                 "--max-steps", "1", "--procs", "2"]) == 0
    assert "trained emoji-base to step 1" in capsys.readouterr().err
    assert main(["train", "time", "--out", str(tmp_path / "t"), "--procs", "2"]) == 1
    assert "--procs applies to the emoji trainers" in capsys.readouterr().err
    assert main(["train", "emoji-classifier", "--data", str(data), "--out",
                 str(tmp_path / "c"), "--procs", "2"]) == 1
    assert "--procs does not apply to the emoji classifier" in capsys.readouterr().err


ORPHAN_SCRIPT = """
import os, signal, sys, time
sys.path.insert(0, {root!r})
from engine.training import parallel

def wait(folder):
    # torch's spawn sends its workers SIGINT when the parent dies; real workers outlived it
    # (seen: killed `train --procs 2`, its two workers trained on), so these do not heed it
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    open(os.path.join(folder, f"worker-{{os.getpid()}}"), "w").close()
    time.sleep(120)

if __name__ == "__main__":
    parallel.run_workers(wait, 2, ({folder!r},))
"""


def _alive(pid: int) -> bool:
    """Running (a zombie that no init has reaped yet has ended)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return not stat.parent.exists() and sys.platform != "linux"


def test_workers_end_when_the_process_that_started_them_is_killed(tmp_path):
    """Killing `train ... --procs 2` left its workers training (and rank 0 writing the run
    folder) until they were killed one by one."""
    root = Path(__file__).resolve().parents[1]
    script = tmp_path / "orphans.py"
    script.write_text(ORPHAN_SCRIPT.format(root=str(root), folder=str(tmp_path)))
    parent = subprocess.Popen([sys.executable, str(script)])
    try:
        deadline = time.monotonic() + 60
        while len(list(tmp_path.glob("worker-*"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = [int(p.name.split("-")[1]) for p in tmp_path.glob("worker-*")]
        assert len(workers) == 2, "both workers started"
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [pid for pid in workers if _alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, "the workers ended with their parent"
