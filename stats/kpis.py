"""The campaign's figures (docs/domain.md §7): counts, rates and times for any scope and period.

Every figure is defined once, here: which cases it counts (a *cohort*: the cases whose date of a
given kind falls in the period), the condition inside the cohort, and the issue-list filters that
show exactly those cases. Rates follow the 数字城管 evaluation practice; their definitions below are
shown to users as footnotes. A rate whose denominator is zero is undefined (shown "—").

Cohorts (period = local days ``start``..``end`` inclusive, Asia/Shanghai):

- reported    ``reported_at`` in the period (every report, whatever became of it);
- dispatched  ``dispatched_at`` in the period (the latest dispatch of the case);
- due         ``deadline`` in the period, for a case still dispatched or closed (not sent back to
  triage, rejected or cancelled): the cases that had to be finished in the period (应结案);
- closed      ``closed_at`` in the period and the case closed;
- now         the stock at the moment of reading: open, overdue, parked, escalated (no period).

Times (natural hours and working hours on the work calendar, mean and P90 = percentile_cont 0.9):
report→dispatch, dispatch→acknowledge and dispatch→first fix over the dispatched cohort;
last fix→verification over the closed cases that went through verification.

Queries: one per cohort for the counts, one per time cohort, one for group labels; the same number
whatever the data size. Working hours are computed in PostgreSQL too (a day table built from the
work calendar inside the same statement); other databases (the embedded SQLite demo) compute the
times in Python from the cohort's rows.
"""

from __future__ import annotations

import datetime
import functools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import TruncDay, TruncMonth, TruncWeek
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from districts.models import (
    Category,
    Community,
    District,
    InspectionPoint,
    Organisation,
    PointType,
)
from issues import calendar as work_calendar
from issues.models import (
    CLOCK_STATUSES,
    DISPATCHED_STATUSES,
    OPEN_STATUSES,
    Action,
    Issue,
    IssueEvent,
    Status,
)
from stats import rollup

UNDEFINED = "—"
# Up to this many cases in a time cohort, means and P90 are exact (percentile_cont over the
# cases); above, they come from the rollup's sums and histograms.
EXACT_SAMPLES = 1000

# Cases that had to be finished: still in the organisation's hands, or closed.
DUE_STATUSES = (*DISPATCHED_STATUSES, Status.CLOSED)
# A report that was taken up (dispatched or fixed on the spot), not rejected or still waiting.
ACCEPTED_STATUSES = (*DISPATCHED_STATUSES, Status.CLOSED)
# Hand-backs that make a dispatch inaccurate.
REDIRECT_ACTIONS = (Action.RETURN, Action.REASSIGN)


def _values(statuses: Iterable[str]) -> list[str]:
    return [str(status) for status in statuses]


# --- periods ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Local days `start`..`end`, both included."""

    start: datetime.date
    end: datetime.date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("A period ends on or after its start.")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def bounds(self) -> tuple[datetime.datetime, datetime.datetime]:
        """[first instant, first instant after) in the zone's time zone."""
        zone = timezone.get_default_timezone()
        first = datetime.datetime.combine(self.start, datetime.time.min, tzinfo=zone)
        after = datetime.datetime.combine(
            self.end + datetime.timedelta(days=1), datetime.time.min, tzinfo=zone
        )
        return first, after

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return Period(
            self.start - datetime.timedelta(days=self.days),
            self.start - datetime.timedelta(days=1),
        )


# --- what each figure counts -----------------------------------------------------------------


@dataclass(frozen=True)
class Measure:
    """One count: the cohort it belongs to, its condition there, and the list filters for it."""

    name: str
    label: Any
    cohort: str
    condition: Q
    list_filters: dict[str, Any]


def _overdue_now(now: datetime.datetime) -> Q:
    return Q(status__in=CLOCK_STATUSES, deadline__lt=now)


def _late(now: datetime.datetime) -> Q:
    """Closed after its deadline, or still on the organisation's clock past it."""
    return Q(status=Status.CLOSED, closed_at__gt=F("deadline")) | _overdue_now(now)


