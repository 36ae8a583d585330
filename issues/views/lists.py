"""The filtered issue list and its CSV export.

The list never counts the table: it pages by keyset on (sort key, id), fetching one row more than
it shows to know whether a next page exists, so page 1 and page 10 000 cost the same. The page's
ids are read from an index of the issue table, and only those rows are joined to their related
names in the same query, so 10 and 100 rows run the same number of queries.
`manage.py benchmark_lists` measures every sort and common filter on 300 000 issues.
"""

from __future__ import annotations

import csv
import datetime
from collections.abc import Iterator
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import F, OrderBy, Q, QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from districts import policy
from issues.filters import SORTS, IssueFilterSet
from issues.models import Issue

# Cursor parameters: "after" pages forward, "before" pages back from the first row shown.
AFTER = "after"
BEFORE = "before"
NULL_MARK = "n"
# The export streams; this cap keeps one request from reading a province's whole history.
EXPORT_MAX_ROWS = 200_000
EXPORT_CHUNK_SIZE = 2000


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


def _segment_order(field: str, *, descending: bool, valued: bool) -> list[OrderBy | str]:
    """The order inside one segment: (field, id) where the field has a value, id alone where not.

    No NULLS FIRST/LAST here: each segment holds only one kind of row, and the plain direction is
    what the (field, id) index gives when read forward or backward.
    """
    if not valued:
        return ["-id" if descending else "id"]
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


def _url_with(params: QueryDict, **changes: str | None) -> str:
    query = params.copy()
    for key in (AFTER, BEFORE):
        query.pop(key, None)
    for key, value in changes.items():
        if value is not None:
            query[key] = value
    encoded = query.urlencode()
    return f"?{encoded}" if encoded else "?"


def paginate(
    queryset: QuerySet[Issue], params: QueryDict, sort: str, page_size: int
) -> dict[str, Any]:
    """One page of rows (with `with_list_related`) and the links around it; never a COUNT.

    The list's order is (field, id) over the rows that have a value, then, when the field can be
    empty (an issue not yet dispatched has no deadline), the empty rows by id: empty values sort
    last in both directions. Each part is read from its cursor with an index range, so any page
    costs the same; a page that crosses from one part to the other takes a second query.
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
        order = _segment_order(field, descending=descending, valued=valued)
        # The page's ids come from the issue table alone; only those rows are then joined to
        # their names. Joining first let a misjudged row count (a text search) make PostgreSQL
        # join thousands of matches table by table before keeping twenty, and the join of seven
        # tables cost more to plan than the page cost to read.
        ids = part.order_by(*order).values("pk")[: wanted - len(rows)]
        rows += Issue.objects.with_list_related().filter(pk__in=ids).order_by(*order)
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
        "next_url": _url_with(params, after=encode_cursor(rows[-1], field))
        if rows and has_next
        else None,
        "previous_url": _url_with(params, before=encode_cursor(rows[0], field))
        if rows and has_previous
        else None,
        "first_url": _url_with(params) if cursor_raw else None,
    }


def _filterset(request: HttpRequest) -> IssueFilterSet:
    return IssueFilterSet(
        request.GET,
        queryset=Issue.objects.visible_to(request.user).with_list_related(),
        request=request,
    )


@require_GET
@login_required
def issue_list(request: HttpRequest) -> HttpResponse:
    """Issues in the user's scope, filtered, sorted and paged by keyset."""
    filterset = _filterset(request)
    page: dict[str, Any] = {"rows": [], "next_url": None, "previous_url": None, "first_url": None}
    cursor_error = False
    if filterset.is_valid():
        try:
            page = paginate(filterset.qs, request.GET, filterset.sort, filterset.page_size)
        except InvalidCursor:
            cursor_error = True
    export_query = _url_with(request.GET)
    context = {
        "filterset": filterset,
        "form": filterset.form,
        "filters_invalid": filterset.is_bound and not filterset.is_valid(),
        "cursor_error": cursor_error,
        "role": policy.role_of(request.user),
        "now": timezone.now(),
        "export_query": "" if export_query == "?" else export_query,
        # Folded on phones even when a link set filters ("my reports"): the badge counts them,
        # and the rows come first; open only to show what needs correcting.
        "filters_open": not filterset.is_valid(),
        **page,
    }
    return render(request, "issues/list.html", context)


