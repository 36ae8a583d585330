"""Pages stay fast: weight independent of the reference data, scoped pickers, pinned queries.

Groups: `-k weight` (page size and queries with small and large reference data), `-k picker`
(the scoped endpoint and the picker fields), `-k budget` (query counts of every benchmarked page).
"""

from __future__ import annotations

import datetime
import re
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from civicapp.db import AS_WRITTEN
from districts.models import InspectionPoint, Membership, Organisation, Role, Severity
from issues.filters import OTHER_SORTS
from issues.models import Notification, Status
from issues.pickers import PICKER_LIMIT
from tests.factories import issue_in

LIST_URL = "/issues/"
REPORT_URL = "/issues/new/"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def _measure(client, url: str, params: dict | None = None) -> tuple[int, int]:
    """(response bytes, queries) of one GET, in the steady state (reference cache filled)."""
    client.get(url, params or {}, **EN)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params or {}, **EN)
    assert response.status_code == 200
    return len(response.content), len(captured.captured_queries)


def _add_city_reference_data(
    world, *, points: int = 5000, staff: int = 2000, prefix: str = "city"
) -> None:
    """A city's reference data: thousands of points in the personas' districts, staff, units."""
    point_type = world.point_a.point_type
    communities = [world.community_a, world.community_b]
    InspectionPoint.objects.bulk_create(
        (
            InspectionPoint(
                code=f"{prefix}-p{number}",
                name=f"城市点位{number}",
                point_type=point_type,
                community=communities[number % 2],
                latitude=Decimal("43.6") + Decimal(number % 900) / 10000,
                longitude=Decimal("122.2"),
            )
            for number in range(points)
        ),
        batch_size=1000,
    )
    organisations = Organisation.objects.bulk_create(
        Organisation(
            code=f"{prefix}-org{number}",
            name=f"城市单位{number}",
            kind=Organisation.Kind.DEPARTMENT,
        )
        for number in range(60)
    )
    users = get_user_model().objects.bulk_create(
        (get_user_model()(username=f"{prefix}-staff{number}") for number in range(staff)),
        batch_size=1000,
    )
    Membership.objects.bulk_create(
        (
            Membership(
                user=user,
                role=Role.HANDLER,
                organisation=organisations[number % len(organisations)],
            )
            for number, user in enumerate(users)
        ),
        batch_size=1000,
    )


# ---------- weight ----------


@pytest.mark.parametrize(
    ("who", "url", "params"),
    [
        ("supervisor_xincheng", LIST_URL, {}),
        ("admin_zone", LIST_URL, {}),
        ("handler_xincheng", LIST_URL, {"status": ["assigned", "in_progress"]}),
        ("inspector_xincheng", REPORT_URL, {}),
        ("admin_zone", REPORT_URL, {}),
    ],
)
def test_weight_of_the_page_does_not_grow_with_points_and_staff(client, world, who, url, params):
    for index in range(25):
        issue_in(world, status=Status.ASSIGNED if index % 2 else Status.IN_PROGRESS)
    client.force_login(getattr(world, who))
    small_size, small_queries = _measure(client, url, params)
    _add_city_reference_data(world)
    large_size, large_queries = _measure(client, url, params)
    assert large_queries == small_queries
    # Same rows, same form: only the masked CSRF token differs, and it has a fixed length.
    assert large_size == small_size


# Digits may differ (a count of points, the codes of the points on a full page), a few bytes
# per row shown; growth with the reference data would be thousands of rows.
WEIGHT_TOLERANCE = 0.01


def _matrix_url(world, **params) -> str:
    url = reverse("districts:matrix", args=[world.district_a.pk])
    return f"{url}?{urlencode(params)}" if params else url