@functools.lru_cache(maxsize=16)
def measures(now: datetime.datetime) -> dict[str, Measure]:
    """Every count, keyed by name (the order is the order of the tables); a page asks hundreds of
    times for the same instant, so the answer is kept (treat it as read-only)."""
    closed = Q(status=Status.CLOSED)
    verified = Q(status=Status.CLOSED, fixed_on_spot=False)
    items = [
        Measure("reported", _("Reported"), "reported", Q(), {}),
        Measure(
            "accepted",
            _("Accepted reports"),
            "reported",
            Q(status__in=ACCEPTED_STATUSES),
            {"status": _values(ACCEPTED_STATUSES)},
        ),
        Measure(
            "rejected",
            _("Rejected"),
            "reported",
            Q(status=Status.REJECTED),
            {"status": [str(Status.REJECTED)]},
        ),
        Measure(
            "fixed_on_spot",
            _("Fixed on the spot"),
            "reported",
            Q(fixed_on_spot=True),
            {"fixed_on_spot": "true"},
        ),
        Measure("dispatched", _("Filed (dispatched)"), "dispatched", Q(), {}),
        Measure(
            "returned",
            _("Returned or reassigned"),
            "dispatched",
            Q(redirected=True),
            {"redirected": "true"},
        ),
        Measure(
            "dispatched_right",
            _("Dispatched right first time"),
            "dispatched",
            Q(redirected=False),
            {"redirected": "false"},
        ),
        Measure("due", _("Due in the period"), "due", Q(), {}),
        Measure(
            "due_closed",
            _("Due and closed"),
            "due",
            closed,
            {"status": [str(Status.CLOSED)]},
        ),
        Measure(
            "closed_on_time",
            _("Closed on time"),
            "due",
            Q(status=Status.CLOSED, closed_at__lte=F("deadline")),
            {"timeliness": "on_time"},
        ),
        Measure(
            "closed_late",
            _("Closed late"),
            "due",
            Q(status=Status.CLOSED, closed_at__gt=F("deadline")),
            {"timeliness": "closed_late"},
        ),
        Measure(
            "late",
            _("Overdue (closed late or still open)"),
            "due",
            _late(now),
            {"timeliness": "late"},
        ),
        Measure(
            "extended",
            _("Extended"),
            "due",
            Q(extension_count__gt=0),
            {"extended": "true"},
        ),
        Measure("closed", _("Closed"), "closed", Q(), {}),
        Measure(
            "verified",
            _("Fixes verified"),
            "closed",
            Q(fixed_on_spot=False),
            {"fixed_on_spot": "false"},
        ),
        Measure(
            "reworked",
            _("Reworked"),
            "closed",
            verified & Q(rework_count__gt=0),
            {"fixed_on_spot": "false", "rework": "true"},
        ),
        Measure(
            "open",
            _("Open now"),
            "now",
            Q(status__in=OPEN_STATUSES),
            {"status": _values(OPEN_STATUSES)},
        ),
        Measure(
            "overdue_now",
            _("Overdue now"),
            "now",
            _overdue_now(now),
            {"overdue": "true"},
        ),
        Measure(
            "parked",
            _("Parked"),
            "now",
            Q(status=Status.PARKED),
            {"status": [str(Status.PARKED)]},
        ),
    ]
    for level in (1, 2, 3):
        items.append(
            Measure(
                f"escalated_{level}",
                [_("Reminded (催办)"), _("Supervision letter (督办函)"), _("Listed (挂牌督办)")][
                    level - 1
                ],
                "now",
                Q(status__in=OPEN_STATUSES, escalation_level=level),
                {"escalation_level": [str(level)], "status": _values(OPEN_STATUSES)},
            )
        )
    return {item.name: item for item in items}


# The date column and base condition of each cohort, with the list filters that express them.
COHORT_FIELDS = {
    "reported": "reported_at",
    "dispatched": "dispatched_at",
    "due": "deadline",
    "closed": "closed_at",
}
COHORT_FILTERS: dict[str, Q] = {
    "reported": Q(),
    "dispatched": Q(),
    "due": Q(status__in=DUE_STATUSES),
    "closed": Q(status=Status.CLOSED),
    # Every stock figure is of open cases: read only them (a partial index holds them).
    "now": Q(status__in=OPEN_STATUSES),
}
# The issue list's date-range parameters of each cohort (issues.filters.IssueFilterSet).
COHORT_LIST_DATES = {
    "reported": ("reported_from", "reported_to"),
    "dispatched": ("dispatched_from", "dispatched_to"),
    "due": ("deadline_from", "deadline_to"),
    "closed": ("closed_from", "closed_to"),
}
COHORT_LIST_FILTERS: dict[str, dict[str, Any]] = {
    "reported": {},
    "dispatched": {},
    "due": {"status": _values(DUE_STATUSES)},
    "closed": {"status": [str(Status.CLOSED)]},
    "now": {},
}


def list_filters(name: str, period: Period, now: datetime.datetime) -> dict[str, Any]:
    """The issue-list parameters that show exactly the cases a count counts."""
    measure = measures(now)[name]
    params: dict[str, Any] = dict(COHORT_LIST_FILTERS[measure.cohort])
    if measure.cohort in COHORT_LIST_DATES:
        start_name, end_name = COHORT_LIST_DATES[measure.cohort]
        params[start_name] = period.start.isoformat()
        params[end_name] = period.end.isoformat()
    params.update(measure.list_filters)
    return params


# --- rates -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """A rate of the 数字城管 practice: numerator ÷ denominator, both counts above."""

    name: str
    label: Any
    numerator: str
    denominator: str
    definition: Any


RATES: dict[str, Rate] = {
    rate.name: rate
    for rate in [
        Rate(
            "on_time_rate",
            _("On-time closure rate (按期结案率)"),
            "closed_on_time",
            "due",
            _("Cases closed by their deadline ÷ cases whose deadline fell in the period."),
        ),
        Rate(
            "closure_rate",
            _("Closure rate (结案率)"),
            "due_closed",
            "due",
            _("Cases closed ÷ cases whose deadline fell in the period."),
        ),
        Rate(
            "rework_rate",
            _("Rework rate (返工率)"),
            "reworked",
            "verified",
            _(
                "Cases sent back for rework at least once ÷ fixes verified and closed in the "
                "period."
            ),
        ),
        Rate(
            "extension_rate",
            _("Extension rate (延期率)"),
            "extended",
            "due",
            _("Cases granted an extension ÷ cases whose deadline fell in the period."),
        ),
        Rate(
            "overdue_rate",
            _("Overdue rate (超期率)"),
            "late",
            "due",
            _(
                "Cases closed after their deadline or still open past it ÷ cases whose deadline "
                "fell in the period."
            ),
        ),
        Rate(
            "on_spot_rate",
            _("On-the-spot rate (自处置率)"),
            "fixed_on_spot",
            "reported",
            _("Reports fixed on the spot by the inspector ÷ reports made in the period."),
        ),
        Rate(
            "dispatch_accuracy_rate",
            _("Dispatch accuracy (准确派遣率)"),
            "dispatched_right",
            "dispatched",
            _(
                "Cases dispatched and never returned or reassigned ÷ cases dispatched in the "
                "period."
            ),
        ),
        Rate(
            "valid_report_rate",
            _("Valid report rate (有效上报率)"),
            "accepted",
            "reported",
            _(
                "Reports dispatched or fixed on the spot (not rejected, cancelled or waiting) ÷ "
                "reports made in the period."
            ),
        ),
    ]
}


