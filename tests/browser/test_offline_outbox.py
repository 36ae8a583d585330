"""The field pages with no signal: the installable app, its cached pages and its outbox.

Every test starts online once (that is how the phone gets the app and its cached pages), then
works offline with `context.set_offline(True)`, and checks what reaches the server.
"""

from __future__ import annotations

import datetime
import io
import re
import time

import pytest
from django.utils import timezone

from issues.models import Action, Issue, IssueEvent, Photo, Status
from issues.views import offline as offline_views
from issues.views import report as report_views
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, PHONE, PHONE_POSITION
from tests.browser.test_issue_flow import camera_photo, choose_photo, small_photo
from tests.factories import issue_in

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


# A loaded machine (2 cores, other suites beside) is slow but not stuck: generous waits, all of
# them on something the page can observe, none of them a sleep.
LOADED_MACHINE_MS = 30_000


def wait_in_page(page, predicate: str, arg=None, *, timeout: float = 60.0, what: str) -> None:
    """Poll an async predicate inside the page until it holds.

    `page.wait_for_function` takes the Promise an async predicate returns for a true value and
    returns at once; that is why the app once looked "installed" before its pages were cached.
    """
    reached = page.evaluate(
        f"""async ([arg, timeout]) => {{
            const check = {predicate};
            const end = Date.now() + timeout;
            while (Date.now() < end) {{
                try {{ if (await check(arg)) return true; }} catch (ignored) {{}}
                await new Promise(resolve => setTimeout(resolve, 100));
            }}
            return false;
        }}""",
        [arg, timeout * 1000],
    )
    if not reached:
        cached = page.evaluate(
            """async () => { const cache = await caches.open("civic-user");
               const rows = [];
               for (const request of await cache.keys()) {
                   const hit = await cache.match(request);
                   rows.push(request.url + " for " + hit.headers.get("X-Civic-Offline-User"));
               }
               return rows; }"""
        )
        raise AssertionError(f"{what}: not reached within {timeout:.0f} s; cached: {cached}")


def install_app(page, *, pages: tuple[str, ...] = ("/issues/new/",)) -> None:
    """Open the page online until the service worker controls it and has cached these pages."""
    page.context.set_default_timeout(LOADED_MACHINE_MS)
    wait_in_page(
        page,
        """async () => { const r = await navigator.serviceWorker.ready;
           return r.active && r.active.state === "activated"; }""",
        what="service worker activated",
    )
    if not page.evaluate("() => !!navigator.serviceWorker.controller"):
        # Activated after this page loaded: the next load is the worker's (as on a phone).
        page.reload()
        page.wait_for_function("() => !!navigator.serviceWorker.controller")
    user = page.locator('meta[name="civic-user"]').get_attribute("content")
    scripts = ["/static/js/outbox-page.js"]
    if "/issues/new/" in pages:
        scripts.append("/static/js/report.js")
    wait_in_page(
        page,
        """async ([urls, user, scripts]) => {
            const cache = await caches.open("civic-user");
            for (const url of urls) {
                const hit = await cache.match(url, {ignoreVary: true});
                if (!hit || hit.headers.get("X-Civic-Offline-User") !== user) return false;
            }
            // The scripts of the warmed pages too (the outbox page's, the report page's).
            for (const url of scripts) {
                if (!(await caches.match(url))) return false;
            }
            return true;
        }""",
        [[*pages, "/outbox/", "/offline/reference.json"], user, scripts],
        what=f"pages {pages} cached for user {user}",
    )


