"""The field pages with no signal: the installable app, its cached pages and its outbox.

Every test starts online once (that is how the phone gets the app and its cached pages), then
works offline with `context.set_offline(True)`, and checks what reaches the server.
"""

from __future__ import annotations

import datetime
import time

import pytest
from django.utils import timezone

from issues.models import Issue
from tests.browser.conftest import PHONE_POSITION
from tests.browser.test_issue_flow import camera_photo, choose_photo

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))


def wait_until(predicate, *, timeout: float = 20.0, step: float = 0.25, message: str = ""):
    """Poll the database (the live server writes in another thread) until predicate holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(step)
    raise AssertionError(message or "condition not reached in time")


def install_app(page, *, pages: tuple[str, ...] = ("/issues/new/",)) -> None:
    """Open the page online until the service worker controls it and has cached these pages."""
    page.wait_for_function(
        """async () => { const r = await navigator.serviceWorker.getRegistration();
           return !!(r && r.active && r.active.state === "activated"); }""",
        timeout=60_000,
    )
    if not page.evaluate("() => !!navigator.serviceWorker.controller"):
        # Activated after this page loaded: the next load is the worker's (as on a phone).
        page.reload()
    page.wait_for_function(
        """async (urls) => {
            const cache = await caches.open("civic-user");
            for (const url of urls) {
                if (!(await cache.match(url, {ignoreVary: true}))) return false;
            }
            return true;
        }""",
        arg=[*pages, "/offline/reference.json"],
        timeout=60_000,
    )


def outbox_items(page) -> list[dict]:
    return page.evaluate(
        """() => CivicOutboxCore.list(CivicOutbox.user).then(items => items.map(item => ({
            id: item.id, state: item.state, kind: item.kind, files: item.files.length,
            message: item.serverMessage, attempts: item.attempts })))"""
    )


def fill_report(page, world, *, photos: int = 2, description: str = "") -> None:
    """Photos, category and (from the phone's own list when offline) the nearest point."""
    for number in range(photos):
        choose_photo(page, "#id_photos", camera_photo(1200, 900), name=f"IMG_{number}.jpg")
    tile = page.locator(f"label.tile:has(input[value='{world.category.pk}'])")
    if not tile.is_visible():
        page.locator("details.more-categories > summary").tap()
    tile.tap()
    page.locator(f".nearby-choice[data-point-id='{world.point_a.pk}']").wait_for()
    if description:
        page.locator("#id_description").fill(description)


def test_offline_report_is_queued_and_sent_once_when_online(phones, browser_world, shots):
    world = browser_world
    page = phones.open("alice")
    context = page.context
    page.goto("/issues/new/")
    install_app(page)
    shots.take(page, "online once installs the app")

    context.set_offline(True)
    started = time.perf_counter()
    page.goto("/issues/new/")
    page.locator("#report-form").wait_for()
    opened_ms = (time.perf_counter() - started) * 1000
    print(f"cached report page opened offline in {opened_ms:.0f} ms")
    assert page.locator("#net-status").get_attribute("data-state") == "offline"
    # The nearest point comes from the phone's own copy of the points in scope.
    fill_report(page, world, description="桶边散落垃圾")
    assert page.locator("#id_point").input_value() == str(world.point_a.pk)
    shots.take(page, "filled offline")
    captured = timezone.now()
    page.locator("#report-submit").tap()
    page.locator("#report-queued").wait_for()
    shots.take(page, "queued in the outbox")
    items = outbox_items(page)
    assert [(item["state"], item["files"]) for item in items] == [("queued", 2)]
    assert page.locator("nav [data-outbox-count]").inner_text() == "1"
    assert Issue.objects.count() == 0

    time.sleep(1.5)  # the sync time must be visibly later than the capture time
    context.set_offline(False)
    issue = wait_until(lambda: Issue.objects.first(), message="the queued report never arrived")
    page.wait_for_function("() => document.querySelector('nav [data-outbox-count]').hidden")
    shots.take(page, "sent when back online")
    page.wait_for_timeout(1500)  # any second sender would have reached the server by now
    assert Issue.objects.count() == 1
    assert issue.reporter == world.alice
    assert issue.point == world.point_a
    assert issue.client_token is not None and str(issue.client_token) == items[0]["id"]
    # Capture time (on the phone) and the time the server received it are both kept.
    assert abs((issue.observed_at - captured).total_seconds()) < 3
    assert issue.reported_at - issue.observed_at >= datetime.timedelta(seconds=1)
    assert (float(issue.latitude), float(issue.longitude)) == (
        pytest.approx(PHONE_POSITION["latitude"]),
        pytest.approx(PHONE_POSITION["longitude"]),
    )
    assert issue.location_accuracy_m == 12
    photos = list(issue.photos.order_by("id"))
    assert len(photos) == 2
    for photo in photos:
        assert photo.taken_at == datetime.datetime(2026, 3, 1, 10, 20, 30, tzinfo=SHANGHAI)
        assert (str(photo.gps_latitude), str(photo.gps_longitude)) == ("43.660000", "122.250000")
    assert [item["state"] for item in outbox_items(page)] == ["sent"]
