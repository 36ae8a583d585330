"""The home pages' counters (`issues.stock`): kept by the services alone, equal to a count from
scratch after every event, right as deadlines pass without a write, and never wider than the
reader's scope. Names carry "fast": they are what keeps home within its budget."""

from __future__ import annotations

import datetime
import io
import time
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from districts import policy
from districts.models import Role
from issues import selectors, services, stock
from issues.models import OPEN_STATUSES, ExtensionRequest, Issue, OpenStock, Status
from issues.views.home import list_url
from tests.factories import issue_in, make_staff
from tests.issues.lifecycle_support import photos
from tests.stats.helpers import list_count

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture
def open_stock_follows_the_factories():
    """Off here (see tests/conftest.py): only the services, and `stock.rebuild`, keep the rows."""
    yield


def local(day: int, hour: int, minute: int = 0) -> datetime.datetime:
    """An instant of November 2026, local time (2 Nov is a Monday)."""
    return timezone.make_aware(datetime.datetime(2026, 11, day, hour, minute))


def rows_kept() -> list[tuple]:
    return sorted(OpenStock.objects.values_list(*stock.ROW_FIELDS))


def rows_from_scratch() -> list[tuple]:
    """Every row counted afresh from the cases at the current mark, without writing."""

    mark = stock.current_mark()
    return sorted(
        (
            row["axis"],
            row["key"],
            row["status"],
            row["escalated"],
            row["reworked"],
            row["returned"],
            row["extension_pending"],
            row["overdue_at_mark"],
            row["closed_day"],
            row["count"],
        )
        for axis in (stock.DISTRICT, stock.ORGANISATION)
        for row in stock.stock_rows(axis=axis, keys=None, mark=mark)
    )


def _campaign(world, time_machine, after_each) -> None:
    """Cases through report, dispatch, return, reassign, acknowledge, extension, fix, rework,
    close, reject, park and escalate, hours apart; `after_each` runs after every step."""
    clock = iter([local(day, hour) for day in (2, 3, 4, 5, 6, 9, 10, 11) for hour in (9, 11, 15)])

    def step() -> None:
        after_each()
        time_machine.move_to(next(clock), tick=False)

    def report(inspector, point, text):
        issue = services.issue_create(
            reporter=inspector, category=world.category, description=text, point=point,
            latitude=Decimal("43.650100"), longitude=Decimal("122.250200"), photos=photos(1),
        )  # fmt: skip
        step()
        return issue

    a, b = world.supervisor_xincheng, world.supervisor_binhe
    x = world.handler_xincheng
    time_machine.move_to(local(2, 8), tick=False)
    first = report(world.inspector_xincheng, world.point_a, "返工的案件")
    second = report(world.inspector_xincheng, world.point_a, "回退的案件")
    third = report(world.inspector_binhe, world.point_b, "督办的案件")
    report(world.inspector_xincheng, world.point_a, "待分拨")
    first = services.issue_dispatch(issue=first, actor=a, organisation=world.org_x)
    step()
    second = services.issue_dispatch(issue=second, actor=a, organisation=world.org_x)
    step()
    second = services.issue_return(issue=second, actor=x, reason="不是我们的")
    step()
    first = services.issue_acknowledge(issue=first, actor=x)
    step()
    assert first.deadline is not None
    services.extension_request(
        issue=first, actor=x, reason="需要采购",
        requested_deadline=first.deadline + datetime.timedelta(days=2),
    )  # fmt: skip
    step()
    first = services.extension_approve(
        extension=ExtensionRequest.objects.get(issue=first, status="pending"), actor=a
    )
    step()
    first = services.issue_submit_fix(issue=first, actor=x, photos=photos(1), note="已清理")
    step()
    first = services.issue_verify_fail(issue=first, actor=a, reason="未清理干净")
    step()
    third = services.issue_dispatch(issue=third, actor=b, organisation=world.org_y)
    step()
    third = services.issue_escalate(issue=third, actor=b, level=2, note="督办")
    step()
    third = services.issue_reassign(issue=third, actor=b, organisation=world.org_x)
    step()
    third = services.issue_acknowledge(issue=third, actor=x)
    step()
    third = services.issue_park(
        issue=third, actor=b, reason="待施工",
        review_date=timezone.localdate() + datetime.timedelta(days=30),
    )  # fmt: skip
    step()
    first = services.issue_submit_fix(issue=first, actor=x, photos=photos(1), note="再清理")
    step()
    first = services.issue_verify_pass(issue=first, actor=a)
    step()
    second = services.issue_reject(issue=second, actor=a, reason="不属实")
    after_each()


