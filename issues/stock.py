"""Counts without counting: the home pages' figures from a small counter table (`OpenStock`).

Each row counts the cases of one district (or one assigned organisation) that share a status and
the flags the home tiles filter by: escalated, reworked, returned, an extension pending, and
"overdue at the mark" (the clock runs and the deadline passed before `OpenStockMark.marked_at`).
Closed cases of the last weeks are counted per local day of their closure, for the leaders'
"closed in the last 30 days". A page sums a few hundred rows at most instead of aggregating the
open stock of its scope (16 000 cases at 200 000, a district's 1 300).

Time moves the figures without any write, so the two time-dependent ones are split at a moment
the rows were counted at, and the part after it is read from the cases through a bounded index
range, in the same statement as the rows (one snapshot, so a rebuild between them cannot make a
case count twice or never):

- overdue now = rows overdue at the mark + cases whose clock runs and whose deadline lies in
  [mark, now) (`issue_clock_deadline_idx`: the deadlines of an hour at most, the rebuild runs
  hourly);
- closed since S = rows of the days after S's local day + cases closed from S to the end of that
  day (`issue_closed_idx`: one day's closures).

Kept in step three ways:

- the services call `issue_changed` (through `issues.services.core.CHANGE_HOOKS`, and the bulk
  escalation through `issues_changed`) in their transaction: the rows of the district and the
  organisation the case was counted in before and after the change are recounted from the cases
  (a district's open work by the open cases' index, and its closures of the case's closing day
  only, by the closure time index: a few milliseconds, not the 32 days of the window);
- `rebuild` (the hourly Celery beat task and the `rebuild_open_stock` command) recounts every row
  and moves the mark to now;
- transaction-scoped advisory locks: one per district and organisation orders two writers of the
  same rows (the second recounts after the first committed), and a shared lock that `rebuild`
  takes exclusively keeps the mark still while any writer recounts.
"""

# ruff: noqa: S608 - the SQL here names only this module's tables and columns; values are params
from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
)
from django.db.models.functions import TruncDate
from django.utils import timezone

from districts.policy import CaseScope
from issues.models import (
    CLOCK_STATUSES,
    OPEN_STATUSES,
    Action,
    ExtensionRequest,
    Issue,
    IssueEvent,
    OpenStock,
    OpenStockMark,
    Status,
)

DISTRICT = OpenStock.Axis.DISTRICT.value
ORGANISATION = OpenStock.Axis.ORGANISATION.value
# A key of `recompute`: one district's closures of one local day.
CLOSED = "closed"
# Without a mark row (a fresh or flushed database) every passed deadline is read from the cases.
EPOCH = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
MARK_ID = 1
# Closures are counted per day from this many days before the count: the 30-day tile reads its
# whole days here and the part-day at its start from the cases.
CLOSED_DAYS_KEPT = 32
# Advisory locks (pg_advisory_xact_lock(int, int)): (GLOBAL, 0) shared by writers, exclusive for
# the rebuild; (DISTRICT_LOCKS, id) and (ORGANISATION_LOCKS, id) per counted unit.
GLOBAL_LOCK = 1314
UNIT_LOCKS = {DISTRICT: 1315, ORGANISATION: 1316}
# The figures a home page reads; every branch of the read has these columns in this order.
FIGURES = (
    "reported",
    "assigned",
    "in_progress",
    "submitted",
    "parked",
    "overdue",
    "escalated",
    "reworked",
    "returned",
    "extensions",
    "closed_recently",
    # An inspector's own reports, and the corrections of her "to verify" (`inspector_branch`).
    "my_open",
    "my_closed",
    "verify_outside",
    "verify_own_fix",
)
STATUS_FIGURES = {str(status): str(status) for status in OPEN_STATUSES}
# The key of the inspector's own branch: no district or organisation has it.
OWN_KEY = -1


def _postgresql() -> bool:
    return connection.vendor == "postgresql"


def current_mark() -> datetime.datetime:
    marked = OpenStockMark.objects.filter(pk=MARK_ID).values_list("marked_at", flat=True).first()
    return marked or EPOCH


