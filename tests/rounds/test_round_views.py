"""Round pages and actions: anonymous, out of scope (404), forbidden (403), allowed; queries."""

from __future__ import annotations

import io
import json
import uuid

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from districts.models import Role
from issues.models import Issue
from rounds import services
from rounds.models import Observation, Round, Visit
from tests.factories import make_staff
from tests.rounds.support import TODAY, add_points, add_standards, make_round, token, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def walked(world):
    """A round in district A walked by inspector_xincheng, one failed standard on point A."""
    items = add_standards(world)
    round_ = make_round(world)
    rp = round_.round_points.get()
    outcome = services.observation_record(
        round_point=rp,
        actor=world.inspector_xincheng,
        check_item=items[0],
        result="no",
        client_token=token(),
        photos=services.prepare_upload([upload()]),
    )
    return round_, rp, items, outcome.observation


def _pages(round_, rp, observation):
    pk = round_.pk
    return {
        "worklist": reverse("rounds:worklist", args=[pk]),
        "results": reverse("rounds:round_results", args=[pk]),
        "export": reverse("rounds:round_export", args=[pk]),
        "visit": reverse("rounds:visit_page", args=[pk, rp.pk]),
        "state": reverse("rounds:visit_api", args=[pk, rp.pk]),
        "photo": reverse("rounds:observation_photo", args=[pk, observation.pk]),
    }


def _actions(round_, rp, observation):
    pk = round_.pk
    return {
        "clone": reverse("rounds:round_clone", args=[pk]),
        "close": reverse("rounds:round_close", args=[pk]),
        "start": reverse("rounds:visit_start", args=[pk, rp.pk]),
        "mark": reverse("rounds:visit_mark", args=[pk, rp.pk]),
        "finish": reverse("rounds:visit_finish", args=[pk, rp.pk]),
        "file": reverse("rounds:observation_file", args=[pk, observation.pk]),
        "fix": reverse("rounds:observation_fix", args=[pk, observation.pk]),
    }


def _snapshot():
    return (
        Round.objects.count(),
        Round.objects.filter(status="closed").count(),
        Visit.objects.count(),
        Observation.objects.count(),
        Issue.objects.count(),
    )


def test_round_pages_and_actions_send_anonymous_users_to_login(client, walked):
    round_, rp, _items, observation = walked
    for url in [*_pages(round_, rp, observation).values(), reverse("rounds:round_list")]:
        assert client.get(url).status_code == 302
    before = _snapshot()
    for url in _actions(round_, rp, observation).values():
        assert client.post(url).status_code == 302
    assert _snapshot() == before


def test_round_is_404_for_every_page_and_action_out_of_scope(client, world, walked):
    round_, rp, items, observation = walked
    before = _snapshot()
    for user in (world.inspector_binhe, world.supervisor_binhe, world.handler_xincheng):
        client.force_login(user)
        for name, url in _pages(round_, rp, observation).items():
            assert client.get(url).status_code == 404, (user, name)
        for name, url in _actions(round_, rp, observation).items():
            response = client.post(
                url, {"check_item": items[1].pk, "result": "yes", "client_token": token()}
            )
            assert response.status_code == 404, (user, name)
    assert _snapshot() == before


def test_round_is_403_for_forbidden_pages_and_actions_on_a_visible_round(client, world, walked):
    round_, rp, _items, observation = walked
    pages = _pages(round_, rp, observation)
    actions = _actions(round_, rp, observation)
    before = _snapshot()
    # The inspector walks the round but neither reads its results nor manages it.
    client.force_login(world.inspector_xincheng)
    for name in ("results", "export"):
        assert client.get(pages[name]).status_code == 403, name
    for name in ("clone", "close"):
        assert client.post(actions[name]).status_code == 403, name
    # The leader reads the results but neither manages the round nor marks its points.
    client.force_login(world.leader_zone)
    assert client.get(pages["results"]).status_code == 200
    for name in ("visit", "state"):
        assert client.get(pages[name]).status_code == 403, name
    for name in ("clone", "close", "start", "mark", "finish", "file", "fix"):
        assert client.post(actions[name]).status_code == 403, name
    # The supervisor manages the round but does not mark its points.
    client.force_login(world.supervisor_xincheng)
    for name in ("start", "mark", "finish", "file", "fix"):
        assert client.post(actions[name]).status_code == 403, name
    # Inspectors and leaders may not start rounds.
    for user in (world.inspector_xincheng, world.leader_zone, world.handler_xincheng):
        client.force_login(user)
        assert client.get(reverse("rounds:round_create")).status_code == 403
        assert client.post(reverse("rounds:round_create")).status_code == 403
    assert _snapshot() == before


def test_round_another_inspectors_point_is_404(client, world):
    add_standards(world)
    add_points(world, 1)
    other = make_staff("alice2", Role.INSPECTOR, districts=[world.district_a])
    round_ = make_round(world, inspectors=[world.inspector_xincheng, other])
    theirs = round_.round_points.exclude(inspector=world.inspector_xincheng).get()
    client.force_login(world.inspector_xincheng)
    assert client.get(reverse("rounds:visit_page", args=[round_.pk, theirs.pk])).status_code == 404


