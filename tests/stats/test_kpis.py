"""KPI figures on the hand-built weeks of tests/stats/fixtures.py, the numbers written out."""

from __future__ import annotations

import datetime

import pytest

from issues.models import Issue
from stats import kpis
from tests.stats.fixtures import NOW, PERIOD, build_cases

pytestmark = pytest.mark.django_db

EXPECTED_TOTAL = {
    "reported": 7,
    "accepted": 6,
    "rejected": 1,
    "fixed_on_spot": 1,
    "dispatched": 5,
    "returned": 1,
    "dispatched_right": 4,
    "due": 4,
    "due_closed": 2,
    "closed_on_time": 1,
    "closed_late": 1,
    "late": 2,
    "extended": 1,
    "closed": 3,
    "verified": 2,
    "reworked": 1,
    "open": 3,
    "overdue_now": 1,
    "parked": 1,
    "escalated_1": 0,
    "escalated_2": 1,
    "escalated_3": 0,
}
EXPECTED_RATES = {
    "on_time_rate": 1 / 4,
    "closure_rate": 2 / 4,
    "rework_rate": 1 / 2,
    "extension_rate": 1 / 4,
    "overdue_rate": 2 / 4,
    "on_spot_rate": 1 / 7,
    "dispatch_accuracy_rate": 4 / 5,
    "valid_report_rate": 6 / 7,
}
# Hours: (mean, P90, mean in working hours, P90 in working hours).
EXPECTED_TIMES = {
    # natural [1, .5, .5, 1, 1]; working [1, .5, .5, .5 (C6 reported before 08:30), 1]
    "report_to_dispatch": (0.8, 1.0, 0.7, 1.0),
    # natural [3, 215.5, .5, 1]; working [1.5, 7 (holiday skipped), .5, 1]
    "dispatch_to_acknowledge": (55.0, 151.75, 2.5, 5.35),
    # natural [47, 222.5, 24]; working [6.5 (Sun 28 Sep works), 12.5, 7.5 (Sat 11 Oct works)]
    "dispatch_to_fix": (293.5 / 3, 187.4, 26.5 / 3, 11.5),
    # natural [5, 1]; working [3.5 (lunch break skipped), 1]
    "fix_to_verify": (3.0, 4.6, 2.25, 3.25),
}


def _times_of(row: kpis.KpiRow) -> dict[str, tuple]:
    return {
        name: tuple(row.times[name][statistic] for statistic in kpis.STATISTICS)
        for name in kpis.DURATIONS
    }


@pytest.fixture
def cases(world):
    return build_cases(world)


@pytest.fixture(params=["cases", "rollup"], autouse=True)
def source(request, monkeypatch):
    """Every figure twice: read from the cases, and through the daily rollup (kpis.compute given
    the reader's scope as dimensions, as the pages call it)."""
    if request.param == "rollup":
        from districts import policy
        from issues.models import IssueQuerySet
        from stats import rollup

        visible_to = IssueQuerySet.visible_to

        def visible_to_reader(self, user):
            queryset = visible_to(self, user)
            queryset._kpi_reader = user
            return queryset

        compute = kpis.compute

        def compute_through_the_rollup(scope, **options):
            reader = getattr(scope, "_kpi_reader", None)
            if reader is not None and options.get("rollup_filter") is None:
                options["rollup_filter"] = rollup.RollupFilter(scope=policy.case_scope(reader))
            return compute(scope, **options)

        monkeypatch.setattr(IssueQuerySet, "visible_to", visible_to_reader)
        monkeypatch.setattr(kpis, "compute", compute_through_the_rollup)
    return request.param


def test_kpi_counts_rates_and_times_of_the_whole_zone(world, cases):
    report = kpis.compute(Issue.objects.visible_to(world.leader_zone), period=PERIOD, now=NOW)
    assert report.total.counts == EXPECTED_TOTAL
    assert report.total.rates == pytest.approx(EXPECTED_RATES)
    times = _times_of(report.total)
    for name, expected in EXPECTED_TIMES.items():
        assert times[name] == pytest.approx(expected), name


def test_kpi_times_in_python_equal_the_sql(world, cases):
    scope = Issue.objects.visible_to(world.leader_zone)
    for grouping in (None, *kpis.GROUPINGS, *kpis.TIME_GROUPINGS):
        sql = kpis.sql_durations(scope, period=PERIOD, grouping=grouping)
        python = kpis.python_durations(scope, period=PERIOD, grouping=grouping)
        assert set(sql) == set(python), grouping
        for key in sql:
            for name in kpis.DURATIONS:
                assert sql[key][name] == pytest.approx(python[key][name]), (grouping, key, name)


