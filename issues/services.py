"""Every change to an issue: one atomic service per action, each writing exactly one IssueEvent.

The pattern of each service: lock the issue row (two clicks, two people or a worker must not both
win), pass `workflow.require` (state, then who may), validate the inputs with field-specific
messages, update the row with `update_fields`, append one event with its photos, and write the
in-app notifications in the same transaction. Nothing outside the database happens here.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from districts.models import Category, Community, InspectionPoint, Organisation, Role, Severity
from districts.routing import route
from issues import calendar, notifications, permissions, workflow
from issues.models import (
    DISPATCHED_STATUSES,
    Action,
    CaseCounter,
    Escalation,
    EscalationLevel,
    ExtensionRequest,
    Issue,
    IssueEvent,
    Photo,
    Status,
)
from issues.photos import PreparedPhoto, attach_photos

_SIX_PLACES = Decimal("0.000001")

_MISSING_INPUT = {
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


# --- helpers -------------------------------------------------------------------------------


def _lock(issue: Issue | int) -> Issue:
    """Re-read the issue under a row lock: whoever waits here sees the winner's result."""
    pk = issue if isinstance(issue, int) else issue.pk
    return Issue.objects.select_for_update().get(pk=pk)


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, Sequence):
        return len(value) == 0
    return False


def _check_required(
    transition: workflow.Transition, issue: Issue, values: Mapping[str, Any]
) -> None:
    """Enforce the table's `requires` for this issue, with one message per missing field."""
    missing = {
        name: _MISSING_INPUT[name]
        for name in sorted(workflow.required_inputs(transition, issue))
        if _is_empty(values.get(name))
    }
    if missing:
        raise ValidationError(missing)


def _check_future(value: datetime.datetime, field: str, now: datetime.datetime) -> None:
    if timezone.is_naive(value):
        raise ValidationError({field: _("Give the time with its time zone.")})
    if value <= now:
        raise ValidationError({field: _("The deadline must be in the future.")})


def _check_organisation(organisation: Organisation | None) -> Organisation:
    if organisation is None:
        raise ValidationError({"organisation": _MISSING_INPUT["organisation"]})
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


def _check_category(category: Category) -> None:
    if not category.is_active:
        raise ValidationError({"category": _("This category is no longer in use.")})


def _deadline(
    *, category: Category, given: datetime.datetime | None, now: datetime.datetime
) -> tuple[datetime.datetime, str]:
    """The given deadline (which must lie ahead) or the category's limit from now."""
    if given is not None:
        _check_future(given, "deadline", now)
        return given, "given"
    return calendar.deadline_for(category, now), "computed"


def _iso(value: datetime.datetime | datetime.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _record(
    *,
    issue: Issue,
    actor,
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
) -> IssueEvent:
    """Append the one event of a change, attach its photos and notify its natural recipients."""
    event = IssueEvent.objects.create(
        issue=issue,
        actor=actor,
        actor_role=(permissions.role_of(actor) or "") if actor is not None else "",
        action=action,
        from_status=from_status,
        to_status=issue.status,
        note=note,
        organisation=organisation if organisation is not None else issue.assigned_organisation,
        old_deadline=old_deadline,
        new_deadline=new_deadline,
        data=data or {},
        created_at=now,
    )
    if photos:
        attach_photos(issue=issue, kind=photo_kind, photos=photos, uploaded_by=actor, event=event)
    notifications.notify_event(event)
    return event


def _withdraw_pending_extension(issue: Issue, actor, now: datetime.datetime) -> int | None:
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


def _coordinate(value: Any, field: str, limit: int) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value)).quantize(_SIX_PLACES, rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError) as error:
        raise ValidationError({field: _("Not a valid coordinate.")}) from error
    if not -limit <= number <= limit:
        raise ValidationError({field: _("Not a valid coordinate.")})
    return number


def _parse_token(client_token: uuid.UUID | str | None) -> uuid.UUID | None:
    if client_token in (None, ""):
        return None
    if isinstance(client_token, uuid.UUID):
        return client_token
    try:
        return uuid.UUID(str(client_token))
    except ValueError as error:
        raise ValidationError({"client_token": _("The form is damaged; reload it.")}) from error