@pytest.mark.parametrize(
    ("who", "page"),
    [
        ("supervisor_xincheng", "triage"),
        ("supervisor_xincheng", "detail"),
        ("admin_zone", "matrix"),
        ("admin_zone", "matrix community"),
    ],
)
def test_weight_of_triage_detail_and_the_matrix_does_not_grow_with_the_reference_data(
    client, world, who, page
):
    reported = [issue_in(world) for _ in range(5)]  # in the triage queue, routed to org X
    client.force_login(getattr(world, who))
    url = {
        "triage": reverse("issues:triage"),
        # Its dispatch form's organisation is a picker with the suggestion, no <select>.
        "detail": reverse("issues:issue_detail", args=[reported[0].pk]),
        "matrix": _matrix_url(world),
        "matrix community": _matrix_url(world, community=world.community_a.pk),
    }[page]
    if page == "matrix community":
        # A full page of the community's points first: the page is capped, never the list.
        _add_city_reference_data(world, points=120, staff=1, prefix="full")
    small_size, small_queries = _measure(client, url)
    _add_city_reference_data(world)
    large_size, large_queries = _measure(client, url)
    assert large_queries == small_queries
    assert abs(large_size - small_size) <= WEIGHT_TOLERANCE * small_size, (small_size, large_size)


def test_weight_of_the_matrix_pages_the_points_of_one_community(client, world):
    _add_city_reference_data(world, points=120, staff=1)
    client.force_login(world.admin_zone)
    html = client.get(_matrix_url(world), **EN).content.decode()
    assert "城市点位" not in html  # the district page lists communities, not points
    first = client.get(_matrix_url(world, community=world.community_a.pk), **EN)
    rows = first.context["matrix"].community.points
    assert len(rows) == 50
    after = first.context["matrix"].next_points_after
    second = client.get(_matrix_url(world, community=world.community_a.pk, after=after), **EN)
    more = second.context["matrix"].community.points
    assert len(more) == InspectionPoint.objects.filter(community=world.community_a).count() - 50
    assert {row.point.pk for row in rows}.isdisjoint({row.point.pk for row in more})
    assert all(row.point.community_id == world.community_a.pk for row in rows + more)


def test_picker_of_the_matrix_cell_takes_the_picked_label(client, world):
    client.force_login(world.admin_zone)
    url = reverse("districts:matrix_cell", args=[world.district_a.pk])
    query = f"?kind=paired&community={world.community_a.pk}"
    label = f"{world.org_y.name} [{world.org_y.code}]"
    response = client.post(
        url + query,
        {"organisation": label, "valid_from": timezone.localdate().isoformat()},
    )
    assert response.status_code == 302
    html = client.get(_matrix_url(world), **EN).content.decode()
    assert 'data-picker-url="/pick/organisation/"' in html
    assert "<option" not in html.split('id="organisation-options"')[1].split("</datalist>")[0]


def test_picker_of_triage_dispatches_to_the_picked_or_typed_organisation(client, world):
    first, second, third = issue_in(world), issue_in(world), issue_in(world)
    client.force_login(world.supervisor_xincheng)
    html = client.get(reverse("issues:triage"), **EN).content.decode()
    # The suggestion is pre-rendered in each row's picker; no organisation list in the page.
    assert f'value="{world.org_x.name} [{world.org_x.code}]"' in html
    assert "<select" not in html
    response = client.post(
        reverse("issues:bulk_dispatch"),
        {
            "issue": [first.pk, second.pk, third.pk],
            f"organisation-{first.pk}": f"{world.org_y.name} [{world.org_y.code}]",
            f"organisation-{second.pk}": world.org_x.name,
            f"organisation-{third.pk}": "没有这个单位",
        },
    )
    assert response.status_code == 302
    for issue in (first, second, third):
        issue.refresh_from_db()
    assert (first.status, first.assigned_organisation) == (Status.ASSIGNED, world.org_y)
    assert (second.status, second.assigned_organisation) == (Status.ASSIGNED, world.org_x)
    assert third.status == Status.REPORTED


def test_weight_of_the_list_keeps_the_chosen_point_visible(client, world):
    _add_city_reference_data(world, points=200, staff=10)
    issue_in(world, point=world.point_a)
    client.force_login(world.supervisor_xincheng)
    response = client.get(LIST_URL, {"point": world.point_a.pk}, **EN)
    html = response.content.decode()
    # The chosen value is rendered (by name and code), the other points are not in the page.
    assert f'value="{world.point_a.name} [{world.point_a.code}]"' in html
    assert "城市点位1" not in html
    assert 'data-picker-url="/pick/point/"' in html
    assert "<script>" not in html  # no inline script: the strict CSP holds


# ---------- picker endpoint ----------