def rate(numerator: int | None, denominator: int | None) -> float | None:
    """numerator ÷ denominator, None (undefined) when the denominator is zero or unknown."""
    if not denominator or numerator is None:
        return None
    return numerator / denominator


def format_rate(value: float | None) -> str:
    """A rate as a percentage with one decimal, "—" when undefined (never 0 % or 100 %)."""
    if value is None:
        return UNDEFINED
    return f"{value * 100:.1f}%"


def format_hours(value: float | None) -> str:
    if value is None:
        return UNDEFINED
    return f"{value:.1f}"


# --- times -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Duration:
    name: str
    label: Any
    cohort: str  # "dispatched" or "verified"
    start: str
    end: str


DURATIONS: dict[str, Duration] = {
    item.name: item
    for item in [
        Duration(
            "report_to_dispatch",
            _("Report → dispatch"),
            "dispatched",
            "reported_at",
            "dispatched_at",
        ),
        Duration(
            "dispatch_to_acknowledge",
            _("Dispatch → acknowledge"),
            "dispatched",
            "dispatched_at",
            "acknowledged_at",
        ),
        Duration(
            "dispatch_to_fix",
            _("Dispatch → fix submitted"),
            "dispatched",
            "dispatched_at",
            "first_submitted_at",
        ),
        Duration(
            "fix_to_verify",
            _("Fix submitted → verified"),
            "verified",
            "submitted_at",
            "verified_at",
        ),
    ]
}
STATISTICS = ("mean", "p90", "mean_working", "p90_working")


# --- groupings -------------------------------------------------------------------------------

GROUPINGS: dict[str, str] = {
    "district": "district_id",
    "community": "community_id",
    "point_type": "point__point_type_id",
    "point": "point_id",
    "category": "category_id",
    "big_class": "category__big_class",
    "organisation": "assigned_organisation_id",
    "reporter": "reporter_id",
}
TIME_GROUPINGS = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}
GROUPING_LABELS = {
    "district": _("District"),
    "community": _("Community"),
    "point_type": _("Point type"),
    "point": _("Inspection point"),
    "category": _("Category"),
    "big_class": _("Big class"),
    "organisation": _("Organisation"),
    "reporter": _("Reporter"),
    "day": _("Day"),
    "week": _("Week"),
    "month": _("Month"),
}
# The issue-list parameter that narrows to one group (time groups narrow the cohort's dates).
GROUPING_LIST_PARAMS = {
    "district": "district",
    "community": "community",
    "point_type": "point_type",
    "point": "point",
    "category": "category",
    "big_class": "big_class",
    "organisation": "organisation",
    "reporter": "reporter",
}
NO_GROUP_LABEL = _("(none)")


# --- the report ------------------------------------------------------------------------------


@dataclass
class KpiRow:
    """The figures of one group, or of the whole scope."""

    key: Any
    label: str = ""
    counts: dict[str, int | None] = field(default_factory=dict)
    times: dict[str, dict[str, float | None]] = field(default_factory=dict)
    list_key: str | None = None

    @property
    def rates(self) -> dict[str, float | None]:
        return {
            name: rate(self.counts.get(item.numerator), self.counts.get(item.denominator))
            for name, item in RATES.items()
        }


@dataclass
class KpiReport:
    period: Period
    grouping: str | None
    now: datetime.datetime
    total: KpiRow
    rows: list[KpiRow]


def _bucket(value: Any) -> datetime.date | None:
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        if timezone.is_naive(value):
            return value.date()  # truncated in SQL to the zone's wall clock already
        return timezone.localtime(value, timezone.get_default_timezone()).date()
    return value


def _group_expression(grouping: str | None, date_field: str | None):
    if grouping is None:
        return None
    if grouping in TIME_GROUPINGS:
        if date_field is None:
            return None
        return TIME_GROUPINGS[grouping](date_field, tzinfo=timezone.get_default_timezone())
    return F(GROUPINGS[grouping])


def _redirected() -> Exists:
    return Exists(IssueEvent.objects.filter(issue=OuterRef("pk"), action__in=REDIRECT_ACTIONS))


def cohort_queryset(scope: QuerySet[Issue], cohort: str, period: Period | None) -> QuerySet[Issue]:
    """The cases of a cohort in a period (the now cohort ignores the period)."""
    queryset = scope.filter(COHORT_FILTERS[cohort])
    if cohort in COHORT_FIELDS and period is not None:
        first, after = period.bounds()
        column = COHORT_FIELDS[cohort]
        queryset = queryset.filter(**{f"{column}__gte": first, f"{column}__lt": after})
    if cohort == "dispatched":
        queryset = queryset.alias(redirected=_redirected())
    return queryset


def _count_cohort(
    scope: QuerySet[Issue],
    cohort: str,
    period: Period,
    grouping: str | None,
    cohort_measures: list[Measure],
) -> dict[Any, dict[str, int]] | None:
    """{group key: {measure: count}} for one cohort, in one query; None if it cannot group."""
    date_field = COHORT_FIELDS.get(cohort)
    if grouping in TIME_GROUPINGS and date_field is None:
        return None
    queryset = cohort_queryset(scope, cohort, period).order_by()
    aggregates = {
        item.name: Count("pk", filter=item.condition) if item.condition else Count("pk")
        for item in cohort_measures
    }
    expression = _group_expression(grouping, date_field)
    if expression is None:
        return {None: queryset.aggregate(**aggregates)}
    rows = queryset.annotate(group_key=expression).values("group_key").annotate(**aggregates)
    result: dict[Any, dict[str, int]] = {}
    for row in rows:
        key = row.pop("group_key")
        if grouping in TIME_GROUPINGS:
            key = _bucket(key)
        result[key] = row
    return result


