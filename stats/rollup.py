"""The daily rollup of the campaign's figures (`stats.models.KpiDay`), kept by the services.

One row per local day × district × big class × organisation holds, for each cohort of
`stats.kpis` whose date falls on that day, the additive counts and, for each duration, the
number of samples, the sums of natural and working hours and a histogram of each. Rates, means
and totals of any period, scope and grouping by district, organisation, big class, day, week or
month are sums over these rows (`read`), whatever the number of cases.

Cohort of each column (the definitions of `stats.kpis.measures`):

- reported day: reported, accepted, rejected, fixed_on_spot;
- dispatched day: dispatched, returned (returned or reassigned at least once), and the samples of
  report→dispatch, dispatch→acknowledge and dispatch→first fix;
- deadline day, for cases dispatched or closed: due, due_closed, closed_on_time, closed_late,
  extended;
- closed day, for closed cases: closed, verified (not fixed on the spot), reworked, and the samples
  of last fix→verification for the verified ones.

Kept in step three ways, all through `recompute`, which rebuilds every row of some (day, district)
pairs from the cases in one statement:

- the services call `issue_changed` (through `issues.services.core.CHANGE_HOOKS`) after writing
  each event, in the same transaction, with the case's keys before and after the change;
- `rebuild` recomputes everything from scratch: the nightly Celery beat task and the
  `rebuild_kpi_rollup` command (the work calendar or a category's big class may have changed);
- a transaction-scoped advisory lock per district orders concurrent recomputations of one
  district, so two writers never both insert a row.

PostgreSQL only (working hours use its arrays); other databases (the embedded SQLite demo) read
the cases directly (`available()` is False there).
"""

# ruff: noqa: S608 - the SQL here names only this module's tables and columns; values are params
from __future__ import annotations

import datetime
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from districts.policy import CaseScope
from issues.models import DISPATCHED_STATUSES, Issue, Status
from issues.services.core import HOOK_FIELDS
from stats.models import (
    HISTOGRAM_EDGES,
    ROLLUP_COUNTS,
    ROLLUP_DURATIONS,
    rollup_time_columns,
)

TABLE = "stats_kpiday"
MONTH_TABLE = "stats_kpimonth"
WEEK_TABLE = "stats_kpiweek"
KEY_COLUMNS = ("day", "district_id", "big_class", "organisation_key")
# Advisory lock namespace of the rollup (the first key of pg_advisory_xact_lock(int, int)).
LOCK_NAMESPACE = 1313
DUE_STATUSES = (*DISPATCHED_STATUSES, Status.CLOSED)
ACCEPTED_STATUSES = (*DISPATCHED_STATUSES, Status.CLOSED)
# Durations: (name, start column, end column, cohort).
DURATION_SPECS = (
    ("report_to_dispatch", "reported_at", "dispatched_at", "dispatched"),
    ("dispatch_to_acknowledge", "dispatched_at", "acknowledged_at", "dispatched"),
    ("dispatch_to_fix", "dispatched_at", "first_submitted_at", "dispatched"),
    ("fix_to_verify", "submitted_at", "verified_at", "verified"),
)
STAMPS = (
    "reported_at",
    "dispatched_at",
    "acknowledged_at",
    "first_submitted_at",
    "submitted_at",
    "verified_at",
)
# The columns that place a case in the rollup: a change to any of them moves its rows.
KEY_FIELDS = HOOK_FIELDS


def available() -> bool:
    return connection.vendor == "postgresql"


def _all_columns() -> list[str]:
    columns = list(ROLLUP_COUNTS)
    for name in ROLLUP_DURATIONS:
        groups = rollup_time_columns(name)
        columns += groups["samples"] + groups["sums"] + groups["natural"] + groups["working"]
    return columns


# Every column of the day and month rows, named once (reads ask for them per group).
ALL_COLUMNS: tuple[str, ...] = tuple(_all_columns())


def all_columns() -> list[str]:
    return list(ALL_COLUMNS)


