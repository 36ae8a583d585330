"""`manage.py load_demo` builds the seed's zone at any moment; a second run duplicates nothing."""

from __future__ import annotations

import datetime
import io
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from devtools.demo.data import ASSIGNMENTS_FROM, CASES
from devtools.demo.timeline import Planner, WorkClock, deadline_bound
from devtools.management.commands.load_demo import CaseRunner, case_token
from devtools.management.commands.load_demo import Command as LoadDemo
from districts import coverage
from districts.models import (
    AuditEntry,
    Category,
    Community,
    District,
    InspectionPoint,
    Membership,
    Organisation,
    OwnerKind,
    Responsibility,
    Role,
)
from districts.routing import route
from issues import calendar
from issues.models import (
    Action,
    Escalation,
    ExtensionRequest,
    Issue,
    IssueEvent,
    Notification,
    Photo,
    Status,
    TimerLight,
)
from issues.services import core as services_core

User = get_user_model()
COUNTED = (
    District,
    Community,
    InspectionPoint,
    Organisation,
    Responsibility,
    User,
    Membership,
    Issue,
    IssueEvent,
    Photo,
    ExtensionRequest,
    Escalation,
    Notification,
    AuditEntry,
)


def load_demo(*args: str) -> str:
    out = io.StringIO()
    call_command("load_demo", "--force", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def counts() -> dict[str, int]:
    return {model._meta.label: model._default_manager.count() for model in COUNTED}


def test_demo_builds_the_places_of_the_seed_article(db):
    load_demo("--no-issues")

    assert set(District.objects.values_list("name", flat=True)) >= {"新城街道", "滨河街道"}
    biguiyuan = Community.objects.get(name="碧桂园社区")
    assert (biguiyuan.district.name, biguiyuan.households, biguiyuan.residents) == (
        "滨河街道",
        4904,
        12600,
    )
    assert Community.objects.get(name="水域蓝湾社区").district.name == "新城街道"
    per_district = Community.objects.values("district").annotate(n=Count("pk"))
    assert all(3 <= row["n"] <= 4 for row in per_district)
    markets = InspectionPoint.objects.filter(point_type__code="NIGHT_MARKET")
    assert markets.count() == 9
    names = set(InspectionPoint.objects.values_list("name", flat=True))
    for name in ("哲理木车站家属楼", "通北库家属区", "农业局家属楼", "实验初中教师楼"):
        assert name in names
    for market in ("水域蓝湾", "河畔花园", "那达慕风情园", "佳家花园"):
        assert any(n.startswith(market) for n in markets.values_list("name", flat=True))
    for point in InspectionPoint.objects.all():
        assert 43.62 <= float(point.latitude) <= 43.66, point.name
        assert 122.22 <= float(point.longitude) <= 122.30, point.name


def test_demo_organisations_and_all_three_kinds_of_responsibility(db):
    load_demo("--no-issues")

    groups = Organisation.objects.filter(kind=Organisation.Kind.SUPERVISION_GROUP)
    assert groups.count() == 5
    paired = Responsibility.objects.get(
        kind=OwnerKind.PAIRED, organisation__name="开发区工业和信息化局"
    )
    assert (paired.community.name, paired.lead_person) == ("水域蓝湾社区", "梁万明")
    assert set(Responsibility.objects.values_list("kind", flat=True)) == set(OwnerKind.values)
    decision = route(
        category=Category.objects.get(code="CAR_ILLEGAL_PARK"),
        community=Community.objects.get(code="biguiyuan"),
    )
    assert decision.organisation.name == "开发区交警大队"


def test_demo_leaves_gaps_for_the_coverage_page_to_find(db):
    load_demo("--no-issues")

    report = coverage.coverage_report()

    assert [gap.category.code for gap in report.categories] == ["MANHOLE"]
    assert [o.code for o in report.organisations] == ["paishui"]


def test_demo_has_an_account_for_every_role_with_the_demo_password(db):
    output = load_demo("--no-issues")

    roles = set(Membership.objects.values_list("role", flat=True))
    assert roles == set(Role.values)
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    for username in ("xunchayuan", "dudao", "lingdao", "liangwanming", "jbr_jiaojing"):
        assert User.objects.get(username=username).check_password("demo12345")
        assert username in output
    inspector = User.objects.get(username="xunchayuan").membership
    assert [d.name for d in inspector.districts.all()] == ["新城街道"]
    street_handlers = Membership.objects.filter(
        role=Role.HANDLER, organisation__kind=Organisation.Kind.STREET_OFFICE
    )
    assert street_handlers.count() == 2


def test_demo_makes_assignments_and_accounts_through_the_services_with_audit_rows(db):
    load_demo("--no-issues")

    assignments = Responsibility.objects.all()
    audited = AuditEntry.objects.filter(action="responsibility_assign")
    assert assignments.count() == audited.count() > 30
    assert set(audited.values_list("object_id", flat=True)) == {str(r.pk) for r in assignments}
    # Made by the zone office on the day they start.
    assert {r.created_at.date() for r in assignments} == {ASSIGNMENTS_FROM}
    demo_users = User.objects.filter(membership__isnull=False)
    created = AuditEntry.objects.filter(action="staff_create")
    assert created.count() == demo_users.exclude(is_superuser=True).count()
    assert AuditEntry.objects.filter(
        action="staff_update", object_id=str(User.objects.get(username="admin").pk)
    ).exists()


@pytest.mark.django_db
def test_demo_refuses_to_run_with_debug_off_unless_forced(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="known password"):
        call_command("load_demo", "--no-issues", stdout=io.StringIO())
    assert not User.objects.filter(username="admin").exists()


# --- the demo at any moment (issue 9) ---------------------------------------------------------

SHANGHAI = ZoneInfo("Asia/Shanghai")
# An ordinary Monday: its early hours count back over the weekend.
DAY = datetime.date(2026, 3, 16)
SPECIAL_MOMENTS = {
    "saturday-night": datetime.datetime(2026, 3, 14, 23, 30, tzinfo=SHANGHAI),
    # The last day of the nine-day Spring Festival holiday, and National Day.
    "spring-festival": datetime.datetime(2026, 2, 23, 19, 30, tzinfo=SHANGHAI),
    "national-day": datetime.datetime(2026, 10, 5, 10, 30, tzinfo=SHANGHAI),
    # Saturdays worked to make up for the Spring Festival (调休), before and after it.
    "make-up-day": datetime.datetime(2026, 2, 28, 10, 30, tzinfo=SHANGHAI),
    "make-up-day-evening": datetime.datetime(2026, 2, 14, 18, 30, tzinfo=SHANGHAI),
}
MOMENTS = {
    **{
        f"{hour:02d}:30": datetime.datetime.combine(DAY, datetime.time(hour, 30), SHANGHAI)
        for hour in range(24)
    },
    **SPECIAL_MOMENTS,
}
SET_DEADLINE = (Action.DISPATCH, Action.REASSIGN, Action.REOPEN)


def assert_demo_invariants(now: datetime.datetime) -> None:
    """What the loaded demo promises whenever it was loaded (see devtools/demo/timeline.py)."""
    clock = WorkClock(now)
    issues = list(
        Issue.objects.filter(client_token__in=[case_token(case.key) for case in CASES])
        .select_related("category", "duplicate_of")
        .prefetch_related("events__photos", "photos", "extension_requests")
    )
    assert len(issues) == len(CASES)

    # Every state, timer light and side record is there.
    assert set(Status.values) <= {issue.status for issue in issues}
    lights = {issue.timer_light(now) for issue in issues}
    assert {TimerLight.GREEN, TimerLight.YELLOW, TimerLight.RED} <= lights
    assert any(issue.rework_count for issue in issues if issue.status == Status.IN_PROGRESS)
    assert any(issue.fixed_on_spot for issue in issues)
    assert {e.level for e in Escalation.objects.all()} == {1, 2, 3}
    extensions = ExtensionRequest.objects.select_related("issue__category")
    assert {ExtensionRequest.Status.PENDING, ExtensionRequest.Status.APPROVED} <= {
        e.status for e in extensions
    }

    # Case numbers follow the reports, and a case referring to another comes after it.
    ordered = sorted(issues, key=lambda issue: (issue.year, issue.case_number))
    assert [i.reported_at for i in ordered] == sorted(i.reported_at for i in issues)
    duplicates = [issue for issue in issues if issue.duplicate_of_id]
    assert duplicates
    for issue in duplicates:
        original = issue.duplicate_of
        assert original.client_token in {case_token(case.key) for case in CASES}
        assert original.reported_at < issue.reported_at
        assert (original.year, original.case_number) < (issue.year, issue.case_number)

    for issue in issues:
        events = sorted(issue.events.all(), key=lambda e: (e.created_at, e.pk))
        assert events[0].action == Action.REPORT
        assert events[0].created_at == issue.reported_at
        assert [e.pk for e in events] == sorted(e.pk for e in events)
        assert events[-1].to_status == issue.status
        assert any(photo.kind == Photo.Kind.BEFORE for photo in issue.photos.all())
        for photo in issue.photos.all():
            assert photo.taken_at is not None and photo.gps_latitude is not None
        for event in events:
            assert event.created_at <= now
            # People report and act in office hours on working days.
            if event.actor_id is not None:
                assert clock.is_working_moment(event.created_at), (issue, event.action)
            if event.action == Action.SUBMIT_FIX:
                assert any(p.kind == Photo.Kind.AFTER for p in event.photos.all())
            # Deadlines are the category's, on the work calendar, never past nor unreasonable.
            if event.action in SET_DEADLINE:
                assert event.data["deadline_source"] == "computed"
                assert event.new_deadline == calendar.deadline_for(issue.category, event.created_at)
    for extension in extensions:
        issue = extension.issue
        requested = extension.requested_deadline
        assert requested > extension.created_at
        assert clock.is_working_moment(requested)
        assert requested <= deadline_bound(
            issue.category, issue.clock_started_at, work_calendar=clock.work_calendar
        )
    for issue in issues:
        if issue.deadline is not None and issue.clock_started_at is not None:
            assert issue.clock_started_at < issue.deadline
            assert issue.deadline <= deadline_bound(
                issue.category, issue.clock_started_at, work_calendar=clock.work_calendar
            )


@pytest.fixture
def quick_replay(monkeypatch):
    """Draw and prepare each demo photo once for all the loads of a test, and skip notifying.

    The photos' own path (drawing, EXIF, re-encoding) and the notifications are tested with the
    full loads above and with the services; the hourly loads are about moments, and a hundred
    photos and notifications per load would make thirty loads slow.
    """
    prepared: dict = {}
    original = CaseRunner.photos

    def photos(self, count, kind, moment, index):
        key = (self.case.key, count, kind, index)
        if key not in prepared:
            prepared[key] = original(self, count, kind, moment, index)
        return prepared[key]

    monkeypatch.setattr(CaseRunner, "photos", photos)
    monkeypatch.setattr(services_core.notifications, "notify_event", lambda event: [])


def demo_plans(now: datetime.datetime) -> list:
    codes = {case.category for case in CASES}
    categories = {c.code: c for c in Category.objects.filter(code__in=codes)}
    return Planner(now, categories).plan(CASES)


def signature(plans: list) -> tuple:
    """What a load writes depends only on this: the moment of every report and step."""
    return tuple(
        (
            plan.case.key,
            plan.reported_at,
            tuple((step.at, step.requested_deadline) for step in plan.steps),
        )
        for plan in plans
    )


def assert_loaded_as_planned(plans: list) -> None:
    """The loader replayed every case at the moments the planner gave it."""
    issues = {
        issue.client_token: issue
        for issue in Issue.objects.filter(
            client_token__in=[case_token(case.key) for case in CASES]
        ).prefetch_related("events", "extension_requests")
    }
    for plan in plans:
        issue = issues[case_token(plan.case.key)]
        events = sorted(issue.events.all(), key=lambda e: (e.created_at, e.pk))
        assert issue.reported_at == plan.reported_at
        assert [e.created_at for e in events[1:]] == [step.at for step in plan.steps]
        assert issue.status == plan.status
        requested = {e.requested_deadline for e in issue.extension_requests.all()}
        assert requested == {s.requested_deadline for s in plan.steps if s.requested_deadline}


@pytest.mark.slow
def test_demo_at_any_hour_and_on_weekends_holidays_and_make_up_days(
    db, settings, tmp_path, quick_replay, subtests
):
    settings.MEDIA_ROOT = str(tmp_path)
    calendar.calendar_days_sync(years=[2026])  # earlier tests may have flushed the calendar
    load_demo("--no-issues")  # places and accounts once; each moment replays the cases
    command = LoadDemo(stdout=io.StringIO(), stderr=io.StringIO())
    # Moments whose plans agree load the same rows (asserted below): load those once.
    groups: dict[tuple, list[tuple[str, datetime.datetime]]] = {}
    plans_of: dict[tuple, list] = {}
    for name, moment in MOMENTS.items():
        with time_machine.travel(moment, tick=False):
            plans = demo_plans(timezone.now())
        groups.setdefault(signature(plans), []).append((name, moment))
        plans_of.setdefault(signature(plans), plans)
    assert len(groups) > len(MOMENTS) / 2  # the plans do follow the clock
    for key, moments in groups.items():
        first = moments[0][1]
        # Each load in a savepoint of its own, rolled back: the next starts from the places.
        with time_machine.travel(first, tick=False), transaction.atomic():
            with subtests.test(msg=f"load at {', '.join(name for name, _ in moments)}"):
                assert command.load_cases(now=timezone.now()) == len(CASES)
                assert_loaded_as_planned(plans_of[key])
                for name, moment in moments:
                    with subtests.test(msg=name):
                        assert_demo_invariants(moment)
            transaction.set_rollback(True)


def test_demo_plan_at_any_hour_through_the_spring_festival(db, subtests):
    """Every seventh hour from the week before the nine-day holiday to the week after it."""
    calendar.calendar_days_sync(years=[2026])
    start = datetime.datetime(2026, 2, 11, 0, 15, tzinfo=SHANGHAI)
    for offset in range(0, 16 * 24, 7):
        now = start + datetime.timedelta(hours=offset)
        plans = demo_plans(now)
        clock = WorkClock(now)
        with subtests.test(msg=now.isoformat()):
            assert {p.light for p in plans} >= {
                TimerLight.GREEN,
                TimerLight.YELLOW,
                TimerLight.RED,
            }
            for plan in plans:
                assert clock.is_working_moment(plan.reported_at)
                for step in plan.steps:
                    assert clock.is_working_moment(step.at) and step.at <= now


@pytest.mark.slow
def test_demo_runs_twice_without_duplicating_anything(db):
    calendar.calendar_days_sync(years=[2026])
    # The evening the demo used to fail at (issue 9), then again three hours later.
    with time_machine.travel(SPECIAL_MOMENTS["make-up-day-evening"], tick=False) as traveller:
        load_demo()
        first = counts()
        traveller.shift(datetime.timedelta(hours=3))
        output = load_demo()

    assert counts() == first
    assert first["issues.Issue"] == len(CASES)
    assert "(0 new)" in output
    assert "http://127.0.0.1:8000" in output
    assert "demo12345" in output
