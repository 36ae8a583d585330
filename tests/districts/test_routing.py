"""Routing picks the owner by the category's usual owner kind and the place (docs/domain.md §3)."""

from __future__ import annotations

import datetime

import pytest
from django.utils import translation

from districts.models import Organisation, OwnerKind
from districts.routing import RoutingDecision, route
from tests.factories import (
    CategoryFactory,
    CommunityFactory,
    InspectionPointFactory,
    OrganisationFactory,
    ResponsibilityFactory,
)

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 3, 2)


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def parking(world):
    """交通违停: a sector category, owned zone-wide by 交警大队."""
    category = CategoryFactory(
        code="CAR_ILLEGAL_PARK_T",
        name="交通违停",
        name_en="Illegal car parking",
        owner_kind="sector",
    )
    police = OrganisationFactory(code="police", name="交警大队", name_en="Traffic police")
    ResponsibilityFactory(kind=OwnerKind.SECTOR, organisation=police, category=category)
    return category, police


@pytest.fixture
def psa(world):
    """公益广告缺失: a paired category."""
    return CategoryFactory(
        code="PSA_DAMAGED_T", name="公益广告缺失", name_en="Missing PSA", owner_kind="paired"
    )


def test_routing_sector_category_goes_to_the_zone_wide_department(world, parking):
    category, police = parking
    decision = route(category=category, community=world.community_a, on=TODAY)
    assert isinstance(decision, RoutingDecision)
    assert decision.organisation == police
    assert decision.kind == OwnerKind.SECTOR
    assert decision.is_fallback is False
    assert decision.responsibility.category == category
    assert decision.steps[0] == (
        "Category Illegal car parking is usually owned by its sector department."
    )
    assert "zone-wide sector owner Traffic police found" in decision.steps[-1]


def test_routing_per_district_sector_override_wins_over_zone_wide(world, parking):
    category, police = parking
    brigade = OrganisationFactory(code="police-a", name="交警一中队", name_en="Traffic squad A")
    ResponsibilityFactory(
        kind=OwnerKind.SECTOR, organisation=brigade, category=category, district=world.district_a
    )
    assert route(category=category, community=world.community_a, on=TODAY).organisation == brigade
    # The override is for district A only; district B still goes to the zone-wide owner.
    assert route(category=category, community=world.community_b, on=TODAY).organisation == police


@pytest.mark.usefixtures("parking")
def test_routing_sector_owner_of_another_category_is_not_used(world):
    other = CategoryFactory(owner_kind="sector")
    decision = route(category=other, community=world.community_a, on=TODAY)
    assert decision.organisation == world.org_x
    assert decision.is_fallback is True


def test_routing_paired_point_comes_before_paired_community(world, psa):
    bureau = OrganisationFactory(code="miit", name="开发区工业和信息化局", name_en="MIIT bureau")
    market_company = OrganisationFactory(
        code="market-co", name="市场物业", kind=Organisation.Kind.PROPERTY_COMPANY
    )
    ResponsibilityFactory(kind=OwnerKind.PAIRED, organisation=bureau, community=world.community_a)
    ResponsibilityFactory(kind=OwnerKind.PAIRED, organisation=market_company, point=world.point_a)

    at_point = route(category=psa, community=world.community_a, point=world.point_a, on=TODAY)
    assert at_point.organisation == market_company
    assert at_point.kind == OwnerKind.PAIRED
    assert at_point.is_fallback is False

    other_point = InspectionPointFactory(community=world.community_a)
    elsewhere = route(category=psa, community=world.community_a, point=other_point, on=TODAY)
    assert elsewhere.organisation == bureau
    assert any("No organisation is currently paired with point" in s for s in elsewhere.steps)

    no_point = route(category=psa, community=world.community_a, on=TODAY)
    assert no_point.organisation == bureau


def test_routing_paired_category_without_a_pair_falls_back_to_territorial(world, psa):
    decision = route(category=psa, community=world.community_b, on=TODAY)
    assert decision.organisation == world.org_y
    assert decision.kind == OwnerKind.TERRITORIAL
    assert decision.is_fallback is True
    assert "Falling back to the territorial owner." in decision.steps


