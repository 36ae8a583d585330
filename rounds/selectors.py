"""What the round pages read: the worklist, a visit's state as JSON, and the results.

Each reader runs a fixed number of queries whatever the round's size; tests pin them.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass, field
from typing import Any

from django.db.models import (
    Avg,
    Count,
    Exists,
    FloatField,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Window,
)
from django.db.models.functions import Cast, Coalesce, NullIf

from districts.geo import distance_m
from districts.models import CheckItem
from issues.models import Status as IssueStatus
from rounds import permissions
from rounds.models import Observation, Round, RoundPoint, Visit

MET = Observation.Result.MET
FAILED = Observation.Result.FAILED


def rate(met: int, applicable: int) -> float | None:
    """达标率: weighted standards met ÷ weighted applicable; None when nothing applied."""
    return met / applicable if applicable else None


def rounds_for_list(user: Any) -> QuerySet[Round]:
    return (
        permissions.rounds_visible_to(user)
        .annotate(point_total=Count("round_points", distinct=True))
        .order_by("-starts_on", "-id")
    )


# --- the worklist --------------------------------------------------------------------------


@dataclass
class WorkItem:
    round_point: RoundPoint
    marked: int
    failed: int
    started: bool
    finished: bool
    is_far: bool
    distance_m: float | None = None


def worklist(
    round_: Round, user: Any, *, latitude: float | None = None, longitude: float | None = None
) -> tuple[list[WorkItem], int, int]:
    """The user's points of the round, nearest first from where they stand (else by name),
    with (visited, total). Two queries."""
    rows = (
        RoundPoint.objects.filter(permissions.assigned_to(user), round=round_)
        .select_related("point__point_type", "point__community", "visit")
        .annotate(failed=Count("observations", filter=Q(observations__result=FAILED)))
        .order_by("point__name", "pk")
    )
    items = []
    for row in rows:
        visit = getattr(row, "visit", None) if hasattr(row, "visit") else None
        item = WorkItem(
            round_point=row,
            marked=row.marked,
            failed=row.failed,
            started=visit is not None,
            finished=visit is not None and visit.finished_at is not None,
            is_far=visit is not None and visit.is_far,
        )
        if latitude is not None and longitude is not None:
            item.distance_m = distance_m(
                latitude, longitude, float(row.point.latitude), float(row.point.longitude)
            )
        items.append(item)
    if latitude is not None and longitude is not None:
        items.sort(key=lambda i: (i.finished, i.distance_m))
    else:
        items.sort(key=lambda i: i.finished)
    visited = sum(1 for i in items if i.finished)
    return items, visited, len(items)


# --- a visit's state: the one serialisable form the phone and the offline helper share ------


def _iso(value: datetime.datetime | None) -> str | None:
    return value.isoformat() if value else None


def standards_of(round_point: RoundPoint) -> list[dict[str, Any]]:
    """The point's standards with their marks: active standards, plus any marked before and
    since deactivated (their mark stays as it was)."""
    observations = {
        obs.check_item_id: obs
        for obs in Observation.objects.filter(round_point=round_point).select_related(
            "issue", "category"
        )
    }
    items = list(
        CheckItem.objects.filter(point_type_id=round_point.point.point_type_id)
        .filter(Q(is_active=True) | Q(pk__in=list(observations)))
        .select_related("category")
        .order_by("sort_order", "pk")
    )
    standards = []
    for item in items:
        obs = observations.get(item.pk)
        category = obs.category if obs else item.category
        standards.append(
            {
                "check_item": item.pk,
                "text": obs.text if obs else item.text,
                "weight": obs.weight if obs else item.weight,
                "category": category.pk if category else None,
                "category_name": category.display_name if category else None,
                "on_spot_fix_allowed": bool(category and category.on_spot_fix_allowed),
                "photo_required": item.photo_required_on_fail,
                "result": obs.result if obs else None,
                "note": obs.note if obs else "",
                "has_photo": bool(obs and obs.photo),
                "observed_at": _iso(obs.observed_at) if obs else None,
                "client_token": str(obs.client_token) if obs else None,
                "observation": obs.pk if obs else None,
                "issue": (
                    {
                        "id": obs.issue.pk,
                        "case_number": obs.issue.case_number,
                        "status": obs.issue.status,
                        "closed": obs.issue.status == IssueStatus.CLOSED,
                    }
                    if obs and obs.issue
                    else None
                ),
            }
        )
    return standards


def visit_state(round_point: RoundPoint) -> dict[str, Any]:
    """The visit as JSON (see `rounds.views.visit_api` for the contract)."""
    visit = Visit.objects.filter(round_point=round_point).first()
    point = round_point.point
    return {
        "round": round_point.round_id,
        "round_open": round_point.round.is_open,
        "round_point": round_point.pk,
        "point": {
            "id": point.pk,
            "name": point.name,
            "address": point.address,
            "latitude": float(point.latitude),
            "longitude": float(point.longitude),
        },
        "visit": (
            {
                "started_at": _iso(visit.started_at),
                "finished_at": _iso(visit.finished_at),
                "latitude": float(visit.latitude) if visit.latitude is not None else None,
                "longitude": float(visit.longitude) if visit.longitude is not None else None,
                "accuracy_m": visit.accuracy_m,
                "distance_m": visit.distance_m,
                "is_far": visit.is_far,
            }
            if visit
            else None
        ),
        "standards": standards_of(round_point),
    }


# --- results -----------------------------------------------------------------------------


@dataclass
class Tally:
    """Weighted met and applicable of a group of points, with its rate."""

    label: str = ""
    key: Any = None
    met: int = 0
    applicable: int = 0
    points: int = 0
    visited: int = 0
    previous: float | None = None
    extra: dict = field(default_factory=dict)

    @property
    def rate(self) -> float | None:
        return rate(self.met, self.applicable)

    @property
    def trend(self) -> str:
        if self.rate is None or self.previous is None:
            return ""
        if abs(self.rate - self.previous) < 0.0005:
            return "same"
        return "better" if self.rate > self.previous else "worse"


POINT_FIELDS = (
    "pk",
    "point_id",
    "point__name",
    "point__point_type_id",
    "point__point_type__name",
    "point__community_id",
    "point__community__name",
    "point__community__district_id",
    "point__community__district__name",
    "visit__finished_at",
    "visit__is_far",
    "inspector__username",
    "group__name",
    "met_weight",
    "applicable_weight",
    "marked",
)
# The results page shows this many rows of each long list (points by page); the export has all.
PAGE_SIZE = 50
LIST_LIMIT = 50


def point_rows(round_: Round, *, offset: int = 0, limit: int | None = None) -> list[dict]:
    """One row per round point (a slice of them) with its weighted met, applicable and rate.

    The sums live on the round point (the observation service keeps them), so the results of
    a round of thousands of points never sum its observations.
    """
    rows = (
        RoundPoint.objects.filter(round=round_).values(*POINT_FIELDS).order_by("point__name", "pk")
    )
    rows = rows[offset : offset + limit] if limit is not None else rows[offset:]
    found = list(rows)
    for row in found:
        row["met"], row["applicable"] = row["met_weight"], row["applicable_weight"]
        row["rate"] = rate(row["met"], row["applicable"])
    return found


def _sums() -> dict[str, Any]:
    return {
        "met": Coalesce(Sum("met_weight"), 0),
        "applicable": Coalesce(Sum("applicable_weight"), 0),
        "points": Count("pk"),
        "visited": Count("pk", filter=Q(marked__gt=0)),
    }


# Each grouping of the results: the round point path of its key and of its label.
GROUPINGS = {
    "point_types": ("point__point_type_id", "point__point_type__name"),
    "communities": ("point__community_id", "point__community__name"),
    "districts": ("point__community__district_id", "point__community__district__name"),
}


def _tallies(round_ids: list[int], key: str, label: str) -> dict[int, dict[Any, Tally]]:
    """Per round, the tallies of one grouping; one GROUP BY over the rounds' points."""
    found: dict[int, dict[Any, Tally]] = {pk: {} for pk in round_ids}
    rows = (
        RoundPoint.objects.filter(round_id__in=round_ids)
        .values("round_id", key, label)
        .annotate(**_sums())
        .order_by()
    )
    for row in rows:
        found[row["round_id"]][row[key]] = Tally(
            label=row[label],
            key=row[key],
            met=row["met"],
            applicable=row["applicable"],
            points=row["points"],
            visited=row["visited"],
        )
    return found