def closed_window_start(counted_at: datetime.datetime) -> datetime.datetime:
    """The first moment whose closures rows counted at `counted_at` hold per day. A unit is
    recounted at every change of its cases, so a read at any later moment finds every closure
    of the 30 days before it."""
    zone = timezone.get_default_timezone()
    first_day = timezone.localtime(counted_at, zone).date() - datetime.timedelta(
        days=CLOSED_DAYS_KEPT
    )
    return datetime.datetime.combine(first_day, datetime.time.min, tzinfo=zone)


# --- counting the rows from the cases ------------------------------------------------------------


def stock_rows(
    *, axis: str, keys: Iterable[int] | None, mark: datetime.datetime
) -> list[dict[str, Any]]:
    """Every row of `axis` for these district or organisation ids (all when None), counted from
    the cases: the open work and, per district, the closures of the window."""
    rows = open_rows(axis=axis, keys=keys, mark=mark)
    if axis == DISTRICT:
        rows += closed_rows(districts=keys)
    return rows


def open_rows(
    *,
    axis: str,
    keys: Iterable[int] | None,
    mark: datetime.datetime,
) -> list[dict[str, Any]]:
    """The open work's rows of `axis` for these ids (all when None), from the open cases'
    partial indexes."""
    column = "district_id" if axis == DISTRICT else "assigned_organisation_id"
    cases = Issue.objects.filter(status__in=OPEN_STATUSES)
    if axis == ORGANISATION:
        cases = cases.filter(assigned_organisation_id__isnull=False)
    if keys is not None:
        cases = cases.filter(**{f"{column}__in": sorted(keys)})
    returned = Exists(
        IssueEvent.objects.filter(issue_id=OuterRef("pk"), action=Action.RETURN.value).order_by()
    )
    pending = Exists(
        ExtensionRequest.objects.filter(
            issue_id=OuterRef("pk"), status=ExtensionRequest.Status.PENDING.value
        ).order_by()
    )

    def flag(condition: Q) -> ExpressionWrapper:
        return ExpressionWrapper(condition, output_field=BooleanField())

    grouped = (
        cases.annotate(
            stock_key=F(column),
            stock_escalated=flag(Q(escalation_level__gt=0)),
            stock_reworked=flag(Q(rework_count__gt=0)),
            stock_returned=flag(Q(status=Status.REPORTED) & Q(returned)),
            stock_extension=flag(Q(pending)),
            stock_overdue=flag(
                Q(status__in=CLOCK_STATUSES, deadline__isnull=False, deadline__lt=mark)
            ),
        )
        .values(
            "stock_key",
            "status",
            "stock_escalated",
            "stock_reworked",
            "stock_returned",
            "stock_extension",
            "stock_overdue",
        )
        .annotate(stock_count=Count("pk"))
        .order_by()
    )
    return [
        {
            "axis": axis,
            "key": row["stock_key"],
            "status": row["status"],
            "escalated": bool(row["stock_escalated"]),
            "reworked": bool(row["stock_reworked"]),
            "returned": bool(row["stock_returned"]),
            "extension_pending": bool(row["stock_extension"]),
            "overdue_at_mark": bool(row["stock_overdue"]),
            "closed_day": None,
            "count": row["stock_count"],
        }
        for row in grouped
    ]


