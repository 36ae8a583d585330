"""The responsibility matrix of a district, its cells (edit in place) and each cell's history.

The whole matrix is built from a fixed number of queries (district, communities, points, sector
categories, assignments in force or scheduled, organisations for the picker), whatever the number
of communities and points; cells are grouped in Python.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from districts import services
from districts.forms import AssignmentForm, EndAssignmentForm
from districts.http import safe_next_url
from districts.models import (
    Category,
    Community,
    District,
    InspectionPoint,
    Organisation,
    OwnerKind,
    Responsibility,
)
from districts.views.access import admin_required, is_htmx

SlotKey = tuple[str, int | None, int | None, int | None, int | None]


@dataclass(frozen=True)
class Slot:
    """One cell's place in the timeline: kind + exactly the place (and category) it covers."""

    kind: str
    district: District | None = None
    community: Community | None = None
    point: InspectionPoint | None = None
    category: Category | None = None

    @property
    def key(self) -> SlotKey:
        return _key(
            self.kind,
            self.district.pk if self.district else None,
            self.community.pk if self.community else None,
            self.point.pk if self.point else None,
            self.category.pk if self.category else None,
        )

    @property
    def anchor(self) -> str:
        parts = [self.kind]
        if self.point:
            parts.append(f"p{self.point.pk}")
        elif self.community:
            parts.append(f"c{self.community.pk}")
        if self.category:
            parts.append(f"k{self.category.pk}")
            parts.append("d" if self.district else "zone")
        elif self.district:
            parts.append("district")
        return "cell-" + "-".join(parts)

    @property
    def query(self) -> str:
        params: dict[str, str | int] = {"kind": self.kind}
        if self.point:
            params["point"] = self.point.pk
        elif self.community:
            params["community"] = self.community.pk
        if self.category:
            params["category"] = self.category.pk
            params["scope"] = "district" if self.district else "zone"
        return urlencode(params)

    @property
    def place_label(self) -> str:
        if self.point:
            return self.point.name
        if self.community:
            return self.community.display_name
        if self.category:
            scope = self.district.display_name if self.district else _("zone-wide")
            return f"{self.category.display_name} · {scope}"
        if self.district:
            return _("%(district)s (whole district)") % {"district": self.district.display_name}
        return ""

    @property
    def kind_label(self) -> str:
        return str(OwnerKind(self.kind).label)

    def filter(self) -> Q:
        return services.responsibility_slot_filter(
            kind=self.kind,
            district=self.district,
            community=self.community,
            point=self.point,
            category=self.category,
        )


def _key(
    kind: str,
    district_id: int | None,
    community_id: int | None,
    point_id: int | None,
    category_id: int | None,
) -> SlotKey:
    return (kind, district_id, community_id, point_id, category_id)


def _row_key(row: Responsibility) -> SlotKey:
    return _key(row.kind, row.district_id, row.community_id, row.point_id, row.category_id)


@dataclass
class Cell:
    """What a cell shows: who is in charge now, who is scheduled, and what applies by default."""

    slot: Slot
    current: list[Responsibility] = field(default_factory=list)
    scheduled: list[Responsibility] = field(default_factory=list)
    inherited: Responsibility | None = None
    inherited_label: str = ""

    @property
    def is_gap(self) -> bool:
        return not self.current and self.inherited is None


def _split(rows: list[Responsibility], on: datetime.date) -> tuple[list, list]:
    current = [row for row in rows if row.valid_from <= on]
    scheduled = [row for row in rows if row.valid_from > on]
    return current, scheduled


def _cell(
    slot: Slot,
    by_slot: dict[SlotKey, list[Responsibility]],
    on: datetime.date,
    *,
    parent: Cell | None = None,
    parent_label: str = "",
) -> Cell:
    current, scheduled = _split(by_slot.get(slot.key, []), on)
    cell = Cell(slot=slot, current=current, scheduled=scheduled)
    if not current and parent is not None:
        source = parent.current[0] if parent.current else parent.inherited
        if source is not None:
            cell.inherited = source
            cell.inherited_label = parent_label if parent.current else parent.inherited_label
    return cell


@dataclass
class PointRow:
    point: InspectionPoint
    paired: Cell


@dataclass
class CommunityRow:
    community: Community
    territorial: Cell
    paired: Cell
    points: list[PointRow] = field(default_factory=list)


@dataclass
class SectorRow:
    category: Category
    zone: Cell
    district: Cell


@dataclass
class Matrix:
    """Every cell of one district's matrix."""

    district: District
    on: datetime.date
    district_cell: Cell
    communities: list[CommunityRow]
    sectors: list[SectorRow]


