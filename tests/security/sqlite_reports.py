"""Many inspectors send a report at the same instant to a SQLite file database.

Run in its own process by test_security_sqlite.py, because the test suite itself runs on
PostgreSQL: `DATABASE_URL=sqlite:////tmp/x.sqlite3 python -m tests.security.sqlite_reports 20`.
With `busy` instead of a count, another connection holds the write lock for longer than the
busy timeout while one report is sent, then lets go and the same form is sent again.

It migrates the file, builds the personas, logs each inspector in with their own client (and so
their own database connection: Django's connections are per thread), releases every send at
once through a barrier, and prints one JSON line: the status of each send and the case numbers
filed.
"""

from __future__ import annotations

import io
import json
import os
import sys
import threading
import uuid

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django


def _setup():
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    assert connection.vendor == "sqlite", "point DATABASE_URL at a SQLite file"
    call_command("migrate", verbosity=0)


def _report_data(world, photo: bytes, index: int) -> dict:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return {
        "category": str(world.category.pk),
        "point": str(world.point_a.pk),
        "community": "",
        "address": "",
        "latitude": "43.650100",
        "longitude": "122.250100",
        "accuracy_m": "12",
        "description": f"垃圾堆放 {index}",
        "severity": "",
        "client_token": str(uuid.uuid4()),
        "photos": [SimpleUploadedFile("p.jpg", photo, content_type="image/jpeg")],
    }


def _photo() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 80, 40)).save(buffer, "JPEG")
    return buffer.getvalue()


def busy() -> dict:
    """A write lock held past the busy timeout: 503 with nothing filed, then the resend files."""
    import sqlite3

    _setup()
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from issues.models import Issue
    from tests.factories import build_world

    world = build_world()
    client = Client(raise_request_exception=False, HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(world.inspector_xincheng)
    data = _report_data(world, _photo(), 0)
    holder = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    while_locked = client.post(reverse("issues:issue_report"), data)
    holder.execute("ROLLBACK")
    holder.close()
    data["photos"][0].seek(0)
    after = client.post(reverse("issues:issue_report"), data)
    return {
        "statuses": [while_locked.status_code, after.status_code],
        "retry_after": while_locked.get("Retry-After"),
        "body": while_locked.content.decode(),
        "case_numbers": list(Issue.objects.values_list("case_number", flat=True)),
    }


def main(count: int) -> dict:
    _setup()

    from django.db import connection, connections
    from django.test import Client
    from django.urls import reverse

    from districts.models import Role
    from issues.models import Issue
    from tests.factories import build_world, make_staff

    world = build_world()
    inspectors = [
        make_staff(f"inspector{index}", Role.INSPECTOR, districts=[world.district_a])
        for index in range(count)
    ]
    photo = _photo()
    connections.close_all()

    barrier = threading.Barrier(count)
    statuses: list[int | str] = [0] * count

    def send(index: int) -> None:
        try:
            client = Client(raise_request_exception=False, HTTP_ACCEPT_LANGUAGE="en")
            client.force_login(inspectors[index])
            data = _report_data(world, photo, index)
            barrier.wait(timeout=60)
            statuses[index] = client.post(reverse("issues:issue_report"), data).status_code
        except Exception as error:  # reported to the test, which fails on it
            statuses[index] = f"{type(error).__name__}: {error}"
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    numbers = list(Issue.objects.order_by("case_number").values_list("case_number", flat=True))
    return {
        "statuses": statuses,
        "case_numbers": numbers,
        "journal_mode": connection.cursor().execute("PRAGMA journal_mode").fetchone()[0],
    }


if __name__ == "__main__":
    argument = sys.argv[1]
    print(json.dumps(busy() if argument == "busy" else main(int(argument))))
