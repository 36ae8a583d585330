"""Each reminder exactly once: two runs at the same moment, reruns, two senders at once."""

from __future__ import annotations

import datetime
import threading
from collections import Counter

import pytest
from django.db import connection

from districts.models import Severity
from issues.models import Escalation, Issue, IssueEvent, Notification, Status
from reminders import services
from reminders.models import ChannelConfig, ChannelKind, Delivery, Reminder
from tests.reminders.conftest import NOW, Recorder

ISSUES = 2000


def seed_overdue(world, count: int) -> None:
    """`count` clock-running issues, split over two organisations and every stage."""
    issues = []
    for number in range(count):
        allowed = datetime.timedelta(hours=2)
        # Cycle through the stages: due soon, overdue, level 2, level 3.
        late = [-0.25, 0.5, 2.5, 4.5][number % 4]
        deadline = NOW - datetime.timedelta(hours=late, milliseconds=number)
        organisation = world.org_x if number % 2 == 0 else world.org_y
        community = world.community_a if number % 2 == 0 else world.community_b
        issues.append(
            Issue(
                zone=world.zone,
                case_number=f"2026-{number + 1:06d}",
                year=2026,
                district=community.district,
                community=community,
                category=world.category,
                severity=Severity.GENERAL,
                reporter=world.inspector_xincheng,
                status=Status.ASSIGNED if number % 3 else Status.IN_PROGRESS,
                assigned_organisation=organisation,
                reported_at=deadline - allowed,
                dispatched_at=deadline - allowed,
                clock_started_at=deadline - allowed,
                deadline=deadline,
            )
        )
    Issue.objects.bulk_create(issues, batch_size=1000)


def expected_summaries(world) -> dict[str, set[int]]:
    """Who hears above the organisation, and about which reminders: levels 2 and 3 reach the
    district's supervisor, level 3 also the zone office (seed_overdue puts level 2 in district
    A and level 3 in district B)."""
    escalated = Reminder.objects.filter(kind="escalation")
    return {
        f"user:{world.supervisor_xincheng.pk}": set(
            escalated.filter(district=world.district_a).values_list("pk", flat=True)
        ),
        f"user:{world.supervisor_binhe.pk}": set(
            escalated.filter(district=world.district_b).values_list("pk", flat=True)
        ),
        f"user:{world.admin_zone.pk}": set(escalated.filter(level=3).values_list("pk", flat=True)),
    }


def summarised(runs: int) -> dict[str, list[int]]:
    """Each summary target with every reminder its summaries carry (repeats kept)."""
    carried: dict[str, list[int]] = {}
    summaries = Delivery.objects.filter(kind=Delivery.Kind.SUMMARY)
    for summary in summaries:
        carried.setdefault(summary.target_key, []).extend(summary.payload["reminders"])
    # At most one summary per target and run.
    per_target = Counter(summaries.values_list("target_key", flat=True))
    assert max(per_target.values()) <= runs, per_target
    return carried


