"""The issue detail page (issues:issue_detail) and the map link's GCJ-02 conversion."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from districts.geo import amap_marker_url, distance_m, wgs84_to_gcj02
from issues.models import Action, IssueEvent, Photo, Status
from tests.factories import issue_in
from tests.issues.lifecycle_support import pending_extension


def detail_url(issue) -> str:
    return reverse("issues:issue_detail", kwargs={"pk": issue.pk})


def add_history(issue, actor, count: int) -> None:
    """`count` events, each with a photo, as a long-running issue collects them."""
    now = timezone.now()
    for n in range(count):
        event = IssueEvent.objects.create(
            issue=issue,
            actor=actor,
            actor_role="supervisor",
            action=Action.ESCALATE,
            from_status=issue.status,
            to_status=issue.status,
            note=f"第{n}次督办",
            organisation=issue.assigned_organisation,
            old_deadline=issue.deadline,
            new_deadline=issue.deadline,
            created_at=now - datetime.timedelta(minutes=count - n),
        )
        Photo.objects.create(
            issue=issue,
            event=event,
            kind=[Photo.Kind.BEFORE, Photo.Kind.AFTER, Photo.Kind.CHECK][n % 3],
            image=f"photos/test/{issue.pk}-{n}.jpg",
            thumbnail=f"thumbs/test/{issue.pk}-{n}.jpg",
            width=64,
            height=48,
            size_bytes=1000,
            sha256="0" * 64,
            uploaded_by=actor,
        )


# --- access ---------------------------------------------------------------------------------


def test_anonymous_detail_redirects_to_login(client, world):
    issue = issue_in(world, Status.REPORTED)
    response = client.get(detail_url(issue))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("persona", ["inspector_binhe", "supervisor_binhe", "handler_binhe"])
def test_issue_outside_the_users_scope_does_not_exist_for_them(client, world, persona):
    issue = issue_in(world, Status.ASSIGNED)
    client.force_login(getattr(world, persona))
    assert client.get(detail_url(issue)).status_code == 404


def test_missing_issue_answers_404_like_an_out_of_scope_one(client, world):
    client.force_login(world.supervisor_xincheng)
    assert client.get(reverse("issues:issue_detail", kwargs={"pk": 999999})).status_code == 404


@pytest.mark.parametrize(
    "persona",
    ["inspector_xincheng", "supervisor_xincheng", "handler_xincheng", "leader_zone", "admin_zone"],
)
def test_people_in_scope_see_the_issue(client, world, persona):
    issue = issue_in(world, Status.ASSIGNED)
    client.force_login(getattr(world, persona))
    response = client.get(detail_url(issue))
    assert response.status_code == 200
    assert issue.case_number in response.content.decode()


# --- what the page shows ----------------------------------------------------------------------


def test_supervisor_sees_dispatch_with_routing_suggestion_and_computed_deadline(client, world):
    issue = issue_in(world, Status.REPORTED, latitude=Decimal("43.65"), longitude=Decimal("122.25"))
    client.force_login(world.supervisor_xincheng)
    response = client.get(detail_url(issue), HTTP_ACCEPT_LANGUAGE="en")
    offered = [item["transition"].action for item in response.context["action_forms"]]
    assert offered[0] == Action.DISPATCH
    assert set(offered) >= {Action.DISPATCH, Action.REJECT, Action.MARK_DUPLICATE, Action.CANCEL}
    dispatch = response.context["action_forms"][0]["form"]
    assert dispatch.fields["organisation"].initial == world.org_x.pk  # territorial owner of A
    deadline = dispatch.fields["deadline"].initial
    assert timezone.now() < deadline <= timezone.now() + datetime.timedelta(hours=2)
    html = response.content.decode()
    assert reverse("issues:issue_act", args=[issue.pk, "dispatch"]) in html
    # The organisation picker shows the suggestion by name and code; no list of organisations.
    assert f' [{world.org_x.code}]"' in html
    assert 'data-picker-url="/pick/organisation/"' in html
    assert 'name="dispatch-deadline_suggested"' in html
    assert "Routing suggestion" in html


def test_inspector_is_offered_no_supervisor_actions(client, world):
    issue = issue_in(
        world, Status.REPORTED, category=world.category, reporter=world.inspector_binhe
    )
    client.force_login(world.inspector_xincheng)
    response = client.get(detail_url(issue))
    offered = {item["transition"].action for item in response.context["action_forms"]}
    assert Action.DISPATCH not in offered
    assert Action.REJECT not in offered
    assert 'act/dispatch/"' not in response.content.decode()


def test_handler_is_offered_acknowledge_on_an_assigned_issue(client, world):
    issue = issue_in(world, Status.ASSIGNED)
    client.force_login(world.handler_xincheng)
    response = client.get(detail_url(issue))
    offered = [item["transition"].action for item in response.context["action_forms"]]
    assert offered[0] == Action.ACKNOWLEDGE
    assert Action.DISPATCH not in offered


def test_leader_reads_but_is_offered_no_action(client, world):
    issue = issue_in(world, Status.SUBMITTED)
    client.force_login(world.leader_zone)
    response = client.get(detail_url(issue))
    assert response.context["action_forms"] == []
    assert "issue_act" not in response.content.decode()


def test_photos_are_grouped_before_after_check_and_link_to_full_size(client, world):
    issue = issue_in(world, Status.SUBMITTED)
    add_history(issue, world.supervisor_xincheng, 3)
    client.force_login(world.supervisor_xincheng)
    response = client.get(detail_url(issue))
    groups = {kind: photos for kind, _label, photos in response.context["photo_groups"]}
    assert [len(groups[k]) for k in ("before", "after", "check")] == [1, 1, 1]
    html = response.content.decode()
    for photo in Photo.objects.filter(issue=issue):
        assert reverse("issues:photo", args=[photo.pk]) in html
        assert reverse("issues:photo_thumb", args=[photo.pk]) in html


def test_timeline_shows_every_event_with_actor_note_and_deadlines(client, world):
    issue = issue_in(world, Status.ASSIGNED)
    add_history(issue, world.supervisor_xincheng, 2)
    client.force_login(world.supervisor_xincheng)
    response = client.get(detail_url(issue), HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()
    assert "第0次督办" in html and "第1次督办" in html
    assert len(response.context["events"]) == 2
    assert html.count('class="timeline-item') == 2
    local = timezone.localtime(issue.deadline).strftime("%Y-%m-%d %H:%M")
    assert local in html


def test_pending_extension_is_listed_and_offered_to_the_supervisor(client, world):
    issue = issue_in(world, Status.IN_PROGRESS)
    pending_extension(issue, world)
    client.force_login(world.supervisor_xincheng)
    response = client.get(detail_url(issue))
    offered = {item["transition"].action for item in response.context["action_forms"]}
    assert {Action.APPROVE_EXTENSION, Action.REFUSE_EXTENSION} <= offered
    assert "需要协调车辆" in response.content.decode()


def test_location_links_to_amap_in_gcj02(client, world):
    issue = issue_in(
        world, Status.REPORTED, latitude=Decimal("43.650000"), longitude=Decimal("122.250000")
    )
    client.force_login(world.supervisor_xincheng)
    html = client.get(detail_url(issue)).content.decode()
    gcj_lat, gcj_lng = wgs84_to_gcj02(43.65, 122.25)
    assert f"https://uri.amap.com/marker?position={gcj_lng:.6f},{gcj_lat:.6f}" in html
    assert "43.650000, 122.250000" in html
    # The page references no external asset: only a link goes out.
    assert 'src="http' not in html and 'href="http' not in html.replace(
        'href="https://uri.amap.com/', ""
    )


def test_detail_page_has_no_inline_script_or_style(client, world):
    issue = issue_in(world, Status.IN_PROGRESS)
    client.force_login(world.handler_xincheng)
    response = client.get(detail_url(issue))
    html = response.content.decode()
    assert "<script>" not in html
    assert "style=" not in html
    assert "<style" not in html
    assert "script-src 'self'" in response["Content-Security-Policy"]


# --- query count ------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["supervisor_xincheng", "handler_xincheng"])
def test_detail_page_query_count_does_not_grow_with_history(client, world, persona):
    small = issue_in(world, Status.IN_PROGRESS)
    large = issue_in(world, Status.IN_PROGRESS)
    add_history(small, world.supervisor_xincheng, 2)
    add_history(large, world.supervisor_xincheng, 20)
    pending_extension(small, world)
    pending_extension(large, world)
    client.force_login(getattr(world, persona))
    client.get(detail_url(small))  # warm the session and per-process caches

    counts = []
    for issue in (small, large):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(detail_url(issue))
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
    # Session, user with membership, issue (with its places, people and category), photos,
    # events (with actors), extensions, the bell; the supervisor adds the district scope and
    # routing (organisations are pickers: no list is loaded). Outside a test's transaction the
    # issue's read carries its join order in its own query string (`civicapp.db.joins_as_written`,
    # no statement more; see `test_fast_detail_reads_its_case_with_the_joins_as_written`).
    # Pinned so that a regression shows.
    assert counts[0] == {"supervisor_xincheng": 10, "handler_xincheng": 8}[persona], counts


# --- geo --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wgs", "gcj"),
    [
        ((31.1774276, 121.5272106), (31.17530398364597, 121.531541859215)),
        ((22.543847, 113.912316), (22.540796131694766, 113.9171764808363)),
        ((39.911954, 116.377817), (39.91334545536069, 116.38404722455657)),
    ],
)
def test_wgs84_to_gcj02_matches_the_published_transform(wgs, gcj):
    lat, lng = wgs84_to_gcj02(*wgs)
    assert lat == pytest.approx(gcj[0], abs=1e-9)
    assert lng == pytest.approx(gcj[1], abs=1e-9)


def test_wgs84_to_gcj02_leaves_positions_outside_china_alone():
    assert wgs84_to_gcj02(48.8566, 2.3522) == (48.8566, 2.3522)


def test_gcj02_offset_in_tongliao_is_a_few_hundred_metres():
    lat, lng = wgs84_to_gcj02(Decimal("43.65"), Decimal("122.25"))
    assert 100 < distance_m(43.65, 122.25, lat, lng) < 1000


def test_amap_link_carries_the_converted_position_and_the_name():
    url = amap_marker_url(43.65, 122.25, "水域蓝湾早夜市")
    assert url.startswith("https://uri.amap.com/marker?position=122.2")
    assert "coordinate=gaode" in url
    assert "name=%E6%B0%B4" in url
