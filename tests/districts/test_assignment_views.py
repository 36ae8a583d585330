"""The /manage/ pages: admins only, the matrix edits in place, staff pages, import/export flow."""

from __future__ import annotations

import datetime
import io

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from districts.models import (
    AuditEntry,
    InspectionPoint,
    Membership,
    Organisation,
    OwnerKind,
    Responsibility,
    Role,
)
from tests.districts.assignment_helpers import csv_bytes, xlsx_bytes
from tests.factories import CommunityFactory, InspectionPointFactory, OrganisationFactory

User = get_user_model()
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def pages(world) -> list[tuple[str, str]]:
    """(method, url) for every page and action under /manage/."""
    district = world.district_a.pk
    cell = f"?kind={OwnerKind.TERRITORIAL}&community={world.community_a.pk}"
    responsibility = Responsibility.objects.get(organisation=world.org_x)
    return [
        ("get", reverse("districts:index")),
        ("get", reverse("districts:matrix", args=[district])),
        ("get", reverse("districts:matrix_cell", args=[district]) + cell),
        ("post", reverse("districts:matrix_cell", args=[district]) + cell),
        ("get", reverse("districts:cell_history", args=[district]) + cell),
        ("post", reverse("districts:responsibility_end", args=[responsibility.pk])),
        ("post", reverse("districts:responsibility_withdraw", args=[responsibility.pk])),
        ("get", reverse("districts:district_staff", args=[district])),
        ("get", reverse("districts:staff_list")),
        ("get", reverse("districts:staff_create")),
        ("post", reverse("districts:staff_create")),
        ("get", reverse("districts:staff_edit", args=[world.inspector_xincheng.pk])),
        ("post", reverse("districts:staff_edit", args=[world.inspector_xincheng.pk])),
        ("post", reverse("districts:staff_disable", args=[world.inspector_xincheng.pk])),
        ("post", reverse("districts:staff_enable", args=[world.inspector_xincheng.pk])),
        ("get", reverse("districts:coverage")),
        ("get", reverse("districts:routing_check")),
        ("get", reverse("districts:audit")),
        ("get", reverse("districts:import")),
        ("post", reverse("districts:import")),
        ("post", reverse("districts:import_confirm")),
        ("get", reverse("districts:export")),
        ("get", reverse("districts:export") + "?format=xlsx"),
    ]


def snapshot():
    return (
        list(Responsibility.objects.order_by("pk").values_list()),
        list(User.objects.order_by("pk").values_list("pk", "is_active", "password")),
        list(Membership.objects.order_by("pk").values_list()),
        AuditEntry.objects.count(),
    )


def test_every_manage_page_sends_anonymous_users_to_log_in(world, client):
    before = snapshot()
    for method, url in pages(world):
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url
    assert snapshot() == before


@pytest.mark.parametrize(
    "persona", ["inspector_xincheng", "supervisor_xincheng", "handler_xincheng", "leader_zone"]
)
def test_every_manage_page_refuses_non_admins(world, client, persona):
    client.force_login(getattr(world, persona))
    before = snapshot()
    for method, url in pages(world):
        response = getattr(client, method)(
            url, {"organisation": "org-y", "valid_from": "2026-01-05"}
        )
        assert response.status_code == 403, (persona, url)
    assert snapshot() == before


def test_disabled_admin_is_refused(world, client):
    client.force_login(world.admin_zone)
    User.objects.filter(pk=world.admin_zone.pk).update(is_active=False)
    response = client.get(reverse("districts:index"))
    assert response.status_code in (302, 403)


def test_every_manage_page_opens_for_admins_and_superusers(world, client):
    root = User.objects.create_superuser("root", password="x-long-password-1")
    for user in (world.admin_zone, root):
        client.force_login(user)
        for method, url in pages(world):
            if method == "get":
                assert client.get(url).status_code == 200, url


