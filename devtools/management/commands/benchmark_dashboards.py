"""Benchmark the dashboards, the 红黑榜, the 通报 and a 10 000-row ledger on a scratch database.

    createdb -U postgres -h 127.0.0.1 civicapp_bench_i13_1m
    export DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/civicapp_bench_i13_1m
    .venv/bin/python manage.py migrate
    .venv/bin/python manage.py benchmark_dashboards --issues 1000000

A database that already holds the --issues benchmark cases is reused (no seed; the rollup is
rebuilt only if empty): a second run measures in minutes. --reseed forces a new load.

It refuses any database that is not PostgreSQL or whose name lacks "bench", because it empties
the issue tables. The seed is one INSERT … SELECT over generate_series inside PostgreSQL: two
years of issues over 10 districts, 60 communities, 40 organisations and 20 categories, with a
realistic status mix (cases older than a month are settled, but for 1 % parked), lifecycle
timestamps, reworks, extensions, escalations and returns, loaded before the issue table's indexes
are built; the KPI rollup is then built by `rebuild_kpi_rollup`. Each page is then requested
through the test client as a zone leader, a district leader, a supervisor and a handler (median
and p95 of --repeat runs after one warm-up, the median CPU time of this process (the Python
side, less sensitive to a loaded machine than wall time), and the query count), and a ledger of
10 000 issues with two embedded thumbnails each is written, with its time, CPU time and memory
peak (tracemalloc and RSS).
"""

from __future__ import annotations

import cProfile
import datetime
import io
import math
import os
import resource
import statistics
import tempfile
import time
import tracemalloc

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import reverse
from django.utils import timezone

from districts.models import (
    Category,
    Community,
    District,
    Membership,
    Organisation,
    OwnerKind,
    Role,
    Severity,
    Zone,
)
from issues.models import Issue, Photo
from stats import services
from stats.ledger import write_ledger
from stats.models import KpiDay, KpiMonth

DISTRICTS = 10
COMMUNITIES_PER_DISTRICT = 6
ORGANISATIONS = 40
CATEGORIES = 20
LEDGER_ROWS = 10_000
SEEDED_TABLES = [
    "stats_rankingentry",
    "stats_weeklyranking",
    "stats_ledgerexport",
    "issues_photo",
    "issues_escalation",
    "issues_notification",
    "issues_extensionrequest",
    "issues_issueevent",
    "issues_issue",
]

