"""A round on phones: an inspector walks three points, the supervisor reads the score."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from districts.models import CheckItem
from issues.models import Issue
from rounds import services
from rounds.models import Observation, Visit
from tests.browser.test_issue_flow import small_photo
from tests.factories import InspectionPointFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _round(world):
    point_type = world.point_a.point_type
    standards = [
        CheckItem.objects.create(
            point_type=point_type,
            text="无乱贴乱画小广告",
            weight=2,
            category=world.category,
            photo_required_on_fail=True,
            sort_order=1,
        ),
        CheckItem.objects.create(point_type=point_type, text="划行归市", sort_order=2),
        CheckItem.objects.create(point_type=point_type, text="公平秤设置到位", sort_order=3),
    ]
    for index, name in enumerate(["蓝湾菜场东门", "蓝湾菜场西门"], start=1):
        InspectionPointFactory(
            community=world.community_a,
            point_type=point_type,
            name=name,
            latitude=Decimal("43.650000") + Decimal(index) / 1000,
            longitude=Decimal("122.250000"),
        )
    today = timezone.localdate()
    round_ = services.round_create(
        actor=world.supervisor_xincheng,
        name="第一周模拟测评",
        kind="mock",
        starts_on=today,
        ends_on=today + datetime.timedelta(days=6),
        districts=[world.district_a],
        inspectors=[world.inspector_xincheng],
    )
    return round_, standards


def _tap(page, standard, button: str) -> None:
    locator = page.locator(f"#standard-{standard.pk} button.toggle-{button}")
    locator.click()
    page.wait_for_selector(f"#standard-{standard.pk} button.toggle-{button}[aria-pressed=true]")
    page.wait_for_function(
        "sel => !document.querySelector(sel).hasAttribute('data-saving')",
        arg=f"#standard-{standard.pk} button.toggle-{button}",
    )


def test_round_walk_three_points_file_one_case_and_read_the_score(browser_world, phones, shots):
    world = browser_world
    round_, standards = _round(world)

    phone = phones.open("inspector_xincheng")
    phone.goto("/")
    phone.click("main a[href='/rounds/']")
    phone.click(f"a[href='/rounds/{round_.pk}/']")
    phone.wait_for_url(lambda url: "lat=" in url)  # sorted nearest first from the mocked GPS
    assert "0 / 3" in phone.locator("[data-progress]").inner_text()
    first_name = phone.locator(".worklist-item .issue-title").first.inner_text()
    assert first_name == world.point_a.name  # the phone stands 25 m from point A
    shots.take(phone, "worklist nearest first")

    for walk in range(3):
        phone.locator(".worklist-item:not(.is-done) a").first.click()
        phone.wait_for_selector("[data-visit][data-started='1']")  # started with the GPS
        if walk == 0:
            _tap(phone, standards[0], "no")
            phone.fill(f"#note-{standards[0].pk}", "东门墙面小广告")
            phone.set_input_files(
                f"#photo-{standards[0].pk}",
                files=[{"name": "fail.jpg", "mimeType": "image/jpeg", "buffer": small_photo()}],
            )
            shots.take(phone, "failed standard with photo")
            with phone.expect_navigation():
                phone.click(f"#standard-{standards[0].pk} [data-file-case]")
            phone.wait_for_selector(f"#standard-{standards[0].pk} [data-case]")
            _tap(phone, standards[1], "yes")
            _tap(phone, standards[2], "na")
            shots.take(phone, "case filed from the standard")
        else:
            for standard in standards:
                _tap(phone, standard, "yes")
        phone.click("[data-finish] button")
        phone.wait_for_url(lambda url: "lat=" in url and "/points/" not in url)

    assert "3 / 3" in phone.locator("[data-progress]").inner_text()
    shots.take(phone, "worklist all visited")

    issue = Issue.objects.get()
    assert issue.point == world.point_a and issue.category == world.category
    assert issue.photos.count() == 1 and "小广告" in issue.description
    assert Observation.objects.count() == 9
    assert Visit.objects.filter(finished_at__isnull=False).count() == 3
    # The phone never moved: the west gate, 220 m away, is recorded and flagged as far.
    far = Visit.objects.filter(is_far=True).values_list("round_point__point__name", flat=True)
    assert list(far) == ["蓝湾菜场西门"]

    supervisor = phones.open("supervisor_xincheng")
    supervisor.goto(f"/rounds/{round_.pk}/results/")
    # Point A: met 1 of 2 + 1 (n.a. left out) → 33.3 %; the others 4 of 4 → 100 %.
    # The round pools the weights: 9 of 11 → 81.8 %; the mock score averages points: 77.8.
    assert supervisor.locator("[data-round-rate]").inner_text().startswith("81.8")
    assert supervisor.locator("[data-mock-score]").inner_text() == "77.8"
    assert issue.case_number in supervisor.locator("[data-case-list]").inner_text()
    shots.take(supervisor, "results with score and case")