def _assignments(district: District, on: datetime.date) -> dict[SlotKey, list[Responsibility]]:
    rows = (
        Responsibility.objects.filter(Q(valid_to__isnull=True) | Q(valid_to__gt=on))
        .filter(
            Q(district=district)
            | Q(community__district=district)
            | Q(point__community__district=district)
            | Q(kind=OwnerKind.SECTOR, district__isnull=True)
        )
        .select_related("organisation")
        .order_by("valid_from", "pk")
    )
    by_slot: dict[SlotKey, list[Responsibility]] = defaultdict(list)
    for row in rows:
        by_slot[_row_key(row)].append(row)
    return by_slot


def build_matrix(district: District, on: datetime.date) -> Matrix:
    """The matrix of one district on one day, from a fixed number of queries."""
    communities = list(Community.objects.filter(district=district).order_by("code"))
    points_by_community: dict[int, list[InspectionPoint]] = defaultdict(list)
    for point in (
        InspectionPoint.objects.filter(community__district=district)
        .select_related("point_type")
        .order_by("name", "code")
    ):
        points_by_community[point.community_id].append(point)
    categories = list(Category.objects.filter(is_active=True, owner_kind=OwnerKind.SECTOR))
    by_slot = _assignments(district, on)
    district_label = district.display_name
    district_cell = _cell(Slot(OwnerKind.TERRITORIAL, district=district), by_slot, on)
    rows = []
    for community in communities:
        community.district = district
        paired = _cell(Slot(OwnerKind.PAIRED, community=community), by_slot, on)
        row = CommunityRow(
            community=community,
            territorial=_cell(
                Slot(OwnerKind.TERRITORIAL, community=community),
                by_slot,
                on,
                parent=district_cell,
                parent_label=district_label,
            ),
            paired=paired,
        )
        for point in points_by_community.get(community.pk, []):
            point.community = community
            row.points.append(
                PointRow(
                    point=point,
                    paired=_cell(
                        Slot(OwnerKind.PAIRED, point=point),
                        by_slot,
                        on,
                        parent=paired,
                        parent_label=community.display_name,
                    ),
                )
            )
        rows.append(row)
    sectors = []
    for category in categories:
        zone = _cell(Slot(OwnerKind.SECTOR, category=category), by_slot, on)
        sectors.append(
            SectorRow(
                category=category,
                zone=zone,
                district=_cell(
                    Slot(OwnerKind.SECTOR, district=district, category=category),
                    by_slot,
                    on,
                    parent=zone,
                    parent_label=_("zone-wide"),
                ),
            )
        )
    return Matrix(
        district=district,
        on=on,
        district_cell=district_cell,
        communities=rows,
        sectors=sectors,
    )


def build_cell(district: District, slot: Slot, on: datetime.date) -> Cell:
    """One cell with what it inherits, for the cell page and the htmx swap."""
    by_slot = _assignments(district, on)
    if slot.kind == OwnerKind.TERRITORIAL and slot.community:
        parent = _cell(Slot(OwnerKind.TERRITORIAL, district=district), by_slot, on)
        return _cell(slot, by_slot, on, parent=parent, parent_label=district.display_name)
    if slot.kind == OwnerKind.PAIRED and slot.point:
        community = slot.point.community
        parent = _cell(Slot(OwnerKind.PAIRED, community=community), by_slot, on)
        return _cell(slot, by_slot, on, parent=parent, parent_label=community.display_name)
    if slot.kind == OwnerKind.SECTOR and slot.district:
        parent = _cell(Slot(OwnerKind.SECTOR, category=slot.category), by_slot, on)
        return _cell(slot, by_slot, on, parent=parent, parent_label=_("zone-wide"))
    return _cell(slot, by_slot, on)


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


def _organisations() -> list[Organisation]:
    return list(Organisation.objects.filter(is_active=True).order_by("kind", "code"))


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
    return render(
        request,
        "districts/matrix.html",
        {
            "district": district,
            "districts": District.objects.order_by("sort_order", "code"),
            "matrix": build_matrix(district, on),
            "organisations": _organisations(),
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
                    "districts/includes/matrix_cell.html",
                    {"cell": cell, "district": district, "saved_message": message},
                )
            messages.success(request, message)
            return redirect(f"{reverse('districts:matrix', args=[district.pk])}#{slot.anchor}")
    cell = build_cell(district, slot, timezone.localdate())
    if is_htmx(request):
        return render(
            request,
            "districts/includes/matrix_cell.html",
            {"cell": cell, "district": district, "form": form},
        )
    return render(
        request,
        "districts/cell.html",
        {
            "district": district,
            "cell": cell,
            "form": form,
            "organisations": _organisations(),
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