def _zone() -> str:
    zone = str(settings.TIME_ZONE)
    if not re.fullmatch(r"[A-Za-z0-9_/+-]+", zone):
        raise ValueError(f"Unexpected TIME_ZONE {zone!r}.")
    return zone


def _quoted(values: Iterable[str]) -> str:
    return ", ".join("'" + str(value).replace("'", "''") + "'" for value in values)


def local_day(moment: datetime.datetime) -> datetime.date:
    return timezone.localtime(moment, timezone.get_default_timezone()).date()


def day_bounds(day: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    zone = timezone.get_default_timezone()
    first = datetime.datetime.combine(day, datetime.time.min, tzinfo=zone)
    return first, datetime.datetime.combine(
        day + datetime.timedelta(days=1), datetime.time.min, tzinfo=zone
    )


# --- the statement that computes rows from cases ---------------------------------------------


def _periods() -> list[tuple[int, int]]:
    from stats.kpis import _period_seconds

    return _period_seconds()


def _select_sql(restriction: str, final_filter: str) -> str:
    """INSERT … SELECT of the rollup rows of the cases matching `restriction` (SQL on `i`),
    keeping only the rows matching `final_filter` (SQL on the row's day and district_id)."""
    zone = _zone()
    periods = _periods()
    day_length = sum(end - start for start, end in periods)

    def working(column: str) -> str:
        return working_seconds_sql(f"(f.{column} AT TIME ZONE '{zone}')", periods)

    edges = "ARRAY[" + ", ".join(f"{edge}" for edge in HISTOGRAM_EDGES) + "]::float8[]"
    least = ", ".join(f"b.{name}" for name in STAMPS)
    hours_parts = []
    for name, start, end, _cohort in DURATION_SPECS:
        hours_parts.append(
            f"EXTRACT(EPOCH FROM f.{end} - f.{start}) / 3600.0 AS n_{name}, "
            f"({working(end)} - {working(start)}) / 3600.0 AS w_{name}"
        )
    columns = all_columns()

    def branch(day_column: str, where: str, values: dict[str, str]) -> str:
        parts = [
            f"(h.{day_column} AT TIME ZONE '{zone}')::date AS day",
            "h.district_id",
            "h.big_class",
            "h.organisation_key",
        ]
        parts += [f"{values.get(column, '0')} AS {column}" for column in columns]
        return f"SELECT {', '.join(parts)} FROM hours AS h WHERE {where}"

    def time_values(cohort: str) -> dict[str, str]:
        values: dict[str, str] = {}
        for name, _start, _end, of in DURATION_SPECS:
            if of != cohort:
                continue
            groups = rollup_time_columns(name)
            values[groups["samples"][0]] = f"(h.n_{name} IS NOT NULL)::int"
            values[groups["sums"][0]] = f"COALESCE(h.n_{name}, 0)"
            values[groups["sums"][1]] = f"COALESCE(h.w_{name}, 0)"
            for prefix, key in (("n", "natural"), ("w", "working")):
                for index, column in enumerate(groups[key]):
                    values[column] = (
                        f"(COALESCE(width_bucket(h.{prefix}_{name}, {edges}), -1) = {index})::int"
                    )
        return values

    accepted = _quoted(ACCEPTED_STATUSES)
    due = _quoted(DUE_STATUSES)
    closed = f"'{Status.CLOSED}'"
    branches = [
        branch(
            "reported_at",
            "TRUE",
            {
                "reported": "1",
                "accepted": f"(h.status IN ({accepted}))::int",
                "rejected": f"(h.status = '{Status.REJECTED}')::int",
                "fixed_on_spot": "h.fixed_on_spot::int",
            },
        ),
        branch(
            "dispatched_at",
            "h.dispatched_at IS NOT NULL",
            {"dispatched": "1", "returned": "h.redirected::int", **time_values("dispatched")},
        ),
        branch(
            "deadline",
            f"h.deadline IS NOT NULL AND h.status IN ({due})",
            {
                "due": "1",
                "due_closed": f"(h.status = {closed})::int",
                "closed_on_time": f"(h.status = {closed} AND h.closed_at <= h.deadline)::int",
                "closed_late": f"(h.status = {closed} AND h.closed_at > h.deadline)::int",
                "extended": "(h.extension_count > 0)::int",
            },
        ),
        branch(
            "closed_at",
            f"h.closed_at IS NOT NULL AND h.status = {closed}",
            {
                "closed": "1",
                "verified": "(NOT h.fixed_on_spot)::int",
                "reworked": "(NOT h.fixed_on_spot AND h.rework_count > 0)::int",
                **{
                    column: f"CASE WHEN h.fixed_on_spot THEN 0 ELSE {value} END"
                    for column, value in time_values("verified").items()
                },
            },
        ),
    ]
    sums = ", ".join(f"SUM({column})" for column in columns)
    return f"""
        WITH b AS MATERIALIZED (
            SELECT i.id, i.district_id, c.big_class,
                   COALESCE(i.assigned_organisation_id, 0) AS organisation_key,
                   i.status, i.fixed_on_spot, i.extension_count, i.rework_count,
                   i.reported_at, i.dispatched_at, i.deadline, i.closed_at, i.acknowledged_at,
                   i.first_submitted_at, i.submitted_at, i.verified_at,
                   EXISTS (SELECT 1 FROM issues_issueevent AS e
                           WHERE e.issue_id = i.id AND e.action IN ('return', 'reassign'))
                       AS redirected
            FROM issues_issue AS i JOIN districts_category AS c ON c.id = i.category_id
            WHERE {restriction}
        ),
        bounds AS (
            SELECT (MIN(LEAST({least})) AT TIME ZONE '{zone}')::date AS first,
                   (MAX(GREATEST({least})) AT TIME ZONE '{zone}')::date AS last
            FROM b
        ),
        {work_calendar_ctes(day_length)},
        hours AS (
            SELECT f.*, {", ".join(hours_parts)}
            FROM b AS f CROSS JOIN cal
        ),
        rows AS ({" UNION ALL ".join(branches)})
        INSERT INTO {TABLE} ({", ".join(KEY_COLUMNS)}, {", ".join(columns)})
        SELECT day, district_id, big_class, organisation_key, {sums}
        FROM rows
        WHERE {final_filter}
        GROUP BY day, district_id, big_class, organisation_key
        -- Rows of a day stored together: a period reads a band of the table, not all of it.
        ORDER BY day, district_id
    """


# --- keeping it --------------------------------------------------------------------------------


def keys_of(issue: Issue | dict[str, Any] | None) -> set[tuple[datetime.date, int]]:
    """The (local day, district) pairs whose rows count the case."""
    if issue is None:
        return set()
    values = (
        issue if isinstance(issue, dict) else {name: getattr(issue, name) for name in KEY_FIELDS}
    )
    district = values.get("district_id")
    if district is None:
        return set()
    return {
        (local_day(values[name]), district)
        for name in ("reported_at", "dispatched_at", "deadline", "closed_at")
        if values.get(name) is not None
    }


def snapshot(issue: Issue) -> dict[str, Any]:
    """The case's rollup keys as they are now, to be compared after a change."""
    return {name: getattr(issue, name) for name in KEY_FIELDS}


def _lock(districts: Iterable[int]) -> None:
    with connection.cursor() as cursor:
        for district in sorted(set(districts)):
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, district])


