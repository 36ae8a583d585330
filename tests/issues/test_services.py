"""The lifecycle services: deadlines, the clock, idempotent reports, routing, notifications."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone, translation

from districts.models import Membership
from issues import calendar, services
from issues.models import (
    Action,
    CaseCounter,
    Escalation,
    ExtensionRequest,
    Issue,
    IssueEvent,
    Notification,
    Photo,
    Status,
    TimerLight,
)
from tests.factories import (
    CategoryFactory,
    CommunityFactory,
    DistrictFactory,
    InspectionPointFactory,
    OrganisationFactory,
    issue_in,
    make_staff,
)
from tests.issues.lifecycle_support import pending_extension, photos, snapshot

S = Status
A = Action
HOUR = datetime.timedelta(hours=1)
# A Wednesday morning in Tongliao, away from holidays.
START = datetime.datetime(2026, 3, 18, 9, 0, tzinfo=datetime.UTC) - 8 * HOUR


def report(world, **overrides):
    fields = {
        "reporter": world.inspector_xincheng,
        "category": world.category,
        "community": world.community_a,
    }
    fields.update(overrides)
    return services.issue_create(**fields)


def dispatched(world, **overrides):
    issue = report(world, **overrides)
    return services.issue_dispatch(
        issue=issue, actor=world.supervisor_xincheng, organisation=world.org_x
    )


def recipients(issue, action) -> set[str]:
    event = IssueEvent.objects.filter(issue=issue, action=action).latest("id")
    return set(Notification.objects.filter(event=event).values_list("user__username", flat=True))


def field_errors(error: ValidationError) -> set[str]:
    return set(error.value.message_dict)


# --- deadlines and the clock ---------------------------------------------------------------


def test_deadline_is_computed_from_the_category_when_dispatching(world):
    working_days = CategoryFactory(limit_value=3, limit_unit="WD")
    with time_machine.travel(START, tick=False):
        issue = dispatched(world, category=working_days)
    assert issue.clock_started_at == START
    assert issue.deadline == calendar.deadline_for(working_days, START)
    event = issue.events.get(action=A.DISPATCH)
    assert event.new_deadline == issue.deadline
    assert event.data["deadline_source"] == "computed"
    assert event.organisation == world.org_x


def test_deadline_given_when_dispatching_must_lie_ahead(world):
    issue = report(world)
    before = snapshot(issue)
    with pytest.raises(ValidationError) as error:
        services.issue_dispatch(
            issue=issue,
            actor=world.supervisor_xincheng,
            organisation=world.org_x,
            deadline=timezone.now() - HOUR,
        )
    assert field_errors(error) == {"deadline"}
    assert snapshot(issue) == before


def test_deadline_is_recomputed_on_a_category_change_and_the_old_one_logged(world):
    five_hours = CategoryFactory(limit_value=5, limit_unit="H")
    with time_machine.travel(START, tick=False) as traveller:
        issue = dispatched(world)
        old = issue.deadline
        assert old == START + 2 * HOUR
        traveller.shift(HOUR)
        issue = services.issue_change_category(
            issue=issue, actor=world.supervisor_xincheng, category=five_hours
        )
    # Counted from when the clock started, not from the change.
    assert issue.deadline == START + 5 * HOUR
    event = issue.events.get(action=A.CHANGE_CATEGORY)
    assert (event.old_deadline, event.new_deadline) == (old, START + 5 * HOUR)
    assert event.data["old_category"] == world.category.pk
    assert event.from_status == event.to_status == S.ASSIGNED


def test_deadline_category_change_before_dispatch_sets_no_deadline_but_the_severity(world):
    urgent = CategoryFactory(severity="urgent", limit_value=2, limit_unit="H")
    issue = report(world)
    issue = services.issue_change_category(
        issue=issue, actor=world.supervisor_xincheng, category=urgent
    )
    assert issue.deadline is None
    assert issue.severity == "urgent"
    event = issue.events.get(action=A.CHANGE_CATEGORY)
    assert event.old_deadline is None and event.new_deadline is None


def test_deadline_of_an_approved_extension_replaces_the_old_one_in_the_log(world):
    issue = dispatched(world)
    old = issue.deadline
    requested = timezone.now() + datetime.timedelta(days=2)
    extension = services.extension_request(
        issue=issue,
        actor=world.handler_xincheng,
        reason="需要调度吊车",
        requested_deadline=requested,
    )
    assert extension.status == ExtensionRequest.Status.PENDING
    issue = services.extension_approve(
        extension=extension, actor=world.supervisor_xincheng, note="同意"
    )
    assert issue.deadline == requested
    assert issue.extension_count == 1
    event = issue.events.get(action=A.APPROVE_EXTENSION)
    assert (event.old_deadline, event.new_deadline) == (old, requested)
    extension.refresh_from_db()
    assert extension.status == ExtensionRequest.Status.APPROVED
    assert extension.decided_by == world.supervisor_xincheng


def test_deadline_stands_when_an_extension_is_refused(world):
    issue = dispatched(world)
    old = issue.deadline
    extension = services.extension_request(
        issue=issue,
        actor=world.handler_xincheng,
        reason="人手不足",
        requested_deadline=timezone.now() + datetime.timedelta(days=2),
    )
    issue = services.extension_refuse(
        extension=extension, actor=world.supervisor_xincheng, note="请按期完成"
    )
    assert issue.deadline == old
    assert issue.extension_count == 0
    with pytest.raises(ValidationError):
        services.extension_approve(extension=extension, actor=world.supervisor_xincheng)


def test_deadline_extension_requests_are_checked(world):
    issue = dispatched(world)
    with pytest.raises(ValidationError) as error:
        services.extension_request(
            issue=issue,
            actor=world.handler_xincheng,
            reason="x",
            requested_deadline=issue.deadline - datetime.timedelta(minutes=1),
        )
    assert field_errors(error) == {"requested_deadline"}
    with pytest.raises(ValidationError) as error:
        services.extension_request(
            issue=issue, actor=world.handler_xincheng, reason=" ", requested_deadline=None
        )
    assert field_errors(error) == {"reason", "requested_deadline"}
    later = timezone.now() + datetime.timedelta(days=2)
    services.extension_request(
        issue=issue, actor=world.handler_xincheng, reason="x", requested_deadline=later
    )
    before = snapshot(issue)
    with pytest.raises(ValidationError):
        services.extension_request(
            issue=issue, actor=world.handler_xincheng, reason="again", requested_deadline=later
        )
    assert snapshot(issue) == before


def test_deadline_clock_stops_while_the_issue_is_parked(world):
    with time_machine.travel(START, tick=False) as traveller:
        issue = dispatched(world)
        services.issue_acknowledge(issue=issue, actor=world.handler_xincheng)
        traveller.shift(HOUR)
        issue = services.issue_park(
            issue=issue,
            actor=world.supervisor_xincheng,
            reason="等待管线迁改",
            review_date=timezone.localdate() + datetime.timedelta(days=3),
        )
        assert issue.timer_light() is None  # no clock runs while parked
        traveller.shift(10 * HOUR)
        issue = services.issue_resume(issue=issue, actor=world.supervisor_xincheng)
        # Two hours allowed, one used before parking: half the time is left.
        assert issue.deadline == START + 12 * HOUR
        assert issue.elapsed_fraction() == pytest.approx(0.5)
        assert issue.timer_light() == TimerLight.GREEN
        assert not issue.is_overdue()
    event = issue.events.get(action=A.RESUME)
    assert (event.old_deadline, event.new_deadline) == (START + 2 * HOUR, START + 12 * HOUR)
    assert event.data["parked_seconds"] == 10 * 3600
    assert issue.status == S.IN_PROGRESS


def test_deadline_park_needs_a_future_review_date(world):
    issue = dispatched(world)
    before = snapshot(issue)
    with pytest.raises(ValidationError) as error:
        services.issue_park(
            issue=issue,
            actor=world.supervisor_xincheng,
            reason="x",
            review_date=timezone.localdate(),
        )
    assert field_errors(error) == {"review_date"}
    assert snapshot(issue) == before


def test_deadline_reopen_starts_a_new_clock(world):
    with time_machine.travel(START, tick=False) as traveller:
        issue = issue_in(world, S.CLOSED)
        traveller.shift(48 * HOUR)
        issue = services.issue_reopen(issue=issue, actor=world.supervisor_xincheng, note="复发")
    assert issue.status == S.ASSIGNED
    assert issue.clock_started_at == START + 48 * HOUR
    assert issue.deadline == START + 50 * HOUR
    assert issue.closed_at is None
    assert issue.events.get(action=A.REOPEN).new_deadline == issue.deadline


def test_deadline_reassign_starts_the_new_organisations_clock(world):
    with time_machine.travel(START, tick=False) as traveller:
        issue = dispatched(world)
        traveller.shift(HOUR)
        issue = services.issue_reassign(
            issue=issue, actor=world.supervisor_xincheng, organisation=world.org_y
        )
    assert issue.clock_started_at == START + HOUR
    assert issue.deadline == START + 3 * HOUR
    event = issue.events.get(action=A.REASSIGN)
    assert (event.old_deadline, event.new_deadline) == (START + 2 * HOUR, START + 3 * HOUR)
    assert event.organisation == world.org_y
    assert event.data["from_organisation"] == world.org_x.pk


# --- reports -------------------------------------------------------------------------------


def test_report_takes_district_and_community_from_the_point(world):
    issue = report(
        world,
        community=None,
        point=world.point_a,
        latitude=43.6512345,
        longitude=122.2512345,
        accuracy_m=8.5,
        address="水域蓝湾早夜市东口",
        photos=photos(2),
    )
    assert (issue.district, issue.community, issue.point) == (
        world.district_a,
        world.community_a,
        world.point_a,
    )
    assert issue.severity == world.category.severity
    assert issue.latitude == Decimal("43.651235")
    assert issue.location_accuracy_m == 8.5
    event = issue.events.get()
    assert (event.action, event.from_status, event.to_status) == (A.REPORT, "", S.REPORTED)
    assert event.actor_role == "inspector"
    assert list(event.photos.values_list("kind", flat=True)) == [Photo.Kind.BEFORE] * 2


def test_report_inputs_are_checked_with_field_messages(world):
    with pytest.raises(ValidationError) as error:
        report(world, community=None)
    assert field_errors(error) == {"community"}
    with pytest.raises(ValidationError) as error:
        report(world, community=world.community_b, point=world.point_a)
    assert field_errors(error) == {"community"}
    with pytest.raises(ValidationError) as error:
        report(world, latitude=43.6)
    assert field_errors(error) == {"latitude"}
    retired = CategoryFactory(is_active=False)
    with pytest.raises(ValidationError) as error:
        report(world, category=retired)
    assert field_errors(error) == {"category"}
    assert not Issue.objects.exists()


def test_report_case_numbers_count_per_zone_and_year(world):
    first = report(world)
    second = report(world)
    year = timezone.localdate().year
    assert (first.case_number, second.case_number) == (f"{year}-000001", f"{year}-000002")
    assert first.year == year
    other_zone_district = DistrictFactory(zone__code="OTHER", zone__name="另一开发区")
    elsewhere = report(
        world,
        reporter=world.admin_zone,
        community=CommunityFactory(district=other_zone_district),
    )
    assert elsewhere.case_number == f"{year}-000001"
    assert CaseCounter.objects.count() == 2


def test_report_numbering_starts_after_numbers_already_present(world):
    year = timezone.localdate().year
    issue_in(world, S.CLOSED, case_number=f"{year}-000041", year=year)
    assert report(world).case_number == f"{year}-000042"


def test_report_with_the_same_client_token_returns_the_first_issue(world):
    token = str(uuid.uuid4())
    first = report(world, client_token=token, photos=photos())
    again = report(world, client_token=token, photos=photos())
    assert again.pk == first.pk
    assert Issue.objects.count() == 1
    assert IssueEvent.objects.count() == 1
    assert Photo.objects.count() == 1
    with pytest.raises(ValidationError):
        report(world, reporter=world.supervisor_xincheng, client_token=token)


def test_report_is_dispatched_automatically_when_the_category_says_so(world):
    world.category.auto_dispatch = True
    world.category.save()
    issue = report(world)
    assert issue.status == S.ASSIGNED
    assert issue.assigned_organisation == world.org_x
    report_event, dispatch_event = issue.events.all()
    assert report_event.action == A.REPORT
    assert dispatch_event.action == A.DISPATCH
    assert dispatch_event.actor is None
    assert dispatch_event.actor_role == "system"
    assert dispatch_event.data["automatic"] is True
    assert dispatch_event.data["routing"]["steps"]
    assert recipients(issue, A.DISPATCH) == {"handler_xincheng"}


def test_report_stays_for_a_supervisor_when_routing_finds_no_owner(world):
    world.category.auto_dispatch = True
    world.category.save()
    nowhere = CommunityFactory(district=DistrictFactory(zone=world.zone))
    issue = report(world, reporter=world.admin_zone, community=nowhere)
    assert issue.status == Status.REPORTED
    assert list(issue.events.values_list("action", flat=True)) == [A.REPORT]


# --- the organisation's work and verification ---------------------------------------------


def test_rework_counts_every_failed_verification(world):
    issue = dispatched(world)
    services.issue_acknowledge(issue=issue, actor=world.handler_xincheng)
    for round_number in (1, 2):
        services.issue_submit_fix(issue=issue, actor=world.handler_xincheng, photos=photos())
        issue = services.issue_verify_fail(
            issue=issue, actor=world.inspector_xincheng, reason="未清理干净"
        )
        assert issue.rework_count == round_number
        assert issue.status == S.IN_PROGRESS
    services.issue_submit_fix(issue=issue, actor=world.handler_xincheng, photos=photos())
    issue = services.issue_verify_pass(
        issue=issue, actor=world.supervisor_xincheng, photos=photos()
    )
    assert issue.rework_count == 2
    assert issue.status == S.CLOSED
    assert issue.closed_at == issue.verified_at
    assert issue.first_submitted_at < issue.submitted_at
    assert issue.last_fix_by == world.handler_xincheng


def test_submit_fix_needs_after_photos_only_where_the_category_asks(world):
    issue = issue_in(world, S.IN_PROGRESS)
    before = snapshot(issue)
    with pytest.raises(ValidationError) as error:
        services.issue_submit_fix(issue=issue, actor=world.handler_xincheng, photos=[])
    assert field_errors(error) == {"photos"}
    assert snapshot(issue) == before

    issue = services.issue_submit_fix(issue=issue, actor=world.handler_xincheng, photos=photos(2))
    event = issue.events.get(action=A.SUBMIT_FIX)
    assert list(event.photos.values_list("kind", flat=True)) == [Photo.Kind.AFTER] * 2

    relaxed = CategoryFactory(after_photo_required=False, on_spot_fix_allowed=True)
    quick = issue_in(world, S.REPORTED, category=relaxed)
    assert services.issue_fix_on_spot(
        issue=quick, actor=world.inspector_xincheng, photos=[]
    ).fixed_on_spot


def test_return_hands_the_issue_back_unassigned_and_withdraws_a_waiting_extension(world):
    issue = issue_in(world, S.IN_PROGRESS)
    extension = pending_extension(issue, world)
    issue = services.issue_return(
        issue=issue, actor=world.handler_xincheng, reason="属于住建局职责"
    )
    assert issue.status == Status.REPORTED
    assert issue.assigned_organisation is None and issue.deadline is None
    event = issue.events.get(action=A.RETURN)
    assert event.organisation == world.org_x
    assert event.data["withdrawn_extension"] == extension.pk
    extension.refresh_from_db()
    assert extension.status == ExtensionRequest.Status.REFUSED


def test_organisations_are_checked_when_dispatching_and_reassigning(world):
    closed_down = OrganisationFactory(is_active=False)
    issue = report(world)
    with pytest.raises(ValidationError) as error:
        services.issue_dispatch(
            issue=issue, actor=world.supervisor_xincheng, organisation=closed_down
        )
    assert field_errors(error) == {"organisation"}
    with pytest.raises(ValidationError) as error:
        services.issue_dispatch(
            issue=issue,
            actor=world.supervisor_xincheng,
            organisation=world.org_x,
            assigned_person=world.handler_binhe,
        )
    assert field_errors(error) == {"assigned_person"}
    issue = services.issue_dispatch(
        issue=issue,
        actor=world.supervisor_xincheng,
        organisation=world.org_x,
        assigned_person=world.handler_xincheng,
    )
    with pytest.raises(ValidationError) as error:
        services.issue_reassign(
            issue=issue, actor=world.supervisor_xincheng, organisation=world.org_x
        )
    assert field_errors(error) == {"organisation"}


def test_reopen_of_an_issue_fixed_on_the_spot_needs_an_organisation(world):
    issue = report(world)
    issue = services.issue_fix_on_spot(issue=issue, actor=world.inspector_xincheng, photos=photos())
    before = snapshot(issue)
    with pytest.raises(ValidationError) as error:
        services.issue_reopen(issue=issue, actor=world.supervisor_xincheng)
    assert field_errors(error) == {"organisation"}
    assert snapshot(issue) == before


def test_mark_duplicate_needs_another_visible_original(world):
    issue = report(world)
    with pytest.raises(ValidationError) as error:
        services.issue_mark_duplicate(
            issue=issue, actor=world.supervisor_xincheng, duplicate_of=issue
        )
    assert field_errors(error) == {"duplicate_of"}
    hidden = issue_in(world, S.ASSIGNED, district=world.district_b, community=world.community_b)
    with pytest.raises(ValidationError) as error:
        services.issue_mark_duplicate(
            issue=issue, actor=world.supervisor_xincheng, duplicate_of=hidden
        )
    assert field_errors(error) == {"duplicate_of"}
    original = issue_in(world, S.ASSIGNED)
    copy = issue_in(world, S.REJECTED, duplicate_of=original)
    with pytest.raises(ValidationError) as error:
        services.issue_mark_duplicate(
            issue=issue, actor=world.supervisor_xincheng, duplicate_of=copy
        )
    assert field_errors(error) == {"duplicate_of"}
    issue = services.issue_mark_duplicate(
        issue=issue, actor=world.supervisor_xincheng, duplicate_of=original
    )
    assert issue.duplicate_of == original
    assert issue.events.get(action=A.MARK_DUPLICATE).data["duplicate_of"] == original.pk


def test_escalation_only_goes_up_and_the_job_escalates_as_the_system(world):
    issue = issue_in(world, S.IN_PROGRESS)
    issue = services.issue_escalate(issue=issue, actor=None, level=1, source="job")
    assert issue.escalation_level == 1
    with pytest.raises(ValidationError) as error:
        services.issue_escalate(issue=issue, actor=None, level=1, source="job")
    assert field_errors(error) == {"level"}
    issue = services.issue_escalate(
        issue=issue, actor=world.supervisor_xincheng, level=3, note="挂牌督办"
    )
    assert issue.escalation_level == 3
    assert list(Escalation.objects.filter(issue=issue).values_list("level", "source")) == [
        (3, "manual"),
        (1, "job"),
    ]
    assert recipients(issue, A.ESCALATE) == {
        "handler_xincheng",
        "admin_zone",
    }  # supervisor_xincheng acted; the zone office hears


def test_escalation_by_the_job_and_by_hand_write_the_same_event(world):
    """The batch twin and the single service share one writer: same row, same payload."""
    by_job = issue_in(world, S.IN_PROGRESS)
    by_hand = issue_in(world, S.IN_PROGRESS)

    raised = services.issues_escalate_for_reminders(
        escalations=[
            services.ReminderEscalation(
                issue_id=by_job.pk, level=2, deadline=by_job.deadline, reminder_id=41
            )
        ],
        now=timezone.now(),
    )
    services.issue_escalate(issue=by_hand, actor=None, level=2, source="job")

    assert raised == 1
    job_event = by_job.events.get(action=A.ESCALATE)
    hand_event = by_hand.events.get(action=A.ESCALATE)
    assert job_event.data == {
        "level": 2,
        "previous_level": 0,
        "source": "job",
        "escalation": Escalation.objects.get(issue=by_job).pk,
        "reminder": 41,
    }
    assert {k: v for k, v in job_event.data.items() if k not in ("escalation", "reminder")} == {
        k: v for k, v in hand_event.data.items() if k != "escalation"
    }
    for event, issue in ((job_event, by_job), (hand_event, by_hand)):
        assert (event.actor_id, event.actor_role) == (None, "system")
        assert (event.from_status, event.to_status) == (S.IN_PROGRESS, S.IN_PROGRESS)
        assert event.organisation_id == issue.assigned_organisation_id
        issue.refresh_from_db()
        assert issue.escalation_level == 2
        escalation = Escalation.objects.get(issue=issue)
        assert (escalation.level, escalation.source, escalation.deadline) == (
            2,
            "job",
            issue.deadline,
        )


def test_escalation_batch_only_raises_once_per_level_and_deadline_and_never_lowers(world):
    issue = issue_in(world, S.IN_PROGRESS)
    wanted = services.ReminderEscalation(
        issue_id=issue.pk, level=2, deadline=issue.deadline, reminder_id=7
    )
    assert services.issues_escalate_for_reminders(escalations=[wanted], now=timezone.now()) == 1
    # Twice, lower, on another deadline, or after a reset by hand: nothing more is written.
    lower = wanted._replace(level=1)
    moved = wanted._replace(level=3, deadline=issue.deadline + datetime.timedelta(days=1))
    assert (
        services.issues_escalate_for_reminders(
            escalations=[wanted, lower, moved], now=timezone.now()
        )
        == 0
    )
    Issue.objects.filter(pk=issue.pk).update(escalation_level=0)
    assert services.issues_escalate_for_reminders(escalations=[wanted], now=timezone.now()) == 0
    assert Escalation.objects.filter(issue=issue).count() == 1
    assert issue.events.filter(action=A.ESCALATE).count() == 1


def test_escalation_batch_leaves_cases_whose_clock_stopped(world):
    submitted = issue_in(world, S.SUBMITTED)
    wanted = services.ReminderEscalation(
        issue_id=submitted.pk, level=1, deadline=submitted.deadline, reminder_id=1
    )
    assert services.issues_escalate_for_reminders(escalations=[wanted], now=timezone.now()) == 0
    assert not Escalation.objects.filter(issue=submitted).exists()


def test_escalation_writer_refuses_a_raise_that_does_not_go_up(world):
    issue = issue_in(world, S.IN_PROGRESS)
    flat = services.escalations.EscalationRaise(
        issue_id=issue.pk,
        status=issue.status,
        previous_level=2,
        level=2,
        deadline=issue.deadline,
        organisation_id=issue.assigned_organisation_id,
    )
    with pytest.raises(ValueError, match="must go up"):
        services.escalations_write(raises=[flat], source="job", actor=None, now=timezone.now())
    assert not Escalation.objects.filter(issue=issue).exists()


# --- notifications -------------------------------------------------------------------------


def test_notifications_reach_the_natural_recipients_and_never_the_actor(world):
    other_supervisor = make_staff("sam", "supervisor", all_districts=True)
    issue = dispatched(world)
    assert recipients(issue, A.DISPATCH) == {"handler_xincheng"}
    services.issue_acknowledge(issue=issue, actor=world.handler_xincheng)
    assert recipients(issue, A.ACKNOWLEDGE) == set()
    services.extension_request(
        issue=issue,
        actor=world.handler_xincheng,
        reason="x",
        requested_deadline=timezone.now() + datetime.timedelta(days=1),
    )
    assert recipients(issue, A.REQUEST_EXTENSION) == {
        "supervisor_xincheng",
        other_supervisor.username,
    }
    services.extension_refuse(
        extension=issue.extension_requests.get(), actor=world.supervisor_xincheng
    )
    assert recipients(issue, A.REFUSE_EXTENSION) == {"handler_xincheng"}
    services.issue_submit_fix(issue=issue, actor=world.handler_xincheng, photos=photos())
    assert recipients(issue, A.SUBMIT_FIX) == {"supervisor_xincheng", "sam"}
    services.issue_verify_fail(issue=issue, actor=world.inspector_xincheng, reason="x")
    assert recipients(issue, A.VERIFY_FAIL) == {"handler_xincheng"}
    services.issue_submit_fix(issue=issue, actor=world.handler_xincheng, photos=photos())
    services.issue_verify_pass(issue=issue, actor=world.supervisor_xincheng)
    assert recipients(issue, A.VERIFY_PASS) == {"inspector_xincheng"}

    own = report(world, reporter=world.supervisor_xincheng)
    services.issue_reject(issue=own, actor=world.supervisor_xincheng, reason="录入错误")
    assert recipients(own, A.REJECT) == set()


def test_notifications_name_the_case_and_the_organisation(world):
    Membership.objects.filter(user=world.handler_xincheng).update(language="en")
    issue = dispatched(world)
    notification = Notification.objects.get(issue=issue, user=world.handler_xincheng)
    assert notification.title == f"New case {issue.case_number} for {world.org_x.display_name}"
    assert notification.kind == A.DISPATCH
    assert "Deadline" in notification.body


def test_notifications_and_events_roll_back_with_a_failed_transaction(
    world, django_capture_on_commit_callbacks
):
    issue = report(world)
    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        services.issue_dispatch(
            issue=issue, actor=world.supervisor_xincheng, organisation=world.org_x
        )
        raise RuntimeError("the view failed after the service")
    issue.refresh_from_db()
    assert issue.status == Status.REPORTED
    assert not Notification.objects.exists()
    assert list(issue.events.values_list("action", flat=True)) == [A.REPORT]
    # Nothing leaves the database from a service: no callback was queued for after commit.
    assert callbacks == []


def test_point_of_another_community_is_refused(world):
    other_point = InspectionPointFactory(community=world.community_b)
    with pytest.raises(ValidationError):
        report(world, community=world.community_a, point=other_point)


def test_notifications_are_written_in_each_recipients_language(world):
    english_handler = make_staff("hank_en", "handler", organisation=world.org_x)
    Membership.objects.filter(user=english_handler).update(language="en")
    issue = services.issue_create(
        reporter=world.inspector_xincheng, category=world.category, community=world.community_a
    )
    services.issue_dispatch(issue=issue, actor=world.supervisor_xincheng, organisation=world.org_x)

    english = Notification.objects.get(user=english_handler)
    chinese = Notification.objects.get(user=world.handler_xincheng)
    assert english.title.startswith("New case")
    assert issue.case_number in chinese.title
    assert not chinese.title.startswith("New case")


@pytest.mark.parametrize(
    ("offset", "message"),
    [
        (datetime.timedelta(hours=-1), "must be in the future"),
        (datetime.timedelta(days=30), "too far ahead"),
        (datetime.timedelta(days=400), "too far ahead"),
    ],
)
def test_fieldwalk_deadlines_within_reason_on_dispatch_and_extension(world, offset, message):
    # The world's category allows 2 hours: ten times that is under the 3-day floor.
    issue = report(world)
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        services.issue_dispatch(
            issue=issue,
            actor=world.supervisor_xincheng,
            organisation=world.org_x,
            deadline=timezone.now() + offset,
        )
    with translation.override("en"):
        assert message in " ".join(refused.value.messages)
    issue.refresh_from_db()
    assert issue.status == Status.REPORTED
    issue = dispatched(world)
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        services.extension_request(
            issue=issue,
            actor=world.handler_xincheng,
            reason="等配件",
            requested_deadline=timezone.now() + offset,
        )
    with translation.override("en"):
        assert message in " ".join(refused.value.messages)
    assert not issue.extension_requests.exists()


def test_fieldwalk_a_deadline_within_three_days_is_accepted_for_a_short_category(world):
    issue = report(world)
    deadline = timezone.now() + datetime.timedelta(days=2, hours=20)
    issue = services.issue_dispatch(
        issue=issue, actor=world.supervisor_xincheng, organisation=world.org_x, deadline=deadline
    )
    assert issue.deadline == deadline