def _pick(client, kind: str, q: str = "", **extra) -> dict:
    response = client.get(reverse("issues:picker", args=[kind]), {"q": q, **extra})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    return response.json()


def test_picker_answers_only_what_the_user_may_see(client, world):
    client.force_login(world.supervisor_xincheng)
    labels = [row["label"] for row in _pick(client, "point", "市场")["results"]]
    labels += [row["label"] for row in _pick(client, "point", "市")["results"]]
    assert f"{world.point_a.name} [{world.point_a.code}]" in labels
    assert not any(world.point_b.code in label for label in labels)
    communities = [row["id"] for row in _pick(client, "community")["results"]]
    assert communities == [world.community_a.pk]
    organisations = [row["id"] for row in _pick(client, "organisation")["results"]]
    assert world.org_x.pk in organisations and world.org_y.pk not in organisations


def test_picker_of_a_handler_offers_only_their_own_organisation(client, world):
    client.force_login(world.handler_xincheng)
    assert [row["id"] for row in _pick(client, "organisation")["results"]] == [world.org_x.pk]


def test_picker_reporting_scope_is_empty_for_roles_that_do_not_report(client, world):
    client.force_login(world.handler_xincheng)
    assert _pick(client, "point", reporting="1")["results"] == []
    client.force_login(world.inspector_xincheng)
    assert [row["id"] for row in _pick(client, "point", reporting="1")["results"]] == [
        world.point_a.pk
    ]


def test_picker_of_an_unknown_kind_is_not_found(client, world):
    client.force_login(world.admin_zone)
    assert client.get(reverse("issues:picker", args=["user"])).status_code == 404


def test_picker_refuses_anonymous_and_post(client, world):
    url = reverse("issues:picker", args=["point"])
    assert client.get(url).status_code == 302
    client.force_login(world.admin_zone)
    assert client.post(url).status_code == 405


def test_picker_caps_its_answer(client, world):
    _add_city_reference_data(world, points=PICKER_LIMIT * 3, staff=1)
    client.force_login(world.admin_zone)
    answer = _pick(client, "point", "城市点位")
    assert len(answer["results"]) == PICKER_LIMIT
    assert answer["more"] is True
    assert _pick(client, "point", "城市点位7")["more"] is False


def test_picker_runs_a_constant_number_of_queries(client, world, django_assert_num_queries):
    client.force_login(world.supervisor_xincheng)
    url = reverse("issues:picker", args=["point"])
    # Session, user with membership, the scoped search.
    with django_assert_num_queries(3):
        client.get(url, {"q": "早夜市"})
    _add_city_reference_data(world, points=500, staff=1)
    with django_assert_num_queries(3):
        client.get(url, {"q": "城市"})


def test_picker_field_takes_the_name_the_label_or_the_id(client, world):
    inside = issue_in(world, point=world.point_a)
    outside = issue_in(world)
    client.force_login(world.supervisor_xincheng)
    for value in (world.point_a.name, f"{world.point_a.name} [{world.point_a.code}]", "point-a"):
        html = client.get(LIST_URL, {"point": value}, **EN).content.decode()
        assert inside.case_number in html and outside.case_number not in html


def test_picker_field_refuses_a_point_outside_the_scope(client, world):
    issue_in(world, where="b", point=world.point_b)
    client.force_login(world.supervisor_xincheng)
    for value in (world.point_b.name, str(world.point_b.pk), "9" * 40, "²"):
        response = client.get(LIST_URL, {"point": value}, **EN)
        assert response.status_code == 200
        assert "Select a valid choice" in response.content.decode()


def test_picker_field_asks_to_choose_between_points_of_the_same_name(client, world):
    InspectionPoint.objects.create(
        code="point-a2",
        name=world.point_a.name,
        point_type=world.point_a.point_type,
        community=world.community_a,
        latitude=Decimal("43.6"),
        longitude=Decimal("122.2"),
    )
    client.force_login(world.supervisor_xincheng)
    response = client.get(LIST_URL, {"point": world.point_a.name}, **EN)
    assert "Several have that name" in response.content.decode()