def compute(
    scope: QuerySet[Issue],
    *,
    period: Period,
    grouping: str | None = None,
    now: datetime.datetime | None = None,
    include_times: bool = True,
    include_stock: bool = True,
    python_times: bool = False,
    rollup_filter: rollup.RollupFilter | None = None,
    counts: Iterable[str] | None = None,
    shared: SharedReads | None = None,
) -> KpiReport:
    """Every figure for the cases of `scope` (already restricted to what the user may see).

    `grouping` is one of GROUPINGS or TIME_GROUPINGS (None: totals only). Totals are the sums
    of the groups for counts, and computed over the whole scope for times.

    With `rollup_filter` (the same scope as dimensions) the period's counts and times are sums
    over the daily rollup, whatever the number of cases, for the groupings it has (district,
    organisation, big class, day, week, month); the stock and the cases still late now come
    from the open cases, and times are exact while a cohort has at most EXACT_SAMPLES cases.

    `counts` names the only counts wanted (the report holds just those; the rollup reads only
    the columns they need). `shared` (a `SharedReads` of this scope, filter and period) reads
    the rollup and the open cases once for the several groupings of one page.
    """
    if grouping is not None and grouping not in GROUPINGS and grouping not in TIME_GROUPINGS:
        raise ValueError(f"Unknown grouping {grouping!r}.")
    now = now or timezone.now()
    wanted = tuple(counts) if counts is not None else None
    if (
        rollup_filter is not None
        and rollup_filter.usable
        and (grouping is None or grouping in rollup.GROUP_COLUMNS)
        and not python_times
    ):
        if shared is not None and not shared.serves(
            scope, rollup_filter, period, grouping, include_times=include_times
        ):
            shared = None
        return _only(
            _compute_from_rollup(
                scope,
                rollup_filter,
                period=period,
                grouping=grouping,
                now=now,
                include_times=include_times,
                include_stock=include_stock,
                wanted=wanted,
                shared=shared,
            ),
            wanted,
        )
    return _only(
        _compute_from_cases(
            scope,
            period=period,
            grouping=grouping,
            now=now,
            include_times=include_times,
            include_stock=include_stock,
            python_times=python_times,
        ),
        wanted,
    )


def _only(report: KpiReport, wanted: tuple[str, ...] | None) -> KpiReport:
    if wanted is not None:
        for row in (report.total, *report.rows):
            row.counts = {name: row.counts.get(name) for name in wanted}
    return report


def _compute_from_cases(
    scope: QuerySet[Issue],
    *,
    period: Period,
    grouping: str | None,
    now: datetime.datetime,
    include_times: bool,
    include_stock: bool,
    python_times: bool,
) -> KpiReport:
    all_measures = measures(now)
    by_cohort: dict[str, list[Measure]] = {}
    for item in all_measures.values():
        if item.cohort == "now" and not include_stock:
            continue
        by_cohort.setdefault(item.cohort, []).append(item)

    rows: dict[Any, KpiRow] = {}
    total = KpiRow(key=None)
    for cohort, cohort_measures in by_cohort.items():
        grouped = _count_cohort(scope, cohort, period, grouping, cohort_measures)
        names = [item.name for item in cohort_measures]
        if grouped is None:
            # Stock has no date: it cannot be split by day, week or month.
            totals = _count_cohort(scope, cohort, period, None, cohort_measures) or {}
            total.counts.update(totals.get(None, {}))
            for row in rows.values():
                row.counts.update(dict.fromkeys(names))
            continue
        for name in names:
            total.counts.setdefault(name, 0)
        for key, counts in grouped.items():
            row = rows.get(key)
            if row is None:
                row = rows[key] = KpiRow(key=key)
            row.counts.update(counts)
            for name in names:
                total.counts[name] = (total.counts[name] or 0) + counts[name]
    # Groups seen only in some cohorts have zero in the others (or None for ungroupable stock).
    stock = {item.name for item in all_measures.values() if item.cohort == "now"}
    ungrouped = stock if grouping in TIME_GROUPINGS else set()
    for row in rows.values():
        for name in total.counts:
            if name not in row.counts:
                row.counts[name] = None if name in ungrouped else 0

    if include_times:
        time_rows = (
            python_durations(scope, period=period, grouping=grouping)
            if python_times or connections[scope.db].vendor != "postgresql"
            else sql_durations(scope, period=period, grouping=grouping)
        )
        total.times = time_rows.pop(TOTAL, _empty_times())
        for key, times in time_rows.items():
            row = rows.get(key)
            if row is None:
                row = rows[key] = KpiRow(key=key, counts=dict.fromkeys(total.counts, 0))
            row.times = times
        for row in rows.values():
            if not row.times:
                row.times = _empty_times()

    if grouping is None:
        rows = {}
    ordered = _label_rows(grouping, list(rows.values()))
    return KpiReport(period=period, grouping=grouping, now=now, total=total, rows=ordered)


def _counts_from_sums(sums: dict[str, float], late_open: int) -> dict[str, int | None]:
    """The period's counts of one rollup group (their definitions are the measures above)."""
    value = {name: int(sums[name]) for name in ROLLUP_COUNT_NAMES}
    return {
        "reported": value["reported"],
        "accepted": value["accepted"],
        "rejected": value["rejected"],
        "fixed_on_spot": value["fixed_on_spot"],
        "dispatched": value["dispatched"],
        "returned": value["returned"],
        "dispatched_right": value["dispatched"] - value["returned"],
        "due": value["due"],
        "due_closed": value["due_closed"],
        "closed_on_time": value["closed_on_time"],
        "closed_late": value["closed_late"],
        "late": value["closed_late"] + late_open,
        "extended": value["extended"],
        "closed": value["closed"],
        "verified": value["verified"],
        "reworked": value["reworked"],
    }