def _issue_for_token(token: uuid.UUID, reporter) -> Issue | None:
    existing = Issue.objects.filter(client_token=token).first()
    if existing is not None and existing.reporter_id != reporter.pk:
        # A token is the reporter's own; never hand someone another person's issue.
        raise ValidationError(_("This form was already used. Reload the page and try again."))
    return existing


def _next_case_number(*, zone_id: int, year: int) -> str:
    """Hand out the next `YYYY-NNNNNN` of the zone and year under the counter's row lock.

    The lock makes parallel reports wait for each other's commit, so numbers stay unique and, as
    the increment rolls back with a failed report, without gaps.
    """
    counter = CaseCounter.objects.select_for_update().filter(zone_id=zone_id, year=year).first()
    if counter is None:
        # Start after any number already present (imported or seeded cases of this year).
        highest = (
            Issue.objects.filter(zone_id=zone_id, year=year, case_number__startswith=f"{year}-")
            .aggregate(highest=Max("case_number"))
            .get("highest")
        )
        start = int(highest.rpartition("-")[2]) if highest and highest[-6:].isdigit() else 0
        try:
            with transaction.atomic():
                CaseCounter.objects.create(zone_id=zone_id, year=year, last_value=start)
        except IntegrityError:
            pass  # another report created it first; its row lock below puts us behind it
        counter = CaseCounter.objects.select_for_update().get(zone_id=zone_id, year=year)
    counter.last_value += 1
    counter.save(update_fields=["last_value"])
    return f"{year}-{counter.last_value:06d}"


# --- create and dispatch ---------------------------------------------------------------------


@transaction.atomic
def issue_create(
    *,
    reporter,
    category: Category,
    description: str = "",
    severity: str | None = None,
    point: InspectionPoint | None = None,
    community: Community | None = None,
    latitude: Decimal | float | None = None,
    longitude: Decimal | float | None = None,
    accuracy_m: float | None = None,
    address: str = "",
    photos: Sequence[PreparedPhoto] = (),
    client_token: uuid.UUID | str | None = None,
) -> Issue:
    """File a report with its before-photos; the same client_token twice files it once.

    District and community come from the point when one is given. When the category dispatches
    automatically and routing finds an organisation, the system dispatches it at once (a second
    event, without an actor).
    """
    token = _parse_token(client_token)
    if token is not None:
        existing = _issue_for_token(token, reporter)
        if existing is not None:
            return existing

    errors: dict[str, Any] = {}
    if point is not None:
        if community is not None and community.pk != point.community_id:
            errors["community"] = _("The inspection point is in another community.")
        if not point.is_active:
            errors["point"] = _("This inspection point is no longer in use.")
        community = point.community
    if community is None:
        errors["community"] = _("Choose the community where the problem is.")
    if not category.is_active:
        errors["category"] = _("This category is no longer in use.")
    severity = severity or category.severity
    if severity not in Severity.values:
        errors["severity"] = _("Choose a severity.")
    if (latitude in (None, "")) != (longitude in (None, "")):
        errors["latitude"] = _("Give both latitude and longitude, or neither.")
    if accuracy_m is not None and accuracy_m < 0:
        errors["accuracy_m"] = _("The accuracy cannot be negative.")
    if errors:
        raise ValidationError(errors)
    latitude = _coordinate(latitude, "latitude", 90)
    longitude = _coordinate(longitude, "longitude", 180)

    district = community.district
    if not permissions.can_report(reporter, district.pk):
        raise PermissionDenied(_("You may not report issues in this district."))

    now = timezone.now()
    year = timezone.localdate(now).year
    issue = Issue(
        zone_id=district.zone_id,
        year=year,
        district=district,
        community=community,
        point=point,
        category=category,
        description=(description or "").strip(),
        severity=severity,
        latitude=latitude,
        longitude=longitude,
        location_accuracy_m=accuracy_m,
        address=(address or "").strip(),
        reporter=reporter,
        status=Status.REPORTED,
        client_token=token,
        reported_at=now,
    )
    try:
        # The savepoint also takes back the case number, so a lost race leaves no gap.
        with transaction.atomic():
            issue.case_number = _next_case_number(zone_id=issue.zone_id, year=year)
            issue.save(force_insert=True)
    except IntegrityError:
        # A double tap of the same form in parallel: the first one's issue is the answer.
        if token is not None:
            existing = _issue_for_token(token, reporter)
            if existing is not None:
                return existing
        raise

    _record(
        issue=issue,
        actor=reporter,
        action=Action.REPORT,
        from_status="",
        now=now,
        data={"severity": severity, "point": point.pk if point else None},
        photos=photos,
        photo_kind=Photo.Kind.BEFORE,
    )
    if category.auto_dispatch:
        _auto_dispatch(issue, now=now)
    return issue


