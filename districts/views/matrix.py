"""The responsibility matrix of a district, its cells (edit in place) and each cell's history.

The grid itself is the read model in `districts.matrix`; these views fetch, check and render.
"""

from __future__ import annotations

import datetime

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from districts import services
from districts.forms import AssignmentForm, EndAssignmentForm
from districts.http import safe_next_url
from districts.inputs import clean_text, parse_id
from districts.matrix import Slot, build_cell, build_matrix
from districts.models import (
    Category,
    Community,
    District,
    InspectionPoint,
    OwnerKind,
    Responsibility,
)
from districts.views.access import admin_required, is_htmx


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def slot_from_request(request: HttpRequest, district: District) -> Slot:
    """The slot named by the query string, inside `district`; 404 for anything else."""
    params = request.GET
    kind = params.get("kind", "")
    community_id = _int(params.get("community"))
    point_id = _int(params.get("point"))
    category_id = _int(params.get("category"))
    if kind == OwnerKind.TERRITORIAL and not point_id and not category_id:
        if community_id:
            community = get_object_or_404(Community, pk=community_id, district=district)
            return Slot(kind, community=community)
        return Slot(kind, district=district)
    if kind == OwnerKind.PAIRED and not category_id:
        if point_id:
            point = get_object_or_404(
                InspectionPoint.objects.select_related("community"),
                pk=point_id,
                community__district=district,
            )
            point.community.district = district
            return Slot(kind, point=point)
        if community_id:
            community = get_object_or_404(Community, pk=community_id, district=district)
            return Slot(kind, community=community)
    if kind == OwnerKind.SECTOR and category_id and not community_id and not point_id:
        category = get_object_or_404(Category, pk=category_id)
        if params.get("scope") == "zone":
            return Slot(kind, category=category)
        return Slot(kind, district=district, category=category)
    raise Http404("No such cell.")


def _day(request: HttpRequest) -> datetime.date:
    raw = request.GET.get("on")
    if raw:
        try:
            return datetime.date.fromisoformat(raw)
        except ValueError:
            pass
    return timezone.localdate()


def cell_url(district: District, slot: Slot) -> str:
    return f"{reverse('districts:matrix_cell', args=[district.pk])}?{slot.query}"


@admin_required
def district_index(request: HttpRequest) -> HttpResponse:
    """The admin tools' home: every district with its matrix and staff, and the tools."""
    from districts.coverage import coverage_gap_count

    districts = District.objects.order_by("sort_order", "code")
    return render(
        request,
        "districts/index.html",
        {"districts": districts, "gap_count": coverage_gap_count()},
    )


@admin_required
def matrix(request: HttpRequest, pk: int) -> HttpResponse:
    """Who answers for what in one district: territorial, paired and sector cells."""
    district = get_object_or_404(District.objects.select_related("zone"), pk=pk)
    on = _day(request)
    # The points of one community at a time, a page at a time: the page never lists every
    # point or organisation (the cells' organisation input is a picker).
    matrix = build_matrix(
        district,
        on,
        community_id=parse_id(request.GET.get("community")),
        points_after=clean_text(request.GET.get("after", ""), max_length=40),
    )
    return render(
        request,
        "districts/matrix.html",
        {
            "district": district,
            "districts": District.objects.order_by("sort_order", "code"),
            "matrix": matrix,
            "on": on,
            "today": timezone.localdate(),
        },
    )


@admin_required
@require_http_methods(["GET", "POST"])
def matrix_cell(request: HttpRequest, pk: int) -> HttpResponse:
    """One cell: GET shows it with its form; POST assigns a new organisation from a day."""
    district = get_object_or_404(District, pk=pk)
    slot = slot_from_request(request, district)
    form = AssignmentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.responsibility_assign(
                actor=request.user,
                kind=slot.kind,
                organisation=form.cleaned_data["organisation"],
                district=slot.district,
                community=slot.community,
                point=slot.point,
                category=slot.category,
                lead_person=form.cleaned_data["lead_person"],
                lead_phone=form.cleaned_data["lead_phone"],
                valid_from=form.cleaned_data["valid_from"],
                note=form.cleaned_data["note"],
                correction_reason=form.cleaned_data["correction_reason"],
            )
        except ValidationError as error:
            form.add_error("valid_from", error)
        else:
            message = _("%(place)s: %(organisation)s from %(date)s.") % {
                "place": slot.place_label,
                "organisation": form.cleaned_data["organisation"].display_name,
                "date": form.cleaned_data["valid_from"].isoformat(),
            }
            if is_htmx(request):
                cell = build_cell(district, slot, timezone.localdate())
                return render(
                    request,
                    "districts/cell_fragment.html",
                    {"cell": cell, "district": district, "saved_message": message},
                )
            messages.success(request, message)
            return redirect(f"{reverse('districts:matrix', args=[district.pk])}#{slot.anchor}")
    cell = build_cell(district, slot, timezone.localdate())
    if is_htmx(request):
        return render(
            request,
            "districts/cell_fragment.html",
            {"cell": cell, "district": district, "form": form},
        )
    return render(
        request,
        "districts/cell.html",
        {
            "district": district,
            "cell": cell,
            "form": form,
        },
    )


@admin_required
def cell_history(request: HttpRequest, pk: int) -> HttpResponse:
    """Every assignment a cell ever had, with who created and ended each and when."""
    district = get_object_or_404(District, pk=pk)
    slot = slot_from_request(request, district)
    rows = list(
        Responsibility.objects.filter(slot.filter())
        .select_related("organisation", "created_by", "ended_by")
        .order_by("-valid_from", "-pk")
    )
    return render(
        request,
        "districts/history.html",
        {
            "district": district,
            "slot": slot,
            "rows": rows,
            "today": timezone.localdate(),
            "end_form": EndAssignmentForm(initial={"valid_to": timezone.localdate()}),
            "back_url": f"{reverse('districts:matrix', args=[district.pk])}#{slot.anchor}",
            "history_url": request.get_full_path(),
        },
    )


@admin_required
@require_POST
def responsibility_end(request: HttpRequest, pk: int) -> HttpResponse:
    """End one assignment at the start of a day; the row and its history stay."""
    responsibility = get_object_or_404(Responsibility, pk=pk)
    form = EndAssignmentForm(request.POST)
    next_url = safe_next_url(request, reverse("districts:index"))
    if form.is_valid():
        try:
            services.responsibility_end(
                actor=request.user,
                responsibility=responsibility,
                valid_to=form.cleaned_data["valid_to"],
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, _("The assignment was ended."))
    else:
        messages.error(request, _("Enter the day the assignment ends."))
    return redirect(next_url)


@admin_required
@require_POST
def responsibility_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    """Withdraw an assignment that has not started yet (a mistyped date, a plan dropped)."""
    responsibility = get_object_or_404(Responsibility, pk=pk)
    next_url = safe_next_url(request, reverse("districts:index"))
    try:
        services.responsibility_withdraw(actor=request.user, responsibility=responsibility)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("The scheduled assignment was withdrawn."))
    return redirect(next_url)
