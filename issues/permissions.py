"""Who may see and act on a case: the policy of `districts.policy` applied to an issue.

`can_view` is the Python twin of `Issue.objects.visible_to`; a test keeps them in agreement. The
transitions table (`issues.workflow`) says which roles may take an action from which states;
this module adds the rules that depend on the person and the case (their unit, their districts,
who fixed it). It runs no query beyond what `districts.policy` caches for the request.
"""

from __future__ import annotations

from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from districts import policy
from districts.models import Role
from issues import workflow
from issues.models import Action, Issue

_VERIFY_ACTIONS = frozenset({Action.VERIFY_PASS, Action.VERIFY_FAIL})


def can_view(user: Any, issue: Issue) -> bool:
    """Whether the issue exists for the user: same rule as `Issue.objects.visible_to`."""
    if policy.covers_all_districts(user):
        return True
    membership = policy.membership_of(user)
    if membership is None or not policy.is_active_user(user):
        return False
    if membership.role == Role.HANDLER:
        return (
            issue.assigned_organisation_id is not None
            and issue.assigned_organisation_id == membership.organisation_id
        )
    if policy.covers_district(user, issue.district_id):
        return True
    return membership.role == Role.INSPECTOR and issue.reporter_id == user.pk


def role_allows(user: Any, action: str) -> bool:
    """Whether the user's role may ever take the action, whatever the case and its state."""
    return policy.role_of(user) in workflow.transition_for(action).roles


def permission_problem(user: Any, action: str, issue: Issue) -> str | Promise | None:
    """Why the user may not take the action on the issue, or None if they may (state not judged)."""
    transition = workflow.transition_for(action)
    if not role_allows(user, action):
        return _("Your role does not allow “%(action)s”.") % {"action": transition.label}

    membership = policy.membership_of(user)
    if policy.may_handle(user):
        if (
            membership is None
            or issue.assigned_organisation_id is None
            or issue.assigned_organisation_id != membership.organisation_id
        ):
            return _("Only the organisation this issue is assigned to may do this.")
    elif transition.action == Action.FIX_ON_SPOT:
        # The reporter's own report, wherever their districts are today.
        if issue.reporter_id != user.pk:
            return _("Only the inspector who reported this issue may fix it on the spot.")
        if not issue.category.on_spot_fix_allowed:
            return _("Issues of this category may not be fixed on the spot.")
    elif not policy.covers_district(user, issue.district_id):
        return _("This issue is outside your districts.")

    if transition.action in _VERIFY_ACTIONS:
        # A fix is verified by someone other than whoever submitted it, and not by its organisation.
        if issue.last_fix_by_id is not None and issue.last_fix_by_id == user.pk:
            return _("You submitted this fix, so someone else must verify it.")
        if (
            membership is not None
            and membership.organisation_id is not None
            and membership.organisation_id == issue.assigned_organisation_id
        ):
            return _("Staff of the assigned organisation may not verify its fix.")
    return None


def can_act(user: Any, action: str, issue: Issue) -> bool:
    """Whether the user's role, scope and the action's rules allow it on the issue (state aside)."""
    return permission_problem(user, action, issue) is None


def available_actions(
    issue: Issue, user: Any, *, has_pending_extension: bool | None = None
) -> list[workflow.Transition]:
    """What the user may do to the issue now, in table order (the buttons a page shows).

    Pass `has_pending_extension` when the caller already knows it; otherwise one query answers it,
    and only when an extension decision would otherwise be offered.
    """
    offered = []
    for transition in workflow.TABLE:
        if not workflow.state_allows(issue, transition.action):
            continue
        if not can_act(user, transition.action, issue):
            continue
        if not workflow.offered_for(transition, issue):
            continue
        if transition.action in workflow.EXTENSION_ACTIONS:
            if has_pending_extension is None:
                has_pending_extension = issue.extension_requests.filter(status="pending").exists()
            if not workflow.extension_offer_matches(transition, has_pending_extension):
                continue
        offered.append(transition)
    return offered