SEED_SQL = """
WITH base AS (
    SELECT g,
           now() - (random() * interval '730 days') AS reported,
           random() AS r_status, random() AS r1, random() AS r2, random() AS r3, random() AS r4,
           floor(random() * %(communities)s)::int AS c,
           floor(random() * %(categories)s)::int AS k,
           floor(random() * %(reporters)s)::int AS u
    FROM generate_series(1, %(count)s) AS g
), shaped AS (
    SELECT b.*,
           CASE
             WHEN b.reported > now() - interval '3 days' THEN
               CASE WHEN r_status < 0.2 THEN 'reported' WHEN r_status < 0.5 THEN 'assigned'
                    WHEN r_status < 0.8 THEN 'in_progress' ELSE 'submitted' END
             WHEN b.reported > now() - interval '30 days' THEN
               CASE WHEN r_status < 0.83 THEN 'closed' WHEN r_status < 0.86 THEN 'closed_spot'
                    WHEN r_status < 0.92 THEN 'rejected' WHEN r_status < 0.94 THEN 'cancelled'
                    WHEN r_status < 0.96 THEN 'in_progress' WHEN r_status < 0.98 THEN 'parked'
                    ELSE 'submitted' END
             ELSE
               -- Older cases are settled, but for the long-term parked (挂账) ones.
               CASE WHEN r_status < 0.86 THEN 'closed' WHEN r_status < 0.89 THEN 'closed_spot'
                    WHEN r_status < 0.95 THEN 'rejected' WHEN r_status < 0.99 THEN 'cancelled'
                    ELSE 'parked' END
           END AS kind,
           (%(community_ids)s::int[])[c + 1] AS community_id,
           (%(district_ids)s::int[])[c + 1] AS district_id,
           (%(org_ids)s::int[])[c %% %(organisations)s + 1] AS org_id,
           (%(category_ids)s::int[])[k + 1] AS category_id,
           (%(reporter_ids)s::int[])[u + 1] AS reporter_id,
           b.reported + r1 * interval '4 hours' AS dispatched
    FROM base AS b
), timed AS (
    SELECT s.*,
           s.dispatched + r2 * interval '8 hours' AS acknowledged,
           s.dispatched + r2 * interval '8 hours' + r3 * interval '60 hours' AS fixed,
           s.dispatched + interval '48 hours' AS due
    FROM shaped AS s
)
INSERT INTO issues_issue (
    zone_id, case_number, year, district_id, community_id, point_id, category_id, description,
    severity, address, reporter_id, assigned_organisation_id, status, deadline,
    clock_started_at, rework_count, escalation_level, extension_count, fixed_on_spot,
    reported_at, dispatched_at, acknowledged_at, submitted_at, first_submitted_at, verified_at,
    closed_at, rejected_at, parked_at, cancelled_at, updated_at
)
SELECT
    %(zone_id)s, 'B' || g, extract(year FROM reported)::int, district_id, community_id, NULL,
    category_id, '基准案件 ' || g, 'general', '', reporter_id,
    CASE WHEN kind IN ('reported', 'rejected', 'cancelled', 'closed_spot') THEN NULL
         ELSE org_id END,
    CASE WHEN kind = 'closed_spot' THEN 'closed' ELSE kind END,
    CASE WHEN kind IN ('reported', 'rejected', 'cancelled', 'closed_spot') THEN NULL
         ELSE due + CASE WHEN r4 < 0.05 THEN interval '72 hours' ELSE interval '0' END END,
    CASE WHEN kind IN ('reported', 'rejected', 'cancelled', 'closed_spot') THEN NULL
         ELSE dispatched END,
    CASE WHEN kind = 'closed' AND r4 > 0.9 THEN 1 ELSE 0 END,
    CASE WHEN kind IN ('assigned', 'in_progress') AND due < now() THEN
         CASE WHEN r4 < 0.5 THEN 1 WHEN r4 < 0.8 THEN 2 ELSE 3 END ELSE 0 END,
    CASE WHEN kind NOT IN ('reported', 'rejected', 'cancelled', 'closed_spot') AND r4 < 0.05
         THEN 1 ELSE 0 END,
    kind = 'closed_spot',
    reported,
    CASE WHEN kind IN ('reported', 'rejected', 'cancelled', 'closed_spot') THEN NULL
         ELSE dispatched END,
    CASE WHEN kind IN ('in_progress', 'submitted', 'closed', 'parked') THEN acknowledged END,
    CASE WHEN kind IN ('submitted', 'closed') THEN fixed END,
    CASE WHEN kind IN ('submitted', 'closed') THEN fixed END,
    CASE WHEN kind = 'closed' THEN fixed + r1 * interval '20 hours' END,
    CASE WHEN kind = 'closed' THEN fixed + r1 * interval '20 hours'
         WHEN kind = 'closed_spot' THEN reported + interval '10 minutes' END,
    CASE WHEN kind = 'rejected' THEN reported + interval '1 hour' END,
    CASE WHEN kind = 'parked' THEN acknowledged END,
    CASE WHEN kind = 'cancelled' THEN reported + interval '2 hours' END,
    now()
FROM timed
"""


