"""What the reminder job decides: kinds, levels, recipients, quiet hours, the work calendar."""

from __future__ import annotations

import datetime

import pytest
import redis
from django.core import mail
from django.core.management import call_command
from django.test import override_settings

from districts.models import Role, Severity
from issues.models import Action, Escalation, Issue, IssueEvent, Notification, Status
from reminders import services
from reminders.channels import PermanentError, TransientError
from reminders.models import ChannelConfig, ChannelKind, Delivery, Reminder
from reminders.tasks import deliver_pending_task, run_reminders_task, send_digest_task
from tests.factories import CategoryFactory, OrganisationFactory, make_staff
from tests.reminders.conftest import HOUR, NOW, SHANGHAI, clock_issue, overdue_issue, robot

pytestmark = pytest.mark.django_db


def kinds_of(issue: Issue) -> list[tuple[str, int]]:
    return list(issue.reminders.order_by("level", "kind").values_list("kind", "level"))


def inapp_targets(reminder: Reminder) -> set[int]:
    return set(
        reminder.deliveries.filter(channel=ChannelKind.INAPP).values_list("user_id", flat=True)
    )


def summarised_to(reminder: Reminder) -> set[str]:
    """The targets of the run summaries that carry the reminder."""
    reminder.refresh_from_db()
    return {
        delivery.target_key
        for delivery in Delivery.objects.filter(
            kind=Delivery.Kind.SUMMARY, summary_token=reminder.summary_token
        )
        if reminder.pk in delivery.payload["reminders"]
    }


# --- kinds and levels ------------------------------------------------------------------------


def test_due_soon_reminder_starts_at_75_percent_of_the_allowed_time(world):
    # 4 hours allowed: 75 % is 3 hours after the start.
    started = NOW - 3 * HOUR
    due = clock_issue(world, started=started, deadline=started + 4 * HOUR)
    early = clock_issue(world, started=NOW - 2 * HOUR, deadline=NOW + 2 * HOUR)

    services.reminders_run(now=NOW)

    assert kinds_of(due) == [("due_soon", 0)]
    assert kinds_of(early) == []
    due.refresh_from_db()
    assert due.escalation_level == 0  # due soon is a reminder, not an escalation


def test_overdue_reminder_raises_escalation_to_level_one_with_a_system_event(world):
    issue = overdue_issue(world, hours_late=0.5, allowed_hours=2)

    report = services.reminders_run(now=NOW)

    assert report.created == 1 and report.escalated == 1
    assert kinds_of(issue) == [("overdue", 1)]
    issue.refresh_from_db()
    assert issue.escalation_level == 1
    event = IssueEvent.objects.get(issue=issue, action=Action.ESCALATE)
    assert event.actor is None
    assert event.actor_role == "system"
    assert event.from_status == event.to_status == Status.ASSIGNED
    assert event.data["level"] == 1 and event.data["source"] == "job"
    escalation = Escalation.objects.get(issue=issue)
    assert (escalation.level, escalation.source, escalation.deadline) == (1, "job", issue.deadline)
    assert event.data["escalation"] == escalation.pk


def test_escalation_levels_two_and_three_come_at_twice_and_three_times_the_allowed_time(world):
    # Allowed 2 h: level 2 from 2 h past the deadline (4 h after the start), level 3 from 4 h.
    level_one = overdue_issue(world, hours_late=1.9, allowed_hours=2)
    level_two = overdue_issue(world, hours_late=2.1, allowed_hours=2)
    level_three = overdue_issue(world, hours_late=4.0, allowed_hours=2)

    services.reminders_run(now=NOW)

    assert kinds_of(level_one) == [("overdue", 1)]
    assert kinds_of(level_two) == [("escalation", 2)]
    assert kinds_of(level_three) == [("escalation", 3)]
    assert [
        Issue.objects.get(pk=issue.pk).escalation_level
        for issue in (level_one, level_two, level_three)
    ] == [1, 2, 3]


