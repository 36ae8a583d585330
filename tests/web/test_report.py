"""The phone report form and the nearby-points fragment."""

from __future__ import annotations

import datetime
import io
import uuid
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import ExifTags, Image, TiffImagePlugin

from issues.forms import parse_client_gps, parse_client_taken_at
from issues.models import Action, Issue, IssueEvent, Photo, Status
from tests.factories import CategoryFactory, InspectionPointFactory, IssueFactory

REPORT_URL = reverse("issues:issue_report")
NEARBY_URL = reverse("issues:nearby_points")
SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def jpeg(name: str = "problem.jpg", *, exif: Image.Exif | None = None) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    image = Image.new("RGB", (64, 48), (200, 80, 40))
    if exif is not None:
        image.save(buffer, "JPEG", exif=exif)
    else:
        image.save(buffer, "JPEG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/jpeg")


def camera_exif() -> Image.Exif:
    rational = TiffImagePlugin.IFDRational
    exif = Image.Exif()
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = "2026:03:01 10:20:30"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (rational(43, 1), rational(30, 1), rational(0, 1))
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (rational(122, 1), rational(0, 1), rational(0, 1))
    return exif


def report_data(world, **overrides) -> dict:
    data = {
        "category": str(world.category.pk),
        "point": str(world.point_a.pk),
        "community": "",
        "address": "",
        "latitude": "43.650100",
        "longitude": "122.250100",
        "accuracy_m": "12",
        "description": "早市门口垃圾堆放",
        "severity": "",
        "client_token": str(uuid.uuid4()),
        "photos": [jpeg()],
    }
    data.update(overrides)
    return data


# --- access ---------------------------------------------------------------------------------


