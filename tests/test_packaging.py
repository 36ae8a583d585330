"""The layout keeps its promises: dev tooling apart from the runtime, migrations frozen."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
RUNTIME_APPS = ("civicapp", "districts", "issues", "reminders", "stats", "rounds")
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
    # docs/domain.md §6: 17 point types and 32 categories.
    assert (len(frozen.POINT_TYPES), len(frozen.CATEGORIES)) == (17, 32)


# --- packaging (pyproject.toml) and the specification ------------------------------------------

TEST_AND_DEV_TOOLS = {
    "pytest",
    "pytest-django",
    "hypothesis",
    "factory-boy",
    "playwright",
    "time-machine",
    "ruff",
    "mypy",
    "django-stubs",
}


def requirement_names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        name = re.split(r"[\s\[<>=!~;@]", line, maxsplit=1)[0]
        names.add(re.sub(r"[-_.]+", "-", name).lower())
    return names


def pyproject() -> dict:
    return tomllib.loads((PROJECT / "pyproject.toml").read_text(encoding="utf-8"))


def test_structure_runtime_requirements_include_no_test_libraries():
    runtime = requirement_names(PROJECT / "requirements.txt")
    assert {"django", "celery", "chinesecalendar"} <= runtime
    assert runtime & TEST_AND_DEV_TOOLS == set()
    # The tools are still pinned, for the demo and the tests.
    dev = requirement_names(PROJECT / "requirements-dev.txt")
    assert {"pytest", "time-machine", "ruff"} <= dev


def test_structure_package_declares_the_runtime_requirements_and_a_build_system():
    config = pyproject()
    assert config["build-system"]["build-backend"] == "setuptools.build_meta"
    assert config["project"]["dynamic"] == ["dependencies"]
    dynamic = config["tool"]["setuptools"]["dynamic"]["dependencies"]
    assert dynamic == {"file": ["requirements.txt"]}


def test_structure_package_ships_every_runtime_package_and_no_tests_or_dev_tools():
    declared = set(config_packages := pyproject()["tool"]["setuptools"]["packages"])
    assert len(declared) == len(config_packages)
    on_disk = {
        ".".join(init.parent.relative_to(PROJECT).parts)
        for app in RUNTIME_APPS
        for init in (PROJECT / app).rglob("__init__.py")
    }
    site = {package for package in declared if package.startswith("civicapp.site.")}
    assert declared - site == on_disk, "list every runtime package in pyproject.toml"
    assert not any(p.split(".")[0] in {"tests", "devtools"} for p in declared)
    mapped = pyproject()["tool"]["setuptools"]["package-dir"]
    assert {mapped[package] for package in site} == {"templates", "static", "locale"}


def test_structure_the_specification_the_code_cites_is_in_the_repository():
    spec = (PROJECT / "docs/domain.md").read_text(encoding="utf-8")
    sections = set(re.findall(r"^## (\d+)\.", spec, flags=re.MULTILINE))
    citations = []
    for path in python_files(*FIRST_PARTY):
        if path.name.startswith("_taxonomy_"):
            continue  # frozen copies keep their words
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"(\S*)domain\.md(?: §(\d+))?", text):
            citations.append((path.relative_to(PROJECT), match.group(1), match.group(2)))
    assert citations
    assert [c for c in citations if not c[1].endswith("docs/")] == []
    assert [c for c in citations if c[2] is not None and c[2] not in sections] == []
