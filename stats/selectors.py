"""Read models of the dashboards: tiles, trends and breakdown tables, each number with its list.

Every figure comes from `stats.kpis`; every link is the issue list filtered by the figure's own
definition (`kpis.list_filters`), the page's district and big class, and the row's group, so the
list shows exactly the cases the number counts.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from districts import policy
from issues.models import Escalation, Issue
from stats import kpis, rollup
from stats.forms import DashboardFilterForm, monday_of
from stats.models import RankingEntry, RankingSettings, WeeklyRanking
from stats.services import rank_units, week_period

TREND_WEEKS = 12

COUNT_TILES = ("reported", "dispatched", "due", "closed", "open", "overdue_now")
RATE_TILES = ("on_time_rate", "closure_rate", "rework_rate", "overdue_rate")
MORE_RATES = ("extension_rate", "dispatch_accuracy_rate", "on_spot_rate", "valid_report_rate")
HANDLER_COUNT_TILES = ("dispatched", "due", "closed_on_time", "late", "overdue_now", "reworked")
BREAKDOWN_COUNTS = ("reported", "due", "closed_on_time", "late", "closed", "reworked")
BREAKDOWN_RATES = ("on_time_rate", "rework_rate")
# The weekly trend: these counts per week, and the on-time rate as a line.
TREND_COUNTS = ("reported", "closed", "due", "closed_on_time")


def scoped_issues(user: Any, scope_params: dict[str, str]) -> QuerySet[Issue]:
    """The user's visible issues narrowed by the page's district and big class."""
    queryset = Issue.objects.visible_to(user)
    if "district" in scope_params:
        queryset = queryset.filter(district_id=int(scope_params["district"]))
    if "big_class" in scope_params:
        queryset = queryset.filter(category__big_class=scope_params["big_class"])
    return queryset


def rollup_filter(user: Any, scope_params: dict[str, str]) -> rollup.RollupFilter:
    """The rows of the KPI rollup `scoped_issues` counts: the same scope, as dimensions."""
    return rollup.RollupFilter(
        scope=policy.case_scope(user),
        district_id=int(scope_params["district"]) if "district" in scope_params else None,
        big_class=scope_params.get("big_class") or None,
    )


def _encode(params: dict[str, Any]) -> str:
    return urlencode({k: v for k, v in params.items() if v not in (None, "")}, doseq=True)


class FigureLinks:
    """The issue-list links of one report's figures (`list_url` of the page's district and big
    class, the figure's `kpis.list_filters` and the row's group): the list's path is reversed
    once and each figure's parameters encoded once, a group's own parameter appended to them."""

    def __init__(
        self, period: kpis.Period, now: datetime.datetime, scope_params: dict[str, str]
    ) -> None:
        self.period = period
        self.now = now
        self.scope_params = scope_params
        self.path = reverse("issues:issue_list")
        self._params: dict[str, dict[str, Any]] = {}
        self._queries: dict[str, str] = {}

    def url(self, name: str, group: dict[str, str] | None = None) -> str:
        params = self._params.get(name)
        if params is None:
            params = {**self.scope_params, **kpis.list_filters(name, self.period, self.now)}
            self._params[name] = params
            self._queries[name] = _encode(params)
        query = self._queries[name]
        if group:
            if any(key in params for key in group):
                query = _encode({**params, **group})
            else:
                extra = _encode(group)
                query = f"{query}&{extra}" if query and extra else query or extra
        return self.path + (f"?{query}" if query else "")


def _change(current: float | int | None, previous: float | int | None, *, is_rate: bool) -> str:
    if current is None or previous is None:
        return ""
    delta = current - previous
    if is_rate:
        delta_points = delta * 100
        if abs(delta_points) < 0.05:
            return "±0"
        points = f"{delta_points:+.1f}".replace("-", "−")
        return gettext("%(points)s pp") % {"points": points}
    return "±0" if delta == 0 else f"{delta:+d}".replace("-", "−")


def tiles(
    report: kpis.KpiReport,
    previous: kpis.KpiReport | None,
    scope_params: dict[str, str],
    *,
    counts: Iterable[str] = COUNT_TILES,
    rates: Iterable[str] = RATE_TILES,
) -> dict[str, list[dict[str, Any]]]:
    all_measures = kpis.measures(report.now)
    links = FigureLinks(report.period, report.now, scope_params)
    count_tiles = []
    for name in counts:
        measure = all_measures[name]
        value = report.total.counts.get(name)
        before = (
            previous.total.counts.get(name)
            if previous is not None and measure.cohort != "now"
            else None
        )
        count_tiles.append(
            {
                "name": name,
                "label": measure.label,
                "value": value,
                "previous": before,
                "change": _change(value, before, is_rate=False),
                "url": links.url(name),
                "tone": "alert" if name in ("overdue_now", "late") and value else "",
            }
        )
    rate_tiles = []
    for name in rates:
        item = kpis.RATES[name]
        value = report.total.rates[name]
        before = previous.total.rates[name] if previous is not None else None
        rate_tiles.append(
            {
                "name": name,
                "label": item.label,
                "definition": item.definition,
                "value": kpis.format_rate(value),
                "raw": value,
                "change": _change(value, before, is_rate=True),
                "numerator": report.total.counts[item.numerator],
                "denominator": report.total.counts[item.denominator],
                "numerator_url": links.url(item.numerator),
                "denominator_url": links.url(item.denominator),
            }
        )
    return {"counts": count_tiles, "rates": rate_tiles}


def breakdown(
    report: kpis.KpiReport, scope_params: dict[str, str], *, skip_none: bool = True
) -> dict[str, Any]:
    """A table of the report's groups: counts linked to their lists, rates with both parts."""
    all_measures = kpis.measures(report.now)
    param = kpis.GROUPING_LIST_PARAMS.get(report.grouping or "")
    links = FigureLinks(report.period, report.now, scope_params)
    rows = []
    for row in report.rows:
        if row.key is None and skip_none:
            continue
        group = {param: row.list_key} if param and row.list_key else None
        cells = [
            {
                "value": row.counts[name],
                "url": links.url(name, group) if group else None,
            }
            for name in BREAKDOWN_COUNTS
        ]
        rate_cells = [kpis.format_rate(row.rates[name]) for name in BREAKDOWN_RATES]
        rows.append({"label": row.label, "key": row.key, "cells": cells, "rates": rate_cells})
    return {
        "grouping": report.grouping,
        "title": kpis.GROUPING_LABELS.get(report.grouping or "", ""),
        "headers": [all_measures[name].label for name in BREAKDOWN_COUNTS],
        "rate_headers": [kpis.RATES[name].label for name in BREAKDOWN_RATES],
        "rows": rows,
    }


