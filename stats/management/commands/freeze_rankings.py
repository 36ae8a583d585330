"""Freeze the 红黑榜 of a week (default: the last week that ended), as the Monday task does."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from stats import services


class Command(BaseCommand):
    help = "Freeze the weekly ranking of organisations and districts (idempotent)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--week", help='ISO week, e.g. "2025-W40" (default: last week).')

    def handle(self, *args, week: str | None = None, **options) -> None:
        week_start = services.parse_week(week) if week else services.last_ended_week()
        if week_start is None:
            raise CommandError(f"Not an ISO week: {week!r} (expected e.g. 2025-W40).")
        try:
            rankings = services.ranking_freeze(week_start=week_start)
        except ValueError as error:
            raise CommandError(str(error)) from error
        for ranking in rankings:
            self.stdout.write(
                f"{ranking}: {ranking.entries.count()} units, "
                f"frozen {ranking.frozen_at:%Y-%m-%d %H:%M}"
            )
