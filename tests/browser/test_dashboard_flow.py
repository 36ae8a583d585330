"""A leader reads the campaign on a phone and on a desktop: dashboard, 红黑榜, 通报, ledger."""

from __future__ import annotations

import datetime
import io

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from issues.models import Status
from tests.factories import issue_in
from tests.stats.helpers import rollup_follows_the_factories

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(autouse=True)
def _rollup_follows_the_factories():
    # The dashboards read the KPI rollup, which the services keep; these cases skip them.
    with rollup_follows_the_factories():
        yield


DESKTOP = {"viewport": {"width": 1366, "height": 900}}


def _campaign(world) -> None:
    now = timezone.now()
    issue_in(world, description="本周新上报")
    issue_in(world, status=Status.IN_PROGRESS, deadline=now - datetime.timedelta(hours=2))
    issue_in(world, where="b", status=Status.CLOSED, deadline=now + datetime.timedelta(hours=2))
    issue_in(world, status=Status.ASSIGNED, description="=危险公式")


def _no_sideways_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert width <= viewport + 1, (width, viewport)


def test_dashboard_leader_on_a_phone(phones, browser_world, shots):
    _campaign(browser_world)
    page = phones.open("leader_zone")
    page.click("nav.main-nav >> text=数据")
    page.wait_for_url("**/stats/dashboard/")
    page.locator("#trend-chart svg").first.wait_for()
    assert page.locator(".kpi-tiles .stat").count() >= 10
    assert "按期结案率" in page.content()
    _no_sideways_scroll(page)
    shots.take(page, "dashboard-this-week")

    page.check("input[name=period][value=last_week]")
    page.click("form.period-form button[type=submit]")
    page.wait_for_url("**period=last_week**")
    page.locator("#trend-chart svg").first.wait_for()
    shots.take(page, "dashboard-last-week")

    page.check("input[name=period][value=this_week]")
    page.click("form.period-form button[type=submit]")
    page.wait_for_url("**period=this_week**")
    reported = page.locator("[data-figure=reported] .stat-value").inner_text()
    assert reported == "4"
    page.click("[data-figure=reported]")
    page.wait_for_url("**/issues/**")
    shots.take(page, "dashboard-number-opens-its-list")
    # The list shows exactly the four cases the tile counted (one card each on a phone).
    assert page.locator("main").inner_text().count("上报于") == 4

    page.goto("/stats/ranking/")
    assert "红黑榜" in page.content()
    _no_sideways_scroll(page)
    shots.take(page, "ranking")

    page.goto("/stats/notice/")
    assert "周通报" in page.content()
    shots.take(page, "notice")
    page.emulate_media(media="print")
    shots.take(page, "notice-print")
    page.emulate_media(media="screen")

    page.goto("/issues/")
    with page.expect_download() as download_info:
        page.click("text=整改台账（XLSX）")
    download = download_info.value
    workbook = load_workbook(io.BytesIO(open(download.path(), "rb").read()))  # noqa: SIM115
    sheet = workbook.worksheets[0]
    assert sheet.cell(row=1, column=1).value == "序号"
    assert sheet.max_row == 5
    descriptions = [row[6].value for row in sheet.iter_rows(min_row=2)]
    assert "'=危险公式" in descriptions
    shots.take(page, "ledger-downloaded")


def test_dashboard_leader_on_a_desktop(phones, browser_world, shots):
    _campaign(browser_world)
    context = phones.browser.new_context(**DESKTOP, base_url=phones.base_url, locale="zh-CN")
    phones.contexts.append(context)
    page = context.new_page()
    page.on("pageerror", lambda error: phones.problems.append(f"{page.url}: {error}"))
    page.goto("/accounts/login/")
    page.fill("#id_username", "leader_zone")
    page.fill("#id_password", "password")
    page.click("main button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    page.goto("/stats/dashboard/?period=this_month")
    page.locator("#trend-chart svg").first.wait_for()
    assert page.locator("table.kpi-table").count() == 2
    shots.take(page, "desktop-dashboard")
    page.goto("/stats/ranking/")
    shots.take(page, "desktop-ranking")
    page.goto("/stats/notice/")
    shots.take(page, "desktop-notice")