class _Echo:
    """A file-like object whose write returns the line, for csv.writer feeding a stream."""

    def write(self, value: str) -> str:
        return value


def _local(value: datetime.datetime | None) -> str:
    if value is None:
        return ""
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")


def export_header() -> list[str]:
    return [
        _("Case number"),
        _("Status"),
        _("Category"),
        _("Severity"),
        _("District"),
        _("Community"),
        _("Inspection point"),
        _("Address"),
        _("Description"),
        _("Organisation"),
        _("Reporter"),
        _("Rework count"),
        _("Escalation level"),
        _("Extensions granted"),
        _("Overdue"),
        _("Deadline"),
        _("Reported at"),
        _("Dispatched at"),
        _("Acknowledged at"),
        _("First fix submitted at"),
        _("Fix submitted at"),
        _("Verified at"),
        _("Closed at"),
        _("Rejected at"),
        _("Parked at"),
        _("Cancelled at"),
        _("Updated at"),
    ]


def _safe_cell(text: str) -> str:
    # Excel runs a cell that starts with = + - @ as a formula; a leading quote keeps it text.
    if text and text[0] in "=+-@\t\r\n":
        return "'" + text
    return text


def export_row(issue: Issue, now: datetime.datetime) -> list[Any]:
    return [
        issue.case_number,
        issue.get_status_display(),
        issue.category.display_name,
        issue.get_severity_display(),
        issue.district.display_name,
        issue.community.display_name,
        issue.point.name if issue.point else "",
        _safe_cell(issue.address),
        _safe_cell(issue.description),
        issue.assigned_organisation.display_name if issue.assigned_organisation else "",
        issue.reporter.get_username(),
        issue.rework_count,
        issue.escalation_level,
        issue.extension_count,
        _("yes") if issue.is_overdue(now) else _("no"),
        _local(issue.deadline),
        _local(issue.reported_at),
        _local(issue.dispatched_at),
        _local(issue.acknowledged_at),
        _local(issue.first_submitted_at),
        _local(issue.submitted_at),
        _local(issue.verified_at),
        _local(issue.closed_at),
        _local(issue.rejected_at),
        _local(issue.parked_at),
        _local(issue.cancelled_at),
        _local(issue.updated_at),
    ]


def export_lines(queryset: QuerySet[Issue], now: datetime.datetime) -> Iterator[str]:
    writer = csv.writer(_Echo())
    # The byte order mark makes Excel read the file as UTF-8 (Chinese text, not mojibake).
    yield "\ufeff" + writer.writerow(export_header())
    for issue in queryset[:EXPORT_MAX_ROWS].iterator(chunk_size=EXPORT_CHUNK_SIZE):
        # Every text cell, not only the free text: names arrive through imports and usernames
        # may start with "@", "+" or "-".
        yield writer.writerow(
            [_safe_cell(v) if isinstance(v, str) else v for v in export_row(issue, now)]
        )


@require_GET
@login_required
def issue_export_csv(request: HttpRequest) -> HttpResponse:
    """The filtered list as a CSV ledger (UTF-8 with BOM), streamed so memory stays flat."""
    filterset = _filterset(request)
    if not filterset.is_valid():
        return render(
            request,
            "issues/list.html",
            {
                "filterset": filterset,
                "form": filterset.form,
                "filters_invalid": True,
                "filters_open": True,
                "rows": [],
                "role": policy.role_of(request.user),
            },
            status=400,
        )
    now = timezone.now()
    response = StreamingHttpResponse(
        export_lines(filterset.qs.select_related("reporter"), now),
        content_type="text/csv; charset=utf-8",
    )
    filename = f"issues-{timezone.localtime(now):%Y%m%d-%H%M}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
