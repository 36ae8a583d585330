"""Routing: which organisation should own a problem of this category at a place (docs/domain.md §3).

The category's usual owner kind decides where to look first:

- sector: the current sector owner of the category in the community's district, else zone-wide;
- paired: the organisation currently paired with the point, else with the community;
- territorial: the territorial owner of the community, else of its district.

If the preferred kind finds nobody, territorial (community, then district) is the fallback and the
decision says so. Only assignments in force on the given day count; when several match, the most
recently started one wins. Each step of the reasoning is recorded in `steps` for the dispatcher.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from django.db.models import Q
from django.utils.translation import gettext as _

from districts.models import (
    Category,
    Community,
    District,
    InspectionPoint,
    Organisation,
    OwnerKind,
    Responsibility,
)


@dataclass
class RoutingDecision:
    """The suggested owner of a problem, the assignment behind it, and why."""

    organisation: Organisation | None
    responsibility: Responsibility | None
    kind: str | None
    steps: list[str] = field(default_factory=list)
    is_fallback: bool = False

    @property
    def found(self) -> bool:
        return self.organisation is not None

    @property
    def explanation(self) -> str:
        return " ".join(self.steps)


def _candidates(
    *,
    category: Category,
    community: Community,
    point: InspectionPoint | None,
    on: datetime.date | None,
) -> list[Responsibility]:
    """Every assignment in force that any step could pick, newest first, in one query."""
    territorial = Q(kind=OwnerKind.TERRITORIAL) & (
        Q(community=community) | Q(district_id=community.district_id, community__isnull=True)
    )
    wanted = territorial
    if category.owner_kind == OwnerKind.SECTOR:
        wanted |= Q(kind=OwnerKind.SECTOR, category=category) & (
            Q(district_id=community.district_id) | Q(district__isnull=True)
        )
    elif category.owner_kind == OwnerKind.PAIRED:
        paired_place = Q(community=community, point__isnull=True)
        if point is not None:
            paired_place |= Q(point=point)
        wanted |= Q(kind=OwnerKind.PAIRED) & paired_place
    return list(
        Responsibility.objects.current(on)
        .filter(wanted, organisation__is_active=True)
        .select_related("organisation")
        .order_by("-valid_from", "-pk")
    )


def _is_candidate(
    row: Responsibility,
    *,
    category: Category,
    community: Community,
    point: InspectionPoint | None,
) -> bool:
    """`_candidates`' filter in Python, for assignments loaded once for many places."""
    if row.kind == OwnerKind.TERRITORIAL:
        return row.community_id == community.pk or (
            row.district_id == community.district_id and row.community_id is None
        )
    if row.kind == OwnerKind.SECTOR and category.owner_kind == OwnerKind.SECTOR:
        return row.category_id == category.pk and (
            row.district_id == community.district_id or row.district_id is None
        )
    if row.kind == OwnerKind.PAIRED and category.owner_kind == OwnerKind.PAIRED:
        return (row.community_id == community.pk and row.point_id is None) or (
            point is not None and row.point_id == point.pk
        )
    return False


def _first(
    rows: list[Responsibility], predicate: Callable[[Responsibility], bool]
) -> Responsibility | None:
    # Rows arrive newest first, so the first match is the most recent valid_from.
    return next((row for row in rows if predicate(row)), None)


def _decided(
    row: Responsibility, steps: list[str], *, is_fallback: bool = False
) -> RoutingDecision:
    return RoutingDecision(
        organisation=row.organisation,
        responsibility=row,
        kind=row.kind,
        steps=steps,
        is_fallback=is_fallback,
    )


