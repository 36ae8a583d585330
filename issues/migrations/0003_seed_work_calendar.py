"""Seed the work calendar with every public holiday and make-up working day (调休) that the
chinesecalendar package knows (2004 to its last year). Later years: upgrade the package and run
`manage.py sync_calendar`, or edit the days in the admin."""

from django.db import migrations


def _package_days():
    # Self-contained on purpose: a migration must not change when app code changes later.
    import chinese_calendar
    from chinese_calendar.constants import Holiday

    chinese_names = {holiday.value: holiday.chinese for holiday in Holiday}
    for source, working in ((chinese_calendar.holidays, False), (chinese_calendar.workdays, True)):
        for day, english in source.items():
            yield day, working, chinese_names.get(english, english or "")[:60]


def seed(apps, schema_editor):
    CalendarDay = apps.get_model("issues", "CalendarDay")
    existing = set(CalendarDay.objects.values_list("date", flat=True))
    CalendarDay.objects.bulk_create(
        [
            CalendarDay(date=day, is_working_day=working, name=name)
            for day, working, name in sorted(_package_days())
            if day not in existing
        ],
        batch_size=500,
    )


def unseed(apps, schema_editor):
    CalendarDay = apps.get_model("issues", "CalendarDay")
    CalendarDay.objects.filter(date__in=[day for day, _, _ in _package_days()]).delete()


class Migration(migrations.Migration):
    dependencies = [("issues", "0002_issueevent_append_only_trigger")]

    operations = [migrations.RunPython(seed, unseed)]