def recompute(pairs: Iterable[tuple[datetime.date, int]]) -> None:
    """Rebuild every rollup row of these (local day, district) pairs from the cases."""
    pairs = sorted(set(pairs))
    if not pairs or not available():
        return
    with transaction.atomic():
        _lock(district for _day, district in pairs)
        by_district: dict[int, list[datetime.date]] = {}
        for day, district in pairs:
            by_district.setdefault(district, []).append(day)
        clauses: list[str] = []
        params: list[Any] = []
        for district, days in by_district.items():
            ranges = []
            params.append(district)
            for day in days:
                first, after = day_bounds(day)
                for column in ("reported_at", "dispatched_at", "deadline", "closed_at"):
                    ranges.append(f"(i.{column} >= %s AND i.{column} < %s)")
                    params += [first, after]
            clauses.append(f"(i.district_id = %s AND ({' OR '.join(ranges)}))")
        restriction = " OR ".join(clauses)
        values = ", ".join(["(%s::date, %s)"] * len(pairs))
        pair_params: list[Any] = [value for pair in pairs for value in pair]
        final_filter = f"(day, district_id) IN (VALUES {values})"
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {TABLE} WHERE (day, district_id) IN (VALUES {values})",
                pair_params,
            )
            cursor.execute(_select_sql(restriction, final_filter), [*params, *pair_params])
            _recompute_coarse(cursor, pairs)


