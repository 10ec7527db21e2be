"""The README walk: what a new user meets when following the README as written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app import cli
from app.commands.models import human_size
from engine.models.registry import folder_size

ROOT = Path(__file__).resolve().parents[1]


def _main_without(module: str, argv: list[str]) -> subprocess.CompletedProcess:
    """`main.py ARGV` in a Python where `module` cannot be imported (as outside .venv)."""
    code = (f"import sys; sys.modules[{module!r}] = None\n"
            f"from app.cli import main; sys.exit(main({argv!r}))")
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize(("module", "argv"), [("torch", ["models"]),
                                              ("torch", ["sample", "--out", "never-made"]),
                                              ("PySide6", [])])
def test_a_python_without_the_projects_packages_says_to_run_setup(module, argv):
    done = _main_without(module, argv)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: {module} ") and "./setup.sh" in lines[0]
    assert not (ROOT / "never-made").exists()


def test_outside_the_venv_it_names_the_venvs_python(monkeypatch):
    monkeypatch.setattr(sys, "prefix", "/usr")
    message = cli._missing_dependency(ModuleNotFoundError("No module named 'torch'",
                                                          name="torch"))
    assert message is not None
    assert ".venv/bin/python main.py" in message and sys.executable in message


def test_a_module_that_is_no_dependency_keeps_the_usual_message():
    error = ModuleNotFoundError("No module named 'nosuchthing'", name="nosuchthing")
    assert cli._missing_dependency(error) is None


def test_sizes_are_decimal_like_the_readme():
    assert human_size(999) == "999 B"
    assert human_size(1_500_000) == "1.5 MB"
    assert human_size(8_600_000_000) == "8.6 GB"


def test_models_prints_the_denoisers_size_the_readme_quotes(capsys):
    readme = (ROOT / "README.md").read_text()
    size = human_size(folder_size(ROOT / "resources/models/mnist-denoiser"))
    assert f"`mnist-denoiser`, the single-step denoiser after its 5 epochs ({size};" in readme
    assert cli.main(["models"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines()
                if line.startswith("mnist-denoiser\t"))
    assert line.split("\t")[2] == size