def _auto_dispatch(issue: Issue, *, now: datetime.datetime) -> None:
    """Dispatch a fresh report to the organisation routing picks, if it finds an active one."""
    decision = route(category=issue.category, community=issue.community, point=issue.point)
    organisation = decision.organisation
    if organisation is None or not organisation.is_active:
        return  # stays reported; a supervisor dispatches by hand
    workflow.require(issue, Action.DISPATCH, None)
    _dispatch(
        issue,
        actor=None,
        organisation=organisation,
        deadline=None,
        assigned_person=None,
        note="",
        now=now,
        data={
            "automatic": True,
            "routing": {
                "kind": decision.kind,
                "fallback": decision.is_fallback,
                "steps": [str(step) for step in decision.steps],
            },
        },
    )


def _dispatch(
    issue: Issue,
    *,
    actor,
    organisation: Organisation | None,
    deadline: datetime.datetime | None,
    assigned_person,
    note: str,
    now: datetime.datetime,
    data: dict[str, Any] | None = None,
) -> Issue:
    organisation = _check_organisation(organisation)
    if assigned_person is not None:
        membership = permissions.membership_of(assigned_person)
        if (
            membership is None
            or membership.role != Role.HANDLER
            or membership.organisation_id != organisation.pk
        ):
            raise ValidationError(
                {"assigned_person": _("The person must be a handler of that organisation.")}
            )
    new_deadline, source = _deadline(category=issue.category, given=deadline, now=now)
    from_status = issue.status
    issue.status = Status.ASSIGNED
    issue.assigned_organisation = organisation
    issue.assigned_person = assigned_person
    issue.dispatched_at = now
    issue.clock_started_at = now
    issue.deadline = new_deadline
    issue.save(
        update_fields=[
            "status",
            "assigned_organisation",
            "assigned_person",
            "dispatched_at",
            "clock_started_at",
            "deadline",
            "updated_at",
        ]
    )
    _record(
        issue=issue,
        actor=actor,
        action=Action.DISPATCH,
        from_status=from_status,
        now=now,
        note=(note or "").strip(),
        new_deadline=new_deadline,
        data={"deadline_source": source, **(data or {})},
    )
    return issue


@transaction.atomic
def issue_dispatch(
    *,
    issue: Issue,
    actor,
    organisation: Organisation,
    deadline: datetime.datetime | None = None,
    assigned_person=None,
    note: str = "",
) -> Issue:
    """File a report and send it to an organisation with a deadline (computed when not given)."""
    issue = _lock(issue)
    transition = workflow.require(issue, Action.DISPATCH, actor)
    _check_required(transition, issue, {"organisation": organisation})
    return _dispatch(
        issue,
        actor=actor,
        organisation=organisation,
        deadline=deadline,
        assigned_person=assigned_person,
        note=note,
        now=timezone.now(),
    )


# --- triage ----------------------------------------------------------------------------------


@transaction.atomic
def issue_reject(*, issue: Issue, actor, reason: str) -> Issue:
    """Refuse to file a report (不予立案), with the reason the reporter will read."""
    issue = _lock(issue)
    transition = workflow.require(issue, Action.REJECT, actor)
    _check_required(transition, issue, {"reason": reason})
    now = timezone.now()
    from_status = issue.status
    issue.status = Status.REJECTED
    issue.rejected_at = now
    issue.save(update_fields=["status", "rejected_at", "updated_at"])
    _record(
        issue=issue,
        actor=actor,
        action=Action.REJECT,
        from_status=from_status,
        now=now,
        note=reason.strip(),
    )
    return issue