def _day_range(day: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    zone = timezone.get_default_timezone()
    first = datetime.datetime.combine(day, datetime.time.min, tzinfo=zone)
    return first, datetime.datetime.combine(
        day + datetime.timedelta(days=1), datetime.time.min, tzinfo=zone
    )


def closed_rows(
    *,
    districts: Iterable[int] | None = None,
    days: Iterable[tuple[int, datetime.date]] | None = None,
) -> list[dict[str, Any]]:
    """The closures' rows per district and local day: of these (district, day) pairs, or else
    of the window for these districts (all when None), from the closure time index."""
    cases = Issue.objects.filter(status=Status.CLOSED)
    if days is not None:
        pairs = Q()
        for district, day in sorted(set(days)):
            first, end = _day_range(day)
            pairs |= Q(district_id=district, closed_at__gte=first, closed_at__lt=end)
        if not pairs:
            return []
        cases = cases.filter(pairs)
    else:
        cases = cases.filter(closed_at__gte=closed_window_start(timezone.now()))
        if districts is not None:
            cases = cases.filter(district_id__in=sorted(districts))
    grouped = (
        cases.annotate(stock_day=TruncDate("closed_at", tzinfo=timezone.get_default_timezone()))
        .values("district_id", "stock_day")
        .annotate(stock_count=Count("pk"))
        .order_by()
    )
    return [
        {
            "axis": DISTRICT,
            "key": row["district_id"],
            "status": Status.CLOSED.value,
            "escalated": False,
            "reworked": False,
            "returned": False,
            "extension_pending": False,
            "overdue_at_mark": False,
            "closed_day": row["stock_day"],
            "count": row["stock_count"],
        }
        for row in grouped
    ]


ROW_FIELDS = (
    "axis",
    "key",
    "status",
    "escalated",
    "reworked",
    "returned",
    "extension_pending",
    "overdue_at_mark",
    "closed_day",
    "count",
)


def _replace(current: QuerySet[OpenStock], fresh: list[dict[str, Any]]) -> int:
    """Make the rows `current` selects equal `fresh`, touching only those that differ: one
    event changes a row or two of its unit, and the table stays small between vacuums."""
    wanted = {tuple(row[name] for name in ROW_FIELDS) for row in fresh}
    stale = []
    for pk, *values in current.values_list("pk", *ROW_FIELDS):
        row = tuple(values)
        if row in wanted:
            wanted.discard(row)
        else:
            stale.append(pk)
    if stale:
        OpenStock.objects.filter(pk__in=stale).delete()
    OpenStock.objects.bulk_create(
        [OpenStock(**dict(zip(ROW_FIELDS, row, strict=True))) for row in wanted], batch_size=1000
    )
    return len(fresh)


def keys_of(values: Mapping[str, Any] | None) -> set[tuple[Any, ...]]:
    """The rows that count a case with these field values: its district's and its
    organisation's open work, and its district's closures of its closing day (within the
    window the rows keep)."""
    if not values:
        return set()
    keys: set[tuple[Any, ...]] = set()
    district = values.get("district_id")
    if district:
        keys.add((DISTRICT, district))
        closed_at = values.get("closed_at")
        if closed_at is not None and closed_at >= closed_window_start(timezone.now()):
            day = timezone.localtime(closed_at, timezone.get_default_timezone()).date()
            keys.add((CLOSED, district, day))
    if values.get("assigned_organisation_id"):
        keys.add((ORGANISATION, values["assigned_organisation_id"]))
    return keys


def recompute(keys: Iterable[tuple[Any, ...]]) -> None:
    """Recount these rows from the cases, in the caller's transaction."""
    keys = set(keys)
    if not keys:
        return
    # A day's closures are under their district's lock.
    units = sorted({(DISTRICT if key[0] == CLOSED else key[0], key[1]) for key in keys})
    with transaction.atomic():
        if _postgresql():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock_shared(%s, 0)", [GLOBAL_LOCK])
                for axis, key in units:
                    cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [UNIT_LOCKS[axis], key])
        mark = current_mark()
        counted = Q()
        fresh: list[dict[str, Any]] = []
        for axis in (DISTRICT, ORGANISATION):
            ids = sorted(key[1] for key in keys if key[0] == axis)
            for key in ids:
                counted |= Q(axis=axis, key=key, closed_day__isnull=True)
            if ids:
                fresh += open_rows(axis=axis, keys=ids, mark=mark)
        days = sorted((key[1], key[2]) for key in keys if key[0] == CLOSED)
        for district, day in days:
            counted |= Q(axis=DISTRICT, key=district, closed_day=day)
        fresh += closed_rows(days=days)
        _replace(OpenStock.objects.filter(counted), fresh)


