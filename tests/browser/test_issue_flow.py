"""An issue's whole life on phones: report → dispatch → fix → rework → fix → verify → closed."""

from __future__ import annotations

import datetime
import io
import os
import re

import pytest
from PIL import ExifTags, Image, TiffImagePlugin
from playwright.sync_api import expect

from issues.models import Action, Issue, Photo, Status
from tests.factories import issue_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))
DETAIL_PATH = re.compile(r".*/issues/(\d+)/$")


def camera_photo(width: int = 3000, height: int = 2000) -> bytes:
    """A phone-sized JPEG with the EXIF a camera writes: capture time and GPS."""
    rational = TiffImagePlugin.IFDRational
    # Noise does not compress: the file is several MB, as a real photo is.
    image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    exif = Image.Exif()
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = "2026:03:01 10:20:30"
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.OffsetTimeOriginal] = "+08:00"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (rational(43, 1), rational(39, 1), rational(36, 1))
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (rational(122, 1), rational(15, 1), rational(0, 1))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92, exif=exif)
    return buffer.getvalue()


def small_photo(colour=(40, 160, 80)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), colour).save(buffer, "JPEG")
    return buffer.getvalue()


def choose_photo(page, selector: str, content: bytes, name: str = "photo.jpg") -> None:
    """Pick a photo as the camera would hand it over, and wait until it is prepared."""
    page.set_input_files(
        selector, files=[{"name": name, "mimeType": "image/jpeg", "buffer": content}]
    )
    widget = page.locator("[data-photo-widget]", has=page.locator(selector))
    widget.locator(".photo-preview").first.wait_for()
    page.wait_for_function(
        "sel => !document.querySelector(sel).closest('[data-photo-widget]')"
        ".hasAttribute('data-busy')",
        arg=selector,
    )


def point_label(point) -> str:
    """What the point picker shows for a chosen point."""
    return f"{point.name} [{point.code}]"


def submit_and_wait(page, selector: str) -> None:
    with page.expect_navigation():
        page.locator(selector).tap()


def report_a_problem(page, world, shots, *, expect_heading: str | None = None) -> Issue:
    """Fill the report form as an inspector does on the street, and send it."""
    page.goto("/issues/new/")
    if expect_heading:
        assert page.locator("h1").inner_text() == expect_heading
    # The phone's position arrives and the nearest point is chosen by itself.
    page.locator(".nearby-choice[aria-pressed='true']").wait_for()
    assert "±12" in page.locator("#gps-status").inner_text()
    assert page.locator("#id_point").input_value() == point_label(world.point_a)
    shots.take(page, "report form located")

    choose_photo(page, "#id_photos", camera_photo(), name="IMG_0001.jpg")
    tile = page.locator(f"label.tile:has(input[value='{world.category.pk}'])")
    if not tile.is_visible():
        page.locator("details.more-categories > summary").tap()
    tile.tap()
    page.locator(f".quick-phrases[data-category='{world.category.pk}'] .chip").first.tap()
    assert "桶边散落垃圾" in page.locator("#id_description").input_value()
    page.locator("#id_description").fill(
        page.locator("#id_description").input_value() + "，早市门口"
    )
    shots.take(page, "report form filled")

    with page.expect_navigation(url=DETAIL_PATH):
        page.locator("#report-submit").tap()
    shots.take(page, "issue filed")
    return Issue.objects.get(pk=int(DETAIL_PATH.match(page.url).group(1)))