@transaction.atomic
def issue_mark_duplicate(*, issue: Issue, actor, duplicate_of: Issue, note: str = "") -> Issue:
    """Close a report as a duplicate of another case the actor can see."""
    if duplicate_of is not None and duplicate_of.pk != issue.pk:
        # Lock both, in id order: two supervisors marking A and B as each other's duplicate at
        # once would otherwise make a cycle, and a fixed order cannot deadlock.
        locked = {
            row.pk: row
            for row in Issue.objects.select_for_update()
            .filter(pk__in=[issue.pk, duplicate_of.pk])
            .order_by("pk")
        }
        if duplicate_of.pk not in locked:
            raise ValidationError({"duplicate_of": _("Choose a case you can see.")})
        issue, duplicate_of = locked[issue.pk], locked[duplicate_of.pk]
    else:
        issue = _lock(issue)
    transition = workflow.require(issue, Action.MARK_DUPLICATE, actor)
    _check_required(transition, issue, {"duplicate_of": duplicate_of})
    if duplicate_of.pk == issue.pk:
        raise ValidationError({"duplicate_of": _("A case cannot duplicate itself.")})
    if not permissions.can_view(actor, duplicate_of):
        raise ValidationError({"duplicate_of": _("Choose a case you can see.")})
    if duplicate_of.duplicate_of_id is not None:
        raise ValidationError(
            {
                "duplicate_of": ValidationError(
                    _("That case is itself a duplicate; choose the original one."),
                    code="duplicate_of_duplicate",
                )
            }
        )
    now = timezone.now()
    from_status = issue.status
    issue.status = Status.REJECTED
    issue.rejected_at = now
    issue.duplicate_of = duplicate_of
    issue.save(update_fields=["status", "rejected_at", "duplicate_of", "updated_at"])
    _record(
        issue=issue,
        actor=actor,
        action=Action.MARK_DUPLICATE,
        from_status=from_status,
        now=now,
        note=(note or "").strip(),
        data={"duplicate_of": duplicate_of.pk, "duplicate_of_case": duplicate_of.case_number},
    )
    return issue


@transaction.atomic
def issue_fix_on_spot(
    *, issue: Issue, actor, photos: Sequence[PreparedPhoto], note: str = ""
) -> Issue:
    """Close the reporter's own small problem fixed there and then (自处置), with after-photos."""
    issue = _lock(issue)
    transition = workflow.require(issue, Action.FIX_ON_SPOT, actor)
    _check_required(transition, issue, {"photos": photos})
    now = timezone.now()
    from_status = issue.status
    issue.status = Status.CLOSED
    issue.fixed_on_spot = True
    issue.last_fix_by = actor
    issue.closed_at = now
    issue.save(update_fields=["status", "fixed_on_spot", "last_fix_by", "closed_at", "updated_at"])
    _record(
        issue=issue,
        actor=actor,
        action=Action.FIX_ON_SPOT,
        from_status=from_status,
        now=now,
        note=(note or "").strip(),
        photos=photos,
        photo_kind=Photo.Kind.AFTER,
    )
    return issue


@transaction.atomic
def issue_change_category(*, issue: Issue, actor, category: Category, note: str = "") -> Issue:
    """Correct the category; a running clock gets the new category's deadline from its start."""
    issue = _lock(issue)
    transition = workflow.require(issue, Action.CHANGE_CATEGORY, actor)
    _check_required(transition, issue, {"category": category})
    _check_category(category)
    if category.pk == issue.category_id:
        raise ValidationError({"category": _("The issue already has this category.")})
    now = timezone.now()
    old_category = issue.category
    fields = ["category", "updated_at"]
    issue.category = category
    # The severity follows the category unless someone chose a different one.
    if issue.severity == old_category.severity and issue.severity != category.severity:
        issue.severity = category.severity
        fields.append("severity")
    old_deadline = issue.deadline
    new_deadline = None
    if issue.status in DISPATCHED_STATUSES and issue.clock_started_at is not None:
        new_deadline = calendar.deadline_for(category, issue.clock_started_at)
        issue.deadline = new_deadline
        fields.append("deadline")
    issue.save(update_fields=fields)
    _record(
        issue=issue,
        actor=actor,
        action=Action.CHANGE_CATEGORY,
        from_status=issue.status,
        now=now,
        note=(note or "").strip(),
        old_deadline=old_deadline if new_deadline is not None else None,
        new_deadline=new_deadline,
        data={
            "old_category": old_category.pk,
            "old_category_code": old_category.code,
            "new_category": category.pk,
            "new_category_code": category.code,
            "severity": issue.severity,
        },
    )
    return issue