ROLLUP_COUNT_NAMES = rollup.ROLLUP_COUNTS


def _times_from_sums(sums: dict[str, float]) -> dict[str, dict[str, float | None]]:
    """Mean (exact: sums ÷ samples) and P90 (from the histograms) of each duration."""
    from stats.models import rollup_time_columns

    times = _empty_times()
    for name in DURATIONS:
        columns = rollup_time_columns(name)
        samples = int(sums[columns["samples"][0]])
        if not samples:
            continue
        natural, working = columns["sums"]
        times[name] = {
            "mean": sums[natural] / samples,
            "p90": rollup.histogram_percentile([int(sums[c]) for c in columns["natural"]], 0.9),
            "mean_working": sums[working] / samples,
            "p90_working": rollup.histogram_percentile(
                [int(sums[c]) for c in columns["working"]], 0.9
            ),
        }
    return times


def _late_open(
    scope: QuerySet[Issue], period: Period, grouping: str | None, now: datetime.datetime
) -> dict[Any, int]:
    """Cases due in the period still on the organisation's clock past their deadline now (the
    open part of "late", which changes with the clock, not with a write): one query."""
    first, after = period.bounds()
    queryset = scope.filter(
        status__in=CLOCK_STATUSES, deadline__gte=first, deadline__lt=min(after, now)
    ).order_by()
    expression = _group_expression(grouping, "deadline")
    if expression is None:
        return {None: queryset.count()}
    result: dict[Any, int] = {}
    for row in queryset.annotate(group_key=expression).values("group_key").annotate(n=Count("pk")):
        key = row["group_key"]
        result[_bucket(key) if grouping in TIME_GROUPINGS else key] = row["n"]
    result[None] = sum(result.values())
    return result


# The rollup columns a count needs, where it is not a column of its own.
_ROLLUP_SOURCES = {
    "dispatched_right": ("dispatched", "returned"),
    "late": ("closed_late",),
}


def _rollup_columns(wanted: tuple[str, ...] | None, include_times: bool) -> list[str] | None:
    if wanted is None:
        return None
    columns: list[str] = []
    for name in wanted:
        for column in _ROLLUP_SOURCES.get(name, (name,)):
            if column in ROLLUP_COUNT_NAMES and column not in columns:
                columns.append(column)
    if include_times:
        columns += [column for column in rollup.ALL_COLUMNS if column not in ROLLUP_COUNT_NAMES]
    return columns


class SharedReads:
    """One page's reads for several groupings of one scope, rollup filter and period (the
    dashboard's districts and organisations): the rollup sums, the open late cases and the
    stock, each read once for all the groupings when a report first asks. It holds one
    request's answers and is dropped with it, so nothing outlives the page."""

    def __init__(
        self,
        scope: QuerySet[Issue],
        rollup_filter: rollup.RollupFilter,
        period: Period,
        groupings: tuple[str, ...],
        *,
        with_times: bool = True,
    ) -> None:
        if any(grouping in TIME_GROUPINGS for grouping in groupings):
            raise ValueError("Shared reads are for groupings without dates.")
        self.scope = scope
        self.rollup_filter = rollup_filter
        self.period = period
        self.groupings = groupings
        self.with_times = with_times
        self._sums: dict[Any, tuple[dict[str, float], dict[Any, dict[str, float]]]] | None = None
        self._late: dict[str | None, dict[Any, int]] | None = None
        self._stock: dict[str | None, dict[Any, dict[str, int]]] | None = None

    def serves(
        self,
        scope: QuerySet[Issue],
        rollup_filter: rollup.RollupFilter,
        period: Period,
        grouping: str | None,
        *,
        include_times: bool,
    ) -> bool:
        """Whether these reads answer a report of this scope, filter, period and grouping."""
        return (
            scope is self.scope
            and rollup_filter == self.rollup_filter
            and period == self.period
            and grouping in self.groupings
            and (self.with_times or not include_times)
        )

    def sums(self, grouping: str | None) -> tuple[dict[str, float], dict[Any, dict[str, float]]]:
        if self._sums is None:
            self._sums = rollup.read_sets(
                self.rollup_filter,
                start=self.period.start,
                end=self.period.end,
                groupings=self.groupings,
                with_times=self.with_times,
            )
        total, groups = self._sums[grouping]
        return dict(total), groups

    def _by_keys(self, queryset: QuerySet[Issue], aggregates: dict[str, Any]) -> list[Any]:
        keys = {f"k{index}": F(GROUPINGS[g]) for index, g in enumerate(self.groupings)}
        return list(queryset.order_by().values(**keys).annotate(**aggregates))

    def late_open(self, grouping: str | None, now: datetime.datetime) -> dict[Any, int]:
        """`_late_open` of one of the groupings (its total under None)."""
        if self._late is None:
            first, after = self.period.bounds()
            queryset = self.scope.filter(
                status__in=CLOCK_STATUSES, deadline__gte=first, deadline__lt=min(after, now)
            )
            self._late = {g: {} for g in self.groupings}
            for row in self._by_keys(queryset, {"n": Count("pk")}):
                for index, g in enumerate(self.groupings):
                    counts = self._late[g]
                    counts[row[f"k{index}"]] = counts.get(row[f"k{index}"], 0) + row["n"]
            for counts in self._late.values():
                counts[None] = sum(counts.values())
        return dict(self._late[grouping])

    def stock(self, grouping: str | None, now: datetime.datetime) -> dict[Any, dict[str, int]]:
        """`_count_cohort` of the stock for one of the groupings."""
        if self._stock is None:
            stock = [item for item in measures(now).values() if item.cohort == "now"]
            aggregates = {item.name: Count("pk", filter=item.condition) for item in stock}
            queryset = cohort_queryset(self.scope, "now", None)
            self._stock = {g: {} for g in self.groupings}
            for row in self._by_keys(queryset, aggregates):
                for index, g in enumerate(self.groupings):
                    counts = self._stock[g].setdefault(
                        row[f"k{index}"], dict.fromkeys(aggregates, 0)
                    )
                    for name in aggregates:
                        counts[name] += row[name]
        return {key: dict(counts) for key, counts in self._stock[grouping].items()}


