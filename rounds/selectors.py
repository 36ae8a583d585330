"""What the round pages read: the worklist, a visit's state as JSON, and the results.

Each reader runs a fixed number of queries whatever the round's size; tests pin them.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q, QuerySet

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


def _point_rows(round_: Round) -> list[dict[str, Any]]:
    """One row per round point with its weighted met and applicable; one query.

    The sums live on the round point (the observation service keeps them), so a round of
    thousands of points never sums its observations here.
    """
    rows = list(
        RoundPoint.objects.filter(round=round_)
        .values(
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
        .order_by("point__name", "pk")
    )
    for row in rows:
        row["met"], row["applicable"] = row["met_weight"], row["applicable_weight"]
    return rows


def _group(rows: list[dict], key: str, label: str) -> dict[Any, Tally]:
    groups: dict[Any, Tally] = {}
    for row in rows:
        tally = groups.setdefault(row[key], Tally(label=row[label], key=row[key]))
        tally.met += row["met"]
        tally.applicable += row["applicable"]
        tally.points += 1
        tally.visited += 1 if row["marked"] else 0
    return groups


def previous_round(round_: Round) -> Round | None:
    """The round of the same kind before this one that shares a district with it."""
    return (
        Round.objects.filter(kind=round_.kind, districts__in=round_.districts.all())
        .filter(Q(starts_on__lt=round_.starts_on) | Q(starts_on=round_.starts_on, pk__lt=round_.pk))
        .exclude(pk=round_.pk)
        .order_by("-starts_on", "-pk")
        .first()
    )


@dataclass
class Results:
    round: Round
    total: Tally
    mock_score: float | None
    points: list[dict]
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


def results(round_: Round, *, with_lists: int | None = 100) -> Results:
    """The round's scores and findings; a fixed number of queries (eight).

    - a point's 达标率 = weighted met ÷ weighted applicable (yes + no; n.a. counts nowhere);
    - a point type's, community's, district's and the round's rate pool the weights of their
      points (not an average of rates);
    - the mock score is the average of the visited points' rates, × 100, as assessors score a
      round point by point.
    """
    rows = _point_rows(round_)
    for row in rows:
        row["rate"] = rate(row["met"], row["applicable"])
    total = Tally(label=round_.name)
    for row in rows:
        total.met += row["met"]
        total.applicable += row["applicable"]
        total.points += 1
        total.visited += 1 if row["marked"] else 0
    scored = [row["rate"] for row in rows if row["rate"] is not None]
    mock_score = 100 * sum(scored) / len(scored) if scored else None

    point_types = _group(rows, "point__point_type_id", "point__point_type__name")
    communities = _group(rows, "point__community_id", "point__community__name")
    districts = _group(rows, "point__community__district_id", "point__community__district__name")

    previous = previous_round(round_)
    if previous is not None:
        previous_rows = _point_rows(previous)
        for mine, theirs in (
            (point_types, _group(previous_rows, "point__point_type_id", "point__point_type__name")),
            (
                districts,
                _group(
                    previous_rows,
                    "point__community__district_id",
                    "point__community__district__name",
                ),
            ),
        ):
            for key, tally in mine.items():
                if key in theirs:
                    tally.previous = theirs[key].rate
        total.previous = rate(
            sum(r["met"] for r in previous_rows), sum(r["applicable"] for r in previous_rows)
        )

    most_failed = list(
        Observation.objects.filter(round_point__round=round_, result=FAILED)
        .values("check_item_id", "text", "category_id")
        .annotate(failures=Count("pk"))
        .order_by("-failures", "text")[:10]
    )

    unvisited_rows = [row for row in rows if not row["marked"]]

    repeat_failures: list[dict] = []
    if previous is not None:
        # Two index reads of the failed marks joined here: a correlated EXISTS per failed mark
        # cost ten times more on a round of 2,000 points.
        failed_before = set(
            Observation.objects.filter(round_point__round=previous, result=FAILED).values_list(
                "round_point__point_id", "check_item_id"
            )
        )
        repeat_failures = [
            row
            for row in Observation.objects.filter(round_point__round=round_, result=FAILED)
            .values("round_point__point_id", "round_point__point__name", "text", "check_item_id")
            .order_by("round_point__point__name", "text")
            if (row["round_point__point_id"], row["check_item_id"]) in failed_before
        ]

    cases = list(
        Observation.objects.filter(round_point__round=round_, issue__isnull=False)
        .values(
            "issue_id",
            "issue__case_number",
            "issue__status",
            "text",
            "round_point__point__name",
        )
        .order_by("issue__case_number")
    )
    closed = sum(1 for case in cases if case["issue__status"] == IssueStatus.CLOSED)
    far = sum(1 for row in rows if row["visit__is_far"])

    limit = with_lists
    return Results(
        round=round_,
        total=total,
        mock_score=mock_score,
        points=rows if limit is None else rows[:limit],
        point_types=sorted(point_types.values(), key=lambda t: t.label),
        communities=sorted(communities.values(), key=lambda t: t.label),
        districts=sorted(districts.values(), key=lambda t: t.label),
        most_failed=most_failed,
        unvisited=unvisited_rows if limit is None else unvisited_rows[:limit],
        unvisited_count=len(unvisited_rows),
        repeat_failures=repeat_failures if limit is None else repeat_failures[:limit],
        repeat_failure_count=len(repeat_failures),
        cases_filed=len(cases),
        cases_closed=closed,
        cases=cases if limit is None else cases[:limit],
        far_visits=far,
        previous=previous,
    )
