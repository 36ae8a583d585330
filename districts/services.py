"""Writes to responsibility assignments and staff accounts; each is atomic and audited."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from districts.models import (
    AuditEntry,
    Category,
    Community,
    District,
    InspectionPoint,
    Membership,
    Organisation,
    OwnerKind,
    Responsibility,
    Role,
)

User = get_user_model()


# --- audit -------------------------------------------------------------------------------------


def _msgid(text: Any) -> str | None:
    """The untranslated message of a lazy translation (gettext_lazy), or None for plain text."""
    if isinstance(text, Promise):
        args: tuple[Any, ...] = getattr(text, "_args", ())
        if len(args) == 1 and isinstance(args[0], str):
            return args[0]
    return None


def audit_record(
    *,
    actor: Any,
    action: str,
    object_type: str,
    object_id: Any = "",
    summary: Promise | str,
    summary_params: dict[str, Any] | None = None,
    data: dict | None = None,
) -> AuditEntry:
    """Append one audit row; callers run inside the transaction of the change it records.

    Pass `summary` as a lazy message with `summary_params` (lazy labels welcome): the row keeps
    the text in the writer's language for search, and the message and parameters, so the change
    log reads in each reader's language (`AuditEntry.display_summary`).
    """
    params = summary_params or {}
    data = dict(data or {})
    message = _msgid(summary)
    if message is not None:
        data["_summary"] = {
            "message": message,
            "params": {
                key: {"msgid": _msgid(value)} if _msgid(value) else str(value)
                for key, value in params.items()
            },
        }
    text = str(summary) % {key: str(value) for key, value in params.items()} if params else summary
    return AuditEntry.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        action=action,
        object_type=object_type,
        object_id=str(object_id or ""),
        summary=str(text)[:300],
        data=data,
    )


# --- responsibilities --------------------------------------------------------------------------


def responsibility_slot_filter(
    *,
    kind: str,
    district: District | None = None,
    community: Community | None = None,
    point: InspectionPoint | None = None,
    category: Category | None = None,
) -> Q:
    """The Q that selects every row of one slot (kind + exact place + category), past and future."""
    return Q(
        kind=kind,
        district=district,
        community=community,
        point=point,
        category=category,
    )


def responsibility_validate_slot(
    *,
    kind: str,
    district: District | None,
    community: Community | None,
    point: InspectionPoint | None,
    category: Category | None,
) -> None:
    """Raise ValidationError unless the slot has the shape its kind requires (one place each)."""
    if kind == OwnerKind.TERRITORIAL:
        if category or point:
            raise ValidationError(_("A territorial assignment covers a district or a community."))
        if bool(district) == bool(community):
            raise ValidationError(
                _("A territorial assignment needs exactly one of district or community.")
            )
    elif kind == OwnerKind.PAIRED:
        if category or district:
            raise ValidationError(_("A paired assignment covers a community or a point."))
        if bool(community) == bool(point):
            raise ValidationError(_("A paired assignment needs exactly one of community or point."))
    elif kind == OwnerKind.SECTOR:
        if not category:
            raise ValidationError(_("A sector assignment needs a category."))
        if community or point:
            raise ValidationError(
                _("A sector assignment covers the whole zone or one district, not a community.")
            )
    else:
        raise ValidationError(_("Unknown kind of responsibility."))


def responsibility_plan(
    *,
    slot_rows: Iterable[Responsibility],
    valid_from: datetime.date,
    correction_reason: str = "",
) -> list[Responsibility]:
    """Rows of one slot that a new assignment from `valid_from` ends; raise if one starts later.

    A slot is a timeline without overlaps: an assignment starting before `valid_from` and still
    running then is cut at `valid_from`; one starting on or after it would be rewritten, so the
    change is refused and the admin ends or replaces that row explicitly. Cutting a row from a
    day already past rewrites who answered on those days, so it is refused unless it is an
    explicit correction with a reason, which the history keeps.
    """
    to_end: list[Responsibility] = []
    for row in slot_rows:
        if row.valid_from >= valid_from:
            raise ValidationError(
                _(
                    "%(organisation)s is already assigned here from %(date)s; "
                    "a new assignment must start after that date."
                )
                % {"organisation": row.organisation.display_name, "date": row.valid_from}
            )
        if row.valid_to is None or row.valid_to > valid_from:
            to_end.append(row)
    if to_end and valid_from < timezone.localdate() and not correction_reason.strip():
        raise ValidationError(
            _(
                "%(organisation)s answered for this place on the days since %(date)s; a start date "
                "in the past would rewrite that. Start from today, or give a correction reason."
            )
            % {"organisation": to_end[0].organisation.display_name, "date": valid_from},
            code="backdated",
        )
    return to_end


@transaction.atomic
def responsibility_assign(
    *,
    actor: Any,
    kind: str,
    organisation: Organisation,
    district: District | None = None,
    community: Community | None = None,
    point: InspectionPoint | None = None,
    category: Category | None = None,
    lead_person: str = "",
    lead_phone: str = "",
    valid_from: datetime.date,
    note: str = "",
    correction_reason: str = "",
) -> Responsibility:
    """Make `organisation` answer for the slot from `valid_from`, ending whoever did before.

    History is never rewritten: the previous row keeps its dates and gets `valid_to`,
    `ended_by` and `ended_at`; the new row records who created it.
    """
    responsibility_validate_slot(
        kind=kind, district=district, community=community, point=point, category=category
    )
    if not organisation.is_active:
        raise ValidationError(_("This organisation is inactive."))
    # Lock the slot's rows so two admins editing the same cell cannot both end the same row
    # and leave two overlapping assignments behind.
    slot_rows = list(
        Responsibility.objects.select_for_update()
        .select_related("organisation")
        .filter(
            responsibility_slot_filter(
                kind=kind, district=district, community=community, point=point, category=category
            )
        )
        .order_by("valid_from", "id")
    )
    to_end = responsibility_plan(
        slot_rows=slot_rows, valid_from=valid_from, correction_reason=correction_reason
    )
    now = timezone.now()
    for row in to_end:
        row.valid_to = valid_from
        row.ended_by = actor
        row.ended_at = now
        row.save(update_fields=["valid_to", "ended_by", "ended_at"])
    created = Responsibility.objects.create(
        kind=kind,
        organisation=organisation,
        district=district,
        community=community,
        point=point,
        category=category,
        lead_person=lead_person.strip(),
        lead_phone=lead_phone.strip(),
        valid_from=valid_from,
        note=note.strip(),
        correction_reason=correction_reason.strip() if to_end else "",
        created_by=actor,
        created_at=now,
    )
    audit_record(
        actor=actor,
        action="responsibility_assign",
        object_type="responsibility",
        object_id=created.pk,
        summary=gettext_lazy("Assigned %(organisation)s: %(kind)s %(scope)s from %(date)s"),
        summary_params={
            "organisation": organisation.name,
            "kind": OwnerKind(kind).label,
            "scope": created.scope_label,
            "date": valid_from.isoformat(),
        },
        data={
            "kind": kind,
            "organisation": organisation.code,
            "district": district.code if district else None,
            "community": community.code if community else None,
            "point": point.code if point else None,
            "category": category.code if category else None,
            "lead_person": created.lead_person,
            "lead_phone": created.lead_phone,
            "valid_from": valid_from.isoformat(),
            "ended": [row.pk for row in to_end],
            "correction_reason": created.correction_reason,
        },
    )
    return created


@transaction.atomic
def responsibility_end(
    *, actor: Any, responsibility: Responsibility, valid_to: datetime.date
) -> Responsibility:
    """End an assignment at the start of `valid_to`; an end date may only move earlier."""
    row = (
        Responsibility.objects.select_for_update()
        .select_related("organisation")
        .get(pk=responsibility.pk)
    )
    if valid_to <= row.valid_from:
        raise ValidationError(
            _("The end date must be after the start date (%(date)s).") % {"date": row.valid_from}
        )
    if row.valid_to is not None and row.valid_to <= valid_to:
        raise ValidationError(
            _("This assignment already ends on %(date)s.") % {"date": row.valid_to}
        )
    previous_end = row.valid_to
    row.valid_to = valid_to
    row.ended_by = actor
    row.ended_at = timezone.now()
    row.save(update_fields=["valid_to", "ended_by", "ended_at"])
    audit_record(
        actor=actor,
        action="responsibility_end",
        object_type="responsibility",
        object_id=row.pk,
        summary=gettext_lazy("Ended %(organisation)s: %(kind)s %(scope)s on %(date)s"),
        summary_params={
            "organisation": row.organisation.name,
            "kind": OwnerKind(row.kind).label,
            "scope": row.scope_label,
            "date": valid_to.isoformat(),
        },
        data={
            "valid_to": valid_to.isoformat(),
            "previous_valid_to": previous_end.isoformat() if previous_end else None,
        },
    )
    return row


@transaction.atomic
def responsibility_withdraw(
    *, actor: Any, responsibility: Responsibility, today: datetime.date | None = None
) -> None:
    """Withdraw an assignment that has not started yet, as if it had never been scheduled.

    Nothing that was ever in force changes: the row is removed only while its start is still
    in the future, the audit row keeps all of it, and the assignment it would have ended (the
    one ending exactly on its start) runs on to where the withdrawn one would have ended.
    """
    day = today or timezone.localdate()
    row = (
        Responsibility.objects.select_for_update()
        .select_related("organisation")
        .get(pk=responsibility.pk)
    )
    if row.valid_from <= day:
        raise ValidationError(_("This assignment is already in force; end it instead."))
    slot = responsibility_slot_filter(
        kind=row.kind,
        district=row.district,
        community=row.community,
        point=row.point,
        category=row.category,
    )
    previous = (
        Responsibility.objects.select_for_update()
        .filter(slot, valid_to=row.valid_from, valid_from__lt=row.valid_from)
        .order_by("-valid_from", "-pk")
        .first()
    )
    if previous is not None:
        previous.valid_to = row.valid_to
        if row.valid_to is None:
            previous.ended_by = None
            previous.ended_at = None
        previous.save(update_fields=["valid_to", "ended_by", "ended_at"])
    audit_record(
        actor=actor,
        action="responsibility_withdraw",
        object_type="responsibility",
        object_id=row.pk,
        summary=gettext_lazy(
            "Withdrew %(organisation)s: %(kind)s %(scope)s from %(date)s (not yet in force)"
        ),
        summary_params={
            "organisation": row.organisation.name,
            "kind": OwnerKind(row.kind).label,
            "scope": row.scope_label,
            "date": row.valid_from.isoformat(),
        },
        data={
            "organisation": row.organisation.code,
            "kind": row.kind,
            "district_id": row.district_id,
            "community_id": row.community_id,
            "point_id": row.point_id,
            "category_id": row.category_id,
            "lead_person": row.lead_person,
            "lead_phone": row.lead_phone,
            "valid_from": row.valid_from.isoformat(),
            "valid_to": row.valid_to.isoformat() if row.valid_to else None,
            "created_by": row.created_by_id,
            "created_at": row.created_at.isoformat(),
            "reopened": previous.pk if previous else None,
        },
    )
    row.delete()


# --- staff -------------------------------------------------------------------------------------


def _validate_membership(
    *,
    role: str,
    organisation: Organisation | None,
    districts: Iterable[District],
    all_districts: bool,
) -> None:
    if role not in Role.values:
        raise ValidationError({"role": _("Unknown role.")})
    if role == Role.HANDLER and organisation is None:
        raise ValidationError({"organisation": _("A handler must belong to an organisation.")})
    if role in (Role.INSPECTOR, Role.SUPERVISOR) and not all_districts and not list(districts):
        raise ValidationError(
            {"districts": _("Choose the districts this person works in, or all districts.")}
        )
    if role == Role.ADMIN and not all_districts and list(districts):
        # The zone office answers for everything (districts.policy): no admin is limited.
        raise ValidationError(
            {
                "districts": _(
                    "Admins work for the whole zone and cannot be limited to districts. "
                    "Choose “supervisor” or “leader” for a district's staff."
                )
            }
        )


def _zone_wide(role: str, all_districts: bool) -> bool:
    """Admins always cover all districts (districts.policy); others as chosen."""
    return all_districts or role == Role.ADMIN


def _check_may_manage(actor: Any, user: Any) -> None:
    """Refuse a zone admin who is not a superuser any change to a superuser's account.

    Disabling and re-enabling sets a new password, so without this a zone admin could take over
    a superuser's account, the one power the staff pages never grant.
    """
    if user.is_superuser and not getattr(actor, "is_superuser", False):
        raise PermissionDenied(_("Only a superuser may change a superuser's account."))


def _staff_snapshot(user: Any) -> dict:
    membership = getattr(user, "membership", None)
    return {
        "username": user.get_username(),
        "full_name": user.first_name,
        "email": user.email,
        "is_active": user.is_active,
        "role": membership.role if membership else None,
        "organisation": membership.organisation.code
        if membership and membership.organisation
        else None,
        "districts": sorted(d.code for d in membership.districts.all()) if membership else [],
        "all_districts": membership.all_districts if membership else False,
        "phone": membership.phone if membership else "",
    }


@transaction.atomic
def staff_create(
    *,
    actor: Any,
    username: str,
    full_name: str,
    role: str,
    organisation: Organisation | None = None,
    districts: Iterable[District] = (),
    all_districts: bool = False,
    password: str,
    phone: str = "",
    email: str = "",
) -> Any:
    """Create a staff account with its role and scope; the password must pass the validators."""
    districts = list(districts)
    username = username.strip()
    if not username:
        raise ValidationError({"username": _("Enter a username.")})
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": _("This username is taken.")})
    _validate_membership(
        role=role, organisation=organisation, districts=districts, all_districts=all_districts
    )
    all_districts = _zone_wide(role, all_districts)
    user = User(username=username, first_name=full_name.strip(), email=email.strip())
    try:
        validate_password(password, user)
    except ValidationError as error:
        raise ValidationError({"password": error.messages}) from error
    user.set_password(password)
    # Admins also work in the Django admin for raw reference data.
    user.is_staff = role == Role.ADMIN
    user.save()
    membership = Membership.objects.create(
        user=user,
        role=role,
        organisation=organisation,
        all_districts=all_districts,
        phone=phone.strip(),
    )
    if districts and not all_districts:
        membership.districts.set(districts)
    audit_record(
        actor=actor,
        action="staff_create",
        object_type="user",
        object_id=user.pk,
        summary=gettext_lazy("Created account %(username)s (%(role)s)"),
        summary_params={"username": username, "role": Role(role).label},
        data=_staff_snapshot(user),
    )
    return user


@transaction.atomic
def staff_update(
    *,
    actor: Any,
    user: Any,
    full_name: str,
    role: str,
    organisation: Organisation | None = None,
    districts: Iterable[District] = (),
    all_districts: bool = False,
    phone: str = "",
    email: str = "",
) -> Any:
    """Change a staff member's name, role and scope; the audit row keeps before and after."""
    districts = list(districts)
    user = User.objects.select_for_update().get(pk=user.pk)
    _check_may_manage(actor, user)
    _validate_membership(
        role=role, organisation=organisation, districts=districts, all_districts=all_districts
    )
    all_districts = _zone_wide(role, all_districts)
    before = _staff_snapshot(user)
    membership = getattr(user, "membership", None) or Membership(user=user, role=role)
    if user.is_superuser is False and user.pk == getattr(actor, "pk", None) and role != Role.ADMIN:
        raise ValidationError({"role": _("You cannot remove your own admin role.")})
    user.first_name = full_name.strip()
    user.email = email.strip()
    user.is_staff = user.is_superuser or role == Role.ADMIN
    user.save(update_fields=["first_name", "email", "is_staff"])
    membership.role = role
    membership.organisation = organisation
    membership.all_districts = all_districts
    membership.phone = phone.strip()
    membership.save()
    membership.districts.set([] if all_districts else districts)
    after = _staff_snapshot(user)
    changes = {key: [before[key], after[key]] for key in after if before[key] != after[key]}
    if changes:
        audit_record(
            actor=actor,
            action="staff_update",
            object_type="user",
            object_id=user.pk,
            summary=gettext_lazy("Changed account %(username)s: %(fields)s"),
            summary_params={"username": user.get_username(), "fields": ", ".join(sorted(changes))},
            data={"changes": changes},
        )
    return user


