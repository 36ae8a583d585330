"""Escalation (督办): by hand, one case at a time, and by the reminder job, a batch at a time.

Both paths lock the issue rows first and then hand the raises to one writer, `escalations_write`,
so the rules are written once: the level only goes up, each raise is one Escalation row and one
IssueEvent with the same payload, and the job raises a case to a level once per deadline.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from districts import policy
from issues import notifications, stock, workflow
from issues.models import (
    CLOCK_STATUSES,
    Action,
    Escalation,
    EscalationLevel,
    Issue,
    IssueEvent,
)
from issues.services.core import SYSTEM_ROLE, lock_issue, require

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class EscalationRaise(NamedTuple):
    """One issue to raise, as its caller read it under the row lock, and the level it goes to."""

    issue_id: int
    status: str
    previous_level: int
    level: int
    deadline: datetime.datetime | None
    organisation_id: int | None
    note: str = ""
    reminder_id: int | None = None


class ReminderEscalation(NamedTuple):
    """What the reminder job asks: raise this issue to `level`, for this reminder's deadline."""

    issue_id: int
    level: int
    deadline: datetime.datetime
    reminder_id: int


class LockedIssue(NamedTuple):
    """The columns of an issue the job's escalation reads under the lock."""

    pk: int
    status: str
    escalation_level: int
    deadline: datetime.datetime | None
    assigned_organisation_id: int | None


def escalations_write(
    *,
    raises: Sequence[EscalationRaise],
    source: str,
    actor: User | None,
    now: datetime.datetime,
) -> list[IssueEvent]:
    """Write raises of issues the caller has locked: the new level, one Escalation, one event each.

    The level only goes up: a raise that is not above the issue's level is a programming error,
    and the update is a compare-and-swap on `escalation_level < level` that must touch every
    issue. The job's unique (issue, level, deadline) may raise IntegrityError; callers that
    answer a person turn it into a message. Writes no notification: the caller decides who hears.
    """
    if not raises:
        return []
    if source not in Escalation.Source.values:
        raise ValueError(f"Unknown escalation source {source!r}")
    for raise_ in raises:
        if raise_.level <= raise_.previous_level or raise_.level not in EscalationLevel.values:
            raise ValueError(f"Escalation of issue {raise_.issue_id} must go up: {raise_}")
    escalations = Escalation.objects.bulk_create(
        [
            Escalation(
                issue_id=raise_.issue_id,
                level=raise_.level,
                source=source,
                actor=actor,
                deadline=raise_.deadline,
                note=raise_.note,
                created_at=now,
            )
            for raise_ in raises
        ]
    )
    # Ascending levels: an issue raised twice in one call passes through both.
    for level in sorted({raise_.level for raise_ in raises}):
        ids = [raise_.issue_id for raise_ in raises if raise_.level == level]
        raised = Issue.objects.filter(pk__in=ids, escalation_level__lt=level).update(
            escalation_level=level, updated_at=now
        )
        if raised != len(set(ids)):
            raise RuntimeError("Escalated issues must be locked and below the level first.")
    # A bulk update runs no change hook: the home pages' counters are recounted here.
    stock.issues_changed({raise_.issue_id for raise_ in raises})
    role = (policy.role_of(actor) or "") if actor is not None else SYSTEM_ROLE
    return IssueEvent.objects.bulk_create(
        [
            IssueEvent(
                issue_id=raise_.issue_id,
                actor=actor,
                actor_role=role,
                action=Action.ESCALATE,
                from_status=raise_.status,
                to_status=raise_.status,
                note=raise_.note,
                organisation_id=raise_.organisation_id,
                data=escalation_payload(raise_, source=source, escalation=escalation),
                created_at=now,
            )
            for raise_, escalation in zip(raises, escalations, strict=True)
        ]
    )


def escalation_payload(
    raise_: EscalationRaise, *, source: str, escalation: Escalation
) -> dict[str, int | str]:
    """The data of an escalation's event, the same by hand and by the job (plus its reminder)."""
    data: dict[str, int | str] = {
        "level": int(raise_.level),
        "previous_level": int(raise_.previous_level),
        "source": source,
        "escalation": escalation.pk,
    }
    if raise_.reminder_id is not None:
        data["reminder"] = raise_.reminder_id
    return data