def test_assignment_matrix_runs_a_constant_number_of_queries(world, client):
    client.force_login(world.admin_zone)
    url = reverse("districts:matrix", args=[world.district_a.pk])
    with CaptureQueriesContext(connection) as small:
        assert client.get(url).status_code == 200
    for index in range(6):
        community = CommunityFactory(district=world.district_a)
        Responsibility.objects.create(
            kind=OwnerKind.PAIRED,
            organisation=world.org_y,
            community=community,
            valid_from=datetime.date(2024, 1, 1),
            lead_person=f"人{index}",
        )
        for _ in range(3):
            point = InspectionPointFactory(community=community)
            Responsibility.objects.create(
                kind=OwnerKind.PAIRED,
                organisation=world.org_x,
                point=point,
                valid_from=datetime.date(2024, 1, 1),
            )
    with CaptureQueriesContext(connection) as large:
        response = client.get(url)
    assert response.status_code == 200
    assert len(large) == len(small)
    assert response.content.count(b'class="cell') > 6 * 4


@time_machine.travel(datetime.datetime(2026, 3, 1, 2, tzinfo=datetime.UTC))
def test_assignment_matrix_cell_post_without_javascript_redirects_and_keeps_history(world, client):
    client.force_login(world.admin_zone)
    url = (
        reverse("districts:matrix_cell", args=[world.district_a.pk])
        + f"?kind=territorial&community={world.community_a.pk}"
    )
    response = client.post(
        url,
        {
            "organisation": "org-y",
            "lead_person": "张主任",
            "lead_phone": "13900000000",
            "valid_from": "2026-04-01",
        },
    )
    assert response.status_code == 302
    assert response["Location"].endswith(f"#cell-territorial-c{world.community_a.pk}")
    row = Responsibility.objects.get(community=world.community_a, kind=OwnerKind.TERRITORIAL)
    assert (row.organisation, row.lead_person, row.created_by) == (
        world.org_y,
        "张主任",
        world.admin_zone,
    )
    second = client.post(
        url, {"organisation": "org-x", "valid_from": "2026-05-01"}, HTTP_HX_REQUEST="true"
    )
    assert second.status_code == 200
    assert b"cell-territorial-c" in second.content
    assert b"<html" not in second.content
    row.refresh_from_db()
    assert (row.valid_to, row.ended_by) == (datetime.date(2026, 5, 1), world.admin_zone)
    history = client.get(
        reverse("districts:cell_history", args=[world.district_a.pk])
        + f"?kind=territorial&community={world.community_a.pk}",
        **EN,
    )
    assert history.content.count(b"<tr>") == 3  # header + two assignments
    assert b"admin_zone" in history.content


def test_assignment_matrix_cell_reports_errors_on_the_form(world, client):
    client.force_login(world.admin_zone)
    url = reverse("districts:matrix_cell", args=[world.district_a.pk]) + "?kind=territorial"
    response = client.post(url, {"organisation": "org-y", "valid_from": "2019-01-01"}, **EN)
    assert response.status_code == 200
    assert b"already assigned here" in response.content
    response = client.post(url, {"organisation": "nope", "valid_from": "2026-01-01"}, **EN)
    assert b"No active organisation" in response.content
    assert Responsibility.objects.filter(district=world.district_a).count() == 1


def test_assignment_matrix_cell_outside_the_district_is_404(world, client):
    client.force_login(world.admin_zone)
    url = reverse("districts:matrix_cell", args=[world.district_a.pk])
    assert client.get(url + f"?kind=paired&point={world.point_b.pk}").status_code == 404
    assert client.get(url + "?kind=paired").status_code == 404
    assert client.get(url + "?kind=bogus").status_code == 404


def test_assignment_end_from_the_history_page(world, client):
    client.force_login(world.admin_zone)
    row = Responsibility.objects.get(organisation=world.org_x)
    history = reverse("districts:cell_history", args=[world.district_a.pk]) + "?kind=territorial"
    response = client.post(
        reverse("districts:responsibility_end", args=[row.pk]),
        {"valid_to": "2026-06-01", "next": history},
    )
    assert response.status_code == 302 and response["Location"] == history
    row.refresh_from_db()
    assert row.valid_to == datetime.date(2026, 6, 1)
    evil = client.post(
        reverse("districts:responsibility_end", args=[row.pk]),
        {"valid_to": "2026-05-01", "next": "https://evil.example/"},
    )
    assert evil["Location"] == reverse("districts:index")