def trend(
    scope: QuerySet[Issue],
    period: kpis.Period,
    now: datetime.datetime,
    rows: rollup.RollupFilter | None = None,
) -> dict[str, Any]:
    """Per ISO week over the last TREND_WEEKS weeks up to the period's end."""
    start = min(period.start, monday_of(period.end) - datetime.timedelta(weeks=TREND_WEEKS - 1))
    start = monday_of(start)
    trend_period = kpis.Period(start, period.end)
    report = kpis.compute(
        scope,
        period=trend_period,
        grouping="week",
        now=now,
        include_times=False,
        include_stock=False,
        rollup_filter=rows,
        counts=TREND_COUNTS,
    )
    by_week = {row.key: row for row in report.rows}
    weeks = []
    day = start
    while day <= period.end:
        weeks.append(day)
        day += datetime.timedelta(weeks=1)
    labels = [kpis._time_label("week", week) for week in weeks]
    all_measures = kpis.measures(now)
    series = []
    for name in TREND_COUNTS:
        values = [by_week[w].counts[name] if w in by_week else 0 for w in weeks]
        series.append({"name": str(all_measures[name].label), "data": values})
    rates = []
    for week in weeks:
        row = by_week.get(week)
        value = row.rates["on_time_rate"] if row else None
        rates.append(None if value is None else round(value * 100, 1))
    table = [
        {
            "label": label,
            "values": [serie["data"][index] for serie in series],
            "rate": "—" if rates[index] is None else f"{rates[index]:.1f}%",
        }
        for index, label in enumerate(labels)
    ]
    return {
        "chart": {
            "labels": labels,
            "series": series,
            "rate": {"name": str(kpis.RATES["on_time_rate"].label), "data": rates},
        },
        "headers": [serie["name"] for serie in series],
        "rate_header": kpis.RATES["on_time_rate"].label,
        "table": table,
    }