def previous_round(round_: Round) -> Round | None:
    """The round of the same kind before this one that shares a district with it."""
    return (
        Round.objects.filter(
            kind=round_.kind,
            pk__in=Round.districts.through.objects.filter(
                district_id__in=Round.districts.through.objects.filter(round_id=round_.pk).values(
                    "district_id"
                )
            ).values("round_id"),
        )
        .filter(Q(starts_on__lt=round_.starts_on) | Q(starts_on=round_.starts_on, pk__lt=round_.pk))
        .exclude(pk=round_.pk)
        .exclude(status=Round.Status.PREPARING)
        .order_by("-starts_on", "-pk")
        .first()
    )


@dataclass
class Results:
    round: Round
    total: Tally
    mock_score: float | None
    points: list[dict]
    page: int
    pages: int
    point_types: list[Tally]
    communities: list[Tally]
    districts: list[Tally]
    most_failed: list[dict]
    unvisited: list[dict]
    unvisited_count: int
    repeat_failures: list[dict]
    repeat_failure_count: int
    cases_filed: int
    cases_closed: int
    cases: list[dict]
    far_visits: int
    previous: Round | None


def _repeat_failures(round_: Round, previous: Round) -> QuerySet[Observation]:
    """Failed marks of the round whose standard also failed at the same point last round."""
    failed_before = Observation.objects.filter(
        round_point__round=previous,
        round_point__point_id=OuterRef("round_point__point_id"),
        check_item_id=OuterRef("check_item_id"),
        result=FAILED,
    )
    return Observation.objects.filter(round_point__round=round_, result=FAILED).filter(
        Exists(failed_before)
    )


