"""A hand-built campaign fortnight for the KPI tests, around the 2025 National Day holiday.

Work calendar (Asia/Shanghai, working hours 08:30-12:00 and 13:30-17:30, 7.5 h a day):
Sat 27 Sep off; Sun 28 Sep make-up working day (调休); 1-8 Oct holiday; Sat 11 Oct make-up day.

Period: Mon 22 Sep - Sun 12 Oct 2025 (ISO weeks 39, 40, 41); "now" is Mon 13 Oct 12:00.

Cases (times local; d = deadline):
C1 A/X city appearance: reported 26 Sep 10:00, dispatched 11:00, acknowledged 14:00, fix
   28 Sep 10:00 (the make-up Sunday), verified 28 Sep 15:00, d 29 Sep 10:00: closed on time.
C2 A/X city appearance: reported 30 Sep 09:00, dispatched 09:30, acknowledged 9 Oct 09:00 (after
   the holiday), first fix 9 Oct 16:00, reworked once, last fix 10 Oct 10:00, verified 11:00,
   one extension, d 9 Oct 12:00: closed late.
C3 B/Y street order: reported 29 Sep 10:00, dispatched 10:30, acknowledged 11:00, reassigned once,
   督办函, d 30 Sep 10:30: in progress, overdue now.
C4 B street order: reported 1 Oct 10:00, rejected 11:00.
C5 A city appearance: reported 2 Oct 12:00, fixed on the spot 12:10.
C6 A/X street order: reported 10 Oct 08:00, dispatched 09:00, acknowledged 10:00, fix 11 Oct
   09:00 (the make-up Saturday), d 11 Oct 17:00: awaiting verification.
C7 B/Y street order: reported 9 Oct 09:00, dispatched 10:00, d 20 Oct 10:00: parked.
C8 A/X city appearance: reported, dispatched, closed 15-16 Sep, before the period (counts nowhere).

ca = city appearance (市容环境), so = street order (街面秩序).
"""

from __future__ import annotations

import datetime

from django.utils import timezone

from districts.models import Category
from issues.models import Action, CalendarDay, IssueEvent, Status
from stats.kpis import Period
from tests.factories import CategoryFactory, IssueFactory, World

PERIOD = Period(datetime.date(2025, 9, 22), datetime.date(2025, 10, 12))


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime.datetime:
    """An instant in 2025, local time of the zone."""
    return timezone.make_aware(datetime.datetime(2025, month, day, hour, minute))


NOW = at(10, 13, 12)


def seed_calendar() -> None:
    """The 2025 National Day days, whatever the installed chinesecalendar package says."""
    for day, working, name in (
        [(datetime.date(2025, 9, 28), True, "国庆节调休")]
        + [(datetime.date(2025, 10, d), False, "国庆节") for d in range(1, 9)]
        + [(datetime.date(2025, 10, 11), True, "国庆节调休")]
    ):
        CalendarDay.objects.update_or_create(
            date=day, defaults={"is_working_day": working, "name": name}
        )


def build_cases(world: World) -> dict[str, object]:
    seed_calendar()
    street = CategoryFactory(
        code="STALL_T", name="占道经营", big_class=Category.BigClass.STREET_ORDER
    )
    appearance = world.category
    a, b = world.community_a, world.community_b
    x, y = world.org_x, world.org_y
    cases = {}
    cases["C1"] = IssueFactory(
        community=a,
        category=appearance,
        reporter=world.inspector_xincheng,
        point=world.point_a,
        status=Status.CLOSED,
        assigned_organisation=x,
        reported_at=at(9, 26, 10),
        dispatched_at=at(9, 26, 11),
        clock_started_at=at(9, 26, 11),
        acknowledged_at=at(9, 26, 14),
        first_submitted_at=at(9, 28, 10),
        submitted_at=at(9, 28, 10),
        verified_at=at(9, 28, 15),
        closed_at=at(9, 28, 15),
        deadline=at(9, 29, 10),
    )
    cases["C2"] = IssueFactory(
        community=a,
        category=appearance,
        reporter=world.inspector_xincheng,
        status=Status.CLOSED,
        assigned_organisation=x,
        reported_at=at(9, 30, 9),
        dispatched_at=at(9, 30, 9, 30),
        clock_started_at=at(9, 30, 9, 30),
        acknowledged_at=at(10, 9, 9),
        first_submitted_at=at(10, 9, 16),
        submitted_at=at(10, 10, 10),
        verified_at=at(10, 10, 11),
        closed_at=at(10, 10, 11),
        deadline=at(10, 9, 12),
        extension_count=1,
        rework_count=1,
    )
    cases["C3"] = IssueFactory(
        community=b,
        category=street,
        reporter=world.inspector_binhe,
        point=world.point_b,
        status=Status.IN_PROGRESS,
        assigned_organisation=y,
        reported_at=at(9, 29, 10),
        dispatched_at=at(9, 29, 10, 30),
        clock_started_at=at(9, 29, 10, 30),
        acknowledged_at=at(9, 29, 11),
        deadline=at(9, 30, 10, 30),
        escalation_level=2,
    )
    IssueEvent.objects.create(
        issue=cases["C3"],
        action=Action.REASSIGN,
        from_status=Status.ASSIGNED,
        to_status=Status.ASSIGNED,
        organisation=y,
        created_at=at(9, 29, 10, 30),
    )
    cases["C4"] = IssueFactory(
        community=b,
        category=street,
        reporter=world.inspector_binhe,
        status=Status.REJECTED,
        reported_at=at(10, 1, 10),
        rejected_at=at(10, 1, 11),
    )
    cases["C5"] = IssueFactory(
        community=a,
        category=appearance,
        reporter=world.inspector_xincheng,
        status=Status.CLOSED,
        fixed_on_spot=True,
        reported_at=at(10, 2, 12),
        closed_at=at(10, 2, 12, 10),
    )
    cases["C6"] = IssueFactory(
        community=a,
        category=street,
        reporter=world.supervisor_xincheng,
        status=Status.SUBMITTED,
        assigned_organisation=x,
        reported_at=at(10, 10, 8),
        dispatched_at=at(10, 10, 9),
        clock_started_at=at(10, 10, 9),
        acknowledged_at=at(10, 10, 10),
        first_submitted_at=at(10, 11, 9),
        submitted_at=at(10, 11, 9),
        deadline=at(10, 11, 17),
    )
    cases["C7"] = IssueFactory(
        community=b,
        category=street,
        reporter=world.inspector_binhe,
        status=Status.PARKED,
        assigned_organisation=y,
        reported_at=at(10, 9, 9),
        dispatched_at=at(10, 9, 10),
        clock_started_at=at(10, 9, 10),
        deadline=at(10, 20, 10),
        parked_at=at(10, 10, 9),
    )
    cases["C8"] = IssueFactory(
        community=a,
        category=appearance,
        reporter=world.inspector_xincheng,
        status=Status.CLOSED,
        assigned_organisation=x,
        reported_at=at(9, 15, 10),
        dispatched_at=at(9, 15, 11),
        clock_started_at=at(9, 15, 11),
        acknowledged_at=at(9, 15, 12),
        first_submitted_at=at(9, 16, 9),
        submitted_at=at(9, 16, 9),
        verified_at=at(9, 16, 10),
        closed_at=at(9, 16, 10),
        deadline=at(9, 17, 11),
    )
    cases["street"] = street
    return cases
