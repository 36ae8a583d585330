"""Settings come from the environment and are secure by default."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def load_settings(**env: str) -> subprocess.CompletedProcess:
    clean = {
        key: value
        for key, value in os.environ.items()
        if key not in {"SECRET_KEY", "DEBUG", "DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}
    }
    clean.update(env)
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import civicapp.settings as s; print(s.DATABASES['default']['ENGINE'])",
        ],
        cwd=PROJECT,
        env=clean,
        capture_output=True,
        text=True,
        check=False,
    )


def test_deployed_settings_refuse_to_start_without_a_secret_key():
    result = load_settings(DATABASE_URL="postgres://civicapp@127.0.0.1:5432/civicapp")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_embedded_default_needs_no_variables_and_keeps_its_key_out_of_git():
    result = load_settings()
    assert result.returncode == 0, result.stderr
    assert "sqlite3" in result.stdout
    key_file = PROJECT / "var" / "secret_key"
    assert key_file.stat().st_mode & 0o077 == 0
    assert len(key_file.read_text().strip()) >= 50
    git = shutil.which("git")
    assert git is not None
    command = [git, "check-ignore", "-q", str(key_file)]
    ignored = subprocess.run(command, cwd=PROJECT, check=False)  # noqa: S603
    assert ignored.returncode == 0
