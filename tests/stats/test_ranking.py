"""The weekly 红黑榜: order, ties, the minimum-case rule, lists, freezing and who sees what."""

from __future__ import annotations

import datetime

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.urls import reverse

from districts.models import Role
from issues.models import Issue, Status
from stats import services
from stats.models import RankingEntry, RankingSettings, WeeklyRanking
from stats.tasks import freeze_weekly_ranking_task
from tests.factories import IssueFactory, OrganisationFactory, make_staff
from tests.stats.fixtures import at

pytestmark = pytest.mark.django_db

WEEK = datetime.date(2025, 9, 29)  # ISO 2025-W40
AFTER_WEEK = at(10, 6, 7)


def _due(world, organisation, *, on_time: int = 0, late: int = 0, open_late: int = 0,
         reworked: int = 0, where: str = "a") -> None:  # fmt: skip
    """Cases of `organisation` due on Tue 30 Sep: closed on time, closed late, still open."""
    community = world.community_a if where == "a" else world.community_b
    deadline = at(9, 30, 12)
    common = {
        "community": community,
        "category": world.category,
        "reporter": world.inspector_xincheng,
        "assigned_organisation": organisation,
        "reported_at": at(9, 29, 9),
        "dispatched_at": at(9, 29, 9),
        "clock_started_at": at(9, 29, 9),
        "deadline": deadline,
    }
    for index in range(on_time):
        IssueFactory(
            status=Status.CLOSED, closed_at=at(9, 30, 10), verified_at=at(9, 30, 10),
            submitted_at=at(9, 30, 9), rework_count=1 if index < reworked else 0, **common,
        )  # fmt: skip
    for _ in range(late):
        IssueFactory(
            status=Status.CLOSED, closed_at=at(10, 1, 10), verified_at=at(10, 1, 10),
            submitted_at=at(10, 1, 9), **common,
        )  # fmt: skip
    for _ in range(open_late):
        IssueFactory(status=Status.IN_PROGRESS, **common)


def _settings(**values) -> RankingSettings:
    settings = RankingSettings.load()
    for name, value in values.items():
        setattr(settings, name, value)
    settings.save()
    return settings


def _ranked(settings, world=None):
    units = services.rank_units(
        Issue.objects.all(), week_start=WEEK, kind="organisation", settings=settings,
        now=AFTER_WEEK,
    )  # fmt: skip
    return {unit.label: unit for unit in units}


def test_ranking_orders_by_on_time_rate_then_overdue_then_rework(world):
    p = OrganisationFactory(name="P")
    q = OrganisationFactory(name="Q")
    r = OrganisationFactory(name="R")
    _due(world, p, on_time=3, late=1)  # 75 %, 1 late
    _due(world, q, on_time=3, open_late=1)  # 75 %, 1 late (still open)
    _due(world, r, on_time=3, late=1, reworked=1)  # 75 %, 1 late, rework 1/4
    _due(world, world.org_x, on_time=4)  # 100 %
    _due(world, world.org_y, on_time=1, late=3)  # 25 %
    settings = _settings(minimum_due=4, list_size=1)
    units = _ranked(settings)
    assert units[world.org_x.name].rank == 1
    # P and Q tie on rate and overdue count and have no rework: they share second place.
    assert units["P"].rank == units["Q"].rank == 2
    assert units["R"].rank == 4  # the same rate and overdue, but reworked
    assert units[world.org_y.name].rank == 5
    assert units[world.org_x.name].board == RankingEntry.Board.RED
    assert units[world.org_y.name].board == RankingEntry.Board.BLACK
    assert units["P"].board == units["R"].board == ""


def test_ranking_ties_at_the_edge_of_a_list_put_every_tied_unit_on_it(world):
    p = OrganisationFactory(name="P")
    q = OrganisationFactory(name="Q")
    _due(world, p, on_time=2)
    _due(world, q, on_time=2)
    _due(world, world.org_y, on_time=1, late=1)
    units = _ranked(_settings(minimum_due=2, list_size=1))
    assert units["P"].rank == units["Q"].rank == 1
    assert units["P"].board == units["Q"].board == RankingEntry.Board.RED
    assert units[world.org_y.name].board == RankingEntry.Board.BLACK


def test_ranking_minimum_case_rule_lists_small_units_unranked(world):
    _due(world, world.org_x, on_time=5)
    _due(world, world.org_y, on_time=2)  # perfect, but too few cases to be ranked
    units = _ranked(_settings(minimum_due=3, list_size=3))
    assert units[world.org_x.name].rank == 1
    assert units[world.org_y.name].rank is None
    assert units[world.org_y.name].board == ""
    assert units[world.org_y.name].on_time_rate == 1.0


def test_ranking_weights_make_a_composite_score(world):
    p = OrganisationFactory(name="P")
    _due(world, p, on_time=4, reworked=4)  # 100 % on time, everything reworked
    _due(world, world.org_x, on_time=3, late=1)  # 75 %, no rework
    settings = _settings(minimum_due=1)
    assert _ranked(settings)["P"].rank == 1
    settings = _settings(weight_rework="1.00")
    assert _ranked(settings)[world.org_x.name].rank == 1


