"""Staff accounts: list and filter, create, edit role and scope, disable and enable."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from districts import services
from districts.forms import PasswordForm, StaffFilterSet, StaffForm
from districts.http import add_service_error
from districts.inputs import parse_id, parse_ids
from districts.models import AuditEntry, District, Membership, Organisation, Responsibility, Role
from districts.views.access import admin_required

User = get_user_model()
PAGE_SIZE = 50


def _staff_queryset():
    return (
        User.objects.select_related("membership__organisation")
        .prefetch_related("membership__districts")
        .order_by("-is_active", "username")
    )


@admin_required
def staff_list(request: HttpRequest) -> HttpResponse:
    """Every account with role, organisation and scope, filtered; a fixed number of queries."""
    filterset = StaffFilterSet(request.GET or None, queryset=_staff_queryset())
    users = filterset.qs if filterset.is_bound and filterset.is_valid() else _staff_queryset()
    if filterset.is_bound and not filterset.is_valid():
        users = User.objects.none()
    page = Paginator(users, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "districts/staff_list.html",
        {"filterset": filterset, "page": page, "query": query.urlencode()},
    )


def _initial_from_query(request: HttpRequest) -> dict[str, Any]:
    """Prefill from links such as the coverage page's "add a supervisor for this district"."""
    initial: dict[str, Any] = {}
    role = request.GET.get("role")
    if role in Role.values:
        initial["role"] = role
    organisation = parse_id(request.GET.get("organisation"))
    if organisation is not None:
        initial["organisation"] = Organisation.objects.filter(pk=organisation).first()
    districts = parse_ids(request.GET.getlist("districts"))
    if districts:
        initial["districts"] = list(District.objects.filter(pk__in=districts))
    return initial


@admin_required
@require_http_methods(["GET", "POST"])
def staff_create(request: HttpRequest) -> HttpResponse:
    """Create an account with its role and scope."""
    form = StaffForm(request.POST or None, initial=_initial_from_query(request))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = services.staff_create(
                actor=request.user,
                username=data["username"],
                full_name=data["full_name"],
                role=data["role"],
                organisation=data["organisation"],
                districts=data["districts"],
                all_districts=data["all_districts"],
                password=data["password"],
                phone=data["phone"],
                email=data["email"],
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(
                request, _("Account %(username)s created.") % {"username": user.get_username()}
            )
            return redirect("districts:staff_edit", pk=user.pk)
    return render(request, "districts/staff_form.html", {"form": form, "creating": True})


@admin_required
@require_http_methods(["GET", "POST"])
def staff_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Change name, role and scope; disable or enable; see what was changed and by whom."""
    staff = get_object_or_404(_staff_queryset(), pk=pk)
    membership = getattr(staff, "membership", None)
    initial = {
        "full_name": staff.first_name,
        "email": staff.email,
        "role": membership.role if membership else "",
        "organisation": membership.organisation if membership else None,
        "districts": list(membership.districts.all()) if membership else [],
        "all_districts": membership.all_districts if membership else False,
        "phone": membership.phone if membership else "",
    }
    form = StaffForm(request.POST or None, initial=initial, creating=False)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.staff_update(
                actor=request.user,
                user=staff,
                full_name=data["full_name"],
                role=data["role"],
                organisation=data["organisation"],
                districts=data["districts"],
                all_districts=data["all_districts"],
                phone=data["phone"],
                email=data["email"],
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Changes saved."))
            return redirect("districts:staff_edit", pk=staff.pk)
    audit = AuditEntry.objects.filter(object_type="user", object_id=str(staff.pk)).select_related(
        "actor"
    )[:20]
    return render(
        request,
        "districts/staff_form.html",
        {
            "form": form,
            "creating": False,
            "staff": staff,
            "password_form": PasswordForm(),
            "audit": audit,
        },
    )


@admin_required
@require_POST
def staff_disable(request: HttpRequest, pk: int) -> HttpResponse:
    """Disable an account: it can no longer log in and its sessions end; history stays."""
    staff = get_object_or_404(User, pk=pk)
    try:
        services.staff_disable(actor=request.user, user=staff)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request, _("Account %(username)s disabled.") % {"username": staff.get_username()}
        )
    return redirect("districts:staff_edit", pk=staff.pk)


@admin_required
@require_POST
def staff_enable(request: HttpRequest, pk: int) -> HttpResponse:
    """Enable a disabled account with a new password."""
    staff = get_object_or_404(User, pk=pk)
    form = PasswordForm(request.POST)
    if form.is_valid():
        try:
            services.staff_enable(
                actor=request.user, user=staff, password=form.cleaned_data["password"]
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(
                request, _("Account %(username)s enabled.") % {"username": staff.get_username()}
            )
    else:
        messages.error(request, _("Enter a new password."))
    return redirect("districts:staff_edit", pk=staff.pk)


@admin_required
def district_staff(request: HttpRequest, pk: int) -> HttpResponse:
    """The inspectors, supervisors and handlers who work in one district."""
    district = get_object_or_404(District, pk=pk)
    today = timezone.localdate()
    in_scope = Q(membership__all_districts=True) | Q(
        Exists(
            Membership.districts.through.objects.filter(
                membership_id=OuterRef("membership__pk"), district=district
            )
        )
    )
    field_staff = list(
        _staff_queryset()
        .filter(in_scope, membership__role__in=[Role.INSPECTOR, Role.SUPERVISOR])
        .order_by("username")
    )
    # Handlers of organisations based in the district or answering for something in it.
    serving = Responsibility.objects.current(today).filter(
        Q(district=district)
        | Q(community__district=district)
        | Q(point__community__district=district),
        organisation=OuterRef("membership__organisation"),
    )
    handlers = list(
        _staff_queryset()
        .filter(membership__role=Role.HANDLER)
        .filter(Q(membership__organisation__district=district) | Q(Exists(serving)))
        .order_by("membership__organisation__code", "username")
    )
    return render(
        request,
        "districts/district_staff.html",
        {
            "district": district,
            "groups": [
                (
                    _("Supervisors"),
                    [u for u in field_staff if u.membership.role == Role.SUPERVISOR],
                    Role.SUPERVISOR,
                ),
                (
                    _("Inspectors"),
                    [u for u in field_staff if u.membership.role == Role.INSPECTOR],
                    Role.INSPECTOR,
                ),
                (_("Handlers"), handlers, Role.HANDLER),
            ],
            "create_url": reverse("districts:staff_create"),
        },
    )
