"""The work calendar and deadlines (docs/domain.md §4).

A day is a working day Monday to Friday and a day off at the weekend, unless a `CalendarDay` row
says otherwise: a public holiday on a weekday, or a make-up working day (调休) on a weekend. The
rows are seeded from the `chinesecalendar` package (migration 0003, `manage.py sync_calendar`) and
editable by admins, so a new year needs a package upgrade and a command, never a code change.

Working hours are `settings.WORKING_HOURS`, e.g. ``["08:30-12:00", "13:30-17:30"]``, read at call
time. All arithmetic happens on the wall clock of the zone (the default time zone, Asia/Shanghai);
results are aware datetimes in that zone.

Limit units:

- ``H``  natural hours: the clock runs day and night, weekends and holidays included.
- ``WH`` working hours: only time inside a working period of a working day counts. A start outside
  working time begins at the next working period. A deadline that uses up a period exactly ends at
  that period's close (10:00 + 2 WH = 12:00, not 13:30).
- ``WD`` working days: first the start is moved to working time (a start outside working hours
  counts from the start of the next working period); the deadline is then the same local clock
  time N working days later. Example: Tuesday 15:00 + 1 WD = Wednesday 15:00; Friday 18:00 + 1 WD
  = Tuesday 08:30 (counted from Monday 08:30). Should that clock time not be working time on the
  target day, the deadline is the close of that working day. The deadline is always on a working
  day.
"""

from __future__ import annotations

import datetime
import itertools
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from issues.models import CalendarDay

if TYPE_CHECKING:
    from districts.models import Category

HOURS = "H"
WORKING_HOURS = "WH"
WORKING_DAYS = "WD"
UNITS = (HOURS, WORKING_HOURS, WORKING_DAYS)

_PERIOD_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
# Days of calendar loaded beyond the estimate; covers a Spring Festival week plus weekends.
_MARGIN_DAYS = 31
# Chunk loaded when a walk runs past what was loaded (rare: only for very long limits).
_EXTRA_DAYS = 92

Period = tuple[datetime.time, datetime.time]


# --- working hours ---------------------------------------------------------------------------


def working_periods() -> list[Period]:
    """The working periods of a working day from `settings.WORKING_HOURS`, validated and sorted."""
    raw = getattr(settings, "WORKING_HOURS", None)
    if isinstance(raw, str):
        raw = [part for part in raw.split(",") if part.strip()]
    if not raw:
        raise ImproperlyConfigured(
            'WORKING_HOURS must list at least one period, e.g. ["08:30-12:00", "13:30-17:30"].'
        )
    periods: list[Period] = []
    for entry in raw:
        match = _PERIOD_RE.match(str(entry))
        if not match:
            raise ImproperlyConfigured(
                f'WORKING_HOURS entry {entry!r} is not of the form "HH:MM-HH:MM".'
            )
        start_h, start_m, end_h, end_m = (int(group) for group in match.groups())
        try:
            start = datetime.time(start_h, start_m)
            end = datetime.time(end_h, end_m)
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"WORKING_HOURS entry {entry!r} is not a valid time range ({exc})."
            ) from exc
        if start >= end:
            raise ImproperlyConfigured(
                f"WORKING_HOURS entry {entry!r} must end after it starts, on the same day."
            )
        periods.append((start, end))
    periods.sort()
    for (_, previous_end), (next_start, _) in itertools.pairwise(periods):
        if next_start < previous_end:
            raise ImproperlyConfigured(f"WORKING_HOURS periods overlap: {list(raw)!r}.")
    return periods


def _period_length(period: Period) -> datetime.timedelta:
    start, end = period
    return datetime.datetime.combine(datetime.date.min, end) - datetime.datetime.combine(
        datetime.date.min, start
    )


def working_time_per_day() -> datetime.timedelta:
    """How much working time one working day holds."""
    return sum((_period_length(period) for period in working_periods()), datetime.timedelta())


# --- working days ----------------------------------------------------------------------------


def _weekday_rule(day: datetime.date) -> bool:
    return day.weekday() < 5


def is_working_day(day: datetime.date) -> bool:
    """Whether people work on this day: Mon–Fri unless a holiday row, weekends only as 调休."""
    override = CalendarDay.objects.filter(date=day).values_list("is_working_day", flat=True).first()
    return _weekday_rule(day) if override is None else override


