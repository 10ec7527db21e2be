"""The app opens on the emoji cascade at first start when it is bundled, else on the digit
model (issue 12, 3); a model chosen before is kept, and `--model mnist` is unchanged."""

from __future__ import annotations

import shutil

import pytest
from PySide6.QtCore import QSettings

from app.settings import Settings
from engine.models import registry
from tests.emoji_fixtures import train_tiny_cascade, write_emoji_set


@pytest.fixture(scope="module")
def cascade(tmp_path_factory):
    root = tmp_path_factory.mktemp("emoji-default")
    return train_tiny_cascade(write_emoji_set(root / "set", copies=1), root)


@pytest.fixture
def resources(tmp_path, monkeypatch):
    """An empty resources/models folder with the bundled digit model linked in."""
    folder = tmp_path / "resources"
    folder.mkdir()
    (folder / registry.BUNDLED["mnist"]).symlink_to(registry.RESOURCES / registry.BUNDLED["mnist"])
    monkeypatch.setattr(registry, "RESOURCES", folder)
    return folder


def fresh_settings(tmp_path) -> Settings:
    return Settings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))


def test_without_the_emoji_bundle_the_app_opens_on_the_digit_model(resources, tmp_path):
    assert registry.default_model() == "mnist"
    assert fresh_settings(tmp_path).model == "mnist"


def test_with_the_emoji_bundle_the_app_opens_on_it(resources, cascade, tmp_path, if_environment):
    shutil.copytree(cascade, resources / "emoji")
    assert registry.default_model() == "emoji"
    settings = fresh_settings(tmp_path)
    assert settings.model == "emoji"
    model = registry.load_model(settings.model, device="cpu")
    assert model.image_size == 32 and model.channels == 3 and model.words
    assert model.upscaler().scale == 2, "stage II is found beside stage I in the bundle"
    settings.model = "mnist"
    assert fresh_settings(tmp_path).model == "mnist", "a model chosen before is kept"
    assert registry.load_model("mnist", device="cpu").image_size == 28
