"""Coverage check: every kind of seeded gap is found, and nothing covered is reported."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from districts import coverage
from districts.models import Category, OwnerKind, Responsibility, Role
from tests.factories import (
    CategoryFactory,
    CommunityFactory,
    DistrictFactory,
    InspectionPointFactory,
    OrganisationFactory,
    make_staff,
)

LONG_AGO = datetime.date(2020, 1, 1)


@pytest.fixture
def gaps(world):
    """The personas plus one seeded gap of every kind, and look-alikes that are covered."""
    today = timezone.localdate()
    # The shipped taxonomy has sector categories of its own; keep to the ones seeded here.
    Category.objects.exclude(pk=world.category.pk).update(is_active=False)
    district_c = DistrictFactory(zone=world.zone, code="district-c", name="科尔沁街道")
    CommunityFactory(district=district_c, code="orphan")
    # A community whose own territorial assignment ended yesterday.
    ended = CommunityFactory(district=district_c, code="ended")
    org_ended = OrganisationFactory(code="org-ended")
    Responsibility.objects.create(
        kind=OwnerKind.TERRITORIAL,
        organisation=org_ended,
        community=ended,
        valid_from=LONG_AGO,
        valid_to=today,
    )
    # A community covered only by an organisation that has been switched off.
    switched_off = CommunityFactory(district=district_c, code="switched-off")
    org_off = OrganisationFactory(code="org-off", is_active=False)
    Responsibility.objects.create(
        kind=OwnerKind.TERRITORIAL,
        organisation=org_off,
        community=switched_off,
        valid_from=LONG_AGO,
    )
    # Covered directly: not a gap.
    covered = CommunityFactory(district=district_c, code="covered")
    org_c = OrganisationFactory(code="org-c")
    Responsibility.objects.create(
        kind=OwnerKind.TERRITORIAL, organisation=org_c, community=covered, valid_from=LONG_AGO
    )
    make_staff("handler-c", Role.HANDLER, organisation=org_c)

    # Points: point_a covered via its community, a new point paired directly, an inactive one.
    Responsibility.objects.create(
        kind=OwnerKind.PAIRED,
        organisation=world.org_x,
        community=world.community_a,
        valid_from=LONG_AGO,
    )
    paired_point = InspectionPointFactory(community=world.community_b, code="paired-point")
    Responsibility.objects.create(
        kind=OwnerKind.PAIRED, organisation=world.org_y, point=paired_point, valid_from=LONG_AGO
    )
    InspectionPointFactory(community=world.community_b, code="closed-point", is_active=False)
    lonely_point = InspectionPointFactory(community=covered, code="lonely-point")

    # Categories: one without any owner, one owned in a single district only, one zone-wide,
    # one owned in every district, and a territorial one (never a sector gap).
    CategoryFactory(code="MANHOLE_T", owner_kind=OwnerKind.SECTOR)
    partly = CategoryFactory(code="SITE_DUST_T", owner_kind=OwnerKind.SECTOR)
    Responsibility.objects.create(
        kind=OwnerKind.SECTOR,
        organisation=org_c,
        category=partly,
        district=world.district_a,
        valid_from=LONG_AGO,
    )
    zone_wide = CategoryFactory(code="CAR_PARK_T", owner_kind=OwnerKind.SECTOR)
    Responsibility.objects.create(
        kind=OwnerKind.SECTOR, organisation=org_c, category=zone_wide, valid_from=LONG_AGO
    )
    everywhere = CategoryFactory(code="GREEN_T", owner_kind=OwnerKind.SECTOR)
    for district in (world.district_a, world.district_b, district_c):
        Responsibility.objects.create(
            kind=OwnerKind.SECTOR,
            organisation=org_c,
            category=everywhere,
            district=district,
            valid_from=LONG_AGO,
        )
    CategoryFactory(code="TERRITORIAL_T", owner_kind=OwnerKind.TERRITORIAL)

    # Supervisors: district_c has only a disabled one.
    ghost = make_staff("ghost", Role.SUPERVISOR, districts=[district_c])
    ghost.is_active = False
    ghost.save()

    # Organisations: one holding an assignment whose only handler is disabled.
    org_z = OrganisationFactory(code="org-z")
    z_point = InspectionPointFactory(community=world.community_b, code="z-point")
    Responsibility.objects.create(
        kind=OwnerKind.PAIRED, organisation=org_z, point=z_point, valid_from=LONG_AGO
    )
    gone = make_staff("gone", Role.HANDLER, organisation=org_z)
    gone.is_active = False
    gone.save()
    return {
        "district_c": district_c,
        "communities": {"orphan", "ended", "switched-off"},
        "points": {"point-b", "lonely-point"},
        "categories": {"MANHOLE_T": None, "SITE_DUST_T": {"district-b", "district-c"}},
        "organisations": {"org-z", "org-ended"},
        "lonely_point": lonely_point,
    }


def test_coverage_finds_every_seeded_gap(gaps):
    report = coverage.coverage_report()
    assert {c.code for c in report.communities} == gaps["communities"]
    assert report.communities_count == 3
    assert {p.code for p in report.points} == gaps["points"]
    found = {
        gap.category.code: {d.code for d in gap.missing_districts} for gap in report.categories
    }
    assert found.keys() == gaps["categories"].keys()
    assert found["SITE_DUST_T"] == gaps["categories"]["SITE_DUST_T"]
    assert found["MANHOLE_T"] == {"district-a", "district-b", "district-c"}
    assert [d.code for d in report.districts] == ["district-c"]
    # org-ended's assignment ended today, so only org-z holds one without a handler.
    assert {o.code for o in report.organisations} == {"org-z"}
    assert report.total == 3 + 2 + 2 + 1 + 1
    assert coverage.coverage_gap_count() == report.total


def test_coverage_of_supervisors_is_complete_with_an_all_districts_supervisor(gaps):
    make_staff("chief", Role.SUPERVISOR, all_districts=True)
    assert list(coverage.districts_without_supervisor()) == []


def test_coverage_counts_an_assignment_only_while_it_is_in_force(gaps):
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    assert "ended" not in {c.code for c in coverage.communities_without_territorial(yesterday)}


def test_coverage_page_links_every_gap_to_its_fix(gaps, client, world):
    client.force_login(world.admin_zone)
    response = client.get(reverse("districts:coverage"))
    html = response.content.decode()
    district_c = gaps["district_c"]
    matrix_cell = reverse("districts:matrix_cell", args=[district_c.pk])
    for code in gaps["communities"]:
        community = district_c.communities.get(code=code)
        assert f"{matrix_cell}?kind=territorial&amp;community={community.pk}" in html
    assert f"{matrix_cell}?kind=paired&amp;point={gaps['lonely_point'].pk}" in html
    assert (
        f"{reverse('districts:staff_create')}?role=supervisor&amp;districts={district_c.pk}" in html
    )
    assert "?role=handler&amp;organisation=" in html
    assert "scope=zone" in html


def test_coverage_report_runs_a_fixed_number_of_queries(gaps):
    with CaptureQueriesContext(connection) as first:
        coverage.coverage_report()
    for index in range(10):
        community = CommunityFactory(district=gaps["district_c"], code=f"more-{index}")
        InspectionPointFactory(community=community)
    with CaptureQueriesContext(connection) as second:
        coverage.coverage_report()
    assert len(first) == len(second)
