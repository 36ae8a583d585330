"""Read models the issue pages need: home blocks, the triage and verification queues.

Each function runs a fixed number of queries whatever the zone's size: counts come from one
aggregate with `filter=` per figure, lists are LIMITed and joined to their names in the same query.
Views turn these into tiles, links and templates; nothing here writes.
"""

from __future__ import annotations

import datetime
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from django.db import connection
from django.db.models import (
    Case,
    F,
    IntegerField,
    Q,
    QuerySet,
    Value,
    When,
)
from django.utils import timezone

from civicapp.db import Prepared, first_rows, rows_by_id
from districts import policy
from districts.models import Severity
from issues import stock
from issues.models import (
    CLOCK_STATUSES,
    LIST_ROWS,
    OPEN_STATUSES,
    Action,
    ExtensionRequest,
    Issue,
    IssueEvent,
    Photo,
    Status,
    overdue_q,
)

# A queue page shows this many issues, oldest first; the rest wait for the next visit.
QUEUE_LIMIT = 60


def by_deadline(queryset: QuerySet[Issue]) -> QuerySet[Issue]:
    """Earliest deadline first (overdue work on top), cases without one last."""
    return queryset.order_by(F("deadline").asc(nulls_last=True), "id")


# ---- home -------------------------------------------------------------------------------------


def inspector_home(user, visible: QuerySet[Issue], *, size: int) -> dict[str, Any]:
    """The inspector's counts (own open and closed reports, fixes to verify) and recent reports.

    The fixes awaiting verification in her districts come from the counters (`issues.stock`);
    her own reports, and the corrections for her own fixes and her reports elsewhere, from the
    cases, in the same statement."""
    scope = policy.case_scope(user)
    found = stock.read(
        [*stock.branches(scope, timezone.now(), overdue=False), stock.inspector_branch(user, scope)]
    )
    units = stock.total(found)
    own = found.get(stock.OWN_KEY, Counter())
    counts = {
        "my_open": own["my_open"],
        "my_closed": own["my_closed"],
        # Inspectors verify others' fixes; their own organisation's fixes are never theirs.
        "to_verify": units["submitted"] - own["verify_own_fix"] + own["verify_outside"],
    }
    recent = first_rows(
        visible.filter(reporter=user).order_by("-reported_at", "-id"), size, LIST_ROWS
    )
    return {"counts": counts, "recent": recent}


def handler_home(user, visible: QuerySet[Issue], now: datetime.datetime, *, size: int) -> dict:
    """The organisation's open counts (`issues.stock`) and its queue by deadline."""
    figures = stock.total(stock.read(stock.branches(policy.case_scope(user), now)))
    counts = {
        "overdue": figures["overdue"],
        "to_acknowledge": figures[Status.ASSIGNED],
        "in_progress": figures[Status.IN_PROGRESS],
        "rework": figures["reworked"],
        "submitted": figures[Status.SUBMITTED],
    }
    queue = by_deadline(visible.filter(status__in=CLOCK_STATUSES))
    return {"counts": counts, "queue": first_rows(queue, size, LIST_ROWS)}


def supervisor_home(user, visible: QuerySet[Issue], now: datetime.datetime, *, size: int) -> dict:
    """The supervisor's counts (`issues.stock`) and the three short lists: to triage, to verify,
    overdue."""
    figures = stock.total(stock.read(stock.branches(policy.case_scope(user), now)))
    counts = {
        "to_triage": figures[Status.REPORTED],
        "to_verify": figures[Status.SUBMITTED],
        "overdue": figures["overdue"],
        "escalated": figures["escalated"],
        "returned": figures["returned"],
        "extensions": figures["extensions"],
    }
    return {"counts": counts, **_supervisor_lists(visible, now, size=size)}


