"""Keyset paging of the issue list: cursors, the order of each segment, one page of rows.

The list never counts the table: it pages by keyset on (sort key, id), fetching one row more than
it shows to know whether a next page exists, so page 1 and page 10 000 cost the same. The page's
ids are read from an index of the issue table, then only those rows are read with their related
names, so 10 and 100 rows run the same number of queries.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import F, Max, Min, OrderBy, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.http import QueryDict

from civicapp.db import rows_by_id
from issues import search
from issues.filters import SORTS
from issues.models import LIST_ROWS, Issue

# Cursor parameters: "after" pages forward, "before" pages back from the first row shown.
AFTER = "after"
BEFORE = "before"
NULL_MARK = "n"

# A search on PostgreSQL is read in windows of its sort column (`_windowed_ids`): the first
# covers this share of the time the cases span, each next one up to WIDEN times as much, so
# four reach the oldest case; after MAX_WINDOWS the rest is read at once.
FIRST_WINDOW_SHARE = 256
WIDEN = 8
MAX_WINDOWS = 5


class InvalidCursor(ValueError):
    """A cursor parameter that is not one this list wrote."""


def encode_cursor(issue: Issue, field: str) -> str:
    """'<microseconds since epoch>_<id>', or 'n_<id>' when the sort value is empty."""
    value = getattr(issue, field)
    if value is None:
        return f"{NULL_MARK}_{issue.pk}"
    micros = int(value.timestamp()) * 1_000_000 + value.microsecond
    return f"{micros}_{issue.pk}"


def decode_cursor(raw: str) -> tuple[datetime.datetime | None, int]:
    try:
        value_part, id_part = raw.split("_", 1)
        pk = int(id_part)
        if pk <= 0:
            raise InvalidCursor(raw)
        if value_part == NULL_MARK:
            return None, pk
        micros = int(value_part)
        value = datetime.datetime.fromtimestamp(micros // 1_000_000, tz=datetime.UTC)
        return value.replace(microsecond=micros % 1_000_000), pk
    except (ValueError, OverflowError, OSError) as error:
        raise InvalidCursor(raw) from error


def _segment_order(field: str, *, descending: bool) -> list[OrderBy]:
    """The order inside one segment: (field, id) in the reading direction.

    No NULLS FIRST/LAST here: each segment holds only one kind of row, and the plain direction is
    what the (field, id) index gives when read forward or backward. The segment of empty values
    is ordered by (field, id) too, which is its id order: so PostgreSQL reads it from the same
    index behind the user's scope (`issue_district_dl_idx`: district, deadline, id) as a range
    of empty deadlines in id order, where by id alone it walked the whole table's primary key
    and threw away the other districts' rows (1 381 read for 21 at 1 000 000 issues).
    """
    if descending:
        return [F(field).desc(), F("id").desc()]
    return [F(field).asc(), F("id").asc()]


def _beyond(
    field: str, value: datetime.datetime | None, pk: int, *, descending: bool, valued: bool
) -> Q:
    """Rows of the cursor's segment strictly beyond (value, id) in the reading direction."""
    cmp = "lt" if descending else "gt"
    if not valued:
        return Q(**{f"id__{cmp}": pk})
    # The first term repeats part of the second on purpose: it is the one PostgreSQL can use as an
    # index range, so a page deep in the list starts at its cursor instead of skipping the
    # rows before it.
    return Q(**{f"{field}__{cmp}e": value}) & (
        Q(**{f"{field}__{cmp}": value}) | Q(**{field: value, f"id__{cmp}": pk})
    )


def url_with(params: QueryDict, **changes: str | None) -> str:
    query = params.copy()
    for key in (AFTER, BEFORE):
        query.pop(key, None)
    for key, value in changes.items():
        if value is not None:
            query[key] = value
    encoded = query.urlencode()
    return f"?{encoded}" if encoded else "?"