def time_rows(report: kpis.KpiReport) -> list[dict[str, Any]]:
    return [
        {
            "label": item.label,
            "values": [
                kpis.format_hours(report.total.times[name][statistic])
                for statistic in kpis.STATISTICS
            ],
        }
        for name, item in kpis.DURATIONS.items()
    ]


TIME_HEADERS = (
    _("Mean (hours)"),
    _("P90 (hours)"),
    _("Mean (working hours)"),
    _("P90 (working hours)"),
)


def breakdowns(
    scope: QuerySet[Issue],
    rows: rollup.RollupFilter,
    period: kpis.Period,
    now: datetime.datetime,
    *,
    district_times: bool,
) -> tuple[kpis.KpiReport, kpis.KpiReport]:
    """A period's figures per district (with times if asked) and per organisation. The two read
    the same rollup rows and open cases: once, for both (`kpis.SharedReads`)."""
    shared = kpis.SharedReads(
        scope, rows, period, ("district", "organisation"), with_times=district_times
    )
    districts = kpis.compute(
        scope,
        period=period,
        grouping="district",
        now=now,
        include_times=district_times,
        rollup_filter=rows,
        shared=shared,
    )
    organisations = kpis.compute(
        scope,
        period=period,
        grouping="organisation",
        now=now,
        include_times=False,
        rollup_filter=rows,
        shared=shared,
    )
    return districts, organisations


def dashboard(
    user: Any, form: DashboardFilterForm, now: datetime.datetime, *, today: datetime.date
) -> dict[str, Any]:
    """Everything the leaders' dashboard shows, in a fixed number of queries."""
    period = form.chosen_period(today)
    scope_params = form.scope_params()
    scope = scoped_issues(user, scope_params)
    rows = rollup_filter(user, scope_params)
    main, organisations = breakdowns(scope, rows, period, now, district_times=True)
    previous = kpis.compute(
        scope,
        period=period.previous(),
        now=now,
        include_times=False,
        include_stock=False,
        rollup_filter=rows,
    )
    return {
        "period": period,
        "previous_period": period.previous(),
        "tiles": tiles(main, previous, scope_params),
        "more_rates": tiles(main, previous, scope_params, counts=(), rates=MORE_RATES)["rates"],
        "trend": trend(scope, period, now, rows),
        "breakdowns": [breakdown(main, scope_params), breakdown(organisations, scope_params)],
        "times": time_rows(main),
        "time_headers": TIME_HEADERS,
        "rates_help": list(kpis.RATES.values()),
    }


def organisation_dashboard(
    user: Any, form: DashboardFilterForm, now: datetime.datetime, *, today: datetime.date
) -> dict[str, Any]:
    """The handler's view of their own organisation's figures."""
    period = form.chosen_period(today)
    scope_params = form.scope_params()
    scope = scoped_issues(user, scope_params)
    rows = rollup_filter(user, scope_params)
    main = kpis.compute(scope, period=period, now=now, rollup_filter=rows)
    previous = kpis.compute(
        scope,
        period=period.previous(),
        now=now,
        include_times=False,
        include_stock=False,
        rollup_filter=rows,
    )
    return {
        "period": period,
        "previous_period": period.previous(),
        "tiles": tiles(
            main,
            previous,
            scope_params,
            counts=HANDLER_COUNT_TILES,
            rates=("on_time_rate", "rework_rate", "extension_rate"),
        ),
        "more_rates": [],
        "trend": trend(scope, period, now, rows),
        "breakdowns": [],
        "times": time_rows(main),
        "time_headers": TIME_HEADERS,
        "rates_help": [
            kpis.RATES[name] for name in ("on_time_rate", "rework_rate", "extension_rate")
        ],
    }


