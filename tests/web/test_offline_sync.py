"""The server side of the phone's outbox: every replayed endpoint, and the installable app's files.

Each replayed endpoint (the report, the fix, the verification, the round visit's start, marks
and finish) files its work once per client token however often it is sent, keeps the phone's
capture time next to the time it was received, and refuses with a JSON message the outbox shows
as it is.
"""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.urls import reverse
from django.utils import timezone

from issues.models import Action, Issue, IssueEvent, Photo, Status
from tests.factories import CategoryFactory, issue_in
from tests.web.test_actions import act_url, jpeg
from tests.web.test_report import REPORT_URL, report_data

JSON = {"HTTP_ACCEPT": "application/json"}
SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def captured(minutes_ago: int) -> tuple[datetime.datetime, str]:
    moment = (timezone.now() - datetime.timedelta(minutes=minutes_ago)).replace(microsecond=0)
    return moment, moment.astimezone(SHANGHAI).isoformat()


# --- the report ---------------------------------------------------------------------------------


def test_outbox_report_resent_with_its_token_files_one_issue_and_keeps_the_capture_time(
    client, world
):
    client.force_login(world.inspector_xincheng)
    moment, sent = captured(90)
    token = str(uuid.uuid4())
    first = client.post(
        REPORT_URL, report_data(world, client_token=token, observed_at=sent), **JSON
    )
    second = client.post(
        REPORT_URL, report_data(world, client_token=token, observed_at=sent), **JSON
    )
    assert first.status_code == second.status_code == 200
    assert first.json()["repeated"] is False
    assert second.json() == {"ok": True, "url": first.json()["url"], "repeated": True}
    issue = Issue.objects.get()
    assert (Photo.objects.count(), IssueEvent.objects.count()) == (1, 1)
    assert issue.observed_at == moment
    # The sync time is when the server received it, an hour and a half later.
    assert timezone.now() - issue.reported_at < datetime.timedelta(minutes=1)
    assert issue.reported_at - issue.observed_at > datetime.timedelta(minutes=89)
    assert IssueEvent.objects.get().observed_at == moment


def test_outbox_report_capture_time_in_the_future_is_taken_as_the_receipt_time(client, world):
    client.force_login(world.inspector_xincheng)
    ahead = (timezone.now() + datetime.timedelta(hours=3)).astimezone(SHANGHAI).isoformat()
    client.post(REPORT_URL, report_data(world, observed_at=ahead), **JSON)
    issue = Issue.objects.get()
    assert issue.observed_at == issue.reported_at


def test_outbox_report_with_an_unreadable_capture_time_is_filed_at_the_receipt_time(client, world):
    client.force_login(world.inspector_xincheng)
    response = client.post(REPORT_URL, report_data(world, observed_at="yesterday"), **JSON)
    assert response.status_code == 200
    issue = Issue.objects.get()
    assert issue.observed_at == issue.reported_at


def test_outbox_report_at_a_deactivated_point_is_refused_with_a_json_message(client, world):
    client.force_login(world.inspector_xincheng)
    world.point_a.is_active = False
    world.point_a.save(update_fields=["is_active"])
    response = client.post(REPORT_URL, report_data(world), HTTP_ACCEPT_LANGUAGE="en", **JSON)
    assert response.status_code == 400
    body = response.json()
    assert body["ok"] is False
    assert body["message"]
    assert "no longer in use" in body["errors"]["point"][0]["message"]
    assert Issue.objects.count() == 0


def test_outbox_report_of_a_retired_category_is_refused_with_a_json_message(client, world):
    client.force_login(world.inspector_xincheng)
    retired = CategoryFactory(code="RETIRED_T", is_active=False)
    response = client.post(
        REPORT_URL,
        report_data(world, category=str(retired.pk)),
        HTTP_ACCEPT_LANGUAGE="en",
        **JSON,
    )
    assert response.status_code == 400
    assert "no longer in use" in response.json()["errors"]["category"][0]["message"]
    assert Issue.objects.count() == 0


def test_outbox_report_by_someone_who_may_not_report_is_a_json_403(client, world):
    client.force_login(world.handler_xincheng)
    response = client.post(REPORT_URL, report_data(world), **JSON)
    assert response.status_code == 403
    assert response.json()["ok"] is False and response.json()["message"]
    assert Issue.objects.count() == 0