def _compute_from_rollup(
    scope: QuerySet[Issue],
    rollup_filter: rollup.RollupFilter,
    *,
    period: Period,
    grouping: str | None,
    now: datetime.datetime,
    include_times: bool,
    include_stock: bool,
    wanted: tuple[str, ...] | None = None,
    shared: SharedReads | None = None,
) -> KpiReport:
    """`compute` over the daily rollup: a fixed number of queries (rollup sums, open late cases,
    stock, two bounded exact-time reads, labels), none of which reads every case; with `shared`
    the first three are read once for all its groupings."""
    all_measures = measures(now)
    if shared is not None:
        total_sums, group_sums = shared.sums(grouping)
    else:
        total_sums, group_sums = rollup.read(
            rollup_filter,
            start=period.start,
            end=period.end,
            grouping=grouping,
            with_times=include_times,
            columns=_rollup_columns(wanted, include_times),
        )
    if shared is not None:
        late_open = shared.late_open(grouping, now)
    elif wanted is None or "late" in wanted:
        late_open = _late_open(scope, period, grouping, now)
    else:
        late_open = {}
    total = KpiRow(key=None, counts=_counts_from_sums(total_sums, late_open.pop(None, 0)))
    rows: dict[Any, KpiRow] = {}
    if grouping is not None:
        for key in set(group_sums) | set(late_open):
            sums = group_sums.get(key) or dict.fromkeys(rollup.all_columns(), 0)
            rows[key] = KpiRow(key=key, counts=_counts_from_sums(sums, late_open.get(key, 0)))
    if include_stock:
        stock = [item for item in all_measures.values() if item.cohort == "now"]
        names = [item.name for item in stock]
        grouped: dict[Any, dict[str, int]] | None
        if shared is not None:
            grouped = shared.stock(grouping, now)
        else:
            grouped = _count_cohort(scope, "now", period, grouping, stock)
        if grouped is None:
            totals = _count_cohort(scope, "now", period, None, stock) or {}
            total.counts.update(totals.get(None, {}))
            for row in rows.values():
                row.counts.update(dict.fromkeys(names))
        else:
            total.counts.update(dict.fromkeys(names, 0))
            for key, counts in grouped.items():
                if grouping is None:
                    total.counts.update(counts)
                    continue
                row = rows.get(key)
                if row is None:
                    row = rows[key] = KpiRow(
                        key=key,
                        counts=_counts_from_sums(dict.fromkeys(rollup.all_columns(), 0), 0),
                    )
                row.counts.update(counts)
                for name in names:
                    total.counts[name] = (total.counts[name] or 0) + counts[name]
            for row in rows.values():
                for name in names:
                    row.counts.setdefault(name, 0)
    # The order of the measures, as the live computation gives them.
    order = [name for name in all_measures if name in total.counts]
    total.counts = {name: total.counts[name] for name in order}
    for row in rows.values():
        row.counts = {name: row.counts[name] for name in order}

    if include_times:
        overflowed: set[str] = set()
        exact = sql_durations(
            scope, period=period, grouping=grouping, limit=EXACT_SAMPLES, overflowed=overflowed
        )
        from_sums = _times_from_sums(total_sums)
        total.times = exact.pop(TOTAL, _empty_times())
        for key, row in rows.items():
            row.times = exact.get(key) or _empty_times()
            if overflowed:
                sums = group_sums.get(key)
                row_sums = _times_from_sums(sums) if sums else _empty_times()
                for item in DURATIONS.values():
                    if item.cohort in overflowed:
                        row.times[item.name] = row_sums[item.name]
        for item in DURATIONS.values():
            if item.cohort in overflowed:
                total.times[item.name] = from_sums[item.name]
        for key, times in exact.items():
            if key not in rows and grouping is not None:
                rows[key] = KpiRow(key=key, counts=dict.fromkeys(total.counts, 0), times=times)

    if grouping is None:
        rows = {}
    ordered = _label_rows(grouping, list(rows.values()))
    return KpiReport(period=period, grouping=grouping, now=now, total=total, rows=ordered)


def _empty_times() -> dict[str, dict[str, float | None]]:
    return {name: dict.fromkeys(STATISTICS) for name in DURATIONS}


# --- labels ----------------------------------------------------------------------------------

_LABEL_MODELS = {
    "district": District,
    "community": Community,
    "point_type": PointType,
    "point": InspectionPoint,
    "category": Category,
    "organisation": Organisation,
}