def test_picker_on_the_report_form_files_the_typed_point(client, world):
    from tests.web.test_report import report_data

    client.force_login(world.inspector_xincheng)
    data = report_data(world)
    data["point"] = f"{world.point_a.name} [{world.point_a.code}]"
    response = client.post(REPORT_URL, data)
    assert response.status_code == 302
    from issues.models import Issue

    assert Issue.objects.get().point == world.point_a


# ---------- budget: queries of every benchmarked page ----------


def _budget_urls(world) -> dict[str, str]:
    submitted = issue_in(world, status=Status.SUBMITTED, submitted_at=timezone.now())
    issue_in(world, status=Status.ASSIGNED)
    issue_in(world, status=Status.IN_PROGRESS, deadline=timezone.now())
    listed = issue_in(world)
    # A notice of a case: the bell's list judges its scope (the user's districts).
    Notification.objects.create(user=world.supervisor_xincheng, kind="x", title="t", issue=listed)
    return {
        "home": "/",
        "list": LIST_URL,
        "list 100": f"{LIST_URL}?per_page=100&status=assigned&status=in_progress",
        "detail": reverse("issues:issue_detail", args=[submitted.pk]),
        "triage": reverse("issues:triage"),
        "verify queue": reverse("issues:verify_queue"),
        "notifications": reverse("issues:notification_list"),
        "list search": f"{LIST_URL}?q=市场",
        "matrix": reverse("districts:matrix", args=[world.district_a.pk]),
        "matrix community": reverse("districts:matrix", args=[world.district_a.pk])
        + f"?community={world.community_a.pk}",
        "report form": REPORT_URL,
        **{f"list by {sort}": f"{LIST_URL}?sort={sort}" for sort in OTHER_SORTS},
    }


# (persona, page, statements): the session and the user with their membership (one query,
# `districts.backends.StaffModelBackend`) are two of each; district-scoped roles read their
# district ids once (the issue queries take them as literals). Measured in the steady state:
# the lists' districts, point types and categories come from the reference cache
# (`districts.reference`).
# A list, a queue and a home page's short lists read their ids, then those rows with their names
# (`issues.paging._page_ids`, `civicapp.db.first_rows`).
BUDGET = [
    ("inspector_xincheng", "home", 7),
    ("handler_xincheng", "home", 6),
    ("supervisor_xincheng", "home", 7),  # the three short lists' ids in one query (was 8)
    ("leader_zone", "home", 5),
    ("admin_zone", "home", 5),
    ("supervisor_xincheng", "list", 6),
    ("supervisor_xincheng", "list 100", 6),
    ("handler_xincheng", "list 100", 5),
    # Every other sort, over every status: the same two statements (ids, then rows); a page
    # of the deadline sort that reaches the cases without one reads those in two more (their
    # ids, their rows), or one when there are none (the handler's are all dispatched).
    *[
        (who, f"list by {sort}", count + (extra if "deadline" in sort else 0))
        for who, count, extra in (("supervisor_xincheng", 6, 2), ("handler_xincheng", 5, 1))
        for sort in OTHER_SORTS
    ],
    # The range of the sort column, then one statement per window of it (`issues.paging`):
    # here one covers every case, and it finds none, so no rows are read with their names.
    ("supervisor_xincheng", "list search", 7),
    ("supervisor_xincheng", "detail", 10),
    ("supervisor_xincheng", "triage", 9),  # + the returns of the queue (reasons, routing skips)
    ("supervisor_xincheng", "verify queue", 7),
    ("supervisor_xincheng", "notifications", 5),
    ("admin_zone", "matrix", 9),
    ("admin_zone", "matrix community", 9),
    ("inspector_xincheng", "report form", 5),
]


@pytest.mark.parametrize(("who", "page", "expected"), BUDGET)
def test_budget_queries_of_every_benchmarked_page_are_pinned(client, world, who, page, expected):
    url = _budget_urls(world)[page]
    client.force_login(getattr(world, who))
    path, _sep, query = url.partition("?")
    params: dict[str, list[str]] = {}
    for key, value in parse_qsl(query):
        params.setdefault(key, []).append(value)
    if (who, page) == ("supervisor_xincheng", "home"):
        from django.db import connection

        # SQLite cannot union LIMITed lists: the three short lists are three queries there.
        expected += 0 if connection.features.supports_slicing_ordering_in_compound else 1
    assert _measure(client, path, params)[1] == expected


