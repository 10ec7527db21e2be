"""One builder for the PNG `parameters` chunk: the app's export and the command line's output of
the same job carry the same keys, with the same values (issue 13, 5)."""

import queue

import pytest
import torch

from app.cli import main
from app.engine_thread import EngineWorker, _Cancels, _Load, _Run
from app.export import export_png
from app.history import Result
from app.jobs import Job, own_parameters
from engine.images import prepare_image, read_parameters, to_pil

# what the command line knows and the app does not: the files it read
FILES = ("image", "mask", "prompts_file")


def app_results(spec: str, job: Job) -> list[Result]:
    """The app's path to a result: the engine worker runs the job (here in this thread) and the
    window makes one Result per image of the batch."""
    requests: queue.Queue = queue.Queue()
    worker = EngineWorker(requests, _Cancels())
    done: list = []
    failed: list = []
    worker.finished.connect(lambda _id, images, params, _frames: done.append((images, params)))
    worker.failed.connect(lambda _id, message: failed.append(message))
    for request in (_Load(spec, "cpu"), _Run(job, 1), None):
        requests.put(request)
    threads = torch.get_num_threads()
    try:
        worker.serve()
    finally:
        torch.set_num_threads(threads)
    assert failed == [] and len(done) == 1
    images, params = done[0]
    return [Result(image, own_parameters(params, i, len(images))) for i, image in
            enumerate(images)]


def exported(result: Result, path) -> dict:
    export_png(result, path)
    return read_parameters(path)


def same_but_files(cli: dict, app: dict) -> None:
    assert sorted(cli) == sorted(app)
    assert {k: v for k, v in cli.items() if k not in FILES} == {
        k: v for k, v in app.items() if k not in FILES}


def test_a_sample_batch_carries_the_same_parameters(qapp, tiny_model, tmp_path):
    out = tmp_path / "cli"
    assert main(["sample", "--model", tiny_model, "--prompt", "7", "-n", "2", "--steps", "4",
                 "--seed", "4", "--out", str(out)]) == 0
    job = Job(mode="sample", prompt="7", steps=4, seed=4, count=2)
    app = [exported(r, tmp_path / f"app-{i}.png") for i, r in
           enumerate(app_results(tiny_model, job))]
    for index in (0, 1):
        cli = read_parameters(out / f"sample-{index:03d}.png")
        same_but_files(cli, app[index])
        assert cli["seed"] == 4 + index and cli["batch_seed"] == 4


def test_a_single_sample_carries_no_batch_keys(qapp, tiny_model, tmp_path):
    out = tmp_path / "cli"
    assert main(["sample", "--model", tiny_model, "-n", "1", "--steps", "3", "--seed", "9",
                 "--out", str(out)]) == 0
    job = Job(mode="sample", prompt=None, steps=3, seed=9)
    app = exported(app_results(tiny_model, job)[0], tmp_path / "app.png")
    cli = read_parameters(out / "sample-000.png")
    same_but_files(cli, app)
    assert "index" not in cli and "batch_seed" not in cli


@pytest.mark.parametrize(("mode", "cli_args", "fields"), [
    ("sdedit", ["--i-start", "3"], {"i_start": 3}),
    ("anagram", ["--prompt", "6", "--prompt2", "9", "--view", "rot180"],
     {"prompt": "6", "prompt2": "9", "view": "rot180"}),
])
def test_an_edit_carries_the_same_parameters(qapp, tiny_model, tmp_path, mode, cli_args, fields):
    image = torch.rand(1, 28, 28)
    image_path = tmp_path / "in.png"
    to_pil(image, (0.0, 1.0)).save(image_path)
    out = tmp_path / "cli.png"
    argv = ["edit", mode, "--model", tiny_model, "--steps", "5", "--seed", "2", "--out",
            str(out), *cli_args]
    if mode == "sdedit":
        argv += ["--image", str(image_path)]
    assert main(argv) == 0
    pixels = prepare_image(image_path, 28, 1, (0.0, 1.0)) if mode == "sdedit" else None
    job = Job(mode=mode, steps=5, seed=2, image=pixels, **fields)
    app = exported(app_results(tiny_model, job)[0], tmp_path / "app.png")
    cli = read_parameters(out)
    same_but_files(cli, app)
    assert cli["mode"] == mode and cli["image"] == (str(image_path) if pixels is not None
                                                    else None)