class WorkCalendar:
    """Working-day answers for a range of days, from one query over CalendarDay.

    Asking about a day outside the loaded range loads another chunk (one more query); callers size
    the first range so that this almost never happens.
    """

    def __init__(self, first: datetime.date, last: datetime.date) -> None:
        self._overrides: dict[datetime.date, bool] = {}
        self._first = first
        self._last = first - datetime.timedelta(days=1)
        self._load(first, last)

    def _load(self, first: datetime.date, last: datetime.date) -> None:
        rows = CalendarDay.objects.filter(date__range=(first, last)).values_list(
            "date", "is_working_day"
        )
        self._overrides.update(dict(rows))
        self._first = min(self._first, first)
        self._last = max(self._last, last)

    def is_working_day(self, day: datetime.date) -> bool:
        if day > self._last:
            self._load(
                self._last + datetime.timedelta(days=1), day + datetime.timedelta(_EXTRA_DAYS)
            )
        elif day < self._first:
            self._load(day - datetime.timedelta(_EXTRA_DAYS), self._first - datetime.timedelta(1))
        override = self._overrides.get(day)
        return _weekday_rule(day) if override is None else override

    def working_days_from(self, day: datetime.date) -> Iterator[datetime.date]:
        """Working days on or after `day`, in order."""
        while True:
            if self.is_working_day(day):
                yield day
            day += datetime.timedelta(days=1)


def _calendar_for(start: datetime.date, working_days: float) -> WorkCalendar:
    # Seven calendar days hold five working days; the margin absorbs holidays.
    span = math.ceil(working_days * 7 / 5) + _MARGIN_DAYS
    return WorkCalendar(start, start + datetime.timedelta(days=span))


def working_days_between(start: datetime.date, end: datetime.date) -> int:
    """The number of working days d with start <= d < end (0 when end <= start)."""
    if end <= start:
        return 0
    calendar = WorkCalendar(start, end)
    return sum(
        calendar.is_working_day(start + datetime.timedelta(days=offset))
        for offset in range((end - start).days)
    )


# --- local time helpers ----------------------------------------------------------------------


def _zone() -> datetime.tzinfo:
    # The calendar belongs to the zone, not to whichever time zone a request activated.
    return timezone.get_default_timezone()


def _to_local_naive(moment: datetime.datetime) -> datetime.datetime:
    if timezone.is_naive(moment):
        raise ValueError("Deadlines need a timezone-aware start, e.g. timezone.now().")
    return timezone.localtime(moment, _zone()).replace(tzinfo=None)


def _to_aware(local: datetime.datetime) -> datetime.datetime:
    return timezone.make_aware(local, _zone())


def _periods_of(day: datetime.date, periods: list[Period]) -> Iterator[tuple]:
    for start, end in periods:
        yield datetime.datetime.combine(day, start), datetime.datetime.combine(day, end)


def _next_working_moment(
    local: datetime.datetime, calendar: WorkCalendar, periods: list[Period]
) -> datetime.datetime:
    """`local` itself if it is working time, else the start of the next working period."""
    for day in calendar.working_days_from(local.date()):
        for period_start, period_end in _periods_of(day, periods):
            if local < period_end:
                return max(local, period_start)
    raise AssertionError("unreachable: working_days_from never ends")  # pragma: no cover


def _add_working_time(
    local: datetime.datetime,
    amount: datetime.timedelta,
    calendar: WorkCalendar,
    periods: list[Period],
) -> datetime.datetime:
    remaining = amount
    for day in calendar.working_days_from(local.date()):
        for period_start, period_end in _periods_of(day, periods):
            if local >= period_end:
                continue
            begin = max(local, period_start)
            available = period_end - begin
            if remaining <= available:
                return begin + remaining
            remaining -= available
            local = period_end
    raise AssertionError("unreachable: working_days_from never ends")  # pragma: no cover


# --- deadlines -------------------------------------------------------------------------------


def add_limit(
    start: datetime.datetime, value: int, unit: str, *, work_calendar: WorkCalendar | None = None
) -> datetime.datetime:
    """The deadline `value` units (H, WH or WD, see the module docstring) after an aware `start`.

    `work_calendar` lets a caller that computes many deadlines load the calendar once.
    """
    if unit not in UNITS:
        raise ValueError(f"Unknown time limit unit {unit!r}; expected one of {UNITS}.")
    if value < 0:
        raise ValueError(f"A time limit cannot be negative ({value} {unit}).")
    local_start = _to_local_naive(start)
    if unit == HOURS:
        return timezone.localtime(start + datetime.timedelta(hours=value), _zone())
    if value == 0:
        return timezone.localtime(start, _zone())

    periods = working_periods()
    if unit == WORKING_HOURS:
        day_length = sum((_period_length(p) for p in periods), datetime.timedelta())
        calendar = work_calendar or _calendar_for(
            local_start.date(), value / (day_length.total_seconds() / 3600)
        )
        return _to_aware(
            _add_working_time(local_start, datetime.timedelta(hours=value), calendar, periods)
        )

    calendar = work_calendar or _calendar_for(local_start.date(), value + 1)
    anchor = _next_working_moment(local_start, calendar, periods)
    days = calendar.working_days_from(anchor.date())
    next(days)  # the anchor's own day
    for _ in range(value - 1):
        next(days)
    target_day = next(days)
    deadline = datetime.datetime.combine(target_day, anchor.time())
    day_periods = list(_periods_of(target_day, periods))
    if not any(begin <= deadline < end for begin, end in day_periods):
        deadline = day_periods[-1][1]  # the close of that working day
    return _to_aware(deadline)