def test_anonymous_report_form_redirects_to_login(client):
    response = client.get(REPORT_URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_anonymous_report_post_files_nothing(client, world):
    response = client.post(REPORT_URL, report_data(world))
    assert response.status_code == 302
    assert Issue.objects.count() == 0


@pytest.mark.parametrize("persona", ["handler_xincheng", "leader_zone"])
def test_handler_and_leader_cannot_open_the_report_form(client, world, persona):
    client.force_login(getattr(world, persona))
    assert client.get(REPORT_URL).status_code == 403
    assert client.post(REPORT_URL, report_data(world)).status_code == 403
    assert Issue.objects.count() == 0


def test_report_form_offers_a_fresh_token_the_camera_and_points_in_scope_only(client, world):
    client.force_login(world.inspector_xincheng)
    response = client.get(REPORT_URL)
    assert response.status_code == 200
    form = response.context["form"]
    assert isinstance(form.initial["client_token"], uuid.UUID)
    html = response.content.decode()
    assert 'name="photos"' in html
    assert 'accept="image/*"' in html
    assert 'capture="environment"' in html
    assert "multiple" in html
    # The points come from the picker's scoped endpoint, not from the page: district B's market
    # is outside inspector_xincheng's scope and is not offered.
    assert 'data-picker-url="/pick/point/?reporting=1"' in html
    assert world.point_b.name not in html
    offered = client.get(reverse("issues:picker", args=["point"]), {"reporting": "1"}).json()
    assert [row["id"] for row in offered["results"]] == [world.point_a.pk]
    # No inline script or style: the strict CSP holds.
    assert "<script>" not in html
    assert "style=" not in html
    assert (
        client.get(REPORT_URL).context["form"].initial["client_token"]
        != (form.initial["client_token"])
    )


def test_report_form_puts_the_users_recent_categories_first(client, world):
    others = [CategoryFactory(sort_order=n) for n in range(3)]
    recent = CategoryFactory(sort_order=99)
    IssueFactory(reporter=world.inspector_xincheng, category=recent, community=world.community_a)
    client.force_login(world.inspector_xincheng)
    response = client.get(REPORT_URL)
    assert response.context["recent_categories"] == [recent]
    assert response.context["categories"][0] == recent
    assert set(others) <= set(response.context["other_categories"])


def test_first_time_reporter_gets_the_common_categories_first_and_the_rest_folded(client, world):
    client.force_login(world.inspector_xincheng)
    response = client.get(REPORT_URL)
    first = response.context["first_categories"]
    assert 0 < len(first) <= 8
    assert not response.context["first_are_recent"]
    assert not response.context["others_open"]
    folded = response.context["other_categories"][-1]
    # A re-rendered form whose choice is folded away opens the fold.
    response = client.post(REPORT_URL, report_data(world, category=str(folded.pk), photos=[]))
    assert response.context["others_open"]


# --- filing ---------------------------------------------------------------------------------


def test_inspector_files_an_issue_with_a_photo_at_a_point(client, world):
    client.force_login(world.inspector_xincheng)
    response = client.post(REPORT_URL, report_data(world))
    issue = Issue.objects.get()
    assert response.status_code == 302
    assert response["Location"] == issue.get_absolute_url()
    assert issue.status == Status.REPORTED
    assert issue.reporter == world.inspector_xincheng
    assert issue.point == world.point_a
    assert issue.community == world.community_a
    assert issue.district == world.district_a
    assert issue.severity == world.category.severity
    assert issue.latitude == Decimal("43.650100")
    assert issue.location_accuracy_m == 12
    assert list(issue.events.values_list("action", flat=True)) == [Action.REPORT]
    assert issue.photos.filter(kind=Photo.Kind.BEFORE).count() == 1


def test_report_with_only_a_community_and_no_gps_is_filed(client, world):
    client.force_login(world.inspector_xincheng)
    data = report_data(
        world, point="", community=str(world.community_a.pk), latitude="", longitude=""
    )
    data["accuracy_m"] = ""
    response = client.post(REPORT_URL, data)
    assert response.status_code == 302
    issue = Issue.objects.get()
    assert issue.point is None
    assert issue.community == world.community_a
    assert issue.latitude is None


def test_double_submit_with_the_same_client_token_files_one_issue(client, world):
    client.force_login(world.inspector_xincheng)
    data = report_data(world)
    first = client.post(REPORT_URL, data)
    data["photos"] = [jpeg()]
    second = client.post(REPORT_URL, data)
    assert Issue.objects.count() == 1
    assert IssueEvent.objects.count() == 1
    assert Photo.objects.count() == 1
    assert first["Location"] == second["Location"] == Issue.objects.get().get_absolute_url()


def test_script_send_gets_json_with_the_issue_url(client, world):
    client.force_login(world.inspector_xincheng)
    response = client.post(REPORT_URL, report_data(world), HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "url": Issue.objects.get().get_absolute_url(),
        "repeated": False,
    }


def test_script_send_with_errors_gets_them_as_json(client, world):
    client.force_login(world.inspector_xincheng)
    response = client.post(
        REPORT_URL, report_data(world, category=""), HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["ok"] is False
    assert "category" in body["errors"]
    assert Issue.objects.count() == 0


def test_failed_upload_keeps_everything_else_and_asks_for_the_photo_again(client, world):
    client.force_login(world.inspector_xincheng)
    not_a_photo = SimpleUploadedFile("notes.jpg", b"this is not an image", "image/jpeg")
    data = report_data(world, photos=[not_a_photo], severity="urgent", address="世纪路口")
    response = client.post(REPORT_URL, data, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert Issue.objects.count() == 0
    form = response.context["form"]
    assert "photos" in form.errors
    html = response.content.decode()
    assert "Your photos were not kept" in html
    # Everything else is still there, with the same idempotency key.
    assert "早市门口垃圾堆放" in html
    assert 'value="世纪路口"' in html
    assert f'value="{data["client_token"]}"' in html
    assert f'value="{world.category.pk}" data-severity="general" checked' in html
    assert 'value="urgent" checked' in html
    # The point picker keeps the chosen point, shown by name and code.
    assert f'value="{world.point_a.name} [{world.point_a.code}]"' in html
    assert 'value="43.650100"' in html


def test_missing_photo_and_place_are_reported_without_filing(client, world):
    client.force_login(world.inspector_xincheng)
    data = report_data(world, photos=[], point="", community="")
    response = client.post(REPORT_URL, data, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    form = response.context["form"]
    assert "photos" in form.errors
    assert "point" in form.errors
    assert Issue.objects.count() == 0


def test_a_point_outside_the_users_scope_is_refused(client, world):
    client.force_login(world.inspector_xincheng)
    response = client.post(REPORT_URL, report_data(world, point=str(world.point_b.pk)))
    assert response.status_code == 200
    assert "point" in response.context["form"].errors
    assert Issue.objects.count() == 0


def test_capture_time_and_gps_from_the_browser_fill_a_reencoded_photo(client, world):
    client.force_login(world.inspector_xincheng)
    data = report_data(world)
    data["photo_taken_at[]"] = ["2026-03-02T08:15:00+08:00"]
    data["photo_gps[]"] = ["43.651234,122.251234"]
    client.post(REPORT_URL, data)
    photo = Photo.objects.get()
    assert photo.taken_at == datetime.datetime(2026, 3, 2, 8, 15, tzinfo=SHANGHAI)
    assert photo.gps_latitude == Decimal("43.651234")
    assert photo.gps_longitude == Decimal("122.251234")


def test_the_uploads_own_exif_wins_over_what_the_browser_sent(client, world):
    client.force_login(world.inspector_xincheng)
    data = report_data(world, photos=[jpeg(exif=camera_exif())])
    data["photo_taken_at[]"] = ["2026-03-02T08:15:00+08:00"]
    data["photo_gps[]"] = ["10.000000,10.000000"]
    client.post(REPORT_URL, data)
    photo = Photo.objects.get()
    assert photo.taken_at == datetime.datetime(2026, 3, 1, 10, 20, 30, tzinfo=SHANGHAI)
    assert photo.gps_latitude == Decimal("43.500000")
    assert photo.gps_longitude == Decimal("122.000000")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-02T08:15:00", datetime.datetime(2026, 3, 2, 8, 15, tzinfo=SHANGHAI)),
        ("1999-01-01T00:00:00+08:00", None),
        ("2999-01-01T00:00:00+08:00", None),
        ("yesterday", None),
        ("", None),
    ],
)
def test_client_capture_times_are_parsed_or_dropped(text, expected):
    assert parse_client_taken_at(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("43.65,122.25", (Decimal("43.650000"), Decimal("122.250000"))),
        ("91,0", None),
        ("0,0", None),
        ("43.65", None),
        ("a,b", None),
    ],
)
def test_client_positions_are_parsed_or_dropped(text, expected):
    assert parse_client_gps(text) == expected


# --- nearby points ----------------------------------------------------------------------------


def test_nearby_points_are_within_500_m_nearest_first_and_in_scope(client, world):
    near = InspectionPointFactory(
        community=world.community_a,
        name="近处公交站",
        latitude=Decimal("43.650500"),
        longitude=Decimal("122.250000"),
    )  # ~56 m north of point A
    InspectionPointFactory(
        community=world.community_a,
        name="远处工地",
        latitude=Decimal("43.660000"),
        longitude=Decimal("122.250000"),
    )  # ~1.1 km away
    InspectionPointFactory(
        community=world.community_b,
        name="乙区点位",
        latitude=Decimal("43.650100"),
        longitude=Decimal("122.250100"),
    )  # close by, but in district B
    client.force_login(world.inspector_xincheng)
    response = client.get(NEARBY_URL, {"lat": "43.650450", "lng": "122.250000", "format": "json"})
    assert response.status_code == 200
    names = [p["name"] for p in response.json()["points"]]
    assert names == [near.name, world.point_a.name]
    distances = [p["distance_m"] for p in response.json()["points"]]
    assert distances[0] < 10 and 40 < distances[1] < 60

    fragment = client.get(NEARBY_URL, {"lat": "43.650450", "lng": "122.250000"})
    html = fragment.content.decode()
    assert html.index(near.name) < html.index(world.point_a.name)
    assert "乙区点位" not in html
    assert f'data-point-id="{near.pk}"' in html


def test_nearby_points_with_bad_coordinates_answer_400(client, world):
    client.force_login(world.inspector_xincheng)
    assert client.get(NEARBY_URL, {"lat": "x", "lng": "1"}).status_code == 400
    assert client.get(NEARBY_URL, {"lat": "95", "lng": "1"}).status_code == 400
    assert client.get(NEARBY_URL).status_code == 400


def test_nearby_points_need_a_login_and_a_reporting_role(client, world):
    query = {"lat": "43.65", "lng": "122.25"}
    assert client.get(NEARBY_URL, query).status_code == 302
    client.force_login(world.handler_xincheng)
    assert client.get(NEARBY_URL, query).status_code == 403