def test_budget_home_queries_do_not_grow_with_the_issues(client, world):
    client.force_login(world.supervisor_xincheng)
    # One of each list, then twenty: an empty list reads no rows, any other the same two
    # statements (`civicapp.db.first_rows`).
    issue_in(world, status=Status.REPORTED)
    issue_in(world, status=Status.SUBMITTED, submitted_at=timezone.now())
    issue_in(world, status=Status.ASSIGNED, deadline=timezone.now() - datetime.timedelta(1))
    before = _measure(client, "/")[1]
    for _ in range(20):
        issue_in(world, status=Status.SUBMITTED, submitted_at=timezone.now())
        issue_in(world, status=Status.ASSIGNED, deadline=timezone.now() - datetime.timedelta(1))
    assert _measure(client, "/")[1] == before


# ---------- per-request lookups: sessions in Redis, and every change seen at once ----------

REDIS_SESSIONS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:6379/11",
    }
}
# A port nothing listens on: the cache is "down".
DOWN_SESSIONS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
    }
}


def _session_queries(client) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/").status_code == 200
    return [query["sql"] for query in captured.captured_queries if "django_session" in query["sql"]]


def test_fast_sessions_in_redis_cost_no_query(client, world, settings):
    settings.CACHES = REDIS_SESSIONS
    settings.SESSION_ENGINE = "districts.sessions"
    client.force_login(world.supervisor_xincheng)
    client.get("/")
    assert _session_queries(client) == []


def test_fast_sessions_survive_redis_down(client, world, settings):
    settings.CACHES = DOWN_SESSIONS
    settings.SESSION_ENGINE = "districts.sessions"
    client.force_login(world.supervisor_xincheng)
    # The database behind the cache answers: the page works, the session is read from it.
    assert len(_session_queries(client)) == 1


def test_fast_new_category_shows_on_the_next_request(client, world):
    from tests.factories import CategoryFactory

    client.force_login(world.supervisor_xincheng)
    client.get(LIST_URL)
    CategoryFactory(code="NEW_CATEGORY_T", name="新增类别")
    assert "新增类别" in client.get(LIST_URL).content.decode()


def test_fast_renamed_district_shows_in_the_drawn_options_on_the_next_request(client, world):
    """The filter's reference options are drawn once per set of rows (`DRAWN_OPTIONS`): a name
    changed in the admin is a new set, drawn on the next request, in each language."""
    client.force_login(world.supervisor_xincheng)
    old_name = world.district_a.name
    assert old_name in client.get(LIST_URL).content.decode()
    world.district_a.name, world.district_a.name_en = "改名街道", "Renamed Street"
    world.district_a.save()
    html = client.get(LIST_URL).content.decode()
    assert "改名街道" in html and f">{old_name}<" not in html
    assert "Renamed Street" in client.get(LIST_URL, **EN).content.decode()


def test_fast_changed_membership_shows_on_the_next_request(client, world):
    issue_b = issue_in(world, where="b")
    client.force_login(world.supervisor_xincheng)
    assert issue_b.case_number not in client.get(LIST_URL).content.decode()
    world.supervisor_xincheng.membership.districts.add(world.district_b)
    assert issue_b.case_number in client.get(LIST_URL).content.decode()


def test_fast_read_notification_shows_on_the_next_request(client, world):
    note = Notification.objects.create(user=world.supervisor_xincheng, kind="x", title="t")
    client.force_login(world.supervisor_xincheng)
    html = client.get("/", **EN).content.decode()
    assert "1 unread" in html
    client.post(reverse("issues:notification_read", args=[note.pk]))
    assert "1 unread" not in client.get("/", **EN).content.decode()


# Nothing the pages read per request outlives the request: the category tree, the membership
# (role, districts, organisation), the unread count. Each change shows on the very next request,
# with sessions in Redis as well (they hold only the user's id, never the scope).