def _supervisor_lists(visible: QuerySet[Issue], now: datetime.datetime, *, size: int) -> dict:
    """The first `size` issues to triage and to verify (oldest first: whatever has waited longest
    is handled next) and overdue (earliest deadline first).

    Two queries where the database can: PostgreSQL planned the six-table join of each list
    apart in 3-8 ms, ten times its run; the union of the three lists' ids is read first, then
    those rows are joined as written (`civicapp.db.joins_as_written`). The lists share no issue
    (reported, submitted, clock running).
    """
    lists = {
        "to_triage": visible.filter(status=Status.REPORTED).order_by("reported_at", "id"),
        "to_verify": visible.filter(status=Status.SUBMITTED).order_by("submitted_at", "id"),
        "overdue": by_deadline(visible.filter(overdue_q(now))),
    }
    if not connection.features.supports_slicing_ordering_in_compound:
        return {name: list(rows.with_list_related()[:size]) for name, rows in lists.items()}
    # Each list's ids with the list's name: the rows are read in a second statement, and a
    # case that changed status in between stays in the list that picked it.
    first, *others = [
        rows.annotate(listed_in=Value(name)).values_list("pk", "listed_in")[:size]
        for name, rows in lists.items()
    ]
    picked = dict(first.union(*others, all=True))
    found = rows_by_id(LIST_ROWS, list(picked))
    never = datetime.datetime.max.replace(tzinfo=datetime.UTC)
    sort_keys = {
        "to_triage": lambda issue: (issue.reported_at, issue.pk),
        "to_verify": lambda issue: (issue.submitted_at or never, issue.pk),
        "overdue": lambda issue: (issue.deadline or never, issue.pk),
    }
    return {
        name: sorted((issue for issue in found if picked[issue.pk] == name), key=key)
        for name, key in sort_keys.items()
    }


def overview_home(user, now: datetime.datetime, *, since) -> dict:
    """Leaders' and admins' figures from the counters (`issues.stock`): open by status, overdue,
    escalated, closures since `since`, and one row per district in scope (the district and its
    open, reported, submitted and overdue counts)."""
    found = stock.read(stock.branches(policy.case_scope(user), now, closed_since=since))
    figures = stock.total(found)
    counts = {f"status_{status}": figures[status] for status in OPEN_STATUSES}
    counts.update(
        closed_recently=figures["closed_recently"],
        overdue=figures["overdue"],
        escalated=figures["escalated"],
    )
    districts = []
    for district in policy.districts_in_scope(user).order_by("sort_order", "code"):
        of = found.get(district.pk, Counter())
        districts.append(
            {
                "district": district,
                "open": sum(of[status] for status in OPEN_STATUSES),
                "reported": of[Status.REPORTED],
                "submitted": of[Status.SUBMITTED],
                "overdue": of["overdue"],
            }
        )
    return {"counts": counts, "districts": districts}


# ---- queues -----------------------------------------------------------------------------------


