"""A training checkpoint is one atomic unit (issue 16, 1 and 2): a save stopped at any step, or
a real SIGKILL at a random instant, leaves the previous checkpoint or the new one, and a resume
continues to the weights of an uninterrupted run."""

from __future__ import annotations

import gzip
import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import CheckpointError
from engine.training import checkpoint as ckpt
from engine.training.train import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]


class _Kill(BaseException):  # noqa: N818 - stands for a kill: nothing may catch it
    pass


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DIFFUSION_CANVAS_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.setattr(ckpt, "fault", None)


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> Path:
    """64 blob 'digits' as IDX .gz files."""
    folder = tmp_path_factory.mktemp("idx")
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 10, 64).astype(np.uint8)
    yy, xx = np.mgrid[:28, :28]
    images = (255 * np.exp(-((xx - 6 - 1.6 * labels[:, None, None]) ** 2 + (yy - 14) ** 2) / 18))
    for name, array in (("train-images-idx3-ubyte.gz", images.astype(np.uint8)),
                        ("train-labels-idx1-ubyte.gz", labels)):
        header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
            int(n).to_bytes(4, "big") for n in array.shape)
        with gzip.open(folder / name, "wb") as f:
            f.write(header + array.tobytes())
    return folder


def _config(digits: Path, **kw) -> TrainConfig:
    settings = dict(hidden=4, batch_size=32, epochs=3, data_dir=str(digits), limit=64,
                    precision="fp32", seed=5, num_threads=1, save_every_s=None)
    settings.update(kw)
    return TrainConfig.for_kind("time", **settings)


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return ckpt.load_weights(folder / ckpt.WEIGHTS)[0]


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ----------------------------------------------------------------------------------------------
# the unit alone: files that say which checkpoint they belong to


def _save_marked(folder: Path, epoch: int) -> None:
    def marked(tmp: str) -> None:
        Path(tmp).write_text(f"epoch {epoch}\n")

    ckpt.save_checkpoint(folder, weights={"w": torch.full((4,), float(epoch))},
                         weights_metadata={"epoch": epoch}, state={"epoch": epoch},
                         config={"kind": "time", "hidden": 4, "epochs_done": epoch},
                         files={"loss.csv": marked}, info={"epoch": epoch})


def _epochs_in(folder: Path) -> set[int]:
    """The epoch every file of the checkpoint says it belongs to."""
    weights, meta = ckpt.load_weights(folder / ckpt.WEIGHTS)
    found = {int(meta["epoch"]), int(weights["w"][0]),
             int(torch.load(folder / ckpt.STATE, weights_only=True)["epoch"]),
             int(ckpt.read_config(folder)["epochs_done"]),
             int((folder / "loss.csv").read_text().split()[1]),
             int(ckpt.read_manifest(folder)["epoch"])}
    ckpt.verify(folder, *ckpt.read_manifest(folder)["files"])
    return found


def _fault_points(tmp_path: Path) -> list[str]:
    seen: list[str] = []
    ckpt.fault = seen.append
    _save_marked(tmp_path / "probe", 1)
    _save_marked(tmp_path / "probe", 2)
    ckpt.fault = None
    return seen[len(seen) // 2:]


def test_every_step_of_a_save_leaves_one_whole_checkpoint(tmp_path):
    points = _fault_points(tmp_path)
    assert len(points) == 11 and points.index("committed") == 5, points
    for index, point in enumerate(points):
        folder = tmp_path / f"at-{index}"
        _save_marked(folder, 1)

        def stop(step: str, point: str = point) -> None:
            if step == point:
                raise _Kill

        ckpt.fault = stop
        with pytest.raises(_Kill):
            _save_marked(folder, 2)
        ckpt.fault = None
        ckpt.recover(folder)
        expected = 2 if index >= points.index("committed") else 1
        assert _epochs_in(folder) == {expected}, point
        assert sorted(p.name for p in folder.iterdir()) == [
            "checkpoint.json", "config.json", "loss.csv", "model.safetensors",
            "training_state.pt"], point
        _save_marked(folder, 3)  # and the folder takes the next save as usual
        assert _epochs_in(folder) == {3}


def test_a_checkpoint_that_removes_the_state_is_atomic_too(tmp_path):
    _save_marked(tmp_path, 1)

    def stop(step: str) -> None:
        if step == "committed":
            raise _Kill

    ckpt.fault = stop
    with pytest.raises(_Kill):
        ckpt.save_checkpoint(tmp_path, remove=[ckpt.STATE])
    ckpt.fault = None
    assert (tmp_path / ckpt.STATE).exists()
    assert ckpt.recover(tmp_path) is not None and not (tmp_path / ckpt.STATE).exists()
    assert ckpt.STATE not in ckpt.read_manifest(tmp_path)["files"]


def test_damaged_bytes_are_caught_by_the_checksum(tmp_path):
    _save_marked(tmp_path, 1)
    path = tmp_path / ckpt.STATE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="changed or damaged"):
        ckpt.load_training_state(tmp_path)