@transaction.atomic
def staff_disable(*, actor: Any, user: Any) -> Any:
    """Disable an account and end every session it has; its history stays untouched.

    Sessions are ended by making the password unusable: Django stores a hash derived from the
    password in every session and refuses a session whose hash no longer matches. That works
    for every session engine (database, cache, signed cookies), costs one row update instead of
    decoding every session in the table, and means a re-enabled account starts with a fresh
    password set by an admin rather than one that may have leaked.
    """
    user = User.objects.select_for_update().get(pk=user.pk)
    _check_may_manage(actor, user)
    if user.pk == getattr(actor, "pk", None):
        raise ValidationError(_("You cannot disable your own account."))
    if not user.is_active:
        return user
    user.is_active = False
    user.set_unusable_password()
    user.save(update_fields=["is_active", "password"])
    audit_record(
        actor=actor,
        action="staff_disable",
        object_type="user",
        object_id=user.pk,
        summary=gettext_lazy("Disabled account %(username)s"),
        summary_params={"username": user.get_username()},
    )
    return user


@transaction.atomic
def staff_enable(*, actor: Any, user: Any, password: str) -> Any:
    """Re-enable a disabled account with a new password (the old one was made unusable)."""
    user = User.objects.select_for_update().get(pk=user.pk)
    _check_may_manage(actor, user)
    if user.is_active:
        return user
    try:
        validate_password(password, user)
    except ValidationError as error:
        raise ValidationError({"password": error.messages}) from error
    user.is_active = True
    user.set_password(password)
    user.save(update_fields=["is_active", "password"])
    audit_record(
        actor=actor,
        action="staff_enable",
        object_type="user",
        object_id=user.pk,
        summary=gettext_lazy("Enabled account %(username)s"),
        summary_params={"username": user.get_username()},
    )
    return user
