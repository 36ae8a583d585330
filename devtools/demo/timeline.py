"""When each step of a demo case happens, planned on the work calendar for the moment it loads.

The demo must read right whenever it is loaded: at night, at the weekend, in the Spring Festival
week or on a make-up working day (调休). So nothing counts in natural hours back from the clock:

- Reports and steps are office work and fall in working time on working days. A case is reported
  `ago` working hours before the last working moment (now itself during office hours) and each
  step comes `after` working hours after the one before it.
- Deadlines are the category's, computed by `issues.calendar` exactly as the services compute
  them. An extension asks for whole working days beyond the current deadline. Both stay within
  `deadline_bound`.
- An escalation (`overdue`) waits until the deadline, plus that many allowed times, has passed,
  as the reminder job would wait.
- An open case may name the timer light it shows when the demo loads; the planner then moves it
  earlier or later, half a working hour at a time, until it does (or, when no moment of the
  search gives that light, leaves it where its story puts it).

Cases are returned in the order they were reported, which is the order they are loaded and
numbered in; a case that refers to another (a duplicate) is always reported after it.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING

from django.utils import timezone

from issues import calendar, workflow
from issues.models import CLOCK_STATUSES, Action, Status, TimerLight

if TYPE_CHECKING:
    from devtools.demo.data import Case, Step
    from districts.models import Category

# How far the planner may move a case to give it its light, and in what steps (working hours):
# up to its own age plus two working days either way.
SEARCH_STEP = 0.5
SEARCH_SLACK = 15.0
# Share of the allowed time used that each light is planned at: inside the light's own range
# (green below 0.8, yellow to 1.0, red beyond) with a margin, so it holds for a while.
LIGHT_BANDS = {
    TimerLight.GREEN: (0.0, 0.7),
    TimerLight.YELLOW: (0.83, 0.97),
    TimerLight.RED: (1.05, math.inf),
}
LIGHT_AIMS = {TimerLight.GREEN: 0.4, TimerLight.YELLOW: 0.9, TimerLight.RED: 2.0}
# No deadline the demo gives lies further than this many times the category's limit.
DEADLINE_BOUND_FACTOR = 10
DEADLINE_BOUND_MAX = datetime.timedelta(days=365)
# An escalation comes this long (working hours) after the threshold it waited for.
ESCALATION_DELAY = 0.25
_DAYS_SEARCHED = 800  # a walk over the calendar that finds no working day gives up


class WorkClock:
    """Working time around one moment, from a single read of the work calendar."""

    def __init__(self, now: datetime.datetime) -> None:
        self.zone = timezone.get_default_timezone()
        self.periods = calendar.working_periods()
        self._day_periods: dict[datetime.date, list] = {}
        today = self.local(now).date()
        self.work_calendar = calendar.WorkCalendar(
            today - datetime.timedelta(days=400), today + datetime.timedelta(days=200)
        )
        self.now = now
        self.anchor = self.last_working_moment(now)

    # --- local time --------------------------------------------------------------------------

    def local(self, moment: datetime.datetime) -> datetime.datetime:
        return timezone.localtime(moment, self.zone).replace(tzinfo=None)

    def aware(self, local: datetime.datetime) -> datetime.datetime:
        return timezone.make_aware(local, self.zone)

    def _periods(self, day: datetime.date) -> list[tuple[datetime.datetime, datetime.datetime]]:
        periods = self._day_periods.get(day)
        if periods is None:
            periods = self._day_periods[day] = (
                [
                    (datetime.datetime.combine(day, start), datetime.datetime.combine(day, end))
                    for start, end in self.periods
                ]
                if self.work_calendar.is_working_day(day)
                else []
            )
        return periods

    def _days(self, day: datetime.date, direction: int) -> Iterator[datetime.date]:
        for offset in range(_DAYS_SEARCHED):
            yield day + datetime.timedelta(days=offset * direction)
        raise ValueError("The work calendar has no working day near the demo's moment.")

    # --- questions -----------------------------------------------------------------------------

    def is_working_moment(self, moment: datetime.datetime) -> bool:
        """Whether `moment` lies in a working period of a working day (its ends included)."""
        local = self.local(moment)
        return any(begin <= local <= end for begin, end in self._periods(local.date()))

    def last_working_moment(self, moment: datetime.datetime) -> datetime.datetime:
        """`moment` itself in working time, else the end of the last working period before it."""
        local = self.local(moment)
        for day in self._days(local.date(), -1):
            for begin, end in reversed(self._periods(day)):
                if local >= begin:
                    return self.aware(min(local, end))
            local = datetime.datetime.combine(day, datetime.time.max)
        raise AssertionError("unreachable")  # pragma: no cover

    def next_working_moment(self, moment: datetime.datetime) -> datetime.datetime:
        """`moment` itself in working time, else the start of the next working period."""
        local = self.local(moment)
        for day in self._days(local.date(), 1):
            for begin, end in self._periods(day):
                if local <= end:
                    return self.aware(max(local, begin))
            local = datetime.datetime.combine(day, datetime.time.min)
        raise AssertionError("unreachable")  # pragma: no cover

    def forward(self, moment: datetime.datetime, hours: float) -> datetime.datetime:
        """The moment `hours` of working time after `moment`."""
        local = self.local(self.next_working_moment(moment))
        remaining = datetime.timedelta(hours=hours)
        for day in self._days(local.date(), 1):
            for begin, end in self._periods(day):
                if local > end:
                    continue
                start = max(local, begin)
                if remaining <= end - start:
                    return self.aware(start + remaining)
                remaining -= end - start
                local = end
        raise AssertionError("unreachable")  # pragma: no cover

    def back(self, moment: datetime.datetime, hours: float) -> datetime.datetime:
        """The moment `hours` of working time before `moment`."""
        local = self.local(self.last_working_moment(moment))
        remaining = datetime.timedelta(hours=hours)
        for day in self._days(local.date(), -1):
            for begin, end in reversed(self._periods(day)):
                if local < begin:
                    continue
                stop = min(local, end)
                if remaining <= stop - begin:
                    return self.aware(stop - remaining)
                remaining -= stop - begin
                local = begin
        raise AssertionError("unreachable")  # pragma: no cover

    # --- deadlines -----------------------------------------------------------------------------

    def deadline(self, category: Category, start: datetime.datetime) -> datetime.datetime:
        """The category's deadline for a clock started at `start`, as the services compute it."""
        return calendar.deadline_for(category, start, work_calendar=self.work_calendar)

    def working_days_between(self, first: datetime.date, last: datetime.date) -> int:
        """Working days d with first < d <= last."""
        return sum(
            self.work_calendar.is_working_day(first + datetime.timedelta(days=offset))
            for offset in range(1, (last - first).days + 1)
        )

    def add_working_days(self, moment: datetime.datetime, days: int) -> datetime.datetime:
        return calendar.add_limit(
            moment, days, calendar.WORKING_DAYS, work_calendar=self.work_calendar
        )

    def deadline_bound(self, category: Category, start: datetime.datetime) -> datetime.datetime:
        """The latest deadline the demo gives a clock started at `start` (see `deadline_bound`)."""
        return deadline_bound(category, start, work_calendar=self.work_calendar)