def issue_changed(issue: Issue, before: dict[str, Any] | None) -> None:
    """The services' hook: recount the units that counted the case before and count it now."""
    now = {
        "district_id": issue.district_id,
        "assigned_organisation_id": issue.assigned_organisation_id,
        "closed_at": issue.closed_at,
    }
    recompute(keys_of(before) | keys_of(now))


def issues_changed(issue_ids: Iterable[int]) -> None:
    """Recount the units of cases a bulk write changed (escalations raised by the job)."""
    keys: set[tuple[Any, ...]] = set()
    for values in Issue.objects.filter(pk__in=list(issue_ids)).values(
        "district_id", "assigned_organisation_id", "closed_at"
    ):
        keys |= keys_of(values)
    recompute(keys)


@transaction.atomic
def rebuild(now: datetime.datetime | None = None) -> int:
    """Recount every row from the cases and move the mark to `now`; the number of rows."""
    mark = now or timezone.now()
    if _postgresql():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, 0)", [GLOBAL_LOCK])
    OpenStockMark.objects.update_or_create(pk=MARK_ID, defaults={"marked_at": mark})
    rows = [
        row
        for axis in (DISTRICT, ORGANISATION)
        for row in stock_rows(axis=axis, keys=None, mark=mark)
    ]
    return _replace(OpenStock.objects.all(), rows)


# --- reading it ----------------------------------------------------------------------------------
# Plain SQL: the Django expressions of fifteen filtered sums over three branches took longer to
# compile than PostgreSQL took to answer them. Every value is a parameter; the status names are
# the model's own choices.


@dataclass(frozen=True)
class Branch:
    """One part of the statement that reads the figures: SQL with a row per unit, its params."""

    sql: str
    params: tuple[Any, ...]


def _quoted(values: Iterable[str]) -> str:
    return ", ".join("'" + str(value).replace("'", "''") + "'" for value in values)


def _select(key: str, figures: Mapping[str, str]) -> str:
    """The columns of a branch: its key, then every figure in order (zero where not given)."""
    columns = ", ".join(f"{figures.get(name, '0')} AS {name}" for name in FIGURES)
    return f"SELECT {key} AS stock_key, {columns}"


def _summed(condition: str) -> str:
    return f"COALESCE(SUM(count) FILTER (WHERE {condition}), 0)"