def _first_ids(
    part: QuerySet[Issue], order: list[OrderBy], alternatives: list[Q], limit: int
) -> QuerySet[Issue] | RawSQL:
    """The ids of the first `limit` rows of `part` in `order`, as a subquery.

    With several alternatives (a search that names a category and is also found in texts),
    each alternative's first rows are read on their own, each by the index that serves it in
    this order, and the union of those few is cut to the page: the first rows of a union are
    among the first rows of its parts. One OR of them all is served only by a bitmap of every
    match, read and sorted whole.
    """
    compound = connections[part.db].features.supports_slicing_ordering_in_compound
    if len(alternatives) <= 1 or not compound:
        # One alternative, or SQLite, which cannot LIMIT inside a UNION: one condition.
        if alternatives:
            part = part.filter(search.any_of(alternatives))
        return part.order_by(*order).values("pk")[:limit]
    names = [("-" if term.descending else "") + term.expression.name for term in order]
    columns = list(dict.fromkeys(["id", *(name.lstrip("-") for name in names)]))
    branches = [
        part.filter(alternative).order_by(*order).values_list(*columns)[:limit]
        for alternative in alternatives
    ]
    union = branches[0].union(*branches[1:]).order_by(*names)[:limit]
    sql, sql_params = union.query.get_compiler(using=part.db).as_sql()
    # Django compiled the SQL and keeps the values as parameters; only the wrapper is text.
    return RawSQL(f"SELECT page.id FROM ({sql}) AS page", sql_params)  # noqa: S608, S611


def _page_ids(
    part: QuerySet[Issue], order: list[OrderBy], alternatives: list[Q], limit: int
) -> list[int]:
    """The ids of the first `limit` rows, read on their own.

    Read as a subquery of the statement that joins the rows to their names, the ids cost
    nothing more to run, but PostgreSQL planned the join of seven tables around it, weighing
    the issue table's indexes for every join order, in 5-8 ms for a 1 ms page; with the ids
    known the join is planned as written (`joins_as_written`) in 1-2 ms, for one more round
    trip.
    """
    ids = _first_ids(part, order, alternatives, limit)
    if isinstance(ids, RawSQL):
        with connections[part.db].cursor() as cursor:
            cursor.execute(ids.sql, ids.params)
            return [row[0] for row in cursor.fetchall()]
    return [row["pk"] for row in ids]


def _windowed_ids(
    part: QuerySet[Issue],
    order: list[OrderBy],
    alternatives: list[Q],
    limit: int,
    *,
    field: str,
    descending: bool,
    start: datetime.datetime | None,
) -> list[int] | None:
    """The ids of the first `limit` rows of a search, read window by window of `field`.

    A text too common for its index and too rare for a walk in order is read by a bitmap of
    its matches; over the whole table that is every match, to show twenty. Cut to a window of
    the sort column (a range of the list's own index, AND-ed with the text's bitmap), each
    statement reads only the matches inside its window. The windows follow the list's order
    from `start` (the cursor's value, or the newest or oldest case), so the rows of one come
    before those of the next, and the first `limit` rows of the windows read in turn are the
    first of the whole. A window widens by the density the earlier ones found (never more than
    WIDEN times, WIDEN when they found nothing) until it holds enough rows or reaches the
    oldest (newest) case. None when the table holds no value of the column.
    """
    bounds = Issue.objects.aggregate(oldest=Min(field), newest=Max(field))
    oldest, newest = bounds["oldest"], bounds["newest"]
    if oldest is None or newest is None:
        return None
    if start is None:
        start = newest if descending else oldest
    # A cursor past the cases (one can be written by hand) starts at the last of them.
    start = min(max(start, oldest), newest)
    end = oldest if descending else newest
    left = start - end if descending else end - start
    span = max((newest - oldest) / FIRST_WINDOW_SHARE, datetime.timedelta(seconds=1))
    # The statement is compiled once, with a window from `near` (the previous window holds
    # what lies before it) to `far` whose ends are placeholders, one object each, replaced in
    # the parameters for every window: compiling the union again per window cost more than
    # running it. Open ends lie past any value.
    earliest = datetime.datetime.min.replace(tzinfo=datetime.UTC)
    latest = datetime.datetime.max.replace(tzinfo=datetime.UTC)
    near_mark, far_mark = (latest, earliest) if descending else (earliest, latest)
    before, after = f"{field}__lt", f"{field}__gte"
    window = part.filter(
        **(
            {before: near_mark, after: far_mark}
            if descending
            else {after: near_mark, before: far_mark}
        )
    )
    subquery = _first_ids(window, order, alternatives, limit)
    if isinstance(subquery, RawSQL):
        sql, params = subquery.sql, list(subquery.params)
    else:
        sql, params = subquery.query.get_compiler(using=part.db).as_sql()
    if not any(value is near_mark for value in params) or not any(
        value is far_mark for value in params
    ):
        raise RuntimeError("the window's ends are not parameters of the compiled search")
    near, ids = near_mark, []
    with connections[part.db].cursor() as cursor:
        for step in range(MAX_WINDOWS):
            if step == MAX_WINDOWS - 1 or span >= left:
                far = far_mark
            else:
                far = start - span if descending else start + span
            ends = {id(near_mark): near, id(far_mark): far}
            cursor.execute(sql, [ends.get(id(value), value) for value in params])
            ids += [row[0] for row in cursor.fetchall()][: limit - len(ids)]
            if len(ids) >= limit or far is far_mark:
                break
            near = far
            # Enough for the rows still missing at the density found so far, with a margin.
            growth = WIDEN if not ids else min(WIDEN, max(2.0, 1.25 * limit / len(ids)))
            span *= growth
    return ids