# --- the 红黑榜 --------------------------------------------------------------------------------


def ranking_page(user: Any, week_start: datetime.date, now: datetime.datetime) -> dict[str, Any]:
    """The week's 红黑榜 as the user may read it.

    Zone-wide readers see the published (frozen) lists, or a provisional computation before the
    week is frozen. Readers of some districts see the frozen district list for their districts
    (a district's figures are its own cases) and the organisations ranked on their districts'
    cases only, computed for them: a published organisation figure would count cases elsewhere.
    """
    zone_wide = policy.covers_all_districts(user)
    frozen = {
        ranking.kind: ranking for ranking in WeeklyRanking.objects.filter(week_start=week_start)
    }
    settings = RankingSettings.load()
    boards = []
    for kind in (WeeklyRanking.Kind.ORGANISATION, WeeklyRanking.Kind.DISTRICT):
        ranking = frozen.get(kind)
        live_for_scope = not zone_wide and kind == WeeklyRanking.Kind.ORGANISATION
        if ranking is not None and not live_for_scope:
            entries = ranking.entries.all()
            if not zone_wide:
                entries = entries.filter(district__in=policy.districts_in_scope(user))
            rows = [
                {
                    "key": entry.organisation_id or entry.district_id,
                    "label": entry.label,
                    "rank": entry.rank,
                    "board": entry.board,
                    "due": entry.due,
                    "closed_on_time": entry.closed_on_time,
                    "late": entry.late,
                    "on_time_rate": kpis.format_rate(entry.on_time_rate),
                    "rework_rate": kpis.format_rate(entry.rework_rate),
                }
                for entry in entries
            ]
            status = "frozen"
        else:
            units = rank_units(
                Issue.objects.visible_to(user),
                week_start=week_start,
                kind=kind,
                settings=settings,
                now=now,
                rollup_filter=rollup_filter(user, {}),
            )
            rows = [
                {
                    "key": unit.key,
                    "label": unit.label,
                    "rank": unit.rank,
                    "board": unit.board,
                    "due": unit.due,
                    "closed_on_time": unit.closed_on_time,
                    "late": unit.late,
                    "on_time_rate": kpis.format_rate(unit.on_time_rate),
                    "rework_rate": kpis.format_rate(unit.rework_rate),
                }
                for unit in units
            ]
            status = "scoped" if live_for_scope else "provisional"
        boards.append(
            {
                "kind": kind,
                "title": WeeklyRanking.Kind(kind).label,
                "status": status,
                "frozen_at": ranking.frozen_at if ranking is not None else None,
                "rows": rows,
                "red": [row for row in rows if row["board"] == RankingEntry.Board.RED],
                "black": [row for row in rows if row["board"] == RankingEntry.Board.BLACK],
                "history_linkable": zone_wide or kind == WeeklyRanking.Kind.DISTRICT,
            }
        )
    weeks = list(
        WeeklyRanking.objects.filter(kind=WeeklyRanking.Kind.DISTRICT)
        .order_by("-week_start")
        .values_list("week_start", flat=True)[:52]
    )
    period = week_period(week_start)
    return {
        "week_start": week_start,
        "week_label": kpis._time_label("week", week_start),
        "period": period,
        "boards": boards,
        "weeks": [{"start": week, "label": kpis._time_label("week", week)} for week in weeks],
        "previous_week": kpis._time_label("week", week_start - datetime.timedelta(days=7)),
        "next_week": kpis._time_label("week", week_start + datetime.timedelta(days=7)),
        "settings": settings,
    }


