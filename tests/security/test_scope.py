"""Scope: ids and choices outside a user's scope lead nowhere; no redirect leaves the site."""

from __future__ import annotations

import uuid

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from districts.models import Responsibility
from issues import services
from issues.models import Action, Issue, Notification, Photo, Status
from tests.factories import OrganisationFactory, issue_in, make_staff
from tests.issues.lifecycle_support import jpeg_upload, snapshot

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
EVIL = ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"]


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def act_url(issue: Issue, action: str) -> str:
    return reverse("issues:issue_act", kwargs={"pk": issue.pk, "action": action})


def in_b(world, status: str, **extra) -> Issue:
    return issue_in(
        world,
        status,
        district=world.district_b,
        community=world.community_b,
        reporter=world.inspector_binhe,
        **extra,
    )


# --- form choices ---------------------------------------------------------------------------


def test_report_with_a_community_of_another_district_files_nothing(client, world):
    client.force_login(world.inspector_xincheng)
    response = client.post(
        reverse("issues:issue_report"),
        {
            "category": world.category.pk,
            "community": world.community_b.pk,
            "client_token": str(uuid.uuid4()),
            "photos": [jpeg_upload()],
        },
        **EN,
    )
    assert response.status_code == 200
    assert "community" in response.context["form"].errors
    assert not Issue.objects.exists()


def test_report_at_an_inactive_point_files_nothing(client, world):
    world.point_a.is_active = False
    world.point_a.save()
    client.force_login(world.inspector_xincheng)
    response = client.post(
        reverse("issues:issue_report"),
        {
            "category": world.category.pk,
            "point": world.point_a.pk,
            "client_token": str(uuid.uuid4()),
            "photos": [jpeg_upload()],
        },
    )
    assert "point" in response.context["form"].errors
    assert not Issue.objects.exists()


def test_duplicate_of_a_case_in_another_district_is_not_found(client, world):
    issue = issue_in(world, Status.REPORTED)
    other = in_b(world, Status.REPORTED)
    before = snapshot(issue)
    client.force_login(world.supervisor_xincheng)

    response = client.post(
        act_url(issue, "mark_duplicate"), {"mark_duplicate-duplicate_of": other.case_number}, **EN
    )

    assert response.status_code == 200
    assert "No other issue" in response.content.decode()
    assert snapshot(issue) == before


def test_dispatch_to_an_inactive_organisation_is_refused(client, world):
    issue = issue_in(world, Status.REPORTED)
    retired = OrganisationFactory(is_active=False)
    before = snapshot(issue)
    client.force_login(world.supervisor_xincheng)

    response = client.post(act_url(issue, "dispatch"), {"dispatch-organisation": retired.pk})

    assert response.status_code == 200
    assert "organisation" in response.context["action_forms"][0]["form"].errors
    assert snapshot(issue) == before


def test_bulk_dispatch_to_an_inactive_organisation_dispatches_nothing(client, world):
    issue = issue_in(world, Status.REPORTED)
    retired = OrganisationFactory(is_active=False)
    before = snapshot(issue)
    client.force_login(world.supervisor_xincheng)

    client.post(
        reverse("issues:bulk_dispatch"),
        {"issue": [issue.pk], f"organisation-{issue.pk}": retired.pk},
    )

    assert snapshot(issue) == before


def test_dispatch_to_a_disabled_handler_is_refused(world):
    issue = issue_in(world, Status.REPORTED)
    gone = make_staff("gone", "handler", organisation=world.org_x)
    gone.is_active = False
    gone.save()

    with pytest.raises(ValidationError) as caught:
        services.issue_dispatch(
            issue=issue,
            actor=world.supervisor_xincheng,
            organisation=world.org_x,
            assigned_person=gone,
        )

    assert "assigned_person" in caught.value.message_dict
    issue.refresh_from_db()
    assert issue.status == Status.REPORTED


def test_change_category_to_a_retired_category_is_refused(client, world):
    issue = issue_in(world, Status.REPORTED)
    retired = type(world.category).objects.create(
        code="RETIRED_T",
        name="停用类别",
        big_class=world.category.big_class,
        severity=world.category.severity,
        limit_value=1,
        limit_unit="H",
        owner_kind=world.category.owner_kind,
        is_active=False,
    )
    before = snapshot(issue)
    client.force_login(world.supervisor_xincheng)

    client.post(act_url(issue, "change_category"), {"change_category-category": retired.pk})

    assert snapshot(issue) == before


