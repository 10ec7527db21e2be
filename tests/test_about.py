"""Help ▸ About shows the version, the libraries, the bundled models and, in full, the licence
notice of every bundled model's art and data (issue 12: the emoji art's notices in the About)."""

from __future__ import annotations

from app.about import MAX_NOTICE_CHARS, AboutDialog, about_text
from engine.models.registry import RESOURCES
from tests.test_app import make_window


def _model(root, name, training=None, licences=None):
    folder = root / name
    folder.mkdir(parents=True)
    if training is not None:
        (folder / "TRAINING.md").write_text(training, encoding="utf-8")
    if licences is not None:
        (folder / "LICENSES.md").write_text(licences, encoding="utf-8")
    return folder


def test_the_page_lists_each_model_and_every_notice_in_full(tmp_path):
    _model(tmp_path, "emoji", "# Emoji\n\nTwo stages trained\non emoji art.\n\nMore.",
           "# Emoji art: licences\n\nTwemoji: CC-BY 4.0.\n\nemojibase-data: MIT License.\n")
    _model(tmp_path, "mnist-class", "# Digits\n\nThe class UNet.\n")
    _model(tmp_path, "bare")
    text = about_text(tmp_path, "9.9")
    assert text.startswith("## Diffusion Canvas 9.9")
    assert "- **emoji**: Two stages trained on emoji art." in text
    assert "- **mnist-class**: The class UNet." in text and "- **bare**\n" in text
    assert "Twemoji: CC-BY 4.0." in text and "emojibase-data: MIT License." in text
    assert "More." not in text, "only the first paragraph of TRAINING.md"
    assert "- torch " in text and "(BSD-3-Clause)" in text
    assert "not installed" not in text, "every library the app runs on has its version"


def test_a_huge_or_missing_notice_folder_is_still_one_page(tmp_path):
    _model(tmp_path, "big", licences="x" * (MAX_NOTICE_CHARS * 3))
    text = about_text(tmp_path / "big" / "..", "1")
    assert "(cut here: the whole notice is in" in text and len(text) < MAX_NOTICE_CHARS + 2000
    assert "Bundled models" not in about_text(tmp_path / "missing", "1")


def test_help_about_shows_the_bundled_art_licences(qtbot, tmp_path):
    window = make_window(qtbot, None, tmp_path / "window", check_recovery=False)
    assert (RESOURCES / "emoji-classifier" / "LICENSES.md").is_file()
    window.action("about").trigger()
    dialogs = [d for d in window.findChildren(AboutDialog) if d.isVisible()]
    assert len(dialogs) == 1
    shown = dialogs[0].browser.toPlainText()
    assert "emoji-classifier" in shown and "CC-BY 4.0" in shown and "Apache" in shown
    assert "mnist-class" in shown and "Diffusion Canvas" in shown
    dialogs[0].close()