def ranking_history(kind: str, pk: int, *, weeks: int = 26) -> list[dict[str, Any]]:
    """A unit's place in the frozen rankings, newest week first."""
    unit = (
        {"organisation_id": pk} if kind == WeeklyRanking.Kind.ORGANISATION else {"district_id": pk}
    )
    entries = (
        RankingEntry.objects.filter(ranking__kind=kind, **unit)
        .select_related("ranking")
        .order_by("-ranking__week_start")[:weeks]
    )
    return [
        {
            "week": entry.ranking.week_label,
            "url": entry.ranking.get_absolute_url(),
            "rank": entry.rank,
            "board": entry.board,
            "due": entry.due,
            "on_time_rate": kpis.format_rate(entry.on_time_rate),
            "late": entry.late,
            "rework_rate": kpis.format_rate(entry.rework_rate),
        }
        for entry in entries
    ]


# --- the 通报 (weekly notice) -----------------------------------------------------------------

NOTICE_CASE_LIMIT = 200
# Escalation levels that count as 督办 (a supervision letter or a listing), not a reminder.
SUPERVISION_LEVELS = (2, 3)
NOTICE_COUNTS = ("reported", "dispatched", "due", "closed_on_time", "late", "closed", "reworked")
NOTICE_RATES = ("on_time_rate", "closure_rate", "rework_rate", "overdue_rate")


def _notice_table(report: kpis.KpiReport) -> dict[str, Any]:
    all_measures = kpis.measures(report.now)
    rows = [
        {
            "label": row.label,
            "counts": [row.counts[name] for name in NOTICE_COUNTS],
            "rates": [kpis.format_rate(row.rates[name]) for name in NOTICE_RATES],
        }
        for row in report.rows
        if row.key is not None
    ]
    total = {
        "label": _("Total"),
        "counts": [report.total.counts[name] for name in NOTICE_COUNTS],
        "rates": [kpis.format_rate(report.total.rates[name]) for name in NOTICE_RATES],
    }
    return {
        "title": kpis.GROUPING_LABELS[report.grouping or ""],
        "headers": [all_measures[name].label for name in NOTICE_COUNTS]
        + [kpis.RATES[name].label for name in NOTICE_RATES],
        "rows": rows,
        "total": total,
    }


def notice(user: Any, week_start: datetime.date, now: datetime.datetime) -> dict[str, Any]:
    """The week's 通报 for the user's scope: figures per district and unit, the 红黑榜, the
    overdue and escalated cases, and the units supervised (督办) more than once."""
    period = week_period(week_start)
    scope = Issue.objects.visible_to(user)
    rows = rollup_filter(user, {})
    districts, organisations = breakdowns(scope, rows, period, now, district_times=False)
    overdue = list(
        scope.overdue(now).with_list_related().order_by("deadline", "id")[:NOTICE_CASE_LIMIT]
    )
    first, after = period.bounds()
    escalations = list(
        Escalation.objects.filter(issue__in=scope, created_at__gte=first, created_at__lt=after)
        .select_related("issue", "issue__district", "issue__assigned_organisation")
        .order_by("-level", "created_at", "id")[:NOTICE_CASE_LIMIT]
    )
    repeated = list(
        scope.filter(
            escalations__created_at__gte=first,
            escalations__created_at__lt=after,
            escalations__level__in=SUPERVISION_LEVELS,
            assigned_organisation__isnull=False,
        )
        .values("assigned_organisation__name")
        .annotate(
            supervised=Count("escalations", filter=Q(escalations__level__in=SUPERVISION_LEVELS)),
            cases=Count("pk", distinct=True),
        )
        .filter(supervised__gte=2)
        .order_by("-supervised", "assigned_organisation__name")
    )
    ranking = ranking_page(user, week_start, now)
    return {
        "week_start": week_start,
        "week_label": kpis._time_label("week", week_start),
        "period": period,
        "now": now,
        "district_table": _notice_table(districts),
        "organisation_table": _notice_table(organisations),
        "boards": ranking["boards"],
        "overdue": overdue,
        "escalations": escalations,
        "repeated": repeated,
        "previous_week": ranking["previous_week"],
        "next_week": ranking["next_week"],
        "rates_help": [kpis.RATES[name] for name in NOTICE_RATES],
    }
