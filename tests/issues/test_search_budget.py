"""A search read window by window (`issues.paging`) pages exactly as the plain query orders.

Random cases over two years, with texts of every frequency, ties in the sort columns and empty
deadlines; every page of every sort is compared with one ORDER BY over all the matches, forward
by the "after" cursor and back by the "before" cursor.
"""

from __future__ import annotations

import datetime
import random

import pytest
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from issues import paging, search
from issues.filters import SORTS, sort_order
from issues.models import Issue
from tests.factories import CommunityFactory, IssueFactory

pytestmark = pytest.mark.django_db

PAGE_SIZE = 7
TEXTS = ["井盖", "世纪路", "群众第9次反映", "垃圾", "夜市", "蓝湾", "000040", "不存在"]


@pytest.fixture
def cases(world):
    """400 cases of districts A and B over two years: 井盖 in a third, 世纪路 in one in twenty,
    群众第9次反映 in one in fifty; some at the same moment; some on point A (水域蓝湾早夜市)."""
    picker = random.Random(12)
    now = timezone.now()
    other_community = CommunityFactory(district=world.district_a, name="明德社区")
    moments = [
        now - datetime.timedelta(seconds=picker.randrange(2 * 365 * 86400)) for _ in range(320)
    ]
    moments += picker.choices(moments, k=80)  # ties: several cases reported at one moment
    built = []
    for number, moment in enumerate(moments, start=1):
        in_b = picker.random() < 0.3
        words = ["路面破损"]
        if picker.random() < 0.33:
            words.append("井盖缺失")
        if picker.random() < 0.02:
            words.append("群众第9次反映")
        community = (
            world.community_b if in_b else picker.choice([world.community_a, other_community])
        )
        deadline = None
        if picker.random() < 0.6:
            deadline = moment + datetime.timedelta(hours=picker.choice([2, 24, 24, 72]))
        built.append(
            IssueFactory.build(
                zone=world.zone,
                community=community,
                district=community.district,
                category=world.category,
                reporter=world.inspector_binhe if in_b else world.inspector_xincheng,
                case_number=f"{moment.year}-{number:06d}",
                year=moment.year,
                description="，".join(words),
                address="世纪路8号" if picker.random() < 0.05 else "明德路",
                point=world.point_a if not in_b and picker.random() < 0.1 else None,
                assigned_organisation=world.org_y if in_b else world.org_x,
                deadline=deadline,
                reported_at=moment,
            )
        )
    Issue.objects.bulk_create(built)
    for remainder in range(5):
        # Ties in the updated order too: a fifth of the cases share each offset.
        Issue.objects.filter(pk__in=[case.pk for case in built[remainder::5]]).update(
            updated_at=now - datetime.timedelta(days=remainder * 40)
        )
    return built


def _plain_ids(user, text: str, sort: str) -> list[int]:
    alternatives = search.conditions(text, connection.alias)
    queryset = Issue.objects.visible_to(user).filter(search.any_of(alternatives))
    return list(queryset.order_by(*sort_order(*SORTS[sort])).values_list("pk", flat=True))


def _page(user, text: str, sort: str, query: str = "") -> dict:
    params = QueryDict(query, mutable=True)
    params["q"], params["sort"] = text, sort
    alternatives = search.conditions(text, connection.alias)
    return paging.paginate(
        Issue.objects.visible_to(user).with_list_related(),
        params,
        sort,
        PAGE_SIZE,
        alternatives=alternatives,
    )


@pytest.mark.parametrize("sort", list(SORTS))
def test_budget_windowed_search_pages_as_the_plain_query_orders(world, cases, sort):
    for user in (world.supervisor_xincheng, world.handler_binhe, world.admin_zone):
        for text in TEXTS:
            expected = _plain_ids(user, text, sort)
            pages: list[list[int]] = []
            page = _page(user, text, sort)
            while True:
                pages.append([row.pk for row in page["rows"]])
                if not page["next_url"]:
                    break
                page = _page(user, text, sort, page["next_url"].lstrip("?"))
            assert [pk for ids in pages for pk in ids] == expected, (user, text)
            # Back from the last page by the "before" cursor, page by page.
            for ids in reversed(pages[:-1]):
                page = _page(user, text, sort, page["previous_url"].lstrip("?"))
                assert [row.pk for row in page["rows"]] == ids, (user, text)


def test_budget_windowed_search_starts_at_the_cursor_of_page_two(world, cases):
    user = world.supervisor_xincheng
    expected = _plain_ids(user, "井盖", "-reported_at")
    first = _page(user, "井盖", "-reported_at")
    second = _page(user, "井盖", "-reported_at", first["next_url"].lstrip("?"))
    assert [row.pk for row in second["rows"]] == expected[PAGE_SIZE : 2 * PAGE_SIZE]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite reads one statement")
def test_budget_windowed_search_runs_at_most_its_windows_and_two_statements(world, cases):
    with CaptureQueriesContext(connection) as captured:
        _page(world.supervisor_xincheng, "群众第9次反映", "-reported_at")
    issue_statements = [q["sql"] for q in captured.captured_queries if "issues_issue" in q["sql"]]
    # The range of the column, the windows, the page's rows joined to their names.
    assert 3 <= len(issue_statements) <= paging.MAX_WINDOWS + 2
    windows = issue_statements[1:-1]
    assert all(" UNION " in sql or "LIMIT" in sql for sql in windows)


@pytest.mark.parametrize(
    ("sort", "cursor", "first_page"),
    [
        ("-reported_at", "253402300799000000_1", True),  # 9999, beyond every case
        ("reported_at", "253402300799000000_1", False),
        ("-reported_at", "1000000_1", False),  # 1970, before every case
        ("reported_at", "1000000_1", True),
    ],
)
def test_budget_windowed_search_takes_a_cursor_beyond_the_cases(
    world, cases, sort, cursor, first_page
):
    user = world.admin_zone
    expected = _plain_ids(user, "井盖", sort)[:PAGE_SIZE] if first_page else []
    page = _page(user, "井盖", sort, f"after={cursor}")
    assert [row.pk for row in page["rows"]] == expected


@pytest.mark.parametrize("membership", [False, True])
@pytest.mark.parametrize("text", ["群众第9次反映", "水域"])
def test_budget_a_search_over_an_empty_scope_finds_nothing(client, world, text, membership):
    """A signed-in account without a membership, or a supervisor given no district, sees no
    case: its search pages nothing instead of failing on a statement that compiles to nothing,
    for free text (read by windows) and for a word that also names a community (a union)."""
    from django.contrib.auth import get_user_model

    from districts.models import Membership, Role

    IssueFactory(district=world.district_a, community=world.community_a, description=text)
    nobody = get_user_model().objects.create_user("no-scope", password="x")
    if membership:
        Membership.objects.create(user=nobody, role=Role.SUPERVISOR)
    client.force_login(nobody)
    response = client.get("/issues/", {"q": text})
    assert response.status_code == 200
    assert list(response.context["rows"]) == []
