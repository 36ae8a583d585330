"""The KPI rollup as the services keep it equals the rollup computed from scratch, and the
figures read through it equal the figures read from the cases.

These tests build their cases through the services only: the factories' stand-in for the
services' hook (tests/stats/conftest.py) is switched off here.
"""

from __future__ import annotations

import datetime
import io
import itertools
from typing import Any

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from districts.policy import CaseScope
from issues import services
from issues.models import ExtensionRequest, Issue
from stats import kpis, rollup
from stats.models import KpiDay, KpiMonth, KpiWeek
from tests.factories import build_world
from tests.issues.lifecycle_support import photos
from tests.stats.fixtures import seed_calendar

pytestmark = pytest.mark.django_db

ROLLUP_FROM_SERVICES_ONLY = True
ZONE_WIDE = rollup.RollupFilter(scope=CaseScope(everything=True))


def local(day: int, hour: int, minute: int = 0) -> datetime.datetime:
    """An instant of November 2026, local time (2 Nov is a Monday)."""
    return timezone.make_aware(datetime.datetime(2026, 11, day, hour, minute))


def rows_of_the_rollup() -> list[tuple]:
    """Every day row and month row, floats rounded."""
    result = []
    for model, date, figures in (
        (KpiDay, "day", rollup.all_columns()),
        (KpiMonth, "month", rollup.all_columns()),
        (KpiWeek, "week", rollup.count_columns()),
    ):
        columns = [date, "district_id", "big_class", "organisation_key", *figures]
        rows = model.objects.order_by(*columns[:4]).values_list(*columns)
        result += [
            (model.__name__, *(round(v, 6) if isinstance(v, float) else v for v in row))
            for row in rows
        ]
    return result


def _campaign(world, time_machine) -> list[Issue]:
    """Six cases through report, dispatch, return, reassign, acknowledge, extend, fix, rework,
    verify, close, reject, fix on the spot, park and escalate, days apart."""
    clock = iter(
        [local(day, hour) for day in (2, 3, 4, 5, 6, 9, 10, 11, 12, 13) for hour in (9, 11, 15)]
    )

    def tick() -> None:
        time_machine.move_to(next(clock), tick=False)

    def report(inspector, point, text):
        tick()
        return services.issue_create(
            reporter=inspector, category=world.category, description=text, point=point,
            latitude="43.650100", longitude="122.250200", photos=photos(1),
        )  # fmt: skip

    a, b = world.supervisor_xincheng, world.supervisor_binhe
    x, y = world.handler_xincheng, world.handler_binhe
    reworked = report(world.inspector_xincheng, world.point_a, "返工的案件")
    tick()
    reworked = services.issue_dispatch(issue=reworked, actor=a, organisation=world.org_x)
    returned = report(world.inspector_xincheng, world.point_a, "回退的案件")
    tick()
    reworked = services.issue_acknowledge(issue=reworked, actor=x)
    returned = services.issue_dispatch(issue=returned, actor=a, organisation=world.org_x)
    tick()
    returned = services.issue_return(issue=returned, actor=x, reason="不是我们的")
    reworked = services.issue_submit_fix(issue=reworked, actor=x, photos=photos(1), note="已清理")
    tick()
    returned = services.issue_dispatch(issue=returned, actor=a, organisation=world.org_y)
    reworked = services.issue_verify_fail(issue=reworked, actor=a, reason="未清理干净")
    tick()
    returned = services.issue_acknowledge(issue=returned, actor=y)
    services.extension_request(
        issue=returned, actor=y, reason="需要采购", requested_deadline=returned.deadline
        + datetime.timedelta(days=2),
    )  # fmt: skip
    tick()
    services.extension_approve(
        extension=ExtensionRequest.objects.get(issue=returned, status="pending"), actor=a
    )
    reworked = services.issue_submit_fix(issue=reworked, actor=x, photos=photos(1), note="再清理")
    tick()
    reworked = services.issue_verify_pass(issue=reworked, actor=a)
    reassigned = report(world.inspector_binhe, world.point_b, "改派的案件")
    tick()
    reassigned = services.issue_dispatch(issue=reassigned, actor=b, organisation=world.org_y)
    tick()
    reassigned = services.issue_reassign(issue=reassigned, actor=b, organisation=world.org_x)
    reassigned = services.issue_acknowledge(issue=reassigned, actor=x)
    tick()
    reassigned = services.issue_park(
        issue=reassigned, actor=b, reason="待施工", review_date=timezone.localdate()
        + datetime.timedelta(days=30),
    )  # fmt: skip
    rejected = report(world.inspector_xincheng, world.point_a, "驳回的案件")
    tick()
    rejected = services.issue_reject(issue=rejected, actor=a, reason="不属实")
    on_spot = report(world.inspector_xincheng, world.point_a, "当场整改")
    tick()
    on_spot = services.issue_fix_on_spot(issue=on_spot, actor=world.inspector_xincheng,
                                         photos=photos(1))  # fmt: skip
    escalated = report(world.inspector_binhe, world.point_b, "督办的案件")
    tick()
    escalated = services.issue_dispatch(issue=escalated, actor=b, organisation=world.org_y)
    for _ in range(6):
        tick()
    escalated = services.issue_escalate(issue=escalated, actor=b, level=2, note="督办")
    returned = services.issue_submit_fix(issue=returned, actor=y, photos=photos(1), note="修好")
    tick()
    returned = services.issue_verify_pass(issue=returned, actor=a)
    return [reworked, returned, reassigned, rejected, on_spot, escalated]