def test_non_finite_weights_are_refused(tmp_path):
    ckpt.save_weights({"w": torch.tensor([1.0, float("nan")])}, tmp_path / "w.safetensors")
    with pytest.raises(CheckpointError, match="non-finite"):
        ckpt.load_weights(tmp_path / "w.safetensors")


def test_stale_temporaries_and_a_staging_folder_are_cleaned(tmp_path):
    _save_marked(tmp_path, 1)
    (tmp_path / ".model.safetensors.0123abcd.tmp").write_bytes(b"x" * 100)
    (tmp_path / ckpt.STAGING).mkdir()
    (tmp_path / ckpt.STAGING / ckpt.WEIGHTS).write_bytes(b"half")
    assert "dropped" in ckpt.recover(tmp_path)
    assert _epochs_in(tmp_path) == {1}
    assert not (tmp_path / ".model.safetensors.0123abcd.tmp").exists()


# ----------------------------------------------------------------------------------------------
# training: an epoch's save stopped at every step, then --resume


@pytest.mark.parametrize("which", [1, 2, 3], ids=["first save", "mid-run save", "last save"])
def test_training_stopped_at_every_step_of_a_save_resumes_to_the_same_weights(digits, tmp_path,
                                                                               which):
    """Epoch 1's save (nothing before it), epoch 2's (weights, state, loss, config) and epoch
    3's, the last (weights, loss, config, and the state removed), each stopped at each step."""
    config = _config(digits, epochs=3, limit=32)
    train(config, tmp_path / "whole", progress=False)
    whole = _weights(tmp_path / "whole")
    stopped = 0  # every step is covered by the unit's test; here one before the commit
    # point, the commit itself and one in the middle of moving the files into place
    for index, point in enumerate(["staged config.json", "committed", "moved loss.csv"]):
        out = tmp_path / f"run-{index}"
        saves = []

        def stop(step: str, point: str = point, saves: list = saves) -> None:
            if step == point:
                saves.append(step)
                if len(saves) == which:
                    raise _Kill

        ckpt.fault = stop
        try:
            train(config, out, progress=False)
        except _Kill:
            stopped += 1
        finally:
            ckpt.fault = None
        result = train(config, out, resume=True, progress=False)
        assert result.epochs_done == 3, point
        assert _same(_weights(out), whole), point
        assert not (out / ckpt.STATE).exists()
        rows = (out / "loss.csv").read_text().splitlines()
        assert rows == (tmp_path / "whole" / "loss.csv").read_text().splitlines(), point
    assert stopped == 3