def _moment(value: datetime.datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def _unit_of(scope: CaseScope) -> tuple[str, str, str, tuple[Any, ...]] | None:
    """(axis, the cases' unit column, the scope's condition on a unit id, its params), or None
    when the scope holds no unit."""
    if scope.everything:
        return DISTRICT, "district_id", "TRUE", ()
    if scope.organisation_id is not None:
        return ORGANISATION, "assigned_organisation_id", "{} = %s", (scope.organisation_id,)
    if scope.district_ids:
        ids = tuple(sorted(scope.district_ids))
        return DISTRICT, "district_id", "{} IN (" + ", ".join(["%s"] * len(ids)) + ")", ids
    return None


def branches(
    scope: CaseScope,
    now: datetime.datetime,
    *,
    overdue: bool = True,
    closed_since: datetime.datetime | None = None,
) -> list[Branch]:
    """The parts of the one statement that reads the figures of `scope`'s districts or
    organisation, one row per unit (`read` sums them): the rows, the deadlines passed since the
    mark and, with `closed_since`, the closures of that part-day. The reporter of an inspector's
    scope is `inspector_branch`'s."""
    unit = _unit_of(scope)
    if unit is None:
        return []
    axis, column, condition, ids = unit
    stock_table = OpenStock._meta.db_table
    issue_table = Issue._meta.db_table
    mark_table = OpenStockMark._meta.db_table
    figures = {name: _summed(f"status = '{status}'") for name, status in STATUS_FIGURES.items()}
    figures.update(
        overdue=_summed("overdue_at_mark"),
        escalated=_summed("escalated"),
        reworked=_summed("reworked"),
        returned=_summed("returned"),
        extensions=_summed("extension_pending"),
    )
    params: tuple[Any, ...] = ()
    zone = timezone.get_default_timezone()
    if closed_since is not None:
        since_day = timezone.localtime(closed_since, zone).date()
        figures["closed_recently"] = _summed(f"status = '{Status.CLOSED}' AND closed_day > %s")
        params = (connection.ops.adapt_datefield_value(since_day),)
    parts = [
        Branch(
            f"{_select('key', figures)} FROM {stock_table} "
            f"WHERE axis = %s AND {condition.format('key')} GROUP BY key",
            (*params, axis, *ids),
        )
    ]
    in_scope = condition.format(column)
    if overdue:
        parts.append(
            Branch(
                f"{_select(column, {'overdue': 'COUNT(*)'})} FROM {issue_table} "
                f"WHERE status IN ({_quoted(CLOCK_STATUSES)}) AND deadline >= "
                f"COALESCE((SELECT marked_at FROM {mark_table} WHERE id = %s), %s) "
                f"AND deadline < %s AND {in_scope} GROUP BY {column}",
                (MARK_ID, _moment(EPOCH), _moment(now), *ids),
            )
        )
    if closed_since is not None:
        day_end = datetime.datetime.combine(
            since_day + datetime.timedelta(days=1), datetime.time.min, tzinfo=zone
        )
        parts.append(
            Branch(
                f"{_select(column, {'closed_recently': 'COUNT(*)'})} FROM {issue_table} "
                f"WHERE status = '{Status.CLOSED}' AND closed_at >= %s AND closed_at < %s "
                f"AND {in_scope} GROUP BY {column}",
                (_moment(closed_since), _moment(day_end), *ids),
            )
        )
    return parts


def inspector_branch(user: Any, scope: CaseScope) -> Branch:
    """An inspector's own reports open and closed, and the corrections of her "to verify" (the
    fixes awaiting verification in her districts or among her reports, not her own): her own
    reports outside her districts, and her own fixes inside them. One row, key `OWN_KEY`."""
    ids = tuple(sorted(scope.district_ids or ()))
    inside = "district_id IN (" + ", ".join(["%s"] * len(ids)) + ")" if ids else "FALSE"
    submitted = f"status = '{Status.SUBMITTED}'"
    figures = {
        "my_open": f"COUNT(*) FILTER (WHERE reporter_id = %s AND status IN "
        f"({_quoted(OPEN_STATUSES)}))",
        "my_closed": f"COUNT(*) FILTER (WHERE reporter_id = %s AND status = '{Status.CLOSED}')",
        "verify_outside": f"COUNT(*) FILTER (WHERE reporter_id = %s AND {submitted} "
        f"AND NOT ({inside}) AND (last_fix_by_id IS NULL OR last_fix_by_id <> %s))",
        "verify_own_fix": f"COUNT(*) FILTER (WHERE last_fix_by_id = %s AND {submitted} "
        f"AND {inside})",
    }
    me = user.pk
    return Branch(
        f"{_select(str(OWN_KEY), figures)} FROM {Issue._meta.db_table} "
        f"WHERE reporter_id = %s OR (last_fix_by_id = %s AND {submitted} AND {inside})",
        (me, me, me, *ids, me, me, *ids, me, me, *ids),
    )


def read(parts: list[Branch]) -> dict[int, Counter[str]]:
    """Run the parts as one statement (one snapshot) and sum their figures per unit."""
    found: dict[int, Counter[str]] = {}
    if not parts:
        return found
    sql = " UNION ALL ".join(part.sql for part in parts)
    params = [param for part in parts for param in part.params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    for key, *values in rows:
        figures = found.setdefault(key, Counter())
        for name, value in zip(FIGURES, values, strict=True):
            figures[name] += value or 0
    return found


def total(found: Mapping[int, Counter[str]], *, units_only: bool = True) -> Counter[str]:
    """The figures of every unit together (without the inspector's own row)."""
    summed: Counter[str] = Counter(dict.fromkeys(FIGURES, 0))
    for key, figures in found.items():
        if units_only and key == OWN_KEY:
            continue
        summed.update(figures)
    return summed
