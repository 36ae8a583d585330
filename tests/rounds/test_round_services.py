"""Rounds, standards, visits and scores through the services (the only writers)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from districts.models import CheckItem, Organisation, Role
from issues.models import Issue, Status
from rounds import selectors, services
from rounds.models import Observation, Round, RoundPoint, Visit
from tests.factories import (
    InspectionPointFactory,
    OrganisationFactory,
    PointTypeFactory,
    make_staff,
)
from tests.rounds.support import TODAY, add_points, add_standards, make_round, token, upload

pytestmark = pytest.mark.django_db


def _mark(world, round_point, item, result, *, user=None, photo=False, **extra):
    return services.observation_record(
        round_point=round_point,
        actor=user or world.inspector_xincheng,
        check_item=item,
        result=result,
        client_token=extra.pop("client_token", token()),
        photos=services.prepare_upload([upload()]) if photo else (),
        **extra,
    )


# --- the draw and the assignment ---------------------------------------------------------------


def test_round_draw_is_reproducible_for_a_seed_and_takes_n_per_point_type(world):
    other_type = PointTypeFactory()
    add_points(world, 9)
    for index in range(6):
        InspectionPointFactory(
            community=world.community_a,
            point_type=other_type,
            latitude=Decimal("43.66") + Decimal(index) / 1000,
        )
    first = make_round(world, selection="draw", draw_per_type=3, seed=42)
    again = make_round(world, selection="draw", draw_per_type=3, seed=42)
    other = make_round(world, selection="draw", draw_per_type=3, seed=7)

    def drawn(round_):
        return sorted(round_.round_points.values_list("point_id", flat=True))

    assert drawn(first) == drawn(again)
    assert drawn(first) != drawn(other)
    per_type = {}
    for rp in first.round_points.select_related("point"):
        per_type[rp.point.point_type_id] = per_type.get(rp.point.point_type_id, 0) + 1
    assert per_type == {world.point_a.point_type_id: 3, other_type.pk: 3}
    assert first.seed == 42


def test_round_assignment_is_balanced_and_keeps_each_inspector_near_their_points(world):
    # Two clusters 5 km apart, 6 points each; two inspectors: each gets one cluster.
    west = [
        InspectionPointFactory(
            community=world.community_a,
            latitude=Decimal("43.60"),
            longitude=Decimal("122.20") + Decimal(i) / 10000,
        )
        for i in range(6)
    ]
    east = [
        InspectionPointFactory(
            community=world.community_a,
            latitude=Decimal("43.60"),
            longitude=Decimal("122.26") + Decimal(i) / 10000,
        )
        for i in range(5)
    ]
    world.point_a.latitude, world.point_a.longitude = Decimal("43.60"), Decimal("122.2605")
    world.point_a.save()
    east.append(world.point_a)
    inspector_2 = make_staff("alice2", Role.INSPECTOR, districts=[world.district_a])
    round_ = make_round(world, inspectors=[world.inspector_xincheng, inspector_2], seed=1)
    owner = dict(round_.round_points.values_list("point_id", "inspector_id"))
    assert len(owner) == 12
    assert {owner[p.pk] for p in west} == {owner[west[0].pk]}
    assert {owner[p.pk] for p in east} == {owner[east[0].pk]}
    assert owner[west[0].pk] != owner[east[0].pk]


def test_round_assignment_gives_no_inspector_more_than_an_even_share(world):
    add_points(world, 10)
    others = [
        make_staff(f"insp{i}", Role.INSPECTOR, districts=[world.district_a]) for i in range(2)
    ]
    round_ = make_round(world, inspectors=[world.inspector_xincheng, *others])
    loads = sorted(RoundPoint.objects.filter(round=round_).values_list("inspector_id", flat=True))
    counts = sorted(loads.count(pk) for pk in set(loads))
    assert sum(counts) == 11 and max(counts) <= 4 and len(counts) == 3


def test_round_assigns_points_to_a_supervision_group(world):
    group = OrganisationFactory(kind=Organisation.Kind.SUPERVISION_GROUP, district=world.district_a)
    round_ = services.round_create(
        actor=world.supervisor_xincheng,
        name="督导组",
        kind="mock",
        starts_on=TODAY,
        ends_on=TODAY,
        districts=[world.district_a],
        groups=[group],
    )
    assert list(round_.round_points.values_list("group_id", flat=True)) == [group.pk]


def test_round_refuses_a_supervisor_outside_their_districts_and_an_inspector(world):
    with pytest.raises(PermissionDenied):
        make_round(world, actor=world.supervisor_binhe)
    with pytest.raises(PermissionDenied):
        make_round(world, actor=world.inspector_xincheng)
    with pytest.raises(PermissionDenied):
        make_round(world, actor=world.leader_zone)
    assert Round.objects.count() == 0


def test_round_refuses_an_inspector_who_does_not_work_in_the_district(world):
    with pytest.raises(ValidationError):
        make_round(world, inspectors=[world.inspector_binhe])
    assert Round.objects.count() == 0


def test_round_clone_copies_points_and_assignees_a_week_later(world):
    add_points(world, 3)
    round_ = make_round(world)
    clone = services.round_clone(round_=round_, actor=world.supervisor_xincheng)
    assert clone.starts_on == round_.starts_on + datetime.timedelta(days=7)
    assert clone.cloned_from == round_
    assert sorted(clone.round_points.values_list("point_id", "inspector_id")) == sorted(
        round_.round_points.values_list("point_id", "inspector_id")
    )
    with pytest.raises(PermissionDenied):
        services.round_clone(round_=round_, actor=world.supervisor_binhe)


def test_closed_round_refuses_every_visit_write(world):
    items = add_standards(world)
    round_ = make_round(world)
    rp = round_.round_points.get()
    services.round_close(round_=round_, actor=world.supervisor_xincheng)
    with pytest.raises(services.RoundClosed):
        _mark(world, rp, items[1], "yes")
    with pytest.raises(services.RoundClosed):
        services.visit_start(round_point=rp, actor=world.inspector_xincheng, client_token=token())
    assert Observation.objects.count() == 0 and Visit.objects.count() == 0


# --- visits ------------------------------------------------------------------------------------


def test_visit_near_the_point_is_not_flagged_and_a_far_one_is_flagged_not_refused(world):
    add_points(world, 1)
    round_ = make_round(world)
    near, far = round_.round_points.order_by("point__latitude")
    visit = services.visit_start(
        round_point=near,
        actor=world.inspector_xincheng,
        client_token=token(),
        latitude=43.6502,
        longitude=122.2501,
        accuracy_m=12,
    )
    assert not visit.is_far and visit.distance_m < 50
    far_visit = services.visit_start(
        round_point=far,
        actor=world.inspector_xincheng,
        client_token=token(),
        latitude=43.6600,
        longitude=122.2600,
        accuracy_m=8,
    )
    assert far_visit.is_far and far_visit.distance_m > 200


def test_visit_far_radius_follows_the_setting(world, settings):
    settings.ROUNDS_FAR_VISIT_RADIUS_M = 10
    round_ = make_round(world)
    visit = services.visit_start(
        round_point=round_.round_points.get(),
        actor=world.inspector_xincheng,
        client_token=token(),
        latitude=43.6502,
        longitude=122.2501,
    )
    assert visit.is_far


def test_visit_marks_only_the_assigned_inspector(world):
    items = add_standards(world)
    round_ = make_round(world)
    rp = round_.round_points.get()
    with pytest.raises(PermissionDenied):
        _mark(world, rp, items[0], "yes", user=world.supervisor_xincheng)
    assert Observation.objects.count() == 0


def test_visit_same_token_twice_records_once_and_an_older_capture_never_overwrites(world):
    items = add_standards(world)
    rp = make_round(world).round_points.get()
    now = timezone.now()
    tap = token()
    first = _mark(world, rp, items[1], "no", client_token=tap, observed_at=now)
    again = _mark(world, rp, items[1], "no", client_token=tap, observed_at=now)
    assert first.applied and not again.applied
    late = _mark(world, rp, items[1], "yes", observed_at=now - datetime.timedelta(minutes=3))
    assert not late.applied
    newer = _mark(world, rp, items[1], "yes", observed_at=now + datetime.timedelta(seconds=5))
    assert newer.applied
    observation = Observation.objects.get()
    assert observation.result == "yes"
    assert observation.observed_at == now + datetime.timedelta(seconds=5)
    assert observation.received_at >= observation.observed_at - datetime.timedelta(seconds=6)


def test_visit_finish_waits_for_the_photo_of_a_failed_standard(world):
    items = add_standards(world)
    rp = make_round(world).round_points.get()
    outcome = _mark(world, rp, items[0], "no")
    with pytest.raises(ValidationError):
        services.visit_finish(round_point=rp, actor=world.inspector_xincheng)
    _mark(world, rp, items[0], "no", photo=True)
    visit = services.visit_finish(round_point=rp, actor=world.inspector_xincheng)
    assert visit.finished_at is not None
    assert outcome.observation.pk == Observation.objects.get().pk


def test_visit_no_with_file_as_case_files_exactly_one_issue_through_the_report_service(world):
    items = add_standards(world)
    rp = make_round(world).round_points.get()
    services.visit_start(
        round_point=rp,
        actor=world.inspector_xincheng,
        client_token=token(),
        latitude=43.6501,
        longitude=122.2501,
        accuracy_m=9,
    )
    outcome = _mark(world, rp, items[0], "no", photo=True, note="墙上有小广告")
    observation = services.observation_file_case(
        observation=outcome.observation, actor=world.inspector_xincheng
    )
    retried = services.observation_file_case(
        observation=outcome.observation, actor=world.inspector_xincheng
    )
    assert Issue.objects.count() == 1
    issue = Issue.objects.get()
    assert retried.issue_id == observation.issue_id == issue.pk
    assert issue.point == world.point_a and issue.category == world.category
    assert issue.description == "标准1:墙上有小广告"
    assert issue.status == Status.REPORTED and issue.reporter == world.inspector_xincheng
    assert issue.photos.count() == 1
    assert issue.latitude == Decimal("43.650100")


def test_visit_file_as_case_needs_the_required_photo_and_a_linked_category(world):
    items = add_standards(world)
    rp = make_round(world).round_points.get()
    no_photo = _mark(world, rp, items[0], "no").observation
    with pytest.raises(ValidationError):
        services.observation_file_case(observation=no_photo, actor=world.inspector_xincheng)
    unlinked = _mark(world, rp, items[1], "no").observation
    with pytest.raises(ValidationError):
        services.observation_file_case(observation=unlinked, actor=world.inspector_xincheng)
    assert Issue.objects.count() == 0


def test_visit_fixed_on_the_spot_closes_the_filed_case(world):
    items = add_standards(world)
    rp = make_round(world).round_points.get()
    observation = _mark(world, rp, items[0], "no", photo=True).observation
    after = services.prepare_upload([upload("after.jpg")])
    services.observation_fix_on_spot(
        observation=observation, actor=world.inspector_xincheng, photos=after
    )
    services.observation_fix_on_spot(
        observation=observation, actor=world.inspector_xincheng, photos=after
    )
    issue = Issue.objects.get()
    assert issue.status == Status.CLOSED and issue.fixed_on_spot


# --- scores ------------------------------------------------------------------------------------


def test_score_by_hand_with_weights_and_not_applicable(world):
    """Three standards weighing 1, 2 and 3 at two points.

    point A: 1 yes, 2 no, 3 n.a.   → met 1 of applicable 1 + 2 = 3 → 33.3 %
    point P: 1 yes, 2 yes, 3 no    → met 1 + 2 = 3 of 6             → 50 %
    round:   met 1 + 3 = 4 of 3 + 6 = 9                             → 44.4 %
    mock score: (33.3 + 50) / 2                                      → 41.7
    """
    items = add_standards(world)
    other = add_points(world, 1)[0]
    round_ = make_round(world)
    rp_a = round_.round_points.get(point=world.point_a)
    rp_p = round_.round_points.get(point=other)
    for item, result in zip(items, ["yes", "no", "na"], strict=True):
        _mark(world, rp_a, item, result)
    for item, result in zip(items, ["yes", "yes", "no"], strict=True):
        _mark(world, rp_p, item, result)
    found = selectors.results(round_)
    by_point = {row["point_id"]: row for row in found.points}
    assert (by_point[world.point_a.pk]["met"], by_point[world.point_a.pk]["applicable"]) == (1, 3)
    assert (by_point[other.pk]["met"], by_point[other.pk]["applicable"]) == (3, 6)
    assert found.total.met == 4 and found.total.applicable == 9
    assert found.total.rate == pytest.approx(4 / 9)
    assert found.mock_score == pytest.approx(100 * (1 / 3 + 1 / 2) / 2)
    assert [t.rate for t in found.districts] == [pytest.approx(4 / 9)]
    assert {row["text"]: row["failures"] for row in found.most_failed} == {"标准2": 1, "标准3": 1}
    assert found.unvisited_count == 0


def test_score_of_a_closed_round_stays_when_the_standard_changes(world):
    items = add_standards(world)
    round_ = make_round(world)
    rp = round_.round_points.get()
    _mark(world, rp, items[0], "yes")
    _mark(world, rp, items[2], "no")
    services.round_close(round_=round_, actor=world.supervisor_xincheng)
    before = selectors.results(round_)
    assert (before.total.met, before.total.applicable) == (1, 4)
    CheckItem.objects.filter(pk=items[2].pk).update(weight=10, text="改过的标准")
    CheckItem.objects.filter(pk=items[0].pk).update(is_active=False)
    after = selectors.results(round_)
    assert (after.total.met, after.total.applicable) == (1, 4)
    assert [row["text"] for row in after.most_failed] == ["标准3"]


def test_score_compares_with_the_previous_round_and_finds_repeat_failures(world):
    items = add_standards(world)
    first = make_round(world, name="第一周")
    _mark(world, first.round_points.get(), items[1], "no")
    _mark(world, first.round_points.get(), items[2], "yes")
    services.round_close(round_=first, actor=world.supervisor_xincheng)
    second = services.round_clone(round_=first, actor=world.supervisor_xincheng)
    _mark(world, second.round_points.get(), items[1], "no")
    _mark(world, second.round_points.get(), items[2], "no")
    _mark(world, second.round_points.get(), items[0], "yes")
    found = selectors.results(second)
    assert found.previous == first
    assert [row["text"] for row in found.repeat_failures] == ["标准2"]
    district = found.districts[0]
    assert district.previous == pytest.approx(3 / 5)
    assert district.rate == pytest.approx(1 / 6)
    assert district.trend == "worse"


def test_score_lists_unvisited_points_and_cases_filed_and_closed(world):
    items = add_standards(world)
    add_points(world, 2)
    round_ = make_round(world)
    rp = round_.round_points.get(point=world.point_a)
    observation = _mark(world, rp, items[0], "no", photo=True).observation
    services.observation_file_case(observation=observation, actor=world.inspector_xincheng)
    found = selectors.results(round_)
    assert found.unvisited_count == 2
    assert found.cases_filed == 1 and found.cases_closed == 0