def test_issue_lifecycle_on_phones(phones, browser_world, shots):
    world = browser_world

    # 1. The inspector logs the problem with a photo near point A.
    inspector_xincheng = phones.open("inspector_xincheng")
    issue = report_a_problem(inspector_xincheng, world, shots)
    assert issue.status == Status.REPORTED
    assert issue.reporter == world.inspector_xincheng
    assert issue.point == world.point_a
    assert issue.location_accuracy_m == 12
    assert "桶边散落垃圾" in issue.description
    photo = issue.photos.get()
    # Downscaled in the browser to 1600 px, with the original's capture time and GPS kept.
    assert max(photo.width, photo.height) == 1600
    assert photo.taken_at == datetime.datetime(2026, 3, 1, 10, 20, 30, tzinfo=SHANGHAI)
    assert (str(photo.gps_latitude), str(photo.gps_longitude)) == ("43.660000", "122.250000")
    assert inspector_xincheng.locator(".timeline-item").count() == 1

    # 2. The supervisor dispatches it from the triage list (routing preselected org X).
    supervisor_xincheng = phones.open("supervisor_xincheng")
    supervisor_xincheng.goto("/issues/triage/")
    assert supervisor_xincheng.locator(f"#organisation-{issue.pk}").input_value() == (
        f"{world.org_x.name} [{world.org_x.code}]"
    )
    supervisor_xincheng.locator(f"#select-{issue.pk}").check()
    shots.take(supervisor_xincheng, "triage selected")
    submit_and_wait(supervisor_xincheng, ".triage-toolbar button[type=submit]")
    assert supervisor_xincheng.locator(".message-success").count() == 1
    shots.take(supervisor_xincheng, "dispatched")
    issue.refresh_from_db()
    assert (issue.status, issue.assigned_organisation) == (Status.ASSIGNED, world.org_x)

    # 3. The handler acknowledges and submits an after-photo.
    handler_xincheng = phones.open("handler_xincheng")
    handler_xincheng.goto(issue.get_absolute_url())
    shots.take(handler_xincheng, "handler opens issue")
    submit_and_wait(handler_xincheng, "#action-acknowledge button[type=submit]")
    choose_photo(handler_xincheng, "#id_submit_fix-photos", small_photo(), name="after.jpg")
    handler_xincheng.locator("#id_submit_fix-note").fill("已清理完毕")
    shots.take(handler_xincheng, "handler fix ready")
    submit_and_wait(handler_xincheng, "#action-submit_fix button[type=submit]")
    shots.take(handler_xincheng, "fix submitted")
    issue.refresh_from_db()
    assert issue.status == Status.SUBMITTED

    # 4. The supervisor compares before and after, and sends it back.
    supervisor_xincheng.goto("/issues/verify/")
    card = supervisor_xincheng.locator(f"#verify-{issue.pk}")
    assert card.locator(".compare-side img").count() == 2
    shots.take(supervisor_xincheng, "verification queue")
    card.locator(f"#action-verify_fail-{issue.pk} summary").tap()
    card.locator(f"#action-verify_fail-{issue.pk} textarea").fill("桶边仍有散落垃圾")
    shots.take(supervisor_xincheng, "verification fail reason")
    submit_and_wait(supervisor_xincheng, f"#action-verify_fail-{issue.pk} button[type=submit]")
    assert supervisor_xincheng.url.endswith("/issues/verify/")
    shots.take(supervisor_xincheng, "sent back for rework")
    issue.refresh_from_db()
    assert (issue.status, issue.rework_count) == (Status.IN_PROGRESS, 1)

    # 5. The handler fixes it again.
    handler_xincheng.goto(issue.get_absolute_url())
    choose_photo(
        handler_xincheng, "#id_submit_fix-photos", small_photo((30, 120, 200)), name="after2.jpg"
    )
    submit_and_wait(handler_xincheng, "#action-submit_fix button[type=submit]")
    shots.take(handler_xincheng, "fix resubmitted")

    # 6. An inspector who is not the handler passes it on site.
    inspector_xincheng.goto(issue.get_absolute_url())
    shots.take(inspector_xincheng, "inspector verifies")
    submit_and_wait(inspector_xincheng, "#action-verify_pass button[type=submit]")
    issue.refresh_from_db()
    assert issue.status == Status.CLOSED

    # 7. Every step is on the timeline.
    inspector_xincheng.locator("#timeline-heading").scroll_into_view_if_needed()
    shots.take(inspector_xincheng, "closed with timeline")
    assert list(issue.events.values_list("action", flat=True)) == [
        Action.REPORT,
        Action.DISPATCH,
        Action.ACKNOWLEDGE,
        Action.SUBMIT_FIX,
        Action.VERIFY_FAIL,
        Action.SUBMIT_FIX,
        Action.VERIFY_PASS,
    ]
    assert inspector_xincheng.locator(".timeline-item").count() == 7
    assert "桶边仍有散落垃圾" in inspector_xincheng.locator(".timeline").inner_text()
    assert inspector_xincheng.locator(".photo-set-after img").count() == 2
    assert Photo.objects.filter(issue=issue, kind=Photo.Kind.AFTER).count() == 2


def test_the_same_report_made_in_english(phones, browser_world, shots):
    world = browser_world
    page = phones.open("inspector_xincheng")
    # Switch the language through the account menu, as a user would.
    page.locator("details.user-menu > summary").tap()
    shots.take(page, "account menu")
    with page.expect_navigation():
        page.locator("button[name=language][value=en]").tap()
    issue = report_a_problem(page, world, shots, expect_heading="Report a problem")
    assert page.locator("h1").inner_text() == world.category.name_en
    assert page.locator("#timeline-heading").inner_text() == "Timeline"
    assert issue.status == Status.REPORTED
    assert issue.photos.count() == 1


