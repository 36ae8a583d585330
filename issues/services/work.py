"""The organisation's work and its verification, parking, cancelling and reopening."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from districts.models import Organisation
from issues.models import (
    Action,
    EscalationLevel,
    Issue,
    Photo,
)
from issues.photos import PreparedPhoto
from issues.services.core import (
    check_organisation,
    check_required,
    deadline_or_default,
    iso,
    lock_issue,
    observation_time,
    record_event,
    replayed_event,
    require,
    withdraw_pending_extension,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# --- the organisation's work -----------------------------------------------------------------


@transaction.atomic
def issue_acknowledge(*, issue: Issue, actor: User, note: str = "") -> Issue:
    """The assigned organisation accepts the case (签收) and starts work."""
    issue = lock_issue(issue)
    transition = require(issue, Action.ACKNOWLEDGE, actor)
    now = timezone.now()
    from_status = issue.status
    issue.status = transition.target_for(issue.status)
    issue.acknowledged_at = now
    issue.save(update_fields=["status", "acknowledged_at", "updated_at"])
    record_event(
        issue=issue,
        actor=actor,
        action=Action.ACKNOWLEDGE,
        from_status=from_status,
        now=now,
        note=(note or "").strip(),
    )
    return issue


@transaction.atomic
def issue_return(*, issue: Issue, actor: User, reason: str) -> Issue:
    """The organisation hands the case back as not theirs (回退); it goes back to triage."""
    issue = lock_issue(issue)
    transition = require(issue, Action.RETURN, actor)
    check_required(transition, issue, {"reason": reason})
    now = timezone.now()
    from_status = issue.status
    returning = issue.assigned_organisation
    old_deadline = issue.deadline
    withdrawn = withdraw_pending_extension(issue, actor, now)
    issue.status = transition.target_for(issue.status)
    issue.assigned_organisation = None
    issue.assigned_person = None
    issue.deadline = None
    issue.clock_started_at = None
    issue.escalation_level = EscalationLevel.NONE
    issue.save(
        update_fields=[
            "status",
            "assigned_organisation",
            "assigned_person",
            "deadline",
            "clock_started_at",
            "escalation_level",
            "updated_at",
        ]
    )
    record_event(
        issue=issue,
        actor=actor,
        action=Action.RETURN,
        from_status=from_status,
        now=now,
        note=reason.strip(),
        organisation=returning,
        old_deadline=old_deadline,
        data={"withdrawn_extension": withdrawn} if withdrawn else {},
    )
    return issue


@transaction.atomic
def issue_reassign(
    *,
    issue: Issue,
    actor: User,
    organisation: Organisation,
    deadline: datetime.datetime | None = None,
    note: str = "",
) -> Issue:
    """Send the case to another organisation, whose clock starts now."""
    issue = lock_issue(issue)
    transition = require(issue, Action.REASSIGN, actor)
    check_required(transition, issue, {"organisation": organisation})
    organisation = check_organisation(organisation)
    if organisation.pk == issue.assigned_organisation_id:
        raise ValidationError(
            {"organisation": _("The case is already assigned to this organisation.")}
        )
    now = timezone.now()
    new_deadline, source = deadline_or_default(category=issue.category, given=deadline, now=now)
    from_status = issue.status
    previous = issue.assigned_organisation_id
    old_deadline = issue.deadline
    withdrawn = withdraw_pending_extension(issue, actor, now)
    issue.status = transition.target_for(issue.status)
    issue.assigned_organisation = organisation
    issue.assigned_person = None
    issue.acknowledged_at = None
    issue.clock_started_at = now
    issue.deadline = new_deadline
    issue.escalation_level = EscalationLevel.NONE
    issue.save(
        update_fields=[
            "status",
            "assigned_organisation",
            "assigned_person",
            "acknowledged_at",
            "clock_started_at",
            "deadline",
            "escalation_level",
            "updated_at",
        ]
    )
    data: dict[str, Any] = {"from_organisation": previous, "deadline_source": source}
    if withdrawn:
        data["withdrawn_extension"] = withdrawn
    record_event(
        issue=issue,
        actor=actor,
        action=Action.REASSIGN,
        from_status=from_status,
        now=now,
        note=(note or "").strip(),
        old_deadline=old_deadline,
        new_deadline=new_deadline,
        data=data,
    )
    return issue


@transaction.atomic
def issue_submit_fix(
    *,
    issue: Issue,
    actor: User,
    photos: Sequence[PreparedPhoto],
    note: str = "",
    client_token: uuid.UUID | None = None,
    observed_at: datetime.datetime | None = None,
) -> Issue:
    """Record the organisation's fix with after-photos and hand the issue to verification.

    A resend of the same phone form (the same client token) records nothing more.
    """
    issue = lock_issue(issue)
    if replayed_event(issue=issue, actor=actor, client_token=client_token) is not None:
        return issue
    transition = require(issue, Action.SUBMIT_FIX, actor)
    check_required(transition, issue, {"photos": photos})
    now = timezone.now()
    from_status = issue.status
    issue.status = transition.target_for(issue.status)
    issue.submitted_at = now
    issue.first_submitted_at = issue.first_submitted_at or now
    issue.last_fix_by = actor
    issue.save(
        update_fields=[
            "status",
            "submitted_at",
            "first_submitted_at",
            "last_fix_by",
            "updated_at",
        ]
    )
    record_event(
        issue=issue,
        actor=actor,
        action=Action.SUBMIT_FIX,
        from_status=from_status,
        now=now,
        note=(note or "").strip(),
        photos=photos,
        photo_kind=Photo.Kind.AFTER,
        observed_at=observation_time(observed_at, now),
        client_token=client_token,
    )
    return issue


# --- verification ----------------------------------------------------------------------------


@transaction.atomic
def issue_verify_pass(
    *,
    issue: Issue,
    actor: User,
    photos: Sequence[PreparedPhoto] = (),
    note: str = "",
    client_token: uuid.UUID | None = None,
    observed_at: datetime.datetime | None = None,
) -> Issue:
    """Accept the fix after checking on site (核查通过) and close the case; a resend is a no-op."""
    issue = lock_issue(issue)
    if replayed_event(issue=issue, actor=actor, client_token=client_token) is not None:
        return issue
    transition = require(issue, Action.VERIFY_PASS, actor)
    now = timezone.now()
    from_status = issue.status
    withdrawn = withdraw_pending_extension(issue, actor, now)
    issue.status = transition.target_for(issue.status)
    issue.verified_at = now
    issue.closed_at = now
    issue.save(update_fields=["status", "verified_at", "closed_at", "updated_at"])
    record_event(
        issue=issue,
        actor=actor,
        action=Action.VERIFY_PASS,
        from_status=from_status,
        now=now,
        note=(note or "").strip(),
        data={"withdrawn_extension": withdrawn} if withdrawn else {},
        photos=photos,
        photo_kind=Photo.Kind.CHECK,
        observed_at=observation_time(observed_at, now),
        client_token=client_token,
    )
    return issue


@transaction.atomic
def issue_verify_fail(
    *,
    issue: Issue,
    actor: User,
    reason: str,
    photos: Sequence[PreparedPhoto] = (),
    client_token: uuid.UUID | None = None,
    observed_at: datetime.datetime | None = None,
) -> Issue:
    """Send the fix back for rework (返工) under the same deadline; a resend is a no-op."""
    issue = lock_issue(issue)
    if replayed_event(issue=issue, actor=actor, client_token=client_token) is not None:
        return issue
    transition = require(issue, Action.VERIFY_FAIL, actor)
    check_required(transition, issue, {"reason": reason})
    now = timezone.now()
    from_status = issue.status
    issue.status = transition.target_for(issue.status)
    issue.verified_at = now
    issue.rework_count += 1
    issue.save(update_fields=["status", "verified_at", "rework_count", "updated_at"])
    record_event(
        issue=issue,
        actor=actor,
        action=Action.VERIFY_FAIL,
        from_status=from_status,
        now=now,
        note=reason.strip(),
        data={"rework_count": issue.rework_count},
        photos=photos,
        photo_kind=Photo.Kind.CHECK,
        observed_at=observation_time(observed_at, now),
        client_token=client_token,
    )
    return issue


# --- parking, cancelling, reopening ----------------------------------------------------------


@transaction.atomic
def issue_park(*, issue: Issue, actor: User, reason: str, review_date: datetime.date) -> Issue:
    """Park a case that cannot be fixed now (挂账); the organisation's clock stops until resumed."""
    issue = lock_issue(issue)
    transition = require(issue, Action.PARK, actor)
    check_required(transition, issue, {"reason": reason, "review_date": review_date})
    now = timezone.now()
    if review_date <= timezone.localdate(now):
        raise ValidationError({"review_date": _("The review date must be after today.")})
    from_status = issue.status
    issue.status = transition.target_for(issue.status)
    issue.parked_at = now
    issue.park_review_date = review_date
    issue.save(update_fields=["status", "parked_at", "park_review_date", "updated_at"])
    record_event(
        issue=issue,
        actor=actor,
        action=Action.PARK,
        from_status=from_status,
        now=now,
        note=reason.strip(),
        data={"review_date": iso(review_date)},
    )
    return issue