@pytest.mark.parametrize("sessions", ["database", "redis"])
def test_fast_cache_new_category_shows_on_the_report_form_and_the_list(
    client, world, settings, sessions
):
    from tests.factories import CategoryFactory

    if sessions == "redis":
        settings.CACHES = REDIS_SESSIONS
        settings.SESSION_ENGINE = "districts.sessions"
    client.force_login(world.inspector_xincheng)
    assert "缓存新类别" not in client.get(REPORT_URL).content.decode()
    CategoryFactory(code="CACHE_NEW_T", name="缓存新类别")
    assert "缓存新类别" in client.get(REPORT_URL).content.decode()
    assert "缓存新类别" in client.get(LIST_URL).content.decode()


def test_fast_report_tiles_drawn_once_show_a_changed_category_on_the_next_request(client, world):
    """The report form's tiles and phrase chips are drawn once per category as it reads
    (`issue_badges.TILES`, `PHRASES`): a renamed category, a new phrase, an urgent flag show
    on the next request."""
    from tests.factories import CategoryFactory

    category = CategoryFactory(code="TILE_T", name="瓷砖类别", quick_phrases="旧短语")
    client.force_login(world.inspector_xincheng)
    html = client.get(REPORT_URL).content.decode()
    assert "瓷砖类别" in html and "旧短语" in html
    category.name, category.quick_phrases = "改名类别", "新短语"
    category.severity = Severity.URGENT
    category.save()
    html = client.get(REPORT_URL).content.decode()
    assert "改名类别" in html and "新短语" in html and "旧短语" not in html
    urgent = rf'<label class="tile tile-urgent">\s*<input [^>]*value="{category.pk}"'
    assert re.search(urgent, html)


@pytest.mark.parametrize("sessions", ["database", "redis"])
def test_fast_cache_changed_membership_shows_in_scope_role_and_pickers(
    client, world, settings, sessions
):
    if sessions == "redis":
        settings.CACHES = REDIS_SESSIONS
        settings.SESSION_ENGINE = "districts.sessions"
    issue_b = issue_in(world, where="b")
    client.force_login(world.supervisor_xincheng)
    assert client.get(issue_b.get_absolute_url()).status_code == 404
    points = [row["label"] for row in _pick(client, "point")["results"]]
    assert not any(world.point_b.name in label for label in points)
    membership = Membership.objects.get(user=world.supervisor_xincheng)
    membership.districts.add(world.district_b)
    assert client.get(issue_b.get_absolute_url()).status_code == 200
    points = [row["label"] for row in _pick(client, "point", world.point_b.name)["results"]]
    assert any(world.point_b.name in label for label in points)
    # A new role is the next request's role: a supervisor made an inspector loses triage.
    assert client.get(reverse("issues:triage")).status_code == 200
    Membership.objects.filter(pk=membership.pk).update(role=Role.INSPECTOR)
    assert client.get(reverse("issues:triage")).status_code == 403


def test_fast_cache_disabled_account_is_out_on_the_next_request(client, world):
    client.force_login(world.supervisor_xincheng)
    assert client.get(LIST_URL).status_code == 200
    get_user_model().objects.filter(pk=world.supervisor_xincheng.pk).update(is_active=False)
    response = client.get(LIST_URL)
    assert response.status_code == 302
    assert "/login" in response["Location"]


def test_fast_request_user_is_the_user_itself_and_logging_out_replaces_it(client, world):
    # Pages ask the policy about the user hundreds of times: not through Django's lazy proxy.
    client.force_login(world.supervisor_xincheng)
    user = client.get(LIST_URL).wsgi_request.user
    assert type(user) is get_user_model()
    assert user.pk == world.supervisor_xincheng.pk
    response = client.post(reverse("logout"), follow=True)
    assert not response.wsgi_request.user.is_authenticated
    assert type(client.get(reverse("login")).wsgi_request.user).__name__ == "AnonymousUser"


def test_fast_cache_read_all_notifications_clears_the_bell_on_the_next_request(client, world):
    for number in range(3):
        Notification.objects.create(user=world.supervisor_xincheng, kind="x", title=f"t{number}")
    client.force_login(world.supervisor_xincheng)
    assert "3 unread" in client.get(LIST_URL, **EN).content.decode()
    client.post(reverse("issues:notification_read_all"))
    assert "bell-count" not in client.get(LIST_URL, **EN).content.decode()
    Notification.objects.create(user=world.supervisor_xincheng, kind="x", title="new")
    assert "1 unread" in client.get(LIST_URL, **EN).content.decode()