# --- ids outside scope ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "persona", ["supervisor_xincheng", "inspector_xincheng", "handler_xincheng"]
)
def test_every_issue_view_answers_404_for_an_issue_outside_scope(client, world, persona):
    """Every view that names an issue or its photo: the page, each action, the photo and thumb.

    tests/test_url_matrix.py walks every URL for every persona with GET; this adds the POSTs.
    """
    other = in_b(world, Status.ASSIGNED, assigned_organisation=world.org_y)
    photo = Photo.objects.create(
        issue=other,
        kind=Photo.Kind.BEFORE,
        image="photos/test/scope.jpg",
        thumbnail="thumbs/test/scope.jpg",
        width=32,
        height=24,
        size_bytes=100,
        sha256="0" * 64,
        uploaded_by=world.inspector_binhe,
    )
    client.force_login(getattr(world, persona))
    assert client.get(other.get_absolute_url()).status_code == 404
    assert client.get(reverse("issues:photo", args=[photo.pk])).status_code == 404
    assert client.get(reverse("issues:photo_thumb", args=[photo.pk])).status_code == 404
    before = snapshot(other)
    for action in Action.values:
        response = client.post(act_url(other, action), {"note": "x"})
        assert (action, response.status_code) == (action, 404)
    assert snapshot(other) == before


def test_notifications_of_another_user_cannot_be_marked_read(client, world):
    issue = issue_in(world, Status.REPORTED)
    notice = Notification.objects.create(
        user=world.supervisor_xincheng, issue=issue, kind="x", title="t"
    )
    client.force_login(world.inspector_xincheng)

    response = client.post(reverse("issues:notification_read", args=[notice.pk]))

    assert response.status_code == 404
    notice.refresh_from_db()
    assert notice.read_at is None


def test_nearby_points_never_offer_a_point_outside_scope(client, world):
    # point_b lies 4.8 km away; put it next to point_a to prove scope, not distance, hides it.
    world.point_b.latitude, world.point_b.longitude = (
        world.point_a.latitude,
        world.point_a.longitude,
    )
    world.point_b.save()
    client.force_login(world.inspector_xincheng)

    response = client.get(
        reverse("issues:nearby_points"),
        {"lat": str(world.point_a.latitude), "lng": str(world.point_a.longitude), "format": "json"},
    )

    ids = [point["id"] for point in response.json()["points"]]
    assert world.point_a.pk in ids
    assert world.point_b.pk not in ids


def test_csv_export_of_a_handler_holds_only_their_organisations_cases(client, world):
    mine = issue_in(world, Status.ASSIGNED)
    theirs = in_b(world, Status.ASSIGNED, assigned_organisation=world.org_y)
    client.force_login(world.handler_xincheng)

    response = client.get(reverse("issues:issue_export"))

    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert mine.case_number in text
    assert theirs.case_number not in text


def test_admin_tools_refuse_everyone_but_admins(client, world):
    responsibility = Responsibility.objects.filter(organisation=world.org_x).get()
    for persona in ("supervisor_xincheng", "leader_zone", "handler_xincheng"):
        client.force_login(getattr(world, persona))
        assert client.get(reverse("districts:index")).status_code == 403
        assert client.get(reverse("districts:export"), {"format": "xlsx"}).status_code == 403
        response = client.post(
            reverse("districts:responsibility_withdraw", args=[responsibility.pk])
        )
        assert response.status_code == 403
    assert Responsibility.objects.filter(pk=responsibility.pk).exists()


# --- redirects --------------------------------------------------------------------------------


@pytest.mark.parametrize("target", EVIL)
def test_action_next_outside_the_site_falls_back_to_the_issue(client, world, target):
    issue = issue_in(world, Status.REPORTED)
    client.force_login(world.supervisor_xincheng)

    response = client.post(act_url(issue, "reject"), {"reject-reason": "不属实", "next": target})

    assert response.status_code == 302
    assert response["Location"] == issue.get_absolute_url()


@pytest.mark.parametrize("target", EVIL)
def test_matrix_next_outside_the_site_falls_back_to_the_tools(client, world, target):
    responsibility = Responsibility.objects.filter(organisation=world.org_x).get()
    client.force_login(world.admin_zone)

    response = client.post(
        reverse("districts:responsibility_withdraw", args=[responsibility.pk]), {"next": target}
    )

    assert response["Location"] == reverse("districts:index")


@pytest.mark.parametrize("target", EVIL)
def test_language_switch_never_redirects_off_the_site(client, world, target):
    client.force_login(world.inspector_xincheng)

    response = client.post(reverse("set_language"), {"language": "en", "next": target})

    assert response.status_code == 302
    assert "evil.example" not in response["Location"]
    assert not response["Location"].startswith("javascript:")


@pytest.mark.parametrize("target", EVIL)
def test_login_never_redirects_off_the_site(client, world, target):
    response = client.post(
        reverse("login"), {"username": "inspector_xincheng", "password": "password", "next": target}
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("home")


def test_state_changes_refuse_get(client, world):
    issue = issue_in(world, Status.SUBMITTED)
    notice = Notification.objects.create(
        user=world.supervisor_xincheng, issue=issue, kind="x", title="t"
    )
    client.force_login(world.supervisor_xincheng)
    for url in (
        act_url(issue, "verify_pass"),
        reverse("issues:bulk_dispatch"),
        reverse("issues:notification_read", args=[notice.pk]),
        reverse("issues:notification_read_all"),
        reverse("set_language"),
    ):
        assert client.get(url).status_code == 405, url
    issue.refresh_from_db()
    notice.refresh_from_db()
    assert issue.status == Status.SUBMITTED
    assert notice.read_at is None