def test_resume_reapplies_threads_and_refuses_another_precision(digits, tmp_path, capsys):
    class Stop(Exception):
        pass

    def stop_after_first(epoch, model, config, out_dir):
        if epoch == 1:
            raise Stop

    config = _config(digits, epochs=2, limit=32)
    train(config, tmp_path / "whole", progress=False)
    with pytest.raises(Stop):
        train(config, tmp_path / "parts", progress=False, on_epoch_end=stop_after_first)
    saved = json.loads((tmp_path / "parts" / ckpt.CONFIG).read_text())["training"]
    assert saved["threads"] == 1 and saved["precision"] == "fp32"
    with pytest.raises(CheckpointError, match=r"precision fp32 \(saved\) vs bf16 \(now\)"):
        train(_config(digits, epochs=2, precision="bf16", limit=32), tmp_path / "parts",
              resume=True, progress=False)
    train(_config(digits, epochs=2, num_threads=2, precision="auto", limit=32),
          tmp_path / "parts", resume=True, progress=True)
    said = capsys.readouterr().err
    assert "1 CPU threads as the run started, not 2" in said
    assert json.loads((tmp_path / "parts" / ckpt.CONFIG).read_text())["training"]["threads"] == 1
    assert _same(_weights(tmp_path / "parts"), _weights(tmp_path / "whole"))


@pytest.mark.parametrize("threads", [-1, 0, 10_000])
def test_thread_counts_out_of_range_are_refused(digits, threads):
    with pytest.raises(Exception, match="threads must be a whole number from 1 to"):
        _config(digits, num_threads=threads)


# ----------------------------------------------------------------------------------------------
# real kills


def _save_forever(folder: str, first: int) -> None:
    epoch = first
    while True:
        _save_marked(Path(folder), epoch)
        epoch += 1


def test_sigkill_at_random_instants_of_a_saving_loop(tmp_path):
    """A process that does nothing but save, killed 12 times at random instants."""
    rng = random.Random(16)
    context = multiprocessing.get_context("fork" if sys.platform != "win32" else "spawn")
    _save_marked(tmp_path, 1)
    epochs_seen = [1]
    for _ in range(12):
        child = context.Process(target=_save_forever, args=(str(tmp_path), epochs_seen[-1] + 1))
        child.start()
        time.sleep(rng.uniform(0.02, 0.15))
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        ckpt.recover(tmp_path)
        found = _epochs_in(tmp_path)
        assert len(found) == 1, found
        epochs_seen.append(found.pop())
    assert epochs_seen == sorted(epochs_seen) and epochs_seen[-1] > epochs_seen[0]


_CHILD = """
import sys, torch
torch.set_num_threads(1)
from engine.training.train import TrainConfig, train
config = TrainConfig.for_kind("time", hidden=4, batch_size=32, epochs=8, data_dir=sys.argv[2],
                              limit=32, precision="fp32", seed=5, num_threads=1,
                              save_every_s=None)
train(config, sys.argv[1], resume=sys.argv[3] == "resume", progress=False)
"""


def test_sigkill_at_random_instants_of_real_training_then_resume(digits, tmp_path):
    """Real training killed at random instants (one step an epoch, so saves are frequent; 8 epochs);
    every resume continues, and the end is the uninterrupted run's weights."""
    rng = random.Random(7)
    out = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-c", _CHILD, str(out), str(digits)]
    kills = 0
    for attempt in range(2):
        mode = "resume" if attempt else "new"
        child = subprocess.Popen([*command, mode], cwd=ROOT, env=env, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        start = ckpt.read_manifest(out).get("epoch", 0) if out.exists() else 0
        while time.monotonic() < deadline and child.poll() is None:  # until it has saved
            if out.exists() and ckpt.read_manifest(out).get("epoch", 0) > start:
                break
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.3))
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            kills += 1
        child.communicate(timeout=60)
    assert kills == 2
    config = TrainConfig.for_kind("time", hidden=4, batch_size=32, epochs=8, data_dir=str(digits),
                                  limit=32, precision="fp32", seed=5, num_threads=1,
                                  save_every_s=None)
    result = train(config, out, resume=True, progress=False)
    assert result.epochs_done == 8
    train(config, tmp_path / "whole", progress=False)
    assert _same(_weights(out), _weights(tmp_path / "whole"))


# ----------------------------------------------------------------------------------------------
# seeded mutations of what a run saved, and of embeddings files


def _mutate(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    kind = rng.choice(["flip", "cut", "zero", "empty"])
    if kind == "empty" or not out:
        return b""
    if kind == "cut":
        return bytes(out[:rng.randrange(len(out))])
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(out))
        out[at] = 0 if kind == "zero" else out[at] ^ (1 << rng.randrange(8))
    return bytes(out)


