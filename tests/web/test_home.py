"""The home page of every role, the shell around every page, log in and out, languages."""

from __future__ import annotations

import datetime
import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from issues.models import Issue, Notification, Status
from tests.factories import UserFactory, issue_in

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def make_overdue(world, *, where: str = "a", **fields) -> Issue:
    now = timezone.now()
    return issue_in(
        world,
        where=where,
        status=Status.IN_PROGRESS,
        clock_started_at=now - datetime.timedelta(hours=5),
        deadline=now - datetime.timedelta(hours=1),
        **fields,
    )


def populate(world, copies: int) -> None:
    """Issues in every state in both districts, `copies` of each."""
    for _ in range(copies):
        for where in ("a", "b"):
            issue_in(world, where=where)
            issue_in(world, where=where, status=Status.ASSIGNED)
            issue_in(world, where=where, status=Status.IN_PROGRESS, rework_count=1)
            issue_in(world, where=where, status=Status.SUBMITTED, submitted_at=timezone.now())
            issue_in(world, where=where, status=Status.CLOSED)
            make_overdue(world, where=where, escalation_level=1)


def case_numbers(response) -> set[str]:
    return set(re.findall(r"[0-9]{4}-[0-9]{6}", response.content.decode()))


# ---------- access ----------


def test_anonymous_visitor_is_sent_to_login_from_home(client, db):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == reverse("login") + "?next=/"


def test_home_refuses_post(client, world):
    client.force_login(world.inspector_xincheng)
    assert client.post("/").status_code == 405


