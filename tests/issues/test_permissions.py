"""Who may do what: every action against every persona, and visible_to against can_view."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied

from districts import policy
from districts.models import District, Membership, Role
from issues import permissions, services, workflow
from issues.models import Action, Issue, Status
from tests.factories import CategoryFactory, UserFactory, issue_in, make_staff
from tests.issues.lifecycle_support import (
    new_events,
    pending_extension,
    perform,
    photos,
    prepare_for,
    snapshot,
)

A = Action
S = Status

PERSONAS = [
    "inspector_xincheng",
    "inspector_binhe",
    "handler_xincheng",
    "handler_binhe",
    "supervisor_xincheng",
    "supervisor_binhe",
    "leader_zone",
    "admin_zone",
]
# inspector_xincheng: inspector in scope (and the reporter); inspector_binhe: out of scope
# handler_xincheng: handler of the assigned organisation; handler_binhe: another organisation
# supervisor_xincheng: supervisor in scope; supervisor_binhe: supervisor out of scope
# leader_zone: leader (read only); admin_zone: admin

# The state each action is tried in: one it starts from, so only the actor decides.
SOURCE_STATE = {
    A.DISPATCH: S.REPORTED,
    A.REJECT: S.REPORTED,
    A.MARK_DUPLICATE: S.REPORTED,
    A.FIX_ON_SPOT: S.REPORTED,
    A.ACKNOWLEDGE: S.ASSIGNED,
    A.RETURN: S.IN_PROGRESS,
    A.REASSIGN: S.ASSIGNED,
    A.SUBMIT_FIX: S.IN_PROGRESS,
    A.VERIFY_PASS: S.SUBMITTED,
    A.VERIFY_FAIL: S.SUBMITTED,
    A.PARK: S.IN_PROGRESS,
    A.RESUME: S.PARKED,
    A.CANCEL: S.IN_PROGRESS,
    A.REOPEN: S.CLOSED,
    A.REQUEST_EXTENSION: S.IN_PROGRESS,
    A.APPROVE_EXTENSION: S.IN_PROGRESS,
    A.REFUSE_EXTENSION: S.IN_PROGRESS,
    A.ESCALATE: S.IN_PROGRESS,
    A.CHANGE_CATEGORY: S.IN_PROGRESS,
}

SUPERVISING = {"supervisor_xincheng", "admin_zone"}
HANDLER = {"handler_xincheng"}
# docs/domain.md §2, by hand: who may take each action on an issue of district A assigned to org X.
ALLOWED = {
    A.DISPATCH: SUPERVISING,
    A.REJECT: SUPERVISING,
    A.MARK_DUPLICATE: SUPERVISING,
    A.FIX_ON_SPOT: {"inspector_xincheng"},
    A.ACKNOWLEDGE: HANDLER,
    A.RETURN: HANDLER,
    A.REASSIGN: SUPERVISING,
    A.SUBMIT_FIX: HANDLER,
    A.VERIFY_PASS: SUPERVISING | {"inspector_xincheng"},
    A.VERIFY_FAIL: SUPERVISING | {"inspector_xincheng"},
    A.PARK: SUPERVISING,
    A.RESUME: SUPERVISING,
    A.CANCEL: SUPERVISING,
    A.REOPEN: SUPERVISING,
    A.REQUEST_EXTENSION: HANDLER,
    A.APPROVE_EXTENSION: SUPERVISING,
    A.REFUSE_EXTENSION: SUPERVISING,
    A.ESCALATE: SUPERVISING,
    A.CHANGE_CATEGORY: SUPERVISING,
}

MATRIX = [(action, persona) for action in ALLOWED for persona in PERSONAS]


def test_permission_matrix_covers_every_action():
    assert set(ALLOWED) == set(workflow.TRANSITIONS) == set(SOURCE_STATE)


@pytest.mark.parametrize(("action", "persona"), MATRIX, ids=[f"{a}-{p}" for a, p in MATRIX])
def test_permission_matrix_allows_exactly_the_listed_personas(world, action, persona):
    issue = issue_in(world, SOURCE_STATE[action])
    if action in (A.APPROVE_EXTENSION, A.REFUSE_EXTENSION):
        pending_extension(issue, world)
    user = getattr(world, persona)
    inputs = prepare_for(world, action, issue)
    allowed = persona in ALLOWED[action]

    assert permissions.can_act(user, action, issue) is allowed
    offered = {t.action for t in permissions.available_actions(issue, user)}
    assert (action in offered) is allowed

    before = snapshot(issue)
    if not allowed:
        with pytest.raises(PermissionDenied):
            perform(action, issue, user, inputs)
        assert snapshot(issue) == before
        return
    perform(action, issue, user, inputs)
    [event] = new_events(issue, before)
    assert event.action == action
    assert event.actor == user
    assert event.actor_role == user.membership.role


def test_permission_leader_is_offered_nothing_in_any_state(world):
    for state in Status.values:
        assert permissions.available_actions(issue_in(world, state), world.leader_zone) == []


def test_permission_an_inspector_never_verifies_their_own_fix(world):
    issue = issue_in(world, S.SUBMITTED, last_fix_by=world.inspector_xincheng)
    before = snapshot(issue)
    with pytest.raises(PermissionDenied):
        services.issue_verify_pass(issue=issue, actor=world.inspector_xincheng)
    assert snapshot(issue) == before
    assert not permissions.can_act(world.inspector_xincheng, A.VERIFY_FAIL, issue)
    assert permissions.can_act(world.supervisor_xincheng, A.VERIFY_PASS, issue)


def test_permission_staff_of_the_assigned_organisation_cannot_verify_its_fix(world):
    gus = make_staff("gus", Role.INSPECTOR, districts=[world.district_a], organisation=world.org_x)
    issue = issue_in(world, S.SUBMITTED)
    before = snapshot(issue)
    with pytest.raises(PermissionDenied):
        services.issue_verify_fail(issue=issue, actor=gus, reason="不合格")
    assert snapshot(issue) == before
    # The same inspector may verify the work of another organisation.
    other = issue_in(world, S.SUBMITTED, assigned_organisation=world.org_y)
    assert permissions.can_act(gus, A.VERIFY_PASS, other)


def test_permission_fix_on_the_spot_needs_the_reporter_and_an_allowing_category(world):
    amy = make_staff("amy", Role.INSPECTOR, districts=[world.district_a])
    issue = issue_in(world, S.REPORTED)
    with pytest.raises(PermissionDenied):
        services.issue_fix_on_spot(issue=issue, actor=amy, photos=photos())
    strict = CategoryFactory(on_spot_fix_allowed=False)
    strict_issue = issue_in(world, S.REPORTED, category=strict)
    before = snapshot(strict_issue)
    with pytest.raises(PermissionDenied):
        services.issue_fix_on_spot(
            issue=strict_issue, actor=world.inspector_xincheng, photos=photos()
        )
    assert snapshot(strict_issue) == before


def test_permission_handler_loses_the_issue_when_it_is_reassigned(world):
    issue = issue_in(world, S.ASSIGNED)
    assert permissions.can_act(world.handler_xincheng, A.ACKNOWLEDGE, issue)
    services.issue_reassign(issue=issue, actor=world.supervisor_xincheng, organisation=world.org_y)
    issue.refresh_from_db()
    assert not permissions.can_act(world.handler_xincheng, A.ACKNOWLEDGE, issue)
    assert not permissions.can_view(world.handler_xincheng, issue)
    assert permissions.can_act(world.handler_binhe, A.ACKNOWLEDGE, issue)


def test_permission_superuser_acts_as_admin_and_inactive_staff_as_nobody(world):
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    issue = issue_in(world, S.REPORTED)
    assert policy.role_of(root) == Role.ADMIN
    assert permissions.can_act(root, A.DISPATCH, issue)
    world.supervisor_xincheng.is_active = False
    world.supervisor_xincheng.save()
    assert policy.role_of(world.supervisor_xincheng) is None
    with pytest.raises(PermissionDenied):
        services.issue_reject(issue=issue, actor=world.supervisor_xincheng, reason="x")
    assert policy.role_of(AnonymousUser()) is None
    assert not permissions.can_act(AnonymousUser(), A.DISPATCH, issue)


def test_permission_the_system_may_only_dispatch_and_escalate(world):
    issue = issue_in(world, S.IN_PROGRESS)
    services.require(issue, A.ESCALATE, None)
    with pytest.raises(PermissionDenied):
        services.require(issue, A.PARK, None)


def test_permission_to_report_follows_district_scope(world):
    assert policy.can_report_in(world.inspector_xincheng, world.district_a.pk)
    assert not policy.can_report_in(world.inspector_xincheng, world.district_b.pk)
    assert not policy.can_report_in(world.handler_xincheng, world.district_a.pk)
    assert not policy.can_report_in(world.leader_zone, world.district_a.pk)
    assert policy.can_report_in(world.admin_zone, world.district_b.pk)
    with pytest.raises(PermissionDenied):
        services.issue_create(
            reporter=world.inspector_binhe, category=world.category, community=world.community_a
        )
    assert not Issue.objects.exists()


def test_permission_predicates_run_one_query_per_user_at_most(world, django_assert_num_queries):
    issues = [issue_in(world, S.IN_PROGRESS) for _ in range(5)]
    supervisor_xincheng = (
        type(world.supervisor_xincheng)
        .objects.select_related("membership")
        .get(pk=world.supervisor_xincheng.pk)
    )
    with django_assert_num_queries(1):  # the district ids, then cached on the membership
        for issue in issues:
            permissions.can_view(supervisor_xincheng, issue)
            permissions.can_act(supervisor_xincheng, A.PARK, issue)


# --- visible_to and can_view ------------------------------------------------------------------


def _visibility_world(world) -> list[Issue]:
    """Issues in every combination the scope rules distinguish."""
    return [
        issue_in(world, S.REPORTED),  # district A, unassigned, by inspector_xincheng
        issue_in(world, S.ASSIGNED),  # district A, org X
        issue_in(world, S.IN_PROGRESS, assigned_organisation=world.org_y),  # A, org Y
        issue_in(
            world, S.REPORTED, district=world.district_b, community=world.community_b
        ),  # B, by inspector_xincheng: she keeps seeing her own report
        issue_in(
            world,
            S.SUBMITTED,
            district=world.district_b,
            community=world.community_b,
            assigned_organisation=world.org_y,
            reporter=world.inspector_binhe,
        ),
        issue_in(
            world,
            S.CLOSED,
            district=world.district_b,
            community=world.community_b,
            assigned_organisation=world.org_x,
            reporter=world.inspector_binhe,
        ),  # B, but org X: handler_xincheng sees it by organisation
    ]


def test_permission_visible_to_agrees_with_can_view_for_every_persona(world):
    issues = _visibility_world(world)
    root = UserFactory(username="root", is_superuser=True)
    nobody = UserFactory(username="nobody")
    retired = make_staff("retired", Role.SUPERVISOR, all_districts=True)
    retired.is_active = False
    retired.save()
    # Scopes the personas lack: a handler marked "all districts" (still only their unit's cases),
    # a supervisor of the whole zone, an inspector with an organisation, a leader of one district.
    extra = [
        make_staff("hal", Role.HANDLER, organisation=world.org_y, all_districts=True),
        make_staff("zoe", Role.SUPERVISOR, all_districts=True),
        make_staff("gus", Role.INSPECTOR, districts=[world.district_b], organisation=world.org_x),
        make_staff("lin", Role.LEADER, districts=[world.district_b]),
    ]
    users = [getattr(world, name) for name in PERSONAS]
    users += [*extra, root, nobody, retired, AnonymousUser()]
    for user in users:
        in_sql = set(Issue.objects.visible_to(user).values_list("pk", flat=True))
        in_python = {issue.pk for issue in issues if permissions.can_view(user, issue)}
        assert in_sql == in_python, getattr(user, "username", "anonymous")


def test_permission_district_ids_in_scope_are_the_districts_in_scope(world):
    every = set(District.objects.values_list("pk", flat=True))
    users = [getattr(world, name) for name in PERSONAS]
    users += [
        make_staff("hal", Role.HANDLER, organisation=world.org_y, all_districts=True),
        make_staff("zoe", Role.SUPERVISOR, all_districts=True),
        make_staff("lin", Role.LEADER, districts=[world.district_b]),
        UserFactory(username="root", is_superuser=True),
        UserFactory(username="nobody"),
        AnonymousUser(),
    ]
    for user in users:
        ids = policy.district_ids_in_scope(user)
        as_queryset = set(policy.districts_in_scope(user).values_list("pk", flat=True))
        assert (every if ids is None else ids) == as_queryset, getattr(user, "username", "-")


def test_permission_visibility_matches_the_scope_rules(world):
    reported_a, assigned_x, assigned_y, alice_in_b, carol_y_in_b, closed_x_in_b = _visibility_world(
        world
    )
    everything = set(Issue.objects.all())
    expectations = {
        "inspector_xincheng": {reported_a, assigned_x, assigned_y, alice_in_b},
        "inspector_binhe": {alice_in_b, carol_y_in_b, closed_x_in_b},
        "handler_xincheng": {assigned_x, closed_x_in_b},
        "handler_binhe": {assigned_y, carol_y_in_b},
        "supervisor_xincheng": {reported_a, assigned_x, assigned_y},
        "supervisor_binhe": {alice_in_b, carol_y_in_b, closed_x_in_b},
        "leader_zone": everything,
        "admin_zone": everything,
    }
    for persona, expected in expectations.items():
        user = getattr(world, persona)
        assert set(Issue.objects.visible_to(user)) == expected, persona


def test_permission_membership_district_ids_come_from_a_prefetch_when_there_is_one(
    world, django_assert_num_queries
):
    membership = Membership.objects.prefetch_related("districts").get(
        user=world.supervisor_xincheng
    )
    with django_assert_num_queries(0):
        assert policy.district_ids(membership) == {world.district_a.pk}