def test_outbox_report_token_of_another_reporter_is_refused(client, world):
    token = str(uuid.uuid4())
    client.force_login(world.inspector_xincheng)
    client.post(REPORT_URL, report_data(world, client_token=token), **JSON)
    client.force_login(world.inspector_binhe)
    response = client.post(
        REPORT_URL,
        report_data(world, client_token=token, point=str(world.point_b.pk)),
        **JSON,
    )
    assert response.status_code == 400
    assert response.json()["ok"] is False
    assert Issue.objects.get().reporter == world.inspector_xincheng


# --- the fix ----------------------------------------------------------------------------------


def fix_data(token: str, observed: str = "", **extra) -> dict:
    data = {
        "submit_fix-photos": [jpeg()],
        "submit_fix-note": "已清理",
        "submit_fix-client_token": token,
        "submit_fix-observed_at": observed,
    }
    data.update(extra)
    return data


def test_outbox_fix_resent_with_its_token_is_recorded_once_with_both_times(client, world):
    issue = issue_in(world, Status.IN_PROGRESS)
    client.force_login(world.handler_xincheng)
    moment, sent = captured(30)
    token = str(uuid.uuid4())
    first = client.post(act_url(issue, "submit_fix"), fix_data(token, sent), **JSON)
    second = client.post(act_url(issue, "submit_fix"), fix_data(token, sent), **JSON)
    assert first.status_code == second.status_code == 200
    assert first.json()["ok"] is True and "repeated" not in first.json()
    assert second.json()["repeated"] is True
    issue.refresh_from_db()
    assert issue.status == Status.SUBMITTED
    event = IssueEvent.objects.get(issue=issue, action=Action.SUBMIT_FIX)
    assert str(event.client_token) == token
    assert event.observed_at == moment
    assert event.created_at - moment > datetime.timedelta(minutes=29)
    assert Photo.objects.filter(issue=issue, kind=Photo.Kind.AFTER).count() == 1


def test_outbox_fix_resent_by_a_plain_form_post_is_recorded_once(client, world):
    issue = issue_in(world, Status.IN_PROGRESS)
    client.force_login(world.handler_xincheng)
    token = str(uuid.uuid4())
    client.post(act_url(issue, "submit_fix"), fix_data(token))
    response = client.post(act_url(issue, "submit_fix"), fix_data(token))
    assert response.status_code == 302
    assert IssueEvent.objects.filter(issue=issue, action=Action.SUBMIT_FIX).count() == 1


def test_outbox_fix_on_a_case_closed_meanwhile_is_a_json_409(client, world):
    issue = issue_in(world, Status.CLOSED)
    client.force_login(world.handler_xincheng)
    response = client.post(act_url(issue, "submit_fix"), fix_data(str(uuid.uuid4())), **JSON)
    assert response.status_code == 409
    body = response.json()
    assert body["ok"] is False and body["message"]
    assert not IssueEvent.objects.filter(issue=issue, action=Action.SUBMIT_FIX).exists()


def test_outbox_fix_without_a_photo_is_a_json_422_with_the_field_error(client, world):
    issue = issue_in(world, Status.IN_PROGRESS)
    client.force_login(world.handler_xincheng)
    data = fix_data(str(uuid.uuid4()))
    del data["submit_fix-photos"]
    response = client.post(act_url(issue, "submit_fix"), data, **JSON)
    assert response.status_code == 422
    assert "photos" in response.json()["errors"]
    issue.refresh_from_db()
    assert issue.status == Status.IN_PROGRESS


def test_outbox_fix_out_of_scope_is_a_json_404(client, world):
    issue = issue_in(world, Status.IN_PROGRESS)
    client.force_login(world.handler_binhe)  # a handler of the other organisation
    response = client.post(act_url(issue, "submit_fix"), fix_data(str(uuid.uuid4())), **JSON)
    assert response.status_code == 404
    assert response.json()["ok"] is False and response.json()["message"]


def test_outbox_fix_by_a_role_that_may_not_is_a_json_403(client, world):
    issue = issue_in(world, Status.IN_PROGRESS)
    client.force_login(
        world.supervisor_xincheng
    )  # a supervisor of the district sees it but does not fix
    response = client.post(act_url(issue, "submit_fix"), fix_data(str(uuid.uuid4())), **JSON)
    assert response.status_code == 403
    assert response.json()["ok"] is False
    assert not IssueEvent.objects.filter(issue=issue, action=Action.SUBMIT_FIX).exists()


