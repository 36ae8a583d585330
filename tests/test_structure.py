"""The layout keeps its promises: dev tooling apart from the runtime, migrations frozen."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
RUNTIME_APPS = ("civicapp", "districts", "issues", "reminders")
FIRST_PARTY = (*RUNTIME_APPS, "devtools", "tests")


def imported_modules(path: Path) -> set[str]:
    """Every module a Python file imports, at any depth (function-level imports included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def python_files(*packages: str) -> list[Path]:
    return sorted(path for package in packages for path in (PROJECT / package).rglob("*.py"))


def installed_apps(**env: str) -> list[str]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DEBUG", "CIVICAPP_DEVTOOLS", "DJANGO_SETTINGS_MODULE", "DATABASE_URL"}
    }
    clean.update(env)
    result = subprocess.run(
        [sys.executable, "-c", "import civicapp.settings as s; print(*s.INSTALLED_APPS)"],
        cwd=PROJECT,
        env=clean,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.split()


def test_structure_runtime_apps_never_import_the_dev_tools():
    offenders = [
        f"{path.relative_to(PROJECT)}: {module}"
        for path in python_files(*RUNTIME_APPS)
        for module in imported_modules(path)
        if module.split(".")[0] == "devtools"
    ]
    assert offenders == []


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, False),
        ({"DEBUG": "1"}, True),
        ({"CIVICAPP_DEVTOOLS": "1"}, True),
        ({"DEBUG": "1", "CIVICAPP_DEVTOOLS": "0"}, False),
    ],
)
def test_structure_dev_tools_are_installed_only_for_development(env, expected):
    assert ("devtools" in installed_apps(SECRET_KEY="x" * 50, **env)) is expected


def test_structure_demo_and_benchmarks_live_in_the_dev_tools():
    commands = {path.stem for path in (PROJECT / "devtools/management/commands").glob("*.py")}
    assert {"load_demo", "benchmark_lists", "benchmark_import"} <= commands
    for app in ("districts", "issues"):
        runtime = {path.stem for path in (PROJECT / app / "management/commands").glob("*.py")}
        assert not runtime & {"load_demo", "benchmark_lists", "benchmark_import"}
    assert not (PROJECT / "issues/demo").exists()


def test_structure_migrations_import_no_live_app_code():
    """A migration that read the live code would install different rows after an edit."""
    offenders = []
    for path in sorted(PROJECT.glob("*/migrations/*.py")):
        for module in imported_modules(path):
            package, _, rest = module.partition(".")
            if package not in FIRST_PARTY:
                continue
            # Django writes `import <app>.models` for field defaults and validators; a data
            # migration may read the frozen modules kept beside it.
            if rest == "models" or rest.startswith("migrations"):
                continue
            offenders.append(f"{path.relative_to(PROJECT)}: {module}")
    assert offenders == []


def test_structure_taxonomy_migration_reads_its_frozen_copy_of_the_data():
    from districts.migrations import _taxonomy_0002 as frozen

    migration = PROJECT / "districts/migrations/0002_default_taxonomy.py"
    assert "districts.migrations._taxonomy_0002" in imported_modules(migration)
    # domain.md §6: 17 point types and 32 categories.
    assert (len(frozen.POINT_TYPES), len(frozen.CATEGORIES)) == (17, 32)