def _coarse_sql(table: str, column: str, unit: str, names: list[str], where: str) -> str:
    return (
        f"INSERT INTO {table} ({column}, district_id, big_class, organisation_key, "
        f"{', '.join(names)}) "
        f"SELECT date_trunc('{unit}', day)::date, district_id, big_class, organisation_key, "
        f"{', '.join(f'SUM({name})' for name in names)} FROM {TABLE} WHERE {where} "
        f"GROUP BY 1, district_id, big_class, organisation_key ORDER BY 1, district_id"
    )


# The coarse tables: (table, date column, date_trunc unit, columns).
COARSE = (
    (MONTH_TABLE, "month", "month", all_columns),
    (WEEK_TABLE, "week", "week", lambda: list(ROLLUP_COUNTS)),
)


def _recompute_coarse(cursor: Any, pairs: list[tuple[datetime.date, int]]) -> None:
    """Re-add the month and week rows around these (day, district) pairs from their day rows."""
    for table, column, unit, names in COARSE:
        starts = {(_start_of(unit, day), district) for day, district in pairs}
        values = ", ".join(["(%s::date, %s)"] * len(starts))
        params = [value for pair in sorted(starts) for value in pair]
        cursor.execute(
            f"DELETE FROM {table} WHERE ({column}, district_id) IN (VALUES {values})", params
        )
        cursor.execute(
            _coarse_sql(
                table,
                column,
                unit,
                names(),
                f"(date_trunc('{unit}', day)::date, district_id) IN (VALUES {values})",
            ),
            params,
        )


def _start_of(unit: str, day: datetime.date) -> datetime.date:
    if unit == "month":
        return day.replace(day=1)
    return day - datetime.timedelta(days=day.weekday())


def rebuild() -> int:
    """Recompute the whole rollup from the cases (nightly, and after a bulk load); returns the
    number of rows. Readers see the old rows until the new ones are committed."""
    if not available():
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {TABLE}, {MONTH_TABLE}, {WEEK_TABLE} IN EXCLUSIVE MODE")
        cursor.execute(f"DELETE FROM {TABLE}")
        cursor.execute(_select_sql("TRUE", "TRUE"))
        rows = cursor.rowcount
        for table, column, unit, names in COARSE:
            cursor.execute(f"DELETE FROM {table}")
            cursor.execute(_coarse_sql(table, column, unit, names(), "TRUE"))
        for table in (TABLE, MONTH_TABLE, WEEK_TABLE):
            cursor.execute(f"ANALYZE {table}")
        return rows


def issue_changed(issue: Issue, before: dict[str, Any] | None) -> None:
    """The services' hook: recompute the rows that counted the case before and count it now."""
    recompute(keys_of(before) | keys_of(issue))


# --- reading it --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RollupFilter:
    """Which rows a reader may sum: the user's case scope and the page's district and big class."""

    scope: CaseScope
    district_id: int | None = None
    big_class: str | None = None

    @property
    def usable(self) -> bool:
        """Whether the rollup can answer for this scope (it has no reporter dimension)."""
        return self.scope.reporter_id is None and available()


