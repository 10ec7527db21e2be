"""The registry and the diffusers adapters, on tiny models saved and loaded like real weights."""

import json

import pytest
import torch

from engine import edits, loops
from engine.errors import ModelError, PromptError
from engine.models.registry import find_models, load_model
from engine.models.tiny import save_tiny_if, save_tiny_unet2d, tiny_embeddings
from engine.prompts import attach_embeddings, load_embeddings

PROMPTS = ["a high quality photo", "", "a rocket ship"]


@pytest.fixture(scope="module")
def if_folder(tmp_path_factory):
    return save_tiny_if(tmp_path_factory.mktemp("tiny-if"))


@pytest.fixture(scope="module")
def embeddings_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("emb") / "prompt_embeds_dict.pth"
    torch.save(tiny_embeddings(PROMPTS), path)
    return path


def test_if_folder_loads_through_the_registry(if_folder, embeddings_file):
    model = load_model(str(if_folder), "cpu")
    assert (model.image_size, model.channels, model.data_range) == (32, 3, (-1.0, 1.0))
    assert model.schedule.variance_rule == "learned_range"
    assert model.schedule.default_timesteps()[:2] == [990, 960]
    assert model.default_prompt == "a high quality photo" and model.default_guidance == 7.0
    attach_embeddings(model, embeddings_file)
    cond = model.encode(["a rocket ship"])
    pred = model.predict(torch.zeros(1, 3, 32, 32), torch.tensor([500]), cond)
    assert pred.eps.shape == pred.variance.shape == (1, 3, 32, 32)
    out = loops.final(edits.sample(model, ["a rocket ship"], torch.Generator().manual_seed(0),
                                   steps=3)).x_t
    assert out.shape == (1, 3, 32, 32) and torch.isfinite(out).all()


def test_if_without_prompts_says_how_to_get_them(if_folder):
    model = load_model(str(if_folder), "cpu")
    with pytest.raises(PromptError, match="--prompts"):
        edits.sample(model, ["a rocket ship"], torch.Generator())


def test_prompt_missing_from_the_file_is_named(if_folder, embeddings_file):
    model = load_model(str(if_folder), "cpu")
    attach_embeddings(model, embeddings_file)
    with pytest.raises(PromptError, match="'a pencil'"):
        edits.sample(model, ["a pencil"], torch.Generator())


def test_wrong_shaped_embeddings_are_refused(if_folder, tmp_path):
    bad = tmp_path / "bad.pth"
    torch.save({"": torch.zeros(1, 77, 16), "x": torch.zeros(1, 77, 16)}, bad)
    model = load_model(str(if_folder), "cpu")
    with pytest.raises(PromptError, match=r"shape \(1, 77, 16\).*\(1, 77, 32\)"):
        attach_embeddings(model, bad)


def test_embeddings_are_never_unpickled(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pth"
    torch.save({"a": Evil()}, path)
    with pytest.raises(PromptError, match="not a readable embeddings file"):
        load_embeddings(path)
    (tmp_path / "junk.pth").write_bytes(b"not a pickle")
    with pytest.raises(PromptError):
        load_embeddings(tmp_path / "junk.pth")


def test_folder_that_is_not_a_model(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ModelError, match="not a model this app can load"):
        load_model(str(tmp_path), "cpu")
    with pytest.raises(ModelError, match="is a file"):
        load_model(str(tmp_path / "notes.txt"), "cpu")
    with pytest.raises(ModelError, match="nothing is downloaded"):
        load_model("nobody/nothing", "cpu")


def test_if_folder_missing_its_unet_is_named(tmp_path, if_folder):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model_index.json").write_text((if_folder / "model_index.json").read_text())
    with pytest.raises(ModelError, match="unet/config.json"):
        load_model(str(broken), "cpu")


def test_unconditional_unet2d_takes_no_prompt_and_no_cfg(tmp_path):
    model = load_model(str(save_tiny_unet2d(tmp_path / "ddpm")), "cpu")
    assert not model.conditional and model.prompt_choices() == [""]
    with pytest.raises(PromptError, match="unconditional"):
        edits.sample(model, ["a cat"], torch.Generator())
    out = loops.final(edits.sample(model, [""], torch.Generator().manual_seed(0), steps=2)).x_t
    assert out.shape == (1, 3, 32, 32)


def test_hugging_face_cache_entries_resolve_offline(tmp_path, monkeypatch, if_folder):
    cache = tmp_path / "hub"
    snap = cache / "models--DeepFloyd--IF-I-tiny" / "snapshots" / "abc123"
    snap.parent.mkdir(parents=True)
    save_tiny_if(snap)
    refs = cache / "models--DeepFloyd--IF-I-tiny" / "refs"
    refs.mkdir()
    (refs / "main").write_text("abc123")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    model = load_model("DeepFloyd/IF-I-tiny", "cpu")
    assert model.image_size == 32
    listed = {m.name: m for m in find_models()}
    assert listed["DeepFloyd/IF-I-tiny"].kind == "deepfloyd-if"
    assert json.loads((snap / "model_index.json").read_text())["_class_name"] == "IFPipeline"
