import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    """A tiny class-conditioned digit model, saved as the bundled ones are."""
    from engine.models.tiny import save_tiny_digit_model

    return str(save_tiny_digit_model(tmp_path_factory.mktemp("tiny-class")))


@pytest.fixture
def if_environment(tmp_path_factory, monkeypatch):
    """No Hugging Face cache, no stage II override, and stage II in 2 steps (tiny IF tests)."""
    from engine.models.deepfloyd_upscale import IFStageTwo

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path_factory.mktemp("empty-hub")))
    monkeypatch.delenv("DIFFUSION_CANVAS_IF_STAGE_II", raising=False)
    monkeypatch.setattr(IFStageTwo, "default_steps", 2)


@pytest.fixture(scope="module")
def if_models(tmp_path_factory):
    """IF-I-tiny (with a tiny T5 and tokenizer) and IF-II-tiny side by side, as downloaded."""
    from engine.models.tiny import save_tiny_if, save_tiny_if_stage_two, save_tiny_t5

    root = tmp_path_factory.mktemp("deepfloyd")
    stage_one = save_tiny_if(root / "IF-I-tiny-v1.0")
    save_tiny_t5(stage_one)
    save_tiny_if_stage_two(root / "IF-II-tiny-v1.0")
    return root


@pytest.fixture(scope="module")
def lone_if(tmp_path_factory):
    """IF-I-tiny alone: no T5 encoder, no stage II beside it."""
    from engine.models.tiny import save_tiny_if

    return save_tiny_if(tmp_path_factory.mktemp("alone") / "IF-I-tiny")
