"""The one policy for people: their role, the places they cover and what their role may do.

Everything that asks "who is this person here, and where may they work?" reads this module: views,
forms, templates (through the context processor), the Django admin, /manage/, the issue rules in
`issues.permissions`, the dashboards and the jobs. Nothing else keeps a copy of a role set or a
scope rule (docs/domain.md §2).

The rules, once:
- A person acts in one role: superusers act as admins; an inactive or role-less account has none.
- Admins are zone-wide by definition: the zone office answers for everything, so no admin is ever
  limited to some districts (a database constraint keeps `Membership.all_districts` true for them).
- Inspectors, supervisors and leaders cover their districts, or all of them.
- Handlers follow their organisation's cases wherever those are; places are not secret to them, so
  they may filter by any place, but they never report or act for a district.

Each predicate takes the user and runs at most one query per request: the membership is cached on
the user by Django, and its district ids on the membership.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Q, QuerySet

from civicapp.db import Prepared
from districts.models import Community, District, InspectionPoint, Membership, Organisation, Role

# Who may do what, by role (docs/domain.md §2). The transitions table names these groups too.
ZONE_ADMIN_ROLES = frozenset({Role.ADMIN})
SUPERVISING_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})
REPORTING_ROLES = frozenset({Role.INSPECTOR, Role.SUPERVISOR, Role.ADMIN})
VERIFYING_ROLES = frozenset({Role.INSPECTOR, Role.SUPERVISOR, Role.ADMIN})
HANDLING_ROLES = frozenset({Role.HANDLER})
# Dashboards, rankings, ledgers: the people judged on them and those who judge.
READING_ROLES = frozenset({Role.LEADER, Role.SUPERVISOR, Role.ADMIN})

_DISTRICT_IDS_CACHE = "_civicapp_district_ids"
# A membership's district ids, read on most requests, compiled once (`civicapp.db.Prepared`).
MEMBERSHIP_DISTRICTS: Prepared[Any] = Prepared(
    lambda membership_id: Membership.districts.through.objects.filter(
        membership_id=membership_id
    ).values_list("district_id")
)


def is_active_user(user: Any) -> bool:
    """Whether the user is logged in with an active account."""
    return (
        user is not None
        and getattr(user, "is_authenticated", False)
        and getattr(user, "is_active", False)
    )


def membership_of(user: Any) -> Membership | None:
    """The user's staff membership, or None for users without a staff role."""
    try:
        return user.membership
    except (AttributeError, ObjectDoesNotExist):
        return None


def role_of(user: Any) -> str | None:
    """The role the user acts in: superusers act as admins; None for anyone without a role."""
    if not is_active_user(user):
        return None
    if user.is_superuser:
        return Role.ADMIN
    membership = membership_of(user)
    return membership.role if membership is not None else None


def has_role(user: Any, roles: frozenset[str]) -> bool:
    """Whether the user acts in one of the roles."""
    return role_of(user) in roles


def is_zone_admin(user: Any) -> bool:
    """Whether the user is the zone office: an active superuser or an active admin."""
    return has_role(user, ZONE_ADMIN_ROLES)


def may_report(user: Any) -> bool:
    """Whether the user's role logs problems (where: `reporting_districts`)."""
    return has_role(user, REPORTING_ROLES)


def may_supervise(user: Any) -> bool:
    """Whether the user's role triages, dispatches and manages rounds (in their districts)."""
    return has_role(user, SUPERVISING_ROLES)


def may_verify(user: Any) -> bool:
    """Whether the user's role verifies fixes (which fixes: `issues.permissions`)."""
    return has_role(user, VERIFYING_ROLES)


def may_handle(user: Any) -> bool:
    """Whether the user works a responsible organisation's cases."""
    return has_role(user, HANDLING_ROLES)


def may_read_dashboards(user: Any) -> bool:
    """Whether the user reads the campaign's figures for their districts."""
    return has_role(user, READING_ROLES)


def district_ids(membership: Membership) -> frozenset[int]:
    """Ids of the districts a membership names (meaningless when it covers all), cached."""
    cached = getattr(membership, _DISTRICT_IDS_CACHE, None)
    if cached is None:
        prefetched = getattr(membership, "_prefetched_objects_cache", {})
        if "districts" in prefetched:
            cached = frozenset(district.pk for district in prefetched["districts"])
        else:
            cached = frozenset(district for (district,) in MEMBERSHIP_DISTRICTS(membership.pk))
        setattr(membership, _DISTRICT_IDS_CACHE, cached)
    return cached


def covers_all_districts(user: Any) -> bool:
    """Whether the user's scope is the whole zone: superusers, admins and all-district staff."""
    if not is_active_user(user):
        return False
    if user.is_superuser:
        return True
    membership = membership_of(user)
    if membership is None:
        return False
    if membership.role == Role.ADMIN:
        return True
    return membership.all_districts and membership.role != Role.HANDLER


