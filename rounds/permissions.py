"""Who may see a round and act on it, built only from `districts.policy` (no role sets here).

- A round is read by those who read dashboards (leaders, supervisors, admins) when every one of
  its districts is in their scope; supervisors and admins manage it on the same condition.
- An inspector sees an open round only through the points assigned to them, directly or through
  their supervision group, and walks only those.
Anything else is out of scope: the views answer 404. A visible round whose action the role may not
take answers 403.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from districts import policy
from districts.models import District
from rounds.models import Round, RoundPoint


def _group_id(user: Any) -> int | None:
    membership = policy.membership_of(user)
    return membership.organisation_id if membership is not None else None


def assigned_to(user: Any) -> Q:
    """RoundPoint rows assigned to the user or to their supervision group."""
    condition = Q(inspector_id=user.pk)
    group_id = _group_id(user)
    if group_id is not None:
        condition |= Q(group_id=group_id)
    return condition


def _outside_scope_districts(user: Any) -> QuerySet[District]:
    return District.objects.exclude(pk__in=policy.districts_in_scope(user).values("pk"))


def _within_scope(user: Any) -> Q:
    """Rounds none of whose districts lies outside the user's scope."""
    return ~Q(
        pk__in=Round.districts.through.objects.filter(
            district__in=_outside_scope_districts(user)
        ).values("round_id")
    )


def rounds_visible_to(user: Any) -> QuerySet[Round]:
    """The rounds the user may open at all."""
    if not policy.is_active_user(user):
        return Round.objects.none()
    walked = Q(
        status=Round.Status.OPEN,
        pk__in=RoundPoint.objects.filter(assigned_to(user)).values("round_id"),
    )
    if policy.may_read_dashboards(user):
        if policy.covers_all_districts(user):
            return Round.objects.all()
        return Round.objects.filter(_within_scope(user) | walked)
    return Round.objects.filter(walked)


def covers_round(user: Any, round_: Round) -> bool:
    """Whether every district of the round is in the user's scope."""
    if policy.covers_all_districts(user):
        return True
    return all(policy.covers_district(user, pk) for pk in round_district_ids(round_))


def round_district_ids(round_: Round) -> list[int]:
    cached = getattr(round_, "_district_ids", None)
    if cached is None:
        cached = list(round_.districts.values_list("pk", flat=True))
        round_._district_ids = cached
    return cached


def may_manage_round(user: Any, round_: Round) -> bool:
    """Whether the user may clone or close the round: a supervisor or admin over its districts."""
    return policy.may_supervise(user) and covers_round(user, round_)


def may_read_results(user: Any, round_: Round) -> bool:
    """Whether the user reads the round's results: a dashboard reader over its districts."""
    return policy.may_read_dashboards(user) and covers_round(user, round_)


def may_create_rounds(user: Any) -> bool:
    """Whether the user may start rounds (in `policy.supervised_districts`)."""
    return policy.may_supervise(user)


def may_walk(user: Any, round_point: RoundPoint) -> bool:
    """Whether the user marks this point: it is assigned to them or to their group."""
    if not policy.is_active_user(user):
        return False
    if round_point.inspector_id is not None:
        return round_point.inspector_id == user.pk
    return round_point.group_id is not None and round_point.group_id == _group_id(user)


def capabilities(user: Any, round_: Round) -> dict[str, bool]:
    """What the templates may offer on a round page."""
    return {
        "manage": may_manage_round(user, round_),
        "results": may_read_results(user, round_),
    }