def test_escalation_goes_up_one_ledger_row_per_level_as_time_passes(world):
    issue = overdue_issue(world, hours_late=0.1, allowed_hours=1)

    services.reminders_run(now=NOW)
    services.reminders_run(now=NOW + HOUR)  # 1.1 h late: level 2
    services.reminders_run(now=NOW + HOUR)  # again: nothing new
    services.reminders_run(now=NOW + 2 * HOUR)  # 2.1 h late: level 3

    assert kinds_of(issue) == [("overdue", 1), ("escalation", 2), ("escalation", 3)]
    assert IssueEvent.objects.filter(issue=issue, action=Action.ESCALATE).count() == 3
    assert list(
        Escalation.objects.filter(issue=issue).order_by("level").values_list("level", flat=True)
    ) == [1, 2, 3]


def test_escalation_never_lowers_a_level_set_by_hand(world):
    issue = overdue_issue(world, hours_late=0.5)
    Issue.objects.filter(pk=issue.pk).update(escalation_level=3)

    services.reminders_run(now=NOW)

    issue.refresh_from_db()
    assert issue.escalation_level == 3
    assert kinds_of(issue) == [("overdue", 1)]  # the reminder still goes out
    assert not IssueEvent.objects.filter(issue=issue, action=Action.ESCALATE).exists()


def test_a_new_deadline_gets_new_reminders(world):
    issue = overdue_issue(world, hours_late=0.5)
    services.reminders_run(now=NOW)
    # An approved extension moves the deadline; the old reminder stays in the ledger.
    Issue.objects.filter(pk=issue.pk).update(deadline=NOW - datetime.timedelta(minutes=5))

    services.reminders_run(now=NOW)

    assert issue.reminders.count() == 2


def test_parked_closed_and_unassigned_issues_get_no_reminder(world):
    overdue_issue(world, status=Status.PARKED)
    closed = overdue_issue(world)
    Issue.objects.filter(pk=closed.pk).update(status=Status.CLOSED, closed_at=NOW)

    report = services.reminders_run(now=NOW)

    assert report.scanned == 0
    assert Reminder.objects.count() == 0


def test_awaiting_verification_reminder_after_one_working_day(world):
    submitted_friday = datetime.datetime(2026, 3, 6, 9, 0, tzinfo=SHANGHAI)
    monday_morning = datetime.datetime(2026, 3, 9, 10, 0, tzinfo=SHANGHAI)
    waiting = clock_issue(
        world,
        started=submitted_friday - 4 * HOUR,
        deadline=submitted_friday + 4 * HOUR,
        status=Status.SUBMITTED,
        submitted_at=submitted_friday,
    )
    recent = clock_issue(
        world,
        started=monday_morning - 4 * HOUR,
        deadline=monday_morning + 4 * HOUR,
        status=Status.SUBMITTED,
        submitted_at=submitted_friday + 2 * HOUR,  # Friday 11:00: less than a working day
    )

    services.reminders_run(now=monday_morning)

    assert kinds_of(waiting) == [("awaiting_verification", 0)]
    assert kinds_of(recent) == []
    reminder = waiting.reminders.get()
    assert reminder.deadline == submitted_friday
    # Supervisors verify; the organisation has done its part. They hear in the run's summary.
    assert not reminder.deliveries.exists()
    assert summarised_to(reminder) == {f"user:{world.supervisor_xincheng.pk}"}


def test_awaiting_verification_reminder_cutoff_skips_holidays(world):
    # Monday 6 April 2026 is 清明; on Tuesday 7 April one working day back is Friday 3 April.
    tuesday = datetime.datetime(2026, 4, 7, 10, 0, tzinfo=SHANGHAI)
    assert services.verification_cutoff(tuesday, 1) == datetime.datetime(
        2026, 4, 3, 10, 0, tzinfo=SHANGHAI
    )


# --- recipients ------------------------------------------------------------------------------


def test_overdue_reminder_goes_to_the_organisations_handlers_and_channels(world):
    wecom = robot(world.org_x)
    robot(world.org_y)  # another organisation's robot hears nothing
    second_handler = make_staff("harriet", Role.HANDLER, organisation=world.org_x)
    issue = overdue_issue(world)

    services.reminders_run(now=NOW)

    reminder = issue.reminders.get()
    assert inapp_targets(reminder) == {world.handler_xincheng.pk, second_handler.pk}
    assert list(
        reminder.deliveries.exclude(channel=ChannelKind.INAPP).values_list("config", flat=True)
    ) == [wecom.pk]