def test_kpi_rollup_kept_by_the_services_equals_the_rollup_from_scratch(world, time_machine):
    seed_calendar()
    _campaign(world, time_machine)
    kept = rows_of_the_rollup()
    assert kept, "the services wrote no rollup rows"
    rollup.rebuild()
    assert rows_of_the_rollup() == kept


def test_kpi_figures_through_the_rollup_equal_the_figures_from_the_cases(world, time_machine):
    seed_calendar()
    _campaign(world, time_machine)
    now = local(20, 12)
    everything = Issue.objects.all()
    # A whole month (its month rows), days inside one, a month with ragged days around it, and
    # months and weeks cut by a day or two (read whole, less their days outside).
    periods = [
        kpis.Period(datetime.date(2026, 11, 1), datetime.date(2026, 11, 30)),
        kpis.Period(datetime.date(2026, 11, 3), datetime.date(2026, 11, 11)),
        kpis.Period(datetime.date(2026, 10, 25), datetime.date(2026, 12, 5)),
        kpis.Period(datetime.date(2026, 11, 2), datetime.date(2026, 11, 29)),
        kpis.Period(datetime.date(2026, 10, 3), datetime.date(2026, 12, 29)),
    ]
    assert any(
        part.sign < 0 for part in rollup.read_plan(None, True, periods[3].start, periods[3].end)
    )
    for period, grouping, times in itertools.product(
        periods,
        (None, "district", "organisation", "big_class", "day", "week", "month"),
        (True, False),  # with times: day and month rows; counts only: week rows too
    ):
        live = kpis.compute(
            everything, period=period, grouping=grouping, now=now, include_times=times
        )
        kept = kpis.compute(
            everything,
            period=period,
            grouping=grouping,
            now=now,
            include_times=times,
            rollup_filter=ZONE_WIDE,
        )
        assert kept.total.counts == live.total.counts, grouping
        for name, statistics in live.total.times.items():
            assert kept.total.times[name] == pytest.approx(statistics), (grouping, name)
        assert {row.key: row.counts for row in kept.rows} == {
            row.key: row.counts for row in live.rows
        }, grouping
    assert live.total.counts["reworked"] == 1
    assert live.total.counts["returned"] == 2
    assert live.total.counts["extended"] >= 1
    # One page's shared reads answer both its breakdowns exactly as separate reads do.
    for period, times in itertools.product(periods, (True, False)):
        shared = kpis.SharedReads(
            everything, ZONE_WIDE, period, ("district", "organisation"), with_times=times
        )
        for grouping in ("district", "organisation"):
            arguments: dict[str, Any] = {
                "period": period,
                "grouping": grouping,
                "now": now,
                "include_times": times,
                "rollup_filter": ZONE_WIDE,
            }
            alone = kpis.compute(everything, **arguments)
            together = kpis.compute(everything, **arguments, shared=shared)
            assert together.total.counts == alone.total.counts, (period, grouping)
            assert {row.key: row.counts for row in together.rows} == {
                row.key: row.counts for row in alone.rows
            }, (period, grouping)
            for name, statistics in alone.total.times.items():
                assert together.total.times[name] == pytest.approx(statistics), name
        assert shared._sums is not None, "the reports did not read through the shared reads"