def test_the_login_page_logs_a_user_in_and_home_follows(client, world):
    response = client.get(reverse("login"), **EN)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'for="id_username"' in html and 'for="id_password"' in html
    response = client.post(
        reverse("login"), {"username": "inspector_xincheng", "password": "password"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert client.get("/").status_code == 200


def test_a_wrong_password_shows_an_error(client, world):
    response = client.post(
        reverse("login"), {"username": "inspector_xincheng", "password": "nope"}, **EN
    )
    assert response.status_code == 200
    assert 'class="errorlist nonfield"' in response.content.decode()


def test_logout_is_a_post_and_a_get_changes_nothing(client, world):
    client.force_login(world.inspector_xincheng)
    assert client.get(reverse("logout")).status_code == 405
    assert client.get("/").status_code == 200
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_a_user_without_a_role_sees_a_friendly_page(client, db):
    user = UserFactory(username="nobody")
    client.force_login(user)
    response = client.get("/", **EN)
    assert response.status_code == 200
    assert "no role yet" in response.content.decode()


# ---------- the shell: language, assets, bell ----------


def test_home_answers_in_chinese_by_default_and_loads_nothing_from_outside(client, world):
    client.force_login(world.inspector_xincheng)
    response = client.get("/")
    html = response.content.decode()
    assert '<html lang="zh-hans">' in html
    assert '<meta name="viewport"' in html
    # No external asset: every src and href is local.
    references = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert references
    assert not [ref for ref in references if ref.startswith(("http:", "https:", "//"))]
    # No inline script or style, so the strict CSP holds.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert "<style" not in html and " style=" not in html
    assert "script-src 'self'" in response["Content-Security-Policy"]


def test_the_login_page_references_no_external_asset_either(client, db):
    html = client.get(reverse("login")).content.decode()
    assert '<html lang="zh-hans">' in html
    references = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert not [ref for ref in references if ref.startswith(("http:", "https:", "//"))]


def test_language_switch_is_a_plain_post_and_english_follows(client, world):
    client.force_login(world.inspector_xincheng)
    html = client.get("/").content.decode()
    assert f'action="{reverse("set_language")}"' in html
    response = client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert response.status_code == 302
    html = client.get("/").content.decode()
    assert '<html lang="en">' in html
    assert "Report a problem" in html


def test_the_bell_shows_the_unread_count(client, world):
    issue = issue_in(world)
    for index in range(3):
        Notification.objects.create(
            user=world.inspector_xincheng, issue=issue, kind="t", title=f"n{index}"
        )
    Notification.objects.create(
        user=world.inspector_xincheng, issue=issue, kind="t", title="old", read_at=timezone.now()
    )
    Notification.objects.create(
        user=world.supervisor_xincheng, issue=issue, kind="t", title="not hers"
    )
    client.force_login(world.inspector_xincheng)
    html = client.get("/", **EN).content.decode()
    assert re.search(r'<span class="bell-count"[^>]*>3</span>', html)


def test_the_bell_caps_a_flood_of_notifications(client, world):
    Notification.objects.bulk_create(
        Notification(user=world.inspector_xincheng, kind="t", title=f"n{index}")
        for index in range(120)
    )
    client.force_login(world.inspector_xincheng)
    html = client.get("/", **EN).content.decode()
    assert re.search(r'<span class="bell-count"[^>]*>99\+</span>', html)


def test_the_report_button_is_offered_only_to_roles_that_report(client, world):
    report_url = reverse("issues:issue_report")
    for who, offered in (
        ("inspector_xincheng", True),
        ("supervisor_xincheng", True),
        ("admin_zone", True),
        ("handler_xincheng", False),
    ):
        client.force_login(getattr(world, who))
        html = client.get("/").content.decode()
        assert (f'href="{report_url}"' in html) is offered, who


# ---------- what each role sees ----------


def test_inspector_home_shows_the_big_report_button_and_her_own_reports(client, world):
    mine = issue_in(world, reporter=world.inspector_xincheng)
    not_mine = issue_in(world, reporter=world.inspector_binhe, where="b")
    client.force_login(world.inspector_xincheng)
    response = client.get("/", **EN)
    html = response.content.decode()
    assert "btn-hero" in html and "Report a problem" in html
    assert mine.case_number in html
    assert not_mine.case_number not in html


def test_handler_home_lists_the_organisations_queue_overdue_first(client, world):
    later = issue_in(world, status=Status.ASSIGNED)
    overdue = make_overdue(world)
    issue_in(world, status=Status.REPORTED)  # not dispatched: not the organisation's yet
    other_org = make_overdue(world, where="b")
    client.force_login(world.handler_xincheng)
    html = client.get("/", **EN).content.decode()
    assert other_org.case_number not in html
    assert html.index(overdue.case_number) < html.index(later.case_number)
    assert re.search(r'stat-alert"[^>]*>\s*<span class="stat-value">1</span>', html)


def test_handler_tiles_link_into_the_filtered_list(client, world):
    issue_in(world, status=Status.IN_PROGRESS, rework_count=2)
    client.force_login(world.handler_xincheng)
    response = client.get("/", **EN)
    tiles = {tile["label"]: tile for tile in response.context["tiles"]}
    assert tiles["Rework"]["value"] == 1
    assert "rework=true" in tiles["Rework"]["url"]
    assert client.get(tiles["Rework"]["url"]).status_code == 200


def test_supervisor_home_shows_triage_verification_overdue_and_escalated(client, world):
    new = issue_in(world)
    submitted = issue_in(world, status=Status.SUBMITTED, submitted_at=timezone.now())
    overdue = make_overdue(world, escalation_level=2)
    elsewhere = issue_in(world, where="b")
    client.force_login(world.supervisor_xincheng)
    response = client.get("/", **EN)
    assert [issue.pk for issue in response.context["to_triage"]] == [new.pk]
    assert [issue.pk for issue in response.context["to_verify"]] == [submitted.pk]
    assert [issue.pk for issue in response.context["overdue"]] == [overdue.pk]
    values = {str(tile["label"]): tile["value"] for tile in response.context["tiles"]}
    assert values == {
        "To triage": 1,
        "Awaiting verification": 1,
        "Overdue": 1,
        "Escalated": 1,
        "Returned, to dispatch again": 0,
        "Extension requests": 0,
    }
    assert elsewhere.case_number not in response.content.decode()


def test_supervisor_home_lists_the_first_of_each_queue_in_its_own_order(client, world):
    from issues.views.home import SUPERVISOR_LIST_SIZE

    now = timezone.now()
    hours = [datetime.timedelta(hours=hour) for hour in (5, 1, 7, 3, 9, 2, 8, 4)]
    for ago in hours:
        issue_in(world, reported_at=now - ago)
        issue_in(world, status=Status.SUBMITTED, submitted_at=now - ago)
        issue_in(world, status=Status.IN_PROGRESS, deadline=now - ago)
        issue_in(world, status=Status.ASSIGNED, deadline=now + ago)  # not overdue
        issue_in(world, where="b", reported_at=now - ago * 2)  # another district
    client.force_login(world.supervisor_xincheng)
    response = client.get("/", **EN)
    visible = Issue.objects.visible_to(world.supervisor_xincheng)
    expected = {
        "to_triage": visible.filter(status=Status.REPORTED).order_by("reported_at", "id"),
        "to_verify": visible.filter(status=Status.SUBMITTED).order_by("submitted_at", "id"),
        "overdue": visible.overdue(now).order_by("deadline", "id"),
    }
    for name, rows in expected.items():
        wanted = list(rows.values_list("pk", flat=True)[:SUPERVISOR_LIST_SIZE])
        assert len(wanted) == SUPERVISOR_LIST_SIZE
        assert [issue.pk for issue in response.context[name]] == wanted, name


@pytest.mark.parametrize("who", ["leader_zone", "admin_zone"])
def test_leader_and_admin_see_counts_by_status_and_district(client, world, who):
    populate(world, copies=2)
    issue_in(
        world,
        status=Status.CLOSED,
        closed_at=timezone.now() - datetime.timedelta(days=90),
    )
    client.force_login(getattr(world, who))
    response = client.get("/", **EN)
    values = {str(tile["label"]): tile["value"] for tile in response.context["tiles"]}
    assert values == {
        "Open": 20,
        "Overdue": 4,
        "Escalated": 4,
        "Closed in the last 30 days": 4,
    }
    rows = {row["district"].pk: row for row in response.context["district_rows"]}
    assert rows[world.district_a.pk]["open"] == 10
    assert rows[world.district_a.pk]["overdue"] == 2
    assert rows[world.district_b.pk]["reported"] == 2
    by_status = {row["status"]: row["value"] for row in response.context["by_status"]}
    assert by_status == {
        "reported": 4,
        "assigned": 4,
        "in_progress": 8,
        "submitted": 4,
        "parked": 0,
    }


def test_a_leader_over_one_district_sees_only_it(client, world):
    from districts.models import Role
    from tests.factories import make_staff

    populate(world, copies=1)
    lena = make_staff("lena", Role.LEADER, districts=[world.district_a])
    client.force_login(lena)
    response = client.get("/", **EN)
    assert [row["district"].pk for row in response.context["district_rows"]] == [
        world.district_a.pk
    ]
    values = {str(tile["label"]): tile["value"] for tile in response.context["tiles"]}
    assert values["Open"] == 5


# ---------- query counts: the same for a quiet zone and a busy one ----------

# Session, user with membership (one query), the bell's unread count, then per role (the
# district-scoped ones read their district ids once):
HOME_QUERIES = {
    # district ids, counters and own reports, recent reports (their ids, then their rows:
    # `civicapp.db.first_rows`)
    "inspector_xincheng": 2 + 1 + 4,
    "handler_xincheng": 2 + 1 + 3,  # counters, queue (ids, rows)
    # ids, counters, the three short lists' ids in one query, then their rows (three queries
    # where SQLite cannot union them)
    "supervisor_xincheng": 2 + 1 + 4,
    "leader_zone": 2 + 1 + 2,  # counters, districts in scope
    "admin_zone": 2 + 1 + 2,
}


def home_queries(who: str) -> int:
    from django.db import connection

    if (
        who.startswith("supervisor")
        and not connection.features.supports_slicing_ordering_in_compound
    ):
        return HOME_QUERIES[who] + 1
    return HOME_QUERIES[who]


@pytest.mark.parametrize("who", sorted(HOME_QUERIES))
def test_home_runs_a_fixed_number_of_queries_for_every_role(
    client, world, django_assert_num_queries, who
):
    user = getattr(world, who)
    client.force_login(user)
    populate(world, copies=1)
    with django_assert_num_queries(home_queries(who)):
        assert client.get("/").status_code == 200
    populate(world, copies=6)
    with django_assert_num_queries(home_queries(who)):
        assert client.get("/").status_code == 200


def test_a_superuser_without_membership_gets_the_admin_overview(client, db):
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(root)
    response = client.get("/", **EN)
    assert response.status_code == 200
    assert response.context["role"] == "admin"
    assert case_numbers(response) == set()


def test_a_case_that_changes_between_the_home_lists_two_reads_stays_in_its_list(client, world):
    """The supervisor's short lists read their ids, then the rows: a report dispatched in
    between (its clock running, its deadline passed) stays under "to triage", where it was
    picked, and is not counted among the overdue ones it was never chosen for."""
    from django.db import connection

    report = issue_in(world, status=Status.REPORTED)
    changed = []

    def dispatch_after_the_ids(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if "listed_in" in sql and not changed:
            changed.append(True)
            Issue.objects.filter(pk=report.pk).update(
                status=Status.ASSIGNED,
                assigned_organisation=world.org_x,
                clock_started_at=timezone.now() - datetime.timedelta(days=3),
                deadline=timezone.now() - datetime.timedelta(days=1),
            )
        return result

    client.force_login(world.supervisor_xincheng)
    with connection.execute_wrapper(dispatch_after_the_ids):
        response = client.get("/")
    assert changed
    assert [issue.pk for issue in response.context["to_triage"]] == [report.pk]
    assert list(response.context["overdue"]) == []
