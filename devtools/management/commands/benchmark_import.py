"""Benchmark the bulk import: an XLSX of N inspection points, previewed, committed, re-imported.

Not a test: it prints wall time, peak Python memory (tracemalloc), the process's peak RSS and
the number of SQL queries of each phase. Everything runs in a transaction that is rolled back,
so the database is left as it was (pass --keep to keep the points).
"""

from __future__ import annotations

import io
import random
import resource
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from districts import importexport
from districts.models import Community, District, PointType, Zone

COMMUNITIES = 40


class _Rollback(Exception):
    pass


class Command(BaseCommand):
    help = "Import N generated inspection points from XLSX and report time and peak memory."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--points", type=int, default=5000)
        parser.add_argument(
            "--keep", action="store_true", help="Keep the imported rows instead of rolling back."
        )
        parser.add_argument(
            "--no-trace",
            action="store_true",
            help="Do not trace Python memory (tracing slows the run down).",
        )

    def handle(self, *args: Any, points: int, keep: bool, no_trace: bool, **options: Any) -> None:
        self.trace = not no_trace
        try:
            with transaction.atomic():
                self._run(points)
                if not keep:
                    raise _Rollback
        except _Rollback:
            self.stdout.write("Rolled back: the database is unchanged.")

    def _measure(self, label: str, action: Callable[[], Any]) -> Any:
        if self.trace:
            tracemalloc.start()
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            result = action()
            elapsed = time.perf_counter() - started
        peak = 0
        if self.trace:
            _current, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        memory = f"peak Python memory {peak / 1048576:7.1f} MiB, " if self.trace else ""
        self.stdout.write(
            f"{label:<28} {elapsed:7.2f} s   {memory}process peak RSS {rss:6.0f} MiB, "
            f"{len(queries):4d} queries"
        )
        return result

    def _run(self, count: int) -> None:
        zone, _created = Zone.objects.get_or_create(
            code="bench-zone", defaults={"name": "基准测试区"}
        )
        district, _created = District.objects.get_or_create(
            code="bench-district", defaults={"name": "基准街道", "zone": zone}
        )
        communities = [
            Community.objects.get_or_create(
                code=f"bench-community-{index}",
                defaults={"name": f"基准社区{index}", "district": district},
            )[0]
            for index in range(COMMUNITIES)
        ]
        point_type, _created = PointType.objects.get_or_create(
            code="BENCH_TYPE", defaults={"name": "基准点位类型"}
        )
        self.stdout.write(f"Benchmark: {count} inspection points in {COMMUNITIES} communities\n")

        def generate() -> bytes:
            from openpyxl import Workbook

            randomiser = random.Random(20260101)  # the same file every run
            workbook = Workbook(write_only=True)
            sheet = workbook.create_sheet("points")
            sheet.append(importexport.SPECS["points"].column_names)
            for index in range(count):
                sheet.append(
                    [
                        f"bench-point-{index:06d}",
                        f"基准点位{index}号",
                        point_type.code,
                        communities[index % COMMUNITIES].code,
                        f"开发区测试路{index}号",
                        round(43.55 + randomiser.random() * 0.15, 6),
                        round(122.15 + randomiser.random() * 0.2, 6),
                        "yes",
                    ]
                )
            output = io.BytesIO()
            workbook.save(output)
            return output.getvalue()

        data = self._measure("generate XLSX", generate)
        self.stdout.write(f"{'':<28} file size {len(data) / 1024:.0f} KiB")

        def preview() -> importexport.ImportPlan:
            sheets, ignored = importexport.read_upload(io.BytesIO(data), file_format="xlsx")
            return importexport.import_plan(sheets, ignored_sheets=ignored)

        plan = self._measure("preview (read + check)", preview)
        if plan.errors:
            raise RuntimeError(f"unexpected errors: {plan.errors[:5]}")
        self.stdout.write(f"{'':<28} {len(plan.kinds['points'].create)} to create")

        result = self._measure(
            "commit (bulk insert)",
            lambda: importexport.import_apply(actor=None, plan=plan, source_name="bench.xlsx"),
        )
        self.stdout.write(f"{'':<28} {result.counts['points']}")

        again = self._measure("re-import preview", preview)
        self.stdout.write(
            f"{'':<28} {again.kinds['points'].unchanged} unchanged, "
            f"{len(again.kinds['points'].create) + len(again.kinds['points'].update)} to write"
        )

        def export() -> bytes:
            return importexport.export_xlsx(["points"])

        exported = self._measure("export XLSX (points)", export)
        self.stdout.write(f"{'':<28} file size {len(exported) / 1024:.0f} KiB")