GROUP_COLUMNS = {
    "district": "district_id",
    "organisation": "organisation_key",
    "big_class": "big_class",
    "day": "day",
    "week": "date_trunc('week', day)::date",
    "month": "date_trunc('month', day)::date",
}
# Every rollup row counts at least one case in one of these (each cohort's own count): a group
# whose signed sums are all zero here had no row in the period.
PRESENCE_COLUMNS = ("reported", "dispatched", "due", "closed")


def count_columns() -> list[str]:
    return list(ROLLUP_COUNTS)


@dataclass(frozen=True)
class ReadPart:
    """Rows of one table over some date ranges, added (sign 1) or taken away (sign −1)."""

    table: str
    column: str
    ranges: tuple[tuple[datetime.date, datetime.date], ...]
    sign: int = 1


COARSE_TABLES = {"week": (WEEK_TABLE, "week"), "month": (MONTH_TABLE, "month")}


def _end_of(unit: str, first: datetime.date) -> datetime.date:
    if unit == "week":
        return first + datetime.timedelta(days=6)
    return (first.replace(day=28) + datetime.timedelta(days=4)).replace(day=1) - datetime.timedelta(
        days=1
    )


def _coarse_unit(
    grouping: str | None, with_times: bool, start: datetime.date, end: datetime.date
) -> str | None:
    """Which coarse rows a read may take: weeks (narrow, counts only) for counts over a few
    months, months otherwise, never rows that straddle the grouping's buckets; None for day
    rows only."""
    if grouping == "day" or (grouping == "week" and with_times):
        return None
    if grouping == "week" or (grouping != "month" and not with_times and (end - start).days <= 120):
        return "week"
    return "month"


def read_plan(
    grouping: str | None, with_times: bool, start: datetime.date, end: datetime.date
) -> list[ReadPart]:
    """The rows whose signed sums are exactly the days start..end: whole weeks or months from
    their tables, and each week or month the period cuts either by its days inside, or, when
    fewer rows, whole less its days outside (a week's or month's rows are about as many as one
    day's, and the coarse rows are the sums of the day rows)."""
    unit = _coarse_unit(grouping, with_times, start, end)
    if unit is None:
        return [ReadPart(TABLE, "day", ((start, end),))]
    one_day = datetime.timedelta(days=1)
    added: list[tuple[datetime.date, datetime.date]] = []
    removed: list[tuple[datetime.date, datetime.date]] = []
    whole: list[datetime.date] = []
    first = _start_of(unit, start)
    while first <= end:
        last = _end_of(unit, first)
        inside_first, inside_last = max(first, start), min(last, end)
        inside = (inside_last - inside_first).days + 1
        outside = (last - first).days + 1 - inside
        if outside == 0 or outside + 1 < inside:
            whole.append(first)
            if inside_first > first:
                removed.append((first, inside_first - one_day))
            if inside_last < last:
                removed.append((inside_last + one_day, last))
        elif added and added[-1][1] + one_day == inside_first:
            added[-1] = (added[-1][0], inside_last)
        else:
            added.append((inside_first, inside_last))
        first = last + one_day
    parts = []
    if added:
        parts.append(ReadPart(TABLE, "day", tuple(added)))
    if whole:
        table, column = COARSE_TABLES[unit]
        parts.append(ReadPart(table, column, ((whole[0], whole[-1]),)))
    if removed:
        parts.append(ReadPart(TABLE, "day", tuple(removed), -1))
    return parts


def _group_key(grouping: str, column: str) -> str:
    """The grouping's key on the rows of a table whose date column is `column`."""
    if grouping == "week" and column != "week":
        return f"({column} - EXTRACT(ISODOW FROM {column})::int + 1)"
    if grouping == "month" and column != "month":
        return f"({column} - EXTRACT(DAY FROM {column})::int + 1)"
    if grouping in ("day", "week", "month"):
        return column
    return GROUP_COLUMNS[grouping]