def test_escalation_level_two_adds_the_district_supervisors(world):
    issue = overdue_issue(world, hours_late=2.5, allowed_hours=2)

    services.reminders_run(now=NOW)

    reminder = issue.reminders.get()
    assert inapp_targets(reminder) == {world.handler_xincheng.pk}
    assert summarised_to(reminder) == {
        f"user:{world.supervisor_xincheng.pk}"
    }  # not supervisor_binhe (district B)


def test_escalation_level_three_adds_the_zone_office_and_its_channel(world):
    zone_robot = ChannelConfig.objects.create(
        organisation=None, kind=ChannelKind.DINGTALK, webhook_url="https://oapi.dingtalk.com/x"
    )
    org_robot = robot(world.org_x)
    issue = overdue_issue(world, hours_late=5, allowed_hours=2)

    services.reminders_run(now=NOW)

    reminder = issue.reminders.get()
    assert (reminder.kind, reminder.level) == ("escalation", 3)
    assert inapp_targets(reminder) == {world.handler_xincheng.pk}
    assert set(reminder.deliveries.exclude(channel="inapp").values_list("config", flat=True)) == {
        org_robot.pk
    }
    assert summarised_to(reminder) == {
        f"user:{world.supervisor_xincheng.pk}",
        f"user:{world.admin_zone.pk}",
        zone_robot.target_key,
    }


def test_disabled_inapp_channel_silences_the_reminder_bell_of_an_organisation(world):
    ChannelConfig.objects.create(organisation=world.org_x, kind=ChannelKind.INAPP, enabled=False)
    wecom = robot(world.org_x)
    issue = overdue_issue(world)

    services.reminders_run(now=NOW)

    reminder = issue.reminders.get()
    assert inapp_targets(reminder) == set()
    assert reminder.deliveries.get().config == wecom


def test_reminder_nobody_can_receive_is_failed_visibly_not_dropped(world):
    lonely = OrganisationFactory(code="org-lonely")
    issue = overdue_issue(world, organisation=lonely)

    services.reminders_run(now=NOW)

    reminder = issue.reminders.get()
    assert reminder.state == Reminder.State.FAILED
    assert "No recipient" in reminder.last_error


# --- the work calendar and quiet hours ---------------------------------------------------------


def test_reminder_job_does_not_chase_general_categories_on_a_non_working_day(world):
    saturday = datetime.datetime(2026, 3, 14, 10, 0, tzinfo=SHANGHAI)
    urgent = CategoryFactory(code="FIRE_LANE_T", severity=Severity.URGENT, limit_value=2)
    general = clock_issue(world, started=saturday - 3 * HOUR, deadline=saturday - HOUR)
    fire_lane = clock_issue(
        world,
        started=saturday - 3 * HOUR,
        deadline=saturday - HOUR,
        category=urgent,
        severity=Severity.URGENT,
    )

    report = services.reminders_run(now=saturday)

    assert report.urgent_only
    assert kinds_of(general) == []
    assert kinds_of(fire_lane) == [("overdue", 1)]

    # The next working day the general one is chased.
    monday = datetime.datetime(2026, 3, 16, 9, 0, tzinfo=SHANGHAI)
    services.reminders_run(now=monday)
    assert kinds_of(general) == [("escalation", 3)]


def test_reminder_job_chases_everything_on_a_make_up_working_saturday(world):
    makeup_saturday = datetime.datetime(2026, 2, 14, 10, 0, tzinfo=SHANGHAI)  # 春节调休
    issue = clock_issue(world, started=makeup_saturday - 3 * HOUR, deadline=makeup_saturday - HOUR)

    report = services.reminders_run(now=makeup_saturday)

    assert not report.urgent_only
    assert kinds_of(issue) == [("overdue", 1)]