def _route_sector(
    rows: list[Responsibility], category: Category, community: Community, steps: list[str]
) -> RoutingDecision | None:
    names = {"category": category.display_name, "district": community.district.display_name}
    steps.append(_("Category %(category)s is usually owned by its sector department.") % names)
    sector = [row for row in rows if row.kind == OwnerKind.SECTOR]
    local = _first(sector, lambda row: row.district_id == community.district_id)
    if local:
        steps.append(
            _("Sector owner in %(district)s: %(organisation)s.")
            % {**names, "organisation": local.organisation.display_name}
        )
        return _decided(local, steps)
    zone_wide = _first(sector, lambda row: row.district_id is None)
    if zone_wide:
        steps.append(
            _(
                "No current sector owner in %(district)s; "
                "zone-wide sector owner %(organisation)s found."
            )
            % {**names, "organisation": zone_wide.organisation.display_name}
        )
        return _decided(zone_wide, steps)
    steps.append(
        _("No current sector owner of %(category)s, neither in %(district)s nor zone-wide.") % names
    )
    return None


def _route_paired(
    rows: list[Responsibility],
    category: Category,
    community: Community,
    point: InspectionPoint | None,
    steps: list[str],
) -> RoutingDecision | None:
    names = {"category": category.display_name, "community": community.display_name}
    steps.append(
        _("Category %(category)s is usually owned by the organisation paired with the place.")
        % names
    )
    paired = [row for row in rows if row.kind == OwnerKind.PAIRED]
    if point is not None:
        names["point"] = point.name
        at_point = _first(paired, lambda row: row.point_id == point.pk)
        if at_point:
            steps.append(
                _("Paired with point %(point)s: %(organisation)s.")
                % {**names, "organisation": at_point.organisation.display_name}
            )
            return _decided(at_point, steps)
        steps.append(_("No organisation is currently paired with point %(point)s.") % names)
    in_community = _first(
        paired, lambda row: row.community_id == community.pk and row.point_id is None
    )
    if in_community:
        steps.append(
            _("Paired with community %(community)s: %(organisation)s.")
            % {**names, "organisation": in_community.organisation.display_name}
        )
        return _decided(in_community, steps)
    steps.append(_("No organisation is currently paired with %(community)s.") % names)
    return None


def _route_territorial(
    rows: list[Responsibility], community: Community, steps: list[str], *, is_fallback: bool
) -> RoutingDecision:
    names = {"community": community.display_name, "district": community.district.display_name}
    territorial = [row for row in rows if row.kind == OwnerKind.TERRITORIAL]
    own = _first(territorial, lambda row: row.community_id == community.pk)
    if own:
        steps.append(
            _("Territorial owner of %(community)s: %(organisation)s.")
            % {**names, "organisation": own.organisation.display_name}
        )
        return _decided(own, steps, is_fallback=is_fallback)
    district = _first(territorial, lambda row: row.community_id is None)
    if district:
        steps.append(
            _(
                "No territorial owner of %(community)s; "
                "territorial owner of %(district)s: %(organisation)s."
            )
            % {**names, "organisation": district.organisation.display_name}
        )
        return _decided(district, steps, is_fallback=is_fallback)
    steps.append(
        _(
            "No territorial owner of %(community)s or %(district)s: nobody can be suggested. "
            "An admin should assign one."
        )
        % names
    )
    return RoutingDecision(
        organisation=None, responsibility=None, kind=None, steps=steps, is_fallback=is_fallback
    )


def route(
    *,
    category: Category,
    community: Community | None,
    point: InspectionPoint | None = None,
    on: datetime.date | None = None,
    exclude: frozenset[int] = frozenset(),
) -> RoutingDecision:
    """Suggest the owner of a `category` problem at `point` / `community` on day `on` (today).

    Organisations in `exclude` (those that returned the case as not theirs) are skipped, with a
    step saying so, and routing falls back as it would had they no assignment.

    Runs one query for the assignments (plus one for the district if the caller did not load it).
    `is_fallback` is true when the category's usual owner kind found nobody and territorial was
    used instead (also when territorial then found nobody either).
    """
    if community is None:
        if point is None:
            raise ValueError("route() needs a community or a point.")
        community = point.community
    rows = _candidates(category=category, community=community, point=point, on=on)
    return _decide(rows, category=category, community=community, point=point, exclude=exclude)