def test_outbox_fix_token_reused_on_another_case_is_refused(client, world):
    first = issue_in(world, Status.IN_PROGRESS)
    second = issue_in(world, Status.IN_PROGRESS)
    client.force_login(world.handler_xincheng)
    token = str(uuid.uuid4())
    client.post(act_url(first, "submit_fix"), fix_data(token), **JSON)
    response = client.post(act_url(second, "submit_fix"), fix_data(token), **JSON)
    assert response.status_code == 409
    second.refresh_from_db()
    assert second.status == Status.IN_PROGRESS


# --- the verification -------------------------------------------------------------------------


def test_outbox_verification_resent_after_it_closed_the_case_answers_ok_once(client, world):
    issue = issue_in(world, Status.SUBMITTED)
    client.force_login(world.supervisor_xincheng)
    moment, sent = captured(10)
    token = str(uuid.uuid4())
    data = {
        "verify_pass-photos": [jpeg("check.jpg")],
        "verify_pass-note": "现场核查通过",
        "verify_pass-client_token": token,
        "verify_pass-observed_at": sent,
    }
    first = client.post(act_url(issue, "verify_pass"), data, **JSON)
    data["verify_pass-photos"] = [jpeg("check.jpg")]
    second = client.post(act_url(issue, "verify_pass"), data, **JSON)
    assert first.status_code == second.status_code == 200
    assert second.json()["repeated"] is True
    issue.refresh_from_db()
    assert issue.status == Status.CLOSED
    event = IssueEvent.objects.get(issue=issue, action=Action.VERIFY_PASS)
    assert event.observed_at == moment
    assert Photo.objects.filter(issue=issue, kind=Photo.Kind.CHECK).count() == 1


def test_outbox_rework_verdict_resent_is_recorded_once(client, world):
    issue = issue_in(world, Status.SUBMITTED)
    client.force_login(world.supervisor_xincheng)
    token = str(uuid.uuid4())
    data = {"verify_fail-reason": "仍有垃圾", "verify_fail-client_token": token}
    client.post(act_url(issue, "verify_fail"), data, **JSON)
    client.post(act_url(issue, "verify_fail"), data, **JSON)
    issue.refresh_from_db()
    assert issue.rework_count == 1
    assert IssueEvent.objects.filter(issue=issue, action=Action.VERIFY_FAIL).count() == 1


def test_outbox_verification_of_a_case_closed_by_someone_else_is_a_json_409(client, world):
    issue = issue_in(world, Status.CLOSED)
    client.force_login(world.supervisor_xincheng)
    response = client.post(
        act_url(issue, "verify_pass"),
        {"verify_pass-client_token": str(uuid.uuid4())},
        HTTP_ACCEPT_LANGUAGE="en",
        **JSON,
    )
    assert response.status_code == 409
    assert response.json()["message"]


# --- what the phone reads to work offline -------------------------------------------------------


def test_offline_session_names_the_user_and_a_csrf_token(client, world):
    assert client.get(reverse("issues:offline_session")).json() == {"user": None, "csrf_token": ""}
    client.force_login(world.inspector_xincheng)
    response = client.get(reverse("issues:offline_session"))
    body = response.json()
    assert body["user"] == world.inspector_xincheng.pk and len(body["csrf_token"]) >= 32
    assert "no-cache" in response["Cache-Control"]


def test_offline_reference_data_holds_only_the_points_in_scope(client, world):
    world.category.quick_phrases = "桶边散落垃圾\n需要清运"
    world.category.save(update_fields=["quick_phrases"])
    client.force_login(world.inspector_xincheng)
    response = client.get(reverse("issues:offline_reference"))
    assert response["X-Civic-Offline-User"] == str(world.inspector_xincheng.pk)
    body = response.json()
    assert [p["id"] for p in body["points"]] == [world.point_a.pk]
    assert body["points"][0]["lat"] == float(world.point_a.latitude)
    category = next(c for c in body["categories"] if c["id"] == world.category.pk)
    assert category["quick_phrases"] == ["桶边散落垃圾", "需要清运"]


def test_offline_reference_data_without_points_for_a_handler(client, world):
    client.force_login(world.handler_xincheng)
    assert client.get(reverse("issues:offline_reference")).json()["points"] == []


def test_offline_reference_data_needs_a_login(client, world):
    response = client.get(reverse("issues:offline_reference"))
    assert response.status_code == 302


def test_offline_reference_data_queries_do_not_grow_with_points(
    client, world, django_assert_max_num_queries
):
    from tests.factories import InspectionPointFactory

    client.force_login(world.inspector_xincheng)
    for number in range(20):
        InspectionPointFactory(community=world.community_a, code=f"extra-{number}")
    with django_assert_max_num_queries(10):
        response = client.get(reverse("issues:offline_reference"))
    assert len(response.json()["points"]) == 21


