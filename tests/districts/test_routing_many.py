"""Routing many places at once gives route()'s decisions from a fixed number of queries."""

from __future__ import annotations

import datetime
import itertools

import pytest
from django.utils import translation

from districts.models import Community, OwnerKind
from districts.routing import route, route_many
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
def places(world):
    """Every kind of category at places with and without a point, over assignments of every
    shape: zone-wide and per-district sector owners, pairs with points and communities,
    territorial owners of a community, ended, future and inactive ones."""
    sector = CategoryFactory(code="SECTOR_T", owner_kind=OwnerKind.SECTOR)
    lonely_sector = CategoryFactory(code="SECTOR_NOBODY_T", owner_kind=OwnerKind.SECTOR)
    paired = CategoryFactory(code="PAIRED_T", owner_kind=OwnerKind.PAIRED)
    territorial = world.category
    police, local_police, company, office, gone, closed = (
        OrganisationFactory(code=code)
        for code in ("police", "police-b", "company", "office", "gone", "closed")
    )
    closed.is_active = False
    closed.save()
    community_c = CommunityFactory(district=world.district_a, code="community-c")
    point_c = InspectionPointFactory(community=community_c, code="point-c")
    ResponsibilityFactory(kind=OwnerKind.SECTOR, organisation=police, category=sector)
    ResponsibilityFactory(
        kind=OwnerKind.SECTOR, organisation=local_police, category=sector, district=world.district_b
    )
    ResponsibilityFactory(kind=OwnerKind.PAIRED, organisation=company, point=world.point_a)
    ResponsibilityFactory(kind=OwnerKind.PAIRED, organisation=company, community=world.community_b)
    ResponsibilityFactory(kind=OwnerKind.TERRITORIAL, organisation=office, community=community_c)
    ResponsibilityFactory(
        kind=OwnerKind.TERRITORIAL,
        organisation=gone,
        community=world.community_a,
        valid_to=datetime.date(2025, 1, 1),
    )
    ResponsibilityFactory(
        kind=OwnerKind.PAIRED,
        organisation=company,
        point=point_c,
        valid_from=datetime.date(2027, 1, 1),
    )
    ResponsibilityFactory(kind=OwnerKind.PAIRED, organisation=closed, community=community_c)
    categories = [sector, lonely_sector, paired, territorial]
    spots = [
        (world.community_a, None),
        (world.community_a, world.point_a),
        (world.community_b, world.point_b),
        (community_c, point_c),
        (community_c, None),
    ]
    return [
        (category, community, point)
        for category, (community, point) in itertools.product(categories, spots)
    ]


def _same(decision, expected) -> None:
    assert decision.organisation == expected.organisation
    assert decision.responsibility == expected.responsibility
    assert decision.kind == expected.kind
    assert decision.is_fallback == expected.is_fallback
    assert decision.steps == expected.steps


def test_routing_many_places_decides_as_routing_each_place(places):
    decisions = route_many(places, on=TODAY)
    assert len(decisions) == len(places)
    for decision, (category, community, point) in zip(decisions, places, strict=True):
        _same(decision, route(category=category, community=community, point=point, on=TODAY))


def test_routing_many_places_runs_two_queries_or_one_with_districts_loaded(
    places, django_assert_num_queries
):
    fresh = [
        (category, Community.objects.get(pk=community.pk), point)
        for category, community, point in places
    ]
    with django_assert_num_queries(2):
        route_many(fresh, on=TODAY)
    with django_assert_num_queries(1):
        route_many(fresh, on=TODAY)


def test_routing_many_places_derives_the_community_from_a_point(world):
    (decision,) = route_many([(world.category, None, world.point_b)], on=TODAY)
    assert decision.organisation == world.org_y


def test_routing_no_places_runs_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert route_many([]) == []
