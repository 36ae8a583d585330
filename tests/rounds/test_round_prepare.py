"""A large round is drawn and assigned in a task: "being prepared" until then, the same draw."""

from __future__ import annotations

import io
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse

from rounds import services
from rounds.models import Round
from rounds.tasks import prepare_round_task
from tests.rounds.support import add_points, make_round

pytestmark = pytest.mark.django_db


@pytest.fixture
def in_background(settings):
    """A broker is there (tasks are not eager) and every round counts as large."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.ROUNDS_INLINE_MAX_POINTS = 2


def _drawn(round_):
    return sorted(round_.round_points.values_list("point_id", "inspector_id"))


def test_round_large_is_preparing_until_its_task_runs_then_the_same_draw(
    world, settings, in_background, django_capture_on_commit_callbacks
):
    add_points(world, 8)
    with (
        mock.patch.object(prepare_round_task, "delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        round_ = make_round(world, selection="draw", draw_per_type=5, seed=42)
    delay.assert_called_once_with(round_id=round_.pk)
    round_.refresh_from_db()
    assert round_.status == Round.Status.PREPARING and not round_.round_points.exists()

    prepare_round_task.apply(kwargs={"round_id": round_.pk})
    prepare_round_task.apply(kwargs={"round_id": round_.pk})  # a redelivered task: no change
    round_.refresh_from_db()
    assert round_.status == Round.Status.OPEN and round_.round_points.count() == 5

    # The same seed prepared in the request draws and assigns exactly the same.
    settings.ROUNDS_INLINE_MAX_POINTS = 100
    inline = make_round(world, selection="draw", draw_per_type=5, seed=42)
    assert inline.status == Round.Status.OPEN and _drawn(inline) == _drawn(round_)


def test_round_left_preparing_when_the_queue_was_down_is_prepared_by_the_command(
    world, in_background, django_capture_on_commit_callbacks
):
    add_points(world, 4)
    with (
        mock.patch.object(prepare_round_task, "delay", side_effect=OSError("broker down")),
        django_capture_on_commit_callbacks(execute=True),
    ):
        round_ = make_round(world)
    assert Round.objects.get().status == Round.Status.PREPARING
    call_command("prepare_rounds", stdout=io.StringIO())
    round_.refresh_from_db()
    assert round_.status == Round.Status.OPEN and round_.round_points.count() == 5


def test_round_small_is_prepared_in_the_request(world, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    add_points(world, 2)
    with mock.patch.object(prepare_round_task, "delay") as delay:
        round_ = make_round(world)
    delay.assert_not_called()
    assert round_.status == Round.Status.OPEN and round_.round_points.count() == 3


def test_round_preparing_page_refreshes_and_refuses_clone_close_and_walks(
    client, world, in_background, django_capture_on_commit_callbacks
):
    add_points(world, 4)
    with mock.patch.object(prepare_round_task, "delay"), django_capture_on_commit_callbacks():
        round_ = make_round(world)
    client.force_login(world.supervisor_xincheng)
    page = client.get(reverse("rounds:round_results", args=[round_.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "正在生成" in html and 'http-equiv="refresh"' in html
    export = client.get(reverse("rounds:round_export", args=[round_.pk]))
    assert export.status_code == 302
    for name in ("round_clone", "round_close"):
        assert client.post(reverse(f"rounds:{name}", args=[round_.pk])).status_code == 302
    assert Round.objects.count() == 1
    assert Round.objects.get().status == Round.Status.PREPARING
    with pytest.raises(ValidationError):
        services.round_close(round_=round_, actor=world.supervisor_xincheng)
    # Nobody walks a round before it has points: the inspector does not see it yet.
    client.force_login(world.inspector_xincheng)
    assert client.get(reverse("rounds:worklist", args=[round_.pk])).status_code == 404


def test_round_clone_of_a_large_round_is_copied_in_the_task(
    world, in_background, django_capture_on_commit_callbacks
):
    add_points(world, 4)
    with mock.patch.object(prepare_round_task, "delay"), django_capture_on_commit_callbacks():
        source = make_round(world)
    source = services.round_prepare(round_id=source.pk)
    with (
        mock.patch.object(prepare_round_task, "delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        clone = services.round_clone(round_=source, actor=world.supervisor_xincheng)
    delay.assert_called_once_with(round_id=clone.pk)
    assert clone.status == Round.Status.PREPARING
    services.round_prepare(round_id=clone.pk)
    clone.refresh_from_db()
    assert clone.status == Round.Status.OPEN and _drawn(clone) == _drawn(source)


def test_round_prepare_records_why_it_failed(
    world, in_background, django_capture_on_commit_callbacks
):
    points = add_points(world, 4)
    with mock.patch.object(prepare_round_task, "delay"), django_capture_on_commit_callbacks():
        round_ = make_round(world)
    for point in [*points, world.point_a]:
        point.is_active = False
        point.save(update_fields=["is_active"])
    services.round_prepare(round_id=round_.pk)
    round_.refresh_from_db()
    assert round_.status == Round.Status.PREPARING and round_.prepare_error
