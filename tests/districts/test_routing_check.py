"""The routing check page shows exactly what districts.routing.route() decides, and why."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils.translation import override

from districts import services
from districts.models import OwnerKind, Responsibility
from districts.routing import route
from tests.factories import CategoryFactory, OrganisationFactory

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture
def sector_world(world):
    world.traffic = OrganisationFactory(code="jiaojing", name="交警大队", name_en="Traffic police")
    world.parking = CategoryFactory(
        code="CAR_ILLEGAL_PARK_T", name="交通违停", owner_kind=OwnerKind.SECTOR
    )
    Responsibility.objects.create(
        kind=OwnerKind.SECTOR,
        organisation=world.traffic,
        category=world.parking,
        valid_from=datetime.date(2024, 1, 1),
    )
    world.market = CategoryFactory(code="PSA_T", name="公益广告", owner_kind=OwnerKind.PAIRED)
    world.pair = OrganisationFactory(code="gongxin", name="工业和信息化局")
    Responsibility.objects.create(
        kind=OwnerKind.PAIRED,
        organisation=world.pair,
        point=world.point_a,
        valid_from=datetime.date(2024, 1, 1),
    )
    return world


def check(client, world, **params):
    client.force_login(world.admin_zone)
    return client.get(reverse("districts:routing_check"), params, **EN)


@pytest.mark.parametrize(
    ("category", "with_point"),
    [("category", False), ("parking", False), ("market", True), ("market", False)],
)
def test_routing_check_shows_the_decision_and_steps_of_route(
    sector_world, client, category, with_point
):
    world = sector_world
    params = {
        "district": world.district_a.pk,
        "community": world.community_a.pk,
        "category": getattr(world, category).pk,
    }
    if with_point:
        params["point"] = world.point_a.pk
    response = check(client, world, **params)
    assert response.status_code == 200
    decision = response.context["decision"]
    with override("en"):
        expected = route(
            category=getattr(world, category),
            community=world.community_a,
            point=world.point_a if with_point else None,
        )
    assert decision.organisation == expected.organisation
    assert decision.kind == expected.kind
    assert decision.is_fallback == expected.is_fallback
    assert decision.steps == expected.steps
    html = response.content.decode()
    for step in expected.steps:
        assert step in html
    assert expected.organisation.display_name in html


def test_routing_check_on_a_chosen_day_uses_the_assignments_of_that_day(sector_world, client):
    world = sector_world
    services.responsibility_assign(
        actor=world.admin_zone,
        kind=OwnerKind.TERRITORIAL,
        organisation=world.org_y,
        community=world.community_a,
        valid_from=datetime.date(2030, 1, 1),
    )
    params = {
        "community": world.community_a.pk,
        "category": world.category.pk,
    }
    today = check(client, world, **params).context["decision"]
    later = check(client, world, on="2030-02-01", **params).context["decision"]
    assert today.organisation == world.org_x
    assert later.organisation == world.org_y
    with override("en"):
        assert (
            later.steps
            == route(
                category=world.category, community=world.community_a, on=datetime.date(2030, 2, 1)
            ).steps
        )


def test_routing_check_reports_when_nobody_can_be_suggested(sector_world, client):
    world = sector_world
    Responsibility.objects.filter(kind=OwnerKind.TERRITORIAL).delete()
    response = check(client, world, community=world.community_b.pk, category=world.category.pk)
    decision = response.context["decision"]
    assert decision.organisation is None
    assert b"Routing cannot suggest an organisation." in response.content
    with override("en"):
        assert decision.steps == route(category=world.category, community=world.community_b).steps


def test_routing_check_refuses_a_point_of_another_community(sector_world, client):
    world = sector_world
    response = check(
        client,
        world,
        community=world.community_a.pk,
        point=world.point_b.pk,
        category=world.category.pk,
    )
    assert response.context["decision"] is None
    assert "point" in response.context["form"].errors


def test_routing_check_refuses_a_community_outside_the_chosen_district(sector_world, client):
    world = sector_world
    response = check(
        client,
        world,
        district=world.district_b.pk,
        community=world.community_a.pk,
        category=world.category.pk,
    )
    assert response.context["decision"] is None
    assert response.context["form"].errors