# --- the organisation's work -----------------------------------------------------------------


@transaction.atomic
def issue_acknowledge(*, issue: Issue, actor, note: str = "") -> Issue:
    """The assigned organisation accepts the case (签收) and starts work."""
    issue = _lock(issue)
    workflow.require(issue, Action.ACKNOWLEDGE, actor)
    now = timezone.now()
    from_status = issue.status
    issue.status = Status.IN_PROGRESS
    issue.acknowledged_at = now
    issue.save(update_fields=["status", "acknowledged_at", "updated_at"])
    _record(
        issue=issue,
        actor=actor,
        action=Action.ACKNOWLEDGE,
        from_status=from_status,
        now=now,
        note=(note or "").strip(),
    )
    return issue


@transaction.atomic
def issue_return(*, issue: Issue, actor, reason: str) -> Issue:
    """The organisation hands the case back as not theirs (回退); it goes back to triage."""
    issue = _lock(issue)
    transition = workflow.require(issue, Action.RETURN, actor)
    _check_required(transition, issue, {"reason": reason})
    now = timezone.now()
    from_status = issue.status
    returning = issue.assigned_organisation
    old_deadline = issue.deadline
    withdrawn = _withdraw_pending_extension(issue, actor, now)
    issue.status = Status.REPORTED
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
    _record(
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
    actor,
    organisation: Organisation,
    deadline: datetime.datetime | None = None,
    note: str = "",
) -> Issue:
    """Send the case to another organisation, whose clock starts now."""
    issue = _lock(issue)
    transition = workflow.require(issue, Action.REASSIGN, actor)
    _check_required(transition, issue, {"organisation": organisation})
    organisation = _check_organisation(organisation)
    if organisation.pk == issue.assigned_organisation_id:
        raise ValidationError(
            {"organisation": _("The case is already assigned to this organisation.")}
        )
    now = timezone.now()
    new_deadline, source = _deadline(category=issue.category, given=deadline, now=now)
    from_status = issue.status
    previous = issue.assigned_organisation_id
    old_deadline = issue.deadline
    withdrawn = _withdraw_pending_extension(issue, actor, now)
    issue.status = Status.ASSIGNED
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
    _record(
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
    *, issue: Issue, actor, photos: Sequence[PreparedPhoto], note: str = ""
) -> Issue:
    """Record the organisation's fix with after-photos and hand the issue to verification."""
    issue = _lock(issue)
    transition = workflow.require(issue, Action.SUBMIT_FIX, actor)
    _check_required(transition, issue, {"photos": photos})
    now = timezone.now()
    from_status = issue.status
    issue.status = Status.SUBMITTED
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
    _record(
        issue=issue,
        actor=actor,
        action=Action.SUBMIT_FIX,
        from_status=from_status,
        now=now,
        note=(note or "").strip(),
        photos=photos,
        photo_kind=Photo.Kind.AFTER,
    )
    return issue


# --- verification ----------------------------------------------------------------------------


@transaction.atomic
def issue_verify_pass(
    *, issue: Issue, actor, photos: Sequence[PreparedPhoto] = (), note: str = ""
) -> Issue:
    """Accept the fix after checking on site (核查通过) and close the case."""
    issue = _lock(issue)
    workflow.require(issue, Action.VERIFY_PASS, actor)
    now = timezone.now()
    from_status = issue.status
    withdrawn = _withdraw_pending_extension(issue, actor, now)
    issue.status = Status.CLOSED
    issue.verified_at = now
    issue.closed_at = now
    issue.save(update_fields=["status", "verified_at", "closed_at", "updated_at"])
    _record(
        issue=issue,
        actor=actor,
        action=Action.VERIFY_PASS,
        from_status=from_status,
        now=now,
        note=(note or "").strip(),
        data={"withdrawn_extension": withdrawn} if withdrawn else {},
        photos=photos,
        photo_kind=Photo.Kind.CHECK,
    )
    return issue