@transaction.atomic
def issue_resume(*, issue: Issue, actor: User, note: str = "") -> Issue:
    """Take a parked case up again; its deadline moves by the time it was parked."""
    issue = lock_issue(issue)
    transition = require(issue, Action.RESUME, actor)
    now = timezone.now()
    parked_for = max(now - (issue.parked_at or now), datetime.timedelta(0))
    from_status = issue.status
    old_deadline = issue.deadline
    # Shift the clock's start too, so the timer light measures only the time actually worked.
    if old_deadline is not None:  # parking needs a dispatched case, which has a deadline
        issue.deadline = old_deadline + parked_for
    if issue.clock_started_at is not None:
        issue.clock_started_at += parked_for
    issue.status = transition.target_for(issue.status)
    issue.park_review_date = None
    issue.save(
        update_fields=["status", "deadline", "clock_started_at", "park_review_date", "updated_at"]
    )
    record_event(
        issue=issue,
        actor=actor,
        action=Action.RESUME,
        from_status=from_status,
        now=now,
        note=(note or "").strip(),
        old_deadline=old_deadline,
        new_deadline=issue.deadline,
        data={"parked_seconds": int(parked_for.total_seconds())},
    )
    return issue


@transaction.atomic
def issue_cancel(*, issue: Issue, actor: User, reason: str) -> Issue:
    """Void an open case (作废), e.g. filed by mistake; the record stays."""
    issue = lock_issue(issue)
    transition = require(issue, Action.CANCEL, actor)
    check_required(transition, issue, {"reason": reason})
    now = timezone.now()
    from_status = issue.status
    withdrawn = withdraw_pending_extension(issue, actor, now)
    issue.status = transition.target_for(issue.status)
    issue.cancelled_at = now
    issue.save(update_fields=["status", "cancelled_at", "updated_at"])
    record_event(
        issue=issue,
        actor=actor,
        action=Action.CANCEL,
        from_status=from_status,
        now=now,
        note=reason.strip(),
        data={"withdrawn_extension": withdrawn} if withdrawn else {},
    )
    return issue