def test_mutated_checkpoints_load_or_are_refused_in_one_line(digits, tmp_path):
    """Each file of a saved run, mutated: loading the model and the training state either
    works or raises CheckpointError with a one-line message; never anything else."""
    import shutil

    class Stop(Exception):
        pass

    def stop(epoch, model, config, out_dir):
        raise Stop

    source = tmp_path / "source"
    with pytest.raises(Stop):
        train(_config(digits, epochs=2, limit=32), source, progress=False, on_epoch_end=stop)
    rng = random.Random(16)
    outcomes = {"loaded": 0, "refused": 0}
    names = [ckpt.WEIGHTS, ckpt.STATE, ckpt.CONFIG, ckpt.MANIFEST]
    for trial in range(24):
        run = tmp_path / f"m{trial}"
        shutil.copytree(source, run)
        name = names[trial % len(names)]
        (run / name).write_bytes(_mutate((run / name).read_bytes(), rng))
        try:
            model, _ = ckpt.load_model(run)
            state = ckpt.load_training_state(run)
            assert state["epoch"] == 1
            outcomes["loaded"] += 1
        except CheckpointError as error:
            assert "\n" not in str(error) and len(str(error)) < 600
            outcomes["refused"] += 1
    print("checkpoint mutations:", outcomes)  # docs/reliability.md quotes these
    assert outcomes["refused"] >= 12, outcomes
    # the bytes of weights or state never change silently: the manifest's checksum sees them
    run = tmp_path / "flip"
    shutil.copytree(source, run)
    data = bytearray((run / ckpt.WEIGHTS).read_bytes())
    data[-5] ^= 0x10  # inside a tensor: still a readable safetensors file
    (run / ckpt.WEIGHTS).write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="changed or damaged"):
        ckpt.load_model(run)
    with pytest.raises(CheckpointError, match="changed or damaged"):
        train(_config(digits, epochs=2, limit=32), run, resume=True, progress=False)


def test_mutated_embeddings_files_are_one_clear_error(tmp_path):
    from engine.errors import PromptError
    from engine.prompts import load_embeddings

    path = tmp_path / "e.pth"
    torch.save({"": torch.zeros(1, 4, 8, dtype=torch.float16),
                "a cat": torch.ones(1, 4, 8, dtype=torch.float16)}, path)
    original = path.read_bytes()
    rng = random.Random(11)
    refused = 0
    for _ in range(30):
        path.write_bytes(_mutate(original, rng))
        try:
            data = load_embeddings(path, (1, 4, 8))
            assert set(data) <= {"", "a cat"} or all(isinstance(k, str) for k in data)
        except PromptError as error:
            assert "\n" not in str(error) and "\x1b" not in str(error)
            refused += 1
    print("embeddings mutations: refused", refused, "of 30")
    assert refused >= 10


def test_a_file_rewritten_alone_keeps_the_manifest_true(tmp_path):
    _save_marked(tmp_path, 1)
    ckpt.save_weights({"w": torch.full((4,), 1.5)}, tmp_path / ckpt.WEIGHTS,
                      metadata={"epoch": 1})
    ckpt.verify(tmp_path, ckpt.WEIGHTS, ckpt.STATE)
    assert _epochs_in(tmp_path) == {1}


def test_setting_differences_name_what_a_resume_would_change():
    saved = {"lr": 1e-3, "batch_size": 4, "data": {"source": "idx:/a", "fingerprint": "f1"}}
    assert ckpt.setting_differences(saved, dict(saved), saved) == []
    moved = saved | {"data": {"source": "idx:/b", "fingerprint": "f1"}, "lr": 1e-3 + 1e-15}
    assert ckpt.setting_differences(saved, moved, saved) == [], "the same images, moved"
    other = saved | {"batch_size": 8, "data": {"source": "idx:/a", "fingerprint": "f2"}}
    assert ckpt.setting_differences(saved, other, saved) == [
        "batch-size 4 (saved) vs 8 (now)", "data idx:/a [f1] (saved) vs idx:/a [f2] (now)"]