def test_reminder_robot_waits_for_the_end_of_quiet_hours(world, recorder):
    night = datetime.datetime(2026, 3, 10, 23, 0, tzinfo=SHANGHAI)
    wecom = robot(world.org_x, quiet_start=datetime.time(22, 0), quiet_end=datetime.time(7, 30))
    clock_issue(world, started=night - 3 * HOUR, deadline=night - HOUR)

    services.reminders_run(now=night)
    delivery = Delivery.objects.get(config=wecom)
    assert delivery.next_attempt_at == datetime.datetime(2026, 3, 11, 7, 30, tzinfo=SHANGHAI)

    services.deliveries_send(now=night, channel_factory=recorder)
    assert recorder.messages_to(wecom) == []
    # The bell is not a noise: in-app notifications arrive at once.
    assert Notification.objects.filter(user=world.handler_xincheng).count() == 1

    services.deliveries_send(now=delivery.next_attempt_at, channel_factory=recorder)
    assert len(recorder.messages_to(wecom)) == 1


def test_reminder_quiet_hours_changed_after_queueing_still_hold(world, recorder):
    wecom = robot(world.org_x)
    overdue_issue(world)
    services.reminders_run(now=NOW)
    ChannelConfig.objects.filter(pk=wecom.pk).update(
        quiet_start=datetime.time(9, 0), quiet_end=datetime.time(11, 0)
    )

    report = services.deliveries_send(now=NOW, channel_factory=recorder)

    assert report.deferred == 1
    assert recorder.messages_to(wecom) == []
    assert Delivery.objects.get(config=wecom).next_attempt_at == NOW.replace(hour=11)


# --- sending ---------------------------------------------------------------------------------


def test_reminder_digest_merges_an_organisations_items_into_few_messages(world, recorder):
    wecom = robot(world.org_x)
    for _ in range(45):
        overdue_issue(world)

    services.reminders_run(now=NOW)
    report = services.deliveries_send(now=NOW, channel_factory=recorder)

    sent = recorder.messages_to(wecom)
    assert [len(message.items) for message in sent] == [20, 20, 5]
    assert report.sent == 45 + 45  # robot items and handler_xincheng's notifications
    assert (
        Notification.objects.filter(user=world.handler_xincheng, kind="reminder_overdue").count()
        == 45
    )
    assert "[" in sent[0].as_markdown() and "](http" in sent[0].as_markdown()
    assert Reminder.objects.filter(state=Reminder.State.SENT).count() == 45


@override_settings(REMINDER_DIGEST_MAX_ITEMS=1)
def test_reminder_robot_rate_limit_defers_messages_past_the_limit(world, recorder):
    wecom = robot(world.org_x, rate_limit_per_minute=3)
    for _ in range(5):
        overdue_issue(world)
    services.reminders_run(now=NOW)

    report = services.deliveries_send(now=NOW, channel_factory=recorder)

    assert len(recorder.messages_to(wecom)) == 3
    assert report.deferred == 2  # both waiting rows moved at once
    waiting = Delivery.objects.filter(config=wecom, state=Delivery.State.PENDING)
    assert waiting.count() == 2
    assert all(row.attempts == 0 for row in waiting)  # waiting for a slot is not an attempt

    services.deliveries_send(now=NOW + datetime.timedelta(seconds=61), channel_factory=recorder)
    assert len(recorder.messages_to(wecom)) == 5


def test_reminder_transient_failure_backs_off_then_fails_after_max_attempts(world, recorder):
    wecom = robot(world.org_x)
    overdue_issue(world)
    services.reminders_run(now=NOW)
    recorder.failures[wecom.target_key] = [TransientError("HTTP 502", response_code=502)] * 3

    with override_settings(REMINDER_MAX_ATTEMPTS=3, REMINDER_RETRY_BASE_SECONDS=60):
        services.deliveries_send(now=NOW, channel_factory=recorder)
        delivery = Delivery.objects.get(config=wecom)
        assert (delivery.state, delivery.attempts, delivery.response_code) == ("pending", 1, 502)
        wait = (delivery.next_attempt_at - NOW).total_seconds()
        assert 30 <= wait <= 60  # base 60 s with jitter
        reminder = delivery.reminder
        reminder.refresh_from_db()
        assert reminder.state == "pending" and "502" in reminder.last_error

        later = NOW + datetime.timedelta(hours=1)
        services.deliveries_send(now=later, channel_factory=recorder)
        services.deliveries_send(now=later + datetime.timedelta(hours=1), channel_factory=recorder)

    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("failed", 3)
    reminder.refresh_from_db()
    assert reminder.state == Reminder.State.FAILED and reminder.attempts == 3