def test_kpi_by_district(world, cases):
    report = kpis.compute(
        Issue.objects.visible_to(world.leader_zone), period=PERIOD, grouping="district", now=NOW
    )
    rows = {row.key: row for row in report.rows}
    assert set(rows) == {world.district_a.pk, world.district_b.pk}
    a, b = rows[world.district_a.pk], rows[world.district_b.pk]
    assert a.label == "新城街道"
    assert a.counts == {
        **dict.fromkeys(EXPECTED_TOTAL, 0),
        "reported": 4, "accepted": 4, "fixed_on_spot": 1, "dispatched": 3,
        "dispatched_right": 3, "due": 3, "due_closed": 2, "closed_on_time": 1,
        "closed_late": 1, "late": 1, "extended": 1, "closed": 3, "verified": 2, "reworked": 1,
        "open": 1,
    }  # fmt: skip
    assert b.counts == {
        **dict.fromkeys(EXPECTED_TOTAL, 0),
        "reported": 3, "accepted": 2, "rejected": 1, "dispatched": 2, "returned": 1,
        "dispatched_right": 1, "due": 1, "late": 1, "open": 2, "overdue_now": 1, "parked": 1,
        "escalated_2": 1,
    }  # fmt: skip
    assert a.rates["on_time_rate"] == pytest.approx(1 / 3)
    assert b.rates["on_time_rate"] == 0
    # District B closed nothing it verified: its rework rate is undefined, not 0 % or 100 %.
    assert b.rates["rework_rate"] is None
    assert kpis.format_rate(b.rates["rework_rate"]) == "—"
    # C1, C2, C6 of A: natural [1, .5, 1], working [1, .5, .5].
    assert a.times["report_to_dispatch"]["mean"] == pytest.approx(2.5 / 3)
    assert a.times["report_to_dispatch"]["mean_working"] == pytest.approx(2 / 3)
    assert b.times["fix_to_verify"]["mean"] is None


def test_kpi_by_organisation_big_class_and_category(world, cases):
    scope = Issue.objects.visible_to(world.leader_zone)
    by_org = {
        row.key: row.counts
        for row in kpis.compute(scope, period=PERIOD, grouping="organisation", now=NOW).rows
    }
    assert by_org[world.org_x.pk]["dispatched"] == 3
    assert by_org[world.org_x.pk]["due"] == 3
    assert by_org[world.org_x.pk]["closed_on_time"] == 1
    assert by_org[world.org_y.pk]["returned"] == 1
    assert by_org[world.org_y.pk]["late"] == 1
    # C4 (rejected) and C5 (fixed on the spot) never had an organisation.
    assert by_org[None]["reported"] == 2
    assert by_org[None]["closed"] == 1

    by_class = {
        row.key: row.counts
        for row in kpis.compute(scope, period=PERIOD, grouping="big_class", now=NOW).rows
    }
    assert by_class["city_appearance"]["reported"] == 3
    assert by_class["city_appearance"]["due"] == 2
    assert by_class["city_appearance"]["closed_on_time"] == 1
    assert by_class["street_order"]["reported"] == 4
    assert by_class["street_order"]["due"] == 2
    assert by_class["street_order"]["late"] == 1
    assert by_class["street_order"]["closed"] == 0

    by_category = {
        row.key: row.counts
        for row in kpis.compute(scope, period=PERIOD, grouping="category", now=NOW).rows
    }
    assert by_category[world.category.pk] == by_class["city_appearance"]
    assert by_category[cases["street"].pk] == by_class["street_order"]


def test_kpi_by_place_and_reporter(world, cases):
    scope = Issue.objects.visible_to(world.leader_zone)
    community = {
        row.key: row.counts["reported"]
        for row in kpis.compute(scope, period=PERIOD, grouping="community", now=NOW).rows
    }
    assert community == {world.community_a.pk: 4, world.community_b.pk: 3}
    point = {
        row.key: row.counts["reported"]
        for row in kpis.compute(scope, period=PERIOD, grouping="point", now=NOW).rows
    }
    assert point == {world.point_a.pk: 1, world.point_b.pk: 1, None: 5}
    point_type = {
        row.key: row.counts["reported"]
        for row in kpis.compute(scope, period=PERIOD, grouping="point_type", now=NOW).rows
    }
    assert point_type == {world.point_a.point_type_id: 2, None: 5}
    reporter = {
        row.label: (row.counts["reported"], row.counts["accepted"])
        for row in kpis.compute(scope, period=PERIOD, grouping="reporter", now=NOW).rows
    }
    assert reporter == {
        "inspector_xincheng": (3, 3),
        "inspector_binhe": (3, 2),
        "supervisor_xincheng": (1, 1),
    }


