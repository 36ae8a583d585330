"""Serve the seeded benchmark database with gunicorn and load one page with wrk.

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/civicapp_bench_i12   # seeded
    CIVICAPP_DEVTOOLS=1 python manage.py benchmark_pages --reuse     # seed once (or reuse)
    CIVICAPP_DEVTOOLS=1 python manage.py benchmark_http              # gunicorn + wrk

gunicorn runs the project's WSGI application with 2 sync workers and DEBUG off on a loopback
port, against the database the command itself uses; wrk (`-t1 -c4 -d15s`) requests the
supervisor's open-issues list with a logged-in session cookie, and the command prints requests/s
and the latency percentiles, p95 included (from wrk's own latency histogram, through a
`done` script). wrk is installed with apt-get when missing (as root); where apt has none, a
small Python driver with the same semantics (one thread of four connections, each sending its
next request when the last answer arrived) runs instead, and the output says so.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from importlib import import_module
from pathlib import Path
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from issues.models import OPEN_STATUSES

DEFAULT_PORT = 18112
WRK_DONE_SCRIPT = """
done = function(summary, latency, requests)
  io.write(string.format("PERCENTILES %.3f %.3f %.3f %.3f\\n",
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
"""


class Command(BaseCommand):
    help = "gunicorn (2 sync workers, DEBUG off) + wrk -t1 -c4 on the supervisor's open list."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--port", type=int, default=DEFAULT_PORT)
        parser.add_argument("--duration", type=int, default=15, help="Seconds of load.")
        parser.add_argument("--connections", type=int, default=4)
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument("--path", help="Another page than the supervisor's open list.")

    def handle(self, *args, **options) -> None:
        name = str(connection.settings_dict["NAME"])
        if connection.vendor != "postgresql" or ("bench" not in name and "perf" not in name):
            raise CommandError("Point DATABASE_URL at a seeded *bench*/*perf* PostgreSQL database.")
        user = get_user_model().objects.filter(username="bench-supervisor").first()
        if user is None:
            raise CommandError("No bench-supervisor: run benchmark_pages (it seeds) first.")
        path = options["path"] or "/issues/?" + urlencode(
            {"status": [str(status) for status in OPEN_STATUSES]}, doseq=True
        )
        cookie = f"{settings.SESSION_COOKIE_NAME}={self.session_for(user)}"
        port = options["port"]
        server = self.start_gunicorn(port, options["workers"])
        try:
            self.wait_until_up(port, path, cookie)
            wrk = self.wrk()
            load = os.getloadavg()
            self.stdout.write(
                f"{name}: GET {path} as bench-supervisor, {options['workers']} sync workers, "
                f"{options['connections']} connections, {options['duration']} s "
                f"(load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})"
            )
            if wrk:
                self.run_wrk(wrk, port, path, cookie, options["duration"], options["connections"])
            else:
                self.stdout.write("wrk is not available: the Python driver measures instead.")
                self.run_python_driver(
                    port, path, cookie, options["duration"], options["connections"]
                )
            load = os.getloadavg()
            self.stdout.write(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()

    def session_for(self, user) -> str:
        """A logged-in session in the configured session store, as a browser's after login."""
        engine = import_module(settings.SESSION_ENGINE)
        session = engine.SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.save()
        return session.session_key

    def start_gunicorn(self, port: int, workers: int) -> subprocess.Popen:
        gunicorn = Path(sys.executable).with_name("gunicorn")
        env = {
            **os.environ,
            "DEBUG": "false",
            "CIVICAPP_DEVTOOLS": "0",
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "false",
            "SECURE_COOKIES": "false",
            "SECURE_HSTS_SECONDS": "0",
        }
        return subprocess.Popen(  # noqa: S603 - our own venv's gunicorn, fixed arguments
            [
                str(gunicorn),
                "civicapp.wsgi",
                "--workers",
                str(workers),
                "--worker-class",
                "sync",
                "--bind",
                f"127.0.0.1:{port}",
                "--log-level",
                "warning",
            ],
            cwd=settings.BASE_DIR,
            env=env,
        )

    def wait_until_up(self, port: int, path: str, cookie: str) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                status, _size = _get(port, path, cookie)
            except OSError:
                time.sleep(0.3)
                continue
            if status != 200:
                raise CommandError(f"GET {path} answered {status} under gunicorn, not 200.")
            for _ in range(10):  # warm both workers
                _get(port, path, cookie)
            return
        raise CommandError("gunicorn did not answer within 30 s.")

    def wrk(self) -> str | None:
        found = shutil.which("wrk")
        if found or os.geteuid() != 0:
            return found
        self.stdout.write("Installing wrk with apt-get…")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for step in (["install", "-y", "-qq", "wrk"], ["update", "-qq"], ["install", "-y", "wrk"]):
            if shutil.which("wrk"):
                break
            subprocess.run(  # noqa: S603 - apt-get with fixed arguments, as root
                ["/usr/bin/apt-get", *step],
                env=env,
                check=False,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        return shutil.which("wrk")

    def run_wrk(
        self, wrk: str, port: int, path: str, cookie: str, duration: int, connections: int
    ) -> None:
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(WRK_DONE_SCRIPT)
        try:
            completed = subprocess.run(  # noqa: S603 - wrk from PATH, fixed arguments
                [
                    wrk,
                    "-t1",
                    f"-c{connections}",
                    f"-d{duration}s",
                    "--latency",
                    "-s",
                    script.name,
                    "-H",
                    f"Cookie: {cookie}",
                    f"http://127.0.0.1:{port}{path}",
                ],
                capture_output=True,
                text=True,
                check=True,
            )
        finally:
            Path(script.name).unlink(missing_ok=True)
        output = completed.stdout
        self.stdout.write(output.rstrip())
        rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
        percentiles = re.search(r"PERCENTILES ([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+)", output)
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
        if rate and percentiles:
            p50, p90, p95, p99 = (float(value) for value in percentiles.groups())
            self.stdout.write(
                f"RESULT wrk: {float(rate.group(1)):.1f} requests/s, p50 {p50:.1f} ms, "
                f"p90 {p90:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms"
                + (f", {errors.group(1)} non-2xx answers" if errors else "")
            )

    def run_python_driver(
        self, port: int, path: str, cookie: str, duration: int, connections: int
    ) -> None:
        latencies: list[float] = []
        failures = [0]
        lock = threading.Lock()
        stop_at = time.monotonic() + duration

        def connection_loop() -> None:
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                try:
                    status, _size = _get(port, path, cookie)
                except OSError:
                    status = 0
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed * 1000)
                    if status != 200:
                        failures[0] += 1

        threads = [threading.Thread(target=connection_loop) for _ in range(connections)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        ordered = sorted(latencies)

        def percentile(share: float) -> float:
            return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

        self.stdout.write(
            f"RESULT python driver: {len(ordered) / elapsed:.1f} requests/s, "
            f"p50 {statistics.median(ordered):.1f} ms, p90 {percentile(0.90):.1f} ms, "
            f"p95 {percentile(0.95):.1f} ms, p99 {percentile(0.99):.1f} ms, "
            f"{failures[0]} failed"
        )


def _get(port: int, path: str, cookie: str) -> tuple[int, int]:
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        client.request("GET", path, headers={"Cookie": cookie, "Host": "127.0.0.1"})
        response = client.getresponse()
        return response.status, len(response.read())
    finally:
        client.close()