@transaction.atomic
def issue_verify_fail(
    *, issue: Issue, actor, reason: str, photos: Sequence[PreparedPhoto] = ()
) -> Issue:
    """Send the fix back for rework (返工): the organisation works on under the same deadline."""
    issue = _lock(issue)
    transition = workflow.require(issue, Action.VERIFY_FAIL, actor)
    _check_required(transition, issue, {"reason": reason})
    now = timezone.now()
    from_status = issue.status
    issue.status = Status.IN_PROGRESS
    issue.verified_at = now
    issue.rework_count += 1
    issue.save(update_fields=["status", "verified_at", "rework_count", "updated_at"])
    _record(
        issue=issue,
        actor=actor,
        action=Action.VERIFY_FAIL,
        from_status=from_status,
        now=now,
        note=reason.strip(),
        data={"rework_count": issue.rework_count},
        photos=photos,
        photo_kind=Photo.Kind.CHECK,
    )
    return issue


# --- parking, cancelling, reopening ----------------------------------------------------------


@transaction.atomic
def issue_park(*, issue: Issue, actor, reason: str, review_date: datetime.date) -> Issue:
    """Park a case that cannot be fixed now (挂账); the organisation's clock stops until resumed."""
    issue = _lock(issue)
    transition = workflow.require(issue, Action.PARK, actor)
    _check_required(transition, issue, {"reason": reason, "review_date": review_date})
    now = timezone.now()
    if review_date <= timezone.localdate(now):
        raise ValidationError({"review_date": _("The review date must be after today.")})
    from_status = issue.status
    issue.status = Status.PARKED
    issue.parked_at = now
    issue.park_review_date = review_date
    issue.save(update_fields=["status", "parked_at", "park_review_date", "updated_at"])
    _record(
        issue=issue,
        actor=actor,
        action=Action.PARK,
        from_status=from_status,
        now=now,
        note=reason.strip(),
        data={"review_date": _iso(review_date)},
    )
    return issue


