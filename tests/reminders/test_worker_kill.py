"""A real Celery worker killed with SIGKILL mid-batch and restarted: nothing lost, nothing twice.

The worker runs `celery -A civicapp worker --pool=solo` against Redis DB 5 and this test's own
PostgreSQL database. A slow robot (the local HTTP server answers after a pause) makes the kill
land while the worker is sending. Short visibility timeout and sending lease keep the test fast;
production uses an hour and five minutes.
"""

from __future__ import annotations

import datetime
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import redis
from celery import Celery
from django.conf import settings
from django.db import connection
from django.utils import timezone

from districts.models import Severity
from issues.models import Escalation, IssueEvent, Notification
from reminders.models import ChannelConfig, ChannelKind, Delivery, Reminder
from tests.factories import CategoryFactory
from tests.reminders.conftest import clock_issue

REDIS_URL = "redis://127.0.0.1:6379/5"
PROJECT = Path(settings.BASE_DIR)
ISSUES = 40
ITEMS_PER_MESSAGE = 2
LEASE_SECONDS = 3
VISIBILITY_SECONDS = 3


def database_url() -> str:
    """The URL of the test database this process uses, for the worker to share it."""
    config = connection.settings_dict
    host = config.get("HOST") or "127.0.0.1"
    port = config.get("PORT") or 5432
    user = config.get("USER") or "postgres"
    return f"postgres://{user}@{host}:{port}/{config['NAME']}"


def start_worker(log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "civicapp.settings",
        "SECRET_KEY": "worker-kill-test-secret",
        "DATABASE_URL": database_url(),
        "DATABASE_CONN_MAX_AGE": "0",
        "REDIS_URL": REDIS_URL,
        "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_SECONDS),
        "REMINDER_SENDING_LEASE_SECONDS": str(LEASE_SECONDS),
        "REMINDER_DIGEST_MAX_ITEMS": str(ITEMS_PER_MESSAGE),
        # The slow robot listens on 127.0.0.1, which webhooks reach only when allowlisted.
        "REMINDER_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DEBUG", None)
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "civicapp",
        "worker",
        "--pool=solo",
        "--loglevel=INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    with log.open("ab") as output:
        # A session of its own, so the kill reaches the worker and nothing else.
        return subprocess.Popen(  # noqa: S603 (a fixed command line)
            command,
            cwd=PROJECT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def kill(worker: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, sig)
        worker.wait(timeout=20)


def wait_for(predicate, *, timeout: float, what: str, log: Path, fail: bool = True) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    if not fail:
        return False
    states = Counter(Delivery.objects.values_list("state", flat=True))
    lines = [line for line in log.read_text().splitlines() if "/MainProcess]" in line]
    pytest.fail(
        f"Timed out waiting for {what}; deliveries {dict(states)}.\n--- worker log ---\n"
        + "\n".join(lines[-40:])
    )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_worker_kill_mid_batch_loses_no_reminder_and_duplicates_none(world, robot_server, tmp_path):
    broker = redis.Redis.from_url(REDIS_URL)
    broker.flushdb()  # DB 5 belongs to these tests
    robot_server.delay_seconds = 0.3  # the slow channel: the kill lands mid-batch
    wecom = ChannelConfig.objects.create(
        organisation=world.org_x,
        kind=ChannelKind.WECOM,
        webhook_url=robot_server.url("/cgi-bin/webhook/send?key=worker-kill"),
        rate_limit_per_minute=1000,
    )
    # Urgent, so that the worker (which runs on the real clock) chases them on any day.
    urgent = CategoryFactory(code="FIRE_LANE_WK", severity=Severity.URGENT)
    now = timezone.now()
    issues = [
        clock_issue(
            world,
            started=now - datetime.timedelta(hours=2, minutes=30),
            deadline=now - datetime.timedelta(minutes=30),
            category=urgent,
            severity=Severity.URGENT,
        )
        for _ in range(ISSUES)
    ]
    log = tmp_path / "worker.log"
    client = Celery("worker-kill-test", broker=REDIS_URL, set_as_current=False)
    client.conf.task_serializer = "json"
    workers: list[subprocess.Popen] = []
    try:
        workers.append(start_worker(log))
        client.send_task("reminders.tasks.run_reminders_task", kwargs={})
        # Wait until the worker is a few messages into the sending batch, then kill it.
        wait_for(lambda: len(robot_server.received) >= 4, timeout=60, what="sending", log=log)
        kill(workers[-1])

        assert Reminder.objects.count() == ISSUES
        states = Counter(Delivery.objects.values_list("state", flat=True))
        assert states["sent"] < 2 * ISSUES, states  # it really died mid-batch
        assert states["sending"] >= 1, states  # with a message in flight

        # Restart after the lease and the visibility timeout have passed: the broker hands the
        # unacknowledged task out again, and it claims the rows the dead worker left "sending".
        time.sleep(max(LEASE_SECONDS, VISIBILITY_SECONDS) + 0.5)
        workers.append(start_worker(log))

        def all_sent() -> bool:
            # The sender refreshes its reminders' own state in batches after sending: wait for
            # that too, or the kill below can land between the last message and the refresh.
            return (
                not Delivery.objects.exclude(state=Delivery.State.SENT).exists()
                and not Reminder.objects.exclude(state=Reminder.State.SENT).exists()
            )

        if not wait_for(all_sent, timeout=20, what="redelivery", log=log, fail=False):
            # Should the redelivered task have run before the dead worker's lease ended, the
            # beat's every-minute sweep finishes the job; play the beat here.
            client.send_task("reminders.tasks.deliver_pending_task", kwargs={})
        wait_for(all_sent, timeout=60, what="every delivery to be sent after the restart", log=log)
    finally:
        for worker in workers:
            kill(worker)
        client.close()
        broker.flushdb()

    # No reminder lost, none duplicated: one ledger row, one escalation, one event per issue.
    assert Reminder.objects.count() == ISSUES
    assert Reminder.objects.values("issue").distinct().count() == ISSUES
    assert Escalation.objects.count() == ISSUES
    assert IssueEvent.objects.filter(action="escalate").count() == ISSUES
    assert not Reminder.objects.exclude(state=Reminder.State.SENT).exists()
    # Deliveries: the handler's bell and the robot, once each (the bell deduplicates by key).
    assert Delivery.objects.count() == 2 * ISSUES
    assert Notification.objects.filter(user=world.handler_xincheng).count() == ISSUES
    # The robot saw every case; only the message in flight at the kill may have come twice.
    received = Counter(
        case
        for request in robot_server.received
        for case in {issue.case_number for issue in issues}
        if f"[{case}]" in request.payload["markdown"]["content"]
    )
    assert set(received) == {issue.case_number for issue in issues}
    assert sum(received.values()) - ISSUES <= ITEMS_PER_MESSAGE
    assert Delivery.objects.filter(config=wecom, attempts__gt=1).count() <= ITEMS_PER_MESSAGE
    # acks_late + reject_on_worker_lost: the killed task itself was handed out again.
    deliveries_received = Counter(
        line.split("[", 2)[2].split("]")[0]
        for line in log.read_text().splitlines()
        if "deliver_pending_task[" in line and line.endswith("received")
    )
    assert max(deliveries_received.values()) >= 2, deliveries_received
