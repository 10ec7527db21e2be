"""No import cycle in app/ or engine/, and no app/ module imports the main window (issue 13).

The graph is built from the source with `ast`, without importing anything. An edge A -> B means
module A names B in an import statement anywhere in its file, inside a function too (a lazy
import still ties the two together); an import under `if TYPE_CHECKING:` is left out, since it
never runs. `from package import name` points at package.name where that is a module of ours,
else at the package.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("app", "engine")
MAIN_WINDOW = "app.main_window"
# The GUI launch: the command line opens the window, lazily, inside the function that does it.
MAY_LAUNCH = ("app.cli",)


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules(root: Path) -> dict[str, Path]:
    found = {}
    for folder in FOLDERS:
        for path in sorted((root / folder).rglob("*.py")):
            found[module_name(path, root)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The module an ImportFrom names, its relative dots resolved against `module`."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    drop = node.level - 1 if is_package else node.level
    base = base[:len(base) - drop] if drop else base
    return ".".join(base + ([node.module] if node.module else []))


class _Imports(ast.NodeVisitor):
    """Every import statement of one file, with whether it sits inside a function."""

    def __init__(self) -> None:
        self.found: list[tuple[ast.Import | ast.ImportFrom, bool]] = []
        self._depth = 0

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def _function(self, node: ast.AST) -> None:
        self._depth += 1
        self.generic_visit(node)
        self._depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_Import(self, node: ast.Import) -> None:
        self.found.append((node, self._depth > 0))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self.found.append((node, self._depth > 0))


def imports_of(path: Path, module: str, known: set[str]) -> list[tuple[str, bool]]:
    """(imported project module, inside a function) for each import in the file."""
    visitor = _Imports()
    visitor.visit(ast.parse(path.read_text(), str(path)))
    out = []
    for node, lazy in visitor.found:
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = _absolute(node, module, path.name == "__init__.py")
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        out += [(name, lazy) for name in targets if name in known]
    return out


def import_graph(root: Path) -> dict[str, set[str]]:
    modules = project_modules(root)
    known = set(modules)
    return {name: {target for target, _ in imports_of(path, name, known) if target != name}
            for name, path in modules.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (a path that returns to its start) per strongly connected group of modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def connect(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_cycle_in(graph, group) for group in groups]


def _cycle_in(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """The shortest way from the group's first module back to itself, inside the group."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node] & group):
                if nxt == start:
                    return paths[node] + [start]
                if nxt not in paths:
                    paths[nxt] = paths[node] + [nxt]
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"no cycle in the group {sorted(group)}")


def main_window_importers(root: Path) -> list[str]:
    modules = project_modules(root)
    known = set(modules)
    bad = []
    for name, path in modules.items():
        if name == MAIN_WINDOW or not name.startswith("app"):
            continue
        for target, lazy in imports_of(path, name, known):
            if target == MAIN_WINDOW and not (lazy and name in MAY_LAUNCH):
                bad.append(f"{path.relative_to(root)} imports {MAIN_WINDOW}")
    return bad


def test_no_import_cycle_in_app_or_engine():
    cycles = [" -> ".join(cycle) for cycle in find_cycles(import_graph(ROOT))]
    assert cycles == [], "import cycles:\n" + "\n".join(cycles)


def test_no_app_module_imports_the_main_window():
    assert main_window_importers(ROOT) == []


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_checker_finds_a_cycle_through_a_lazy_import(tmp_path):
    _write(tmp_path, {
        "engine/__init__.py": "",
        "engine/a.py": "from engine import b\n",
        "engine/b.py": "def f():\n    from .c import g\n",
        "engine/c.py": "import engine.a\n",
        "engine/d.py": "from engine.a import x\n",
        "app/__init__.py": "",
    })
    assert find_cycles(import_graph(tmp_path)) == [
        ["engine.a", "engine.b", "engine.c", "engine.a"]]


def test_checker_leaves_out_type_checking_imports(tmp_path):
    _write(tmp_path, {
        "engine/__init__.py": "",
        "engine/a.py": "import engine.b\n",
        "engine/b.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                        "    from engine.a import A\nelse:\n    pass\n"),
        "app/__init__.py": "",
    })
    assert find_cycles(import_graph(tmp_path)) == []


def test_checker_names_who_imports_the_main_window(tmp_path):
    _write(tmp_path, {
        "engine/__init__.py": "",
        "app/__init__.py": "",
        "app/main_window.py": "from app import panel\n",
        "app/panel.py": "x = 1\n",
        "app/cli.py": "def main():\n    from app.main_window import run_app\n",
        "app/sub/__init__.py": "",
        "app/sub/bad.py": "from ..main_window import MainWindow\n",
        "app/bad_cli.py": "from app import main_window\n",
    })
    assert sorted(main_window_importers(tmp_path)) == [
        "app/bad_cli.py imports app.main_window", "app/sub/bad.py imports app.main_window"]