def _without_excluded(
    rows: list[Responsibility], exclude: frozenset[int], steps: list[str]
) -> list[Responsibility]:
    if not exclude:
        return rows
    skipped: dict[int, str] = {}
    kept = []
    for row in rows:
        if row.organisation_id in exclude:
            skipped.setdefault(row.organisation_id, row.organisation.display_name)
        else:
            kept.append(row)
    for name in skipped.values():
        steps.append(
            _("Skipping %(organisation)s, which returned this case as not theirs.")
            % {"organisation": name}
        )
    return kept


def _decide(
    rows: list[Responsibility],
    *,
    category: Category,
    community: Community,
    point: InspectionPoint | None,
    exclude: frozenset[int] = frozenset(),
) -> RoutingDecision:
    """The decision from the place's candidate assignments, newest first."""
    steps: list[str] = []
    rows = _without_excluded(rows, exclude, steps)
    if category.owner_kind == OwnerKind.SECTOR:
        decision = _route_sector(rows, category, community, steps)
    elif category.owner_kind == OwnerKind.PAIRED:
        decision = _route_paired(rows, category, community, point, steps)
    else:
        steps.append(
            _("Category %(category)s is usually owned by the territorial office of the place.")
            % {"category": category.display_name}
        )
        return _route_territorial(rows, community, steps, is_fallback=False)
    if decision is not None:
        return decision
    steps.append(_("Falling back to the territorial owner."))
    return _route_territorial(rows, community, steps, is_fallback=True)


Place = tuple[Category, Community | None, InspectionPoint | None]


def route_many(
    places: Sequence[Place],
    *,
    on: datetime.date | None = None,
    exclude: Sequence[frozenset[int]] | None = None,
) -> list[RoutingDecision]:
    """`route()` for many (category, community, point) places: the same decisions, in order,
    from two queries at most (the assignments, and districts the caller did not load), so a
    screen that suggests owners for 60 reports does not run 60 queries. `exclude`, if given,
    names for each place the organisations to skip (see `route`)."""
    excluded = list(exclude) if exclude is not None else [frozenset()] * len(places)
    resolved: list[tuple[Category, Community, InspectionPoint | None]] = []
    for category, community, point in places:
        if community is None:
            if point is None:
                raise ValueError("route_many() needs a community or a point for every place.")
            community = point.community
        resolved.append((category, community, point))
    if not resolved:
        return []
    district_field = Community._meta.get_field("district")
    unloaded = [c for _, c, _ in resolved if not district_field.is_cached(c)]
    if unloaded:
        districts = District.objects.in_bulk({community.district_id for community in unloaded})
        for community in unloaded:
            community.district = districts[community.district_id]
    community_ids = {community.pk for _, community, _ in resolved}
    district_ids = {community.district_id for _, community, _ in resolved}
    # One superset of every place's candidates; `_is_candidate` then picks each place's own.
    wanted = Q(
        Q(community_id__in=community_ids) | Q(district_id__in=district_ids, community__isnull=True),
        kind=OwnerKind.TERRITORIAL,
    )
    sector = {c.pk for c, _, _ in resolved if c.owner_kind == OwnerKind.SECTOR}
    if sector:
        wanted |= Q(
            Q(district_id__in=district_ids) | Q(district__isnull=True),
            kind=OwnerKind.SECTOR,
            category_id__in=sector,
        )
    paired = [
        (community, point) for c, community, point in resolved if c.owner_kind == OwnerKind.PAIRED
    ]
    if paired:
        point_ids = {point.pk for _, point in paired if point is not None}
        wanted |= Q(
            Q(community_id__in={community.pk for community, _ in paired}, point__isnull=True)
            | Q(point_id__in=point_ids),
            kind=OwnerKind.PAIRED,
        )
    rows = list(
        Responsibility.objects.current(on)
        .filter(wanted, organisation__is_active=True)
        .select_related("organisation")
        .order_by("-valid_from", "-pk")
    )
    return [
        _decide(
            [
                row
                for row in rows
                if _is_candidate(row, category=category, community=community, point=point)
            ],
            category=category,
            community=community,
            point=point,
            exclude=skip,
        )
        for (category, community, point), skip in zip(resolved, excluded, strict=True)
    ]