def deadline_bound(
    category: Category,
    start: datetime.datetime,
    *,
    work_calendar: calendar.WorkCalendar | None = None,
) -> datetime.datetime:
    """The latest reasonable deadline: ten times the category's limit, and never beyond a year.

    Ten times is measured both ways a rule could measure it, and the earlier one counts: the
    limit times ten on the work calendar, and ten times the natural length of one limit.
    """
    scaled = SimpleNamespace(
        limit_unit=category.limit_unit,
        limit_value=category.limit_value * DEADLINE_BOUND_FACTOR,
        is_urgent=category.is_urgent,
    )
    on_calendar = calendar.deadline_for(scaled, start, work_calendar=work_calendar)
    once = calendar.deadline_for(category, start, work_calendar=work_calendar) - start
    return min(on_calendar, start + DEADLINE_BOUND_FACTOR * once, start + DEADLINE_BOUND_MAX)


@dataclass(frozen=True)
class PlannedStep:
    """One step of a case with its moment (and, for an extension, the deadline it asks for)."""

    step: Step
    at: datetime.datetime
    deadline: datetime.datetime | None = None
    requested_deadline: datetime.datetime | None = None


@dataclass(frozen=True)
class CasePlan:
    """A case laid out for one moment: when it is reported, its steps, and where it ends up."""

    case: Case
    reported_at: datetime.datetime
    steps: tuple[PlannedStep, ...]
    status: str
    clock_started_at: datetime.datetime | None
    deadline: datetime.datetime | None
    fraction: float | None

    @property
    def light(self) -> str | None:
        if self.fraction is None:
            return None
        if self.fraction < 0.8:
            return TimerLight.GREEN
        if self.fraction <= 1.0:
            return TimerLight.YELLOW
        return TimerLight.RED

    def references(self) -> list[str]:
        return [planned.step.duplicate_of for planned in self.steps if planned.step.duplicate_of]


