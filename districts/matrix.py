"""The responsibility matrix of a district as a read model: slots, cells and the whole grid.

The whole matrix is built from a fixed number of queries (communities, points, sector categories,
assignments in force or scheduled), whatever the number of communities and points; cells are
grouped in Python. The pages that show and edit it are in `districts.views.matrix`.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Count, Q
from django.utils.translation import gettext as _

from districts import services
from districts.models import (
    Category,
    Community,
    District,
    InspectionPoint,
    OwnerKind,
    Responsibility,
)

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
        # A kind, ids and a scope: words and digits with nothing to quote. `urlencode` quoted
        # each of them anyway, half the cost of a cell on the matrix page (a hundred a page).
        query = f"kind={self.kind}"
        if self.point:
            query += f"&point={self.point.pk}"
        elif self.community:
            query += f"&community={self.community.pk}"
        if self.category:
            query += f"&category={self.category.pk}&scope={'district' if self.district else 'zone'}"
        return query

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
    """The cells of one district's matrix: the district, its communities and sector owners,
    and the points of one community at a time, a page at a time."""

    district: District
    on: datetime.date
    district_cell: Cell
    communities: list[CommunityRow]
    sectors: list[SectorRow]
    community: CommunityRow | None = None
    next_points_after: str | None = None


# Points of the chosen community shown per page: the page never lists a district's points.
POINTS_PAGE = 50


def _assignments(
    district: District, on: datetime.date, *, points: list[int] | None = None
) -> dict[SlotKey, list[Responsibility]]:
    """Assignments in force on `on` or later of the district, its communities, the sector
    owners and, when given, of those points (all of the district's points otherwise)."""
    at_points = Q(point__community__district=district) if points is None else Q(point__in=points)
    rows = (
        Responsibility.objects.filter(Q(valid_to__isnull=True) | Q(valid_to__gt=on))
        .filter(
            Q(district=district)
            | Q(community__district=district)
            | at_points
            | Q(kind=OwnerKind.SECTOR, district__isnull=True)
        )
        .select_related("organisation")
        .order_by("valid_from", "pk")
    )
    by_slot: dict[SlotKey, list[Responsibility]] = defaultdict(list)
    for row in rows:
        by_slot[_row_key(row)].append(row)
    return by_slot


def build_matrix(
    district: District,
    on: datetime.date,
    *,
    community_id: int | None = None,
    points_after: str = "",
) -> Matrix:
    """The matrix of one district on one day, from a fixed number of queries whatever the
    number of points and organisations: each community with its count of points, and the
    points of the community `community_id` (a page of POINTS_PAGE after the code
    `points_after`)."""
    communities = list(
        Community.objects.filter(district=district)
        .annotate(point_count=Count("points"))
        .order_by("code")
    )
    chosen = next((row for row in communities if row.pk == community_id), None)
    points = list(
        InspectionPoint.objects.filter(
            community_id=chosen.pk if chosen else None, code__gt=points_after
        )
        .select_related("point_type")
        .order_by("code")[: POINTS_PAGE + 1]
    )
    next_points_after = points[POINTS_PAGE - 1].code if len(points) > POINTS_PAGE else None
    points = points[:POINTS_PAGE]
    categories = list(Category.objects.filter(is_active=True, owner_kind=OwnerKind.SECTOR))
    by_slot = _assignments(district, on, points=[point.pk for point in points])
    district_label = district.display_name
    district_cell = _cell(Slot(OwnerKind.TERRITORIAL, district=district), by_slot, on)
    rows = []
    chosen_row = None
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
        if community is chosen:
            chosen_row = row
            for point in points:
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
        community=chosen_row,
        next_points_after=next_points_after,
    )


def build_cell(district: District, slot: Slot, on: datetime.date) -> Cell:
    """One cell with what it inherits, for the cell page and the htmx swap."""
    by_slot = _assignments(district, on, points=[slot.point.pk] if slot.point else [])
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