def test_reminder_is_marked_sent_only_after_the_channel_accepted_it(world, recorder):
    wecom = robot(world.org_x)
    overdue_issue(world)
    services.reminders_run(now=NOW)
    recorder.failures[wecom.target_key] = [PermanentError("HTTP 400", response_code=400)]

    services.deliveries_send(now=NOW, channel_factory=recorder)

    delivery = Delivery.objects.get(config=wecom)
    assert delivery.state == Delivery.State.FAILED
    assert delivery.sent_at is None
    assert "HTTP 400" in delivery.last_error
    assert delivery.reminder.state == Reminder.State.FAILED


def test_reminder_one_failing_channel_never_blocks_the_others(world, recorder):
    broken = robot(
        world.org_x, kind=ChannelKind.DINGTALK, webhook_url="https://oapi.dingtalk.com/x"
    )
    working = robot(world.org_x)
    recorder.failures[broken.target_key] = [RuntimeError("a bug in one channel")]
    overdue_issue(world)
    services.reminders_run(now=NOW)

    report = services.deliveries_send(now=NOW, channel_factory=recorder)

    assert len(recorder.messages_to(working)) == 1
    assert Notification.objects.filter(user=world.handler_xincheng).count() == 1
    assert report.retried == 1
    assert Delivery.objects.get(config=broken).state == Delivery.State.PENDING


def test_reminder_for_a_closed_issue_is_cancelled_before_sending(world, recorder):
    wecom = robot(world.org_x)
    issue = overdue_issue(world)
    services.reminders_run(now=NOW)
    Issue.objects.filter(pk=issue.pk).update(status=Status.CLOSED, closed_at=NOW)

    services.deliveries_send(now=NOW, channel_factory=recorder)

    assert recorder.messages_to(wecom) == []
    assert set(Delivery.objects.values_list("state", flat=True)) == {"cancelled"}
    assert issue.reminders.get().state == Reminder.State.CANCELLED


def test_reminder_inapp_notification_is_written_once_even_if_sent_twice(world, recorder):
    overdue_issue(world)
    services.reminders_run(now=NOW)
    services.deliveries_send(now=NOW, channel_factory=recorder)
    # As if a lease expired after the notification was written but before "sent" was recorded.
    Delivery.objects.update(state=Delivery.State.PENDING, sent_at=None)

    services.deliveries_send(now=NOW, channel_factory=recorder)

    notification = Notification.objects.get(user=world.handler_xincheng)
    assert notification.dedupe_key == Reminder.objects.get().key


def test_reminder_email_channel_sends_one_mail_per_message(world):
    ChannelConfig.objects.create(
        organisation=world.org_x,
        kind=ChannelKind.EMAIL,
        email_addresses="office@example.org\nlead@example.org",
    )
    for _ in range(3):
        overdue_issue(world)
    services.reminders_run(now=NOW)

    services.deliveries_send(now=NOW)

    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["office@example.org", "lead@example.org"]
    assert mail.outbox[0].body.count("http://") == 3


def test_reminder_daily_digest_is_queued_once_per_day_and_lists_the_oldest_first(world, recorder):
    wecom = robot(world.org_x)
    oldest = overdue_issue(world, hours_late=30, allowed_hours=24)
    overdue_issue(world, hours_late=1)
    ChannelConfig.objects.create(
        organisation=world.org_y, kind=ChannelKind.WECOM, webhook_url="https://x/y"
    )

    assert services.digests_create(now=NOW) == 1  # org Y has nothing overdue
    assert services.digests_create(now=NOW + HOUR) == 1
    assert Delivery.objects.filter(digest_date__isnull=False).count() == 1

    services.deliveries_send(now=NOW, channel_factory=recorder)

    [digest] = recorder.messages_to(wecom)
    assert digest.items[0].case_number == oldest.case_number
    assert len(digest.items) == 2