def test_fast_home_counters_kept_by_the_services_equal_a_count_from_scratch(world, time_machine):
    time_machine.move_to(local(1, 23), tick=False)
    stock.rebuild()
    checked = []

    def check() -> None:
        assert rows_kept() == rows_from_scratch()
        checked.append(len(rows_kept()))

    _campaign(world, time_machine, check)
    assert len(checked) > 10 and max(checked) > 0, "the services wrote no counter rows"


def test_fast_escalations_by_the_job_bulk_write_keep_the_counters(world):
    from issues.services.escalations import EscalationRaise, escalations_write

    stock.rebuild()
    issue = issue_in(world, Status.ASSIGNED)
    stock.rebuild()
    from issues.services.core import lock_issue

    locked = lock_issue(issue)
    escalations_write(
        raises=[
            EscalationRaise(
                issue_id=locked.pk, level=1, previous_level=0, status=locked.status,
                deadline=locked.deadline, organisation_id=locked.assigned_organisation_id,
                note="催办", reminder_id=None,
            )
        ],
        source="job", actor=None, now=timezone.now(),
    )  # fmt: skip
    assert rows_kept() == rows_from_scratch()
    assert OpenStock.objects.filter(escalated=True, key=world.district_a.pk).exists()


PERSONAS = (
    "inspector_xincheng",
    "inspector_binhe",
    "handler_xincheng",
    "handler_binhe",
    "supervisor_xincheng",
    "supervisor_binhe",
    "leader_zone",
    "admin_zone",
)


def _assert_tiles_match_their_lists(client, user) -> dict[str, int]:
    client.force_login(user)
    response = client.get("/", **EN)
    assert response.status_code == 200
    values = {}
    for tile in response.context["tiles"]:
        values[str(tile["label"])] = tile["value"]
        try:
            shown = list_count(user, tile["url"])
        except AssertionError:
            continue  # a dedicated screen (triage, extension queue), not the list
        assert shown == tile["value"], (user.username, str(tile["label"]), tile["url"])
    for row in response.context.get("district_rows", []):
        for figure in ("open", "reported", "submitted", "overdue"):
            assert list_count(user, row[f"{figure}_url"]) == row[figure], (figure, row)
    return values


def test_fast_home_tiles_count_what_their_lists_show_for_every_role(client, world, time_machine):
    time_machine.move_to(local(1, 23), tick=False)
    stock.rebuild()
    _campaign(world, time_machine, lambda: None)
    # Deadlines pass with no write: some of them after the mark, some before the next rebuild.
    time_machine.move_to(local(20, 10), tick=False)
    for who in PERSONAS:
        _assert_tiles_match_their_lists(client, getattr(world, who))
    stock.rebuild()
    for who in PERSONAS:
        _assert_tiles_match_their_lists(client, getattr(world, who))


def test_fast_overdue_counts_a_deadline_that_passed_after_the_mark(world, time_machine):
    time_machine.move_to(local(2, 9), tick=False)
    issue = services.issue_create(
        reporter=world.inspector_xincheng, category=world.category, point=world.point_a,
        description="井盖缺失", latitude=Decimal("43.650100"), longitude=Decimal("122.250200"),
        photos=photos(1),
    )  # fmt: skip
    deadline = local(2, 11)
    services.issue_dispatch(
        issue=issue, actor=world.supervisor_xincheng, organisation=world.org_x, deadline=deadline
    )
    stock.rebuild()  # the mark at 9:00, before the deadline
    handler = world.handler_xincheng
    visible = Issue.objects.visible_to(handler)

    def overdue_at(moment: datetime.datetime) -> int:
        time_machine.move_to(moment, tick=False)
        counted = selectors.handler_home(handler, visible, moment, size=8)["counts"]["overdue"]
        assert counted == visible.overdue(moment).count()
        return counted

    assert overdue_at(local(2, 10, 59)) == 0
    assert overdue_at(local(2, 11, 1)) == 1  # no write since the mark: read from the case
    stock.rebuild()  # the mark after the deadline: now a counted row
    assert OpenStock.objects.filter(overdue_at_mark=True, key=world.org_x.pk).exists()
    assert overdue_at(local(2, 12)) == 1
    services.issue_acknowledge(issue=issue, actor=handler)
    assert overdue_at(local(2, 12, 5)) == 1
    services.issue_submit_fix(issue=issue, actor=handler, photos=photos(1), note="已修复")
    assert overdue_at(local(2, 12, 10)) == 0  # awaiting verification: the clock stops


