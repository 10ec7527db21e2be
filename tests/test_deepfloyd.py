"""DeepFloyd IF end to end on tiny random models saved like the real ones: stage I options and
memory, stage II upscaling (with anagram views), T5 prompt encoding, clear refusals, and
`reproduce part-a --quick`."""

import re

import pytest
import torch
from PIL import Image

from app.cli import main
from engine import edits, loops
from engine.errors import ModelError, PromptError
from engine.models.memory import OffloadGroup, estimate_memory, parameter_count
from engine.models.registry import find_models, load_model
from engine.models.tiny import save_tiny_if, save_tiny_if_stage_two, tiny_embeddings
from engine.prompts import attach_embeddings, load_embeddings
from engine.reproduce_a import digits_setup, if_setup
from engine.training.checkpoint import save_weights, write_config
from engine.training.unets import build_unet
from engine.views import VIEWS

PROMPTS = ["a high quality photo", "", "a rocket ship", "a pencil"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """A training run may share the machine: one thread keeps these tests quick."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def isolated(if_environment):
    pass


@pytest.fixture(scope="module")
def models(if_models):
    return if_models


@pytest.fixture(scope="module")
def lone_stage_one(lone_if):
    return lone_if


@pytest.fixture(scope="module")
def embeddings_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("emb") / "prompt_embeds_dict.pth"
    setup = if_setup(quick=True)
    torch.save(tiny_embeddings(setup.prompts("a high quality photo", "") + PROMPTS), path)
    return path


def test_stage_one_dtype_choice_and_memory_estimate(lone_stage_one):
    model = load_model(str(lone_stage_one), "cpu", dtype="bf16")
    assert model.dtype == torch.bfloat16 and next(model.unet.parameters()).dtype == torch.bfloat16
    pred = model.predict(torch.zeros(2, 3, 32, 32), torch.tensor([500, 500]),
                         torch.zeros(2, 77, 32))
    assert pred.eps.dtype == torch.float32 and pred.variance.shape == (2, 3, 32, 32)
    with pytest.raises(ModelError, match="fp32 or bf16"):
        load_model(str(lone_stage_one), "cpu", dtype="fp16")
    params = sum(p.numel() for p in model.unet.parameters())
    assert parameter_count(lone_stage_one) == params  # read from the safetensors header
    assert estimate_memory(lone_stage_one, torch.float16) == int(params * 2 * 1.2)
    assert estimate_memory(lone_stage_one, torch.float32) == int(params * 4 * 1.2)


def test_offload_keeps_one_module_on_the_device(lone_stage_one):
    model = load_model(str(lone_stage_one), "cpu", offload="model")
    assert model.offload.mode == "none"  # nothing to offload to on the CPU
    group = OffloadGroup(torch.device("cpu"))
    group.mode = "model"
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    group.activate(a)
    group.activate(a)
    group.activate(b)
    assert group.active is b and group.moves == 2


def test_memory_estimate_is_listed_for_cached_if(tmp_path, monkeypatch, capsys):
    snap = tmp_path / "hub" / "models--DeepFloyd--IF-I-tiny" / "snapshots" / "abc"
    save_tiny_if(snap)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    info = {m.name: m for m in find_models()}["DeepFloyd/IF-I-tiny"]
    assert info.memory_fp16 == estimate_memory(snap, torch.float16)
    assert main(["models"]) == 0
    assert re.search(r"DeepFloyd/IF-I-tiny\tdeepfloyd-if\t.*\tneeds ~", capsys.readouterr().out)


@pytest.mark.parametrize("error", [torch.cuda.OutOfMemoryError("CUDA out of memory."),
                                   RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"),
                                   MemoryError()])
def test_out_of_memory_becomes_advice(lone_stage_one, embeddings_file, error):
    model = load_model(str(lone_stage_one), "cpu")
    attach_embeddings(model, embeddings_file)

    def explode(*args, **kwargs):
        raise error

    model.unet.forward = explode
    with pytest.raises(ModelError) as caught:
        loops.final(edits.sample(model, ["a rocket ship"], torch.Generator(), steps=2))
    message = str(caught.value)
    assert "ran out of memory" in message and "offload" in message and "IF-I-M" in message


def test_other_runtime_errors_pass_through(lone_stage_one):
    model = load_model(str(lone_stage_one), "cpu")

    def explode(*args, **kwargs):
        raise RuntimeError("shape mismatch")

    model.unet.forward = explode
    with pytest.raises(RuntimeError, match="shape mismatch"):
        model.predict(torch.zeros(1, 3, 32, 32), torch.tensor([1]), torch.zeros(1, 77, 32))


def test_upscale_32_to_128_with_and_without_views(models):
    model = load_model(str(models / "IF-I-tiny-v1.0"), "cpu")
    up = model.upscaler()
    assert up.folder.name == "IF-II-tiny-v1.0"
    batches = []
    inner = up.unet.forward

    def record(x, *args, **kwargs):
        batches.append(x.shape[0])
        return inner(x, *args, **kwargs)

    up.unet.forward = record
    low = torch.rand(1, 3, 32, 32) * 2 - 1
    cond, uncond = model.encode(["a rocket ship"]), model.encode([""])
    out = up.upscale(low, cond, uncond, torch.Generator().manual_seed(0))
    assert out.shape == (1, 3, 128, 128) and torch.isfinite(out).all()
    assert out.abs().max() <= 1 and batches == [2, 2]  # CFG in one batch, 2 steps
    batches.clear()
    views = [VIEWS["identity"], VIEWS["flip"]]
    out = up.upscale(low.repeat(2, 1, 1, 1), model.encode(["a rocket ship", "a pencil"]), uncond,
                     torch.Generator().manual_seed(0), views=views)
    assert out.shape == (2, 3, 128, 128) and batches == [8, 8]  # 2 views x 2 images x CFG


def test_stage_two_is_found_in_the_hub_cache(lone_stage_one, tmp_path, monkeypatch):
    snap = tmp_path / "hub" / "models--DeepFloyd--IF-II-M-v1.0" / "snapshots" / "abc"
    save_tiny_if_stage_two(snap)
    (snap.parents[1] / "refs").mkdir()
    (snap.parents[1] / "refs" / "main").write_text("abc")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert load_model(str(lone_stage_one), "cpu").upscaler().folder == snap


def test_anagram_upscale_from_the_command_line(models, tmp_path):
    out = tmp_path / "anagram.png"
    assert main(["edit", "anagram", "--model", str(models / "IF-I-tiny-v1.0"), "--prompt",
                 "a rocket ship", "--prompt2", "a pencil", "--steps", "2", "--upscale",
                 "--device", "cpu", "--out", str(out), "--frames", str(tmp_path / "f.gif")]) == 0
    assert Image.open(out).size == (128, 128)
    with Image.open(tmp_path / "f.gif") as gif:
        sizes = set()
        for index in range(gif.n_frames):
            gif.seek(index)
            sizes.add(gif.size)
        assert gif.n_frames == 2 + 2 and sizes == {(256, 256)}, "both stages, one size"


def test_missing_stage_two_is_named(lone_stage_one, embeddings_file, tmp_path, capsys):
    model = load_model(str(lone_stage_one), "cpu")
    with pytest.raises(ModelError, match="IF stage II.*Hugging Face cache"):
        model.upscaler()
    assert main(["sample", "--model", str(lone_stage_one), "--prompts", str(embeddings_file),
                 "-n", "1", "--steps", "1", "--upscale", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "DeepFloyd/IF-II-L-v1.0" in err and "Traceback" not in err


def test_refusals_name_the_problem(models, tmp_path, capsys):
    with pytest.raises(ModelError, match="stage II, an upscaler"):
        load_model(str(models / "IF-II-tiny-v1.0"), "cpu")
    broken = tmp_path / "IF-I-broken"
    save_tiny_if(broken)
    (broken / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(ModelError, match="no unet/diffusion_pytorch_model.safetensors"):
        load_model(str(broken), "cpu")
    (tmp_path / "notes").mkdir()
    with pytest.raises(ModelError, match="not a model this app can load"):
        load_model(str(tmp_path / "notes"), "cpu")
    bad = tmp_path / "bad.pth"
    torch.save({"": torch.zeros(1, 77, 4096).half()}, bad)
    assert main(["sample", "--model", str(models / "IF-I-tiny-v1.0"), "--prompts", str(bad),
                 "--out", str(tmp_path / "o")]) == 1
    assert "(1, 77, 4096), but this model takes (1, 77, 32)" in capsys.readouterr().err
    no_uncond = tmp_path / "no-uncond.pth"
    torch.save({"a rocket ship": torch.zeros(1, 77, 32).half()}, no_uncond)
    with pytest.raises(PromptError, match="no '' entry"):
        attach_embeddings(load_model(str(_lone(tmp_path)), "cpu"), no_uncond)
    with pytest.raises(ModelError, match="applies to DeepFloyd IF only"):
        load_model(str(_tiny_digit_model(tmp_path / "digits")), "cpu", offload="model")


def test_encode_prompts_writes_the_course_format(models, tmp_path, capsys):
    folder = models / "IF-I-tiny-v1.0"
    out = tmp_path / "embeds.pth"
    assert main(["encode-prompts", "--model", str(folder), "--out", str(out), "--device", "cpu",
                 "a rocket ship", "a pencil"]) == 0
    data = load_embeddings(out, (1, 77, 32))
    assert set(data) == {"a rocket ship", "a pencil", ""}
    assert all(v.dtype == torch.float16 for v in data.values())
    assert not torch.equal(data["a rocket ship"], data["a pencil"])
    model = load_model(str(folder), "cpu", "fp32")  # a small folder: auto may be bf16
    assert model.prompt_choices() is None  # free text with the encoder present
    free = model.encode(["A Rocket Ship "])  # preprocessed as diffusers: lower-cased, stripped
    assert torch.allclose(free.half(), data["a rocket ship"], atol=1e-3)
    assert main(["encode-prompts", "--model", str(models / "IF-II-tiny-v1.0"), "--out",
                 str(out), "x"]) == 1
    capsys.readouterr()
    lone = save_tiny_if(tmp_path / "no-t5")
    assert main(["encode-prompts", "--model", str(lone), "--out", str(out), "x"]) == 1
    assert "text_encoder/config.json" in capsys.readouterr().err


def test_a_prompt_longer_than_t5_reads_is_one_message_not_a_silent_cut(models, tmp_path,
                                                                      capsys):
    model = load_model(str(models / "IF-I-tiny-v1.0"), "cpu")
    model.text_encoder.load()
    tokens = model.text_encoder.tokenizer
    words = " ".join(f"rocket{i}" for i in range(60))
    # verbose=False: the check is ours; transformers would log its own warning into `err`
    assert len(tokens(words, verbose=False).input_ids) > 77  # the tiny tokenizer splits words
    with pytest.raises(PromptError, match="T5 encoder reads 77 at most: it would not read"):
        model.encode([words])
    assert model.encode(["a rocket ship"]).shape[1] == 77  # a short prompt still encodes
    out = tmp_path / "long.pth"
    assert main(["encode-prompts", "--model", str(models / "IF-I-tiny-v1.0"), "--out",
                 str(out), "--device", "cpu", words]) == 1
    err = capsys.readouterr().err
    assert "Token indices sequence length" not in err  # our message, not transformers' too
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") and "shorten the prompt" in last and not out.exists()


def test_the_tokenizer_is_read_as_the_hubs_and_missing_packages_are_named(models, tmp_path,
                                                                          monkeypatch, capsys):
    from engine.models import t5

    tokenizer = models / "IF-I-tiny-v1.0" / "tokenizer"
    assert (tokenizer / "spiece.model").is_file() and not (tokenizer / "tokenizer.json").exists()
    monkeypatch.setattr(t5, "_importable", lambda module: module != "google.protobuf")
    assert main(["encode-prompts", "--model", str(models / "IF-I-tiny-v1.0"), "--out",
                 str(tmp_path / "e.pth"), "--device", "cpu", "x"]) == 1
    assert "needs protobuf: pip install protobuf" in capsys.readouterr().err


def test_two_threads_asking_for_the_text_encoder_load_it_once(models, monkeypatch):
    import threading
    import time

    from transformers import T5EncoderModel

    real, calls = T5EncoderModel.from_pretrained, []

    def slow(*args, **kwargs):  # widens the window in which a second load could start
        calls.append(threading.current_thread().name)
        time.sleep(0.3)
        return real(*args, **kwargs)

    monkeypatch.setattr(T5EncoderModel, "from_pretrained", slow)
    encoder = load_model(str(models / "IF-I-tiny-v1.0"), "cpu").text_encoder
    threads = [threading.Thread(target=encoder.load) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert not any(p.is_meta for p in encoder.model.parameters())


def _lone(tmp_path):
    return save_tiny_if(tmp_path / "IF-I-lone")


def _tiny_digit_model(folder):
    torch.manual_seed(0)
    save_weights(build_unet("class", 4), folder / "model.safetensors",
                 metadata={"kind": "class", "hidden": 4})
    write_config(folder, {"kind": "class", "hidden": 4, "num_timesteps": 300,
                          "convention": "ddpm"})
    return folder


SECTIONS = {"A-0", "A-1.1", "A-1.2", "A-1.3", "A-1.4", "A-1.5", "A-1.6", "A-1.7", "A-1.7.1",
            "A-1.7.2", "A-1.7.3", "A-1.8", "A-1.9"}


def _check_index(out):
    index = (out / "index.html").read_text()
    shown = re.findall(r"src='([^']+)'", index)
    assert set(re.findall(r"<b>(A-[\d.]+)</b>", index)) == SECTIONS
    for name in shown:
        with Image.open(out / name) as picture:
            assert picture.width >= 64 and picture.height >= 64
    return shown


def test_reproduce_part_a_quick_on_a_digit_model(tmp_path, capsys):
    model = _tiny_digit_model(tmp_path / "digits")
    out = tmp_path / "part-a"
    assert main(["reproduce", "part-a", "--model", str(model), "--quick", "--device", "cpu",
                 "--out", str(out)]) == 0
    assert len(_check_index(out)) == 13
    assert digits_setup(True).forward_ts == [75, 150, 225]


def test_reproduce_part_a_quick_on_tiny_if_with_stage_two(models, embeddings_file, tmp_path):
    out = tmp_path / "part-a-if"
    assert main(["reproduce", "part-a", "--model", str(models / "IF-I-tiny-v1.0"), "--prompts",
                 str(embeddings_file), "--quick", "--device", "cpu", "--out", str(out)]) == 0
    shown = _check_index(out)
    assert {"a0-stage2.png", "a1-8-stage2.png"} <= set(shown)
    assert Image.open(out / "a0-stage2.png").width > 3 * 128


def test_test_photos_fall_back_to_the_bundled_ones(monkeypatch):
    import sys

    from engine import examples

    monkeypatch.setitem(sys.modules, "skimage", None)  # scikit-image is a test-only dependency
    names = [name for name, _ in examples.course_photos(3)]
    assert names == ["photo-landscape", "photo-still-life", "photo-city"]
    assert all((examples.EXAMPLES / f"{n}.png").is_file() for n in examples.DRAWINGS)


def test_reproduce_part_a_names_missing_prompts(lone_stage_one, tmp_path):
    path = tmp_path / "few.pth"
    torch.save(tiny_embeddings(PROMPTS), path)
    with pytest.raises(PromptError, match="'a man wearing a hat'"):
        from engine.reproduce_a import reproduce_part_a

        reproduce_part_a(tmp_path / "o", str(lone_stage_one), str(path), quick=True,
                         device="cpu")
