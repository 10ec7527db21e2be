"""One device resolver (engine/devices.py) for inference, training and the app's Device menu."""

import pytest
import torch

from app.cli import build_parser
from engine import devices
from engine.errors import EngineError
from engine.options import DEVICES, PRECISIONS
from engine.training import emoji_train, train


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "mps_available", lambda: False)


def test_auto_is_the_cpu_without_a_gpu(no_gpu):
    assert devices.resolve_device("auto") == torch.device("cpu")
    assert devices.resolve_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize(("name", "message"), [
    ("cuda", "CUDA was asked for"), ("mps", "MPS was asked for"), ("tpu", "unknown device 'tpu'"),
])
def test_a_device_the_machine_lacks_is_one_message(no_gpu, name, message):
    with pytest.raises(EngineError, match=message):
        devices.resolve_device(name)


def test_auto_takes_cuda_first(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(devices, "mps_available", lambda: True)
    assert devices.resolve_device("auto") == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert devices.resolve_device("auto") == torch.device("mps")


def test_the_menu_lists_each_device_and_whether_it_is_here(no_gpu):
    assert devices.available_devices() == {"auto": True, "cpu": True, "cuda": False,
                                           "mps": False}


def test_training_and_the_command_line_use_the_same(no_gpu):
    assert train.resolve_device is devices.resolve_device
    assert emoji_train.resolve_device is devices.resolve_device
    parser = build_parser()
    for argv in (["sample", "--out", "x"], ["train", "time", "--out", "x"],
                 ["encode-prompts", "--model", "m", "--out", "x.pth", "a"]):
        for name in DEVICES:
            assert parser.parse_args([*argv, "--device", name]).device == name
        with pytest.raises(SystemExit):
            parser.parse_args([*argv, "--device", "tpu"])


def test_one_precision_list(qapp):
    from app import settings
    from app.main_window import PRECISION_LABELS

    assert train.PRECISIONS is PRECISIONS and settings.PRECISIONS is PRECISIONS
    assert tuple(PRECISION_LABELS) == PRECISIONS, "the Precision menu offers each, in order"
    assert tuple(devices.DTYPES) == PRECISIONS[1:]
    parser = build_parser()
    for argv, option in ((["sample", "--out", "x"], "dtype"),
                         (["train", "time", "--out", "x"], "precision")):
        for name in PRECISIONS:
            assert getattr(parser.parse_args([*argv, f"--{option}", name]), option) == name
        with pytest.raises(SystemExit):
            parser.parse_args([*argv, f"--{option}", "int8"])