def _label_rows(grouping: str | None, rows: list[KpiRow]) -> list[KpiRow]:
    """Names for the group keys (one query) and a stable order."""
    if grouping is None or not rows:
        return rows
    keys = [row.key for row in rows if row.key is not None]
    names: dict[Any, str] = {}
    order: dict[Any, Any] = {}
    if grouping in _LABEL_MODELS:
        model = _LABEL_MODELS[grouping]
        for obj in model.objects.filter(pk__in=keys):
            names[obj.pk] = getattr(obj, "display_name", None) or str(obj)
            order[obj.pk] = (getattr(obj, "sort_order", 0), getattr(obj, "code", ""), obj.pk)
    elif grouping == "big_class":
        labels = dict(Category.BigClass.choices)
        for key in keys:
            names[key] = str(labels.get(key, key))
            order[key] = list(labels).index(key) if key in labels else 99
    elif grouping == "reporter":
        for user in get_user_model().objects.filter(pk__in=keys):
            names[user.pk] = user.get_full_name() or user.get_username()
            order[user.pk] = user.get_username()
            names[("username", user.pk)] = user.get_username()
    for row in rows:
        if row.key is None:
            row.label = str(NO_GROUP_LABEL)
        elif grouping in TIME_GROUPINGS:
            row.label = _time_label(grouping, row.key)
            row.list_key = None
        else:
            row.label = names.get(row.key, str(row.key))
            row.list_key = (
                names.get(("username", row.key)) if grouping == "reporter" else str(row.key)
            )
    if grouping in TIME_GROUPINGS:
        return sorted(rows, key=lambda row: (row.key is None, row.key or datetime.date.min))
    return sorted(rows, key=lambda row: (row.key is None, str(order.get(row.key, row.label))))


def _time_label(grouping: str, day: datetime.date) -> str:
    if grouping == "week":
        year, week, _weekday = day.isocalendar()
        return f"{year}-W{week:02d}"
    if grouping == "month":
        return f"{day:%Y-%m}"
    return day.isoformat()


