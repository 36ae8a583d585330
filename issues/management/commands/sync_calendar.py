"""`manage.py sync_calendar [--year Y ...] [--prune]`: refresh the work calendar from a package."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from issues.calendar import calendar_days_sync, package_years


class Command(BaseCommand):
    help = (
        "Upsert public holidays and make-up working days (调休) from the installed chinesecalendar "
        "package into the work calendar. Next year: upgrade the package, then run this."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--year",
            type=int,
            action="append",
            dest="years",
            help="Only this year (repeatable). Default: every year the package knows.",
        )
        parser.add_argument(
            "--prune",
            action="store_true",
            help="Also delete days in those years that the package does not list "
            "(removes days admins added by hand).",
        )

    def handle(self, *args: Any, years: list[int] | None, prune: bool, **options: Any) -> None:
        try:
            result = calendar_days_sync(years=years, prune=prune)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        first, last = package_years()
        span = (
            f"{result.years[0]}–{result.years[-1]}"
            if len(result.years) > 1
            else str(result.years[0])
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Work calendar {span}: {result.upserted} days upserted, {result.removed} removed "
                f"(package knows {first}–{last})."
            )
        )