class NoFit(Exception):
    """The case's steps cannot all happen before now from this report moment."""


def _band_distance(fraction: float | None, light: str) -> float:
    if fraction is None:
        return math.inf
    low, high = LIGHT_BANDS[light]
    return max(low - fraction, fraction - high, 0.0)


class Planner:
    """Lays out the demo cases for the moment `now`."""

    def __init__(self, now: datetime.datetime, categories: Mapping[str, Category]) -> None:
        self.clock = WorkClock(now)
        self.now = now
        self.categories = categories

    def plan(
        self, cases: tuple[Case, ...], reported: Mapping[str, datetime.datetime] | None = None
    ) -> list[CasePlan]:
        """Every case in `cases` not already in `reported` (key -> report time), oldest first."""
        reported = dict(reported or {})
        plans = [self.plan_case(case) for case in cases if case.key not in reported]
        for plan in plans:
            reported[plan.case.key] = plan.reported_at
        for plan in plans:
            for key in plan.references():
                if key not in reported:
                    raise ValueError(f"Demo case {plan.case.key!r} refers to unknown {key!r}.")
                if reported[key] >= plan.reported_at:
                    raise ValueError(
                        f"Demo case {plan.case.key!r} refers to {key!r}, which is reported "
                        "after it: give it a larger `ago`."
                    )
        return sorted(plans, key=lambda plan: (plan.reported_at, plan.case.key))

    def plan_case(self, case: Case) -> CasePlan:
        """The case at its own `ago`, or moved as little as its light needs.

        When no moment of the search gives the light (a two-hour case cannot be yellow at night,
        when its deadline waits for the morning), the case keeps its own place.
        """
        fallback: CasePlan | None = None
        for reported_at in self._candidates(case.ago):
            try:
                plan = self.simulate(case, reported_at)
            except NoFit:
                continue
            if case.light is None or _band_distance(plan.fraction, case.light) == 0:
                return plan
            fallback = fallback or plan
        if fallback is None:
            raise ValueError(f"Demo case {case.key!r} does not fit before {self.now}.")
        return fallback

    def _candidates(self, ago: float) -> Iterator[datetime.datetime]:
        """Report moments: `ago` working hours back first, then ever further either side."""
        preferred = self.clock.back(self.clock.anchor, ago)
        yield preferred
        later = earlier = preferred
        later_ago = earlier_ago = ago
        while earlier_ago < 2 * ago + SEARCH_SLACK:
            if later_ago - SEARCH_STEP > 0:
                later_ago -= SEARCH_STEP
                later = self.clock.forward(later, SEARCH_STEP)
                yield later
            earlier_ago += SEARCH_STEP
            earlier = self.clock.back(earlier, SEARCH_STEP)
            yield earlier

    def simulate(self, case: Case, reported_at: datetime.datetime) -> CasePlan:
        """Replay the case's steps on paper from `reported_at`; NoFit if one falls after now."""
        clock = self.clock
        category = self.categories[case.category]
        status = Status.REPORTED
        clock_started_at: datetime.datetime | None = None
        deadline: datetime.datetime | None = None
        pending: datetime.datetime | None = None
        parked_at: datetime.datetime | None = None
        moment = reported_at
        planned: list[PlannedStep] = []
        for step in case.steps:
            moment = clock.forward(moment, step.after)
            if step.overdue is not None:
                if deadline is None or clock_started_at is None:
                    raise ValueError(f"Demo case {case.key!r}: {step.action} needs a deadline.")
                threshold = deadline + step.overdue * (deadline - clock_started_at)
                moment = max(moment, clock.forward(threshold, ESCALATION_DELAY))
            if moment > clock.anchor:
                raise NoFit
            requested = None
            action = step.action
            if action in (Action.DISPATCH, Action.REASSIGN, Action.REOPEN):
                clock_started_at = moment
                deadline = clock.deadline(category, moment)
            elif action == Action.RETURN:
                clock_started_at = deadline = None
            elif action == Action.REQUEST_EXTENSION:
                if deadline is None or clock_started_at is None:
                    raise ValueError(f"Demo case {case.key!r}: an extension needs a deadline.")
                requested = pending = self._extension(
                    case, category, step, moment, clock_started_at, deadline
                )
            elif action == Action.APPROVE_EXTENSION:
                if pending is None:
                    raise ValueError(f"Demo case {case.key!r}: no extension to approve.")
                if pending <= moment:
                    raise NoFit  # the service approves only a deadline still ahead
                deadline, pending = pending, None
            elif action == Action.REFUSE_EXTENSION:
                pending = None
            elif action == Action.PARK:
                parked_at = moment
            elif action == Action.RESUME and parked_at is not None and deadline is not None:
                deadline += moment - parked_at
                if clock_started_at is not None:
                    clock_started_at += moment - parked_at
            status = workflow.transition_for(action).target_for(status)
            planned.append(PlannedStep(step, moment, deadline, requested))
        fraction = None
        if status in CLOCK_STATUSES and deadline is not None and clock_started_at is not None:
            allowed = (deadline - clock_started_at).total_seconds()
            used = (self.now - clock_started_at).total_seconds()
            fraction = used / allowed if allowed > 0 else math.inf
        return CasePlan(
            case=case,
            reported_at=reported_at,
            steps=tuple(planned),
            status=status,
            clock_started_at=clock_started_at,
            deadline=deadline,
            fraction=fraction,
        )

    def _extension(
        self,
        case: Case,
        category: Category,
        step: Step,
        moment: datetime.datetime,
        clock_started_at: datetime.datetime,
        deadline: datetime.datetime,
    ) -> datetime.datetime:
        """The deadline asked for: whole working days past the current one, within the bound.

        Without `extend_days`, as many days as put the case in its light now (after approval).
        """
        bound = self.clock.deadline_bound(category, clock_started_at)
        if step.extend_days is not None:
            requested = self.clock.add_working_days(deadline, step.extend_days)
            if requested <= moment or requested > bound:
                raise NoFit
            return requested
        if case.light is None:
            raise ValueError(f"Demo case {case.key!r}: say how many days the extension asks.")
        aim = LIGHT_AIMS[case.light]
        used = (self.now - clock_started_at).total_seconds()
        # About as many working days as reach the deadline that puts the light at its aim.
        aimed_day = self.clock.local(clock_started_at + datetime.timedelta(seconds=used / aim))
        estimate = self.clock.working_days_between(
            self.clock.local(deadline).date(), aimed_day.date()
        )
        best: tuple[float, datetime.datetime] | None = None
        for days in range(max(1, estimate - 2), estimate + 3):
            requested = self.clock.add_working_days(deadline, days)
            if requested <= moment or requested > bound:
                continue
            fraction = used / (requested - clock_started_at).total_seconds()
            if _band_distance(fraction, case.light) == 0 and (
                best is None or abs(fraction - aim) < best[0]
            ):
                best = (abs(fraction - aim), requested)
        if best is None:
            raise NoFit
        return best[1]