def run_together(function, count: int = 2) -> list:
    """Start `count` calls of `function` at the same instant, each on its own connection."""
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            barrier.wait()
            results[index] = function()
        except BaseException as error:  # reported to the test below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_create_each_reminder_once_over_2000_overdue_issues(world):
    ChannelConfig.objects.create(
        organisation=world.org_x, kind=ChannelKind.WECOM, webhook_url="https://wecom.test/x"
    )
    ChannelConfig.objects.create(
        organisation=world.org_y, kind=ChannelKind.DINGTALK, webhook_url="https://dingtalk.test/y"
    )
    seed_overdue(world, ISSUES)

    first, second = run_together(lambda: services.reminders_run(now=NOW, batch_size=200))

    # The two runs split the work between them; together they made each reminder once.
    assert first.scanned == second.scanned == ISSUES
    assert first.created + second.created == ISSUES
    assert Reminder.objects.count() == ISSUES
    assert Reminder.objects.values("issue").distinct().count() == ISSUES
    assert Counter(Reminder.objects.values_list("kind", "level", flat=False)) == {
        ("due_soon", 0): 500,
        ("overdue", 1): 500,
        ("escalation", 2): 500,
        ("escalation", 3): 500,
    }
    # Count the deliveries: the organisation's handler and robot hear about each case once...
    cases = Delivery.objects.filter(kind=Delivery.Kind.CASE)
    assert cases.count() == 2 * ISSUES == first.deliveries + second.deliveries
    assert cases.values("reminder", "target_key").distinct().count() == cases.count()
    # ...and each person above it finds each escalation in exactly one summary.
    carried = summarised(runs=2)
    expected = expected_summaries(world)
    assert {key: sorted(ids) for key, ids in carried.items()} == {
        key: sorted(ids) for key, ids in expected.items()
    }
    summaries = Delivery.objects.filter(kind=Delivery.Kind.SUMMARY).count()
    assert summaries == first.summaries + second.summaries
    assert 3 <= summaries <= 6
    # One escalation and one event per raised issue (levels 1–3), never two.
    assert Escalation.objects.count() == 1500
    assert IssueEvent.objects.filter(action="escalate").count() == 1500
    assert Issue.objects.filter(escalation_level=0).count() == 500

    # Run again (twice at once): nothing new.
    again = run_together(lambda: services.reminders_run(now=NOW, batch_size=500))
    assert sum(report.created for report in again) == 0
    assert sum(report.summaries for report in again) == 0
    assert Delivery.objects.count() == 2 * ISSUES + summaries


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_senders_deliver_each_reminder_once(world):
    wecom = ChannelConfig.objects.create(
        organisation=world.org_x, kind=ChannelKind.WECOM, webhook_url="https://wecom.test/x"
    )
    dingtalk = ChannelConfig.objects.create(
        organisation=world.org_y, kind=ChannelKind.DINGTALK, webhook_url="https://dingtalk.test/y"
    )
    ChannelConfig.objects.filter(pk__in=[wecom.pk, dingtalk.pk]).update(rate_limit_per_minute=1000)
    seed_overdue(world, 400)
    services.reminders_run(now=NOW)
    recorder = Recorder()

    reports = run_together(lambda: services.deliveries_send(now=NOW, channel_factory=recorder))

    assert sum(report.sent for report in reports) == Delivery.objects.count()
    assert not Delivery.objects.exclude(state=Delivery.State.SENT).exists()
    for config in (wecom, dingtalk):
        case_numbers = recorder.case_numbers(config)
        assert len(case_numbers) == len(set(case_numbers)) == 200
    assert Notification.objects.count() == Delivery.objects.filter(channel="inapp").count()
    assert not Reminder.objects.exclude(state=Reminder.State.SENT).exists()


@pytest.mark.django_db
def test_rerunning_the_reminder_job_is_idempotent(world):
    seed_overdue(world, 40)

    first = services.reminders_run(now=NOW, batch_size=7)
    second = services.reminders_run(now=NOW, batch_size=7)

    assert first.created == 40 and second.created == 0
    assert second.deliveries == 0 and second.escalated == 0
    assert Reminder.objects.count() == 40


@pytest.mark.django_db
def test_duplicate_delivery_keys_are_refused_by_the_database(world):
    seed_overdue(world, 1)
    services.reminders_run(now=NOW)
    reminder = Reminder.objects.get()
    existing = reminder.deliveries.first()

    Delivery.objects.bulk_create(
        [
            Delivery(
                reminder=reminder,
                channel=existing.channel,
                user=existing.user,
                target_key=existing.target_key,
                idempotency_key=existing.idempotency_key,
            )
        ],
        ignore_conflicts=True,
    )

    assert reminder.deliveries.count() == 1  # handler_xincheng's bell, still once
    assert Delivery.objects.filter(idempotency_key=existing.idempotency_key).count() == 1


@pytest.mark.django_db(transaction=True)
def test_reminder_run_leaves_a_batch_another_run_is_writing_and_the_next_run_claims_it(world):
    """Two runs for the same moment do not wait on each other's batches; nothing is lost."""
    if connection.vendor != "postgresql":
        pytest.skip("the batch lock is PostgreSQL's advisory lock")
    from reminders.services import job

    seed_overdue(world, 40)
    holding, release = threading.Event(), threading.Event()
    real = job.batch_taken_by_another_run

    def other_run() -> None:
        # Another run is inside its first batch: it holds that batch's lock until it commits.
        from django.db import transaction

        try:
            with transaction.atomic():
                batch = job.clock_batch(
                    now=NOW,
                    after=None,
                    size=20,
                    due_soon_fraction=0.75,
                    urgent_only=False,
                    owing_only=True,
                )
                candidates = [
                    job.Candidate(
                        row.id,
                        *job.STAGES[row.stage],
                        row.deadline,
                        row.organisation_id,
                        row.district_id,
                    )
                    for row in batch
                ]
                assert not real(candidates, now=NOW)
                holding.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    thread = threading.Thread(target=other_run)
    thread.start()
    assert holding.wait(timeout=30)
    try:
        report = services.reminders_run(now=NOW, batch_size=20)
    finally:
        release.set()
        thread.join(timeout=30)

    assert (report.batches, report.batches_left) == (2, 1)
    assert report.created == 20  # the second batch; the first was the other run's
    # The other run went away without committing: the next run claims what it left.
    again = services.reminders_run(now=NOW, batch_size=20)
    assert (again.created, again.batches_left) == (20, 0)
    assert Reminder.objects.count() == 40
    assert Escalation.objects.count() == IssueEvent.objects.filter(action="escalate").count()
