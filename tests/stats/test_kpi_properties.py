"""Properties of the KPI figures on random campaigns (hypothesis)."""

from __future__ import annotations

import datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from issues.models import Action, IssueEvent, Status
from stats import kpis
from tests.factories import IssueFactory, build_world
from tests.stats.fixtures import NOW, PERIOD, at, seed_calendar

STATES = [
    Status.REPORTED,
    Status.ASSIGNED,
    Status.IN_PROGRESS,
    Status.SUBMITTED,
    Status.PARKED,
    Status.CLOSED,
    Status.REJECTED,
]

case = st.fixed_dictionaries(
    {
        "where": st.sampled_from("ab"),
        "status": st.sampled_from(STATES),
        "reported_hours": st.integers(min_value=-200, max_value=700),
        "dispatch_after": st.integers(min_value=0, max_value=60),
        "limit": st.integers(min_value=1, max_value=200),
        "work": st.integers(min_value=0, max_value=300),
        "rework": st.integers(min_value=0, max_value=2),
        "extended": st.booleans(),
        "returned": st.booleans(),
        "on_spot": st.booleans(),
    }
)


def _make(world, spec: dict) -> None:
    start = at(9, 20, 7) + datetime.timedelta(hours=spec["reported_hours"])
    community = world.community_a if spec["where"] == "a" else world.community_b
    org = world.org_x if spec["where"] == "a" else world.org_y
    status = spec["status"]
    fields = {
        "community": community,
        "category": world.category,
        "reporter": world.inspector_xincheng,
    }
    fields["reported_at"] = start
    if status == Status.CLOSED and spec["on_spot"]:
        fields.update(fixed_on_spot=True, closed_at=start + datetime.timedelta(minutes=10))
    elif status not in (Status.REPORTED, Status.REJECTED):
        dispatched = start + datetime.timedelta(hours=spec["dispatch_after"])
        fields.update(
            assigned_organisation=org,
            dispatched_at=dispatched,
            clock_started_at=dispatched,
            deadline=dispatched + datetime.timedelta(hours=spec["limit"]),
            acknowledged_at=dispatched + datetime.timedelta(hours=1),
            extension_count=int(spec["extended"]),
        )
        if status in (Status.SUBMITTED, Status.CLOSED):
            fix = dispatched + datetime.timedelta(hours=spec["work"])
            fields.update(first_submitted_at=fix, submitted_at=fix, rework_count=spec["rework"])
        if status == Status.CLOSED:
            done = fields["submitted_at"] + datetime.timedelta(hours=3)
            fields.update(verified_at=done, closed_at=done)
    elif status == Status.REJECTED:
        fields["rejected_at"] = start + datetime.timedelta(hours=1)
    issue = IssueFactory(status=status, **fields)
    if spec["returned"] and issue.dispatched_at:
        IssueEvent.objects.create(
            issue=issue, action=Action.RETURN, from_status=Status.ASSIGNED,
            to_status=Status.REPORTED, created_at=issue.dispatched_at,
        )  # fmt: skip


class TestKpiProperties(TestCase):
    @settings(
        max_examples=12,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.lists(case, max_size=12), st.sampled_from(["district", "organisation", "week"]))
    def test_kpi_rates_bounded_groups_sum_to_total_and_narrow_scope_counts_less(
        self, specs, grouping
    ):
        from issues.models import Issue

        seed_calendar()
        world = build_world()
        for spec in specs:
            _make(world, spec)
        everything = Issue.objects.visible_to(world.leader_zone)
        report = kpis.compute(everything, period=PERIOD, grouping=grouping, now=NOW)
        for row in [report.total, *report.rows]:
            for value in row.rates.values():
                assert value is None or 0 <= value <= 1
        for name, total in report.total.counts.items():
            values = [row.counts[name] for row in report.rows if row.counts[name] is not None]
            if values:
                assert sum(values) == total, name
        narrow = kpis.compute(
            Issue.objects.visible_to(world.supervisor_xincheng),
            period=PERIOD,
            now=NOW,
            include_times=False,
        )
        for name, count in narrow.total.counts.items():
            assert count <= report.total.counts[name], name
        sql = kpis.sql_durations(everything, period=PERIOD, grouping=grouping)
        python = kpis.python_durations(everything, period=PERIOD, grouping=grouping)
        assert set(sql) == set(python)
        for key, times in sql.items():
            for name, statistics in times.items():
                for statistic, value in statistics.items():
                    other = python[key][name][statistic]
                    assert (value is None) == (other is None), (key, name, statistic)
                    if value is not None:
                        assert abs(value - other) < 1e-6, (key, name, statistic)