class Command(BaseCommand):
    help = "Seed a scratch *bench* database and time the dashboards and a 10 000-row ledger."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--issues", type=int, default=1_000_000)
        parser.add_argument(
            "--no-seed", "--reuse", action="store_true", dest="no_seed",
            help="Measure the cases there (the default when it already holds --issues cases); "
            "a database without benchmark cases is seeded.",
        )  # fmt: skip
        parser.add_argument("--reseed", action="store_true", help="Seed even if already seeded.")
        parser.add_argument("--repeat", type=int, default=7)
        parser.add_argument("--no-ledger", action="store_true")
        parser.add_argument(
            "--page", action="append", help="Only pages whose label contains this (repeatable)."
        )
        parser.add_argument(
            "--profile",
            metavar="LABEL",
            help="Write a cProfile of 20 requests of the page with this exact label, and print "
            "its statements with their times.",
        )
        parser.add_argument("--profile-out", default="benchmark_dashboards.prof")

    def handle(self, *args, **options) -> None:
        name = str(connection.settings_dict["NAME"])
        if connection.vendor != "postgresql" or "bench" not in name:
            raise CommandError(
                f"Refusing to run on {name!r}: use a PostgreSQL database whose name contains "
                "'bench' (it empties the issue tables)."
            )
        world = self.reference_world()
        seeded = Issue.objects.filter(case_number__startswith="B").count()
        # --reuse keeps whatever cases are there; a database without any is seeded all the same.
        reuse = seeded > 0 and (
            options["no_seed"] or (seeded == options["issues"] and not options["reseed"])
        )
        if not reuse:
            started = time.perf_counter()
            self.seed(world, options["issues"])
            self.stdout.write(
                f"seeded {options['issues']:,} issues in {time.perf_counter() - started:.1f} s"
            )
        if not reuse or not KpiDay.objects.exists():
            started = time.perf_counter()
            call_command("rebuild_kpi_rollup", stdout=self.stdout)
            self.stdout.write(f"rollup rebuilt in {time.perf_counter() - started:.1f} s")
        total = Issue.objects.count()
        self.stdout.write(
            f"issues in the database: {total:,} ({'reused' if reuse else 'seeded'}); "
            f"rollup rows: {KpiDay.objects.count():,} days, {KpiMonth.objects.count():,} months; "
            f"load average {' '.join(f'{value:.2f}' for value in os.getloadavg())}"
        )
        started = time.perf_counter()
        week = services.last_ended_week()
        with override_settings(DEBUG=False):
            services.ranking_freeze(week_start=week)
        self.stdout.write(f"freeze of week {week}: {time.perf_counter() - started:.2f} s")
        self.measure_pages(
            world,
            options["repeat"],
            only=options["page"],
            profile=options["profile"],
            profile_out=options["profile_out"],
        )
        if not options["no_ledger"] and not options["page"] and not options["profile"]:
            self.measure_ledger(world)

    # --- the reference world ---------------------------------------------------------------

    def reference_world(self) -> dict:
        zone, _created = Zone.objects.get_or_create(code="BENCH", defaults={"name": "基准开发区"})
        districts = [
            District.objects.get_or_create(
                code=f"bench-d{i}", defaults={"zone": zone, "name": f"基准街道{i}"}
            )[0]
            for i in range(DISTRICTS)
        ]
        communities = [
            Community.objects.get_or_create(
                code=f"bench-c{d}-{i}",
                defaults={"district": districts[d], "name": f"基准社区{d}-{i}"},
            )[0]
            for d in range(DISTRICTS)
            for i in range(COMMUNITIES_PER_DISTRICT)
        ]
        organisations = [
            Organisation.objects.get_or_create(
                code=f"bench-o{i}",
                defaults={
                    "name": f"基准单位{i}",
                    "kind": Organisation.Kind.DEPARTMENT,
                    "district": districts[i % DISTRICTS] if i < DISTRICTS else None,
                },
            )[0]
            for i in range(ORGANISATIONS)
        ]
        categories = [
            Category.objects.get_or_create(
                code=f"BENCH_{i}",
                defaults={
                    "name": f"基准类别{i}",
                    "big_class": Category.BigClass.values[i % len(Category.BigClass.values)],
                    "severity": Severity.GENERAL,
                    "limit_value": 48,
                    "limit_unit": "H",
                    "owner_kind": OwnerKind.TERRITORIAL,
                },
            )[0]
            for i in range(CATEGORIES)
        ]
        users = {}
        for username, role, scope in (
            ("bench-leader", Role.LEADER, "all"),
            ("bench-district-leader", Role.LEADER, "one"),
            ("bench-supervisor", Role.SUPERVISOR, "one"),
            ("bench-handler", Role.HANDLER, "org"),
            ("bench-inspector", Role.INSPECTOR, "one"),
        ):
            user, _created = get_user_model().objects.get_or_create(username=username)
            membership, _created = Membership.objects.get_or_create(
                user=user,
                defaults={
                    "role": role,
                    "all_districts": scope == "all",
                    "organisation": organisations[0] if scope == "org" else None,
                },
            )
            if scope == "one":
                membership.districts.set([districts[0]])
            users[username] = user
        return {
            "zone": zone,
            "districts": districts,
            "communities": communities,
            "organisations": organisations,
            "categories": categories,
            "users": users,
        }

    def seed(self, world: dict, count: int) -> None:
        communities = world["communities"]
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {', '.join(SEEDED_TABLES)} RESTART IDENTITY CASCADE")
            # Load first, index after: the issue table's secondary indexes are dropped and
            # built again once the rows are in (one sort each instead of a million inserts).
            cursor.execute(
                """
                SELECT i.indexname, i.indexdef FROM pg_indexes AS i
                WHERE i.tablename = 'issues_issue' AND NOT EXISTS (
                    SELECT 1 FROM pg_constraint AS c WHERE c.conname = i.indexname)
                """
            )
            indexes = cursor.fetchall()
            for name, _definition in indexes:
                cursor.execute(f'DROP INDEX "{name}"')
            cursor.execute("SELECT setseed(0.2026)")
            cursor.execute(
                SEED_SQL,
                {
                    "count": count,
                    "zone_id": world["zone"].pk,
                    "communities": len(communities),
                    "categories": len(world["categories"]),
                    "organisations": ORGANISATIONS,
                    "reporters": 1,
                    "community_ids": [c.pk for c in communities],
                    "district_ids": [c.district_id for c in communities],
                    "org_ids": [o.pk for o in world["organisations"]],
                    "category_ids": [c.pk for c in world["categories"]],
                    "reporter_ids": [world["users"]["bench-inspector"].pk],
                },
            )
            # Returns (回退) on one dispatched case in 33, and escalations of the overdue ones.
            cursor.execute(
                """
                INSERT INTO issues_issueevent (issue_id, actor_role, action, from_status,
                    to_status, note, data, created_at)
                SELECT id, '', 'return', 'assigned', 'reported', '', '{}', dispatched_at
                FROM issues_issue WHERE dispatched_at IS NOT NULL AND mod(id, 33) = 0
                """
            )
            cursor.execute(
                """
                INSERT INTO issues_escalation (issue_id, level, source, note, created_at,
                    deadline)
                SELECT id, escalation_level, 'job', '', deadline + interval '1 hour', deadline
                FROM issues_issue WHERE escalation_level > 0
                """
            )
            cursor.execute("SET maintenance_work_mem = '256MB'")
            for _name, definition in indexes:
                cursor.execute(definition)
            # A live table is vacuumed by autovacuum: the visibility map lets the dashboards'
            # covering index of the open cases answer without the heap (off on a bench server).
            cursor.execute("VACUUM ANALYZE")

    # --- measurements ----------------------------------------------------------------------

    def measure_pages(
        self,
        world: dict,
        repeat: int,
        *,
        only: list[str] | None = None,
        profile: str | None = None,
        profile_out: str = "benchmark_dashboards.prof",
    ) -> None:
        users = world["users"]
        week = services.last_ended_week()
        year, number, _weekday = week.isocalendar()
        week_label = f"{year}-W{number:02d}"
        pages = [
            ("bench-leader", "dashboard this week", reverse("stats:dashboard"), {}),
            ("bench-leader", "dashboard last week", reverse("stats:dashboard"),
             {"period": "last_week"}),
            ("bench-leader", "dashboard this month", reverse("stats:dashboard"),
             {"period": "this_month"}),
            ("bench-leader", "dashboard campaign (2 years)", reverse("stats:dashboard"),
             {"period": "custom", "start": (timezone.localdate() - datetime.timedelta(days=729))
              .isoformat(), "end": timezone.localdate().isoformat()}),
            ("bench-district-leader", "dashboard last week", reverse("stats:dashboard"),
             {"period": "last_week"}),
            ("bench-supervisor", "dashboard this month", reverse("stats:dashboard"),
             {"period": "this_month"}),
            ("bench-handler", "my organisation last week", reverse("stats:my_organisation"),
             {"period": "last_week"}),
            ("bench-leader", "ranking (frozen)", reverse("stats:ranking"), {"week": week_label}),
            ("bench-district-leader", "ranking (scoped)", reverse("stats:ranking"),
             {"week": week_label}),
            ("bench-leader", "notice", reverse("stats:notice"), {"week": week_label}),
            ("bench-leader", "notice.xlsx", reverse("stats:notice_xlsx"), {"week": week_label}),
        ]  # fmt: skip
        self.stdout.write(
            f"{'persona':<24}{'page':<32}{'status':>7}{'median ms':>11}{'p95 ms':>8}"
            f"{'CPU ms':>9}{'SQL ms':>8}{'queries':>9}"
        )
        with override_settings(DEBUG=False, ALLOWED_HOSTS=["testserver"]):
            for username, label, url, params in pages:
                if only and not any(part in label for part in only):
                    continue
                client = Client()
                client.force_login(users[username])
                response = client.get(url, params)  # warm-up
                if profile == label:
                    self.profile(client, url, params, profile_out)
                timings = []
                cpu_timings = []
                sql_timings = []
                queries = 0
                for _ in range(repeat):
                    with CaptureQueriesContext(connection) as captured:
                        started = time.perf_counter()
                        cpu_started = time.process_time()
                        response = client.get(url, params)
                        timings.append((time.perf_counter() - started) * 1000)
                        cpu_timings.append((time.process_time() - cpu_started) * 1000)
                    queries = len(captured.captured_queries)
                    sql_timings.append(
                        sum(float(query["time"]) for query in captured.captured_queries) * 1000
                    )
                ordered = sorted(timings)
                p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
                self.stdout.write(
                    f"{username:<24}{label:<32}{response.status_code:>7}"
                    f"{statistics.median(timings):>11.0f}{p95:>8.0f}"
                    f"{statistics.median(cpu_timings):>9.0f}"
                    f"{statistics.median(sql_timings):>8.0f}{queries:>9}"
                )
            self.stdout.write(
                f"load average {' '.join(f'{value:.2f}' for value in os.getloadavg())}"
            )

    def profile(self, client: Client, url: str, params: dict, out: str) -> None:
        """cProfile 20 requests of one page, and print one request's statements by time."""
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            for _ in range(20):
                client.get(url, params)
        finally:
            profiler.disable()
        profiler.dump_stats(out)
        with CaptureQueriesContext(connection) as captured:
            client.get(url, params)
        for query in sorted(captured.captured_queries, key=lambda q: -float(q["time"])):
            self.stdout.write(f"{float(query['time']) * 1000:8.1f} ms  {query['sql'][:160]}")
        self.stdout.write(f"Profile of 20 requests written to {out} (python -m pstats {out}).")

    def measure_ledger(self, world: dict) -> None:
        from PIL import Image

        ids = list(
            Issue.objects.filter(status="closed")
            .order_by("-reported_at")
            .values_list("pk", flat=True)[:LEDGER_ROWS]
        )
        picture = io.BytesIO()
        Image.new("RGB", (480, 360), (90, 140, 200)).save(picture, "JPEG", quality=80)
        name = default_storage.save("bench/thumb.jpg", ContentFile(picture.getvalue()))
        uploader = world["users"]["bench-inspector"]
        Photo.objects.filter(issue_id__in=ids).delete()
        Photo.objects.bulk_create(
            [
                Photo(issue_id=pk, kind=kind, image=name, thumbnail=name, width=480, height=360,
                      size_bytes=len(picture.getvalue()), sha256="0" * 64, uploaded_by=uploader)
                for pk in ids
                for kind in (Photo.Kind.BEFORE, Photo.Kind.AFTER)
            ],
            batch_size=5000,
        )  # fmt: skip
        queryset = Issue.objects.filter(pk__in=ids).order_by("-reported_at", "-id")
        # The task writes to a temporary file, as here; the workbook never sits in memory.
        output = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        tracemalloc.start()
        started = time.perf_counter()
        cpu_started = time.process_time()
        count = write_ledger(queryset, output)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        size = output.tell()
        output.close()
        self.stdout.write(
            f"ledger: {count:,} rows, {2 * count:,} thumbnails, {size / 1e6:.1f} MB"
            f" in {elapsed:.1f} s ({cpu:.1f} s CPU of this process, under tracemalloc;"
            f" load average {os.getloadavg()[0]:.2f}); Python peak {peak / 1e6:.0f} MB"
            " (tracemalloc), process max RSS "
            f"{rss_after / 1024:.0f} MB (was {rss_before / 1024:.0f} MB before)"
        )
