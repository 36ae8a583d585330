"""Coverage gaps: places, categories and organisations that routing or escalation cannot serve.

Every check is a set-based query (a fixed number per report, whatever the size of the zone);
an assignment counts only while it is in force and its organisation is active, because routing
cannot send work to an organisation that has been switched off.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from districts.models import (
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


def _current(on: datetime.date) -> QuerySet[Responsibility]:
    return Responsibility.objects.current(on).filter(organisation__is_active=True)


def communities_without_territorial(on: datetime.date | None = None) -> QuerySet[Community]:
    """Communities with no territorial organisation, neither their own nor their district's."""
    day = on or timezone.localdate()
    territorial = _current(day).filter(kind=OwnerKind.TERRITORIAL)
    return (
        Community.objects.exclude(Exists(territorial.filter(community=OuterRef("pk"))))
        .exclude(
            Exists(territorial.filter(community__isnull=True, district=OuterRef("district_id")))
        )
        .select_related("district")
        .order_by("district__sort_order", "district__code", "code")
    )


def points_without_paired(on: datetime.date | None = None) -> QuerySet[InspectionPoint]:
    """Active points with no paired organisation, neither their own nor their community's."""
    day = on or timezone.localdate()
    paired = _current(day).filter(kind=OwnerKind.PAIRED)
    return (
        InspectionPoint.objects.active()
        .exclude(Exists(paired.filter(point=OuterRef("pk"))))
        .exclude(Exists(paired.filter(point__isnull=True, community=OuterRef("community_id"))))
        .select_related("community__district", "point_type")
        .order_by("community__district__sort_order", "community__code", "code")
    )


@dataclass(frozen=True)
class CategoryGap:
    """A sector category with no zone-wide owner and no owner in some districts."""

    category: Category
    missing_districts: list[District] = field(default_factory=list)


def categories_without_sector(on: datetime.date | None = None) -> list[CategoryGap]:
    """Active sector categories with no owner zone-wide and none in at least one district."""
    day = on or timezone.localdate()
    categories = list(Category.objects.filter(is_active=True, owner_kind=OwnerKind.SECTOR))
    districts = list(District.objects.all())
    covered: dict[int, set[int | None]] = defaultdict(set)
    for category_id, district_id in (
        _current(day)
        .filter(kind=OwnerKind.SECTOR, category__in=categories)
        .values_list("category_id", "district_id")
    ):
        covered[category_id].add(district_id)
    gaps = []
    for category in categories:
        owners = covered[category.pk]
        if None in owners:
            continue
        missing = [district for district in districts if district.pk not in owners]
        if missing:
            gaps.append(CategoryGap(category=category, missing_districts=missing))
    return gaps


def districts_without_supervisor() -> QuerySet[District]:
    """Districts that no active supervisor covers, by name or through an all-districts scope."""
    supervisors = Membership.objects.filter(role=Role.SUPERVISOR, user__is_active=True)
    if supervisors.filter(all_districts=True).exists():
        return District.objects.none()
    return District.objects.exclude(Exists(supervisors.filter(districts=OuterRef("pk")))).order_by(
        "sort_order", "code"
    )


def organisations_without_handler(on: datetime.date | None = None) -> QuerySet[Organisation]:
    """Active organisations that hold an assignment in force but have no active handler."""
    day = on or timezone.localdate()
    return (
        Organisation.objects.filter(is_active=True)
        .filter(Exists(Responsibility.objects.current(day).filter(organisation=OuterRef("pk"))))
        .exclude(
            Exists(
                Membership.objects.filter(
                    role=Role.HANDLER, user__is_active=True, organisation=OuterRef("pk")
                )
            )
        )
        .order_by("kind", "code")
    )


@dataclass
class CoverageReport:
    """Every gap found on one day; lists are capped at `limit` rows, counts are exact."""

    on: datetime.date
    communities: list[Community]
    communities_count: int
    points: list[InspectionPoint]
    points_count: int
    categories: list[CategoryGap]
    districts: list[District]
    organisations: list[Organisation]
    organisations_count: int

    @property
    def total(self) -> int:
        return (
            self.communities_count
            + self.points_count
            + len(self.categories)
            + len(self.districts)
            + self.organisations_count
        )


def coverage_report(*, on: datetime.date | None = None, limit: int = 500) -> CoverageReport:
    """Collect every kind of gap; a zone with thousands of unpaired points shows the first few."""
    day = on or timezone.localdate()
    communities = communities_without_territorial(day)
    points = points_without_paired(day)
    organisations = organisations_without_handler(day)
    community_list = list(communities[: limit + 1])
    point_list = list(points[: limit + 1])
    organisation_list = list(organisations[: limit + 1])
    return CoverageReport(
        on=day,
        communities=community_list[:limit],
        communities_count=len(community_list)
        if len(community_list) <= limit
        else communities.count(),
        points=point_list[:limit],
        points_count=len(point_list) if len(point_list) <= limit else points.count(),
        categories=categories_without_sector(day),
        districts=list(districts_without_supervisor()),
        organisations=organisation_list[:limit],
        organisations_count=len(organisation_list)
        if len(organisation_list) <= limit
        else organisations.count(),
    )


def coverage_gap_count(on: datetime.date | None = None) -> int:
    """The number of gaps, for the warning on the admin home page."""
    day = on or timezone.localdate()
    return (
        communities_without_territorial(day).count()
        + points_without_paired(day).count()
        + len(categories_without_sector(day))
        + districts_without_supervisor().count()
        + organisations_without_handler(day).count()
    )


__all__ = [
    "CategoryGap",
    "CoverageReport",
    "categories_without_sector",
    "communities_without_territorial",
    "coverage_gap_count",
    "coverage_report",
    "districts_without_supervisor",
    "organisations_without_handler",
    "points_without_paired",
]