def test_report_without_javascript_keeps_the_entries_after_a_bad_photo(
    phones, browser_world, shots
):
    world = browser_world
    page = phones.open("inspector_xincheng", javascript=False)
    page.goto("/issues/new/")
    page.check(f"input[name=category][value='{world.category.pk}']")
    # Without JavaScript the picker is a plain text input: the point's name is enough.
    page.fill("#id_point", world.point_a.name)
    page.fill("#id_description", "无脚本也能上报")
    page.set_input_files(
        "#id_photos",
        files=[{"name": "notes.jpg", "mimeType": "image/jpeg", "buffer": b"not a photo"}],
    )
    shots.take(page, "plain form filled")
    with page.expect_navigation():
        page.locator("#report-submit").click()
    # Refused: everything but the photo is still there, and the page says to choose it again.
    assert Issue.objects.count() == 0
    assert page.locator(".photos-lost").is_visible()
    assert page.locator("#id_description").input_value() == "无脚本也能上报"
    assert page.locator("#id_point").input_value() == point_label(world.point_a)
    assert page.is_checked(f"input[name=category][value='{world.category.pk}']")
    shots.take(page, "photo refused, entries kept")
    page.set_input_files(
        "#id_photos",
        files=[{"name": "IMG_2.jpg", "mimeType": "image/jpeg", "buffer": camera_photo(800, 600)}],
    )
    with page.expect_navigation(url=DETAIL_PATH):
        page.locator("#report-submit").click()
    shots.take(page, "filed without javascript")
    issue = Issue.objects.get()
    assert issue.description == "无脚本也能上报"
    # The original upload's own EXIF gives the capture time.
    assert issue.photos.get().taken_at == datetime.datetime(2026, 3, 1, 10, 20, 30, tzinfo=SHANGHAI)


def test_report_with_location_refused_uses_the_point_search(phones, browser_world, shots):
    world = browser_world
    page = phones.open("inspector_xincheng", location_allowed=False)
    page.goto("/issues/new/")
    page.locator("#gps-status.gps-off").wait_for()
    assert page.locator(".nearby-choice").count() == 0
    page.locator("#id_point").fill("早夜市")
    # The picker asks the scoped endpoint and offers the one matching point.
    # A locator wait, not `wait_for_function` with an expression: polling one needs eval,
    # which the page's Content-Security-Policy refuses (it failed so when the answer was slow).
    expect(page.locator("#id_point-options option")).to_have_count(1, timeout=10_000)
    page.locator("#id_point").fill(point_label(world.point_a))
    shots.take(page, "point found by search")
    choose_photo(page, "#id_photos", small_photo(), name="IMG_3.jpg")
    page.locator(f"input[name=category][value='{world.category.pk}']").check()
    with page.expect_navigation(url=DETAIL_PATH):
        page.locator("#report-submit").tap()
    shots.take(page, "filed without gps")
    issue = Issue.objects.get()
    assert issue.point == world.point_a
    assert issue.latitude is None


def test_an_issue_outside_the_users_scope_answers_404(phones, browser_world, shots):
    world = browser_world
    issue = issue_in(world, Status.ASSIGNED)  # district A: outside inspector_binhe's district B
    page = phones.open("inspector_binhe")
    response = page.goto(issue.get_absolute_url())
    shots.take(page, "out of scope")
    assert response.status == 404
    assert issue.case_number not in page.content()
    # The browser reports the 404 itself in the console; that is the expected answer here.
    phones.problems = [p for p in phones.problems if "404" not in p]


def test_fieldwalk_a_file_that_is_not_a_photo_is_refused_in_the_browser(
    phones, browser_world, shots
):
    page = phones.open("inspector_xincheng")
    page.goto("/issues/new/")
    widget = page.locator("[data-photo-widget]").first
    page.set_input_files(
        "#id_photos",
        files=[{"name": "通知.pdf", "mimeType": "image/jpeg", "buffer": b"%PDF-1.7 not a photo"}],
    )
    status = widget.locator("[data-photo-status]")
    status.locator("text=通知.pdf").wait_for()
    shots.take(page, "not a photo refused")
    assert widget.locator(".photo-preview").count() == 0
    assert "不是照片" in status.inner_text()
    # A real photo next: the refusal gives way instead of piling up.
    choose_photo(page, "#id_photos", small_photo())
    shots.take(page, "a photo after the refusal")
    assert widget.locator(".photo-preview").count() == 1
    assert "不是照片" not in status.inner_text()