def time_bucket_period(grouping: str, day: datetime.date, within: Period) -> Period:
    """The days of one time bucket, clipped to the report's period (for list links)."""
    if grouping == "day":
        end = day
    elif grouping == "week":
        end = day + datetime.timedelta(days=6)
    else:
        next_month = (day.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
        end = next_month - datetime.timedelta(days=1)
    return Period(max(day, within.start), min(end, within.end))


# --- times in SQL ----------------------------------------------------------------------------

TOTAL = "__total__"


def _duration_cohorts() -> dict[str, list[Duration]]:
    cohorts: dict[str, list[Duration]] = {}
    for item in DURATIONS.values():
        cohorts.setdefault(item.cohort, []).append(item)
    return cohorts


def _time_cohort_queryset(scope: QuerySet[Issue], cohort: str, period: Period):
    if cohort == "dispatched":
        return cohort_queryset(scope, "dispatched", period), "dispatched_at"
    queryset = cohort_queryset(scope, "closed", period).filter(fixed_on_spot=False)
    return queryset, "closed_at"


def _period_seconds() -> list[tuple[int, int]]:
    def seconds(moment: datetime.time) -> int:
        return moment.hour * 3600 + moment.minute * 60 + moment.second

    return [(seconds(start), seconds(end)) for start, end in work_calendar.working_periods()]


def sql_durations(
    scope: QuerySet[Issue],
    *,
    period: Period,
    grouping: str | None,
    limit: int | None = None,
    overflowed: set[str] | None = None,
) -> dict[Any, dict[str, dict[str, float | None]]]:
    """Mean and P90 of every duration, natural and working hours, per group and in total.

    One statement per time cohort. Working time is W(end) − W(start), where W(t) is the working
    seconds from the first day involved up to t: a day table from generate_series and the
    calendar rows, its running sum in an array, and the working periods clipped to the time of
    day — all inside PostgreSQL.
    """
    zone = str(settings.TIME_ZONE)
    if not re.fullmatch(r"[A-Za-z0-9_/+-]+", zone):
        raise ValueError(f"Unexpected TIME_ZONE {zone!r}.")
    periods = _period_seconds()
    day_length = sum(end - start for start, end in periods)
    result: dict[Any, dict[str, dict[str, float | None]]] = {}
    for cohort, durations in _duration_cohorts().items():
        queryset, date_field = _time_cohort_queryset(scope, cohort, period)
        expression = _group_expression(grouping, date_field)
        columns: dict[str, Any] = {}
        if expression is not None:
            columns["group_key"] = expression
        inner = queryset.order_by().annotate(**columns) if columns else queryset.order_by()
        fields = (["group_key"] if columns else []) + sorted(
            {name for item in durations for name in (item.start, item.end)}
        )
        values = inner.values(*fields)
        if limit is not None:
            # Reads at most limit + 1 cases: a larger cohort is left to the rollup.
            values = values[: limit + 1]
        inner_sql, inner_params = values.query.sql_with_params()
        stamps = [name for name in fields if name != "group_key"]

        def working(column: str) -> str:
            return rollup.working_seconds_sql(f"(r.\"{column}\" AT TIME ZONE '{zone}')", periods)

        select_parts: list[str] = []
        select_params: list[Any] = []
        for item in durations:
            select_parts.append(
                f'EXTRACT(EPOCH FROM r."{item.end}" - r."{item.start}") / 3600.0 AS n_{item.name}'
            )
            select_parts.append(
                f"({working(item.end)} - {working(item.start)}) / 3600.0 AS w_{item.name}"
            )
        aggregate_parts = []
        for item in durations:
            for prefix, suffix in (("n", ""), ("w", "_working")):
                column = f"{prefix}_{item.name}"
                aggregate_parts.append(f"AVG({column}) AS mean{suffix}__{item.name}")
                aggregate_parts.append(
                    "percentile_cont(0.9) WITHIN GROUP (ORDER BY "
                    f"{column}) AS p90{suffix}__{item.name}"
                )
        least = ", ".join(f'r."{name}"' for name in stamps)
        group_select = "x.group_key, GROUPING(x.group_key) AS is_total" if columns else "NULL, 1"
        group_by = "GROUP BY GROUPING SETS ((x.group_key), ())" if columns else ""
        # A bounded read that overflowed is counted, not computed: the working-hour arithmetic
        # and the percentiles over it would be thrown away (the total row still comes back).
        bounded = "WHERE (SELECT COUNT(*) FROM r) <= %s" if limit is not None else ""
        read_count = ", (SELECT COUNT(*) FROM r) AS rows_read" if limit is not None else ""
        sql = f"""
            WITH r AS MATERIALIZED ({inner_sql}),
            bounds AS (
                SELECT (MIN(LEAST({least})) AT TIME ZONE '{zone}')::date AS first,
                       (MAX(GREATEST({least})) AT TIME ZONE '{zone}')::date AS last
                FROM r
            ),
            {rollup.work_calendar_ctes(day_length)}
            SELECT {group_select}, COUNT(*) AS sample_rows{read_count}, {", ".join(aggregate_parts)}
            FROM (
                SELECT {"r.group_key, " if columns else ""}{", ".join(select_parts)}
                FROM r CROSS JOIN cal
                {bounded}
            ) AS x
            {group_by}
        """  # noqa: S608 - every interpolated name comes from this module, values are params
        params: list[Any] = [*inner_params, *select_params]
        if limit is not None:
            params.append(limit)
        with connections[scope.db].cursor() as cursor:
            cursor.execute(sql, params)
            names = [column.name for column in cursor.description]
            fetched = cursor.fetchall()
        if limit is not None:
            rows_read = max(
                (
                    row[names.index("rows_read")]
                    for row in fetched
                    if not columns or row[names.index("is_total")]
                ),
                default=0,
            )
            if rows_read > limit:
                if overflowed is not None:
                    overflowed.add(cohort)
                continue
        for fetched_row in fetched:
            row = dict(zip(names, fetched_row, strict=True))
            is_total = row.get("is_total", 1) if columns else 1
            key = TOTAL if is_total else row["group_key"]
            if key != TOTAL and grouping in TIME_GROUPINGS:
                key = _bucket(key)
            target = result.setdefault(key, _empty_times())
            for item in durations:
                for statistic in STATISTICS:
                    value = row[f"{statistic}__{item.name}"]
                    target[item.name][statistic] = None if value is None else float(value)
    return result


# --- times in Python (other databases; the reference the SQL is tested against) --------------


def percentile(values: list[float], fraction: float) -> float | None:
    """percentile_cont: linear interpolation between the closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    lower = math.floor(position)
    upper = math.ceil(position)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def python_durations(
    scope: QuerySet[Issue], *, period: Period, grouping: str | None
) -> dict[Any, dict[str, dict[str, float | None]]]:
    """The same figures as `sql_durations`, from the cohort's rows (one query per cohort)."""
    result: dict[Any, dict[str, dict[str, float | None]]] = {}
    calendar_cache: dict[str, Any] = {}
    for cohort, durations in _duration_cohorts().items():
        queryset, date_field = _time_cohort_queryset(scope, cohort, period)
        expression = _group_expression(grouping, date_field)
        fields = sorted({name for item in durations for name in (item.start, item.end)})
        queryset = queryset.order_by()
        if expression is not None:
            queryset = queryset.annotate(group_key=expression)
            fields = ["group_key", *fields]
        samples: dict[Any, dict[str, dict[str, list[float]]]] = {}
        for row in queryset.values(*fields):
            keys = [TOTAL]
            if expression is not None:
                key = row["group_key"]
                keys.append(_bucket(key) if grouping in TIME_GROUPINGS else key)
            for item in durations:
                start, end = row[item.start], row[item.end]
                if start is None or end is None:
                    continue
                natural = (end - start).total_seconds() / 3600
                working = _working_seconds(start, end, calendar_cache) / 3600
                for key in keys:
                    bucket = samples.setdefault(key, {}).setdefault(item.name, {"n": [], "w": []})
                    bucket["n"].append(natural)
                    bucket["w"].append(working)
        for key, by_duration in samples.items():
            target = result.setdefault(key, _empty_times())
            for name, values in by_duration.items():
                target[name]["mean"] = sum(values["n"]) / len(values["n"])
                target[name]["p90"] = percentile(values["n"], 0.9)
                target[name]["mean_working"] = sum(values["w"]) / len(values["w"])
                target[name]["p90_working"] = percentile(values["w"], 0.9)
        for item in durations:
            result.setdefault(TOTAL, _empty_times())
            if expression is not None:
                for key in list(result):
                    result[key].setdefault(item.name, dict.fromkeys(STATISTICS))
    return result


def _working_seconds(
    start: datetime.datetime, end: datetime.datetime, cache: dict[str, Any]
) -> float:
    """Working seconds between two instants on the work calendar (one calendar load per call
    of `python_durations`, widened when a case falls outside it)."""
    zone = timezone.get_default_timezone()
    first = min(start, end).astimezone(zone).date()
    last = max(start, end).astimezone(zone).date()
    calendar = cache.get("calendar")
    if calendar is None:
        calendar = cache["calendar"] = work_calendar.WorkCalendar(first, last)
    periods = cache.setdefault("periods", work_calendar.working_periods())
    sign = 1.0
    if end < start:
        start, end, sign = end, start, -1.0
    local_start = start.astimezone(zone).replace(tzinfo=None)
    local_end = end.astimezone(zone).replace(tzinfo=None)
    total = 0.0
    day = local_start.date()
    while day <= local_end.date():
        if calendar.is_working_day(day):
            for period_start, period_end in periods:
                begin = max(datetime.datetime.combine(day, period_start), local_start)
                finish = min(datetime.datetime.combine(day, period_end), local_end)
                if finish > begin:
                    total += (finish - begin).total_seconds()
        day += datetime.timedelta(days=1)
    return sign * total
