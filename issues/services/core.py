"""What every lifecycle service shares: the row lock, input checks and the one event it writes."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from districts import policy
from districts.models import Category, Organisation
from issues import calendar, notifications, permissions, workflow
from issues.models import (
    ExtensionRequest,
    Issue,
    IssueEvent,
)
from issues.photos import PreparedPhoto, attach_photos

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# The role recorded on events the system writes (auto-dispatch, the reminder job).
SYSTEM_ROLE = "system"

MISSING_INPUT = {
    "reason": _("Please give a reason."),
    "note": _("Please add a note."),
    "organisation": _("Choose an organisation."),
    "deadline": _("Choose a deadline."),
    "photos": _("Add at least one photo."),
    "review_date": _("Choose the date to review this issue again."),
    "duplicate_of": _("Choose the case this one duplicates."),
    "category": _("Choose a category."),
    "requested_deadline": _("Choose the deadline you are asking for."),
}


def require(issue: Issue, action: str, actor: Any) -> workflow.Transition:
    """The single gate of every lifecycle service: allow the action or raise.

    Role first: a role that may never take the action is refused (PermissionDenied) whatever the
    state. Then the state: someone who could have acted a moment ago learns that the case moved on
    (TransitionError naming the current state). Then the rest of the rules for this person and
    case (their unit, districts, who fixed it). `actor` None is the system (auto-dispatch, the
    reminder job), which may take only the table's system actions.
    """
    transition = workflow.transition_for(action)
    if actor is None:
        if transition.action not in workflow.SYSTEM_ACTIONS:
            raise PermissionDenied(_("This action needs a person to take it."))
    elif not permissions.role_allows(actor, action):
        raise PermissionDenied(permissions.permission_problem(actor, action, issue))
    if not workflow.state_allows(issue, action):
        raise workflow.TransitionError(issue, transition)
    if actor is not None:
        problem = permissions.permission_problem(actor, action, issue)
        if problem is not None:
            raise PermissionDenied(problem)
    return transition


# Read models kept in step with the cases (the KPI rollup of `stats.rollup` registers here, in its
# AppConfig.ready, since issues never imports stats). Each is called with the case and its field
# values as `lock_issue` read them (None for a new case), after the change's event is written and
# in its transaction, so a failed write leaves them unchanged too.
CHANGE_HOOKS: list[Callable[[Issue, dict[str, Any] | None], None]] = []
_BEFORE = "_civicapp_values_before_change"
# The fields a hook may need the old value of (where the case was counted before the change).
HOOK_FIELDS = (
    "district_id",
    "category_id",
    "assigned_organisation_id",
    "reported_at",
    "dispatched_at",
    "deadline",
    "closed_at",
)


def lock_issue(issue: Issue | int) -> Issue:
    """Re-read the issue under a row lock: whoever waits here sees the winner's result."""
    pk = issue if isinstance(issue, int) else issue.pk
    locked = Issue.objects.select_for_update().get(pk=pk)
    setattr(locked, _BEFORE, {name: getattr(locked, name) for name in HOOK_FIELDS})
    return locked


def run_change_hooks(issue: Issue) -> None:
    """Tell the read models that the case changed (the one call every service makes, from
    `record_event`)."""
    before = getattr(issue, _BEFORE, None)
    for hook in CHANGE_HOOKS:
        hook(issue, before)
    setattr(issue, _BEFORE, {name: getattr(issue, name) for name in HOOK_FIELDS})


def is_empty(value: Any) -> bool:
    """Whether an input counts as not given: None, blank text or an empty list."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, Sequence):
        return len(value) == 0
    return False


def check_required(
    transition: workflow.Transition, issue: Issue, values: Mapping[str, Any]
) -> None:
    """Enforce the table's `requires` for this issue, with one message per missing field."""
    missing = {
        name: MISSING_INPUT[name]
        for name in sorted(workflow.required_inputs(transition, issue))
        if is_empty(values.get(name))
    }
    if missing:
        raise ValidationError(missing)


def check_future(value: datetime.datetime, field: str, now: datetime.datetime) -> None:
    """Refuse a deadline that is not an aware time after `now`, on the named field."""
    if timezone.is_naive(value):
        raise ValidationError({field: _("Give the time with its time zone.")})
    if value <= now:
        raise ValidationError({field: _("The deadline must be in the future.")})