# ---------- mark as duplicate offers candidates ----------


def test_fieldwalk_mark_duplicate_offers_nearby_recent_issues_of_the_category(client, world):
    from tests.factories import CategoryFactory

    now = timezone.now()
    original = issue_in(world, point=world.point_a, reported_at=now - datetime.timedelta(days=1))
    same_community = issue_in(world, reported_at=now - datetime.timedelta(days=2))
    other_category = issue_in(
        world, category=CategoryFactory(code="OTHER_T"), reported_at=now - datetime.timedelta(1)
    )
    too_old = issue_in(world, point=world.point_a, reported_at=now - datetime.timedelta(30))
    elsewhere = issue_in(world, where="b", reported_at=now - datetime.timedelta(days=1))
    issue = issue_in(world, point=world.point_a, reported_at=now)
    client.force_login(world.supervisor_xincheng)
    response = client.get(reverse("issues:issue_detail", args=[issue.pk]), **EN)
    shown = [candidate.pk for candidate in response.context["duplicate_candidates"]]
    # The same point first, then the same community; never another category, old or far away.
    assert shown == [original.pk, same_community.pk]
    html = response.content.decode()
    assert 'list="duplicate-candidates"' in html
    assert f'<option value="{original.case_number}">' in html
    for absent in (other_category, too_old, elsewhere):
        assert absent.pk not in shown


# ---------- fragments in Python write what their templates wrote ----------


def test_fast_photo_thumb_tag_writes_what_the_include_wrote(world):
    from django.template import Context, Template
    from django.template.loader import render_to_string

    from issues.models import Photo

    issue = issue_in(world)
    photo = Photo.objects.create(
        issue=issue,
        kind=Photo.Kind.BEFORE,
        image="photos/x.jpg",
        thumbnail="thumbs/x.jpg",
        width=160,
        height=120,
        size_bytes=1,
        sha256="0" * 64,
        uploaded_by=world.inspector_xincheng,
        taken_at=timezone.now(),
        gps_latitude=Decimal("43.600000"),
        gps_longitude=Decimal("122.200000"),
    )
    for taken_at in (photo.taken_at, None):
        photo.taken_at = taken_at
        include = render_to_string(
            "issues/includes/photo_thumb.html", {"photo": photo, "forloop": {"counter": 2}}
        )
        tag = Template("{% load issue_badges %}{% photo_thumb photo 2 %}").render(
            Context({"photo": photo})
        )
        assert tag == include


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_fast_issue_rows_say_what_the_issue_says(world, language):
    """The card and the table row written in Python: every field, both badges, escaped text."""
    from django.utils import translation

    from issues.templatetags.issue_rows import issue_cards, issue_rows

    world.point_a.name = "<b>东门</b>"
    world.point_a.save(update_fields=["name"])
    busy = issue_in(world, Status.ASSIGNED, point=world.point_a, rework_count=2, escalation_level=1)
    bare = issue_in(world)  # reported: no organisation, no deadline, no point, no badge
    with translation.override(language):
        drawn = issue_rows([busy, bare])
        cards, rows = drawn.cards, drawn.table
        assert issue_cards([busy, bare]) == cards
        for html in (cards, rows):
            assert html.count(busy.get_absolute_url()) == 1
            assert html.count(bare.get_absolute_url()) == 1
            assert "&lt;b&gt;东门&lt;/b&gt;" in html and "<b>" not in html
            assert world.org_x.display_name in html
            assert html.count(world.category.display_name) == 2
            assert html.count('class="badge badge-rework"') == 1
            assert html.count('class="badge badge-escalated"') == 1
            assert html.count("<time datetime=") == 3  # busy: deadline and report; bare: report
            assert translation.gettext("rework ×%(counter)s") % {"counter": 2} in html
        assert cards.count("<li>") == 2 and rows.count("<tr>") == 2
        assert rows.count('<span class="muted">—</span>') == 2  # bare: organisation, deadline


