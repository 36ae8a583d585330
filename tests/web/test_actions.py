"""Workflow actions over HTTP (issues:issue_act), triage with bulk dispatch, verification queue."""

from __future__ import annotations

import datetime
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation
from PIL import Image

from issues import services
from issues.models import Action, ExtensionRequest, Issue, IssueEvent, Photo, Status
from tests.factories import issue_in
from tests.issues.lifecycle_support import pending_extension, snapshot

TRIAGE_URL = reverse("issues:triage")
BULK_URL = reverse("issues:bulk_dispatch")
VERIFY_URL = reverse("issues:verify_queue")


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def act_url(issue, action: str) -> str:
    return reverse("issues:issue_act", kwargs={"pk": issue.pk, "action": action})


def jpeg(name: str = "fix.jpg") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (40, 160, 80)).save(buffer, "JPEG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/jpeg")


def local_input(moment: datetime.datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


# --- access -----------------------------------------------------------------------------------


def test_get_on_an_action_is_not_allowed(client, world):
    issue = issue_in(world, Status.REPORTED)
    client.force_login(world.supervisor_xincheng)
    before = snapshot(issue)
    assert client.get(act_url(issue, "dispatch")).status_code == 405
    assert snapshot(issue) == before


def test_anonymous_action_redirects_to_login_and_changes_nothing(client, world):
    issue = issue_in(world, Status.REPORTED)
    before = snapshot(issue)
    response = client.post(act_url(issue, "dispatch"), {"dispatch-organisation": world.org_x.pk})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert snapshot(issue) == before


@pytest.mark.parametrize("persona", ["inspector_binhe", "supervisor_binhe", "handler_binhe"])
def test_action_outside_scope_answers_404_and_changes_nothing(client, world, persona):
    issue = issue_in(world, Status.ASSIGNED)
    before = snapshot(issue)
    client.force_login(getattr(world, persona))
    response = client.post(act_url(issue, "reassign"), {"reassign-organisation": world.org_y.pk})
    assert response.status_code == 404
    assert snapshot(issue) == before


# Who may take which action in which state is proven on the services, for every persona and
# state (tests/issues/test_permissions.py's matrix, test_transitions.py's role-before-state walk).
# Here: the page answers each kind of refusal with 403, not the stale-state redirect, and
# writes nothing.
@pytest.mark.parametrize(
    ("persona", "status", "action", "data"),
    [
        # A role that never takes the action, in a state it starts from.
        ("inspector_xincheng", Status.IN_PROGRESS, "cancel", {"cancel-reason": "不需要"}),
        # Role before state: a role that never acts, in a state the action does not start from.
        ("leader_zone", Status.CLOSED, "acknowledge", {}),
        ("handler_xincheng", Status.CLOSED, "dispatch", {"dispatch-organisation": "org_x"}),
        # A role that may act, but not on this case: nobody verifies their own unit's fix.
        ("handler_xincheng", Status.SUBMITTED, "verify_pass", {}),
    ],
)
def test_policy_a_forbidden_action_on_a_visible_case_answers_403_and_changes_nothing(
    client, world, persona, status, action, data
):
    issue = issue_in(world, status)
    data = {k: (getattr(world, v).pk if v == "org_x" else v) for k, v in data.items()}
    before = snapshot(issue)
    client.force_login(getattr(world, persona))
    response = client.post(act_url(issue, action), data)
    assert response.status_code == 403
    assert snapshot(issue) == before


def test_unknown_action_answers_404(client, world):
    issue = issue_in(world, Status.REPORTED)
    client.force_login(world.supervisor_xincheng)
    assert client.post(act_url(issue, "explode")).status_code == 404
    assert client.post(act_url(issue, "report")).status_code == 404


# --- allowed actions ---------------------------------------------------------------------------


def test_supervisor_dispatches_with_an_organisation_and_deadline(client, world):
    issue = issue_in(world, Status.REPORTED)
    deadline = timezone.now() + datetime.timedelta(days=2)
    client.force_login(world.supervisor_xincheng)
    response = client.post(
        act_url(issue, "dispatch"),
        {
            "dispatch-organisation": world.org_y.pk,
            "dispatch-deadline": local_input(deadline),
            "dispatch-note": "请尽快处理",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == issue.get_absolute_url()
    issue.refresh_from_db()
    assert issue.status == Status.ASSIGNED
    assert issue.assigned_organisation == world.org_y
    assert issue.deadline == deadline.replace(second=0, microsecond=0)
    events = list(issue.events.all())
    assert [e.action for e in events] == [Action.DISPATCH]
    assert events[0].note == "请尽快处理"
    assert events[0].actor == world.supervisor_xincheng


def test_dispatch_without_deadline_gets_the_computed_one(client, world):
    issue = issue_in(world, Status.REPORTED)
    client.force_login(world.supervisor_xincheng)
    client.post(act_url(issue, "dispatch"), {"dispatch-organisation": world.org_x.pk})
    issue.refresh_from_db()
    assert issue.status == Status.ASSIGNED
    assert issue.deadline is not None


def test_an_untouched_deadline_suggestion_is_computed_at_dispatch_not_when_drawn(client, world):
    issue = issue_in(world, Status.REPORTED)
    client.force_login(world.supervisor_xincheng)
    # The page was drawn an hour ago; its suggestion has passed since.
    stale = local_input(timezone.now() - datetime.timedelta(minutes=5))
    response = client.post(
        act_url(issue, "dispatch"),
        {
            "dispatch-organisation": world.org_x.pk,
            "dispatch-deadline": stale,
            "dispatch-deadline_suggested": stale,
        },
    )
    assert response.status_code == 302
    issue.refresh_from_db()
    assert issue.status == Status.ASSIGNED
    assert issue.deadline > timezone.now()


def test_handler_acknowledges_with_one_event(client, world):
    issue = issue_in(world, Status.ASSIGNED)
    client.force_login(world.handler_xincheng)
    response = client.post(act_url(issue, "acknowledge"), {}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 302
    issue.refresh_from_db()
    assert issue.status == Status.IN_PROGRESS
    assert IssueEvent.objects.filter(issue=issue).count() == 1
    followed = client.get(response["Location"], HTTP_ACCEPT_LANGUAGE="en")
    assert "done for" in followed.content.decode()


def test_handler_submits_a_fix_with_an_after_photo(client, world):
    issue = issue_in(world, Status.IN_PROGRESS)
    client.force_login(world.handler_xincheng)
    response = client.post(
        act_url(issue, "submit_fix"),
        {
            "submit_fix-photos": [jpeg()],
            "submit_fix-note": "已清理",
            "photo_taken_at[]": ["2026-03-02T09:00:00+08:00"],
            "photo_gps[]": ["43.650000,122.250000"],
        },
    )
    assert response.status_code == 302
    issue.refresh_from_db()
    assert issue.status == Status.SUBMITTED
    event = issue.events.get()
    assert event.action == Action.SUBMIT_FIX
    photo = Photo.objects.get(issue=issue)
    assert (photo.kind, photo.event_id) == (Photo.Kind.AFTER, event.pk)
    # Reduced in the browser, the photo's capture time came along in a hidden field.
    assert timezone.localtime(photo.taken_at).strftime("%Y-%m-%d %H:%M") == "2026-03-02 09:00"
    assert str(photo.gps_latitude) == "43.650000"


def test_submit_fix_without_a_photo_rerenders_with_the_error_and_the_note(client, world):
    issue = issue_in(world, Status.IN_PROGRESS)
    before = snapshot(issue)
    client.force_login(world.handler_xincheng)
    response = client.post(
        act_url(issue, "submit_fix"), {"submit_fix-note": "已清理干净"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 200
    assert snapshot(issue) == before
    html = response.content.decode()
    assert "已清理干净" in html
    assert "This field is required" in html
    bound = [i for i in response.context["action_forms"] if i["form"].is_bound]
    assert [i["transition"].action for i in bound] == [Action.SUBMIT_FIX]
    assert bound[0]["open"]


def test_a_bad_photo_rerenders_and_saves_nothing(client, world):
    issue = issue_in(world, Status.IN_PROGRESS)
    before = snapshot(issue)
    client.force_login(world.handler_xincheng)
    broken = SimpleUploadedFile("fix.jpg", b"<html>not a photo</html>", "image/jpeg")
    response = client.post(act_url(issue, "submit_fix"), {"submit_fix-photos": [broken]})
    assert response.status_code == 200
    assert "photos" in response.context["action_forms"][0]["form"].errors
    assert snapshot(issue) == before


def test_reject_needs_a_reason(client, world):
    issue = issue_in(world, Status.REPORTED)
    before = snapshot(issue)
    client.force_login(world.supervisor_xincheng)
    response = client.post(act_url(issue, "reject"), {"reject-reason": ""})
    assert response.status_code == 200
    assert "reason" in response.context["action_forms"][0]["form"].errors or any(
        "reason" in item["form"].errors for item in response.context["action_forms"]
    )
    assert snapshot(issue) == before


def test_dispatch_with_a_past_deadline_keeps_the_chosen_organisation(client, world):
    issue = issue_in(world, Status.REPORTED)
    before = snapshot(issue)
    client.force_login(world.supervisor_xincheng)
    response = client.post(
        act_url(issue, "dispatch"),
        {
            "dispatch-organisation": world.org_y.pk,
            "dispatch-deadline": local_input(timezone.now() - datetime.timedelta(days=1)),
        },
    )
    assert response.status_code == 200
    assert snapshot(issue) == before
    # The picker keeps what was sent, shown by name and code.
    assert f'value="{world.org_y.name} [{world.org_y.code}]"' in response.content.decode()


def test_mark_duplicate_by_case_number(client, world):
    original = issue_in(world, Status.ASSIGNED, case_number="2026-000777")
    issue = issue_in(world, Status.REPORTED)
    client.force_login(world.supervisor_xincheng)
    client.post(act_url(issue, "mark_duplicate"), {"mark_duplicate-duplicate_of": "2026-000777"})
    issue.refresh_from_db()
    assert issue.status == Status.REJECTED
    assert issue.duplicate_of == original


def test_mark_duplicate_of_an_unknown_case_number_is_a_form_error(client, world):
    issue = issue_in(world, Status.REPORTED)
    before = snapshot(issue)
    client.force_login(world.supervisor_xincheng)
    response = client.post(
        act_url(issue, "mark_duplicate"), {"mark_duplicate-duplicate_of": "1999-000001"}
    )
    assert response.status_code == 200
    assert snapshot(issue) == before


def test_park_needs_a_future_review_date(client, world):
    issue = issue_in(world, Status.IN_PROGRESS)
    client.force_login(world.supervisor_xincheng)
    review = timezone.localdate() + datetime.timedelta(days=10)
    client.post(act_url(issue, "park"), {"park-reason": "等待改造", "park-review_date": review})
    issue.refresh_from_db()
    assert issue.status == Status.PARKED
    assert issue.park_review_date == review


def test_extension_is_requested_by_the_handler_and_approved_by_the_supervisor(client, world):
    issue = issue_in(world, Status.IN_PROGRESS)
    later = timezone.now() + datetime.timedelta(days=2)
    client.force_login(world.handler_xincheng)
    client.post(
        act_url(issue, "request_extension"),
        {
            "request_extension-reason": "需要协调车辆",
            "request_extension-requested_deadline": local_input(later),
        },
    )
    extension = ExtensionRequest.objects.get(issue=issue)
    assert extension.status == ExtensionRequest.Status.PENDING
    client.force_login(world.supervisor_xincheng)
    client.post(act_url(issue, "approve_extension"), {"approve_extension-note": "同意"})
    extension.refresh_from_db()
    issue.refresh_from_db()
    assert extension.status == ExtensionRequest.Status.APPROVED
    assert issue.deadline == later.replace(second=0, microsecond=0)


def test_refusing_an_extension_that_was_already_decided_is_a_stale_message(client, world):
    issue = issue_in(world, Status.IN_PROGRESS)
    extension = pending_extension(issue, world)
    services.extension_refuse(extension=extension, actor=world.supervisor_xincheng)
    before = snapshot(issue)
    client.force_login(world.supervisor_xincheng)
    response = client.post(act_url(issue, "refuse_extension"), follow=True)
    assert response.status_code == 200
    assert snapshot(issue) == before
    assert any(m.level_tag == "error" for m in response.context["messages"])


# --- stale actions --------------------------------------------------------------------------------


def test_stale_action_gets_a_clear_message_and_changes_nothing(client, world):
    issue = issue_in(world, Status.SUBMITTED)
    # Someone else closed it while this page was open.
    services.issue_verify_pass(issue=issue, actor=world.inspector_xincheng)
    before = snapshot(issue)
    client.force_login(world.supervisor_xincheng)
    response = client.post(
        act_url(issue, "verify_fail"),
        {"verify_fail-reason": "仍有垃圾"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 302
    assert response["Location"] == issue.get_absolute_url()
    assert snapshot(issue) == before
    page = client.get(response["Location"], HTTP_ACCEPT_LANGUAGE="en")
    text = page.content.decode()
    assert "This issue is now" in text
    assert "closed" in text


def test_stale_dispatch_of_an_already_dispatched_issue_is_refused_with_a_message(client, world):
    issue = issue_in(world, Status.ASSIGNED)
    before = snapshot(issue)
    client.force_login(world.supervisor_xincheng)
    response = client.post(
        act_url(issue, "dispatch"), {"dispatch-organisation": world.org_y.pk}, follow=True
    )
    assert response.status_code == 200
    assert snapshot(issue) == before
    assert [m.level_tag for m in response.context["messages"]] == ["error"]


def test_next_brings_the_verifier_back_to_the_queue_but_never_off_site(client, world):
    first = issue_in(world, Status.SUBMITTED)
    second = issue_in(world, Status.SUBMITTED)
    client.force_login(world.supervisor_xincheng)
    response = client.post(
        act_url(first, "verify_pass"), {"verify_pass-note": "已核实", "next": VERIFY_URL}
    )
    assert response["Location"] == VERIFY_URL
    first.refresh_from_db()
    assert first.status == Status.CLOSED
    assert first.events.get(action=Action.VERIFY_PASS).note == "已核实"
    response = client.post(act_url(second, "verify_pass"), {"next": "https://evil.example/"})
    assert response["Location"] == second.get_absolute_url()


# --- triage and bulk dispatch ---------------------------------------------------------------------


def test_triage_needs_a_login_and_a_supervising_role(client, world):
    assert client.get(TRIAGE_URL).status_code == 302
    for persona in ("inspector_xincheng", "handler_xincheng", "leader_zone"):
        client.force_login(getattr(world, persona))
        assert client.get(TRIAGE_URL).status_code == 403


def test_triage_lists_reported_issues_in_scope_with_the_suggestion_preselected(client, world):
    mine = issue_in(world, Status.REPORTED)
    issue_in(world, Status.ASSIGNED)
    theirs = issue_in(
        world, Status.REPORTED, district=world.district_b, community=world.community_b
    )
    client.force_login(world.supervisor_xincheng)
    response = client.get(TRIAGE_URL)
    assert response.status_code == 200
    assert [i.pk for i in response.context["issues"]] == [mine.pk]
    html = response.content.decode()
    assert theirs.case_number not in html
    assert f'name="organisation-{mine.pk}"' in html
    assert f'value="{world.org_x.name} [{world.org_x.code}]"' in html


def test_triage_query_count_does_not_grow_with_rows(client, world):
    # Rows of one place and category share one routing decision; routing runs per distinct pair.
    client.force_login(world.supervisor_xincheng)
    client.get(TRIAGE_URL)
    counts = []
    for rows in (2, 12):
        while Issue.objects.filter(status=Status.REPORTED).count() < rows:
            issue_in(world, Status.REPORTED)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(TRIAGE_URL)
        assert len(response.context["issues"]) == rows
        counts.append(len(queries))
    assert counts[0] == counts[1]
    # Session, user with membership, districts, the rows' ids, the rows (with their
    # communities' districts, which routing reads), photos, the returns, one routing decision,
    # bell; no list of organisations (each row's picker shows its suggestion).
    assert counts[0] == 9, counts


def test_bulk_dispatch_sends_each_selected_issue_to_its_rows_organisation(client, world):
    first = issue_in(world, Status.REPORTED)
    second = issue_in(world, Status.REPORTED)
    untouched = issue_in(world, Status.REPORTED)
    client.force_login(world.supervisor_xincheng)
    response = client.post(
        BULK_URL,
        {
            "issue": [first.pk, second.pk],
            f"organisation-{first.pk}": world.org_x.pk,
            f"organisation-{second.pk}": world.org_y.pk,
            f"organisation-{untouched.pk}": world.org_x.pk,
        },
        follow=True,
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.redirect_chain[-1][0] == TRIAGE_URL
    first.refresh_from_db()
    second.refresh_from_db()
    untouched.refresh_from_db()
    assert (first.status, first.assigned_organisation) == (Status.ASSIGNED, world.org_x)
    assert (second.status, second.assigned_organisation) == (Status.ASSIGNED, world.org_y)
    assert untouched.status == Status.REPORTED
    assert IssueEvent.objects.filter(action=Action.DISPATCH).count() == 2
    assert "Dispatched 2 issues" in response.content.decode()


def test_bulk_dispatch_is_all_or_nothing_per_issue_and_reports_failures(client, world):
    fresh = issue_in(world, Status.REPORTED)
    stale = issue_in(world, Status.ASSIGNED)
    outside = issue_in(
        world, Status.REPORTED, district=world.district_b, community=world.community_b
    )
    no_organisation = issue_in(world, Status.REPORTED)
    before_stale = snapshot(stale)
    before_outside = snapshot(outside)
    client.force_login(world.supervisor_xincheng)
    response = client.post(
        BULK_URL,
        {
            "issue": [fresh.pk, stale.pk, outside.pk, no_organisation.pk],
            f"organisation-{fresh.pk}": world.org_x.pk,
            f"organisation-{stale.pk}": world.org_y.pk,
            f"organisation-{outside.pk}": world.org_y.pk,
            f"organisation-{no_organisation.pk}": "",
        },
        follow=True,
        HTTP_ACCEPT_LANGUAGE="en",
    )
    fresh.refresh_from_db()
    no_organisation.refresh_from_db()
    assert fresh.status == Status.ASSIGNED
    assert no_organisation.status == Status.REPORTED
    assert snapshot(stale) == before_stale
    assert snapshot(outside) == before_outside
    levels = [m.level_tag for m in response.context["messages"]]
    assert levels == ["success", "error"]
    text = response.content.decode()
    assert "Dispatched 1 issue" in text
    assert "3 issues were not dispatched" in text
    assert stale.case_number in text
    assert "not found" in text  # the out-of-scope one, without naming it


def test_bulk_dispatch_needs_post_a_login_and_a_supervising_role(client, world):
    issue = issue_in(world, Status.REPORTED)
    before = snapshot(issue)
    data = {"issue": [issue.pk], f"organisation-{issue.pk}": world.org_x.pk}
    assert client.post(BULK_URL, data).status_code == 302  # to login
    client.force_login(world.inspector_xincheng)
    assert client.post(BULK_URL, data).status_code == 403
    client.force_login(world.supervisor_xincheng)
    assert client.get(BULK_URL).status_code == 405
    assert snapshot(issue) == before


def test_bulk_dispatch_with_nothing_selected_says_so(client, world):
    client.force_login(world.supervisor_xincheng)
    response = client.post(BULK_URL, {}, follow=True)
    assert [m.level_tag for m in response.context["messages"]] == ["warning"]


# --- verification queue ---------------------------------------------------------------------------


def test_verify_queue_needs_a_login_and_a_verifying_role(client, world):
    assert client.get(VERIFY_URL).status_code == 302
    for persona in ("handler_xincheng", "leader_zone"):
        client.force_login(getattr(world, persona))
        assert client.get(VERIFY_URL).status_code == 403


def test_verify_queue_query_count_does_not_grow_with_rows(client, world):
    client.force_login(world.inspector_xincheng)
    client.get(VERIFY_URL)
    counts = []
    for rows in (2, 12):
        while Issue.objects.filter(status=Status.SUBMITTED).count() < rows:
            issue_in(world, Status.SUBMITTED)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(VERIFY_URL)
        assert len(response.context["issues"]) == rows
        counts.append(len(queries))
    assert counts[0] == counts[1]
    # Session, user with membership, districts, the rows' ids, the rows, photos, bell.
    assert counts[0] == 7, counts


def test_verify_queue_shows_submitted_fixes_in_scope_with_pass_and_fail(client, world):
    mine = issue_in(world, Status.SUBMITTED)
    theirs = issue_in(
        world,
        Status.SUBMITTED,
        district=world.district_b,
        community=world.community_b,
        reporter=world.inspector_binhe,
    )
    issue_in(world, Status.IN_PROGRESS)
    Photo.objects.create(
        issue=mine,
        kind=Photo.Kind.BEFORE,
        image="photos/x/b.jpg",
        thumbnail="thumbs/x/b.jpg",
        width=1,
        height=1,
        size_bytes=1,
        sha256="0" * 64,
        uploaded_by=world.inspector_xincheng,
    )
    Photo.objects.create(
        issue=mine,
        kind=Photo.Kind.AFTER,
        image="photos/x/a.jpg",
        thumbnail="thumbs/x/a.jpg",
        width=1,
        height=1,
        size_bytes=1,
        sha256="0" * 64,
        uploaded_by=world.handler_xincheng,
    )
    client.force_login(world.inspector_xincheng)
    response = client.get(VERIFY_URL)
    assert response.status_code == 200
    rows = response.context["issues"]
    assert [i.pk for i in rows] == [mine.pk]
    assert len(rows[0].before_photos) == 1 and len(rows[0].after_photos) == 1
    assert rows[0].may_pass and rows[0].may_fail
    html = response.content.decode()
    assert act_url(mine, "verify_pass") in html
    assert act_url(mine, "verify_fail") in html
    assert theirs.case_number not in html
    # The shared action form include: the table's fields, CSRF, the way back, ids per case.
    assert html.count('name="csrfmiddlewaretoken"') >= 2
    assert f'id="action-verify_pass-{mine.pk}"' in html
    assert f'id="action-verify_fail-{mine.pk}"' in html
    assert 'name="verify_fail-reason"' in html and 'name="verify_pass-note"' in html
    assert f'id="id_{mine.pk}_verify_fail-reason"' in html
    assert html.count(f'name="next" value="{VERIFY_URL}"') >= 2  # and the language menu's


def test_verify_queue_draws_its_shared_forms_with_each_cases_ids_and_own_tokens(client, world):
    """The queue draws each action's form once and gives every case its copy: the case's
    field ids, anchor and URL, a client token of its own, which a send then uses."""
    import re

    first = issue_in(world, Status.SUBMITTED, rework_count=2)
    second = issue_in(world, Status.SUBMITTED)
    client.force_login(world.inspector_xincheng)
    client.get(VERIFY_URL)
    with CaptureQueriesContext(connection) as without_photos:
        client.get(VERIFY_URL)
    for kind in (Photo.Kind.BEFORE, Photo.Kind.AFTER):
        Photo.objects.create(
            issue=first,
            kind=kind,
            image="photos/x/p.jpg",
            thumbnail="thumbs/x/p.jpg",
            width=1,
            height=1,
            size_bytes=1,
            sha256="0" * 64,
            taken_at=timezone.now(),
            gps_latitude=43.6,
            gps_longitude=122.2,
            uploaded_by=world.handler_xincheng,
        )
    with CaptureQueriesContext(connection) as with_photos:
        html = client.get(VERIFY_URL).content.decode()
    # The thumbnails read only the photo columns they show, and nothing more per photo.
    assert len(with_photos) == len(without_photos)
    assert html.count('class="thumb-caption"') == 2 and html.count(" · GPS</span>") == 2
    assert "\x00" not in html
    for issue in (first, second):
        for action in ("verify_pass", "verify_fail"):
            assert f'id="action-{action}-{issue.pk}"' in html
            assert f'action="{act_url(issue, action)}"' in html
            assert f' · {issue.case_number}"' in html  # the outbox's label of the item
        assert f'for="id_{issue.pk}_verify_pass-photos"' in html
        assert f'id="id_{issue.pk}_verify_pass-note"' in html
        assert f'id="id_{issue.pk}_verify_fail-reason"' in html
    assert "返工 ×2" in html or "rework ×2" in html
    # The photo widgets' messages are written once for the queue (static/js/photos.js reads
    # them there); the case page's widgets keep their own.
    assert html.count("data-photo-messages") == 1 and html.count("data-msg-ready=") == 1
    assert html.count("data-photo-widget") == 4
    case_page = client.get(first.get_absolute_url()).content.decode()
    assert "data-photo-messages" not in case_page
    assert case_page.count("data-msg-ready=") == case_page.count("data-photo-widget") > 0
    tokens = re.findall(r'name="verify_(?:pass|fail)-client_token" value="([0-9a-f-]{36})"', html)
    assert len(tokens) == 4 and len(set(tokens)) == 4
    # The second case's pass form, sent with its own token, passes that case and no other.
    token = re.search(
        rf'action="{act_url(second, "verify_pass")}".*?name="verify_pass-client_token" '
        r'value="([0-9a-f-]{36})"',
        html,
        re.S,
    ).group(1)
    response = client.post(
        act_url(second, "verify_pass"),
        {"verify_pass-client_token": token, "verify_pass-note": "已清理", "next": VERIFY_URL},
    )
    assert response.status_code == 302 and response["Location"] == VERIFY_URL
    second.refresh_from_db()
    first.refresh_from_db()
    assert (second.status, first.status) == (Status.CLOSED, Status.SUBMITTED)
    assert IssueEvent.objects.get(issue=second, action=Action.VERIFY_PASS).client_token is not None


def test_verify_queue_fail_form_sends_back_for_rework_and_returns_to_the_queue(client, world):
    issue = issue_in(world, Status.SUBMITTED)
    client.force_login(world.inspector_xincheng)
    page = client.get(VERIFY_URL).content.decode()
    assert f'action="{act_url(issue, "verify_fail")}"' in page
    response = client.post(
        act_url(issue, "verify_fail"), {"verify_fail-reason": "仍有垃圾", "next": VERIFY_URL}
    )
    assert response.status_code == 302 and response["Location"] == VERIFY_URL
    issue.refresh_from_db()
    assert (issue.status, issue.rework_count) == (Status.IN_PROGRESS, 1)


@pytest.fixture
def returned_by_community_office(world):
    """A case of community A dispatched to its community office, which returned it as not theirs."""
    from districts.models import OwnerKind
    from tests.factories import OrganisationFactory, ResponsibilityFactory, make_staff

    office = OrganisationFactory(code="office-a", name="水域蓝湾社区居委会")
    ResponsibilityFactory(
        kind=OwnerKind.TERRITORIAL, organisation=office, community=world.community_a
    )
    handler = make_staff("hal", "handler", organisation=office)
    issue = services.issue_create(
        reporter=world.inspector_xincheng, category=world.category, community=world.community_a
    )
    if issue.status == Status.REPORTED:
        issue = services.issue_dispatch(
            issue=issue, actor=world.supervisor_xincheng, organisation=office
        )
    return issue, office, handler


def test_fieldwalk_return_sends_the_handler_back_to_their_queue_with_a_message(
    client, world, returned_by_community_office
):
    issue, _office, handler = returned_by_community_office
    client.force_login(handler)
    response = client.post(
        act_url(issue, "return"),
        {"return-reason": "不属于本社区，属于市政道路"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    page = client.get(response["Location"], HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "left your queue" in page


def test_fieldwalk_triage_shows_the_return_reason_and_routing_skips_the_returner(
    client, world, returned_by_community_office
):
    issue, office, handler = returned_by_community_office
    services.issue_return(issue=issue, actor=handler, reason="不属于本社区，属于市政道路")
    client.force_login(world.supervisor_xincheng)
    html = client.get(TRIAGE_URL).content.decode()
    assert "不属于本社区，属于市政道路" in html
    assert f'<p class="return-note small" role="note"><strong>{office.name} 回退：</strong>' in html
    # Falls back from the community office that returned it to the district's office.
    assert f'value="{world.org_x.name} [{world.org_x.code}]"' in html
    assert f'value="{office.name} [{office.code}]"' not in html
    detail = client.get(issue.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "不属于本社区，属于市政道路" in detail
    assert "which returned this case" in detail


def test_fieldwalk_supervisor_has_queues_for_returned_cases_and_extension_requests(
    client, world, returned_by_community_office
):
    issue, _office, handler = returned_by_community_office
    services.issue_return(issue=issue, actor=handler, reason="不归我们管")
    other = issue_in(world, Status.IN_PROGRESS)
    pending_extension(other, world)
    plain = issue_in(world, Status.REPORTED)
    client.force_login(world.supervisor_xincheng)
    home = client.get(reverse("home"), HTTP_ACCEPT_LANGUAGE="en")
    with translation.override("en"):
        tiles = {str(tile["label"]): tile for tile in home.context["tiles"]}
    assert tiles["Returned, to dispatch again"]["value"] == 1
    assert tiles["Extension requests"]["value"] == 1
    returned = client.get(tiles["Returned, to dispatch again"]["url"])
    assert [row.pk for row in returned.context["issues"]] == [issue.pk]
    assert plain.pk not in [row.pk for row in returned.context["issues"]]
    queue = client.get(tiles["Extension requests"]["url"])
    assert [row.issue_id for row in queue.context["requests"]] == [other.pk]
    listed = client.get(reverse("issues:issue_list"), {"extension_pending": "true"})
    assert [row.pk for row in listed.context["rows"]] == [other.pk]
    # Out of scope: supervisor_binhe (district B) sees neither; handlers may not open the queue.
    client.force_login(world.supervisor_binhe)
    assert client.get(reverse("issues:extension_queue")).context["requests"] == []
    client.force_login(world.handler_xincheng)
    assert client.get(reverse("issues:extension_queue")).status_code == 403


def test_fieldwalk_an_extension_decided_from_the_queue_returns_to_the_queue(client, world):
    issue = issue_in(world, Status.IN_PROGRESS)
    pending_extension(issue, world)
    client.force_login(world.supervisor_xincheng)
    queue_url = reverse("issues:extension_queue")
    response = client.post(act_url(issue, "refuse_extension"), {"next": queue_url})
    assert response.status_code == 302
    assert response["Location"] == queue_url
    assert not ExtensionRequest.objects.filter(issue=issue, status="pending").exists()