def deadline_for(
    category: Category, start: datetime.datetime, *, work_calendar: WorkCalendar | None = None
) -> datetime.datetime:
    """The deadline of an issue of `category` whose clock starts at `start`.

    Urgent categories run on natural hours whatever their unit says: a limit in working hours
    becomes as many natural hours, one in working days 24 natural hours per day.
    """
    unit = category.limit_unit
    value = category.limit_value
    if category.is_urgent:
        if unit == WORKING_DAYS:
            value *= 24
        unit = HOURS
    return add_limit(start, value, unit, work_calendar=work_calendar)


# A deadline further ahead than this many times the category's limit is not a deadline but a
# parked case (挂账); never less than MIN_DEADLINE_SPAN ahead, never more than MAX_DEADLINE_SPAN.
DEADLINE_LIMIT_FACTOR = 10
MIN_DEADLINE_SPAN = datetime.timedelta(days=3)
MAX_DEADLINE_SPAN = datetime.timedelta(days=365)


def latest_reasonable_deadline(category: Category, start: datetime.datetime) -> datetime.datetime:
    """The furthest deadline a person may set for a case of `category` from `start`."""
    unit = category.limit_unit
    value = category.limit_value * DEADLINE_LIMIT_FACTOR
    if category.is_urgent:
        if unit == WORKING_DAYS:
            value *= 24
        unit = HOURS
    by_limit = add_limit(start, value, unit)
    return min(max(by_limit, start + MIN_DEADLINE_SPAN), start + MAX_DEADLINE_SPAN)


def working_seconds_between(start: datetime.datetime, end: datetime.datetime) -> float:
    """Seconds of working time between two aware instants (negative when end is before start)."""
    if end < start:
        return -working_seconds_between(end, start)
    local_start, local_end = _to_local_naive(start), _to_local_naive(end)
    periods = working_periods()
    calendar = WorkCalendar(local_start.date(), local_end.date())
    total = datetime.timedelta()
    day = local_start.date()
    while day <= local_end.date():
        if calendar.is_working_day(day):
            for period_start, period_end in _periods_of(day, periods):
                begin, finish = max(period_start, local_start), min(period_end, local_end)
                if finish > begin:
                    total += finish - begin
        day += datetime.timedelta(days=1)
    return total.total_seconds()


# --- seeding from the chinesecalendar package ------------------------------------------------


@dataclass(frozen=True)
class PackageDay:
    """One exception to the weekday rule as the chinesecalendar package knows it."""

    date: datetime.date
    is_working_day: bool
    name: str


def package_years() -> tuple[int, int]:
    """The first and last year the installed chinesecalendar package knows."""
    import chinese_calendar

    known = list(chinese_calendar.holidays) + list(chinese_calendar.workdays)
    return min(known).year, max(known).year


def package_days(years: Iterable[int] | None = None) -> list[PackageDay]:
    """Holidays and make-up working days from chinesecalendar, named in Chinese (春节, 国庆节…)."""
    import chinese_calendar
    from chinese_calendar.constants import Holiday

    chinese_names = {holiday.value: holiday.chinese for holiday in Holiday}
    wanted = set(years) if years is not None else None
    days: list[PackageDay] = []
    for source, working in ((chinese_calendar.holidays, False), (chinese_calendar.workdays, True)):
        for day, english in source.items():
            if wanted is None or day.year in wanted:
                name = chinese_names.get(english, english or "")[:60]
                days.append(PackageDay(date=day, is_working_day=working, name=name))
    days.sort(key=lambda item: item.date)
    return days


@dataclass(frozen=True)
class CalendarSyncResult:
    """What `calendar_days_sync` wrote."""

    years: tuple[int, ...]
    upserted: int
    removed: int


@transaction.atomic
def calendar_days_sync(
    *, years: Iterable[int] | None = None, prune: bool = False
) -> CalendarSyncResult:
    """Upsert CalendarDay rows from the chinesecalendar package for some years (default: all).

    Rows for dates the package knows are overwritten; rows it does not know (local days an admin
    added) are kept unless `prune` is set, which deletes them within the synced years.
    """
    first, last = package_years()
    wanted = tuple(sorted(set(years))) if years is not None else tuple(range(first, last + 1))
    unknown = [year for year in wanted if not first <= year <= last]
    if unknown:
        raise ValueError(
            f"The installed chinesecalendar package knows {first}–{last}, not "
            f"{', '.join(map(str, unknown))}. Upgrade it, or enter the days in the admin."
        )
    days = package_days(wanted)
    CalendarDay.objects.bulk_create(
        [CalendarDay(date=d.date, is_working_day=d.is_working_day, name=d.name) for d in days],
        update_conflicts=True,
        unique_fields=["date"],
        update_fields=["is_working_day", "name"],
    )
    removed = 0
    if prune:
        removed, _ = (
            CalendarDay.objects.filter(date__year__in=wanted)
            .exclude(date__in=[d.date for d in days])
            .delete()
        )
    return CalendarSyncResult(years=wanted, upserted=len(days), removed=removed)
