"""Side records of a case: extension requests (延期) and their decisions."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from issues.models import (
    Action,
    ExtensionRequest,
    Issue,
)
from issues.services.core import (
    check_required,
    check_within_reason,
    iso,
    lock_issue,
    record_event,
    require,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# --- extensions ------------------------------------------------------------------------------


@transaction.atomic
def extension_request(
    *, issue: Issue, actor: User, reason: str, requested_deadline: datetime.datetime
) -> ExtensionRequest:
    """The organisation asks for a later deadline (延期); one request waits at a time."""
    issue = lock_issue(issue)
    transition = require(issue, Action.REQUEST_EXTENSION, actor)
    check_required(transition, issue, {"reason": reason, "requested_deadline": requested_deadline})
    now = timezone.now()
    check_within_reason(requested_deadline, "requested_deadline", issue.category, now)
    if issue.deadline is not None and requested_deadline <= issue.deadline:
        raise ValidationError(
            {"requested_deadline": _("Ask for a deadline later than the current one.")}
        )
    if issue.extension_requests.filter(status=ExtensionRequest.Status.PENDING).exists():
        raise ValidationError(
            _("An extension request for this case is already waiting for a decision.")
        )
    extension = ExtensionRequest.objects.create(
        issue=issue,
        requested_by=actor,
        reason=reason.strip(),
        requested_deadline=requested_deadline,
        created_at=now,
    )
    record_event(
        issue=issue,
        actor=actor,
        action=Action.REQUEST_EXTENSION,
        from_status=issue.status,
        now=now,
        note=extension.reason,
        data={"extension": extension.pk, "requested_deadline": iso(requested_deadline)},
    )
    return extension


def _lock_extension(extension: ExtensionRequest) -> tuple[Issue, ExtensionRequest]:
    # Always the issue first, then the request: the same order as every other service.
    issue = lock_issue(extension.issue_id)
    extension = ExtensionRequest.objects.select_for_update().get(pk=extension.pk)
    return issue, extension


def _decide(
    extension: ExtensionRequest, actor: User, note: str, status: str, now: datetime.datetime
) -> None:
    if extension.status != ExtensionRequest.Status.PENDING:
        raise ValidationError(
            _("This extension request was already decided (%(status)s)."),
            code="extension_decided",
            params={"status": extension.get_status_display()},
        )
    extension.status = status
    extension.decided_by = actor
    extension.decided_at = now
    extension.decision_note = (note or "").strip()
    extension.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])


@transaction.atomic
def extension_approve(*, extension: ExtensionRequest, actor: User, note: str = "") -> Issue:
    """Grant the requested deadline; the event keeps the old one."""
    issue, extension = _lock_extension(extension)
    require(issue, Action.APPROVE_EXTENSION, actor)
    now = timezone.now()
    if extension.status == ExtensionRequest.Status.PENDING:
        check_within_reason(extension.requested_deadline, "requested_deadline", issue.category, now)
    _decide(extension, actor, note, ExtensionRequest.Status.APPROVED, now)
    old_deadline = issue.deadline
    issue.deadline = extension.requested_deadline
    issue.extension_count += 1
    issue.save(update_fields=["deadline", "extension_count", "updated_at"])
    record_event(
        issue=issue,
        actor=actor,
        action=Action.APPROVE_EXTENSION,
        from_status=issue.status,
        now=now,
        note=extension.decision_note,
        old_deadline=old_deadline,
        new_deadline=issue.deadline,
        data={"extension": extension.pk},
    )
    return issue


@transaction.atomic
def extension_refuse(*, extension: ExtensionRequest, actor: User, note: str = "") -> Issue:
    """Refuse the requested deadline; the current one stands."""
    issue, extension = _lock_extension(extension)
    require(issue, Action.REFUSE_EXTENSION, actor)
    now = timezone.now()
    _decide(extension, actor, note, ExtensionRequest.Status.REFUSED, now)
    issue.save(update_fields=["updated_at"])
    record_event(
        issue=issue,
        actor=actor,
        action=Action.REFUSE_EXTENSION,
        from_status=issue.status,
        now=now,
        note=extension.decision_note,
        data={
            "extension": extension.pk,
            "requested_deadline": iso(extension.requested_deadline),
        },
    )
    return issue