def results(round_: Round, *, page: int = 1, with_lists: int | None = LIST_LIMIT) -> Results:
    """The round's scores and findings in SQL: a fixed number of queries whatever its size.

    - a point's 达标率 = weighted met ÷ weighted applicable (yes + no; n.a. counts nowhere);
    - a point type's, community's, district's and the round's rate pool the weights of their
      points (not an average of rates);
    - the mock score is the average of the visited points' rates, × 100, as assessors score a
      round point by point.

    Queries: the previous round, the round's totals (with the mock score, the unvisited and
    far counts), one per grouping for both rounds, the most failed standards, the case counts,
    and each list's first rows (`with_lists`; None for every row, as the export wants) — plus
    the repeat failures (rows and count in one) when there is a previous round. The points come one
    page of PAGE_SIZE at a time.
    """
    previous = previous_round(round_)
    round_ids = [round_.pk] + ([previous.pk] if previous is not None else [])

    totals = {
        row["round_id"]: row
        for row in RoundPoint.objects.filter(round_id__in=round_ids)
        .values("round_id")
        .annotate(
            **_sums(),
            far=Count("pk", filter=Q(visit__is_far=True)),
            score=Avg(
                Cast("met_weight", FloatField())
                / NullIf(Cast("applicable_weight", FloatField()), 0.0)
            ),
        )
        .order_by()
    }
    mine = totals.get(round_.pk, {})
    total = Tally(
        label=round_.name,
        met=mine.get("met", 0),
        applicable=mine.get("applicable", 0),
        points=mine.get("points", 0),
        visited=mine.get("visited", 0),
    )
    mock_score = 100 * mine["score"] if mine.get("score") is not None else None
    if previous is not None and previous.pk in totals:
        theirs = totals[previous.pk]
        total.previous = rate(theirs["met"], theirs["applicable"])

    groups: dict[str, list[Tally]] = {}
    for name, (key, label) in GROUPINGS.items():
        per_round = _tallies(round_ids, key, label)
        before = per_round.get(previous.pk, {}) if previous is not None else {}
        for group_key, tally in per_round[round_.pk].items():
            if group_key in before:
                tally.previous = before[group_key].rate
        groups[name] = sorted(per_round[round_.pk].values(), key=lambda t: (t.label, t.key))

    most_failed = list(
        Observation.objects.filter(round_point__round=round_, result=FAILED)
        .values("check_item_id", "text", "category_id")
        .annotate(failures=Count("pk"))
        .order_by("-failures", "text")[:10]
    )

    pages = max(1, math.ceil(total.points / PAGE_SIZE))
    page = min(max(1, page), pages)
    if with_lists is None:
        points = point_rows(round_)
    else:
        points = point_rows(round_, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)

    unvisited = RoundPoint.objects.filter(round=round_, marked=0).values(*POINT_FIELDS)
    unvisited = unvisited.order_by("point__name", "pk")
    unvisited_rows = list(unvisited if with_lists is None else unvisited[:with_lists])

    repeat_rows: list[dict] = []
    repeat_count = 0
    if previous is not None:
        # One read for the count and the first rows: the count rides on each row (a window).
        listed = (
            _repeat_failures(round_, previous)
            .annotate(total=Window(Count("pk")))
            .values(
                "round_point__point_id",
                "round_point__point__name",
                "text",
                "check_item_id",
                "total",
            )
            .order_by("round_point__point__name", "text")
        )
        repeat_rows = list(listed if with_lists is None else listed[:with_lists])
        repeat_count = repeat_rows[0]["total"] if repeat_rows else 0

    filed = Observation.objects.filter(round_point__round=round_, issue__isnull=False)
    case_counts = filed.aggregate(
        filed=Count("pk"), closed=Count("pk", filter=Q(issue__status=IssueStatus.CLOSED))
    )
    cases = filed.values(
        "issue_id", "issue__case_number", "issue__status", "text", "round_point__point__name"
    ).order_by("issue__case_number")
    case_rows = list(cases if with_lists is None else cases[:with_lists])

    return Results(
        round=round_,
        total=total,
        mock_score=mock_score,
        points=points,
        page=page,
        pages=pages,
        point_types=groups["point_types"],
        communities=groups["communities"],
        districts=groups["districts"],
        most_failed=most_failed,
        unvisited=unvisited_rows,
        unvisited_count=total.points - total.visited,
        repeat_failures=repeat_rows,
        repeat_failure_count=repeat_count,
        cases_filed=case_counts["filed"],
        cases_closed=case_counts["closed"],
        cases=case_rows,
        far_visits=mine.get("far", 0),
        previous=previous,
    )
