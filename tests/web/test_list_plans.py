"""The issue list reads its pages from indexes, on PostgreSQL, whatever the sort and page.

A page is a LIMIT over an index walk only when an index gives the page's order and its keyset
condition bounds a range of that index; otherwise every page sorts the whole visible table.
The plans are checked with sorting and sequential scans priced out, so a missing index shows as
a Sort node even on a handful of rows. `manage.py benchmark_lists` measures the same on 300 000.
"""

from __future__ import annotations

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from issues.filters import sort_order
from issues.models import Issue, Status
from tests.factories import IssueFactory

LIST_URL = "/issues/"

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="query plans are PostgreSQL's"
)

SORTS = ["-reported_at", "reported_at", "deadline", "-deadline", "-updated_at", "updated_at"]


def _issues(world, count: int = 24) -> None:
    now = timezone.now()
    for index in range(count):
        dispatched = index % 3 != 0  # a third have no deadline
        values = {
            "community": world.community_a,
            "category": world.category,
            "reporter": world.inspector_xincheng,
            "reported_at": now - datetime.timedelta(hours=index),
        }
        if dispatched:
            values.update(
                status=Status.ASSIGNED,
                assigned_organisation=world.org_x,
                dispatched_at=now - datetime.timedelta(hours=index),
                clock_started_at=now - datetime.timedelta(hours=index),
                deadline=now + datetime.timedelta(hours=index),
            )
        IssueFactory(**values)


def _page_id_queries(client, url: str) -> tuple[list[str], str]:
    """The statements that pick the page's issues (its ids, read before any join; the rows are
    then read by those ids), and the page's HTML."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    statements = [
        query["sql"]
        for query in captured.captured_queries
        if re.search(r'FROM "issues_issue"', query["sql"]) and "LIMIT" in query["sql"]
    ]
    return statements, response.content.decode()


def _plan(sql: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("SET LOCAL enable_incremental_sort = off")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


def _link(html: str, rel: str) -> str | None:
    match = re.search(rf'href="(\?[^"]*)" rel="{rel}"', html)
    return LIST_URL + match.group(1).replace("&amp;", "&") if match else None


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("who", ["admin_zone", "supervisor_xincheng", "handler_xincheng"])
def test_every_page_of_every_sort_is_read_in_index_order(client, world, sort, who):
    _issues(world)
    client.force_login(getattr(world, who))
    url: str | None = f"{LIST_URL}?sort={sort}&per_page=10"
    seen_pages = 0
    html = ""
    while url:
        statements, html = _page_id_queries(client, url)
        assert statements
        for sql in statements:
            plan = _plan(sql)
            assert not re.search(r"^\s*(->\s*)?Sort", plan, re.MULTILINE), plan
            assert "Seq Scan on issues_issue" not in plan, plan
        seen_pages += 1
        url = _link(html, "next")
    assert seen_pages >= 2
    # And back: the previous page is read in the other direction of the same index.
    previous = _link(html, "prev")
    assert previous
    for sql in _page_id_queries(client, previous)[0]:
        assert not re.search(r"^\s*(->\s*)?Sort", _plan(sql), re.MULTILINE)


def test_sorts_on_columns_that_are_never_empty_say_nothing_about_empty_values():
    for field in ("reported_at", "updated_at"):
        for ascending in (True, False):
            query = str(Issue.objects.order_by(*sort_order(field, ascending)).query)
            assert "NULLS" not in query, query


def _search_plan(text: str) -> str:
    sql, params = Issue.objects.search(text).order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_text_search_of_three_characters_or_more_is_served_by_the_trigram_index(world):
    _issues(world, count=3)
    plan = _search_plan("水域蓝湾早夜市")
    # One index for all three conditions: case number prefix, description, address.
    assert plan.count("Bitmap Index Scan on issue_search_trgm_idx") == 3, plan


def test_text_search_of_two_characters_is_served_by_the_character_pair_index(world):
    _issues(world, count=3)
    plan = _search_plan("夜市")
    assert "Bitmap Index Scan on issue_search_pairs_idx" in plan, plan
    assert "Bitmap Index Scan on issue_search_trgm_idx" in plan, plan  # the case number prefix


def test_a_cursor_for_an_empty_value_is_refused_on_a_column_never_empty(client, world):
    _issues(world, count=2)
    client.force_login(world.admin_zone)
    response = client.get(LIST_URL, {"sort": "-reported_at", "after": "n_1"})
    assert response.status_code == 200
    assert response.context["cursor_error"] is True


# The index that scopes each role's list: its rows come from the range of its own district or
# organisation, in the sort's order, not from the zone's index with the others' rows thrown away.
SCOPE_INDEXES = {
    "supervisor_xincheng": ("issue_district_", "issue_open_dist_"),
    "handler_xincheng": ("issue_org_", "issue_open_org_"),
}


def _other_scopes_history(world, count: int = 400) -> None:
    """Cases of the other district and organisation, every other one without a deadline, and
    fresh statistics: the zone's indexes then hold mostly rows the scoped lists must not read."""
    now = timezone.now()
    cases = []
    for index in range(count):
        values = {}
        if index % 2:
            values = {
                "status": Status.ASSIGNED,
                "assigned_organisation": world.org_y,
                "deadline": now + datetime.timedelta(minutes=index),
            }
        cases.append(
            IssueFactory.build(
                zone=world.zone,
                community=world.community_b,
                category=world.category,
                reporter=world.inspector_binhe,
                reported_at=now - datetime.timedelta(minutes=index),
                **values,
            )
        )
    Issue.objects.bulk_create(cases)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE issues_issue")


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("who", sorted(SCOPE_INDEXES))
def test_fast_every_sort_of_a_scoped_list_reads_an_index_behind_its_scope(client, world, sort, who):
    _issues(world)
    _other_scopes_history(world)
    client.force_login(getattr(world, who))
    statements, _html = _page_id_queries(client, f"{LIST_URL}?sort={sort}")
    assert statements
    for sql in statements:
        plan = _plan(sql)
        scanned = re.findall(r"Index (?:Only )?Scan(?: Backward)? using (\w+)", plan)
        assert scanned, plan
        assert all(name.startswith(SCOPE_INDEXES[who]) for name in scanned), plan