def _segment_ids(
    part: QuerySet[Issue],
    order: list[OrderBy],
    alternatives: list[Q],
    limit: int,
    *,
    field: str,
    descending: bool,
    start: datetime.datetime | None,
    windowed: bool,
) -> list[int]:
    """The ids of one segment's first rows: a search with values on PostgreSQL window by window
    (`_windowed_ids`), anything else in one statement (`_page_ids`)."""
    if part.query.is_empty():
        return []  # a scope of nothing (`visible_to` of an account without a membership)
    ids = None
    if alternatives and windowed and connections[part.db].vendor == "postgresql":
        # SQLite scans whatever the text; there one statement is as good as any.
        ids = _windowed_ids(
            part, order, alternatives, limit, field=field, descending=descending, start=start
        )
    if ids is None:
        ids = _page_ids(part, order, alternatives, limit)
    return ids


def paginate(
    queryset: QuerySet[Issue],
    params: QueryDict,
    sort: str,
    page_size: int,
    *,
    alternatives: list[Q] | None = None,
) -> dict[str, Any]:
    """One page of rows (with `with_list_related`) and the links around it; never a COUNT.

    `alternatives` are a search's conditions (`issues.search.conditions`) not yet applied to
    the queryset: a row matches when it meets any one.

    The list's order is (field, id) over the rows that have a value, then, when the field can be
    empty (an issue not yet dispatched has no deadline), the empty rows by id: empty values sort
    last in both directions. Each part is read from its cursor with an index range, so any page
    costs the same; a page that crosses from one part to the other takes a second query. A
    search's part with values, on PostgreSQL, is read window by window (`_windowed_ids`).
    """
    field, ascending = SORTS[sort]
    nullable = Issue._meta.get_field(field).null
    after, before = params.get(AFTER), params.get(BEFORE)
    forward = not before
    cursor_raw = before or after
    # Reading backward walks the same order from the other end.
    descending = ascending != forward
    segments = [True, False] if nullable else [True]
    if not forward:
        segments.reverse()
    cursor = decode_cursor(cursor_raw) if cursor_raw else None
    if cursor is not None:
        valued = cursor[0] is not None
        if valued not in segments:
            raise InvalidCursor(cursor_raw)
        segments = segments[segments.index(valued) :]
    wanted = page_size + 1
    rows: list[Issue] = []
    for index, valued in enumerate(segments):
        part = queryset.filter(**{f"{field}__isnull": not valued}) if nullable else queryset
        if cursor is not None and index == 0:
            value, pk = cursor
            part = part.filter(_beyond(field, value, pk, descending=descending, valued=valued))
        order = _segment_order(field, descending=descending)
        # The page's ids come from the issue table alone; only those rows are then joined to
        # their names. Joining first let a misjudged row count (a text search) make PostgreSQL
        # join thousands of matches table by table before keeping twenty, and the join of seven
        # tables cost more to plan than the page cost to read.
        try:
            ids = _segment_ids(
                part,
                order,
                alternatives or [],
                wanted - len(rows),
                field=field,
                descending=descending,
                start=cursor[0] if cursor is not None and index == 0 else None,
                windowed=valued,
            )
        except EmptyResultSet:
            # A scope that holds nothing (no membership, a role without districts) compiles
            # to no statement at all: the statements compiled here by hand say so this way.
            ids = []
        rows += rows_by_id(LIST_ROWS, ids)
        if len(rows) >= wanted:
            break
    has_more = len(rows) > page_size
    rows = rows[:page_size]
    if not forward:
        rows.reverse()
    has_next = has_more if forward else True
    has_previous = bool(cursor_raw) and (forward or has_more)
    return {
        "rows": rows,
        "next_url": url_with(params, after=encode_cursor(rows[-1], field))
        if rows and has_next
        else None,
        "previous_url": url_with(params, before=encode_cursor(rows[0], field))
        if rows and has_previous
        else None,
        "first_url": url_with(params) if cursor_raw else None,
    }