@transaction.atomic
def issue_reopen(
    *,
    issue: Issue,
    actor: User,
    note: str = "",
    organisation: Organisation | None = None,
    deadline: datetime.datetime | None = None,
) -> Issue:
    """Reopen a closed case that recurred (复发): assigned again, with a new clock."""
    issue = lock_issue(issue)
    transition = require(issue, Action.REOPEN, actor)
    organisation = check_organisation(organisation or issue.assigned_organisation)
    now = timezone.now()
    new_deadline, source = deadline_or_default(category=issue.category, given=deadline, now=now)
    from_status = issue.status
    previous = issue.assigned_organisation_id
    if organisation.pk != previous:
        issue.assigned_person = None
    issue.status = transition.target_for(issue.status)
    issue.assigned_organisation = organisation
    issue.dispatched_at = issue.dispatched_at or now
    issue.clock_started_at = now
    issue.deadline = new_deadline
    issue.acknowledged_at = None
    issue.submitted_at = None
    issue.verified_at = None
    issue.closed_at = None
    issue.escalation_level = EscalationLevel.NONE
    issue.save(
        update_fields=[
            "status",
            "assigned_organisation",
            "assigned_person",
            "dispatched_at",
            "clock_started_at",
            "deadline",
            "acknowledged_at",
            "submitted_at",
            "verified_at",
            "closed_at",
            "escalation_level",
            "updated_at",
        ]
    )
    record_event(
        issue=issue,
        actor=actor,
        action=Action.REOPEN,
        from_status=from_status,
        now=now,
        note=(note or "").strip(),
        new_deadline=new_deadline,
        data={"from_organisation": previous, "deadline_source": source},
    )
    return issue