def wait_outbox_sent(page) -> None:
    """Until every item of this user's outbox is sent (no sender still holds one)."""
    wait_in_page(
        page,
        """async () => { const items = await CivicOutboxCore.list(CivicOutbox.user);
           return items.length > 0 && items.every(item => item.state === "sent"); }""",
        what="every outbox item sent",
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
    page = phones.open("inspector_xincheng")
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
    assert page.locator("#id_point").input_value() == f"{world.point_a.name} [{world.point_a.code}]"
    shots.take(page, "filled offline")
    captured = timezone.now()
    page.locator("#report-submit").tap()
    page.locator("#report-queued").wait_for()
    shots.take(page, "queued in the outbox")
    items = outbox_items(page)
    assert [(item["state"], item["files"]) for item in items] == [("queued", 2)]
    assert page.locator("nav [data-outbox-count]").inner_text() == "1"
    assert Issue.objects.count() == 0

    time.sleep(1.5)  # not a wait for the app: the sync time must be visibly after the capture
    context.set_offline(False)
    issue = wait_until(lambda: Issue.objects.first(), message="the queued report never arrived")
    page.wait_for_function("() => document.querySelector('nav [data-outbox-count]').hidden")
    shots.take(page, "sent when back online")
    wait_outbox_sent(page)
    assert Issue.objects.count() == 1
    assert issue.reporter == world.inspector_xincheng
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


def queue_report_offline(page, world, *, description: str = "") -> str:
    """On a phone that has the app: go offline, fill the cached report page, send; the item id."""
    page.context.set_offline(True)
    page.goto("/issues/new/")
    fill_report(page, world, description=description)
    page.locator("#report-submit").tap()
    page.locator("#report-queued").wait_for()
    (item,) = [item for item in outbox_items(page) if item["state"] != "sent"]
    return item["id"]


def test_offline_handler_fix_is_queued_and_synced(phones, browser_world, shots):
    world = browser_world
    issue = issue_in(world, Status.IN_PROGRESS)
    page = phones.open("handler_xincheng")
    page.goto(issue.get_absolute_url())
    install_app(page, pages=(issue.get_absolute_url(),))
    page.context.set_offline(True)
    page.goto(issue.get_absolute_url())
    panel = page.locator("#action-submit_fix")
    if panel.get_attribute("open") is None:
        panel.locator("summary").tap()
    choose_photo(page, "#id_submit_fix-photos", small_photo(), name="after.jpg")
    page.locator("#id_submit_fix-note").fill("已清理完毕")
    captured = timezone.now()
    page.locator("#action-submit_fix button[type=submit]").tap()
    page.locator("#action-submit_fix .outbox-form-status.is-queued").wait_for()
    shots.take(page, "fix queued offline")
    issue.refresh_from_db()
    assert issue.status == Status.IN_PROGRESS

    page.context.set_offline(False)
    event = wait_until(
        lambda: IssueEvent.objects.filter(issue=issue, action=Action.SUBMIT_FIX).first(),
        message="the queued fix never arrived",
    )
    wait_outbox_sent(page)
    issue.refresh_from_db()
    assert issue.status == Status.SUBMITTED
    assert IssueEvent.objects.filter(issue=issue, action=Action.SUBMIT_FIX).count() == 1
    assert event.note == "已清理完毕"
    assert abs((event.observed_at - captured).total_seconds()) < 3
    assert Photo.objects.filter(issue=issue, kind=Photo.Kind.AFTER).count() == 1
    page.goto(issue.get_absolute_url())
    shots.take(page, "fix synced")


def test_offline_logout_clears_the_cached_pages_for_the_next_user(phones, browser_world, shots):
    world = browser_world
    page = phones.open("inspector_xincheng")
    page.goto("/issues/new/")
    install_app(page, pages=("/issues/new/", "/"))
    page.locator("details.user-menu > summary").tap()
    with page.expect_navigation():
        page.locator("form[data-logout] button").tap()
    shots.take(page, "logged out")
    assert page.evaluate("() => caches.has('civic-user')") is False

    # Offline right after the logout: no page of the first user is served, only the offline page.
    page.context.set_offline(True)
    page.goto("/issues/new/")
    assert "没有网络连接" in page.content()
    assert "inspector_xincheng" not in page.content()
    shots.take(page, "offline after logout")

    # A second person signs in on the same phone and goes offline: never inspector_xincheng's pages.
    page.context.set_offline(False)
    page.goto("/accounts/login/")
    page.fill("#id_username", "inspector_binhe")
    page.fill("#id_password", "password")
    page.click("main button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    page.goto("/issues/new/")
    install_app(page, pages=("/issues/new/", "/"))
    page.context.set_offline(True)
    for url in ("/issues/new/", "/"):
        page.goto(url)
        html = page.content()
        assert "inspector_xincheng" not in html
        user = page.locator('meta[name="civic-user"]')
        if user.count():
            assert user.get_attribute("content") == str(world.inspector_binhe.pk)
    shots.take(page, "second user offline")


def test_outbox_resends_once_after_the_connection_dropped_mid_upload(phones, browser_world, shots):
    world = browser_world
    page = phones.open("inspector_xincheng")
    page.goto("/issues/new/")
    install_app(page)
    posts: list[str] = []

    def drop_the_first_answer(route):
        posts.append(route.request.method)
        if len(posts) == 1:
            # The server gets the whole upload and files it; the answer never reaches the phone.
            route.fetch()
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route(
        "**/issues/new/",
        lambda route: (
            drop_the_first_answer(route) if route.request.method == "POST" else route.continue_()
        ),
    )
    page.goto("/issues/new/")
    fill_report(page, world, photos=1)
    page.locator("#report-submit").tap()
    page.locator("#report-queued").wait_for()
    assert Issue.objects.count() == 1  # filed, though the phone could not know
    shots.take(page, "answer lost")

    page.goto("/outbox/")
    page.locator(".outbox-item[data-state='retry']").wait_for()
    page.locator(".outbox-item .btn-primary").tap()
    page.locator(".outbox-item[data-state='sent']").wait_for()
    shots.take(page, "resent")
    assert len(posts) == 2
    assert Issue.objects.count() == 1
    # The dropped connection is this test's doing, not a fault of the page.
    phones.problems[:] = [p for p in phones.problems if "ERR_CONNECTION_RESET" not in p]


def test_outbox_survives_closing_the_browser_and_is_sent_when_reopened(
    browser, live_server, browser_world, shots, tmp_path
):
    world = browser_world
    profile = tmp_path / "profile"
    options = dict(
        PHONE,
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        base_url=live_server.url,
        locale="zh-CN",
        geolocation=PHONE_POSITION,
        permissions=["geolocation"],
    )
    context = browser.browser_type.launch_persistent_context(str(profile), **options)
    try:
        context.set_default_timeout(LOADED_MACHINE_MS)
        page = context.new_page()
        page.goto("/accounts/login/")
        page.fill("#id_username", "inspector_xincheng")
        page.fill("#id_password", "password")
        page.click("main button[type=submit]")
        page.wait_for_url(lambda url: "/accounts/login/" not in url)
        page.goto("/issues/new/")
        install_app(page)
        token = queue_report_offline(page, world)
        shots.take(page, "queued before closing")
    finally:
        context.close()
    assert Issue.objects.count() == 0

    context = browser.browser_type.launch_persistent_context(str(profile), **options)
    try:
        context.set_default_timeout(LOADED_MACHINE_MS)
        page = context.new_page()
        page.goto("/")
        issue = wait_until(lambda: Issue.objects.first(), message="the kept report never arrived")
        wait_outbox_sent(page)
        shots.take(page, "sent after reopening")
        assert str(issue.client_token) == token
        assert Issue.objects.count() == 1
    finally:
        context.close()


def test_outbox_sync_from_two_tabs_files_one_issue(phones, browser_world, shots):
    world = browser_world
    first = phones.open("inspector_xincheng")
    first.goto("/issues/new/")
    install_app(first, pages=("/issues/new/", "/outbox/"))
    queue_report_offline(first, world)
    second = first.context.new_page()
    second.goto("/outbox/")
    shots.take(second, "second tab offline")
    second.locator(".outbox-item").wait_for()
    posts: list[str] = []
    first.context.on(
        "request",
        lambda request: (
            posts.append(request.url)
            if request.method == "POST" and request.url.endswith("/issues/new/")
            else None
        ),
    )
    first.context.set_offline(False)
    # Both tabs see the connection return (`online`) and both also try by hand, at once.
    for page in (first, second):
        page.evaluate("() => { window.testFlush = CivicOutbox.flush({manual: true}); }")
    for page in (first, second):
        page.evaluate("() => window.testFlush")
    wait_outbox_sent(first)
    second.locator(".outbox-item[data-state='sent']").wait_for()
    shots.take(second, "sent once")
    assert Issue.objects.count() == 1
    assert len(posts) == 1


def test_outbox_item_refused_for_a_deactivated_point_stays_editable(phones, browser_world, shots):
    world = browser_world
    page = phones.open("inspector_xincheng")
    page.goto("/issues/new/")
    install_app(page)
    queue_report_offline(page, world, description="井盖缺失")
    world.point_a.is_active = False
    world.point_a.save(update_fields=["is_active"])

    # The "待发送" list (cached) is open when the signal returns; it sends and shows the answer.
    page.goto("/outbox/")
    page.locator(".outbox-item[data-state='queued']").wait_for()
    page.context.set_offline(False)
    item = page.locator(".outbox-item[data-state='refused']")
    item.wait_for()
    assert "点位已停用" in item.locator(".outbox-message").inner_text()
    shots.take(page, "refused with the server message")
    assert Issue.objects.count() == 0

    with page.expect_navigation():
        item.locator("a.btn-primary").tap()
    page.locator(".photo-preview").nth(1).wait_for()
    assert page.locator("#id_description").input_value() == "井盖缺失"
    assert "点位已停用" in page.locator("#report-problem").inner_text()
    # Both are pickers: clear the point, type the community as "name [code]".
    page.locator("#id_point").fill("")
    page.locator("#id_community").fill(f"{world.community_a.name} [{world.community_a.code}]")
    shots.take(page, "corrected")
    with page.expect_navigation(url=re.compile(r".*/issues/\d+/$")):
        page.locator("#report-submit").tap()
    issue = Issue.objects.get()
    assert issue.point is None and issue.community == world.community_a
    assert issue.photos.count() == 2
    assert issue.description == "井盖缺失"
    # The refusal's answer is the point of this test, not a fault of the page.
    phones.problems[:] = [p for p in phones.problems if "status of 400" not in p]


def test_offline_draft_comes_back_after_the_tab_was_closed(phones, browser_world, shots):
    world = browser_world
    page = phones.open("inspector_xincheng")
    page.goto("/issues/new/")
    choose_photo(page, "#id_photos", camera_photo(800, 600), name="draft.jpg")
    page.locator("#id_description").fill("路灯不亮")
    # The draft is saved shortly after typing stops: wait until it holds the text and the photo.
    wait_in_page(
        page,
        """async () => {
            const draft = await CivicOutboxCore.loadDraft("report:" + CivicOutbox.user);
            return !!draft && JSON.stringify(draft.fields).includes("路灯不亮")
                && draft.files.length === 1; }""",
        what="draft saved",
    )
    context = page.context
    page.close()
    page = context.new_page()
    page.goto("/issues/new/")
    page.locator("#report-draft").wait_for()
    assert page.locator("#id_description").input_value() == "路灯不亮"
    assert page.locator(".photo-preview").count() == 1
    shots.take(page, "draft restored")
    page.locator("#report-draft button").tap()
    assert page.locator("#id_description").input_value() == ""
    assert world.inspector_xincheng.reported_issues.count() == 0


def twelve_megapixel_photo(seed: int) -> bytes:
    """A 4000×3000 JPEG about as large as a phone's (4–5 MB): gradients and fine grain."""
    from PIL import Image, ImageFilter

    size = (4000, 3000)
    gradient = Image.linear_gradient("L").resize(size)
    grain = Image.effect_noise(size, 44 + seed).filter(ImageFilter.GaussianBlur(0.7))
    red = Image.blend(gradient, grain, 0.5)
    green = Image.blend(gradient.transpose(Image.Transpose.ROTATE_90).resize(size), grain, 0.45)
    blue = Image.effect_noise(size, 40).filter(ImageFilter.GaussianBlur(1.0))
    buffer = io.BytesIO()
    Image.merge("RGB", (red, green, blue)).save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def test_pwa_report_with_three_12mp_photos_sends_under_1_5_mb(
    phones, browser_world, shots, monkeypatch
):
    world = browser_world
    page = phones.open("inspector_xincheng")
    page.goto("/issues/new/")
    install_app(page)
    originals = [twelve_megapixel_photo(seed) for seed in range(3)]
    # The body's length as the server received it (Content-Length of each report POST).
    sent: list[int] = []
    original_post = report_views._issue_report_post

    def measured_post(request):
        sent.append(int(request.META.get("CONTENT_LENGTH") or 0))
        return original_post(request)

    monkeypatch.setattr(report_views, "_issue_report_post", measured_post)
    page.set_input_files(
        "#id_photos",
        files=[
            {"name": f"IMG_{n}.jpg", "mimeType": "image/jpeg", "buffer": content}
            for n, content in enumerate(originals)
        ],
    )
    page.locator(".photo-preview").nth(2).wait_for(timeout=60_000)
    page.wait_for_function(
        "() => !document.querySelector('[data-photo-widget]').hasAttribute('data-busy')",
        timeout=60_000,
    )
    tile = page.locator(f"label.tile:has(input[value='{world.category.pk}'])")
    if not tile.is_visible():
        page.locator("details.more-categories > summary").tap()
    tile.tap()
    page.locator(".nearby-choice[aria-pressed='true']").wait_for()
    with page.expect_navigation(url=re.compile(r".*/issues/\d+/$"), timeout=60_000):
        page.locator("#report-submit").tap()
    shots.take(page, "filed")
    total = sum(sent)
    print(
        f"three 12 MP photos: originals {sum(map(len, originals)) / 1e6:.2f} MB, "
        f"request body sent {total / 1e6:.2f} MB"
    )
    assert len(sent) == 1
    assert total < 1_500_000
    assert Issue.objects.get().photos.count() == 3

    # The cached report page opened with no signal, timed from navigation to a usable form.
    page.context.set_offline(True)
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        page.goto("/issues/new/")
        page.locator("#report-submit").wait_for()
        timings.append((time.perf_counter() - started) * 1000)
    print(f"cached report page opened offline in {min(timings):.0f}–{max(timings):.0f} ms")


def test_pwa_update_waits_for_the_capture_then_reloads_onto_the_new_version(
    phones, browser_world, shots, monkeypatch
):
    world = browser_world
    page = phones.open("inspector_xincheng")
    page.goto("/issues/new/")
    install_app(page)
    # A capture in progress: something typed (the draft is being kept).
    page.locator("#id_description").fill("护栏倒伏")
    wait_in_page(page, "async () => window.CivicCapture.busy()", what="capture in progress")

    # A release: the worker's bytes change (a new cache version), the browser installs it.
    current = offline_views._service_worker_source()
    assert b'var VERSION = "' in current
    monkeypatch.setattr(
        offline_views,
        "_service_worker_source",
        lambda: current.replace(b'var VERSION = "', b'var VERSION = "next-'),
    )
    page.evaluate("async () => (await navigator.serviceWorker.getRegistration()).update()")
    wait_in_page(
        page,
        """async () => { const r = await navigator.serviceWorker.getRegistration();
           return !!(r.waiting && r.waiting.state === "installed"); }""",
        what="new version waiting",
    )
    banner = page.locator("#update-banner")
    # Not while the report is being captured: the page's scripts must not change under it.
    assert banner.is_hidden()
    shots.take(page, "new version waits during the capture")

    # The capture ends (the report is filed); the next page offers the new version.
    fill_report(page, world, photos=1)
    with page.expect_navigation(url=re.compile(r".*/issues/\d+/$")):
        page.locator("#report-submit").tap()
    banner.wait_for(state="visible")
    assert banner.inner_text() == "新版本已就绪，点击刷新"
    shots.take(page, "update offered")
    with page.expect_navigation():
        banner.tap()
    page.locator("#main").wait_for()
    wait_in_page(
        page,
        """async () => { const r = await navigator.serviceWorker.getRegistration();
           const names = await caches.keys();
           return !r.waiting && !!navigator.serviceWorker.controller
               && names.some(name => name.startsWith("civic-static-next-"))
               && !names.some(name => /^civic-static-\\d/.test(name)); }""",
        what="reloaded onto the new version",
    )
    assert banner.is_hidden()
    shots.take(page, "reloaded on the new version")
    assert Issue.objects.count() == 1


def test_outbox_logout_asks_before_discarding_unsent_items(phones, browser_world, shots):
    world = browser_world
    page = phones.open("inspector_xincheng")
    page.goto("/issues/new/")
    install_app(page, pages=("/issues/new/", "/"))
    token = queue_report_offline(page, world)
    # Back online, but the server cannot be reached for reports: the item stays unsent.
    page.route(
        "**/issues/new/",
        lambda route: route.abort() if route.request.method == "POST" else route.continue_(),
    )
    page.context.set_offline(False)
    page.goto("/outbox/")
    page.locator(".outbox-item").wait_for()

    page.locator("details.user-menu > summary").tap()
    with page.expect_event("dialog") as asked:
        page.locator("form[data-logout] button").tap()
    assert "还有 1 条记录未发送" in asked.value.message
    asked.value.dismiss()
    # Cancelled: still signed in, the item and the cached pages are kept.
    page.locator("form[data-logout] button").wait_for()
    assert page.url.endswith("/outbox/")
    assert [item["id"] for item in outbox_items(page)] == [token]
    assert page.evaluate("async () => !!(await caches.match('/issues/new/'))")
    shots.take(page, "logout cancelled keeps the outbox")

    with page.expect_navigation():
        with page.expect_event("dialog") as asked:
            page.locator("form[data-logout] button").tap()
        asked.value.accept()
    shots.take(page, "logged out after confirming")
    assert page.evaluate("() => caches.has('civic-user')") is False
    left = page.evaluate(
        """() => new Promise(resolve => {
            const open = indexedDB.open("civicapp-offline");
            open.onsuccess = () => {
                const all = open.result.transaction("outbox").objectStore("outbox").getAll();
                all.onsuccess = () => resolve(all.result.length);
            };
        })"""
    )
    assert left == 0
    assert Issue.objects.count() == 0
    # The refused connection is this test's doing, not a fault of the page.
    phones.problems[:] = [p for p in phones.problems if "net::ERR_FAILED" not in p]


def test_offline_round_visit_is_queued_with_its_photo_and_synced(phones, browser_world, shots):
    from PIL import Image

    from rounds.models import Observation, RoundPoint, Visit
    from tests.browser.test_round_walk import _round

    world = browser_world
    round_, standards = _round(world)
    round_point = RoundPoint.objects.get(round=round_, point=world.point_a)
    visit_url = f"/rounds/{round_.pk}/points/{round_point.pk}/"
    page = phones.open("inspector_xincheng")
    page.goto(f"/rounds/{round_.pk}/")
    page.wait_for_url(lambda url: "lat=" in url)
    # The worklist caches its points' pages (the check items) for the walk without signal.
    install_app(page, pages=(f"/rounds/{round_.pk}/", visit_url))
    shots.take(page, "worklist online caches the points")

    page.context.set_offline(True)
    page.goto(f"/rounds/{round_.pk}/")
    page.locator(f"a[href='{visit_url}']").tap()
    page.locator("[data-visit]").wait_for()
    page.locator("[data-queue-status]:not([hidden])").wait_for()  # the start, kept on the phone
    captured = timezone.now()
    page.locator(f"#standard-{standards[1].pk} button.toggle-yes").tap()
    page.locator(f"#standard-{standards[1].pk} button.toggle-yes[aria-pressed=true]").wait_for()
    page.locator(f"#standard-{standards[0].pk} button.toggle-no").tap()
    page.locator(f"#standard-{standards[0].pk} [data-fail-extra]:not([hidden])").wait_for()
    page.fill(f"#note-{standards[0].pk}", "东门墙面小广告")
    choose_photo(page, f"#photo-{standards[0].pk}", camera_photo(2400, 1800), name="fail.jpg")
    extra = f"#standard-{standards[0].pk} [data-fail-extra]"
    save = f"{extra} button[type=submit]:not([data-file-case])"
    page.locator(save).tap()
    wait_in_page(
        page,
        """async () => (await CivicOutboxCore.list(CivicOutbox.user))
            .filter(item => item.kind === "round").length === 4""",
        what="start, two marks and the photo mark queued",
    )
    shots.take(page, "visit recorded offline")
    items = page.evaluate(
        """async () => Promise.all((await CivicOutboxCore.list(CivicOutbox.user)).map(
            async item => ({state: item.state, url: item.url, files: await Promise.all(
                item.files.map(async file => {
                    const bitmap = await createImageBitmap(file.blob);
                    return [file.type, bitmap.width, bitmap.height, file.blob.size];
                }))})))"""
    )
    assert {item["state"] for item in items} == {"queued"}
    photos = [file for item in items for file in item["files"]]
    # Shrunk on the phone by the report form's code before it was queued: 1600 px at most.
    assert len(photos) == 1 and photos[0][:3] == ["image/jpeg", 1600, 1200]
    page.locator("[data-finish] button").tap()
    page.wait_for_url(lambda url: url.rstrip("/").endswith(f"/rounds/{round_.pk}"))
    shots.take(page, "finished offline back on the cached worklist")
    assert Visit.objects.count() == 0 and Observation.objects.count() == 0

    time.sleep(1.5)  # not a wait for the app: the receipt time must be visibly after the capture
    page.context.set_offline(False)
    wait_outbox_sent(page)
    shots.take(page, "synced when back online")
    visit = Visit.objects.get()
    assert visit.round_point == round_point and visit.finished_at is not None
    assert abs((visit.started_at - captured).total_seconds()) < 15
    assert visit.received_at - visit.started_at >= datetime.timedelta(seconds=1)
    assert visit.accuracy_m == 12 and float(visit.latitude) == pytest.approx(43.6502)
    marks = {o.check_item_id: o for o in Observation.objects.all()}
    assert set(marks) == {standards[0].pk, standards[1].pk}
    failed = marks[standards[0].pk]
    assert failed.result == Observation.Result.FAILED and failed.note == "东门墙面小广告"
    assert failed.received_at - failed.observed_at >= datetime.timedelta(seconds=1)
    assert abs((failed.observed_at - captured).total_seconds()) < 15
    with Image.open(failed.photo.path) as stored:
        assert max(stored.size) <= 1600
    assert marks[standards[1].pk].result == Observation.Result.MET
