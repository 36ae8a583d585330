"""The dashboards: who may read them, what they show, and that every number opens its list."""

from __future__ import annotations

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from districts.models import Role
from tests.factories import issue_in, make_staff
from tests.stats.fixtures import build_cases
from tests.stats.helpers import list_count

pytestmark = pytest.mark.django_db

CUSTOM = {"period": "custom", "start": "2025-09-22", "end": "2025-10-12"}
URL = reverse("stats:dashboard")


@pytest.fixture
def cases(world):
    return build_cases(world)


def test_dashboard_asks_anonymous_visitors_to_log_in(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


@pytest.mark.parametrize("persona", ["inspector_xincheng", "handler_xincheng"])
def test_dashboard_is_forbidden_to_inspectors_and_handlers(client, world, persona):
    client.force_login(getattr(world, persona))
    assert client.get(URL).status_code == 403


def test_dashboard_my_organisation_is_for_handlers_only(client, world):
    url = reverse("stats:my_organisation")
    client.force_login(world.leader_zone)
    assert client.get(url).status_code == 403
    client.force_login(world.handler_xincheng)
    assert client.get(url).status_code == 200


@pytest.mark.parametrize("persona", ["leader_zone", "supervisor_xincheng", "admin_zone"])
def test_dashboard_opens_for_leaders_supervisors_and_admins(client, world, persona):
    client.force_login(getattr(world, persona))
    response = client.get(URL)
    assert response.status_code == 200
    assert reverse("stats:dashboard") in response.content.decode()  # the menu links here


def test_dashboard_every_tile_links_to_a_list_of_exactly_its_count(client, world, cases):
    client.force_login(world.leader_zone)
    response = client.get(URL, CUSTOM)
    tiles = response.context["tiles"]
    assert [tile["value"] for tile in tiles["counts"]] == [7, 5, 4, 3, 3, 1]
    for tile in tiles["counts"]:
        assert list_count(world.leader_zone, tile["url"]) == tile["value"], tile["name"]
    for tile in tiles["rates"] + response.context["more_rates"]:
        assert list_count(world.leader_zone, tile["numerator_url"]) == tile["numerator"], tile[
            "name"
        ]
        assert list_count(world.leader_zone, tile["denominator_url"]) == tile["denominator"], tile[
            "name"
        ]
    on_time = next(tile for tile in tiles["rates"] if tile["name"] == "on_time_rate")
    assert on_time["value"] == "25.0%"


def test_dashboard_breakdown_tables_link_every_cell_to_its_list(client, world, cases):
    client.force_login(world.leader_zone)
    response = client.get(URL, CUSTOM)
    tables = response.context["breakdowns"]
    assert [table["grouping"] for table in tables] == ["district", "organisation"]
    checked = 0
    for table in tables:
        for row in table["rows"]:
            for cell in row["cells"]:
                assert cell["url"], (table["grouping"], row["label"])
                assert list_count(world.leader_zone, cell["url"]) == cell["value"]
                checked += 1
    assert checked == 2 * 2 * 6


def test_dashboard_filters_by_district_and_big_class(client, world, cases):
    client.force_login(world.leader_zone)
    response = client.get(
        URL, {**CUSTOM, "district": world.district_a.pk, "big_class": "city_appearance"}
    )
    tiles = {tile["name"]: tile for tile in response.context["tiles"]["counts"]}
    assert tiles["reported"]["value"] == 3  # C1, C2, C5
    assert "district=" in tiles["reported"]["url"]
    assert "big_class=city_appearance" in tiles["reported"]["url"]
    assert list_count(world.leader_zone, tiles["reported"]["url"]) == 3


def test_dashboard_period_presets_and_previous_period_change(client, world):
    client.force_login(world.leader_zone)
    today = timezone.localdate()
    issue_in(world, reported_at=timezone.now())  # this week, even in its first three hours
    response = client.get(URL, {"period": "this_week"})
    period = response.context["period"]
    assert period.start.weekday() == 0
    assert period.end >= period.start
    tiles = {tile["name"]: tile for tile in response.context["tiles"]["counts"]}
    assert tiles["reported"]["value"] == 1
    assert tiles["reported"]["change"] == "+1"
    last_week = client.get(URL, {"period": "last_week"}).context["period"]
    assert last_week.days == 7
    assert last_week.end < period.start
    month = client.get(URL, {"period": "this_month"}).context["period"]
    assert month.start.day == 1
    campaign = client.get(URL, {"period": "campaign"}).context["period"]
    assert campaign.start <= today


def test_dashboard_bad_filters_never_fail(client, world):
    client.force_login(world.leader_zone)
    for params in (
        {"period": "custom", "start": "2025-10-01", "end": "2025-09-01"},
        {"period": "custom"},
        {"period": "nonsense", "district": "abc", "big_class": "x"},
        {"period": "custom", "start": "1900-01-01", "end": "2025-01-01"},
    ):
        response = client.get(URL, params)
        assert response.status_code == 200
        assert response.context["filters_invalid"]


def test_dashboard_has_no_inline_script_and_ships_its_data_as_json(client, world, cases):
    client.force_login(world.leader_zone)
    html = client.get(URL, CUSTOM).content.decode()
    scripts = re.findall(r"<script([^>]*)>", html)
    for attributes in scripts:
        assert "src=" in attributes or 'type="application/json"' in attributes, attributes
    assert 'id="trend-data"' in html
    assert "vendor/echarts/echarts.min.js" in html
    assert "<table" in html  # the chart's accessible fallback


def test_dashboard_scope_leader_of_one_district_sees_only_it(client, world, cases):
    lena = make_staff("lena", Role.LEADER, districts=[world.district_a])
    client.force_login(lena)
    response = client.get(URL, CUSTOM)
    tiles = {tile["name"]: tile["value"] for tile in response.context["tiles"]["counts"]}
    assert tiles["reported"] == 4
    district_rows = response.context["breakdowns"][0]["rows"]
    assert [row["key"] for row in district_rows] == [world.district_a.pk]
    organisation_rows = response.context["breakdowns"][1]["rows"]
    assert world.org_y.pk not in [row["key"] for row in organisation_rows]
    html = response.content.decode()
    assert world.district_b.name not in html
    # Asking for the other district is refused, not answered.
    response = client.get(URL, {**CUSTOM, "district": world.district_b.pk})
    assert response.context["filters_invalid"]
    assert response.context["tiles"]["counts"][0]["value"] == 0 or world.district_b.name not in (
        response.content.decode()
    )


def test_dashboard_scope_supervisor_of_the_other_district(client, world, cases):
    client.force_login(world.supervisor_binhe)
    response = client.get(URL, CUSTOM)
    tiles = {tile["name"]: tile for tile in response.context["tiles"]["counts"]}
    assert tiles["reported"]["value"] == 3
    for tile in response.context["tiles"]["counts"]:
        assert list_count(world.supervisor_binhe, tile["url"]) == tile["value"]


def test_dashboard_scope_handler_sees_their_organisation_only(client, world, cases):
    client.force_login(world.handler_xincheng)
    response = client.get(reverse("stats:my_organisation"), CUSTOM)
    tiles = {tile["name"]: tile for tile in response.context["tiles"]["counts"]}
    assert tiles["dispatched"]["value"] == 3
    assert tiles["due"]["value"] == 3
    assert tiles["overdue_now"]["value"] == 0  # C3 is Y's
    for tile in response.context["tiles"]["counts"]:
        assert list_count(world.handler_xincheng, tile["url"]) == tile["value"]


def _seed(world, count: int) -> None:
    """`count` cases over the last five weeks in every state, written in bulk (as a load would
    be), then the rollup rebuilt from scratch as the nightly job does."""
    from issues.models import Issue, Status
    from stats import rollup
    from tests.factories import IssueFactory

    template = IssueFactory.build(
        community=world.community_a,
        category=world.category,
        reporter=world.inspector_xincheng,
    )
    base = {
        field.attname: getattr(template, field.attname)
        for field in Issue._meta.concrete_fields
        if field.attname != "id"
    }
    base.update(zone_id=world.zone.pk, district_id=world.district_a.pk)
    now = timezone.now()
    states = [Status.REPORTED, Status.ASSIGNED, Status.IN_PROGRESS, Status.CLOSED, Status.PARKED]
    issues = []
    for index in range(count):
        # Four days apart (every day of the five weeks at 10,000 cases), so even ten cases put
        # a deadline in last week, whatever the weekday: the ranking always has units to name.
        reported = now - datetime.timedelta(days=(index * 4) % 35, hours=1 + (index * 7) % 24)
        status = states[index % len(states)]
        fields = {"status": status, "reported_at": reported, "case_number": f"Q-{index:06d}"}
        if status != Status.REPORTED:
            dispatched = reported + datetime.timedelta(minutes=30 + index % 90)
            fields.update(
                assigned_organisation=world.org_x,
                dispatched_at=dispatched,
                clock_started_at=dispatched,
                acknowledged_at=dispatched + datetime.timedelta(minutes=20),
                deadline=dispatched + datetime.timedelta(hours=24 + index % 48),
            )
        if status == Status.CLOSED:
            done = fields["dispatched_at"] + datetime.timedelta(hours=index % 60)
            fields.update(
                first_submitted_at=done, submitted_at=done, verified_at=done, closed_at=done
            )
        if "assigned_organisation" in fields:
            fields["assigned_organisation_id"] = fields.pop("assigned_organisation").pk
        issues.append(Issue(**{**base, **fields}))
    Issue.objects.bulk_create(issues, batch_size=2000)
    rollup.rebuild()


WEEK = "{}-W{:02d}".format(*(timezone.localdate() - datetime.timedelta(days=7)).isocalendar()[:2])
# (persona, page, parameters, queries): the same for 10 and 10,000 cases.
# The user and their membership are one query (districts.backends.StaffModelBackend). The
# dashboard reads the rollup, the open late cases and the stock once for its two breakdowns
# (kpis.SharedReads), as the notice does for its two tables, and its trend reads only the counts
# it draws (no open late cases).
PINNED_PAGES = [
    ("leader_zone", "stats:dashboard", {"period": "campaign"}, 15),
    ("leader_zone", "stats:dashboard", {"period": "this_week"}, 15),
    ("supervisor_xincheng", "stats:dashboard", {"period": "this_month"}, 16),
    ("handler_xincheng", "stats:my_organisation", {"period": "last_week"}, 14),
    ("leader_zone", "stats:ranking", {"week": WEEK}, 12),
    ("supervisor_xincheng", "stats:ranking", {"week": WEEK}, 13),
    ("leader_zone", "stats:notice", {"week": WEEK}, 20),
    ("leader_zone", "stats:notice_xlsx", {"week": WEEK}, 19),
]


@pytest.mark.parametrize("count", [10, 10_000])
@pytest.mark.parametrize(("persona", "page", "params", "queries"), PINNED_PAGES)
def test_dashboard_ranking_and_notice_query_counts_are_the_same_for_10_and_10000_cases(
    client, world, count, persona, page, params, queries, django_assert_num_queries
):
    _seed(world, count)
    client.force_login(getattr(world, persona))
    client.get(reverse(page), params)  # warm the session and the settings row
    with django_assert_num_queries(queries):
        assert client.get(reverse(page), params).status_code == 200


def test_dashboard_stock_reads_the_open_cases_from_their_covering_index(db):
    """The covering index (stats migration 0005) holds exactly the open statuses and every
    column the stock counts read, so an index-only scan can answer them (on a vacuumed table,
    without the heap)."""
    import importlib

    from django.db import connection

    from issues.models import OPEN_STATUSES, Issue
    from stats import kpis

    migration = importlib.import_module("stats.migrations.0005_open_stock_index")
    indexed = migration.OPEN
    assert indexed == "(" + ", ".join(f"'{status}'" for status in OPEN_STATUSES) + ")"
    if connection.vendor != "postgresql":
        return
    stock = [item for item in kpis.measures(timezone.now()).values() if item.cohort == "now"]
    queryset = kpis.cohort_queryset(Issue.objects.all(), "now", None).order_by()
    rows = queryset.values("district_id", "assigned_organisation_id").annotate(
        **{item.name: kpis.Count("pk", filter=item.condition) for item in stock}
    )
    sql, _params = rows.query.sql_with_params()
    read = set(re.findall(r'"issues_issue"\."(\w+)"', sql))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'stats_issue_open_stock_idx'"
        )
        (definition,) = cursor.fetchone()
    parts = re.search(r"\(([^)]*)\) INCLUDE \(([^)]*)\)", definition)
    assert parts is not None, definition
    keys, included = parts.groups()
    columns = {name.strip() for name in f"{keys},{included}".split(",")}
    assert read and read <= columns, (read, columns)
    assert "WHERE" in definition