@transaction.atomic
def issue_resume(*, issue: Issue, actor, note: str = "") -> Issue:
    """Take a parked case up again; its deadline moves by the time it was parked."""
    issue = _lock(issue)
    workflow.require(issue, Action.RESUME, actor)
    now = timezone.now()
    parked_for = max(now - (issue.parked_at or now), datetime.timedelta(0))
    from_status = issue.status
    old_deadline = issue.deadline
    # Shift the clock's start too, so the timer light measures only the time actually worked.
    issue.deadline = old_deadline + parked_for
    if issue.clock_started_at is not None:
        issue.clock_started_at += parked_for
    issue.status = Status.IN_PROGRESS
    issue.park_review_date = None
    issue.save(
        update_fields=["status", "deadline", "clock_started_at", "park_review_date", "updated_at"]
    )
    _record(
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
def issue_cancel(*, issue: Issue, actor, reason: str) -> Issue:
    """Void an open case (作废), e.g. filed by mistake; the record stays."""
    issue = _lock(issue)
    transition = workflow.require(issue, Action.CANCEL, actor)
    _check_required(transition, issue, {"reason": reason})
    now = timezone.now()
    from_status = issue.status
    withdrawn = _withdraw_pending_extension(issue, actor, now)
    issue.status = Status.CANCELLED
    issue.cancelled_at = now
    issue.save(update_fields=["status", "cancelled_at", "updated_at"])
    _record(
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
    actor,
    note: str = "",
    organisation: Organisation | None = None,
    deadline: datetime.datetime | None = None,
) -> Issue:
    """Reopen a closed case that recurred (复发): assigned again, with a new clock."""
    issue = _lock(issue)
    workflow.require(issue, Action.REOPEN, actor)
    organisation = _check_organisation(organisation or issue.assigned_organisation)
    now = timezone.now()
    new_deadline, source = _deadline(category=issue.category, given=deadline, now=now)
    from_status = issue.status
    previous = issue.assigned_organisation_id
    if organisation.pk != previous:
        issue.assigned_person = None
    issue.status = Status.ASSIGNED
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
    _record(
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


# --- extensions and escalation ---------------------------------------------------------------


@transaction.atomic
def extension_request(
    *, issue: Issue, actor, reason: str, requested_deadline: datetime.datetime
) -> ExtensionRequest:
    """The organisation asks for a later deadline (延期); one request waits at a time."""
    issue = _lock(issue)
    transition = workflow.require(issue, Action.REQUEST_EXTENSION, actor)
    _check_required(transition, issue, {"reason": reason, "requested_deadline": requested_deadline})
    now = timezone.now()
    _check_future(requested_deadline, "requested_deadline", now)
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
    _record(
        issue=issue,
        actor=actor,
        action=Action.REQUEST_EXTENSION,
        from_status=issue.status,
        now=now,
        note=extension.reason,
        data={"extension": extension.pk, "requested_deadline": _iso(requested_deadline)},
    )
    return extension


def _lock_extension(extension: ExtensionRequest) -> tuple[Issue, ExtensionRequest]:
    # Always the issue first, then the request: the same order as every other service.
    issue = _lock(extension.issue_id)
    extension = ExtensionRequest.objects.select_for_update().get(pk=extension.pk)
    return issue, extension


def _decide(extension: ExtensionRequest, actor, note: str, status: str, now) -> None:
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
def extension_approve(*, extension: ExtensionRequest, actor, note: str = "") -> Issue:
    """Grant the requested deadline; the event keeps the old one."""
    issue, extension = _lock_extension(extension)
    workflow.require(issue, Action.APPROVE_EXTENSION, actor)
    now = timezone.now()
    if extension.status == ExtensionRequest.Status.PENDING:
        _check_future(extension.requested_deadline, "requested_deadline", now)
    _decide(extension, actor, note, ExtensionRequest.Status.APPROVED, now)
    old_deadline = issue.deadline
    issue.deadline = extension.requested_deadline
    issue.extension_count += 1
    issue.save(update_fields=["deadline", "extension_count", "updated_at"])
    _record(
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
def extension_refuse(*, extension: ExtensionRequest, actor, note: str = "") -> Issue:
    """Refuse the requested deadline; the current one stands."""
    issue, extension = _lock_extension(extension)
    workflow.require(issue, Action.REFUSE_EXTENSION, actor)
    now = timezone.now()
    _decide(extension, actor, note, ExtensionRequest.Status.REFUSED, now)
    issue.save(update_fields=["updated_at"])
    _record(
        issue=issue,
        actor=actor,
        action=Action.REFUSE_EXTENSION,
        from_status=issue.status,
        now=now,
        note=extension.decision_note,
        data={
            "extension": extension.pk,
            "requested_deadline": _iso(extension.requested_deadline),
        },
    )
    return issue


@transaction.atomic
def issue_escalate(
    *,
    issue: Issue,
    actor=None,
    level: int,
    note: str = "",
    source: str = Escalation.Source.MANUAL,
) -> Issue:
    """Raise the case to a higher supervision level (催办, 督办函, 挂牌督办); never lower it.

    `actor` None is the reminder job. Levels only go up, so a job that runs twice, or a
    supervisor and the job at once, record the level once: the row lock serialises them.
    """
    issue = _lock(issue)
    workflow.require(issue, Action.ESCALATE, actor)
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
    try:
        with transaction.atomic():
            escalation = Escalation.objects.create(
                issue=issue,
                level=level,
                source=source,
                actor=actor,
                deadline=issue.deadline,
                note=(note or "").strip(),
                created_at=now,
            )
    except IntegrityError as error:
        # The job escalates once per level and deadline; a reset level may meet an old row.
        raise ValidationError(
            {"level": _("This case was already escalated to this level for this deadline.")}
        ) from error
    issue.escalation_level = level
    issue.save(update_fields=["escalation_level", "updated_at"])
    _record(
        issue=issue,
        actor=actor,
        action=Action.ESCALATE,
        from_status=issue.status,
        now=now,
        note=escalation.note,
        data={"level": int(level), "source": source, "escalation": escalation.pk},
    )
    return issue
