"""The round models in the Django admin: the zone office reads them, edits an open round through
the services, and a closed round (with its visits and marks) stays as it was."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from districts.models import AuditEntry, CheckItem, Role
from rounds import selectors, services
from rounds.models import Observation, Round, RoundPoint, Visit
from tests.factories import make_staff
from tests.rounds.support import TODAY, add_points, add_standards, make_round, token

pytestmark = pytest.mark.django_db


@pytest.fixture
def office(client, world):
    world.admin_zone.is_staff = True  # as /manage/ makes every admin account
    world.admin_zone.save(update_fields=["is_staff"])
    client.force_login(world.admin_zone)
    return client


def _mark(world, round_point, item, result):
    return services.observation_record(
        round_point=round_point,
        actor=world.inspector_xincheng,
        check_item=item,
        result=result,
        client_token=token(),
    ).observation


def _round_form(round_, **changes):
    data = {
        "name": round_.name,
        "starts_on": round_.starts_on.isoformat(),
        "ends_on": round_.ends_on.isoformat(),
    }
    return data | changes


def test_round_admin_lists_every_round_model_for_the_zone_office(office, world):
    items = add_standards(world)
    round_ = make_round(world)
    observation = _mark(world, round_.round_points.get(), items[0], "no")
    for model, row in (
        ("round", round_),
        ("roundpoint", round_.round_points.get()),
        ("visit", Visit.objects.get()),
        ("observation", observation),
    ):
        changelist = office.get(reverse(f"admin:rounds_{model}_changelist"))
        assert changelist.status_code == 200, model
        assert office.get(reverse(f"admin:rounds_{model}_change", args=[row.pk])).status_code == 200
        assert office.get(reverse(f"admin:rounds_{model}_add")).status_code == 403, model
        assert (
            office.get(reverse(f"admin:rounds_{model}_delete", args=[row.pk])).status_code == 403
        ), model


def test_round_admin_renames_an_open_round_through_the_service_and_audits_it(office, world):
    round_ = make_round(world)
    url = reverse("admin:rounds_round_change", args=[round_.pk])
    response = office.post(url, _round_form(round_, name="第一周巡查(改)", kind="mock"))
    assert response.status_code == 302
    round_.refresh_from_db()
    assert round_.name == "第一周巡查(改)"
    assert round_.kind == "routine"  # read-only here: it chose the previous round to compare
    assert AuditEntry.objects.filter(object_type="round", object_id=str(round_.pk)).exists()
    bad = office.post(url, _round_form(round_, ends_on="2026-01-01"))
    assert bad.status_code == 200
    round_.refresh_from_db()
    assert round_.ends_on != TODAY.replace(month=1, day=1)


def test_round_admin_closed_round_is_read_only_and_its_marks_are_never_edited(office, world):
    items = add_standards(world)
    round_ = make_round(world)
    rp = round_.round_points.get()
    observation = _mark(world, rp, items[1], "no")
    _mark(world, rp, items[2], "yes")
    services.round_close(round_=round_, actor=world.supervisor_xincheng)
    before = selectors.results(round_)

    page = office.get(reverse("admin:rounds_round_change", args=[round_.pk]))
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    refused = office.post(
        reverse("admin:rounds_round_change", args=[round_.pk]), _round_form(round_, name="改")
    )
    assert refused.status_code == 403
    for model, row in (("roundpoint", rp), ("observation", observation)):
        url = reverse(f"admin:rounds_{model}_change", args=[row.pk])
        assert office.post(url, {"inspector": "", "result": "yes"}).status_code == 403, model

    # The standard is edited in the admin afterwards: the closed round's results stay.
    item_url = reverse("admin:districts_checkitem_change", args=[items[2].pk])
    form = office.get(item_url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None}
    data |= {"text": "改过的标准", "weight": 9, "point_type": items[2].point_type_id}
    data["category"] = data.get("category") or ""
    assert office.post(item_url, data).status_code == 302
    assert CheckItem.objects.get(pk=items[2].pk).weight == 9
    after = selectors.results(round_)
    assert (after.total.met, after.total.applicable) == (before.total.met, before.total.applicable)
    assert Observation.objects.get(check_item=items[2]).text == "标准3"
    listing = office.get(reverse("admin:rounds_observation_changelist")).content.decode()
    assert "标准3" in listing and "改过的标准" in listing  # as marked, and as it is now
    assert Round.objects.get().name == round_.name


def test_round_admin_reassigns_an_unvisited_point_of_an_open_round(office, world):
    items = add_standards(world)
    add_points(world, 1)
    other = make_staff("inspector_xincheng2", Role.INSPECTOR, districts=[world.district_a])
    round_ = make_round(world)
    visited, waiting = round_.round_points.order_by("pk")
    _mark(world, visited, items[0], "yes")

    url = reverse("admin:rounds_roundpoint_change", args=[waiting.pk])
    assert office.post(url, {"inspector": other.pk, "group": ""}).status_code == 302
    assert RoundPoint.objects.get(pk=waiting.pk).inspector == other

    outside = office.post(url, {"inspector": world.inspector_binhe.pk, "group": ""})
    assert outside.status_code == 200  # the form says why; nothing changes
    assert RoundPoint.objects.get(pk=waiting.pk).inspector == other

    walked = reverse("admin:rounds_roundpoint_change", args=[visited.pk])
    assert office.post(walked, {"inspector": other.pk, "group": ""}).status_code == 200
    assert RoundPoint.objects.get(pk=visited.pk).inspector == world.inspector_xincheng


def test_round_admin_closes_rounds_with_the_action(office, world):
    round_ = make_round(world)
    response = office.post(
        reverse("admin:rounds_round_changelist"),
        {"action": "close_rounds", "_selected_action": [round_.pk]},
    )
    assert response.status_code == 302
    round_.refresh_from_db()
    assert round_.status == Round.Status.CLOSED and round_.closed_by == world.admin_zone


@pytest.mark.parametrize("points", [2, 10])
def test_round_admin_observation_list_runs_a_constant_number_of_queries(
    office, world, points, django_assert_num_queries
):
    items = add_standards(world)
    add_points(world, points - 1)
    round_ = make_round(world)
    for rp in round_.round_points.all():
        for item in items:
            _mark(world, rp, item, "no")
    office.get(reverse("admin:rounds_observation_changelist"))
    with django_assert_num_queries(ADMIN_LIST_QUERIES):
        assert office.get(reverse("admin:rounds_observation_changelist")).status_code == 200


ADMIN_LIST_QUERIES = 8


def test_round_update_and_reassign_refuse_outside_scope_and_on_a_closed_round(world):
    add_points(world, 1)
    round_ = make_round(world)
    rp = round_.round_points.order_by("pk").first()
    with pytest.raises(PermissionDenied):
        services.round_update(
            round_=round_,
            actor=world.supervisor_binhe,
            name="x",
            starts_on=round_.starts_on,
            ends_on=round_.ends_on,
        )
    with pytest.raises(PermissionDenied):
        services.round_point_reassign(
            round_point=rp, actor=world.supervisor_binhe, inspector=world.inspector_xincheng
        )
    services.round_close(round_=round_, actor=world.supervisor_xincheng)
    with pytest.raises(services.RoundClosed):
        services.round_update(
            round_=round_,
            actor=world.supervisor_xincheng,
            name="x",
            starts_on=round_.starts_on,
            ends_on=round_.ends_on,
        )
    with pytest.raises(services.RoundClosed):
        services.round_point_reassign(
            round_point=rp, actor=world.supervisor_xincheng, inspector=world.inspector_xincheng
        )
    assert Round.objects.get().name == round_.name