def test_routing_territorial_prefers_the_community_over_the_district(world):
    community_office = OrganisationFactory(
        code="c-office", name="水域蓝湾社区居委会", kind=Organisation.Kind.COMMUNITY_OFFICE
    )
    ResponsibilityFactory(
        kind=OwnerKind.TERRITORIAL, organisation=community_office, community=world.community_a
    )
    decision = route(category=world.category, community=world.community_a, on=TODAY)
    assert decision.organisation == community_office
    assert decision.kind == OwnerKind.TERRITORIAL
    assert decision.is_fallback is False

    sibling = CommunityFactory(district=world.district_a)
    decision = route(category=world.category, community=sibling, on=TODAY)
    assert decision.organisation == world.org_x
    assert "territorial owner of" in decision.steps[-1]


def test_routing_sector_category_without_owner_falls_back_to_territorial(world):
    category = CategoryFactory(name="道路积水", name_en="Waterlogging", owner_kind="sector")
    decision = route(category=category, community=world.community_b, on=TODAY)
    assert decision.organisation == world.org_y
    assert decision.is_fallback is True
    assert decision.steps[1] == (
        f"No current sector owner of Waterlogging, neither in {world.district_b.display_name} "
        "nor zone-wide."
    )


def test_routing_reports_a_gap_when_nobody_owns_the_place(world, psa):
    orphan = CommunityFactory()  # a district with no street office assigned
    decision = route(category=psa, community=orphan, on=TODAY)
    assert decision.organisation is None
    assert decision.responsibility is None
    assert decision.kind is None
    assert decision.is_fallback is True
    assert "An admin should assign one." in decision.steps[-1]


def test_routing_ignores_an_ended_assignment_and_a_future_one(world, parking):
    category, police = parking
    old = OrganisationFactory(code="old-squad")
    future = OrganisationFactory(code="future-squad")
    ResponsibilityFactory(
        kind=OwnerKind.SECTOR,
        organisation=old,
        category=category,
        district=world.district_a,
        valid_from=datetime.date(2025, 1, 1),
        valid_to=TODAY,  # exclusive: ended at the start of today
    )
    ResponsibilityFactory(
        kind=OwnerKind.SECTOR,
        organisation=future,
        category=category,
        district=world.district_a,
        valid_from=TODAY + datetime.timedelta(days=1),
    )
    assert route(category=category, community=world.community_a, on=TODAY).organisation == police
    yesterday = TODAY - datetime.timedelta(days=1)
    assert route(category=category, community=world.community_a, on=yesterday).organisation == old
    tomorrow = TODAY + datetime.timedelta(days=1)
    assert route(category=category, community=world.community_a, on=tomorrow).organisation == future


def test_routing_takes_the_most_recent_assignment_when_several_match(world, parking):
    category, _ = parking
    first = OrganisationFactory(code="first")
    second = OrganisationFactory(code="second")
    for organisation, start in (
        (second, datetime.date(2025, 6, 1)),
        (first, datetime.date(2024, 1, 1)),
    ):
        ResponsibilityFactory(
            kind=OwnerKind.SECTOR,
            organisation=organisation,
            category=category,
            district=world.district_a,
            valid_from=start,
        )
    assert route(category=category, community=world.community_a, on=TODAY).organisation == second


def test_routing_ignores_inactive_organisations(world, parking):
    category, police = parking
    police.is_active = False
    police.save()
    decision = route(category=category, community=world.community_a, on=TODAY)
    assert decision.organisation == world.org_x
    assert decision.is_fallback is True


def test_routing_derives_the_community_from_the_point(world):
    decision = route(category=world.category, community=None, point=world.point_b, on=TODAY)
    assert decision.organisation == world.org_y


def test_routing_defaults_to_today(world, parking):
    category, police = parking
    assert route(category=category, community=world.community_a).organisation == police


def test_routing_runs_one_query_when_the_district_is_loaded(
    world, parking, django_assert_num_queries
):
    category, _ = parking
    community = (
        type(world.community_a).objects.select_related("district").get(pk=world.community_a.pk)
    )
    with django_assert_num_queries(1):
        route(category=category, community=community, point=world.point_a, on=TODAY)


def test_routing_steps_are_plain_strings_in_the_active_language(world, parking):
    category, _ = parking
    with translation.override("zh-hans"):
        decision = route(category=category, community=world.community_a, on=TODAY)
    assert all(isinstance(step, str) for step in decision.steps)