def test_round_closed_is_gone_for_the_inspector_and_409_for_a_queued_write(client, world, walked):
    round_, rp, items, _observation = walked
    services.round_close(round_=round_, actor=world.supervisor_xincheng)
    client.force_login(world.inspector_xincheng)
    assert client.get(reverse("rounds:worklist", args=[round_.pk])).status_code == 404
    response = client.post(
        reverse("rounds:visit_mark", args=[round_.pk, rp.pk]),
        data=json.dumps({"check_item": items[1].pk, "result": "yes", "client_token": token()}),
        content_type="application/json",
    )
    assert response.status_code == 409 and response.json()["error"] == "closed"


def test_round_supervisor_creates_a_drawn_round_from_the_form(client, world):
    add_points(world, 4)
    client.force_login(world.supervisor_xincheng)
    assert client.get(reverse("rounds:round_create")).status_code == 200
    response = client.post(
        reverse("rounds:round_create"),
        {
            "name": "模拟测评第3周",
            "kind": "mock",
            "starts_on": "2026-03-02",
            "ends_on": "2026-03-08",
            "districts": [world.district_a.pk],
            "selection": "draw",
            "draw_per_type": "2",
            "seed": "99",
            "inspectors": [world.inspector_xincheng.pk],
        },
    )
    round_ = Round.objects.get()
    assert response.status_code == 302
    assert round_.seed == 99 and round_.round_points.count() == 2


def test_round_create_with_bad_input_shows_errors_not_500(client, world):
    client.force_login(world.supervisor_xincheng)
    response = client.post(
        reverse("rounds:round_create"),
        {"name": "", "starts_on": "x", "districts": [world.district_b.pk], "seed": "-5"},
    )
    assert response.status_code == 200 and Round.objects.count() == 0


def test_visit_json_mark_then_no_with_file_case_retried_files_one_case(client, world, walked):
    round_, rp, items, _observation = walked
    client.force_login(world.inspector_xincheng)
    url = reverse("rounds:visit_mark", args=[round_.pk, rp.pk])
    tap = {
        "check_item": items[1].pk,
        "result": "yes",
        "client_token": token(),
        "observed_at": "2026-03-02T10:00:00+08:00",
        "latitude": "43.650100",
        "longitude": "122.250100",
        "accuracy_m": "9",
    }
    first = client.post(
        url, json.dumps(tap), content_type="application/json", HTTP_ACCEPT="application/json"
    )
    again = client.post(
        url, json.dumps(tap), content_type="application/json", HTTP_ACCEPT="application/json"
    )
    assert first.status_code == 200 and first.json()["applied"] is True
    assert again.json()["applied"] is False
    assert Observation.objects.filter(check_item=items[1]).count() == 1
    fail = {
        "check_item": items[0].pk,
        "result": "no",
        "client_token": str(uuid.uuid4()),
        "file_case": "1",
        "note": "小广告",
    }
    for _attempt in range(2):  # a lost answer: the phone sends the same tap again
        response = client.post(url, fail, HTTP_ACCEPT="application/json")
        assert response.status_code == 200
    assert Issue.objects.count() == 1
    state = response.json()["state"]
    standard = next(s for s in state["standards"] if s["check_item"] == items[0].pk)
    assert standard["issue"]["case_number"] == Issue.objects.get().case_number
    assert state["visit"]["is_far"] is False


def test_visit_bad_json_and_bad_fields_are_400_not_500(client, world, walked):
    round_, rp, items, _observation = walked
    client.force_login(world.inspector_xincheng)
    url = reverse("rounds:visit_mark", args=[round_.pk, rp.pk])
    assert client.post(url, "{not json", content_type="application/json").status_code == 400
    assert client.post(url, "[1]", content_type="application/json").status_code == 400
    bad = {"check_item": items[1].pk, "result": "maybe", "client_token": "x"}
    response = client.post(url, bad, HTTP_ACCEPT="application/json")
    assert response.status_code == 400 and "result" in response.json()["errors"]
    wrong_item = {"check_item": 999999, "result": "yes", "client_token": token()}
    assert client.post(url, wrong_item, HTTP_ACCEPT="application/json").status_code == 400
    not_photo = {
        "check_item": items[0].pk,
        "result": "no",
        "client_token": token(),
        "photo": io.BytesIO(b"not an image"),
    }
    assert client.post(url, not_photo, HTTP_ACCEPT="application/json").status_code == 400


def test_visit_form_fallback_marks_and_redirects_back(client, world, walked):
    round_, rp, items, _observation = walked
    client.force_login(world.inspector_xincheng)
    page = client.get(reverse("rounds:visit_page", args=[round_.pk, rp.pk]))
    assert page.status_code == 200
    response = client.post(
        reverse("rounds:visit_mark", args=[round_.pk, rp.pk]),
        {"check_item": items[2].pk, "result": "na", "client_token": token()},
    )
    assert response.status_code == 302
    assert Observation.objects.get(check_item=items[2]).result == "na"


