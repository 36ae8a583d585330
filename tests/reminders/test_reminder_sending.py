"""Reminder sending at database speed: set-based statements, claims of several messages, the
bell in one transaction, and the sweep that repairs what a dead sender left unsummarised."""

from __future__ import annotations

import datetime

import pytest
import redis
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from issues.models import Notification
from reminders import ratelimit, services
from reminders.channels import InAppChannel, TransientError
from reminders.models import Delivery, Reminder
from tests.reminders.conftest import NOW, overdue_issue, robot

pytestmark = pytest.mark.django_db


def queries_to_send(recorder) -> int:
    with CaptureQueriesContext(connection) as captured:
        services.deliveries_send(now=NOW, channel_factory=recorder)
    return len(captured)


@override_settings(REMINDER_DIGEST_MAX_ITEMS=200)
def test_reminder_sending_runs_the_same_statements_for_10_or_150_cases(world, recorder):
    """One robot message and one bell message either way: the statements do not grow with
    the cases they carry (the claim, the marks and the summary are one statement each)."""
    counts = []
    for organisation, community, cases in (
        (world.org_x, world.community_a, 10),
        (world.org_y, world.community_b, 150),
    ):
        robot(organisation)
        for _ in range(cases):
            overdue_issue(world, organisation=organisation, community=community)
        services.reminders_run(now=NOW)
        counts.append(queries_to_send(recorder))

    assert Delivery.objects.filter(state=Delivery.State.SENT).count() == 2 * 160
    assert set(Reminder.objects.values_list("state", flat=True)) == {Reminder.State.SENT}
    assert counts[0] == counts[1], counts


def test_reminder_one_claim_sends_several_messages_and_records_each(world, recorder):
    wecom = robot(world.org_x, rate_limit_per_minute=100)
    for _ in range(65):
        overdue_issue(world)
    services.reminders_run(now=NOW)
    # Four messages of 20, 20, 20 and 5 cases in one claim: the second one fails.
    recorder.failures[wecom.target_key] = [None, TransientError("HTTP 502", response_code=502)]

    report = services.deliveries_send(now=NOW, channel_factory=recorder)

    rows = Delivery.objects.filter(config=wecom)
    assert len(recorder.messages_to(wecom)) == 1
    assert rows.filter(state=Delivery.State.SENT, attempts=1).count() == 20
    failed = rows.filter(state=Delivery.State.PENDING, attempts=1)
    assert failed.count() == 20 and report.retried == 20
    # The messages after the failure were not tried: no attempt spent, the same wait.
    untried = rows.filter(state=Delivery.State.PENDING, attempts=0)
    assert untried.count() == 25
    retry_at = failed.first().next_attempt_at
    assert retry_at > NOW
    assert set(untried.values_list("next_attempt_at", flat=True)) == {retry_at}
    assert not rows.filter(state=Delivery.State.SENDING).exists()


def test_reminder_bell_and_its_sent_mark_commit_together(world, recorder, monkeypatch):
    overdue_issue(world)
    services.reminders_run(now=NOW)

    def broken(self, message):
        Notification.objects.create(user_id=self.user_id, kind="partial", title="half written")
        raise TransientError("the database said no")

    monkeypatch.setattr(InAppChannel, "send", broken)
    services.deliveries_send(now=NOW, channel_factory=recorder)

    bell = Delivery.objects.get(user=world.handler_xincheng)
    assert (bell.state, bell.attempts) == (Delivery.State.PENDING, 1)
    assert not Notification.objects.exists()  # what the failing send wrote is gone
    monkeypatch.undo()

    services.deliveries_send(now=bell.next_attempt_at, channel_factory=recorder)

    bell.refresh_from_db()
    assert (bell.state, bell.attempts) == (Delivery.State.SENT, 2)
    assert Notification.objects.filter(user=world.handler_xincheng).count() == 1


def test_reminder_sweep_summarises_what_a_dead_sender_left_pending(world, recorder):
    overdue_issue(world)
    services.reminders_run(now=NOW)
    services.deliveries_send(now=NOW, channel_factory=recorder)
    # As if the sender had died after recording the send and before summarising the pass.
    Reminder.objects.update(state=Reminder.State.PENDING, sent_at=None, next_attempt_at=NOW)

    later = NOW + datetime.timedelta(minutes=10)  # more than a lease later
    services.deliveries_send(now=later, channel_factory=recorder)

    assert Reminder.objects.get().state == Reminder.State.SENT


def test_reminder_sweep_leaves_a_reminder_waiting_for_its_retry_alone(world, recorder):
    wecom = robot(world.org_x)
    overdue_issue(world)
    services.reminders_run(now=NOW)
    recorder.failures[wecom.target_key] = [TransientError("HTTP 502", response_code=502)]
    with override_settings(REMINDER_RETRY_BASE_SECONDS=3600, REMINDER_RETRY_MAX_SECONDS=3600):
        services.deliveries_send(now=NOW, channel_factory=recorder)
    reminder = Reminder.objects.get()
    assert reminder.state == Reminder.State.PENDING and reminder.next_attempt_at > NOW

    assert services.reminders_sweep(now=NOW + datetime.timedelta(minutes=10)) == 0


@pytest.mark.parametrize("backend", ["redis", "database"])
def test_reminder_rate_window_gives_a_sender_several_slots_at_once(world, backend):
    wecom = robot(world.org_x)
    url = "redis://127.0.0.1:6379/7" if backend == "redis" else "redis://127.0.0.1:6390/7"
    client = redis.Redis.from_url("redis://127.0.0.1:6379/7")
    client.delete(f"civicapp:rate:{wecom.target_key}")
    try:
        first = ratelimit.acquire_many(
            target_key=wecom.target_key, limit=5, wanted=3, now=NOW, redis_url=url
        )
        second = ratelimit.acquire_many(
            target_key=wecom.target_key, limit=5, wanted=3, now=NOW, redis_url=url
        )
        third = ratelimit.acquire_many(
            target_key=wecom.target_key, limit=5, wanted=1, now=NOW, redis_url=url
        )
    finally:
        client.delete(f"civicapp:rate:{wecom.target_key}")

    assert (first.granted, first.wait) == (3, 0)
    assert second.granted == 2 and 59 < second.wait <= 60
    assert third.granted == 0 and third.wait > 59