def test_pwa_pages_cached_offline_name_their_user(client, world):
    client.force_login(world.inspector_xincheng)
    for url in (reverse("home"), REPORT_URL, reverse("issues:outbox")):
        response = client.get(url)
        assert response.status_code == 200
        assert response["X-Civic-Offline-User"] == str(world.inspector_xincheng.pk)
        assert "private" in response["Cache-Control"]


def test_pwa_login_page_is_never_marked_for_offline_use(client, world):
    response = client.get(reverse("login"))
    assert "X-Civic-Offline-User" not in response


def test_pwa_service_worker_is_served_from_the_root_with_its_headers(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Service-Worker-Allowed"] == "/"
    assert "no-cache" in response["Cache-Control"]
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert b'importScripts("/static/js/outbox-core.js")' in response.content


def test_pwa_manifest_names_the_app_in_chinese_with_its_icons(client):
    response = client.get(reverse("manifest"))
    assert response["Content-Type"].startswith("application/manifest+json")
    body = response.json()
    assert body["short_name"] == "双城巡查"
    assert body["display"] == "standalone"
    assert body["start_url"].startswith("/")
    sizes = {icon["sizes"] for icon in body["icons"]}
    assert {"192x192", "512x512", "any"} <= sizes
    for icon in body["icons"]:
        path = icon["src"].removeprefix("/" + settings.STATIC_URL.lstrip("/"))
        assert path != icon["src"] and finders.find(path)


def test_pwa_offline_fallback_page_is_in_chinese_and_names_no_user(client, world):
    client.force_login(world.inspector_xincheng)
    response = client.get(reverse("issues:offline"))
    text = response.content.decode()
    assert "没有网络连接" in text
    assert "inspector_xincheng" not in text and "X-Civic-Offline-User" not in response


def test_pwa_field_pages_load_the_worker_script_without_inline_code(client, world):
    client.force_login(world.inspector_xincheng)
    text = client.get(REPORT_URL).content.decode()
    assert 'rel="manifest"' in text
    assert "js/pwa.js" in text and "js/outbox-core.js" in text
    assert "<script>" not in text


# --- the round visit (start, marks with photos, finish) ----------------------------------------


@pytest.fixture
def round_walk(world):
    """A round in district A for inspector_xincheng: its point A and three standards."""
    from tests.rounds.support import add_standards, make_round

    standards = add_standards(world)
    round_ = make_round(world)
    return round_, round_.round_points.get(), standards


def round_url(name: str, round_, round_point) -> str:
    return reverse(f"rounds:{name}", args=[round_.pk, round_point.pk])


def mark_data(standard, token: str, observed: str, **extra) -> dict:
    """A mark as the outbox sends it: multipart form fields, the capture time, the GPS."""
    data = {
        "check_item": standard.pk,
        "result": "yes",
        "client_token": token,
        "observed_at": observed,
        "latitude": "43.650200",
        "longitude": "122.250100",
        "accuracy_m": "12",
    }
    data.update(extra)
    return data


def test_outbox_round_mark_resent_with_its_token_is_recorded_once_with_both_times(
    client, world, round_walk
):
    from rounds.models import Observation, Visit
    from tests.rounds.support import upload

    round_, round_point, standards = round_walk
    client.force_login(world.inspector_xincheng)
    token = str(uuid.uuid4())
    moment, observed = captured(minutes_ago=40)
    url = round_url("visit_mark", round_, round_point)
    before = timezone.now()
    first = client.post(
        url,
        mark_data(standards[0], token, observed, result="no", note="墙面小广告", photo=upload()),
        **JSON,
    )
    second = client.post(
        url,
        mark_data(standards[0], token, observed, result="no", note="墙面小广告", photo=upload()),
        **JSON,
    )
    assert first.status_code == 200 and first.json()["ok"] is True
    assert first.json()["applied"] is True
    assert second.status_code == 200 and second.json()["applied"] is False
    observation = Observation.objects.get()
    assert str(observation.client_token) == token
    assert observation.observed_at == moment  # the capture time on the phone
    assert observation.received_at >= before  # and the time the server got it
    assert observation.note == "墙面小广告" and observation.photo
    # Sending the tap also opened the visit, at the capture time and with the GPS.
    visit = Visit.objects.get(round_point=round_point)
    assert visit.started_at == moment and visit.accuracy_m == 12


def test_outbox_round_visit_start_resent_is_one_visit_at_the_capture_time(
    client, world, round_walk
):
    from rounds.models import Visit

    round_, round_point, _standards = round_walk
    client.force_login(world.inspector_xincheng)
    token = str(uuid.uuid4())
    moment, at = captured(minutes_ago=30)
    data = {
        "client_token": token,
        "at": at,
        "latitude": "43.650200",
        "longitude": "122.250100",
        "accuracy_m": "12",
    }
    before = timezone.now()
    url = round_url("visit_start", round_, round_point)
    for _ in range(2):
        response = client.post(url, data, **JSON)
        assert response.status_code == 200 and response.json()["ok"] is True
    visit = Visit.objects.get()
    assert visit.started_at == moment and visit.received_at >= before
    assert visit.accuracy_m == 12 and visit.latitude is not None
    assert response.json()["state"]["visit"]["accuracy_m"] == 12


def test_outbox_round_visit_finish_resent_keeps_the_first_finish_time(client, world, round_walk):
    from rounds.models import Visit

    round_, round_point, standards = round_walk
    client.force_login(world.inspector_xincheng)
    _start, at_start = captured(minutes_ago=30)
    finish, at_finish = captured(minutes_ago=20)
    _later, at_later = captured(minutes_ago=5)
    client.post(round_url("visit_start", round_, round_point), {"at": at_start}, **JSON)
    mark = mark_data(standards[0], str(uuid.uuid4()), at_start)
    client.post(round_url("visit_mark", round_, round_point), mark, **JSON)
    for at in (at_finish, at_later):
        response = client.post(round_url("visit_finish", round_, round_point), {"at": at}, **JSON)
        assert response.status_code == 200 and response.json()["ok"] is True
    assert Visit.objects.get().finished_at == finish


def test_outbox_round_mark_on_a_closed_round_is_a_json_409_with_a_message(
    client, world, round_walk
):
    from rounds import services

    round_, round_point, standards = round_walk
    services.round_close(round_=round_, actor=world.supervisor_xincheng)
    client.force_login(world.inspector_xincheng)
    _moment, observed = captured(minutes_ago=10)
    response = client.post(
        round_url("visit_mark", round_, round_point),
        mark_data(standards[0], str(uuid.uuid4()), observed),
        **JSON,
    )
    assert response.status_code == 409
    body = response.json()
    assert body["ok"] is False and body["error"] == "closed"
    assert body["message"] == "本轮巡查已结束，不能再修改。"


def test_outbox_round_mark_with_a_bad_field_is_a_json_400_with_the_field_error(
    client, world, round_walk
):
    round_, round_point, standards = round_walk
    client.force_login(world.inspector_xincheng)
    response = client.post(
        round_url("visit_mark", round_, round_point),
        mark_data(standards[0], str(uuid.uuid4()), "", result="maybe"),
        **JSON,
    )
    assert response.status_code == 400
    assert response.json()["ok"] is False and "result" in response.json()["errors"]


def test_outbox_round_mark_out_of_scope_is_a_json_404_and_a_reader_gets_a_json_403(
    client, world, round_walk
):
    round_, round_point, standards = round_walk
    _moment, observed = captured(minutes_ago=10)
    data = mark_data(standards[0], str(uuid.uuid4()), observed)
    url = round_url("visit_mark", round_, round_point)
    client.force_login(world.inspector_binhe)
    response = client.post(url, data, **JSON)
    assert response.status_code == 404
    assert response.json() == {"ok": False, "message": "该点位不在您的巡查任务中。"}
    client.force_login(world.supervisor_xincheng)
    response = client.post(url, data, **JSON)
    assert response.status_code == 403
    assert response.json() == {"ok": False, "message": "您无权检查该点位。"}
    # A plain form post (no JavaScript) still gets the ordinary pages.
    assert client.post(url, data).status_code == 403


def test_pwa_round_worklist_and_visit_pages_are_kept_for_offline_use(client, world, round_walk):
    round_, round_point, _standards = round_walk
    client.force_login(world.inspector_xincheng)
    for url in (
        reverse("rounds:worklist", args=[round_.pk]),
        round_url("visit_page", round_, round_point),
    ):
        response = client.get(url)
        assert response.status_code == 200
        assert response["X-Civic-Offline-User"] == str(world.inspector_xincheng.pk)
        assert b'name="civic-offline-self"' in response.content
