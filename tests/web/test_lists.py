"""The issue list and its CSV export: scope, filters, keyset paging, query counts."""

from __future__ import annotations

import csv
import datetime
import io
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from issues.filters import IssueFilterSet
from issues.models import Issue, Status
from tests.factories import CategoryFactory, CommunityFactory, UserFactory, issue_in

LIST_URL = "/issues/"
EXPORT_URL = "/issues/export.csv"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def case_numbers(response) -> list[str]:
    """Case numbers shown in the desktop table, in order (the phone cards repeat them)."""
    return re.findall(r'class="mono">([0-9]{4}-[0-9]{6})<', response.content.decode())


def listed(client, **params) -> list[str]:
    response = client.get(LIST_URL, params, **EN)
    assert response.status_code == 200
    return case_numbers(response)


# ---------- access ----------


@pytest.mark.parametrize("url", [LIST_URL, EXPORT_URL])
def test_anonymous_visitor_is_sent_to_login(client, db, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("url", [LIST_URL, EXPORT_URL])
def test_list_pages_refuse_post(client, world, url):
    client.force_login(world.supervisor_xincheng)
    assert client.post(url).status_code == 405


@pytest.mark.parametrize(
    "who",
    ["inspector_xincheng", "supervisor_xincheng", "handler_xincheng", "leader_zone", "admin_zone"],
)
def test_every_role_may_open_the_list(client, world, who):
    issue_in(world)
    client.force_login(getattr(world, who))
    assert client.get(LIST_URL).status_code == 200


def test_handler_never_sees_another_organisations_issues(client, world):
    mine = issue_in(world, where="a", status=Status.ASSIGNED)
    theirs = issue_in(world, where="b", status=Status.ASSIGNED)
    reported_here = issue_in(world, where="a")
    client.force_login(world.handler_xincheng)
    shown = listed(client)
    assert shown == [mine.case_number]
    assert theirs.case_number not in shown and reported_here.case_number not in shown
    # Asking for the other organisation by id is an invalid choice, not a way in.
    response = client.get(LIST_URL, {"organisation": world.org_y.pk}, **EN)
    assert case_numbers(response) == []
    assert "Select a valid choice" in response.content.decode()
    # And the search cannot reach it either.
    assert listed(client, q=theirs.case_number) == []


def test_supervisor_sees_only_issues_of_their_districts(client, world):
    here = issue_in(world, where="a")
    issue_in(world, where="b")
    client.force_login(world.supervisor_xincheng)
    assert listed(client) == [here.case_number]


def test_out_of_scope_choices_are_not_offered(client, world):
    other_community = CommunityFactory(district=world.district_b, name="外区社区")
    client.force_login(world.supervisor_xincheng)
    filterset = IssueFilterSet(
        {},
        queryset=Issue.objects.visible_to(world.supervisor_xincheng),
        request=_request_for(world.supervisor_xincheng),
    )
    form = filterset.form
    assert list(form.fields["district"].queryset) == [world.district_a]
    communities = set(form.fields["community"].queryset)
    assert world.community_a in communities
    assert world.community_b not in communities and other_community not in communities
    assert set(form.fields["point"].queryset) == {world.point_a}
    assert world.org_y not in set(form.fields["organisation"].queryset)
    html = client.get(LIST_URL, **EN).content.decode()
    assert world.district_b.name not in html
    assert world.community_b.name not in html


def test_handler_is_offered_only_their_own_organisation(world):
    filterset = IssueFilterSet(
        {},
        queryset=Issue.objects.visible_to(world.handler_xincheng),
        request=_request_for(world.handler_xincheng),
    )
    assert list(filterset.form.fields["organisation"].queryset) == [world.org_x]


def test_choice_lists_load_only_id_and_name(world):
    filterset = IssueFilterSet(
        {},
        queryset=Issue.objects.visible_to(world.admin_zone),
        request=_request_for(world.admin_zone),
    )
    deferred = filterset.form.fields["point"].queryset.query.deferred_loading
    assert deferred == ({"id", "name", "code"}, False)


def _request_for(user):
    from django.test import RequestFactory

    request = RequestFactory().get(LIST_URL)
    request.user = user
    return request


# ---------- filters ----------


def _filter_cases(world):
    """(GET params, the issue they must keep, an issue they must drop) for every filter."""
    now = timezone.now()
    other_category = CategoryFactory(code="SMALL_AD_T", name="小广告", severity="major")
    overdue = issue_in(
        world,
        status=Status.IN_PROGRESS,
        deadline=now - datetime.timedelta(hours=1),
        clock_started_at=now - datetime.timedelta(hours=5),
        description="overdue one",
    )
    green = issue_in(world, status=Status.ASSIGNED)
    yellow = issue_in(
        world,
        status=Status.IN_PROGRESS,
        clock_started_at=now - datetime.timedelta(hours=9),
        deadline=now + datetime.timedelta(hours=1),
    )
    on_point = issue_in(world, point=world.point_a, description="市场门口暴露垃圾")
    other_cat = issue_in(world, category=other_category, severity="major")
    escalated = issue_in(world, status=Status.ASSIGNED, escalation_level=2)
    reworked = issue_in(world, status=Status.IN_PROGRESS, rework_count=1)
    by_carol = issue_in(
        world, where="b", reporter=world.inspector_binhe, address="科尔沁大街 12 号"
    )
    old = issue_in(world, reported_at=now - datetime.timedelta(days=40))
    closed_old = issue_in(world, status=Status.CLOSED, closed_at=now - datetime.timedelta(days=20))
    closed_new = issue_in(world, status=Status.CLOSED, closed_at=now)
    dispatched_old = issue_in(
        world, status=Status.ASSIGNED, dispatched_at=now - datetime.timedelta(days=10)
    )
    # Dispatched this very moment: "today" holds it at any hour, even just after midnight.
    dispatched_now = issue_in(world, status=Status.ASSIGNED, dispatched_at=now)
    today = timezone.localdate()
    week_ago = (today - datetime.timedelta(days=7)).isoformat()
    return [
        ({"district": world.district_b.pk}, by_carol, green),
        ({"community": world.community_b.pk}, by_carol, green),
        ({"point": world.point_a.pk}, on_point, green),
        ({"point_type": world.point_a.point_type_id}, on_point, green),
        ({"category": other_category.pk}, other_cat, green),
        ({"status": Status.ASSIGNED}, green, on_point),
        ({"status": [Status.ASSIGNED, Status.CLOSED]}, closed_new, on_point),
        ({"organisation": world.org_x.pk}, green, on_point),
        ({"severity": "major"}, other_cat, green),
        ({"overdue": "true"}, overdue, green),
        ({"overdue": "false"}, green, overdue),
        ({"light": "green"}, green, yellow),
        ({"light": "yellow"}, yellow, green),
        ({"light": "red"}, overdue, yellow),
        ({"escalation_level": "2"}, escalated, green),
        ({"rework": "true"}, reworked, green),
        ({"reporter": "inspector_binhe"}, by_carol, green),
        ({"q": on_point.case_number}, on_point, green),
        ({"q": "暴露垃圾"}, on_point, green),
        ({"q": "科尔沁"}, by_carol, green),
        ({"reported_from": week_ago}, green, old),
        ({"reported_to": week_ago}, old, green),
        ({"closed_from": today.isoformat()}, closed_new, closed_old),
        ({"closed_to": week_ago}, closed_old, closed_new),
        ({"dispatched_from": today.isoformat()}, dispatched_now, dispatched_old),
        ({"dispatched_to": week_ago}, dispatched_old, green),
    ]


def test_each_filter_narrows_the_list(client, world):
    cases = _filter_cases(world)
    client.force_login(world.admin_zone)
    everything = set(listed(client, per_page=100))
    assert len(everything) == Issue.objects.count()
    for params, kept, dropped in cases:
        shown = listed(client, per_page=100, **params)
        assert kept.case_number in shown, params
        assert dropped.case_number not in shown, params
        assert len(shown) < len(everything), params


def test_search_matches_a_case_number_exactly_or_by_prefix(client, world):
    first = issue_in(world, case_number="2026-123456")
    second = issue_in(world, case_number="2026-123457")
    other = issue_in(world, case_number="2026-999999")
    client.force_login(world.admin_zone)
    assert listed(client, q="2026-123456") == [first.case_number]
    assert set(listed(client, q="2026-1234")) == {first.case_number, second.case_number}
    assert listed(client, q=" 2026-9999 ") == [other.case_number]


def test_timer_light_filter_agrees_with_the_issue_timer_light(client, world):
    _filter_cases(world)
    client.force_login(world.admin_zone)
    now = timezone.now()
    for light in ("green", "yellow", "red"):
        expected = {
            issue.case_number for issue in Issue.objects.all() if issue.timer_light(now) == light
        }
        assert expected, light
        assert set(listed(client, light=light, per_page=100)) == expected


@pytest.mark.parametrize(
    "params",
    [
        {"status": "bogus"},
        {"district": "999999"},
        {"district": "abc"},
        {"sort": "password"},
        {"per_page": "7"},
        {"per_page": "100000"},
        {"reported_from": "not-a-date"},
        {"reported_from": "2026-03-10", "reported_to": "2026-03-01"},
        {"light": "purple"},
        {"escalation_level": "9"},
        {"reported_to": "9999-12-31"},
    ],
)
def test_an_invalid_filter_shows_the_error_and_no_rows(client, world, params):
    issue_in(world)
    client.force_login(world.admin_zone)
    response = client.get(LIST_URL, params, **EN)
    assert response.status_code == 200
    html = response.content.decode()
    assert case_numbers(response) == []
    assert "Some filters are not valid" in html
    assert 'class="errorlist' in html


def test_an_out_of_scope_district_is_an_invalid_filter(client, world):
    issue_in(world, where="b")
    client.force_login(world.supervisor_xincheng)
    response = client.get(LIST_URL, {"district": world.district_b.pk}, **EN)
    assert case_numbers(response) == []
    assert "Some filters are not valid" in response.content.decode()


def test_an_invalid_filter_exports_nothing(client, world):
    issue_in(world)
    client.force_login(world.admin_zone)
    response = client.get(EXPORT_URL, {"status": "bogus"})
    assert response.status_code == 400
    assert not response.streaming


def test_filter_form_remembers_the_query_so_the_url_can_be_shared(client, world):
    client.force_login(world.admin_zone)
    html = client.get(
        LIST_URL, {"q": "垃圾", "status": Status.REPORTED, "sort": "deadline"}, **EN
    ).content.decode()
    assert 'value="垃圾"' in html
    assert re.search(r'value="reported"[^>]*checked', html)
    assert re.search(r'<option value="deadline" selected>', html)


# ---------- sorting and keyset pages ----------


def _walk(client, params: dict, *, backwards_check: bool = True) -> list[str]:
    """Follow the next links from the first page to the last; check previous links too."""
    pages: list[list[str]] = []
    response = client.get(LIST_URL, params, **EN)
    while True:
        assert response.status_code == 200
        pages.append(case_numbers(response))
        match = re.search(r'href="(\?[^"]*)" rel="next"', response.content.decode())
        if not match:
            break
        response = client.get(LIST_URL + match.group(1).replace("&amp;", "&"), **EN)
    if backwards_check and len(pages) > 1:
        # From the last page, the previous links lead back through the same pages.
        for expected in reversed(pages[:-1]):
            match = re.search(r'href="(\?[^"]*)" rel="prev"', response.content.decode())
            assert match
            response = client.get(LIST_URL + match.group(1).replace("&amp;", "&"), **EN)
            assert case_numbers(response) == expected
        # Back on the first page, there is no previous page.
        assert 'rel="prev"' not in response.content.decode()
    return [number for page in pages for number in page]


@pytest.mark.parametrize(
    "sort", ["-reported_at", "reported_at", "deadline", "-deadline", "updated_at", "-updated_at"]
)
def test_keyset_pages_cover_every_issue_once_in_order(client, world, sort):
    now = timezone.now()
    issues = []
    for index in range(23):
        status = Status.ASSIGNED if index % 3 else Status.REPORTED  # a third have no deadline
        # Pairs share a timestamp so ties must break on id.
        moment = now - datetime.timedelta(hours=index // 2)
        issue = issue_in(world, status=status, reported_at=moment)
        if status == Status.ASSIGNED:
            Issue.objects.filter(pk=issue.pk).update(deadline=moment + datetime.timedelta(days=1))
        issues.append(issue)
    client.force_login(world.admin_zone)
    walked = _walk(client, {"sort": sort, "per_page": 10})
    assert len(walked) == len(set(walked)) == 23
    field = sort.lstrip("-")
    descending = sort.startswith("-")
    rows = list(Issue.objects.all())

    def key(issue):
        value = getattr(issue, field)
        missing = value is None
        stamp = value.timestamp() if value else 0
        if descending:
            return (missing, -stamp, -issue.pk)
        return (missing, stamp, issue.pk)

    assert walked == [issue.case_number for issue in sorted(rows, key=key)]


def test_a_forged_cursor_shows_a_message_not_an_error(client, world):
    issue_in(world)
    client.force_login(world.admin_zone)
    response = client.get(LIST_URL, {"after": "garbage"}, **EN)
    assert response.status_code == 200
    assert "This page link is not valid any more" in response.content.decode()


def test_the_list_never_counts_the_table(client, world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):
        issue_in(world)
    client.force_login(world.admin_zone)
    with CaptureQueriesContext(connection) as context:
        client.get(LIST_URL)
    statements = [query["sql"] for query in context.captured_queries]
    # Nothing is counted; the bell reads at most a hundred unread ids. Its statement is
    # prepared (`civicapp.db.Prepared`): a connection that holds it sends only its name.
    assert not [sql for sql in statements if "COUNT(" in sql]
    from issues.context_processors import UNREAD_IDS

    (bell,) = UNREAD_IDS._statements.values()
    assert "LIMIT 100" in bell.sql


def _list_queries(client, django_assert_num_queries, count: int, per_page: int) -> None:
    with django_assert_num_queries(count):
        response = client.get(LIST_URL, {"per_page": per_page, "sort": "deadline"})
    assert response.status_code == 200
    assert len(case_numbers(response)) == per_page


# Session, user with membership (one query), the page's ids, then its rows (one joined query by
# those ids, `issues.paging._page_ids`) and the bell's unread ids; the form's districts, point
# types and categories come from the reference cache (`districts.reference`, filled by the
# first request), communities, points and organisations are pickers that load nothing. A
# supervisor also reads their district ids (the row query takes them as literals, the form's
# district select shows those).
LIST_QUERIES = {"supervisor_xincheng": 6, "admin_zone": 5, "handler_xincheng": 5}


@pytest.mark.parametrize("who", sorted(LIST_QUERIES))
def test_the_list_runs_the_same_queries_for_10_and_100_rows(
    client, world, django_assert_num_queries, who
):
    where = "a"
    for index in range(101):
        status = Status.ASSIGNED if index % 2 else Status.IN_PROGRESS
        issue_in(world, where=where, status=status, point=world.point_a if index % 3 else None)
    client.force_login(getattr(world, who))
    client.get(LIST_URL)  # fills the reference cache, as the zone's first request of the day
    _list_queries(client, django_assert_num_queries, LIST_QUERIES[who], 10)
    _list_queries(client, django_assert_num_queries, LIST_QUERIES[who], 100)


# ---------- CSV export ----------


def _csv_rows(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


def test_csv_export_has_a_bom_and_exactly_the_filtered_rows(client, world):
    kept = issue_in(world, status=Status.ASSIGNED, address="=HYPERLINK(1)")
    issue_in(world, status=Status.REPORTED)
    issue_in(world, where="b", status=Status.ASSIGNED)
    client.force_login(world.supervisor_xincheng)
    response = client.get(EXPORT_URL, {"status": Status.ASSIGNED}, **EN)
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="issues-')
    header, *rows = _csv_rows(response)
    assert header[0] == "Case number"
    assert "Closed at" in header and "Acknowledged at" in header
    assert [row[0] for row in rows] == [kept.case_number]
    row = dict(zip(header, rows[0], strict=True))
    assert row["Organisation"] == world.org_x.name
    # A cell that Excel would run as a formula is kept as text.
    assert row["Address"] == "'=HYPERLINK(1)"
    local_reported = timezone.localtime(kept.reported_at).strftime("%Y-%m-%d %H:%M:%S")
    assert row["Reported at"] == local_reported


def test_csv_export_respects_scope(client, world):
    issue_in(world, where="a", status=Status.ASSIGNED)
    theirs = issue_in(world, where="b", status=Status.ASSIGNED)
    client.force_login(world.handler_xincheng)
    _header, *rows = _csv_rows(client.get(EXPORT_URL))
    assert theirs.case_number not in [row[0] for row in rows]
    assert len(rows) == 1


def test_csv_export_runs_a_fixed_number_of_queries(client, world, django_assert_num_queries):
    for _ in range(30):
        issue_in(world, status=Status.ASSIGNED)
    reporter = UserFactory(username="someone")
    issue_in(world, reporter=reporter)
    client.force_login(world.admin_zone)
    # Session, user with membership; the choice-list querysets are never evaluated; the rows
    # are read through a server-side cursor: declare, fetch, (close is not a query).
    with django_assert_num_queries(3):
        response = client.get(EXPORT_URL)
        rows = _csv_rows(response)
    assert len(rows) == 32


def test_security_reporter_filter_answers_alike_for_unknown_and_silent_users(client, world):
    client.force_login(world.supervisor_xincheng)
    url = reverse("issues:issue_list")
    unknown = client.get(url, {"reporter": "nosuchuser"})
    silent = client.get(
        url, {"reporter": world.leader_zone.username}
    )  # a real user with no reports
    assert unknown.status_code == silent.status_code == 200
    assert not unknown.context["filters_invalid"] and not silent.context["filters_invalid"]
    assert list(unknown.context["rows"]) == list(silent.context["rows"]) == []


def test_fieldwalk_my_reports_open_with_the_filters_folded(client, world):
    client.force_login(world.inspector_xincheng)
    mine = client.get(reverse("issues:issue_list"), {"reporter": world.inspector_xincheng.username})
    assert mine.context["filters_open"] is False
    assert '<details class="card filters" open>' not in mine.content.decode()
    wrong = client.get(reverse("issues:issue_list"), {"reported_to": "9999-12-31"})
    assert wrong.context["filters_open"] is True


def test_fieldwalk_the_print_stylesheet_drops_the_actions_card():
    from pathlib import Path

    from django.conf import settings

    css = (Path(settings.BASE_DIR) / "static/css/app.css").read_text(encoding="utf-8")
    print_rules = css[css.index("@media print") :]
    assert ".card-actions" in print_rules.split("}")[0]
