"""No notification floods: people above the organisation get one summary per run, not per case."""

from __future__ import annotations

import datetime

import pytest
from django.conf import settings
from django.core import mail
from django.utils import translation
from django.utils.translation import gettext

from issues.models import Issue, Notification, Status
from reminders import services
from reminders.channels import PermanentError
from reminders.models import ChannelConfig, ChannelKind, Delivery, Reminder
from tests.reminders.conftest import HOUR, NOW, clock_issue, overdue_issue

pytestmark = pytest.mark.django_db

LIST_PATH = "/issues/?overdue=true&escalation_level=2&escalation_level=3&sort=deadline"
ZONE_LIST_PATH = "/issues/?overdue=true&escalation_level=3&sort=deadline"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def level_two(world, **extra) -> Issue:
    return overdue_issue(world, hours_late=2.5, allowed_hours=2, **extra)


def level_three(world, **extra) -> Issue:
    return overdue_issue(world, hours_late=5, allowed_hours=2, **extra)


def awaiting_verification(world) -> Issue:
    submitted = NOW - datetime.timedelta(days=2)  # Sunday: a working day has passed since
    return clock_issue(
        world,
        started=submitted - 4 * HOUR,
        deadline=submitted + 4 * HOUR,
        status=Status.SUBMITTED,
        submitted_at=submitted,
    )


def speak_english(user) -> None:
    user.membership.language = "en"
    user.membership.save(update_fields=["language"])


def run_and_send(now=NOW, **send) -> services.RunReport:
    report = services.reminders_run(now=now)
    services.deliveries_send(now=now, **send)
    return report


def test_reminder_summary_gives_each_supervisor_one_notification_per_run_with_counts(world):
    speak_english(world.supervisor_xincheng)
    speak_english(world.admin_zone)
    for _ in range(30):
        level_two(world)
    for _ in range(10):
        level_three(world)
    for _ in range(4):
        awaiting_verification(world)
    level_two(world, organisation=world.org_y, community=world.community_b)

    report = run_and_send()

    [summary] = Notification.objects.filter(user=world.supervisor_xincheng)
    assert summary.kind == "reminder_summary" and summary.issue_id is None
    assert summary.title == "Reminder summary: 44 case(s) need attention"
    assert "supervision letter (督办函): 30" in summary.body
    assert "listed for supervision (挂牌督办): 10" in summary.body
    assert "awaiting verification: 4" in summary.body
    # The bell opens the escalated list; the verification queue stays named in the text.
    assert summary.link == LIST_PATH and LIST_PATH not in summary.body
    assert "/issues/verify/" in summary.body
    [zone] = Notification.objects.filter(user=world.admin_zone)
    assert zone.title == "Reminder summary: 10 case(s) need attention"
    assert zone.link == ZONE_LIST_PATH and "/issues/" not in zone.body
    # District B's supervisor hears about district B only.
    [other] = Notification.objects.filter(user=world.supervisor_binhe)
    assert other.title != summary.title
    # The organisation's own handlers still hear about each of their cases.
    assert (
        Notification.objects.filter(
            user=world.handler_xincheng, kind__startswith="reminder_"
        ).count()
        == 40
    )
    assert (
        Notification.objects.filter(user=world.handler_xincheng, kind="reminder_summary").count()
        == 0
    )
    assert report.deliveries == 41  # handler_xincheng 40, handler_binhe 1
    assert report.summaries == 3  # supervisor_xincheng, supervisor_binhe, admin_zone
    assert Delivery.objects.count() == 44


def test_reminder_summary_in_the_bell_opens_the_list_of_the_escalated_cases(world, client):
    escalated = [level_two(world), level_two(world), level_three(world)]
    only_overdue = overdue_issue(world, hours_late=0.5)
    run_and_send()
    [summary] = Notification.objects.filter(user=world.supervisor_xincheng)

    client.force_login(world.supervisor_xincheng)
    bell = client.get("/notifications/", **EN).content.decode()
    assert f'action="/notifications/{summary.pk}/read/"' in bell
    assert "Open the list" in bell
    opened = client.post(f"/notifications/{summary.pk}/read/")
    assert opened.status_code == 302 and opened["Location"] == LIST_PATH
    summary.refresh_from_db()
    assert summary.read_at is not None
    response = client.get(opened["Location"])

    assert response.status_code == 200
    page = response.content.decode()
    for issue in escalated:
        assert issue.case_number in page
    assert only_overdue.case_number not in page  # level 1 is the organisation's business


def test_reminder_summary_of_fixes_only_opens_the_verification_queue(world):
    awaiting_verification(world)
    run_and_send()
    [summary] = Notification.objects.filter(user=world.supervisor_xincheng)
    assert summary.link == "/issues/verify/"
    assert "/issues/" not in summary.body