def test_kpi_by_week_day_and_month(world, cases):
    scope = Issue.objects.visible_to(world.leader_zone)
    weeks = kpis.compute(scope, period=PERIOD, grouping="week", now=NOW)
    by_week = {row.label: row for row in weeks.rows}
    assert list(by_week) == ["2025-W39", "2025-W40", "2025-W41"]
    assert [by_week[w].counts["reported"] for w in by_week] == [1, 4, 2]
    assert [by_week[w].counts["closed"] for w in by_week] == [1, 1, 1]
    assert [by_week[w].counts["due"] for w in by_week] == [0, 2, 2]
    assert [by_week[w].counts["closed_on_time"] for w in by_week] == [0, 1, 0]
    assert [by_week[w].rates["on_time_rate"] for w in by_week] == [None, 0.5, 0.0]
    # The stock has no date: weeks do not split it, the total keeps it.
    assert by_week["2025-W40"].counts["open"] is None
    assert weeks.total.counts["open"] == 3
    # Times per week follow the dispatch date (C1 in W39; C2, C3 in W40; C6, C7 in W41).
    assert by_week["2025-W39"].times["report_to_dispatch"]["mean"] == pytest.approx(1.0)
    assert by_week["2025-W40"].times["report_to_dispatch"]["mean"] == pytest.approx(0.5)

    months = kpis.compute(scope, period=PERIOD, grouping="month", now=NOW)
    assert {row.label: row.counts["reported"] for row in months.rows} == {
        "2025-09": 3,
        "2025-10": 4,
    }
    days = kpis.compute(scope, period=PERIOD, grouping="day", now=NOW)
    by_day = {row.key: row.counts["reported"] for row in days.rows if row.counts["reported"]}
    assert by_day == {
        datetime.date(2025, 9, 26): 1,
        datetime.date(2025, 9, 29): 1,
        datetime.date(2025, 9, 30): 1,
        datetime.date(2025, 10, 1): 1,
        datetime.date(2025, 10, 2): 1,
        datetime.date(2025, 10, 9): 1,
        datetime.date(2025, 10, 10): 1,
    }


def test_kpi_scope_leader_of_one_district_supervisor_of_another_and_handler(world, cases):
    from tests.factories import make_staff

    lena = make_staff("lena", "leader", districts=[world.district_a])
    as_lena = kpis.compute(Issue.objects.visible_to(lena), period=PERIOD, now=NOW)
    as_dave = kpis.compute(Issue.objects.visible_to(world.supervisor_binhe), period=PERIOD, now=NOW)
    as_hank = kpis.compute(Issue.objects.visible_to(world.handler_xincheng), period=PERIOD, now=NOW)
    assert as_lena.total.counts["reported"] == 4
    assert as_lena.total.counts["returned"] == 0  # C3's reassignment is in district B
    assert as_dave.total.counts["reported"] == 3
    assert as_dave.total.counts["closed"] == 0
    # The handler of X sees X's cases only: C1, C2, C6.
    assert as_hank.total.counts["dispatched"] == 3
    assert as_hank.total.counts["reported"] == 3
    assert as_hank.total.counts["rejected"] == 0
    for name in EXPECTED_TOTAL:
        assert as_lena.total.counts[name] + as_dave.total.counts[name] == EXPECTED_TOTAL[name]


def test_kpi_empty_period_has_undefined_rates(world, cases):
    empty = kpis.Period(datetime.date(2024, 1, 1), datetime.date(2024, 1, 7))
    report = kpis.compute(Issue.objects.visible_to(world.leader_zone), period=empty, now=NOW)
    assert report.total.counts["reported"] == 0
    assert all(value is None for value in report.total.rates.values())
    assert report.total.times["report_to_dispatch"]["mean"] is None


def test_kpi_runs_a_fixed_number_of_queries(world, cases, source, django_assert_num_queries):
    scope = Issue.objects.visible_to(world.leader_zone)
    # From the cases: 5 cohorts + 2 time cohorts + 1 label query. Through the rollup: its sums,
    # the open late cases, the stock, 2 bounded exact-time reads and the labels.
    with django_assert_num_queries(8 if source == "cases" else 6):
        kpis.compute(scope, period=PERIOD, grouping="district", now=NOW)


def test_kpi_list_filters_name_the_cohort_and_condition(world, cases):
    params = kpis.list_filters("closed_on_time", PERIOD, NOW)
    assert params == {
        "status": ["assigned", "in_progress", "submitted", "parked", "closed"],
        "deadline_from": "2025-09-22",
        "deadline_to": "2025-10-12",
        "timeliness": "on_time",
    }
