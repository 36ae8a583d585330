"""Who may see and act on an issue: pure predicates over the user's membership (docs/domain.md §2).

`can_view` is the Python twin of `Issue.objects.visible_to`; a test keeps them in agreement.
The only query these predicates may run is loading a membership's district ids once; the result
is cached on the membership object, which Django caches on the user for the request.
"""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from districts.models import Membership, Role
from issues import workflow
from issues.models import Action, Issue

_DISTRICT_IDS_CACHE = "_civicapp_district_ids"
_VERIFY_ACTIONS = frozenset({Action.VERIFY_PASS, Action.VERIFY_FAIL})


def _active(user) -> bool:
    return (
        user is not None
        and getattr(user, "is_authenticated", False)
        and getattr(user, "is_active", False)
    )


def membership_of(user) -> Membership | None:
    """The user's membership, or None for users without a staff role."""
    try:
        return user.membership
    except (AttributeError, ObjectDoesNotExist):
        return None


def district_ids(membership: Membership) -> frozenset[int]:
    """Ids of the districts a membership covers (not meaningful when `all_districts`), cached."""
    cached = getattr(membership, _DISTRICT_IDS_CACHE, None)
    if cached is None:
        prefetched = getattr(membership, "_prefetched_objects_cache", {})
        if "districts" in prefetched:
            cached = frozenset(district.pk for district in prefetched["districts"])
        else:
            cached = frozenset(membership.districts.values_list("pk", flat=True))
        setattr(membership, _DISTRICT_IDS_CACHE, cached)
    return cached


def role_of(user) -> str | None:
    """The role the user acts in: superusers act as admins; None for anyone without a role."""
    if not _active(user):
        return None
    if user.is_superuser:
        return Role.ADMIN
    membership = membership_of(user)
    return membership.role if membership is not None else None


def covers_district(user, district_id: int | None) -> bool:
    """Whether the user's district scope includes the district (superusers cover everything)."""
    if not _active(user):
        return False
    if user.is_superuser:
        return True
    membership = membership_of(user)
    if membership is None:
        return False
    return membership.all_districts or district_id in district_ids(membership)


def can_view(user, issue: Issue) -> bool:
    """Whether the issue exists for the user: same rule as `Issue.objects.visible_to`."""
    if not _active(user):
        return False
    if user.is_superuser:
        return True
    membership = membership_of(user)
    if membership is None:
        return False
    if membership.role == Role.HANDLER:
        return (
            issue.assigned_organisation_id is not None
            and issue.assigned_organisation_id == membership.organisation_id
        )
    if membership.all_districts or issue.district_id in district_ids(membership):
        return True
    return membership.role == Role.INSPECTOR and issue.reporter_id == user.pk


def can_report(user, district_id: int | None) -> bool:
    """Whether the user may log a new issue in the district: inspectors, supervisors, admins."""
    role = role_of(user)
    if role not in (Role.INSPECTOR, Role.SUPERVISOR, Role.ADMIN):
        return False
    return covers_district(user, district_id)


def permission_problem(user, action: str, issue: Issue) -> str | Promise | None:
    """Why the user may not take the action on the issue, or None if they may (state not judged)."""
    transition = workflow.transition_for(action)
    role = role_of(user)
    if role is None or role not in transition.roles:
        return _("Your role does not allow “%(action)s”.") % {"action": transition.label}

    if role == Role.HANDLER:
        membership = membership_of(user)
        if (
            issue.assigned_organisation_id is None
            or issue.assigned_organisation_id != membership.organisation_id
        ):
            return _("Only the organisation this issue is assigned to may do this.")
    elif transition.action == Action.FIX_ON_SPOT:
        # The reporter's own report, wherever their districts are today.
        if issue.reporter_id != user.pk:
            return _("Only the inspector who reported this issue may fix it on the spot.")
        if not issue.category.on_spot_fix_allowed:
            return _("Issues of this category may not be fixed on the spot.")
    elif not covers_district(user, issue.district_id):
        return _("This issue is outside your districts.")

    if transition.action in _VERIFY_ACTIONS:
        # A fix is verified by someone other than whoever submitted it, and not by its organisation.
        if issue.last_fix_by_id is not None and issue.last_fix_by_id == user.pk:
            return _("You submitted this fix, so someone else must verify it.")
        membership = membership_of(user)
        if (
            membership is not None
            and membership.organisation_id is not None
            and membership.organisation_id == issue.assigned_organisation_id
        ):
            return _("Staff of the assigned organisation may not verify its fix.")
    return None


def can_act(user, action: str, issue: Issue) -> bool:
    """Whether the user's role, scope and the action's rules allow it on the issue (state aside)."""
    return permission_problem(user, action, issue) is None
