"""The embedded SQLite default under simultaneous sends: every report filed, none a 500.

The suite runs on PostgreSQL, so each test runs tests/security/sqlite_reports.py in its own
process on a fresh SQLite file, with the real settings (WAL, immediate transactions, busy
timeout) deciding how SQLite is opened.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def run_probe(tmp_path: Path, argument: str, **env: str) -> dict:
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'embedded.sqlite3'}",
        **env,
    }
    environment.pop("REDIS_URL", None)
    completed = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "tests.security.sqlite_reports", argument],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("inspectors", [4, 20])
def test_security_sqlite_simultaneous_reports_all_succeed_with_unique_case_numbers(
    tmp_path, inspectors
):
    result = run_probe(tmp_path, str(inspectors))

    assert result["statuses"] == [302] * inspectors, result["statuses"]
    numbers = result["case_numbers"]
    assert len(numbers) == inspectors
    assert len(set(numbers)) == inspectors
    year = numbers[0][:4]
    assert numbers == [f"{year}-{value:06d}" for value in range(1, inspectors + 1)]
    assert result["journal_mode"] == "wal"


def test_security_sqlite_lock_held_past_the_timeout_answers_503_and_the_resend_files_once(
    tmp_path,
):
    result = run_probe(tmp_path, "busy", SQLITE_BUSY_TIMEOUT_SECONDS="1")

    assert result["statuses"] == [503, 302]
    assert result["retry_after"] == "5"
    assert "busy" in result["body"]
    assert len(result["case_numbers"]) == 1