def test_kpi_rollup_times_above_the_exact_limit_come_from_sums_and_histograms(
    world, time_machine, monkeypatch
):
    seed_calendar()
    _campaign(world, time_machine)
    now = local(20, 12)
    period = kpis.Period(datetime.date(2026, 11, 1), datetime.date(2026, 11, 30))
    live = kpis.compute(Issue.objects.all(), period=period, now=now)
    monkeypatch.setattr(kpis, "EXACT_SAMPLES", 0)
    kept = kpis.compute(Issue.objects.all(), period=period, now=now, rollup_filter=ZONE_WIDE)
    for name, statistics in live.total.times.items():
        for statistic in ("mean", "mean_working"):
            assert kept.total.times[name][statistic] == pytest.approx(statistics[statistic])
        for statistic in ("p90", "p90_working"):
            exact, approximate = statistics[statistic], kept.total.times[name][statistic]
            assert (exact is None) == (approximate is None), name
            if exact is not None:
                # Buckets at most double: the histogram's answer is within a factor of two.
                assert exact / 2 - 0.25 <= approximate <= 2 * exact + 0.25, (name, statistic)


def test_kpi_rollup_scope_never_counts_another_district(world, time_machine):
    _campaign(world, time_machine)
    now = local(20, 12)
    period = kpis.Period(datetime.date(2026, 11, 1), datetime.date(2026, 11, 30))
    for persona in ("supervisor_xincheng", "supervisor_binhe", "handler_xincheng"):
        user = getattr(world, persona)
        scope = Issue.objects.visible_to(user)
        live = kpis.compute(scope, period=period, now=now, include_times=False)
        kept = kpis.compute(
            scope,
            period=period,
            now=now,
            include_times=False,
            rollup_filter=rollup.RollupFilter(scope=policy_scope(user)),
        )
        assert kept.total.counts == live.total.counts, persona


def policy_scope(user) -> CaseScope:
    from districts import policy

    return policy.case_scope(user)


def test_kpi_case_scope_names_the_cases_visible_to_every_persona(world):
    from districts import policy
    from tests.factories import issue_in

    issue_in(world, where="a")
    issue_in(world, "assigned", where="b")
    issue_in(world, "closed", where="a")
    for persona in (
        "inspector_xincheng", "inspector_binhe", "supervisor_xincheng", "supervisor_binhe",
        "handler_xincheng", "handler_binhe", "leader_zone", "admin_zone",
    ):  # fmt: skip
        user = getattr(world, persona)
        scope = policy.case_scope(user)
        visible = set(Issue.objects.visible_to(user).values_list("pk", flat=True))
        described = {
            issue.pk
            for issue in Issue.objects.all()
            if scope.everything
            or (scope.district_ids and issue.district_id in scope.district_ids)
            or (scope.organisation_id and issue.assigned_organisation_id == scope.organisation_id)
            or (scope.reporter_id and issue.reporter_id == scope.reporter_id)
        }
        assert described == visible, persona


gaps = st.lists(st.integers(min_value=0, max_value=80), min_size=8, max_size=8)