def test_ranking_frozen_week_is_unchanged_after_later_events(world):
    _due(world, world.org_x, on_time=3)
    _due(world, world.org_y, on_time=1, open_late=2, where="b")
    _settings(minimum_due=1, list_size=1)
    rankings = services.ranking_freeze(week_start=WEEK, now=AFTER_WEEK)
    assert {ranking.kind for ranking in rankings} == {"organisation", "district"}

    def published():
        return list(
            RankingEntry.objects.filter(ranking__week_start=WEEK)
            .order_by("ranking__kind", "label")
            .values_list("label", "rank", "board", "due", "late", "on_time_rate")
        )

    before = published()
    assert (world.org_y.name, 2, "black", 3, 2, pytest.approx(1 / 3)) in before
    # Later: Y closes its open cases, more cases fall due in the week, the settings change.
    Issue.objects.filter(assigned_organisation=world.org_y, status=Status.IN_PROGRESS).update(
        status=Status.CLOSED, closed_at=at(10, 2, 9)
    )
    _due(world, world.org_y, on_time=5, where="b")
    _settings(minimum_due=10, list_size=3)
    again = services.ranking_freeze(week_start=WEEK, now=at(10, 13, 7))
    assert [r.pk for r in again] == [r.pk for r in rankings]
    assert published() == before
    assert WeeklyRanking.objects.count() == 2
    # The live computation has moved on; the published list has not.
    live = _ranked(RankingSettings.load())
    assert live[world.org_y.name].due == 8


def test_ranking_is_frozen_only_after_the_week_ended(world):
    with pytest.raises(ValueError):
        services.ranking_freeze(week_start=WEEK, now=at(10, 5, 23))
    with pytest.raises(ValueError):
        services.ranking_freeze(week_start=WEEK + datetime.timedelta(days=1), now=AFTER_WEEK)


def test_ranking_command_and_monday_task_freeze_last_week(world, time_machine):
    _due(world, world.org_x, on_time=5)
    call_command("freeze_rankings", "--week", "2025-W40")
    assert WeeklyRanking.objects.filter(week_start=WEEK).count() == 2
    time_machine.move_to(at(10, 13, 6, 30))
    result = freeze_weekly_ranking_task.delay().get()
    assert result["week"] == "2025-10-06"
    assert WeeklyRanking.objects.filter(week_start=datetime.date(2025, 10, 6)).count() == 2
    schedule = django_settings.CELERY_BEAT_SCHEDULE["freeze-weekly-ranking"]
    assert schedule["task"] == "stats.tasks.freeze_weekly_ranking_task"


def test_ranking_page_shows_the_published_week_and_a_unit_history(client, world):
    _due(world, world.org_x, on_time=5)
    _due(world, world.org_y, on_time=1, late=4, where="b")
    _settings(minimum_due=1, list_size=1)
    services.ranking_freeze(week_start=WEEK, now=AFTER_WEEK)
    client.force_login(world.leader_zone)
    response = client.get(reverse("stats:ranking"))
    assert response.status_code == 200
    assert response.context["week_label"] == "2025-W40"
    organisations = response.context["boards"][0]
    assert organisations["status"] == "frozen"
    assert [row["label"] for row in organisations["red"]] == [world.org_x.name]
    assert [row["label"] for row in organisations["black"]] == [world.org_y.name]
    history = client.get(reverse("stats:ranking_history", args=["organisation", world.org_x.pk]))
    assert history.status_code == 200
    assert history.context["rows"][0]["week"] == "2025-W40"
    assert history.context["rows"][0]["rank"] == 1
    # A week nobody froze is shown as provisional; a bad week parameter falls back.
    assert (
        client.get(reverse("stats:ranking"), {"week": "2025-W42"}).context["boards"][0]["status"]
        == "provisional"
    )
    assert client.get(reverse("stats:ranking"), {"week": "garbage"}).status_code == 200


def test_ranking_scope_leader_of_one_district_sees_only_its_cases(client, world):
    _due(world, world.org_x, on_time=2, late=1)
    _due(world, world.org_y, on_time=5, where="b")
    _due(world, world.org_y, late=2, where="a")  # Y also works in A, badly
    _settings(minimum_due=1, list_size=1)
    services.ranking_freeze(week_start=WEEK, now=AFTER_WEEK)
    lena = make_staff("lena", Role.LEADER, districts=[world.district_a])
    client.force_login(lena)
    response = client.get(reverse("stats:ranking"), {"week": "2025-W40"})
    organisations, districts = response.context["boards"]
    assert organisations["status"] == "scoped"
    by_label = {row["label"]: row for row in organisations["rows"]}
    # Y's figures count only its two cases in A, never its five in B.
    assert by_label[world.org_y.name]["due"] == 2
    assert by_label[world.org_y.name]["closed_on_time"] == 0
    assert [row["label"] for row in districts["rows"]] == [world.district_a.name]
    assert f">{world.district_b.name}<" not in response.content.decode()
    # Published organisation figures are zone-wide: not for a district's leader.
    url = reverse("stats:ranking_history", args=["organisation", world.org_x.pk])
    assert client.get(url).status_code == 404
    other = reverse("stats:ranking_history", args=["district", world.district_b.pk])
    assert client.get(other).status_code == 404
    own = reverse("stats:ranking_history", args=["district", world.district_a.pk])
    assert client.get(own).status_code == 200


@pytest.mark.parametrize("persona", ["inspector_xincheng", "handler_xincheng"])
def test_ranking_is_forbidden_to_inspectors_and_handlers(client, world, persona):
    client.force_login(getattr(world, persona))
    assert client.get(reverse("stats:ranking")).status_code == 403