def test_reminder_summary_for_the_zone_mailbox_is_one_email_per_run(world):
    ChannelConfig.objects.create(
        organisation=None, kind=ChannelKind.EMAIL, email_addresses="office@zone.example"
    )
    issues = [level_three(world) for _ in range(25)]

    run_and_send()

    [email] = [message for message in mail.outbox if message.to == ["office@zone.example"]]
    assert "25" in email.subject
    assert f"http://127.0.0.1:8000{ZONE_LIST_PATH}" in email.body
    assert email.body.count("/issues/") == 20 + 1  # the 20 oldest cases and the list
    oldest = min(issues, key=lambda issue: (issue.deadline, issue.pk))
    assert oldest.case_number in email.body
    with translation.override(settings.LANGUAGE_CODE):
        assert gettext("… and %(count)d more.") % {"count": 5} in email.body


def test_reminder_summary_rerun_adds_nothing_and_a_later_level_gets_a_new_summary(world):
    issue = level_two(world)

    first = run_and_send()
    again = run_and_send()
    later = run_and_send(now=NOW + 3 * HOUR)  # 5.5 h late with 2 h allowed: level 3

    assert (first.summaries, again.summaries, later.summaries) == (
        1,
        0,
        2,
    )  # supervisor_xincheng; supervisor_xincheng and admin_zone
    assert (
        Notification.objects.filter(user=world.supervisor_xincheng, kind="reminder_summary").count()
        == 2
    )
    assert list(issue.reminders.order_by("level").values_list("level", flat=True)) == [2, 3]


def test_reminder_state_waits_for_its_summary_and_follows_it(world, recorder):
    waiting = awaiting_verification(world)
    escalated = level_three(world)
    zone_robot = ChannelConfig.objects.create(
        organisation=None, kind=ChannelKind.WECOM, webhook_url="https://qyapi.weixin.qq.com/x"
    )
    recorder.failures[zone_robot.target_key] = [PermanentError("HTTP 400", response_code=400)]

    services.reminders_run(now=NOW)
    assert set(Reminder.objects.values_list("state", flat=True)) == {Reminder.State.PENDING}
    services.deliveries_send(now=NOW, channel_factory=recorder)

    # Only supervisor_xincheng's summary carries the fix waiting for verification, and it went out.
    assert waiting.reminders.get().state == Reminder.State.SENT
    # The zone robot's summary failed for good, so the level-3 reminder says so.
    reminder = escalated.reminders.get()
    assert reminder.state == Reminder.State.FAILED and "HTTP 400" in reminder.last_error
    assert Delivery.objects.get(config=zone_robot).state == Delivery.State.FAILED


def test_reminder_summary_of_cases_that_moved_on_is_cancelled(world):
    issues = [level_two(world) for _ in range(3)]
    services.reminders_run(now=NOW)
    Issue.objects.filter(pk__in=[issue.pk for issue in issues]).update(
        status=Status.CLOSED, closed_at=NOW
    )

    services.deliveries_send(now=NOW)

    assert not Notification.objects.filter(kind="reminder_summary").exists()
    summary = Delivery.objects.get(kind=Delivery.Kind.SUMMARY)
    assert summary.state == Delivery.State.CANCELLED
    assert set(Reminder.objects.values_list("state", flat=True)) == {Reminder.State.CANCELLED}


def test_reminder_summary_counts_only_the_cases_still_escalated_when_sent(world):
    speak_english(world.supervisor_xincheng)
    kept, closed = level_two(world), level_two(world)
    services.reminders_run(now=NOW)
    Issue.objects.filter(pk=closed.pk).update(status=Status.CLOSED, closed_at=NOW)

    services.deliveries_send(now=NOW)

    [summary] = Notification.objects.filter(user=world.supervisor_xincheng)
    assert summary.title == "Reminder summary: 1 case(s) need attention"
    assert kept.reminders.get().state == Reminder.State.SENT


def test_reminder_summary_picks_up_what_a_crashed_run_left_waiting(world, monkeypatch):
    for _ in range(3):
        level_two(world)

    def crash(**kwargs):
        raise RuntimeError("the worker died before the summaries")

    with monkeypatch.context() as patch:
        patch.setattr(services.job, "summaries_plan", crash)
        with pytest.raises(RuntimeError):
            services.reminders_run(now=NOW)
    assert Reminder.objects.filter(awaits_summary=True).count() == 3
    assert not Delivery.objects.filter(kind=Delivery.Kind.SUMMARY).exists()

    report = services.reminders_run(now=NOW)

    assert (report.created, report.summaries) == (0, 1)
    summary = Delivery.objects.get(kind=Delivery.Kind.SUMMARY)
    assert sorted(summary.payload["reminders"]) == sorted(
        Reminder.objects.values_list("pk", flat=True)
    )
    assert not Reminder.objects.filter(awaits_summary=True).exists()


def test_reminder_no_flood_a_backlog_reaches_each_supervisor_once(world):
    """The field walk's flood: a backlog of escalations is one notice per person, not hundreds."""
    for number in range(120):
        (level_two if number % 3 else level_three)(world)

    run_and_send()

    assert Notification.objects.filter(user=world.supervisor_xincheng).count() == 1
    assert Notification.objects.filter(user=world.admin_zone).count() == 1
    assert Notification.objects.filter(user=world.handler_xincheng).count() == 120