def _urgent_first() -> Case:
    return Case(
        When(severity=Severity.URGENT, then=Value(0)),
        When(severity=Severity.MAJOR, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )


# What a queue's thumbnail shows of a photo (`issue_badges.photo_thumb`, triage's first one).
_THUMB_FIELDS = ("id", "issue_id", "kind", "created_at", "taken_at", "gps_latitude")


# A queue's photos of some kinds, in each case's order (`Photo.Meta.ordering` within an issue),
# read without the join of the issues that ordering by issue implies and with only the columns
# a thumbnail shows; compiled once, where Django's prefetch compiled it for every page.
QUEUE_PHOTOS: Prepared[Photo] = Prepared(
    lambda ids, kinds: (
        Photo.objects.filter(issue_id__in=ids, kind__in=kinds)
        .only(*_THUMB_FIELDS)
        .order_by("kind", "created_at", "id")
    )
)


def _with_photos(rows: list[Issue], *kinds: str) -> list[Issue]:
    """The rows, each with its photos of these kinds as `shown_photos`."""
    found: dict[int, list[Photo]] = defaultdict(list)
    if rows:
        for photo in QUEUE_PHOTOS([row.pk for row in rows], kinds=kinds):
            found[photo.issue_id].append(photo)
    for row in rows:
        row.shown_photos = found.get(row.pk, [])
    return rows


# What a triage row shows and routing reads: the community with its district (route_many
# needs it, and would read it in a query of its own), the point, the category. No organisation
# (none owns a report yet) and no join of the issue's district: fewer tables to plan, which
# took PostgreSQL longer than running the query.
TRIAGE_ROWS: Prepared[Issue] = Prepared(
    lambda ids: (
        Issue.objects.filter(pk__in=ids)
        .order_by()
        .select_related("community__district", "point", "category")
    )
)
# What a verification card shows. Not the issue's district nor last_fix_by: the checks need
# only their ids, and every joined table adds to the time PostgreSQL spends planning this query
# (an eighth tripled it, to 20-25 ms, more than running it).
VERIFY_ROWS: Prepared[Issue] = Prepared(
    lambda ids: (
        Issue.objects.filter(pk__in=ids)
        .order_by()
        .select_related("community", "point", "category", "assigned_organisation")
    )
)


def triage_queue(
    user, *, limit: int = QUEUE_LIMIT, only_returned: bool = False
) -> tuple[list[Issue], bool]:
    """Reported issues in scope, urgent first then oldest, with their before photos; and
    whether more wait beyond `limit`. `only_returned`: the cases an organisation handed back."""
    waiting = Issue.objects.visible_to(user).filter(status=Status.REPORTED)
    if only_returned:
        waiting = waiting.returned()
    rows = first_rows(
        waiting.order_by(_urgent_first(), "reported_at", "id"),
        limit + 1,
        TRIAGE_ROWS,
    )
    return _with_photos(rows[:limit], Photo.Kind.BEFORE), len(rows) > limit


def verify_queue(user, *, limit: int = QUEUE_LIMIT) -> tuple[list[Issue], bool]:
    """Fixes awaiting verification in scope, oldest first, with before and after photos split
    into `before_photos` and `after_photos`; and whether more wait beyond `limit`."""
    rows = first_rows(
        Issue.objects.visible_to(user)
        .filter(status=Status.SUBMITTED)
        .order_by("submitted_at", "id"),
        limit + 1,
        VERIFY_ROWS,
    )
    more = len(rows) > limit
    rows = _with_photos(rows[:limit], Photo.Kind.BEFORE, Photo.Kind.AFTER)
    for issue in rows:
        issue.before_photos = [p for p in issue.shown_photos if p.kind == Photo.Kind.BEFORE]
        issue.after_photos = [p for p in issue.shown_photos if p.kind == Photo.Kind.AFTER]
    return rows, more


def extension_queue(user, *, limit: int = QUEUE_LIMIT) -> tuple[list[ExtensionRequest], bool]:
    """Extension requests waiting for a decision in scope, oldest first, with their cases; and
    whether more wait beyond `limit`."""
    rows = list(
        ExtensionRequest.objects.filter(
            status=ExtensionRequest.Status.PENDING,
            issue__in=Issue.objects.visible_to(user).values("pk"),
        )
        .select_related(
            "requested_by",
            "issue__category",
            "issue__community",
            "issue__point",
            "issue__assigned_organisation",
        )
        .order_by("created_at", "id")[: limit + 1]
    )
    return rows[:limit], len(rows) > limit


# Compiled once, as the queues' rows: the triage page reads it for its sixty cases.
RETURNS: Prepared[IssueEvent] = Prepared(
    lambda ids: (
        IssueEvent.objects.filter(issue_id__in=ids, action=Action.RETURN)
        .select_related("organisation")
        .order_by("-created_at", "-id")
    )
)


def returns_by_issue(issue_ids: Iterable[int]) -> dict[int, list[IssueEvent]]:
    """Each issue's returns (回退), newest first, with the returning organisation; one query."""
    found: dict[int, list[IssueEvent]] = defaultdict(list)
    ids = list(issue_ids)
    for event in RETURNS(ids) if ids else []:
        found[event.issue_id].append(event)
    return found


def returning_organisations(returns: Iterable[IssueEvent]) -> frozenset[int]:
    """The organisations that returned a case: routing skips them for that case."""
    return frozenset(event.organisation_id for event in returns if event.organisation_id)


# ---- duplicates -------------------------------------------------------------------------------

# Candidates for "mark as duplicate": reported this many days around the issue, at most this many.
DUPLICATE_WINDOW_DAYS = 14
DUPLICATE_CANDIDATES = 5


def duplicate_candidates(issue: Issue, user) -> list[Issue]:
    """Issues the user may see that could be the original of `issue`: the same category, at the
    same point or in the same community, reported within two weeks before it; same point first,
    then the nearest in time. One query."""
    window = datetime.timedelta(days=DUPLICATE_WINDOW_DAYS)
    place = Q(community_id=issue.community_id)
    same_point: Case | Value = Value(1)
    if issue.point_id:
        place |= Q(point_id=issue.point_id)
        same_point = Case(
            When(point_id=issue.point_id, then=Value(0)),
            default=Value(1),
            output_field=IntegerField(),
        )
    return list(
        Issue.objects.visible_to(user)
        .filter(place, category_id=issue.category_id, zone_id=issue.zone_id)
        .filter(reported_at__gte=issue.reported_at - window, reported_at__lte=issue.reported_at)
        .exclude(pk=issue.pk)
        .exclude(status__in=[Status.REJECTED, Status.CANCELLED])
        .select_related("point", "community")
        .annotate(same_point=same_point)
        .order_by("same_point", "-reported_at", "-id")[:DUPLICATE_CANDIDATES]
    )