def covers_district(user: Any, district_id: int | None) -> bool:
    """Whether the user works for the district (handlers work for no district, only their unit)."""
    if covers_all_districts(user):
        return True
    membership = membership_of(user)
    if membership is None or not is_active_user(user) or membership.role == Role.HANDLER:
        return False
    return district_id in district_ids(membership)


@dataclass(frozen=True)
class CaseScope:
    """The cases a user may see, as the dimensions a case carries (for read models such as the
    KPI rollup, which cannot run `Issue.objects.visible_to`): every case, none, the cases of
    some districts, of one organisation, or of some districts plus the user's own reports."""

    everything: bool = False
    district_ids: frozenset[int] | None = None
    organisation_id: int | None = None
    reporter_id: int | None = None

    @property
    def nothing(self) -> bool:
        return (
            not self.everything
            and not self.district_ids
            and self.organisation_id is None
            and self.reporter_id is None
        )


def case_scope(user: Any) -> CaseScope:
    """The same rule as `IssueQuerySet.visible_to`, as dimensions (a test keeps them equal)."""
    if covers_all_districts(user):
        return CaseScope(everything=True)
    membership = membership_of(user)
    if membership is None or not is_active_user(user):
        return CaseScope()
    if membership.role == Role.HANDLER:
        return CaseScope(organisation_id=membership.organisation_id)
    districts = district_ids(membership)
    if membership.role == Role.INSPECTOR:
        return CaseScope(district_ids=districts, reporter_id=user.pk)
    return CaseScope(district_ids=districts)


def _sees_every_place(user: Any) -> bool:
    # A handler's cases follow the organisation wherever it is sent; places are not secret.
    return covers_all_districts(user) or (is_active_user(user) and may_handle(user))


def district_ids_in_scope(user: Any) -> frozenset[int] | None:
    """Ids of `districts_in_scope`, None for all (a test keeps the two equal)."""
    if _sees_every_place(user):
        return None
    membership = membership_of(user)
    if membership is None or not is_active_user(user):
        return frozenset()
    return district_ids(membership)


def districts_in_scope(user: Any) -> QuerySet[District]:
    """Districts whose places the user may read and filter by: `district_ids_in_scope` as a
    queryset, with the membership's districts as a subquery (a page that needs no ids reads
    none)."""
    if _sees_every_place(user):
        return District.objects.all()
    membership = membership_of(user)
    if membership is None or not is_active_user(user):
        return District.objects.none()
    return District.objects.filter(pk__in=membership.districts.values("pk"))


def communities_in_scope(user: Any) -> QuerySet[Community]:
    """Communities of `districts_in_scope`."""
    if _sees_every_place(user):
        return Community.objects.all()
    return Community.objects.filter(district__in=districts_in_scope(user))


def points_in_scope(user: Any) -> QuerySet[InspectionPoint]:
    """Inspection points of `districts_in_scope`, active or not."""
    if _sees_every_place(user):
        return InspectionPoint.objects.all()
    return InspectionPoint.objects.filter(community__district__in=districts_in_scope(user))


def organisations_in_scope(user: Any) -> QuerySet[Organisation]:
    """Organisations the user may read about: a handler only their own; others those of their
    districts plus the zone-wide departments (which have no district)."""
    if covers_all_districts(user):
        return Organisation.objects.all()
    membership = membership_of(user)
    if membership is None or not is_active_user(user):
        return Organisation.objects.none()
    if membership.role == Role.HANDLER:
        if membership.organisation_id is None:  # refused by a constraint; never trust it here
            return Organisation.objects.none()
        return Organisation.objects.filter(pk=membership.organisation_id)
    return Organisation.objects.filter(
        Q(district__in=membership.districts.values("pk")) | Q(district__isnull=True)
    )


def reporting_districts(user: Any) -> QuerySet[District]:
    """Districts where the user may log problems: their scope, none for roles that do not report."""
    if not may_report(user):
        return District.objects.none()
    return districts_in_scope(user)


def reporting_communities(user: Any) -> QuerySet[Community]:
    """Communities of `reporting_districts`."""
    if not may_report(user):
        return Community.objects.none()
    return communities_in_scope(user)


def reporting_points(user: Any) -> QuerySet[InspectionPoint]:
    """Active inspection points of `reporting_districts`."""
    if not may_report(user):
        return InspectionPoint.objects.none()
    return points_in_scope(user).filter(is_active=True)


def can_report_in(user: Any, district_id: int | None) -> bool:
    """Whether the user may log a problem in the district."""
    return may_report(user) and covers_district(user, district_id)


def supervised_districts(user: Any) -> QuerySet[District]:
    """Districts the user supervises (triage, rounds): none unless their role supervises."""
    if not may_supervise(user):
        return District.objects.none()
    return districts_in_scope(user)


def capabilities(user: Any) -> dict[str, bool]:
    """What the role may do, for templates: `{% if can.report %}` instead of a role rule."""
    return {
        "report": may_report(user),
        "supervise": may_supervise(user),
        "verify": may_verify(user),
        "handle": may_handle(user),
        "read_dashboards": may_read_dashboards(user),
        "manage_zone": is_zone_admin(user),
    }
