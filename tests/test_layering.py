"""The layering rule of DESIGN.md: engine/ is a plain library, widgets/ never reach into it."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QT = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "qtpy")


def imported_modules(folder: str) -> dict[Path, set[str]]:
    found = {}
    for path in (ROOT / folder).rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[path] = names
    return found


def offenders(folder: str, banned: tuple[str, ...]) -> list[str]:
    bad = []
    for path, names in imported_modules(folder).items():
        for name in names:
            if name.split(".")[0] in banned:
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    return bad


def test_engine_imports_neither_qt_nor_app():
    assert offenders("engine", QT + ("app", "widgets")) == []


def test_widgets_never_import_engine():
    assert offenders("widgets", ("engine",)) == []


def session_offenders() -> list[str]:
    """app/session/ is the app's state without widgets: of Qt only PySide6.QtCore (named so;
    `from PySide6 import X` could be anything), and never widgets/."""
    bad = []
    for path, names in imported_modules("app/session").items():
        for name in names:
            top = name.split(".")[0]
            if top == "widgets" or (top in QT and name != "PySide6.QtCore"):
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    return bad


def test_session_uses_qtcore_only():
    assert session_offenders() == []


def test_checker_sees_a_violation(tmp_path, monkeypatch):
    (tmp_path / "engine").mkdir()
    (tmp_path / "engine" / "bad.py").write_text("from PySide6 import QtCore\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path)
    assert offenders("engine", QT) == ["engine/bad.py imports PySide6"]
    (tmp_path / "app" / "session").mkdir(parents=True)
    (tmp_path / "app" / "session" / "ok.py").write_text("from PySide6.QtCore import QObject\n")
    (tmp_path / "app" / "session" / "bad.py").write_text(
        "from PySide6.QtWidgets import QWidget\nimport widgets.canvas\n")
    assert sorted(session_offenders()) == ["app/session/bad.py imports PySide6.QtWidgets",
                                           "app/session/bad.py imports widgets.canvas"]
