"""Races on PostgreSQL with real threads: the row locks make exactly one of two clicks win."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone, translation

from districts.models import Role
from issues import notifications, services, workflow
from issues.models import Action, CaseCounter, Issue, IssueEvent, Status
from tests.factories import issue_in, make_staff

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks need PostgreSQL"
)


def run_at_once(calls: list[Callable[[], Any]]) -> list[tuple[str, Any]]:
    """Run the calls in parallel threads released together; ("ok", result) or ("error", exc)."""
    barrier = threading.Barrier(len(calls))
    results: list[tuple[str, Any]] = [("missing", None)] * len(calls)

    def worker(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = ("ok", call())
        except Exception as error:  # the test inspects what each thread met
            results[index] = ("error", error)
        finally:
            # Each thread opened its own connection; leaving it open blocks the test DB flush.
            connection.close()

    threads = [threading.Thread(target=worker, args=item) for item in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.fixture
def slow_commit(monkeypatch):
    """Hold each transaction open a little after its change, so the rivals surely overlap."""
    original = notifications.notify_event

    def slow(event):
        time.sleep(0.3)
        return original(event)

    monkeypatch.setattr(notifications, "notify_event", slow)


@pytest.mark.django_db(transaction=True)
def test_concurrent_verifiers_exactly_one_wins_and_the_other_meets_the_new_state(
    world, slow_commit
):
    issue = issue_in(world, Status.SUBMITTED)

    def verify(actor):
        with translation.override("en"):
            return services.issue_verify_pass(issue=Issue.objects.get(pk=issue.pk), actor=actor)

    results = run_at_once(
        [lambda: verify(world.supervisor_xincheng), lambda: verify(world.admin_zone)]
    )

    outcomes = sorted(kind for kind, _ in results)
    assert outcomes == ["error", "ok"], results
    [error] = [value for kind, value in results if kind == "error"]
    assert isinstance(error, workflow.TransitionError)
    assert error.status == Status.CLOSED
    with translation.override("en"):
        assert "closed" in error.messages[0]
    assert IssueEvent.objects.filter(issue=issue, action=Action.VERIFY_PASS).count() == 1
    issue.refresh_from_db()
    assert issue.status == Status.CLOSED


@pytest.mark.django_db(transaction=True)
def test_concurrent_pass_and_fail_leave_one_verification(world, slow_commit):
    issue = issue_in(world, Status.SUBMITTED)
    results = run_at_once(
        [
            lambda: services.issue_verify_pass(issue=issue, actor=world.supervisor_xincheng),
            lambda: services.issue_verify_fail(
                issue=issue, actor=world.inspector_xincheng, reason="返工"
            ),
        ]
    )
    assert sorted(kind for kind, _ in results) == ["error", "ok"], results
    [error] = [value for kind, value in results if kind == "error"]
    assert isinstance(error, workflow.TransitionError)
    verifications = IssueEvent.objects.filter(
        issue=issue, action__in=[Action.VERIFY_PASS, Action.VERIFY_FAIL]
    )
    assert verifications.count() == 1
    issue.refresh_from_db()
    assert issue.rework_count == (1 if verifications.get().action == Action.VERIFY_FAIL else 0)


@pytest.mark.django_db(transaction=True)
def test_concurrent_creation_hands_out_unique_consecutive_case_numbers(world):
    def report(n: int):
        return services.issue_create(
            reporter=world.inspector_xincheng,
            category=world.category,
            community=world.community_a,
            description=f"并发上报 {n}",
        )

    results = run_at_once([lambda n=n: report(n) for n in range(20)])

    assert all(kind == "ok" for kind, _ in results), results
    year = timezone.localdate().year
    numbers = sorted(Issue.objects.values_list("case_number", flat=True))
    assert numbers == [f"{year}-{n:06d}" for n in range(1, 21)]
    assert CaseCounter.objects.get(zone=world.zone, year=year).last_value == 20
    assert IssueEvent.objects.filter(action=Action.REPORT).count() == 20


@pytest.mark.django_db(transaction=True)
def test_concurrent_double_submit_with_one_client_token_files_one_issue(world):
    token = uuid.uuid4()

    def report():
        return services.issue_create(
            reporter=world.inspector_xincheng,
            category=world.category,
            community=world.community_a,
            client_token=token,
        )

    results = run_at_once([report for _ in range(5)])

    assert all(kind == "ok" for kind, _ in results), results
    assert len({value.pk for _, value in results}) == 1
    assert Issue.objects.count() == 1
    assert IssueEvent.objects.filter(action=Action.REPORT).count() == 1
    # The losers' numbers were taken back with their savepoints: no gap for the next report.
    year = timezone.localdate().year
    assert CaseCounter.objects.get(zone=world.zone, year=year).last_value == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_acknowledgements_by_two_handlers_record_one(world, slow_commit):
    issue = issue_in(world, Status.ASSIGNED)
    colleague = make_staff("hannah", Role.HANDLER, organisation=world.org_x)
    results = run_at_once(
        [
            lambda: services.issue_acknowledge(issue=issue, actor=world.handler_xincheng),
            lambda: services.issue_acknowledge(issue=issue, actor=colleague),
        ]
    )
    assert sorted(kind for kind, _ in results) == ["error", "ok"], results
    assert IssueEvent.objects.filter(issue=issue, action=Action.ACKNOWLEDGE).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_cross_duplicates_never_make_a_cycle(world, slow_commit):
    first = issue_in(world, Status.REPORTED)
    second = issue_in(world, Status.REPORTED)
    results = run_at_once(
        [
            lambda: services.issue_mark_duplicate(
                issue=first, actor=world.supervisor_xincheng, duplicate_of=second
            ),
            lambda: services.issue_mark_duplicate(
                issue=second, actor=world.admin_zone, duplicate_of=first
            ),
        ]
    )
    assert sorted(kind for kind, _ in results) == ["error", "ok"], results
    [error] = [value for kind, value in results if kind == "error"]
    assert isinstance(error, ValidationError)
    marked = Issue.objects.filter(pk__in=[first.pk, second.pk], duplicate_of__isnull=False)
    assert marked.count() == 1
