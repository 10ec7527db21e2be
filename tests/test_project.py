"""The project's own promises: the README's commands are what CI runs, and ruff is clean."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```sh\n(.+?)\n```", text)


def test_ci_runs_the_readme_test_command():
    commands = readme_commands()
    tests = [c for c in commands if "pytest" in c]
    assert len(tests) == 1, "the README names one test command"
    assert tests[0] in (ROOT / ".ci" / "run").read_text()
    assert any(c.endswith("main.py") for c in commands), "the README names the run command"


def test_ruff_is_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (it comes with ./setup.sh --test)")
    done = subprocess.run([ruff, "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