class TestKpiTimesNeverNegative(TestCase):
    @settings(
        max_examples=8,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(gaps)
    def test_kpi_times_are_never_negative_and_the_rollup_stays_equal(self, hours):
        """On cases built through the services with any delays between steps, no mean or P90
        is negative, working hours never exceed natural hours, and the kept rollup equals the
        one from scratch."""
        import time_machine

        seed_calendar()
        world = build_world()
        moment = local(2, 9)
        steps = iter(hours)

        def later():
            nonlocal moment
            moment += datetime.timedelta(hours=next(steps), minutes=7)
            return moment

        with time_machine.travel(moment, tick=False) as traveller:
            issue = services.issue_create(
                reporter=world.inspector_xincheng, category=world.category, description="x",
                point=world.point_a, latitude="43.650100", longitude="122.250200",
                photos=photos(1),
            )  # fmt: skip
            traveller.move_to(later())
            issue = services.issue_dispatch(
                issue=issue, actor=world.supervisor_xincheng, organisation=world.org_x
            )
            traveller.move_to(later())
            issue = services.issue_acknowledge(issue=issue, actor=world.handler_xincheng)
            traveller.move_to(later())
            issue = services.issue_submit_fix(
                issue=issue, actor=world.handler_xincheng, photos=photos(1), note="修"
            )
            traveller.move_to(later())
            issue = services.issue_verify_fail(
                issue=issue, actor=world.supervisor_xincheng, reason="未修好"
            )
            traveller.move_to(later())
            issue = services.issue_submit_fix(
                issue=issue, actor=world.handler_xincheng, photos=photos(1), note="再修"
            )
            traveller.move_to(later())
            services.issue_verify_pass(issue=issue, actor=world.supervisor_xincheng)
            now = later()
        period = kpis.Period(datetime.date(2026, 10, 26), datetime.date(2026, 12, 31))
        for source in (None, ZONE_WIDE):
            report = kpis.compute(Issue.objects.all(), period=period, now=now, rollup_filter=source)
            for name, statistics in report.total.times.items():
                for statistic, value in statistics.items():
                    assert value is None or value >= 0, (name, statistic, value)
                natural, working = statistics["mean"], statistics["mean_working"]
                if natural is not None:
                    assert working <= natural + 1e-9, name
        kept = rows_of_the_rollup()
        rollup.rebuild()
        assert rows_of_the_rollup() == kept


def test_kpi_rollup_nightly_task_and_command_rebuild_it_from_scratch(world, time_machine):
    from django.core.management import call_command

    from stats.tasks import rebuild_kpi_rollup_task

    _campaign(world, time_machine)
    kept = rows_of_the_rollup()
    KpiDay.objects.all().delete()
    KpiMonth.objects.all().delete()
    assert rebuild_kpi_rollup_task.delay().get()["rows"] == len(
        [row for row in kept if row[0] == "KpiDay"]
    )
    assert rows_of_the_rollup() == kept
    KpiDay.objects.all().delete()
    call_command("rebuild_kpi_rollup", stdout=io.StringIO())
    assert rows_of_the_rollup() == kept


def test_kpi_rollup_is_rebuilt_by_a_nightly_beat_entry():
    from django.conf import settings as django_settings

    entry = django_settings.CELERY_BEAT_SCHEDULE["rebuild-kpi-rollup"]
    assert entry["task"] == "stats.tasks.rebuild_kpi_rollup_task"
    assert entry["schedule"].hour == {2}


def test_kpi_rollup_read_plan_adds_up_to_exactly_the_days_of_the_period():
    start = datetime.date(2024, 12, 3)
    for length, grouping, times in itertools.product(
        (1, 5, 6, 20, 29, 45, 130, 400, 730),
        (None, "district", "day", "week", "month"),
        (True, False),
    ):
        end = start + datetime.timedelta(days=length - 1)
        counted: dict[datetime.date, int] = {}
        for part in rollup.read_plan(grouping, times, start, end):
            for first, last in part.ranges:
                day = first
                while day <= last:
                    if part.table == rollup.TABLE:
                        days = [day]
                        day += datetime.timedelta(days=1)
                    else:
                        unit = "week" if part.table == rollup.WEEK_TABLE else "month"
                        assert day == rollup._start_of(unit, day)
                        # Never times from week rows, never rows across the grouping's buckets.
                        assert not (times and unit == "week")
                        assert grouping != "day"
                        assert {grouping, unit} not in ({"week", "month"},)
                        days = []
                        while not days or rollup._start_of(unit, day) == days[0]:
                            days.append(day)
                            day += datetime.timedelta(days=1)
                    for each in days:
                        counted[each] = counted.get(each, 0) + part.sign
        expected = {start + datetime.timedelta(days=i): 1 for i in range(length)}
        assert {day: n for day, n in counted.items() if n} == expected, (length, grouping)
        assert all(n in (0, 1) for n in counted.values())