def test_staff_assignment_pages_create_edit_disable_enable(world, client):
    client.force_login(world.admin_zone)
    response = client.post(
        reverse("districts:staff_create"),
        {
            "username": "newbie",
            "full_name": "新人",
            "role": Role.HANDLER,
            "organisation": world.org_x.pk,
            "password": "a-long-unusual-passphrase",
            "password_again": "a-long-unusual-passphrase",
        },
    )
    user = User.objects.get(username="newbie")
    assert response.status_code == 302
    assert user.membership.organisation == world.org_x
    response = client.post(
        reverse("districts:staff_edit", args=[user.pk]),
        {"full_name": "新人", "role": Role.INSPECTOR, "districts": [world.district_b.pk]},
    )
    assert response.status_code == 302
    user.membership.refresh_from_db()
    assert user.membership.role == Role.INSPECTOR
    client.post(reverse("districts:staff_disable", args=[user.pk]))
    user.refresh_from_db()
    assert not user.is_active
    client.post(
        reverse("districts:staff_enable", args=[user.pk]), {"password": "yet-another-phrase-77"}
    )
    user.refresh_from_db()
    assert user.is_active and user.check_password("yet-another-phrase-77")
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"staff_create", "staff_update", "staff_disable", "staff_enable"} <= actions


def test_staff_assignment_create_shows_service_errors_on_the_form(world, client):
    client.force_login(world.admin_zone)
    response = client.post(
        reverse("districts:staff_create"),
        {
            "username": "h9",
            "role": Role.HANDLER,
            "password": "a-long-unusual-passphrase",
            "password_again": "a-long-unusual-passphrase",
        },
        **EN,
    )
    assert response.status_code == 200
    assert b"A handler must belong to an organisation." in response.content
    assert not User.objects.filter(username="h9").exists()


def test_staff_assignment_create_form_is_prefilled_from_the_link(world, client):
    client.force_login(world.admin_zone)
    response = client.get(
        reverse("districts:staff_create")
        + f"?role=supervisor&districts={world.district_b.pk}&organisation={world.org_y.pk}"
    )
    form = response.context["form"]
    assert form.initial["role"] == "supervisor"
    assert form.initial["districts"] == [world.district_b]
    assert form.initial["organisation"] == world.org_y


def test_staff_assignment_list_filters_and_runs_constant_queries(world, client):
    client.force_login(world.admin_zone)
    url = reverse("districts:staff_list")
    response = client.get(url, {"role": "handler"})
    assert {u.username for u in response.context["page"].object_list} == {
        "handler_xincheng",
        "handler_binhe",
    }
    response = client.get(url, {"district": world.district_a.pk})
    assert {u.username for u in response.context["page"].object_list} == {
        "inspector_xincheng",
        "supervisor_xincheng",
        "leader_zone",
        "admin_zone",
    }
    with CaptureQueriesContext(connection) as small:
        client.get(url)
    for index in range(15):
        from tests.factories import make_staff

        make_staff(f"extra{index}", Role.INSPECTOR, districts=[world.district_a, world.district_b])
    with CaptureQueriesContext(connection) as large:
        client.get(url)
    assert len(large) == len(small)


def test_staff_assignment_district_page_lists_its_people(world, client):
    client.force_login(world.admin_zone)
    response = client.get(reverse("districts:district_staff", args=[world.district_a.pk]))
    groups = {
        str(role): {u.username for u in users} for _t, users, role in response.context["groups"]
    }
    assert groups == {
        "supervisor": {"supervisor_xincheng"},
        "inspector": {"inspector_xincheng"},
        "handler": {"handler_xincheng"},
    }


def test_import_page_previews_then_confirms_all_or_nothing(world, client):
    client.force_login(world.admin_zone)
    rows = [
        ["code", "name", "point_type_code", "community_code", "latitude", "longitude"],
        ["point-new", "新点位", "WET_MARKET_T", "community-a", 43.6, 122.2],
    ]
    upload = SimpleUploadedFile("points.xlsx", xlsx_bytes({"points": rows}))
    preview = client.post(reverse("districts:import"), {"file": upload}, **EN)
    assert preview.status_code == 200
    token = preview.context["token"]
    assert token and not InspectionPoint.objects.filter(code="point-new").exists()
    # Another admin cannot confirm someone else's upload.
    other = User.objects.create_superuser("root", password="x-long-password-1")
    client.force_login(other)
    client.post(reverse("districts:import_confirm"), {"token": token})
    assert not InspectionPoint.objects.filter(code="point-new").exists()
    client.force_login(world.admin_zone)
    done = client.post(reverse("districts:import_confirm"), {"token": token})
    assert done.status_code == 302
    assert InspectionPoint.objects.filter(code="point-new").exists()
    # The token is single use.
    again = client.post(reverse("districts:import_confirm"), {"token": token})
    assert again.status_code == 302
    assert InspectionPoint.objects.filter(code="point-new").count() == 1


