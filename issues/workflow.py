"""The one table of allowed transitions (docs/domain.md §4): services enforce it, templates read it.

Each `Transition` names the states it starts from, the state it leads to (None for side actions
that leave the status alone: extensions, escalation, a category change), the roles that may take
it and the inputs it needs. The table is data: it imports no policy. `issues.permissions` reads it
to decide who may act, and `issues.services.core.require` is the single gate every service passes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from districts.models import Role
from districts.policy import HANDLING_ROLES, SUPERVISING_ROLES, VERIFYING_ROLES
from issues.models import DISPATCHED_STATUSES, OPEN_STATUSES, Action, Issue, Status

# Input names a transition may ask for; forms map them to fields.
INPUT_NAMES = frozenset(
    {
        "reason",
        "note",
        "organisation",
        "deadline",
        "photos",
        "review_date",
        "duplicate_of",
        "category",
        "requested_deadline",
    }
)

SUPERVISING = SUPERVISING_ROLES
VERIFYING = VERIFYING_ROLES
HANDLING = HANDLING_ROLES

# What the system (actor None) may do: auto-dispatch on report, the reminder job's escalation.
SYSTEM_ACTIONS = frozenset({Action.DISPATCH, Action.ESCALATE})


@dataclass(frozen=True)
class Transition:
    """One allowed move: from `sources`, by `roles`, needing `requires`, to `target`."""

    action: Action
    sources: tuple[Status, ...]
    target: Status | None
    roles: frozenset[str]
    requires: frozenset[str]
    label: str | Promise
    # Inputs a form offers that may stay empty (e.g. a dispatch deadline, computed when absent).
    optional: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        unknown = (self.requires | self.optional) - INPUT_NAMES
        if unknown:
            raise ValueError(f"{self.action}: unknown inputs {sorted(unknown)}")

    @property
    def changes_status(self) -> bool:
        return self.target is not None

    def target_for(self, status: str) -> str:
        """The status after the move; side actions keep the current one."""
        return self.target if self.target is not None else status


def _t(
    action: Action,
    sources: Iterable[Status],
    target: Status | None,
    roles: Iterable[str],
    label: str | Promise,
    *,
    requires: Iterable[str] = (),
    optional: Iterable[str] = (),
) -> Transition:
    return Transition(
        action=action,
        sources=tuple(sources),
        target=target,
        roles=frozenset(roles),
        requires=frozenset(requires),
        label=label,
        optional=frozenset(optional),
    )


TABLE = (
    _t(
        Action.DISPATCH,
        [Status.REPORTED],
        Status.ASSIGNED,
        SUPERVISING,
        _("Dispatch"),
        requires=["organisation"],
        optional=["deadline", "note"],
    ),
    _t(
        Action.REJECT,
        [Status.REPORTED],
        Status.REJECTED,
        SUPERVISING,
        _("Reject"),
        requires=["reason"],
    ),
    _t(
        Action.MARK_DUPLICATE,
        [Status.REPORTED],
        Status.REJECTED,
        SUPERVISING,
        _("Mark as duplicate"),
        requires=["duplicate_of"],
        optional=["note"],
    ),
    _t(
        Action.FIX_ON_SPOT,
        [Status.REPORTED],
        Status.CLOSED,
        [Role.INSPECTOR],
        _("Fixed on the spot"),
        requires=["photos"],
        optional=["note"],
    ),
    _t(
        Action.ACKNOWLEDGE,
        [Status.ASSIGNED],
        Status.IN_PROGRESS,
        HANDLING,
        _("Acknowledge"),
        optional=["note"],
    ),
    _t(
        Action.RETURN,
        [Status.ASSIGNED, Status.IN_PROGRESS],
        Status.REPORTED,
        HANDLING,
        _("Return as not ours"),
        requires=["reason"],
    ),
    _t(
        Action.REASSIGN,
        [Status.ASSIGNED, Status.IN_PROGRESS],
        Status.ASSIGNED,
        SUPERVISING,
        _("Reassign"),
        requires=["organisation"],
        optional=["deadline", "note"],
    ),
    _t(
        Action.SUBMIT_FIX,
        [Status.IN_PROGRESS],
        Status.SUBMITTED,
        HANDLING,
        _("Submit fix"),
        requires=["photos"],
        optional=["note"],
    ),
    _t(
        Action.VERIFY_PASS,
        [Status.SUBMITTED],
        Status.CLOSED,
        VERIFYING,
        _("Pass verification"),
        optional=["photos", "note"],
    ),
    _t(
        Action.VERIFY_FAIL,
        [Status.SUBMITTED],
        Status.IN_PROGRESS,
        VERIFYING,
        _("Fail verification (rework)"),
        requires=["reason"],
        optional=["photos"],
    ),
    _t(
        Action.PARK,
        [Status.ASSIGNED, Status.IN_PROGRESS],
        Status.PARKED,
        SUPERVISING,
        _("Park"),
        requires=["reason", "review_date"],
    ),
    _t(
        Action.RESUME,
        [Status.PARKED],
        Status.IN_PROGRESS,
        SUPERVISING,
        _("Resume"),
        optional=["note"],
    ),
    _t(
        Action.CANCEL,
        OPEN_STATUSES,
        Status.CANCELLED,
        SUPERVISING,
        _("Cancel"),
        requires=["reason"],
    ),
    _t(
        Action.REOPEN,
        [Status.CLOSED],
        Status.ASSIGNED,
        SUPERVISING,
        _("Reopen"),
        optional=["note", "organisation", "deadline"],
    ),
    _t(
        Action.REQUEST_EXTENSION,
        [Status.ASSIGNED, Status.IN_PROGRESS],
        None,
        HANDLING,
        _("Request extension"),
        requires=["reason", "requested_deadline"],
    ),
    _t(
        Action.APPROVE_EXTENSION,
        DISPATCHED_STATUSES,
        None,
        SUPERVISING,
        _("Approve extension"),
        optional=["note"],
    ),
    _t(
        Action.REFUSE_EXTENSION,
        DISPATCHED_STATUSES,
        None,
        SUPERVISING,
        _("Refuse extension"),
        optional=["note"],
    ),
    _t(
        Action.ESCALATE,
        [Status.ASSIGNED, Status.IN_PROGRESS, Status.SUBMITTED],
        None,
        SUPERVISING,
        _("Escalate"),
        optional=["note"],
    ),
    _t(
        Action.CHANGE_CATEGORY,
        OPEN_STATUSES,
        None,
        SUPERVISING,
        _("Change category"),
        requires=["category"],
        optional=["note"],
    ),
)

TRANSITIONS: dict[Action, Transition] = {transition.action: transition for transition in TABLE}

# Extension decisions are offered only while a request is pending.
NEEDS_PENDING_EXTENSION = frozenset({Action.APPROVE_EXTENSION, Action.REFUSE_EXTENSION})
# Actions whose offer depends on the issue's pending extension request.
EXTENSION_ACTIONS = NEEDS_PENDING_EXTENSION | {Action.REQUEST_EXTENSION}


class TransitionError(ValidationError):
    """The issue's current state does not allow the action (often: someone else acted first)."""

    def __init__(self, issue: Issue, transition: Transition) -> None:
        self.status = issue.status
        self.action = transition.action
        super().__init__(
            _(
                "This issue is now “%(status)s”, so “%(action)s” is not possible. "
                "Reload the page to see its current state."
            ),
            code="invalid_transition",
            params={"status": Status(issue.status).label, "action": transition.label},
        )


def transition_for(action: str) -> Transition:
    """The table row for an action; an unknown action is a programming error."""
    try:
        return TRANSITIONS[Action(action)]
    except (KeyError, ValueError) as error:
        raise ValueError(f"No transition for action {action!r}") from error


def state_allows(issue: Issue, action: str) -> bool:
    """Whether the issue's status is one the action starts from."""
    return issue.status in transition_for(action).sources


def required_inputs(transition: Transition, issue: Issue) -> frozenset[str]:
    """The inputs the action needs for this issue: photos only where the category asks for them."""
    requires = transition.requires
    if "photos" in requires and not issue.category.after_photo_required:
        requires = requires - {"photos"}
    return requires


def offered_for(transition: Transition, issue: Issue) -> bool:
    """Whether the table offers a side action on this case at all (escalation stops at level 3)."""
    return not (transition.action == Action.ESCALATE and issue.escalation_level >= 3)


def extension_offer_matches(transition: Transition, has_pending_extension: bool) -> bool:
    """A request is offered while none is pending; a decision only while one is."""
    return has_pending_extension == (transition.action in NEEDS_PENDING_EXTENSION)