def test_fast_cache_reference_choices_cost_no_query_and_follow_a_change(client, world):
    """Districts, point types and categories of the filter form come from the reference cache:
    the first request reads them, the next ones do not, and a change shows on the next
    request."""
    from districts import reference
    from tests.factories import CategoryFactory

    client.force_login(world.supervisor_xincheng)
    with CaptureQueriesContext(connection) as cold:
        client.get(LIST_URL)
    with CaptureQueriesContext(connection) as warm:
        client.get(LIST_URL)
    assert len(cold.captured_queries) == len(warm.captured_queries) + 3
    assert world.category.pk in [row.id for row in reference.rows("category")]
    world.category.name = "改名后的类别"
    world.category.save(update_fields=["name"])
    assert "改名后的类别" in client.get(LIST_URL).content.decode()
    added = CategoryFactory(code="REF_GONE", name="将删除的类别")
    assert "将删除的类别" in client.get(LIST_URL).content.decode()
    added.delete()
    assert "将删除的类别" not in client.get(LIST_URL).content.decode()


def test_fast_filter_form_built_once_still_gives_each_user_their_own_choices(client, world):
    """The filter form's class is built once per process; each user's scoped choices are not."""
    import re

    def district_options(user) -> set[str]:
        client.force_login(user)
        body = client.get(LIST_URL).content.decode()
        select = re.search(r'<select name="district".*?</select>', body, re.S)
        assert select is not None
        return set(re.findall(r'<option value="(\d+)"', select.group(0)))

    a, b = str(world.district_a.pk), str(world.district_b.pk)
    assert district_options(world.supervisor_xincheng) == {a}
    assert district_options(world.supervisor_binhe) == {b}
    assert district_options(world.admin_zone) >= {a, b}
    assert district_options(world.supervisor_xincheng) == {a}
    # A district outside the scope is refused, not applied.
    client.force_login(world.supervisor_xincheng)
    body = client.get(LIST_URL, {"district": b}).content.decode()
    assert "部分筛选条件无效" in body


@pytest.mark.django_db(transaction=True)
def test_fast_detail_reads_its_case_with_the_joins_as_written(client):
    """Outside any transaction (as in production) the case page's lookup carries its join order
    in its own query string, and the setting does not outlive it."""
    # A connection of its own: one that held the statements would only EXECUTE them.
    connection.close()
    from tests.factories import build_world

    world = build_world()
    issue = issue_in(world, Status.ASSIGNED)
    client.force_login(world.supervisor_xincheng)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(issue.get_absolute_url())
    assert response.status_code == 200
    statements = [query["sql"] for query in captured.captured_queries]
    as_written = [sql for sql in statements if sql.startswith(AS_WRITTEN)]
    # Prepared on the server (`civicapp.db.Prepared`): the statement names the id as $1 and
    # the same query string executes it with the case's id.
    (case_read,) = [sql for sql in as_written if '"issues_issue"."id" = $1' in sql]
    assert case_read.endswith(f" ({issue.pk})")
    assert "SET LOCAL join_collapse_limit = 1" not in statements  # no round trip of its own
    with connection.cursor() as cursor:
        cursor.execute("SHOW join_collapse_limit")
        assert cursor.fetchone()[0] == "8"


@pytest.mark.django_db(transaction=True)
def test_fast_list_reads_its_ids_then_its_rows_as_written(client):
    """Outside any transaction the list reads its page's ids alone, then those rows joined to
    their names in the written order; the rows and their order are those of the plain query,
    and the filter's short district list is one plain query, not a server-side cursor."""
    # A connection of its own: one that held the statements would only EXECUTE them.
    connection.close()
    from tests.factories import build_world

    world = build_world()
    issues = [issue_in(world, Status.ASSIGNED) for _ in range(3)]
    client.force_login(world.supervisor_xincheng)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(LIST_URL)
    assert response.status_code == 200
    statements = [query["sql"] for query in captured.captured_queries]
    as_written = [sql for sql in statements if sql.startswith(AS_WRITTEN)]
    assert len(as_written) == 1
    assert '"districts_community"' in as_written[0]
    assert not [sql for sql in statements if "DECLARE" in sql]
    newest = sorted(issues, key=lambda issue: (issue.reported_at, issue.pk), reverse=True)
    assert [row.pk for row in response.context["rows"]] == [issue.pk for issue in newest]
    with connection.cursor() as cursor:
        cursor.execute("SHOW join_collapse_limit")
        assert cursor.fetchone()[0] == "8"
