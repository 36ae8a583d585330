"""The one policy (districts.policy): admins are zone-wide everywhere; roles come from one place."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.urls import reverse

from districts import policy
from districts.models import Membership, Role
from issues.models import Issue
from tests.factories import IssueFactory, make_staff

User = get_user_model()


def test_policy_refuses_to_create_an_admin_limited_to_one_district(world, client):
    client.force_login(world.admin_zone)
    response = client.post(
        reverse("districts:staff_create"),
        {
            "username": "ada",
            "full_name": "限区管理员",
            "role": Role.ADMIN,
            "districts": [world.district_a.pk],
            "password": "a-long-unusual-passphrase",
            "password_again": "a-long-unusual-passphrase",
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 200
    assert "cannot be limited to districts" in response.content.decode()
    assert not User.objects.filter(username="ada").exists()


def test_policy_refuses_to_limit_an_existing_admin_on_edit(world, client):
    client.force_login(world.admin_zone)
    other = make_staff("ada", Role.ADMIN, all_districts=True)
    response = client.post(
        reverse("districts:staff_edit", args=[other.pk]),
        {"full_name": "x", "role": Role.ADMIN, "districts": [world.district_a.pk]},
    )
    assert response.status_code == 200
    other.membership.refresh_from_db()
    assert other.membership.all_districts


def test_policy_an_admin_created_without_districts_covers_the_whole_zone(world, client):
    client.force_login(world.admin_zone)
    response = client.post(
        reverse("districts:staff_create"),
        {
            "username": "ada",
            "role": Role.ADMIN,
            "password": "a-long-unusual-passphrase",
            "password_again": "a-long-unusual-passphrase",
        },
    )
    assert response.status_code == 302
    assert User.objects.get(username="ada").membership.all_districts


def test_policy_the_database_refuses_an_admin_limited_to_districts(world):
    user = User.objects.create(username="ada")
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(user=user, role=Role.ADMIN, all_districts=False)


@pytest.fixture
def case_in_b(world):
    return IssueFactory(
        zone=world.zone,
        community=world.community_b,
        district=world.district_b,
        category=world.category,
        reporter=world.inspector_binhe,
    )


def test_policy_zone_wide_admin_sees_every_district_on_the_site(world, client, case_in_b):
    client.force_login(world.admin_zone)
    assert client.get(case_in_b.get_absolute_url()).status_code == 200
    listed = client.get(reverse("issues:issue_list") + f"?district={world.district_b.pk}")
    assert case_in_b.case_number in listed.content.decode()


def test_policy_zone_wide_admin_opens_every_district_matrix_and_the_admin_changelist(
    world, client, case_in_b
):
    world.admin_zone.is_staff = True  # as staff_create makes every admin
    world.admin_zone.save()
    client.force_login(world.admin_zone)
    for district in (world.district_a, world.district_b):
        assert client.get(reverse("districts:matrix", args=[district.pk])).status_code == 200
    changelist = client.get(reverse("admin:issues_issue_changelist"))
    assert changelist.status_code == 200
    assert case_in_b.case_number in changelist.content.decode()


def _offered_points(client) -> str:
    """The report form's point picker: what its scoped endpoint offers (the page lists none)."""
    page = client.get(reverse("issues:issue_report")).content.decode()
    assert 'data-picker-url="/pick/point/?reporting=1"' in page
    answer = client.get(reverse("issues:picker", args=["point"]), {"reporting": "1"}).json()
    return " ".join(row["label"] for row in answer["results"])


def test_policy_zone_wide_admin_is_offered_every_district_on_the_report_form(world, client):
    client.force_login(world.admin_zone)
    offered = _offered_points(client)
    assert world.point_a.name in offered
    assert world.point_b.name in offered


def test_policy_a_district_supervisor_is_offered_only_their_points(world, client):
    client.force_login(world.supervisor_xincheng)
    offered = _offered_points(client)
    assert world.point_a.name in offered
    assert world.point_b.name not in offered


@pytest.mark.parametrize(
    ("persona", "expected"),
    [
        ("inspector_xincheng", {"report", "verify"}),
        ("supervisor_xincheng", {"report", "verify", "supervise", "read_dashboards"}),
        ("handler_xincheng", {"handle"}),
        ("leader_zone", {"read_dashboards"}),
        ("admin_zone", {"report", "verify", "supervise", "read_dashboards", "manage_zone"}),
    ],
)
def test_policy_capabilities_follow_the_role(world, persona, expected):
    granted = {
        name for name, allowed in policy.capabilities(getattr(world, persona)).items() if allowed
    }
    assert granted == expected


def test_policy_handlers_marked_all_districts_still_see_only_their_unit(world, case_in_b):
    hal = make_staff("hal", Role.HANDLER, organisation=world.org_y, all_districts=True)
    assert not policy.covers_all_districts(hal)
    assert not policy.covers_district(hal, world.district_b.pk)
    assert not Issue.objects.visible_to(hal).filter(pk=case_in_b.pk).exists()


def test_policy_inactive_and_anonymous_users_have_no_role_and_no_places(world):
    world.supervisor_xincheng.is_active = False
    world.supervisor_xincheng.save()
    assert policy.role_of(world.supervisor_xincheng) is None
    assert not policy.districts_in_scope(world.supervisor_xincheng).exists()
    assert policy.capabilities(None) == dict.fromkeys(policy.capabilities(None), False)
