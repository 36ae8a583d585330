"""Upload limits hold at the view level; the browser's photo metadata is checked, never trusted."""

from __future__ import annotations

import io
import os
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from issues.forms import parse_client_gps, parse_client_taken_at
from issues.models import Issue, IssueEvent, Photo, Status
from tests.factories import issue_in

pytestmark = pytest.mark.django_db

REPORT_URL = reverse("issues:issue_report")
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def jpeg(name: str = "problem.jpg", *, noise_bytes: int = 0) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 80, 40)).save(buffer, "JPEG")
    # Bytes after the JPEG's end marker make the upload big without making it unreadable.
    return SimpleUploadedFile(
        name, buffer.getvalue() + os.urandom(noise_bytes), content_type="image/jpeg"
    )


def report_data(world, **overrides) -> dict:
    data = {
        "category": str(world.category.pk),
        "point": str(world.point_a.pk),
        "description": "早市门口垃圾堆放",
        "client_token": str(uuid.uuid4()),
        "photos": [jpeg()],
    }
    data.update(overrides)
    return data


# --- the body limit ---------------------------------------------------------------------------


def test_report_larger_than_the_body_limit_is_refused_with_413_and_files_nothing(
    client, world, settings
):
    settings.REQUEST_BODY_MAX_BYTES = 100_000
    client.force_login(world.inspector_xincheng)

    response = client.post(REPORT_URL, report_data(world, photos=[jpeg(noise_bytes=150_000)]), **EN)

    assert response.status_code == 413
    assert "larger than" in response.content.decode()
    assert Issue.objects.count() == 0
    assert Photo.objects.count() == 0


def test_script_send_over_the_body_limit_gets_a_json_error(client, world, settings):
    settings.REQUEST_BODY_MAX_BYTES = 100_000
    client.force_login(world.inspector_xincheng)

    response = client.post(
        REPORT_URL,
        report_data(world, photos=[jpeg(noise_bytes=150_000)]),
        HTTP_ACCEPT="application/json",
        **EN,
    )

    assert response.status_code == 413
    body = response.json()
    assert body["ok"] is False
    assert body["errors"]["__all__"][0]["code"] == "too_large"
    assert Issue.objects.count() == 0


def test_action_with_photos_over_the_body_limit_changes_nothing(client, world, settings):
    settings.REQUEST_BODY_MAX_BYTES = 100_000
    issue = issue_in(world, Status.IN_PROGRESS)
    client.force_login(world.handler_xincheng)

    response = client.post(
        reverse("issues:issue_act", kwargs={"pk": issue.pk, "action": "submit_fix"}),
        {"submit_fix-photos": [jpeg(noise_bytes=150_000)]},
    )

    assert response.status_code == 413
    issue.refresh_from_db()
    assert issue.status == Status.IN_PROGRESS
    assert not IssueEvent.objects.filter(issue=issue).exists()


def test_report_under_the_body_limit_is_filed(client, world, settings):
    settings.REQUEST_BODY_MAX_BYTES = 100_000
    client.force_login(world.inspector_xincheng)

    response = client.post(REPORT_URL, report_data(world))

    assert response.status_code == 302
    assert Issue.objects.count() == 1


# --- the number of files ------------------------------------------------------------------------


def test_more_files_than_django_accepts_is_a_bad_request_and_files_nothing(client, world, settings):
    client.force_login(world.inspector_xincheng)
    photos = [jpeg(f"p{n}.jpg") for n in range(settings.DATA_UPLOAD_MAX_NUMBER_FILES + 1)]

    response = client.post(REPORT_URL, report_data(world, photos=photos))

    assert response.status_code == 400
    assert Issue.objects.count() == 0


def test_more_photos_than_a_form_takes_is_refused_on_the_form(client, world, settings):
    client.force_login(world.inspector_xincheng)
    photos = [jpeg(f"p{n}.jpg") for n in range(settings.PHOTO_MAX_PER_UPLOAD + 1)]

    response = client.post(REPORT_URL, report_data(world, photos=photos), **EN)

    assert response.status_code == 200
    assert "photos" in response.context["form"].errors
    assert Issue.objects.count() == 0
    assert Photo.objects.count() == 0


# --- photo_taken_at[] and photo_gps[] ---------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["NaN,1", "1,nan", "-NaN,-NaN", "Infinity,1", "1e999999,1", "43.6,122.2,1", "x" * 100],
)
def test_client_positions_that_are_not_numbers_in_range_are_dropped(text):
    assert parse_client_gps(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-23:59",
        "2026-03-02T08:15:00<script>",
        "2026-03-02T08:15:00+08:00" + " " * 100,
    ],
)
def test_client_capture_times_out_of_range_or_malformed_are_dropped(text):
    assert parse_client_taken_at(text) is None


def test_a_report_with_a_nan_position_is_filed_without_it(client, world):
    client.force_login(world.inspector_xincheng)
    data = report_data(world)
    data["photo_gps[]"] = ["NaN,NaN"]
    data["photo_taken_at[]"] = ["2026-03-02T08:15:00+08:00"]

    response = client.post(REPORT_URL, data)

    assert response.status_code == 302
    photo = Photo.objects.get()
    assert (photo.gps_latitude, photo.gps_longitude) == (None, None)
    assert photo.taken_at is not None


def test_metadata_lists_that_do_not_match_the_photos_are_ignored(client, world):
    client.force_login(world.inspector_xincheng)
    data = report_data(world, photos=[jpeg("one.jpg"), jpeg("two.jpg")])
    # Three values for two photos: which belongs to which cannot be known.
    data["photo_taken_at[]"] = [
        "2026-03-02T08:15:00+08:00",
        "2026-03-02T08:16:00+08:00",
        "2026-03-02T08:17:00+08:00",
    ]
    data["photo_gps[]"] = ["43.651234,122.251234"]

    response = client.post(REPORT_URL, data)

    assert response.status_code == 302
    assert Photo.objects.count() == 2
    assert not Photo.objects.exclude(taken_at=None).exists()
    assert not Photo.objects.exclude(gps_latitude=None).exists()


def test_metadata_lists_that_match_the_photos_are_used_in_order(client, world):
    client.force_login(world.inspector_xincheng)
    data = report_data(world, photos=[jpeg("one.jpg"), jpeg("two.jpg")])
    data["photo_taken_at[]"] = ["", "2026-03-02T08:16:00+08:00"]
    data["photo_gps[]"] = ["43.651234,122.251234", ""]

    client.post(REPORT_URL, data)

    first, second = Photo.objects.order_by("id")
    assert (first.taken_at is None, first.gps_latitude is not None) == (True, True)
    assert (second.taken_at is not None, second.gps_latitude is None) == (True, True)
