"""Reports and triage: filing (with its case number), dispatch, reject, duplicate, on-spot fix."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, cast

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from districts import policy
from districts.models import Category, Community, InspectionPoint, Organisation, Role, Severity
from districts.routing import route
from issues import calendar, permissions, workflow
from issues.models import (
    DISPATCHED_STATUSES,
    Action,
    CaseCounter,
    Issue,
    Photo,
    Status,
)
from issues.photos import PreparedPhoto
from issues.services.core import (
    check_category,
    check_organisation,
    check_required,
    deadline_or_default,
    lock_issue,
    observation_time,
    record_event,
    require,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User

_SIX_PLACES = Decimal("0.000001")


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
    reporter: User,
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
    observed_at: datetime.datetime | None = None,
) -> Issue:
    """File a report with its before-photos; the same client_token twice files it once.

    `observed_at` is when the phone captured the report (it may reach the server much later,
    from the outbox); `reported_at` is when the server received it.

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

    district = cast(Community, community).district  # None was refused with the errors above
    if not policy.can_report_in(reporter, district.pk):
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
        observed_at=observation_time(observed_at, now) or now,
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

    record_event(
        issue=issue,
        actor=reporter,
        action=Action.REPORT,
        from_status="",
        now=now,
        data={"severity": severity, "point": point.pk if point else None},
        photos=photos,
        observed_at=issue.observed_at,
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
    _dispatch(
        issue,
        transition=require(issue, Action.DISPATCH, None),
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
    transition: workflow.Transition,
    actor: User | None,
    organisation: Organisation | None,
    deadline: datetime.datetime | None,
    assigned_person: User | None,
    note: str,
    now: datetime.datetime,
    data: dict[str, Any] | None = None,
) -> Issue:
    organisation = check_organisation(organisation)
    if assigned_person is not None:
        membership = policy.membership_of(assigned_person)
        if (
            membership is None
            or not assigned_person.is_active
            or membership.role != Role.HANDLER
            or membership.organisation_id != organisation.pk
        ):
            raise ValidationError(
                {"assigned_person": _("The person must be an active handler of that organisation.")}
            )
    new_deadline, source = deadline_or_default(category=issue.category, given=deadline, now=now)
    from_status = issue.status
    issue.status = transition.target_for(issue.status)
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
    record_event(
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
    actor: User,
    organisation: Organisation,
    deadline: datetime.datetime | None = None,
    assigned_person: User | None = None,
    note: str = "",
) -> Issue:
    """File a report and send it to an organisation with a deadline (computed when not given)."""
    issue = lock_issue(issue)
    transition = require(issue, Action.DISPATCH, actor)
    check_required(transition, issue, {"organisation": organisation})
    return _dispatch(
        issue,
        transition=transition,
        actor=actor,
        organisation=organisation,
        deadline=deadline,
        assigned_person=assigned_person,
        note=note,
        now=timezone.now(),
    )


# --- triage ----------------------------------------------------------------------------------


@transaction.atomic
def issue_reject(*, issue: Issue, actor: User, reason: str) -> Issue:
    """Refuse to file a report (不予立案), with the reason the reporter will read."""
    issue = lock_issue(issue)
    transition = require(issue, Action.REJECT, actor)
    check_required(transition, issue, {"reason": reason})
    now = timezone.now()
    from_status = issue.status
    issue.status = transition.target_for(issue.status)
    issue.rejected_at = now
    issue.save(update_fields=["status", "rejected_at", "updated_at"])
    record_event(
        issue=issue,
        actor=actor,
        action=Action.REJECT,
        from_status=from_status,
        now=now,
        note=reason.strip(),
    )
    return issue


@transaction.atomic
def issue_mark_duplicate(
    *, issue: Issue, actor: User, duplicate_of: Issue, note: str = ""
) -> Issue:
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
        issue = lock_issue(issue)
    transition = require(issue, Action.MARK_DUPLICATE, actor)
    check_required(transition, issue, {"duplicate_of": duplicate_of})
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
    issue.status = transition.target_for(issue.status)
    issue.rejected_at = now
    issue.duplicate_of = duplicate_of
    issue.save(update_fields=["status", "rejected_at", "duplicate_of", "updated_at"])
    record_event(
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
    *, issue: Issue, actor: User, photos: Sequence[PreparedPhoto], note: str = ""
) -> Issue:
    """Close the reporter's own small problem fixed there and then (自处置), with after-photos."""
    issue = lock_issue(issue)
    transition = require(issue, Action.FIX_ON_SPOT, actor)
    check_required(transition, issue, {"photos": photos})
    now = timezone.now()
    from_status = issue.status
    issue.status = transition.target_for(issue.status)
    issue.fixed_on_spot = True
    issue.last_fix_by = actor
    issue.closed_at = now
    issue.save(update_fields=["status", "fixed_on_spot", "last_fix_by", "closed_at", "updated_at"])
    record_event(
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
def issue_change_category(
    *, issue: Issue, actor: User, category: Category, note: str = ""
) -> Issue:
    """Correct the category; a running clock gets the new category's deadline from its start."""
    issue = lock_issue(issue)
    transition = require(issue, Action.CHANGE_CATEGORY, actor)
    check_required(transition, issue, {"category": category})
    check_category(category)
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
    record_event(
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