@transaction.atomic
def issue_escalate(
    *,
    issue: Issue,
    actor: User | None = None,
    level: int,
    note: str = "",
    source: str = Escalation.Source.MANUAL,
) -> Issue:
    """Raise the case to a higher supervision level (催办, 督办函, 挂牌督办); never lower it.

    `actor` None is the reminder job. Levels only go up, so a job that runs twice, or a
    supervisor and the job at once, record the level once: the row lock serialises them.
    """
    issue = lock_issue(issue)
    require(issue, Action.ESCALATE, actor)
    if source not in Escalation.Source.values:
        raise ValueError(f"Unknown escalation source {source!r}")
    try:
        level = EscalationLevel(int(level))
    except (TypeError, ValueError) as error:
        raise ValidationError({"level": _("Choose an escalation level.")}) from error
    if level == EscalationLevel.NONE:
        raise ValidationError({"level": _("Choose an escalation level.")})
    if level <= issue.escalation_level:
        raise ValidationError(
            {
                "level": ValidationError(
                    _("This case is already at escalation level %(level)s."),
                    code="already_escalated",
                    params={"level": EscalationLevel(issue.escalation_level).label},
                )
            }
        )
    now = timezone.now()
    raise_ = EscalationRaise(
        issue_id=issue.pk,
        status=issue.status,
        previous_level=issue.escalation_level,
        level=level,
        deadline=issue.deadline,
        organisation_id=issue.assigned_organisation_id,
        note=(note or "").strip(),
    )
    try:
        with transaction.atomic():
            [event] = escalations_write(raises=[raise_], source=source, actor=actor, now=now)
    except IntegrityError as error:
        # The job escalates once per level and deadline; a reset level may meet an old row.
        raise ValidationError(
            {"level": _("This case was already escalated to this level for this deadline.")}
        ) from error
    issue.escalation_level = level
    issue.updated_at = now
    event.issue = issue
    notifications.notify_event(event)
    return issue


def issues_escalate_for_reminders(
    *, escalations: Sequence[ReminderEscalation], now: datetime.datetime
) -> int:
    """The reminder job's escalations of one batch: the batch twin of `issue_escalate`.

    Runs in the job's transaction. The issues are locked in id order; an issue is raised only
    while its clock runs, it is still on the reminder's deadline, the level goes up, and the job
    has not raised it to that level for that deadline before (a level lowered by hand and raised
    again must not meet the job's earlier row). Nobody is notified here: the reminder's own
    deliveries carry the news. Returns how many raises were written.
    """
    if not escalations:
        return 0
    transition = workflow.transition_for(Action.ESCALATE)
    if transition.action not in workflow.SYSTEM_ACTIONS:
        raise PermissionDenied(_("This action needs a person to take it."))
    # The job chases running clocks only; the table says which states may be escalated at all.
    statuses = [status for status in transition.sources if status in CLOCK_STATUSES]
    locked = {
        row.pk: row
        for row in (
            LockedIssue(*values)
            for values in Issue.objects.select_for_update()
            .filter(pk__in=sorted({wanted.issue_id for wanted in escalations}), status__in=statuses)
            .order_by("pk")
            .values_list(*LockedIssue._fields)
        )
    }
    done = set(
        Escalation.objects.filter(
            issue_id__in=list(locked),
            level__in={wanted.level for wanted in escalations},
            source=Escalation.Source.JOB,
        ).values_list("issue_id", "level", "deadline")
    )
    current = {pk: row.escalation_level for pk, row in locked.items()}
    raises = []
    for wanted in sorted(escalations, key=lambda wanted: (wanted.level, wanted.issue_id)):
        issue = locked.get(wanted.issue_id)
        if (
            issue is None
            or issue.deadline != wanted.deadline
            or wanted.level <= current[issue.pk]
            or (issue.pk, wanted.level, issue.deadline) in done
        ):
            continue
        raises.append(
            EscalationRaise(
                issue_id=issue.pk,
                status=issue.status,
                previous_level=current[issue.pk],
                level=wanted.level,
                deadline=issue.deadline,
                organisation_id=issue.assigned_organisation_id,
                reminder_id=wanted.reminder_id,
            )
        )
        current[issue.pk] = wanted.level
    escalations_write(raises=raises, source=Escalation.Source.JOB, actor=None, now=now)
    return len(raises)
