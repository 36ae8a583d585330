"""Recompute the KPI rollup from the cases, as the nightly task does (after a bulk load, or a
change to the work calendar or a category's big class)."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand

from stats import rollup


class Command(BaseCommand):
    help = "Recompute the daily and monthly KPI rollup from scratch (PostgreSQL)."

    def handle(self, *args, **options) -> None:
        if not rollup.available():
            self.stdout.write("The rollup is kept on PostgreSQL only; nothing to do here.")
            return
        started = time.perf_counter()
        rows = rollup.rebuild()
        self.stdout.write(f"{rows:,} day rows in {time.perf_counter() - started:.1f} s")
