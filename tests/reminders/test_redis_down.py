"""Redis down while people work: requests succeed, and the reminder goes out once Redis is back."""

from __future__ import annotations

import contextlib
import datetime
import logging
import time

import pytest
import redis
from django.test import override_settings
from django.utils import timezone

from civicapp.celery import app as celery_app
from districts.models import Severity
from issues import services as issue_services
from issues.models import Issue, Notification, Status
from reminders import services
from reminders.models import ChannelConfig, ChannelKind, Delivery, Reminder
from reminders.queue import safe_delay
from reminders.tasks import run_reminders_task
from tests.factories import CategoryFactory
from tests.reminders.conftest import Recorder
from tests.reminders.test_worker_kill import REDIS_URL, kill, start_worker, wait_for

CLOSED_PORT_URL = "redis://127.0.0.1:6390/5"  # nothing listens here: "Redis is down"


@contextlib.contextmanager
def redis_at(url: str):
    """Point settings, the cache and this process's Celery app at `url`, not eagerly."""
    old = (celery_app.conf.broker_url, celery_app.conf.task_always_eager)
    cache = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}}
    with override_settings(REDIS_URL=url, CACHES=cache, CELERY_TASK_ALWAYS_EAGER=False):
        celery_app.conf.broker_url = url
        celery_app.conf.task_always_eager = False
        celery_app._after_fork()  # drop pooled broker connections to the old URL
        try:
            yield
        finally:
            celery_app.conf.broker_url, celery_app.conf.task_always_eager = old
            celery_app._after_fork()


def urgent_category():
    # Urgent, so the job chases it whatever day the real clock says it is.
    return CategoryFactory(
        code="MANHOLE_RD", severity=Severity.URGENT, limit_value=2, limit_unit="H"
    )


def report_and_dispatch(world, category) -> Issue:
    """What the report and dispatch requests do: the lifecycle services."""
    issue = issue_services.issue_create(
        reporter=world.inspector_xincheng,
        category=category,
        community=world.community_a,
        description="井盖缺失",
        latitude=43.65,
        longitude=122.25,
    )
    return issue_services.issue_dispatch(
        issue=issue, actor=world.supervisor_xincheng, organisation=world.org_x
    )


@pytest.mark.django_db
def test_redis_down_safe_delay_returns_quickly_and_logs_then_queues_once_back(caplog):
    with redis_at(CLOSED_PORT_URL), caplog.at_level(logging.WARNING, logger="reminders.queue"):
        started = time.monotonic()
        queued = safe_delay(run_reminders_task)
        elapsed = time.monotonic() - started

    assert queued is False
    assert elapsed < 3
    assert "Could not queue reminders.tasks.run_reminders_task" in caplog.text

    # Redis back: the same call lands the task in the queue.
    broker = redis.Redis.from_url("redis://127.0.0.1:6379/6")
    broker.flushdb()
    try:
        with redis_at("redis://127.0.0.1:6379/6"):
            assert safe_delay(run_reminders_task) is True
        assert broker.llen("celery") == 1
    finally:
        broker.flushdb()


@pytest.mark.django_db
def test_redis_down_while_an_issue_is_reported_and_dispatched_the_request_succeeds(world):
    category = urgent_category()
    with redis_at(CLOSED_PORT_URL):
        started = time.monotonic()
        issue = report_and_dispatch(world, category)
        queued = safe_delay(run_reminders_task)
        elapsed = time.monotonic() - started

    assert elapsed < 5
    assert queued is False
    issue.refresh_from_db()
    assert issue.status == Status.ASSIGNED and issue.deadline is not None


@pytest.mark.django_db
def test_redis_down_the_sender_falls_back_to_the_database_rate_window(world):
    wecom = ChannelConfig.objects.create(
        organisation=world.org_x, kind=ChannelKind.WECOM, webhook_url="https://wecom.test/x"
    )
    issue = report_and_dispatch(world, urgent_category())
    later = issue.deadline + datetime.timedelta(minutes=5)
    recorder = Recorder()

    with redis_at(CLOSED_PORT_URL):
        services.reminders_run(now=later)
        services.deliveries_send(now=later, channel_factory=recorder)

    assert len(recorder.messages_to(wecom)) == 1
    assert Delivery.objects.get(config=wecom).state == Delivery.State.SENT


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_redis_down_then_back_the_first_run_sends_the_reminder(world, tmp_path):
    broker = redis.Redis.from_url(REDIS_URL)
    broker.flushdb()
    category = urgent_category()

    with redis_at(CLOSED_PORT_URL):
        issue = report_and_dispatch(world, category)
        assert safe_delay(run_reminders_task) is False
    assert not Reminder.objects.exists()

    # Time passes while Redis is down: the deadline goes by.
    now = timezone.now()
    Issue.objects.filter(pk=issue.pk).update(
        clock_started_at=now - datetime.timedelta(hours=2, minutes=10),
        deadline=now - datetime.timedelta(minutes=10),
    )

    log = tmp_path / "worker.log"
    worker = start_worker(log)
    try:
        with redis_at(REDIS_URL):
            # Redis is back: the first run (queued as the beat would) finds the issue in the DB.
            assert safe_delay(run_reminders_task) is True
            wait_for(
                lambda: Notification.objects.filter(
                    user=world.handler_xincheng, issue=issue, kind="reminder_overdue"
                ).exists(),
                timeout=60,
                what="the reminder after Redis returned",
                log=log,
            )
            wait_for(
                lambda: Reminder.objects.filter(issue=issue, state=Reminder.State.SENT).exists(),
                timeout=30,
                what="the reminder to be marked sent",
                log=log,
            )
    finally:
        kill(worker)
        broker.flushdb()

    reminder = Reminder.objects.get(issue=issue)
    assert (reminder.kind, reminder.level, reminder.state) == ("overdue", 1, Reminder.State.SENT)
    assert Delivery.objects.filter(reminder=reminder).count() == 1  # handler_xincheng's bell, once