def test_run_reminders_command_runs_the_job_and_sends(world):
    # Urgent, so that the real clock's day of the week does not matter.
    urgent = CategoryFactory(code="MANHOLE_T", severity=Severity.URGENT)
    overdue_issue(world, category=urgent, severity=Severity.URGENT)
    call_command("run_reminders")
    assert Reminder.objects.get().state == Reminder.State.SENT
    assert Notification.objects.filter(user=world.handler_xincheng).exists()
    call_command("send_deliveries")


# --- wiring ----------------------------------------------------------------------------------


def test_reminder_rate_window_in_redis_is_shared_and_slides():
    from reminders import ratelimit

    url = "redis://127.0.0.1:6379/7"
    client = redis.Redis.from_url(url)
    client.delete("civicapp:rate:cfg:999")
    try:
        waits = [
            ratelimit.acquire(target_key="cfg:999", limit=2, now=NOW, redis_url=url)
            for _ in range(3)
        ]
        assert waits[:2] == [0, 0]
        assert 59 < waits[2] <= 60
        later = NOW + datetime.timedelta(seconds=61)
        assert ratelimit.acquire(target_key="cfg:999", limit=2, now=later, redis_url=url) == 0
    finally:
        client.delete("civicapp:rate:cfg:999")


def test_reminder_rate_window_falls_back_to_the_database_when_redis_is_down(world):
    from reminders import ratelimit

    down = "redis://127.0.0.1:6390/7"
    wecom = robot(world.org_x)
    assert ratelimit.acquire(target_key=wecom.target_key, limit=1, now=NOW, redis_url=down) == 0
    assert ratelimit.acquire(target_key=wecom.target_key, limit=1, now=NOW, redis_url=down) > 0


def test_run_reminders_task_in_eager_mode_runs_the_job_and_the_sending(
    world, django_capture_on_commit_callbacks
):
    urgent = CategoryFactory(code="FLY_WIRE_T", severity=Severity.URGENT)
    overdue_issue(world, category=urgent, severity=Severity.URGENT)

    # The sending is queued on commit, as from any caller outside a transaction.
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        result = run_reminders_task.apply().get()

    assert result["created"] == 1
    assert len(callbacks) == 1
    assert Notification.objects.filter(
        user=world.handler_xincheng, kind__startswith="reminder_"
    ).exists()
    assert Reminder.objects.get().state == Reminder.State.SENT


def test_reminder_tasks_ack_late_and_are_rejected_when_their_worker_dies():
    for task in (run_reminders_task, deliver_pending_task, send_digest_task):
        assert task.acks_late is True
        assert task.reject_on_worker_lost is True
        assert task.time_limit and task.soft_time_limit < task.time_limit
        assert task.name == f"reminders.tasks.{task.__name__}"


def test_reminder_beat_schedule_runs_the_job_the_sweep_and_the_digest(settings):
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["run-reminders"]["task"] == "reminders.tasks.run_reminders_task"
    assert schedule["run-reminders"]["schedule"].minute == set(range(0, 60, 5))
    assert schedule["deliver-pending"]["schedule"].minute == set(range(60))
    digest = schedule["send-digest"]["schedule"]
    assert (digest.hour, digest.minute) == ({8}, {0})


def test_reminder_in_app_notification_speaks_the_recipients_language(world, recorder):
    world.handler_xincheng.membership.language = "en"
    world.handler_xincheng.membership.save(update_fields=["language"])
    second = make_staff("hua", Role.HANDLER, organisation=world.org_x)
    issue = overdue_issue(world)
    services.reminders_run(now=NOW)

    services.deliveries_send(now=NOW, channel_factory=recorder)

    english = Notification.objects.get(user=world.handler_xincheng)
    chinese = Notification.objects.get(user=second)
    assert english.title == f"Case {issue.case_number} is overdue"
    assert chinese.title != english.title and issue.case_number in chinese.title