def read(
    rollup_filter: RollupFilter,
    *,
    start: datetime.date,
    end: datetime.date,
    grouping: str | None,
    with_times: bool = True,
    columns: Iterable[str] | None = None,
) -> tuple[dict[str, float], dict[Any, dict[str, float]]]:
    """(the total, {group key: sums}) of the columns over the filter's rows in the days, in one
    query (`read_plan` says which rows). Cases without an organisation group under the key
    None. `columns` narrows the sums read (the others are zero)."""
    sets = read_sets(
        rollup_filter,
        start=start,
        end=end,
        groupings=(grouping,),
        with_times=with_times,
        columns=columns,
    )
    return sets[grouping]


def read_sets(
    rollup_filter: RollupFilter,
    *,
    start: datetime.date,
    end: datetime.date,
    groupings: tuple[str | None, ...],
    with_times: bool = True,
    columns: Iterable[str] | None = None,
) -> dict[str | None, tuple[dict[str, float], dict[Any, dict[str, float]]]]:
    """`read` for several groupings at once, in one query that reads the rows once: {grouping:
    (the total, {group key: sums})}."""
    scope = rollup_filter.scope
    where: list[str] = []
    params: list[Any] = []
    if scope.nothing:
        where.append("FALSE")
    elif not scope.everything:
        if scope.organisation_id is not None:
            where.append("organisation_key = %s")
            params.append(scope.organisation_id)
        else:
            where.append("district_id = ANY(%s)")
            params.append(sorted(scope.district_ids or ()))
    if rollup_filter.district_id is not None:
        where.append("district_id = %s")
        params.append(rollup_filter.district_id)
    if rollup_filter.big_class:
        where.append("big_class = %s")
        params.append(rollup_filter.big_class)
    time_grouping = next((g for g in groupings if g in ("day", "week", "month")), None)
    plan = read_plan(time_grouping, with_times, start, end)
    wanted = (
        list(columns) if columns is not None else (ALL_COLUMNS if with_times else count_columns())
    )
    signed = any(part.sign < 0 for part in plan)
    read_columns = list(wanted)
    if signed:
        read_columns += [name for name in PRESENCE_COLUMNS if name not in wanted]
    keyed = [grouping for grouping in groupings if grouping is not None]
    filters = "".join(f" AND {clause}" for clause in where)
    parts: list[str] = []
    part_params: list[Any] = []
    for part in plan:
        keys = [
            f"{_group_key(grouping, part.column)} AS k{index}"
            for index, grouping in enumerate(keyed)
        ]
        values = [column if part.sign > 0 else f"-{column} AS {column}" for column in read_columns]
        dates = " OR ".join(f"({part.column} >= %s AND {part.column} <= %s)" for _ in part.ranges)
        parts.append(
            f"SELECT {', '.join([*keys, *values])} FROM {part.table} WHERE ({dates}){filters}"
        )
        part_params += [day for pair in part.ranges for day in pair] + params
    source = " UNION ALL ".join(parts)
    sums = ", ".join(f"SUM({column}) AS {column}" for column in read_columns)
    # A group of a signed read is there only if it has rows in the period (see PRESENCE_COLUMNS).
    having = (
        " HAVING " + " OR ".join(f"SUM({name}) <> 0" for name in PRESENCE_COLUMNS) if signed else ""
    )
    key_names = [f"k{index}" for index in range(len(keyed))]
    if len(keyed) <= 1:
        group_by = f" GROUP BY {key_names[0]}" if keyed else ""
        select = [*key_names, sums]
        sql = f"SELECT {', '.join(select)} FROM ({source}) AS r{group_by}{having}"
    else:
        # The rows summed once per combination of the keys, then those few per grouping.
        inner = (
            f"SELECT {', '.join(key_names)}, {sums} FROM ({source}) AS r "
            f"GROUP BY {', '.join(key_names)}{having}"
        )
        flags = ", ".join(f"GROUPING({name}) AS g{name}" for name in key_names)
        sets = ", ".join(f"({name})" for name in key_names)
        sql = (
            f"SELECT {', '.join(key_names)}, {flags}, {sums} FROM ({inner}) AS c "
            f"GROUP BY GROUPING SETS ({sets})"
        )
    result: dict[str | None, tuple[dict[str, float], dict[Any, dict[str, float]]]] = {
        grouping: (dict.fromkeys(ALL_COLUMNS, 0), {}) for grouping in groupings
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, part_params)
        names = [column.name for column in cursor.description]
        for values in cursor.fetchall():
            row = dict(zip(names, values, strict=True))
            sums_of: dict[str, float] = dict.fromkeys(ALL_COLUMNS, 0)
            sums_of.update({column: (row[column] or 0) for column in wanted})
            if not keyed:
                total = result[None][0]
                for column in wanted:
                    total[column] += sums_of[column]
                continue
            for index, grouping in enumerate(keyed):
                if len(keyed) > 1 and row[f"gk{index}"]:
                    continue
                total, groups = result[grouping]
                for column in wanted:
                    total[column] += sums_of[column]
                key = row[f"k{index}"]
                if grouping == "organisation" and key == 0:
                    key = None
                groups[key] = sums_of
    if None in result and keyed:
        result[None] = (dict(result[keyed[0]][0]), {})
    return result