def test_visit_fix_on_spot_from_the_page(client, world, walked):
    round_, _rp, _items, observation = walked
    client.force_login(world.inspector_xincheng)
    client.post(reverse("rounds:observation_file", args=[round_.pk, observation.pk]))
    response = client.post(
        reverse("rounds:observation_fix", args=[round_.pk, observation.pk]),
        {"photo": upload("after.jpg")},
    )
    assert response.status_code == 302
    assert Issue.objects.get().fixed_on_spot


def test_round_results_export_is_a_workbook_with_the_score(client, world, walked):
    round_, *_rest = walked
    client.force_login(world.supervisor_xincheng)
    response = client.get(reverse("rounds:round_export", args=[round_.pk]))
    book = load_workbook(io.BytesIO(response.content))
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    summary = book.worksheets[0]
    assert summary["B1"].value == round_.name
    assert summary["B4"].value == 0.0  # the only mark is a failed standard
    assert book.worksheets[1].max_row == 2  # a header and the one point


def _round_with(world, points: int, standards):
    add_points(world, points - 1)
    round_ = make_round(world, name=f"r{points}", starts_on=TODAY)
    for rp in round_.round_points.all():
        for item in standards:
            services.observation_record(
                round_point=rp,
                actor=world.inspector_xincheng,
                check_item=item,
                result="no" if item == standards[1] else "yes",
                client_token=token(),
            )
    return round_


@pytest.mark.parametrize("points", [3, 12])
def test_round_pages_run_a_constant_number_of_queries(
    client, world, points, django_assert_num_queries
):
    standards = add_standards(world)
    round_ = _round_with(world, points, standards)
    rp = round_.round_points.first()
    client.force_login(world.supervisor_xincheng)
    client.get(reverse("rounds:round_results", args=[round_.pk]))  # warm the session
    with django_assert_num_queries(RESULTS_QUERIES):
        assert client.get(reverse("rounds:round_results", args=[round_.pk])).status_code == 200
    client.force_login(world.inspector_xincheng)
    client.get(reverse("rounds:worklist", args=[round_.pk]))
    with django_assert_num_queries(WORKLIST_QUERIES):
        assert (
            client.get(
                reverse("rounds:worklist", args=[round_.pk]) + "?lat=43.65&lng=122.25"
            ).status_code
            == 200
        )
    with django_assert_num_queries(VISIT_QUERIES):
        assert client.get(reverse("rounds:visit_page", args=[round_.pk, rp.pk])).status_code == 200
    tap = {"check_item": standards[2].pk, "result": "na", "client_token": token()}
    with django_assert_num_queries(MARK_QUERIES):
        response = client.post(
            reverse("rounds:visit_mark", args=[round_.pk, rp.pk]),
            tap,
            HTTP_ACCEPT="application/json",
        )
    assert response.status_code == 200


@pytest.mark.parametrize("points", [3, 12])
def test_round_results_with_a_previous_round_run_a_constant_number_of_queries(
    client, world, points, django_assert_num_queries
):
    standards = add_standards(world)
    first = _round_with(world, points, standards)
    services.round_close(round_=first, actor=world.supervisor_xincheng)
    second = services.round_clone(round_=first, actor=world.supervisor_xincheng)
    for rp in second.round_points.all():
        services.observation_record(
            round_point=rp,
            actor=world.inspector_xincheng,
            check_item=standards[1],
            result="no",
            client_token=token(),
        )
    client.force_login(world.supervisor_xincheng)
    url = reverse("rounds:round_results", args=[second.pk])
    client.get(url)
    with django_assert_num_queries(RESULTS_WITH_PREVIOUS_QUERIES):
        response = client.get(url)
    assert response.context["results"].repeat_failure_count == points


def test_round_results_show_the_points_a_page_at_a_time(client, world, monkeypatch):
    from rounds import selectors

    monkeypatch.setattr(selectors, "PAGE_SIZE", 2)
    add_points(world, 4)
    round_ = make_round(world)
    client.force_login(world.supervisor_xincheng)
    url = reverse("rounds:round_results", args=[round_.pk])
    seen = []
    for page in ("1", "2", "3"):
        results = client.get(url, {"page": page}).context["results"]
        assert results.pages == 3 and results.page == int(page)
        seen += [row["point_id"] for row in results.points]
    assert sorted(seen) == sorted(round_.round_points.values_list("point_id", flat=True))
    for odd in ("0", "x", "９", "99999999999999999999", "-1"):
        response = client.get(url, {"page": odd})
        assert response.status_code == 200 and response.context["results"].page in (1, 3)
    # The export is not paged: every point is in it.
    export = client.get(reverse("rounds:round_export", args=[round_.pk]))
    assert load_workbook(io.BytesIO(export.content)).worksheets[1].max_row == 1 + 5


# Without a previous round of the kind; with one, one more (the repeat failures with their count).
RESULTS_QUERIES = 16
RESULTS_WITH_PREVIOUS_QUERIES = 17
WORKLIST_QUERIES = 6
VISIT_QUERIES = 7
MARK_QUERIES = 15
