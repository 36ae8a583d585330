"""The layout tells the architecture: no import circle, and the layers import only downwards."""

from __future__ import annotations

import ast
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
APPS = ("districts", "issues", "reminders", "stats", "rounds")
# Who may import whom (docs/domain.md's layout, house style): never the reverse.
ALLOWED = {
    "districts": {"districts"},
    "issues": {"districts", "issues"},
    "reminders": {"districts", "issues", "reminders"},
    "stats": {"districts", "issues", "stats"},
    "rounds": {"districts", "issues", "rounds"},
}


def _modules() -> dict[str, Path]:
    found = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imports(path: Path, modules: dict[str, Path], *, top_level_only: bool) -> set[str]:
    """The project modules a file imports (at module level only, if asked: what runs on import)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.If) and top_level_only:
            continue  # `if TYPE_CHECKING:` blocks never run
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name in modules}


def test_structure_no_import_circle_among_the_app_modules():
    modules = _modules()
    graph = {name: _imports(path, modules, top_level_only=True) for name, path in modules.items()}
    # A package importing its own submodules is how packages work, not a circle.
    for name, targets in graph.items():
        graph[name] = {t for t in targets if not t.startswith(name + ".")}
    visiting: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        assert name not in visiting, " → ".join([*visiting[visiting.index(name) :], name])
        visiting.append(name)
        for target in sorted(graph[name]):
            visit(target)
        visiting.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)


def test_structure_apps_import_only_the_layers_below_them():
    modules = _modules()
    wrong = []
    for name, path in modules.items():
        app = name.split(".")[0]
        for target in _imports(path, modules, top_level_only=False):
            if target.split(".")[0] not in ALLOWED[app]:
                wrong.append(f"{name} imports {target}")
    assert wrong == []


def test_structure_the_transitions_table_imports_no_policy():
    tree = ast.parse((ROOT / "issues" / "workflow.py").read_text(encoding="utf-8"))
    imported = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    assert "issues.permissions" not in imported
    assert not any(name.startswith("issues.services") for name in imported)
