"""Help ▸ About: the app's version, the libraries it runs on, the bundled models and the licence
notices of the art and data they were trained on (each model folder's LICENSES.md)."""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

LIBRARIES = (("PySide6", "LGPL-3.0"), ("torch", "BSD-3-Clause"), ("diffusers", "Apache-2.0"),
             ("transformers", "Apache-2.0"), ("numpy", "BSD-3-Clause"), ("pillow", "MIT-CMU"))
MAX_NOTICE_CHARS = 20_000  # a notice file larger than this is cut, with a note where it lies


def version_of(package: str) -> str:
    """The installed version (PySide6 ships as PySide6-Essentials/-Addons wheels, so the module's
    own __version__ is asked first)."""
    module = sys.modules.get(package)
    if module is not None and isinstance(getattr(module, "__version__", None), str):
        return module.__version__
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _first_paragraph(path: Path) -> str:
    """The first paragraph of a Markdown file that is not a heading, on one line."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    for block in text.split("\n\n"):
        lines = [line.strip() for line in block.splitlines() if not line.startswith("#")]
        if any(lines):
            return " ".join(line for line in lines if line)
    return ""


def _notice(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        return f"(could not read {path}: {error.strerror or error})"
    if len(text) > MAX_NOTICE_CHARS:
        text = text[:MAX_NOTICE_CHARS] + f"\n\n(cut here: the whole notice is in {path})"
    return reflow_quoted(text.replace("\n# ", "\n#### ").removeprefix("# "))


def reflow_quoted(text: str) -> str:
    """A licence quoted as an indented (code) block, its lines hard-wrapped at ~90 characters,
    as quoted paragraphs that wrap to the dialog: a code block wraps again wherever the dialog
    is narrower, breaking every line in two."""
    out: list[str] = []
    block: list[str] = []

    def flush() -> None:
        if block:
            out.append("> " + " ".join(block))
            block.clear()

    for line in text.split("\n"):
        if line.startswith("    ") and line.strip():
            block.append(line.strip())
            continue
        flush()
        out.append(line)
    flush()
    return "\n".join(out)


def about_text(models_root: Path, app_version: str | None = None) -> str:
    """The About page as Markdown: version, libraries, each bundled model (its TRAINING.md's
    first paragraph) and every LICENSES.md under `models_root`, in full."""
    version = app_version or version_of("diffusion-canvas")
    parts = [f"## Diffusion Canvas {version}",
             "A desktop editor for seeing diffusion models work: draw, mask, fill, make "
             "illusions, train your own model and look inside it.",
             "### Libraries",
             "\n".join(f"- {name} {version_of(name)} ({licence})" for name, licence in LIBRARIES)]
    folders = sorted(p for p in models_root.iterdir() if p.is_dir()) if models_root.is_dir() \
        else []
    if folders:
        parts.append("### Bundled models")
        parts.append("\n".join(
            f"- **{p.name}**" + (f": {_first_paragraph(p / 'TRAINING.md')}"
                                 if (p / "TRAINING.md").is_file() else "") for p in folders))
    notices = [p / "LICENSES.md" for p in folders if (p / "LICENSES.md").is_file()]
    if notices:
        parts.append("### Licences of the art and data the models learnt from")
        for path in notices:
            parts.append(f"**{path.parent.name}** ({path.name}):\n\n{_notice(path)}")
    return "\n\n".join(parts) + "\n"


class AboutDialog(QDialog):
    """A read-only page of about_text, with links opening in the browser."""

    def __init__(self, models_root: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Diffusion Canvas")
        self.browser = QTextBrowser(self)
        self.browser.setOpenExternalLinks(True)
        self.browser.setMarkdown(about_text(models_root))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)
        self.resize(640, 560)