def histogram_percentile(counts: list[int], fraction: float) -> float | None:
    """percentile_cont from a histogram over HISTOGRAM_EDGES: the two order statistics around
    the rank, each placed evenly inside its bucket, interpolated as percentile_cont does. Each
    bucket's upper edge is at most twice its lower one, so the answer is within a factor of two
    of the exact one (the open last bucket answers its lower edge)."""
    total = sum(counts)
    if total == 0:
        return None
    lowers = (0.0, *HISTOGRAM_EDGES)

    def order_statistic(position: int) -> float:
        seen = 0
        for index, count in enumerate(counts):
            if count and position < seen + count:
                if index >= len(HISTOGRAM_EDGES):
                    return float(lowers[index])
                lower, upper = lowers[index], HISTOGRAM_EDGES[index]
                return lower + (upper - lower) * (position - seen + 0.5) / count
            seen += count
        return float(lowers[-1])

    rank = fraction * (total - 1)
    below = int(rank)
    low = order_statistic(below)
    if rank == below:
        return low
    return low + (order_statistic(below + 1) - low) * (rank - below)


def working_seconds_sql(moment: str, periods: list[tuple[int, int]]) -> str:
    """SQL of the working seconds from the calendar's first day to `moment` (SQL of a local
    timestamp), read from the `cal` CTE of `work_calendar_ctes`: the working seconds before its
    day, plus those of its day up to its time when the day is a working one."""
    index = f"(({moment})::date - cal.first + 1)"
    second = f"EXTRACT(EPOCH FROM ({moment})::time)"
    clipped = " + ".join(f"GREATEST(0, LEAST({second}, {end}) - {start})" for start, end in periods)
    return f"(cal.before[{index}] + CASE WHEN cal.working[{index}] THEN {clipped} ELSE 0 END)"


def work_calendar_ctes(day_length: Any) -> str:
    """The `days` and `cal` CTEs that follow a `bounds (first, last)` CTE: every local day between
    them, working or not on the work calendar (weekends unless the calendar says otherwise), and
    the working seconds before each day, from which a working-hour duration is read."""
    return f"""days AS (
            SELECT g.day::date AS day,
                   COALESCE(k.is_working_day, EXTRACT(ISODOW FROM g.day) < 6) AS working
            FROM bounds
            CROSS JOIN generate_series(bounds.first, bounds.last, interval '1 day') AS g(day)
            LEFT JOIN issues_calendarday AS k ON k.date = g.day::date
        ),
        cal AS (
            SELECT (SELECT first FROM bounds) AS first,
                   ARRAY_AGG(before ORDER BY day) AS before,
                   ARRAY_AGG(working ORDER BY day) AS working
            FROM (
                SELECT day, working,
                       COALESCE(SUM(CASE WHEN working THEN {day_length} ELSE 0 END)
                           OVER (ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING
                                 AND 1 PRECEDING), 0) AS before
                FROM days
            ) AS d
        )"""