def check_organisation(organisation: Organisation | None) -> Organisation:
    """The organisation, if one is given and still active; a field error otherwise."""
    if organisation is None:
        raise ValidationError({"organisation": MISSING_INPUT["organisation"]})
    if not organisation.is_active:
        raise ValidationError(
            {
                "organisation": ValidationError(
                    _("%(organisation)s is inactive and cannot receive cases."),
                    code="inactive_organisation",
                    params={"organisation": organisation.display_name},
                )
            }
        )
    return organisation


def check_category(category: Category) -> None:
    """Refuse a category that admins retired."""
    if not category.is_active:
        raise ValidationError({"category": _("This category is no longer in use.")})


def check_within_reason(
    value: datetime.datetime, field: str, category: Category, now: datetime.datetime
) -> None:
    """Refuse a deadline in the past or beyond what the category's limit makes reasonable."""
    check_future(value, field, now)
    latest = calendar.latest_reasonable_deadline(category, now)
    if value > latest:
        local = timezone.localtime(latest)
        raise ValidationError(
            {
                field: _(
                    "This deadline is too far ahead for a case of this category; the latest is "
                    "%(latest)s. For a problem that needs months, park the case (挂账) instead."
                )
                % {"latest": local.strftime("%Y-%m-%d %H:%M")}
            }
        )


def deadline_or_default(
    *, category: Category, given: datetime.datetime | None, now: datetime.datetime
) -> tuple[datetime.datetime, str]:
    """The given deadline (ahead, within reason) or the category's limit from now."""
    if given is not None:
        check_within_reason(given, "deadline", category, now)
        return given, "given"
    return calendar.deadline_for(category, now), "computed"


def iso(value: datetime.datetime | datetime.date | None) -> str | None:
    """A date or time as event data (JSON) keeps it."""
    return value.isoformat() if value is not None else None


def record_event(
    *,
    issue: Issue,
    actor: User | None,
    action: str,
    from_status: str,
    now: datetime.datetime,
    note: str = "",
    organisation: Organisation | None = None,
    old_deadline: datetime.datetime | None = None,
    new_deadline: datetime.datetime | None = None,
    data: dict[str, Any] | None = None,
    photos: Sequence[PreparedPhoto] = (),
    photo_kind: str | None = None,
    observed_at: datetime.datetime | None = None,
    client_token: uuid.UUID | None = None,
) -> IssueEvent:
    """Append the one event of a change, attach its photos and notify its natural recipients."""
    event = IssueEvent.objects.create(
        issue=issue,
        actor=actor,
        actor_role=(policy.role_of(actor) or "") if actor is not None else SYSTEM_ROLE,
        action=action,
        from_status=from_status,
        to_status=issue.status,
        note=note,
        organisation=organisation if organisation is not None else issue.assigned_organisation,
        old_deadline=old_deadline,
        new_deadline=new_deadline,
        data=data or {},
        created_at=now,
        observed_at=observed_at,
        client_token=client_token,
    )
    if photos:
        if photo_kind is None:
            raise ValueError("Photos of an event need their kind (before, after, check).")
        attach_photos(issue=issue, kind=photo_kind, photos=photos, uploaded_by=actor, event=event)
    notifications.notify_event(event)
    run_change_hooks(issue)
    return event


def observation_time(
    observed_at: datetime.datetime | None, now: datetime.datetime
) -> datetime.datetime | None:
    """The phone's capture time, never later than the server's receipt (a clock running fast)."""
    if observed_at is None:
        return None
    return min(observed_at, now)


def replayed_event(
    *, issue: Issue, actor: Any, client_token: uuid.UUID | None
) -> IssueEvent | None:
    """The event an earlier send of the same phone form already recorded, if any.

    A token belongs to the person and the case it was first used for; reusing it elsewhere is
    refused rather than answered with someone else's event.
    """
    if client_token is None:
        return None
    event = IssueEvent.objects.filter(client_token=client_token).first()
    if event is None:
        return None
    if event.issue_id != issue.pk or event.actor_id != getattr(actor, "pk", None):
        raise ValidationError(_("This form was already used. Reload the page and try again."))
    return event


def withdraw_pending_extension(
    issue: Issue, actor: User | None, now: datetime.datetime
) -> int | None:
    """Close a request left waiting when the issue moves on, so a new one can be made later."""
    pending = (
        ExtensionRequest.objects.select_for_update()
        .filter(issue=issue, status=ExtensionRequest.Status.PENDING)
        .first()
    )
    if pending is None:
        return None
    pending.status = ExtensionRequest.Status.REFUSED
    pending.decided_by = actor
    pending.decided_at = now
    pending.decision_note = gettext("Withdrawn: the issue moved on before a decision.")
    pending.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    return pending.pk