def test_fast_closed_in_the_last_30_days_ends_exactly_30_days_after_the_closure(
    world, time_machine
):
    time_machine.move_to(local(2, 9), tick=False)
    issue = services.issue_create(
        reporter=world.inspector_xincheng, category=world.category, point=world.point_a,
        description="小广告", latitude=Decimal("43.650100"), longitude=Decimal("122.250200"),
        photos=photos(1),
    )  # fmt: skip
    issue = services.issue_dispatch(
        issue=issue, actor=world.supervisor_xincheng, organisation=world.org_x
    )
    issue = services.issue_acknowledge(issue=issue, actor=world.handler_xincheng)
    issue = services.issue_submit_fix(
        issue=issue, actor=world.handler_xincheng, photos=photos(1), note="已清理"
    )
    time_machine.move_to(local(2, 10, 30), tick=False)
    services.issue_verify_pass(issue=issue, actor=world.supervisor_xincheng)
    stock.rebuild()

    def closed_recently_at(moment: datetime.datetime) -> int:
        time_machine.move_to(moment, tick=False)
        since = moment - datetime.timedelta(days=30)
        figures = selectors.overview_home(world.leader_zone, moment, since=since)["counts"]
        assert (
            figures["closed_recently"]
            == Issue.objects.filter(status=Status.CLOSED, closed_at__gte=since).count()
        )
        return figures["closed_recently"]

    assert closed_recently_at(local(3, 9)) == 1
    assert closed_recently_at(local(30, 12)) == 1  # 2 Dec 10:29 still counts it
    assert closed_recently_at(timezone.make_aware(datetime.datetime(2026, 12, 2, 10, 29))) == 1
    assert closed_recently_at(timezone.make_aware(datetime.datetime(2026, 12, 2, 10, 31))) == 0


def test_scope_a_district_leader_never_sees_another_districts_counts(client, world):
    for status in (Status.REPORTED, Status.ASSIGNED, Status.SUBMITTED):
        issue_in(world, status, where="a")
    for status in (Status.REPORTED, Status.REPORTED, Status.IN_PROGRESS, Status.SUBMITTED):
        issue_in(world, status, where="b")
    issue_in(world, Status.ASSIGNED, where="b", deadline=timezone.now() - datetime.timedelta(1))
    stock.rebuild()
    lena = make_staff("lena", Role.LEADER, districts=[world.district_a])
    values = _assert_tiles_match_their_lists(client, lena)
    assert values["Open"] == 3
    assert values["Overdue"] == 0
    response = client.get("/", **EN)
    (row,) = response.context["district_rows"]
    assert row["district"] == world.district_a
    assert row["open_url"] == list_url(district=str(world.district_a.pk), status=OPEN_STATUSES)
    assert row["overdue_url"] == list_url(
        district=str(world.district_a.pk), overdue="true", sort="deadline"
    )
    # The zone's leader sees both, and the other district's figures are B's alone.
    values = _assert_tiles_match_their_lists(client, world.leader_zone)
    assert values["Open"] == 8
    assert values["Overdue"] == 1
    # A district's supervisor and an organisation's handler: their own scope only.
    assert _assert_tiles_match_their_lists(client, world.supervisor_xincheng)["Overdue"] == 0
    assert _assert_tiles_match_their_lists(client, world.supervisor_binhe)["Overdue"] == 1
    assert _assert_tiles_match_their_lists(client, world.handler_xincheng)["Overdue"] == 0
    assert _assert_tiles_match_their_lists(client, world.handler_binhe)["Overdue"] == 1


