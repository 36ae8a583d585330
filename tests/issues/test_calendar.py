"""The work calendar and deadlines on Chinese public holidays and make-up working days (调休)."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from issues.calendar import (
    add_limit,
    calendar_days_sync,
    deadline_for,
    is_working_day,
    package_days,
    working_days_between,
    working_periods,
    working_seconds_between,
)
from issues.models import CalendarDay
from tests.factories import CategoryFactory

pytestmark = pytest.mark.django_db

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime.datetime:
    return datetime.datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def day(month: int, day_of_month: int, year: int = 2026) -> datetime.date:
    return datetime.date(year, month, day_of_month)


@pytest.fixture(autouse=True)
def _seeded_calendar(db):
    # Migration 0003 seeds these rows; a transactional test elsewhere may have flushed them.
    if not CalendarDay.objects.filter(date__year=2026).exists():
        calendar_days_sync(years=[2025, 2026])


# --- seeding ---------------------------------------------------------------------------------


def test_calendar_migration_seeds_every_year_the_package_knows():
    # A transactional test elsewhere may have flushed the migration's rows: seed them the way
    # migration 0003 does (every year the package knows) instead of skipping.
    if CalendarDay.objects.count() != len(package_days()):
        calendar_days_sync()
    years = {first_day.year for first_day in CalendarDay.objects.dates("date", "year")}
    assert {2004, 2015, 2026} <= years
    assert CalendarDay.objects.count() == len(package_days())


def test_calendar_seed_names_the_days_in_chinese():
    assert CalendarDay.objects.get(date=day(2, 17)).name == "春节"
    assert CalendarDay.objects.get(date=day(10, 10)).name == "国庆节"


def test_calendar_spring_festival_2026_holidays_and_make_up_days():
    for offset in range(9):  # Sun 15 Feb to Mon 23 Feb
        assert not is_working_day(day(2, 15) + datetime.timedelta(days=offset))
    assert is_working_day(day(2, 14))  # Saturday, make-up working day
    assert is_working_day(day(2, 28))  # Saturday, make-up working day
    assert is_working_day(day(2, 13))
    assert is_working_day(day(2, 24))


def test_calendar_national_day_2026_holidays_and_make_up_days():
    for offset in range(7):  # 1 to 7 October
        assert not is_working_day(day(10, 1) + datetime.timedelta(days=offset))
    assert is_working_day(day(9, 20))  # Saturday, make-up working day
    assert is_working_day(day(10, 10))  # Saturday, make-up working day
    assert is_working_day(day(10, 8))


def test_calendar_ordinary_weekends_are_off_and_weekdays_on():
    assert not is_working_day(day(3, 7))  # Saturday
    assert not is_working_day(day(3, 8))  # Sunday
    assert is_working_day(day(3, 9))  # Monday


def test_calendar_admin_edit_changes_deadlines_without_code():
    start = at(2026, 3, 9, 10)  # Monday
    assert add_limit(start, 1, "WD") == at(2026, 3, 10, 10)
    CalendarDay.objects.create(date=day(3, 10), is_working_day=False, name="临时放假")
    assert add_limit(start, 1, "WD") == at(2026, 3, 11, 10)


def test_calendar_sync_command_restores_rows_for_one_year():
    CalendarDay.objects.filter(date=day(2, 17)).delete()
    CalendarDay.objects.filter(date=day(2, 14)).update(is_working_day=False)
    call_command("sync_calendar", "--year", "2026")
    assert CalendarDay.objects.get(date=day(2, 17)).is_working_day is False
    assert CalendarDay.objects.get(date=day(2, 14)).is_working_day is True


def test_calendar_sync_command_keeps_local_days_unless_pruned():
    CalendarDay.objects.create(date=day(3, 10), is_working_day=False, name="临时放假")
    call_command("sync_calendar", "--year", "2026")
    assert CalendarDay.objects.filter(date=day(3, 10)).exists()
    call_command("sync_calendar", "--year", "2026", "--prune")
    assert not CalendarDay.objects.filter(date=day(3, 10)).exists()
    assert CalendarDay.objects.filter(date=day(2, 17)).exists()


def test_calendar_sync_command_refuses_a_year_the_package_does_not_know():
    with pytest.raises(CommandError, match="Upgrade it, or enter the days in the admin"):
        call_command("sync_calendar", "--year", "2099")


# --- working hours ---------------------------------------------------------------------------


def test_calendar_working_hours_come_from_settings_at_call_time(settings):
    settings.WORKING_HOURS = ["09:00-17:00"]
    assert working_periods() == [(datetime.time(9), datetime.time(17))]
    assert add_limit(at(2026, 3, 9, 16), 2, "WH") == at(2026, 3, 10, 10)


@pytest.mark.parametrize(
    "value",
    [[], ["8:30-12"], ["12:00-08:30"], ["08:30-12:00", "11:00-14:00"], ["25:00-26:00"]],
)
def test_calendar_invalid_working_hours_are_refused_clearly(settings, value):
    settings.WORKING_HOURS = value
    with pytest.raises(ImproperlyConfigured, match="WORKING_HOURS"):
        add_limit(at(2026, 3, 9, 10), 2, "WH")


# --- deadlines in working hours ----------------------------------------------------------------


def test_deadline_in_working_hours_skips_lunch():
    assert add_limit(at(2026, 3, 9, 11), 2, "WH") == at(2026, 3, 9, 14, 30)


def test_deadline_in_working_hours_ends_at_the_close_of_a_period_it_uses_up():
    assert add_limit(at(2026, 3, 9, 10), 2, "WH") == at(2026, 3, 9, 12)


def test_deadline_in_working_hours_runs_overnight():
    assert add_limit(at(2026, 3, 9, 16, 30), 2, "WH") == at(2026, 3, 10, 9, 30)


def test_deadline_in_working_hours_starting_at_lunch_or_night_begins_at_the_next_period():
    assert add_limit(at(2026, 3, 9, 12, 15), 1, "WH") == at(2026, 3, 9, 14, 30)
    assert add_limit(at(2026, 3, 9, 20), 1, "WH") == at(2026, 3, 10, 9, 30)
    assert add_limit(at(2026, 3, 7, 10), 2, "WH") == at(2026, 3, 9, 10, 30)  # from Saturday


def test_deadline_in_working_hours_across_the_spring_festival():
    # Fri 13 Feb 16:00: 1.5 h on Friday, then the make-up Saturday 14 Feb.
    assert add_limit(at(2026, 2, 13, 16), 2, "WH") == at(2026, 2, 14, 9)
    # 10 h: 1.5 Friday + 7.5 Saturday, then nine days off, then 1 h on Tue 24 Feb.
    assert add_limit(at(2026, 2, 13, 16), 10, "WH") == at(2026, 2, 24, 9, 30)


# --- deadlines in working days -----------------------------------------------------------------


def test_deadline_in_working_days_across_national_day():
    start = at(2026, 9, 30, 10)  # Wednesday, the last working day before the holiday
    assert add_limit(start, 1, "WD") == at(2026, 10, 8, 10)
    assert add_limit(start, 3, "WD") == at(2026, 10, 10, 10)  # make-up Saturday
    assert add_limit(start, 4, "WD") == at(2026, 10, 12, 10)


def test_deadline_in_working_days_lands_on_a_make_up_saturday():
    assert add_limit(at(2026, 9, 18, 15), 1, "WD") == at(2026, 9, 20, 15)


def test_deadline_in_working_days_skips_mid_autumn():
    assert add_limit(at(2026, 9, 24, 9), 1, "WD") == at(2026, 9, 28, 9)


def test_deadline_in_working_days_from_outside_hours_counts_from_the_next_period():
    # Friday night before the festival: counted from Sat 14 Feb 08:30 (make-up day).
    assert add_limit(at(2026, 2, 13, 19), 1, "WD") == at(2026, 2, 24, 8, 30)
    # Lunch break: counted from 13:30 the same day.
    assert add_limit(at(2026, 3, 9, 12, 30), 2, "WD") == at(2026, 3, 11, 13, 30)


def test_deadline_in_working_days_loads_the_calendar_in_one_query(django_assert_num_queries):
    with django_assert_num_queries(1):
        add_limit(at(2026, 2, 10, 10), 20, "WD")
    with django_assert_num_queries(1):
        add_limit(at(2026, 2, 10, 10), 60, "WH")


# --- natural hours ---------------------------------------------------------------------------


def test_deadline_in_natural_hours_ignores_holidays_and_weekends():
    assert add_limit(at(2026, 2, 15, 10), 48, "H") == at(2026, 2, 17, 10)
    assert add_limit(at(2026, 10, 2, 23), 2, "H") == at(2026, 10, 3, 1)


def test_deadline_is_returned_aware_in_shanghai_time_whatever_the_input_zone():
    start = datetime.datetime(2026, 3, 9, 2, 0, tzinfo=datetime.UTC)  # 10:00 in Shanghai
    deadline = add_limit(start, 1, "WD")
    assert deadline == at(2026, 3, 10, 10)
    assert deadline.utcoffset() == datetime.timedelta(hours=8)
    assert add_limit(start, 3, "H").utcoffset() == datetime.timedelta(hours=8)


def test_deadline_refuses_naive_starts_negative_values_and_unknown_units():
    with pytest.raises(ValueError, match="timezone-aware"):
        add_limit(datetime.datetime(2026, 3, 9, 10), 1, "WD")
    with pytest.raises(ValueError, match="negative"):
        add_limit(at(2026, 3, 9, 10), -1, "WH")
    with pytest.raises(ValueError, match="unit"):
        add_limit(at(2026, 3, 9, 10), 1, "D")


# --- deadline_for ----------------------------------------------------------------------------


def test_deadline_for_a_category_uses_its_limit_on_the_calendar():
    category = CategoryFactory(limit_value=1, limit_unit="WD", severity="major")
    assert deadline_for(category, at(2026, 9, 30, 10)) == at(2026, 10, 8, 10)


def test_deadline_for_an_urgent_category_counts_natural_hours():
    fly_wire = CategoryFactory(limit_value=4, limit_unit="WH", severity="urgent")
    assert deadline_for(fly_wire, at(2026, 10, 1, 22)) == at(2026, 10, 2, 2)
    urgent_days = CategoryFactory(limit_value=1, limit_unit="WD", severity="urgent")
    assert deadline_for(urgent_days, at(2026, 10, 1, 22)) == at(2026, 10, 2, 22)


# --- measuring working time ------------------------------------------------------------------


def test_calendar_working_seconds_between_counts_only_working_time():
    hours = working_seconds_between(at(2026, 2, 13, 16), at(2026, 2, 24, 9)) / 3600
    assert hours == 1.5 + 7.5 + 0.5
    assert working_seconds_between(at(2026, 2, 24, 9), at(2026, 2, 13, 16)) == -hours * 3600
    assert working_seconds_between(at(2026, 3, 9, 12), at(2026, 3, 9, 13, 30)) == 0


def test_calendar_working_days_between_counts_the_festival_right():
    # Mon 9 to Fri 13 Feb, make-up Sat 14, festival 15 to 23, Tue 24 to Fri 27, make-up Sat 28.
    assert working_days_between(day(2, 9), day(3, 1)) == 5 + 1 + 4 + 1
    assert working_days_between(day(3, 1), day(2, 9)) == 0


# --- properties ------------------------------------------------------------------------------

starts = st.datetimes(
    min_value=datetime.datetime(2025, 1, 1),
    max_value=datetime.datetime(2026, 11, 30),
    timezones=st.just(SHANGHAI),
)


def _is_working_time(moment: datetime.datetime) -> bool:
    local = moment.astimezone(SHANGHAI)
    return is_working_day(local.date()) and any(
        begin <= local.time() <= end for begin, end in working_periods()
    )


@hypothesis_settings(deadline=None, max_examples=80)
@given(start=starts, value=st.integers(min_value=1, max_value=30))
def test_deadline_in_working_days_never_lands_on_a_non_working_day(start, value):
    deadline = add_limit(start, value, "WD")
    assert is_working_day(deadline.astimezone(SHANGHAI).date())
    assert _is_working_time(deadline)
    assert deadline > start


@hypothesis_settings(deadline=None, max_examples=80)
@given(
    start=starts,
    unit=st.sampled_from(["H", "WH", "WD"]),
    values=st.tuples(st.integers(0, 60), st.integers(0, 60)).map(sorted),
)
def test_deadline_is_monotonic_in_the_limit_value(start, unit, values):
    smaller, larger = values
    assert add_limit(start, smaller, unit) <= add_limit(start, larger, unit)
    if smaller < larger:
        assert add_limit(start, smaller, unit) < add_limit(start, larger, unit)


@hypothesis_settings(deadline=None, max_examples=80)
@given(start=starts, value=st.integers(min_value=1, max_value=80))
def test_deadline_in_working_hours_holds_exactly_that_much_working_time(start, value):
    deadline = add_limit(start, value, "WH")
    assert deadline - start >= datetime.timedelta(hours=value)
    assert working_seconds_between(start, deadline) == value * 3600
    assert _is_working_time(deadline)