def test_import_page_lists_every_bad_row_and_offers_no_confirm(world, client):
    client.force_login(world.admin_zone)
    rows = [
        ["code", "name", "district_code"],
        ["c-1", "", "district-a"],
        ["c-2", "好", "nowhere"],
        ["c 3", "好", "district-a"],
    ]
    upload = SimpleUploadedFile("communities.csv", csv_bytes(rows))
    response = client.post(reverse("districts:import"), {"file": upload}, **EN)
    assert response.status_code == 200
    assert response.context["token"] == ""
    assert [(e.row, e.column) for e in response.context["plan"].errors] == [
        (2, "name"),
        (3, "district_code"),
        (4, "code"),
    ]
    assert b"3 rows have problems" in response.content
    assert b"import_confirm" not in response.content


def test_import_confirm_refuses_when_the_data_changed_since_preview(world, client):
    client.force_login(world.admin_zone)
    rows = [["code", "name", "district_code"], ["community-a", "改名社区", "district-a"]]
    upload = SimpleUploadedFile("c.csv", csv_bytes(rows))
    token = client.post(reverse("districts:import"), {"file": upload}).context["token"]
    world.community_a.name = "改名社区"
    world.community_a.save()
    response = client.post(reverse("districts:import_confirm"), {"token": token})
    assert response.status_code == 409
    assert not AuditEntry.objects.filter(action="import").exists()


def test_import_refuses_unreadable_files(world, client):
    client.force_login(world.admin_zone)
    upload = SimpleUploadedFile("x.xlsx", b"not a zip")
    response = client.post(reverse("districts:import"), {"file": upload}, **EN)
    assert b"not a readable XLSX" in response.content
    upload = SimpleUploadedFile("x.pdf", b"%PDF")
    response = client.post(reverse("districts:import"), {"file": upload}, **EN)
    assert response.status_code == 200 and response.context["form"].errors


def test_export_downloads_xlsx_and_csv(world, client):
    from openpyxl import load_workbook

    client.force_login(world.admin_zone)
    response = client.get(reverse("districts:export"), {"format": "xlsx"})
    workbook = load_workbook(io.BytesIO(response.content), read_only=True)
    assert "points" in workbook.sheetnames
    response = client.get(reverse("districts:export"), {"format": "csv", "kind": "points"})
    body = b"".join(response.streaming_content)
    assert body.startswith(b"\xef\xbb\xbfcode,name,point_type_code")
    assert "水域蓝湾早夜市".encode() in body


def test_coverage_page_and_admin_home_show_the_gaps(world, client):
    client.force_login(world.admin_zone)
    OrganisationFactory(code="lonely")
    response = client.get(reverse("districts:coverage"), **EN)
    assert response.status_code == 200
    report = response.context["report"]
    # Personas: every community is covered through its district, no point is paired,
    # org-x and org-y have handlers, and both districts have a supervisor.
    assert report.points_count == 2
    root = User.objects.create_superuser("root", password="x-long-password-1")
    client.force_login(root)
    admin_home = client.get(reverse("admin:index"), **EN)
    assert b"coverage-warning" in admin_home.content
    assert reverse("districts:coverage").encode() in admin_home.content


def test_export_today_matches_import_of_schedule(world, client):
    """A scheduled assignment is exported and re-imported without change."""
    Responsibility.objects.create(
        kind=OwnerKind.PAIRED,
        organisation=world.org_y,
        community=world.community_b,
        valid_from=timezone.localdate() + datetime.timedelta(days=30),
    )
    client.force_login(world.admin_zone)
    data = b"".join(
        client.get(
            reverse("districts:export"), {"format": "csv", "kind": "responsibilities"}
        ).streaming_content
    )
    upload = SimpleUploadedFile("r.csv", data)
    response = client.post(reverse("districts:import"), {"file": upload})
    plan = response.context["plan"]
    assert plan.errors == [] and not plan.has_changes
    assert plan.kinds["responsibilities"].unchanged == 3
    assert Organisation.objects.count() == 2