def test_scope_an_inspectors_own_report_elsewhere_counts_for_her_alone(client, world):
    # Reported by A's inspector in district B: hers to see, not B's inspector's "to verify"
    # twice, and never A's supervisor's.
    issue_in(world, Status.SUBMITTED, where="b", reporter=world.inspector_xincheng)
    issue_in(world, Status.SUBMITTED, where="a")
    stock.rebuild()
    assert (
        _assert_tiles_match_their_lists(client, world.inspector_xincheng)["Awaiting verification"]
        == 2
    )
    assert (
        _assert_tiles_match_their_lists(client, world.inspector_binhe)["Awaiting verification"] == 1
    )
    assert (
        _assert_tiles_match_their_lists(client, world.supervisor_xincheng)["Awaiting verification"]
        == 1
    )


def test_fast_open_stock_is_rebuilt_hourly_by_a_task_a_beat_entry_and_a_command(world):
    from django.conf import settings
    from django.core.management import call_command

    from issues.tasks import rebuild_open_stock_task

    issue_in(world, Status.ASSIGNED)  # written past the services
    assert rows_kept() == []
    assert rebuild_open_stock_task.apply().get()["rows"] == len(rows_kept()) > 0
    OpenStock.objects.all().delete()
    call_command("rebuild_open_stock", stdout=io.StringIO())
    assert rows_kept() == rows_from_scratch() != []
    entry = settings.CELERY_BEAT_SCHEDULE["rebuild-open-stock"]
    assert entry["task"] == "issues.tasks.rebuild_open_stock_task"
    assert entry["schedule"].minute == {7}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="advisory locks need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_fast_concurrent_changes_of_one_district_and_a_rebuild_keep_the_counters_exact(
    world, monkeypatch
):
    from tests.issues.test_concurrency import run_at_once

    cases = [issue_in(world), issue_in(world), issue_in(world, Status.ASSIGNED)]
    stock.rebuild()
    original = stock._replace

    def slow(current, fresh):
        written = original(current, fresh)
        time.sleep(0.3)  # hold the transaction open after writing, so the rivals overlap
        return written

    monkeypatch.setattr(stock, "_replace", slow)
    supervisor = world.supervisor_xincheng

    def dispatch(issue):
        return lambda: services.issue_dispatch(
            issue=Issue.objects.get(pk=issue.pk), actor=supervisor, organisation=world.org_x
        )

    results = run_at_once(
        [
            dispatch(cases[0]),
            dispatch(cases[1]),
            lambda: services.issue_acknowledge(
                issue=Issue.objects.get(pk=cases[2].pk), actor=world.handler_xincheng
            ),
            stock.rebuild,
        ]
    )
    assert [kind for kind, _ in results] == ["ok"] * 4, results
    assert rows_kept() == rows_from_scratch()
    figures = stock.total(stock.read(stock.branches(policy.case_scope(supervisor), timezone.now())))
    assert (figures[Status.REPORTED], figures[Status.ASSIGNED]) == (0, 2)
    assert figures[Status.IN_PROGRESS] == 1


def test_fast_migrate_counts_a_database_that_was_never_counted(world):
    """The counters arrived with a migration that may not import live code: `migrate` counts a
    database that has cases and no mark yet, once, by the rebuild's own code."""
    from django.apps import apps
    from django.db.models.signals import post_migrate

    from issues.models import OpenStockMark

    config = apps.get_app_config("issues")
    issue_in(world, Status.ASSIGNED)
    OpenStock.objects.all().delete()
    OpenStockMark.objects.all().delete()
    post_migrate.send(
        sender=config,
        app_config=config,
        using="default",
        verbosity=0,
        interactive=False,
        apps=apps,
        plan=[],
    )
    assert OpenStockMark.objects.exists()
    assert rows_kept() == rows_from_scratch()
    assert OpenStock.objects.filter(status=Status.ASSIGNED).exists()
    # Counted once: a second migrate leaves the counters (and their mark) as they are.
    marked = OpenStockMark.objects.get().marked_at
    post_migrate.send(
        sender=config,
        app_config=config,
        using="default",
        verbosity=0,
        interactive=False,
        apps=apps,
        plan=[],
    )
    assert OpenStockMark.objects.get().marked_at == marked
