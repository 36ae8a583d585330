"""The transitions table matches docs/domain.md §4, and services allow exactly what it allows."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone, translation

from issues import permissions, services, workflow
from issues.models import DISPATCHED_STATUSES, OPEN_STATUSES, Action, IssueEvent, Status
from tests.factories import CategoryFactory, issue_in
from tests.issues.lifecycle_support import (
    USUAL_ACTOR,
    new_events,
    pending_extension,
    perform,
    photos,
    prepare_for,
    snapshot,
)

S = Status
A = Action

# docs/domain.md §4, written out by hand so the table is checked against the spec, not itself.
# None: a side action that keeps the status.
SPEC: dict[tuple[str, str], str | None] = {
    (S.REPORTED, A.DISPATCH): S.ASSIGNED,
    (S.REPORTED, A.REJECT): S.REJECTED,
    (S.REPORTED, A.MARK_DUPLICATE): S.REJECTED,
    (S.REPORTED, A.FIX_ON_SPOT): S.CLOSED,
    (S.ASSIGNED, A.ACKNOWLEDGE): S.IN_PROGRESS,
    (S.ASSIGNED, A.RETURN): S.REPORTED,
    (S.IN_PROGRESS, A.RETURN): S.REPORTED,
    (S.ASSIGNED, A.REASSIGN): S.ASSIGNED,
    (S.IN_PROGRESS, A.REASSIGN): S.ASSIGNED,
    (S.IN_PROGRESS, A.SUBMIT_FIX): S.SUBMITTED,
    (S.SUBMITTED, A.VERIFY_PASS): S.CLOSED,
    (S.SUBMITTED, A.VERIFY_FAIL): S.IN_PROGRESS,
    (S.ASSIGNED, A.PARK): S.PARKED,
    (S.IN_PROGRESS, A.PARK): S.PARKED,
    (S.PARKED, A.RESUME): S.IN_PROGRESS,
    **{(state, A.CANCEL): S.CANCELLED for state in OPEN_STATUSES},
    (S.CLOSED, A.REOPEN): S.ASSIGNED,
    (S.ASSIGNED, A.REQUEST_EXTENSION): None,
    (S.IN_PROGRESS, A.REQUEST_EXTENSION): None,
    **{(state, A.APPROVE_EXTENSION): None for state in DISPATCHED_STATUSES},
    **{(state, A.REFUSE_EXTENSION): None for state in DISPATCHED_STATUSES},
    (S.ASSIGNED, A.ESCALATE): None,
    (S.IN_PROGRESS, A.ESCALATE): None,
    (S.SUBMITTED, A.ESCALATE): None,
    **{(state, A.CHANGE_CATEGORY): None for state in OPEN_STATUSES},
}

ALL_PAIRS = [(state, action) for state in Status.values for action in workflow.TRANSITIONS]


def test_transition_table_matches_the_domain_workflow():
    table = {
        (state, transition.action): transition.target
        for transition in workflow.TRANSITIONS.values()
        for state in transition.sources
    }
    assert table == SPEC


def test_transition_table_covers_every_action_but_the_report():
    assert set(workflow.TRANSITIONS) == set(Action) - {Action.REPORT}
    for transition in workflow.TRANSITIONS.values():
        assert transition.roles, transition.action
        assert transition.requires <= workflow.INPUT_NAMES
        assert not transition.requires & transition.optional


@pytest.mark.parametrize(("state", "action"), ALL_PAIRS, ids=[f"{s}-{a}" for s, a in ALL_PAIRS])
def test_transition_is_taken_where_the_table_allows_it_and_refused_everywhere_else(
    world, state, action
):
    issue = issue_in(world, state)
    if action in (A.APPROVE_EXTENSION, A.REFUSE_EXTENSION):
        pending_extension(issue, world)
    actor = getattr(world, USUAL_ACTOR[action])
    inputs = prepare_for(world, action, issue)
    before = snapshot(issue)

    if (state, action) not in SPEC:
        with pytest.raises(workflow.TransitionError) as refused:
            perform(action, issue, actor, inputs)
        assert refused.value.status == state
        assert snapshot(issue) == before
        return

    perform(action, issue, actor, inputs)
    issue.refresh_from_db()
    expected = SPEC[(state, action)] or state
    assert issue.status == expected
    [event] = new_events(issue, before)
    assert (event.action, event.from_status, event.to_status) == (action, state, expected)
    assert event.actor == actor


@pytest.mark.parametrize("state", Status.values)
def test_transition_offers_match_the_table_for_the_usual_actors(world, state):
    issue = issue_in(world, state)
    for action, persona in USUAL_ACTOR.items():
        offered = {t.action for t in permissions.available_actions(issue, getattr(world, persona))}
        # Extension decisions are offered only with a pending request, which this issue lacks.
        expected = (state, action) in SPEC and action not in (
            A.APPROVE_EXTENSION,
            A.REFUSE_EXTENSION,
        )
        assert (action in offered) == expected, (state, action, persona)


def test_transition_walk_through_the_whole_lifecycle_with_services(world):
    """Every kind of move, in the order a real case meets them, each leaving one event."""
    later = timezone.now() + datetime.timedelta(days=2)
    other_category = CategoryFactory(limit_value=4, limit_unit="H")
    issue = services.issue_create(
        reporter=world.inspector_xincheng,
        category=world.category,
        point=world.point_a,
        description="早市散场后垃圾未清",
        photos=photos(),
    )
    steps = [
        lambda i: services.issue_dispatch(
            issue=i, actor=world.supervisor_xincheng, organisation=world.org_y
        ),
        lambda i: services.issue_acknowledge(issue=i, actor=world.handler_binhe),
        lambda i: services.issue_return(issue=i, actor=world.handler_binhe, reason="属地不符"),
        lambda i: services.issue_dispatch(
            issue=i, actor=world.supervisor_xincheng, organisation=world.org_x
        ),
        lambda i: services.issue_reassign(
            issue=i, actor=world.admin_zone, organisation=world.org_y
        ),
        lambda i: services.issue_reassign(
            issue=i, actor=world.supervisor_xincheng, organisation=world.org_x
        ),
        lambda i: services.issue_acknowledge(issue=i, actor=world.handler_xincheng),
        lambda i: services.extension_request(
            issue=i, actor=world.handler_xincheng, reason="需协调", requested_deadline=later
        ),
        lambda i: services.extension_approve(
            extension=i.extension_requests.get(), actor=world.supervisor_xincheng
        ),
        lambda i: services.issue_escalate(issue=i, actor=world.supervisor_xincheng, level=1),
        lambda i: services.issue_change_category(
            issue=i, actor=world.supervisor_xincheng, category=other_category
        ),
        lambda i: services.issue_park(
            issue=i,
            actor=world.supervisor_xincheng,
            reason="等待施工",
            review_date=timezone.localdate() + datetime.timedelta(days=7),
        ),
        lambda i: services.issue_resume(issue=i, actor=world.supervisor_xincheng),
        lambda i: services.issue_submit_fix(issue=i, actor=world.handler_xincheng, photos=photos()),
        lambda i: services.issue_verify_fail(
            issue=i, actor=world.inspector_xincheng, reason="仍有残留"
        ),
        lambda i: services.issue_submit_fix(
            issue=i, actor=world.handler_xincheng, photos=photos(2)
        ),
        lambda i: services.issue_verify_pass(
            issue=i, actor=world.supervisor_xincheng, photos=photos()
        ),
        lambda i: services.issue_reopen(issue=i, actor=world.supervisor_xincheng, note="再次出现"),
        lambda i: services.issue_cancel(issue=i, actor=world.admin_zone, reason="误报"),
    ]
    for step in steps:
        count = IssueEvent.objects.filter(issue=issue).count()
        result = step(issue)
        issue.refresh_from_db()
        assert IssueEvent.objects.filter(issue=issue).count() == count + 1
        assert result is not None

    log = list(IssueEvent.objects.filter(issue=issue).values_list("action", "to_status"))
    assert log[0] == (A.REPORT, S.REPORTED)
    assert log[-1] == (A.CANCEL, S.CANCELLED)
    assert {action for action, _ in log} >= set(workflow.TRANSITIONS) - {
        A.REJECT,
        A.MARK_DUPLICATE,
        A.FIX_ON_SPOT,
        A.REFUSE_EXTENSION,
    }
    assert issue.rework_count == 1
    assert issue.extension_count == 1


def test_transition_walk_through_the_short_endings_of_a_report(world):
    rejected = services.issue_create(
        reporter=world.inspector_xincheng, category=world.category, community=world.community_a
    )
    services.issue_reject(issue=rejected, actor=world.supervisor_xincheng, reason="非城管问题")
    duplicate = services.issue_create(
        reporter=world.inspector_xincheng, category=world.category, community=world.community_a
    )
    services.issue_mark_duplicate(
        issue=duplicate, actor=world.supervisor_xincheng, duplicate_of=rejected
    )
    fixed = services.issue_create(
        reporter=world.inspector_xincheng, category=world.category, community=world.community_a
    )
    services.issue_fix_on_spot(issue=fixed, actor=world.inspector_xincheng, photos=photos())
    services.issue_reopen(issue=fixed, actor=world.supervisor_xincheng, organisation=world.org_x)

    rejected.refresh_from_db()
    duplicate.refresh_from_db()
    fixed.refresh_from_db()
    assert rejected.status == S.REJECTED
    assert duplicate.status == S.REJECTED
    assert duplicate.duplicate_of == rejected
    assert fixed.status == S.ASSIGNED
    assert fixed.assigned_organisation == world.org_x
    assert list(fixed.events.values_list("action", flat=True)) == [
        A.REPORT,
        A.FIX_ON_SPOT,
        A.REOPEN,
    ]


def test_transition_error_names_the_current_state(world):
    issue = issue_in(world, S.CLOSED)
    with translation.override("en"):
        with pytest.raises(workflow.TransitionError) as refused:
            services.issue_verify_pass(issue=issue, actor=world.supervisor_xincheng)
        message = refused.value.messages[0]
    assert "closed" in message
    assert "Pass verification" in message
    assert refused.value.code == "invalid_transition"


# One persona per role, all able to see an issue of district A assigned to organisation X.
ROLE_PERSONAS = {
    "inspector": "inspector_xincheng",
    "supervisor": "supervisor_xincheng",
    "handler": "handler_xincheng",
    "leader": "leader_zone",
    "admin": "admin_zone",
}


@pytest.mark.parametrize("action", list(workflow.TRANSITIONS))
def test_policy_role_before_state_a_role_that_may_never_act_is_refused_in_every_state(
    world, action
):
    # A leader posting "acknowledge" or a handler posting "dispatch" get 403, never "stale".
    transition = workflow.transition_for(action)
    for role, persona in ROLE_PERSONAS.items():
        if role in transition.roles:
            continue
        for status in Status:
            issue = issue_in(world, status)
            with pytest.raises(PermissionDenied) as refused:
                services.require(issue, action, getattr(world, persona))
            assert not isinstance(refused.value, workflow.TransitionError), (role, status)


@pytest.mark.parametrize("action", list(workflow.TRANSITIONS))
def test_policy_role_before_state_a_role_that_may_act_hears_the_case_moved_on(world, action):
    # The stale-state message is for people who could have acted a moment ago.
    transition = workflow.transition_for(action)
    stale = [status for status in Status if status not in transition.sources]
    for role in transition.roles:
        persona = getattr(world, ROLE_PERSONAS[role])
        for status in stale:
            issue = issue_in(world, status)
            with pytest.raises(workflow.TransitionError):
                services.require(issue, action, persona)


def test_transition_extension_decisions_are_offered_only_while_a_request_waits(world):
    issue = issue_in(world, S.IN_PROGRESS)
    offered = {t.action for t in permissions.available_actions(issue, world.supervisor_xincheng)}
    assert A.APPROVE_EXTENSION not in offered
    assert A.REQUEST_EXTENSION in {
        t.action for t in permissions.available_actions(issue, world.handler_xincheng)
    }
    pending_extension(issue, world)
    offered = {t.action for t in permissions.available_actions(issue, world.supervisor_xincheng)}
    assert {A.APPROVE_EXTENSION, A.REFUSE_EXTENSION} <= offered
    assert A.REQUEST_EXTENSION not in {
        t.action for t in permissions.available_actions(issue, world.handler_xincheng)
    }


def test_transition_required_photos_follow_the_category(world):
    issue = issue_in(world, S.IN_PROGRESS)
    transition = workflow.TRANSITIONS[A.SUBMIT_FIX]
    assert "photos" in workflow.required_inputs(transition, issue)
    world.category.after_photo_required = False
    world.category.save()
    issue.refresh_from_db()
    assert "photos" not in workflow.required_inputs(transition, issue)


def test_transition_table_and_service_map_name_the_same_actions():
    from issues import services as issue_services

    assert set(issue_services.SERVICE_FOR_ACTION) == set(workflow.TRANSITIONS)
