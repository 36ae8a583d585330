"""Benchmark every main page through the full middleware stack on a seeded scratch database.

    createdb -U postgres -h 127.0.0.1 civicapp_perf
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/civicapp_perf
    .venv/bin/python manage.py migrate
    .venv/bin/python manage.py benchmark_pages                 # seed 200 000 issues, measure
    .venv/bin/python manage.py benchmark_pages --no-seed       # measure the data already there
    .venv/bin/python manage.py benchmark_pages --issues 1000000 --page list --page detail
    .venv/bin/python manage.py benchmark_pages --no-seed --profile "list 20" --profile-out list.prof

It refuses any database that is not PostgreSQL or whose name contains neither "bench" nor "perf",
because it empties the issue tables. The seed has the shape of a real campaign, written in SQL with
generate_series so a million rows take a minute: two years of reports, ids in time order, about
8 % still open (spread from yesterday to months ago), a third of those past their deadline, the
rest mostly closed; 5 000 inspection points in 240 communities of 12 districts and 2 000 staff.

Each page is requested through `django.test.Client` (every middleware, sessions in the configured
backend, templates, DEBUG off) and printed with the median and p95 wall time, the SQL time (a
database execute wrapper), the number of statements, the Python time outside SQL and the response
size. Every statement of a list page that reads `issues_issue` is run again under
EXPLAIN (ANALYZE, BUFFERS); the rows PostgreSQL read from the issue table (returned plus removed by
filters, times loops) are printed, statement by statement (with the largest and their number when
a page runs several, as a search read window by window does), and the command fails when one of
them reads more than `ROWS_READ_BUDGET` rows for a 20-row page.
"""

from __future__ import annotations

import cProfile
import datetime
import json
import os
import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import Count, Min
from django.test import Client
from django.test.utils import override_settings
from django.urls import reverse
from django.utils import timezone

from civicapp.db import AS_WRITTEN
from districts.models import (
    Category,
    Community,
    District,
    InspectionPoint,
    Membership,
    Organisation,
    OwnerKind,
    PointType,
    Responsibility,
    Role,
    Zone,
)
from issues import stock
from issues.filters import OTHER_SORTS
from issues.models import OPEN_STATUSES, Issue, Status
from issues.paging import NULL_MARK

DISTRICTS = 12
COMMUNITIES_PER_DISTRICT = 20
POINTS = 5000
STAFF = 2000
DEPARTMENTS = 30
PROPERTY_COMPANIES = 18
# A list query of a 20-row page may read at most this many issue rows (returned + filtered out).
ROWS_READ_BUDGET = 400
SEEDED_TABLES = [
    "issues_issue",
    "issues_issueevent",
    "issues_notification",
    "issues_photo",
    "issues_casecounter",
    "issues_extensionrequest",
    "issues_escalation",
]
PHRASES = (
    "垃圾暴露", "生活垃圾乱堆乱放", "垃圾桶满溢未清运", "路面不洁", "人行道积土", "占道经营",
    "流动摊贩占用人行道", "机动车乱停放", "共享单车堆积", "小广告乱贴", "井盖缺失", "井盖破损",
    "路灯不亮", "绿地毁损", "工地围挡破损", "消防通道堵塞", "路面积水", "公厕设施损坏",
    "路名牌缺失", "积雪未清", "屋檐冰溜子", "流浪犬出没", "露天烧烤", "飞线充电", "墙面污损",
)  # fmt: skip
STREETS = (
    "新城大街", "世纪路", "滨河大道", "明德路", "通北路", "创业路", "科技路", "车站后街",
    "建国路", "和平路", "民主路", "团结路", "胜利路", "光明街", "育新街", "兴安路",
)  # fmt: skip

# One INSERT … SELECT writes every issue. Per row: r_age places it in time (ids in time order,
# more reports lately), r_open decides open or not with a probability that falls with age, so the
# open work spreads from yesterday to months ago; a third of the open cases are past due.
SEED_ISSUES_SQL = """
WITH base AS (
    SELECT g,
           %(now)s::timestamptz - make_interval(
               secs => %(span)s * power(1 - g::float8 / %(total)s, 1.3)) AS reported_at,
           random() AS r_open, random() AS r_status, random() AS r_late, random() AS r_point,
           random() AS r_org, random() AS r_text, random() AS r_text2, random() AS r_rep,
           1 + floor(random() * %(communities)s)::int AS ci,
           1 + floor(random() * %(categories)s)::int AS ki
    FROM generate_series(1, %(total)s) AS g
), aged AS (
    SELECT base.*, extract(epoch FROM %(now)s::timestamptz - reported_at) / 86400 AS age_days
    FROM base
), statused AS (
    SELECT aged.*,
        CASE
            WHEN r_open < (CASE WHEN age_days < 2 THEN 0.9 WHEN age_days < 30 THEN 0.4
                                WHEN age_days < 180 THEN 0.1 ELSE 0.025 END) THEN
                CASE WHEN r_status < 0.15 THEN 'reported' WHEN r_status < 0.40 THEN 'assigned'
                     WHEN r_status < 0.75 THEN 'in_progress' WHEN r_status < 0.90 THEN 'submitted'
                     ELSE 'parked' END
            ELSE
                CASE WHEN r_status < 0.90 THEN 'closed' WHEN r_status < 0.96 THEN 'rejected'
                     ELSE 'cancelled' END
        END AS status
    FROM aged
), placed AS (
    SELECT s.*, c.id AS community_id, c.district_id, c.office_id, c.point_count, c.first_point,
           k.id AS category_id, k.severity, k.limit_hours,
           LEAST(s.reported_at + interval '1 hour', %(now)s::timestamptz) AS dispatched
    FROM statused s
    JOIN bench_community c ON c.ci = s.ci
    JOIN bench_category k ON k.ki = s.ki
)
INSERT INTO issues_issue (
    zone_id, case_number, year, district_id, community_id, point_id, category_id, description,
    severity, address, reporter_id, assigned_organisation_id, status, deadline, clock_started_at,
    rework_count, escalation_level, extension_count, fixed_on_spot, reported_at, dispatched_at,
    acknowledged_at, submitted_at, first_submitted_at, verified_at, closed_at, rejected_at,
    parked_at, cancelled_at, updated_at
)
SELECT
    %(zone)s,
    extract(year FROM reported_at AT TIME ZONE %(tz)s)::int || '-' || lpad(
        (row_number() OVER (PARTITION BY extract(year FROM reported_at AT TIME ZONE %(tz)s)
                            ORDER BY g))::text, 6, '0'),
    extract(year FROM reported_at AT TIME ZONE %(tz)s)::int,
    district_id, community_id,
    CASE WHEN r_point < 0.6 AND point_count > 0
         THEN first_point + floor(r_point / 0.6 * point_count)::int END,
    category_id,
    (%(streets)s::text[])[1 + floor(r_text * %(street_count)s)::int]
        || (%(phrases)s::text[])[1 + floor(r_text2 * %(phrase_count)s)::int] || ',请尽快处理。'
        || CASE WHEN r_text2 < 0.02 THEN '群众第9次反映。' ELSE '' END,
    severity,
    (%(streets)s::text[])[1 + floor(r_text2 * %(street_count)s)::int]
        || (1 + floor(r_text * 300))::int || '号',
    (%(reporters)s::int[])[1 + floor(r_rep * %(reporter_count)s)::int],
    CASE WHEN status IN ('reported', 'rejected') THEN NULL
         WHEN r_org < 0.7 THEN office_id
         ELSE (%(organisations)s::int[])[1 + floor(r_org * %(organisation_count)s)::int] END,
    status,
    CASE WHEN status IN ('reported', 'rejected') THEN NULL
         WHEN status IN ('assigned', 'in_progress') AND r_late < 0.55
             THEN dispatched + (%(now)s::timestamptz - dispatched) * (0.3 + 0.7 * r_late / 0.55)
         WHEN status IN ('assigned', 'in_progress', 'submitted', 'parked')
             THEN %(now)s::timestamptz + make_interval(hours => (1 + r_late * 96)::int)
         ELSE dispatched + make_interval(hours => limit_hours) END,
    CASE WHEN status IN ('reported', 'rejected') THEN NULL ELSE dispatched END,
    CASE WHEN r_late < 0.05 AND status IN ('closed', 'submitted', 'in_progress') THEN 1 ELSE 0 END,
    CASE WHEN status IN ('assigned', 'in_progress') AND r_late < 0.55
         THEN 1 + floor(r_late / 0.55 * 3)::int ELSE 0 END,
    0, false, reported_at,
    CASE WHEN status IN ('reported', 'rejected') THEN NULL ELSE dispatched END,
    CASE WHEN status IN ('in_progress', 'submitted', 'parked', 'closed')
         THEN dispatched + interval '30 minutes' END,
    CASE WHEN status IN ('submitted', 'closed') THEN dispatched + interval '20 hours' END,
    CASE WHEN status IN ('submitted', 'closed') THEN dispatched + interval '20 hours' END,
    CASE WHEN status = 'closed' THEN dispatched + interval '30 hours' END,
    CASE WHEN status = 'closed' THEN dispatched + interval '30 hours' END,
    CASE WHEN status = 'rejected' THEN reported_at + interval '2 hours' END,
    CASE WHEN status = 'parked' THEN dispatched + interval '3 hours' END,
    CASE WHEN status = 'cancelled' THEN dispatched + interval '5 hours' END,
    LEAST(%(now)s::timestamptz, reported_at + make_interval(hours => (1 + r_text * 40)::int))
FROM placed
ORDER BY g
"""


@dataclass
class Result:
    """One page: timings over the repeats, statements, size, and rows read per list statement."""

    page: str
    status: int = 0
    wall_ms: list[float] = field(default_factory=list)
    sql_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)  # this process only: steadier under load
    queries: int = 0
    size: int = 0
    rows_read: list[int] = field(default_factory=list)
    # Per list statement, how many alternatives it reads (a search's UNION), each in budget.
    alternatives: list[int] = field(default_factory=list)
    page_rows: int = 0


def _reference_loop_ms() -> float:
    """The CPU time of a fixed pure-Python loop, the best of five: how fast this machine runs
    the interpreter, for comparing page figures measured on different machines."""
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        total = 0
        for number in range(1_000_000):
            total += number
        best = min(best, time.process_time() - started)
    return best * 1000


class SqlTimer:
    """A database execute wrapper that counts statements and adds up their time."""

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self.statements: list[str] = []

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started
            self.count += 1
            if not many:
                self.statements.append(context["cursor"].cursor.query)


class Command(BaseCommand):
    help = "Seed a scratch *bench*/*perf* database and time every main page in-process."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--issues", type=int, default=200_000)
        parser.add_argument("--no-seed", action="store_true", help="Measure the data there.")
        parser.add_argument(
            "--reuse",
            action="store_true",
            help="Seed only when the database does not already hold --issues issues.",
        )
        parser.add_argument("--repeat", type=int, default=15, help="Requests per page.")
        parser.add_argument("--page", action="append", help="Only pages whose name has this.")
        parser.add_argument("--profile", help="Write a cProfile of this page (exact name).")
        parser.add_argument("--profile-out", default="benchmark_pages.prof")
        parser.add_argument("--no-explain", action="store_true", help="Skip the EXPLAINs.")
        parser.add_argument(
            "--photo",
            type=int,
            default=0,
            metavar="N",
            help="Instead of the pages: POST N whole reports with one 12 MP photo each.",
        )

    def handle(self, *args, **options) -> None:
        name = str(connection.settings_dict["NAME"])
        if connection.vendor != "postgresql":
            raise CommandError("The page benchmark needs PostgreSQL; point DATABASE_URL at it.")
        if "bench" not in name and "perf" not in name:
            raise CommandError(
                f"Refusing to run on database {name!r}: it empties the issue tables. "
                "Use a scratch database whose name contains 'bench' or 'perf'."
            )
        world = self.reference_world()
        if (
            options["reuse"]
            and Issue.objects.filter(zone=world["zone"]).count() == options["issues"]
        ):
            self.stdout.write(f"Reusing the {options['issues']:,} issues already seeded.")
        elif not options["no_seed"]:
            self.seed(world, options["issues"])
        elif not Issue.objects.filter(zone=world["zone"]).exists():
            raise CommandError("No seeded issues: run once without --no-seed.")
        # The seed writes the cases straight into the table, past the services that keep the
        # home pages' counters; recount them (a reused database may have been reseeded since).
        stock.rebuild()
        if options["photo"]:
            with override_settings(DEBUG=False, ALLOWED_HOSTS=["testserver"]):
                self.measure_photo_reports(world, options["photo"])
            return
        results: list[Result] = []
        with override_settings(DEBUG=False, ALLOWED_HOSTS=["testserver"]):
            for persona, page, url in self.pages(world):
                if options["page"] and not any(part in page for part in options["page"]):
                    continue
                client = self.client_for(world["personas"][persona])
                if options["profile"] == page:
                    self.profile(client, url, options["profile_out"])
                results.append(
                    self.measure(
                        client,
                        page,
                        url,
                        options["repeat"],
                        explain=page.startswith("list") and not options["no_explain"],
                    )
                )
        failed = self.print_table(results)
        if failed:
            raise CommandError(f"FAIL: {', '.join(failed)} read more than {ROWS_READ_BUDGET} rows")

    # --- reference data -----------------------------------------------------------------------

    def reference_world(self) -> dict:
        """One zone of 12 districts, 240 communities, 5 000 points, 60 organisations, 2 000 staff.

        Built once (idempotent); the issues are reseeded on every run without --no-seed."""
        zone, _created = Zone.objects.get_or_create(code="bench", defaults={"name": "基准测试区"})
        districts = list(District.objects.filter(zone=zone).order_by("sort_order"))
        if not districts:
            with transaction.atomic():
                self.build_reference(zone)
            districts = list(District.objects.filter(zone=zone).order_by("sort_order"))
        user_model = get_user_model()
        personas = {
            username: user_model.objects.get(username=f"bench-{username}")
            for username in (
                "inspector",
                "handler",
                "supervisor",
                "leader",
                "admin",
            )
        }
        return {"zone": zone, "districts": districts, "personas": personas}

    def build_reference(self, zone: Zone) -> None:
        self.stdout.write("Building the reference data (5 000 points, 2 000 staff)…")
        districts = District.objects.bulk_create(
            District(
                zone=zone,
                code=f"bench-d{number}",
                name=f"基准街道{number}",
                name_en=f"Bench street {number}",
                sort_order=number,
            )
            for number in range(DISTRICTS)
        )
        communities = Community.objects.bulk_create(
            Community(
                district=district,
                code=f"bench-c{index}-{number}",
                name=f"基准社区{index}-{number}",
                name_en=f"Bench community {index}-{number}",
            )
            for index, district in enumerate(districts)
            for number in range(COMMUNITIES_PER_DISTRICT)
        )
        point_types = PointType.objects.bulk_create(
            PointType(code=f"BENCH_PT{number}", name=f"基准点位类型{number}") for number in range(8)
        )
        InspectionPoint.objects.bulk_create(
            (
                InspectionPoint(
                    code=f"bench-p{number}",
                    name=f"{STREETS[number % len(STREETS)]}点位{number}",
                    point_type=point_types[number % len(point_types)],
                    community=communities[number * len(communities) // POINTS],
                    address=f"{STREETS[number % len(STREETS)]}{number % 300 + 1}号",
                    latitude=Decimal("43.6") + Decimal(number % 900) / 10000,
                    longitude=Decimal("122.2") + Decimal(number // 900) / 1000,
                )
                for number in range(POINTS)
            ),
            batch_size=1000,
        )
        offices = Organisation.objects.bulk_create(
            Organisation(
                code=f"bench-office{index}",
                name=f"{district.name}办事处",
                kind=Organisation.Kind.STREET_OFFICE,
                district=district,
            )
            for index, district in enumerate(districts)
        )
        departments = Organisation.objects.bulk_create(
            Organisation(
                code=f"bench-dept{number}",
                name=f"基准部门{number}",
                kind=Organisation.Kind.DEPARTMENT,
            )
            for number in range(DEPARTMENTS)
        )
        Organisation.objects.bulk_create(
            Organisation(
                code=f"bench-property{number}",
                name=f"基准物业{number}",
                kind=Organisation.Kind.PROPERTY_COMPANY,
                district=districts[number % len(districts)],
            )
            for number in range(PROPERTY_COMPANIES)
        )
        start = timezone.localdate() - datetime.timedelta(days=800)
        Responsibility.objects.bulk_create(
            Responsibility(
                kind=OwnerKind.TERRITORIAL,
                organisation=office,
                district=office.district,
                valid_from=start,
            )
            for office in offices
        )
        user_model = get_user_model()
        password = make_password("bench12345")
        # 60 % inspectors, 30 % handlers, the rest supervisors and leaders; plus the personas.
        plan: list[tuple[str, str, dict]] = []
        for number in range(STAFF):
            district = districts[number % len(districts)]
            if number % 10 < 6:
                plan.append((f"bench-i{number}", Role.INSPECTOR, {"district": district}))
            elif number % 10 < 9:
                organisation = (offices + departments)[number % (len(offices) + len(departments))]
                plan.append((f"bench-h{number}", Role.HANDLER, {"organisation": organisation}))
            elif number % 20 == 9:
                plan.append((f"bench-s{number}", Role.SUPERVISOR, {"district": district}))
            else:
                plan.append((f"bench-l{number}", Role.LEADER, {"all": True}))
        plan += [
            ("bench-inspector", Role.INSPECTOR, {"district": districts[0]}),
            ("bench-handler", Role.HANDLER, {"organisation": offices[1]}),
            ("bench-supervisor", Role.SUPERVISOR, {"district": districts[1]}),
            ("bench-leader", Role.LEADER, {"all": True}),
            ("bench-admin", Role.ADMIN, {"all": True}),
        ]
        users = user_model.objects.bulk_create(
            (user_model(username=username, password=password) for username, _r, _s in plan),
            batch_size=1000,
        )
        memberships = Membership.objects.bulk_create(
            (
                Membership(
                    user=user,
                    role=role,
                    organisation=scope.get("organisation"),
                    all_districts=bool(scope.get("all")),
                )
                for user, (_name, role, scope) in zip(users, plan, strict=True)
            ),
            batch_size=1000,
        )
        through = Membership.districts.through
        through.objects.bulk_create(
            (
                through(membership_id=membership.pk, district_id=scope["district"].pk)
                for membership, (_name, _role, scope) in zip(memberships, plan, strict=True)
                if "district" in scope
            ),
            batch_size=1000,
        )

    # --- issues -------------------------------------------------------------------------------

    def seed(self, world: dict, total: int) -> None:
        self.stdout.write(f"Seeding {total:,} issues…")
        started = time.monotonic()
        zone = world["zone"]
        communities = list(
            Community.objects.filter(district__zone=zone).order_by("pk").values("pk", "district")
        )
        office_of = dict(
            Organisation.objects.filter(
                kind=Organisation.Kind.STREET_OFFICE, district__zone=zone
            ).values_list("district", "pk")
        )
        first_point: dict[int, tuple[int, int]] = {}
        for row in (
            # Ordered by the group only: ordering by pk too would group by it, one point each.
            InspectionPoint.objects.filter(community__district__zone=zone)
            .order_by("community")
            .values("community")
            .annotate(first=Min("pk"), count=Count("pk"))
        ):
            first_point[row["community"]] = (row["first"], row["count"])
        categories = list(
            Category.objects.filter(is_active=True)
            .order_by("pk")
            .values("pk", "severity", "limit_value", "limit_unit")
        )
        if not categories:
            raise CommandError("No categories: run migrate first (it seeds the taxonomy).")
        reporters = list(
            Membership.objects.filter(
                role=Role.INSPECTOR, user__username__startswith="bench-"
            ).values_list("user_id", flat=True)
        )
        organisations = list(
            Organisation.objects.filter(code__startswith="bench-").values_list("pk", flat=True)
        )
        now = timezone.now().replace(second=0, microsecond=0)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {', '.join(SEEDED_TABLES)} RESTART IDENTITY CASCADE")
            # Load first, index after: building each index once over the loaded table is many
            # times faster than updating thirty of them row by row (a million rows in minutes).
            indexes = self.drop_issue_indexes(cursor)
            cursor.execute(
                "CREATE TEMP TABLE bench_community (ci int, id int, district_id int, "
                "office_id int, first_point int, point_count int) ON COMMIT DROP"
            )
            cursor.executemany(
                "INSERT INTO bench_community VALUES (%s, %s, %s, %s, %s, %s)",
                [
                    (
                        index + 1,
                        row["pk"],
                        row["district"],
                        office_of[row["district"]],
                        *first_point.get(row["pk"], (0, 0)),
                    )
                    for index, row in enumerate(communities)
                ],
            )
            cursor.execute(
                "CREATE TEMP TABLE bench_category (ki int, id int, severity text, "
                "limit_hours int) ON COMMIT DROP"
            )
            cursor.executemany(
                "INSERT INTO bench_category VALUES (%s, %s, %s, %s)",
                [
                    (
                        index + 1,
                        row["pk"],
                        row["severity"],
                        row["limit_value"] * (24 if row["limit_unit"] == "WD" else 1),
                    )
                    for index, row in enumerate(categories)
                ],
            )
            cursor.execute(
                SEED_ISSUES_SQL,
                {
                    "now": now,
                    "span": 2 * 365 * 86400,
                    "total": total,
                    "communities": len(communities),
                    "categories": len(categories),
                    "zone": zone.pk,
                    "tz": timezone.get_current_timezone_name(),
                    "streets": list(STREETS),
                    "street_count": len(STREETS),
                    "phrases": list(PHRASES),
                    "phrase_count": len(PHRASES),
                    "reporters": reporters,
                    "reporter_count": len(reporters),
                    "organisations": organisations,
                    "organisation_count": len(organisations),
                },
            )
            loaded = time.monotonic()
            self.stdout.write(f"  issues loaded in {loaded - started:.0f} s; indexing…")
            # The foreign keys are checked at commit (deferred); check them now, or PostgreSQL
            # refuses to index a table with pending trigger events.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
            for definition in indexes:
                cursor.execute(definition)
            self.stdout.write(f"  {len(indexes)} indexes in {time.monotonic() - loaded:.0f} s")
            self.seed_side_rows(cursor, world, now)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE issues_issue")
            cursor.execute("ANALYZE")
        open_count = Issue.objects.filter(status__in=OPEN_STATUSES).count()
        overdue = Issue.objects.overdue(now).count()
        self.stdout.write(
            f"Seeded {total:,} issues ({open_count:,} open, {overdue:,} overdue) "
            f"in {time.monotonic() - started:.0f} s."
        )

    def drop_issue_indexes(self, cursor) -> list[str]:
        """Drop the issue table's indexes that no constraint owns; their definitions."""
        cursor.execute(
            """
            SELECT index_class.relname, pg_get_indexdef(pg_index.indexrelid)
            FROM pg_index
            JOIN pg_class index_class ON index_class.oid = pg_index.indexrelid
            WHERE pg_index.indrelid = 'issues_issue'::regclass
              AND NOT EXISTS (SELECT 1 FROM pg_constraint
                              WHERE pg_constraint.conindid = pg_index.indexrelid)
            """
        )
        rows = cursor.fetchall()
        for name, _definition in rows:
            cursor.execute(f'DROP INDEX "{name}"')
        return [definition for _name, definition in rows]

    def seed_side_rows(self, cursor, world: dict, now) -> None:
        """Photo rows of the open cases, a history for each open case, and bells full of
        notifications for the personas."""
        uploader = world["personas"]["inspector"].pk
        cursor.execute(
            """
            INSERT INTO issues_photo (issue_id, kind, image, thumbnail, width, height,
                size_bytes, sha256, original_name, original_format, uploaded_by_id, created_at)
            SELECT i.id, k.kind, 'photos/bench/' || i.id || k.kind || '.jpg',
                   'thumbs/bench/' || i.id || k.kind || '.jpg', 1600, 1200, 250000,
                   repeat('0', 64), '', 'JPEG', %s, i.reported_at
            FROM issues_issue i
            CROSS JOIN (VALUES ('before'), ('after')) AS k(kind)
            WHERE i.status IN ('reported', 'assigned', 'in_progress', 'submitted', 'parked')
              AND (k.kind = 'before' OR i.status = 'submitted')
            """,
            [uploader],
        )
        cursor.execute(
            """
            INSERT INTO issues_issueevent (issue_id, actor_id, actor_role, action, from_status,
                to_status, note, data, created_at)
            SELECT i.id, i.reporter_id, 'inspector', 'report', '', 'reported', '', '{}'::jsonb,
                   i.reported_at
            FROM issues_issue i
            WHERE i.status IN ('reported', 'assigned', 'in_progress', 'submitted', 'parked')
            UNION ALL
            SELECT i.id, NULL, '', 'dispatch', 'reported', 'assigned', '', '{}'::jsonb,
                   i.dispatched_at
            FROM issues_issue i
            WHERE i.status IN ('assigned', 'in_progress', 'submitted', 'parked')
            """
        )
        cursor.execute(
            """
            INSERT INTO issues_notification (user_id, kind, title, body, dedupe_key, link,
                read_at, created_at)
            SELECT u.id, 'reminder', '提醒 ' || n, '', '', '',
                   CASE WHEN n %% 5 = 0 THEN NULL ELSE %s::timestamptz END,
                   %s::timestamptz - make_interval(mins => n)
            FROM auth_user u CROSS JOIN generate_series(1, 1000) AS n
            WHERE u.username IN ('bench-inspector', 'bench-handler', 'bench-supervisor',
                                 'bench-leader', 'bench-admin')
            """,
            [now, now],
        )

    # --- pages --------------------------------------------------------------------------------

    def pages(self, world: dict) -> list[tuple[str, str, str]]:
        """(persona, page name, url) of every page measured."""
        issue_list = reverse("issues:issue_list")
        district = world["districts"][1].pk
        open_statuses = [str(status) for status in OPEN_STATUSES]

        def listed(**params) -> str:
            return f"{issue_list}?{urlencode(params, doseq=True)}"

        supervisor = world["personas"]["supervisor"]
        # A point and a community of the supervisor's district, searched by name.
        point_name = (
            Issue.objects.filter(district=world["districts"][1], point__isnull=False)
            .order_by("-reported_at")
            .values_list("point__name", flat=True)[100]
        )
        community_name = (
            Community.objects.filter(district=world["districts"][1])
            .order_by("pk")
            .values_list("name", flat=True)[3]
        )
        visible = Issue.objects.visible_to(supervisor)
        detail = visible.filter(status=Status.SUBMITTED).order_by("-reported_at").first()
        # A page deep in the list: the cursor of a row about half way back in time.
        middle = visible.order_by("-reported_at", "-id")[visible.count() // 2]
        micros = int(middle.reported_at.timestamp()) * 1_000_000 + middle.reported_at.microsecond
        # And one deep in the deadline sort's last part, the cases without a deadline (by id).
        undated = visible.filter(deadline__isnull=True).order_by("id")
        undated_middle = undated.values_list("pk", flat=True)[undated.count() // 2 :].first()
        pages = [
            ("inspector", "home inspector", reverse("home")),
            ("handler", "home handler", reverse("home")),
            ("supervisor", "home supervisor", reverse("home")),
            ("leader", "home leader", reverse("home")),
            ("admin", "home admin", reverse("home")),
            ("supervisor", "list 20", issue_list),
            ("supervisor", "list 100", listed(per_page=100)),
            ("supervisor", "list open", listed(status=open_statuses)),
            ("supervisor", "list open 100", listed(status=open_statuses, per_page=100)),
            ("supervisor", "list open oldest", listed(status=open_statuses, sort="reported_at")),
            ("supervisor", "list open deadline", listed(status=open_statuses, sort="deadline")),
            ("supervisor", "list open updated", listed(status=open_statuses, sort="-updated_at")),
            ("supervisor", "list reported", listed(status="reported")),
            ("supervisor", "list overdue", listed(overdue="true", sort="deadline")),
            ("supervisor", "list open district", listed(status=open_statuses, district=district)),
            # Every kind of search: a word naming a category (and in many descriptions), a
            # point's name, a community's name, a case number's tail, frequent and rare text.
            ("supervisor", "list search", listed(q="井盖")),
            ("supervisor", "list search point", listed(q=point_name)),
            ("supervisor", "list search community", listed(q=community_name)),
            ("supervisor", "list search case tail", listed(q="000040")),
            ("supervisor", "list search street", listed(q="世纪路")),
            ("supervisor", "list search rare text", listed(q="群众第9次反映")),
            ("supervisor", "list search open", listed(q="井盖", status=open_statuses)),
            ("handler", "list search handler", listed(q="井盖")),
            ("admin", "list search admin", listed(q="井盖")),
            ("supervisor", "list deep page", listed(after=f"{micros}_{middle.pk}")),
            *(
                [
                    (
                        "supervisor",
                        "list deep page without deadlines",
                        listed(sort="deadline", after=f"{NULL_MARK}_{undated_middle}"),
                    )
                ]
                if undated_middle is not None
                else []
            ),
            ("handler", "list handler open", listed(status=open_statuses, sort="deadline")),
            ("admin", "list admin open", listed(status=open_statuses)),
            # Every other sort over every status, for each role that lists, and the searches
            # in those orders: a sort without an index behind the user's scope walks the zone.
            *[
                (persona, f"list {persona} by {sort}", listed(sort=sort))
                for persona in ("supervisor", "handler", "admin")
                for sort in OTHER_SORTS
            ],
            *[
                ("supervisor", f"list search {word} by {sort}", listed(q=word, sort=sort))
                for word in ("井盖", "世纪路")
                for sort in OTHER_SORTS
            ],
            ("supervisor", "detail", reverse("issues:issue_detail", args=[detail.pk])),
            ("supervisor", "triage", reverse("issues:triage")),
            ("supervisor", "verify queue", reverse("issues:verify_queue")),
            ("supervisor", "notifications", reverse("issues:notification_list")),
            ("admin", "matrix", reverse("districts:matrix", args=[district])),
            ("inspector", "report form", reverse("issues:issue_report")),
        ]
        return pages

    def client_for(self, user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    def measure(self, client: Client, page: str, url: str, repeat: int, *, explain: bool):
        path, _sep, query = url.partition("?")
        params = _multi(query)
        result = Result(page=page)
        client.get(path, params)  # warm caches: measure steady state, not the first touch
        for _ in range(max(repeat, 1)):
            timer = SqlTimer()
            with connection.execute_wrapper(timer):
                started, started_cpu = time.perf_counter(), time.process_time()
                response = client.get(path, params)
                wall = time.perf_counter() - started
                cpu = time.process_time() - started_cpu
            result.wall_ms.append(wall * 1000)
            result.cpu_ms.append(cpu * 1000)
            result.sql_ms.append(timer.seconds * 1000)
        result.status = response.status_code
        result.queries = timer.count
        result.size = len(response.content)
        body = response.content.decode()
        result.page_rows = body.count('class="mono"')
        if explain:
            for sql in timer.statements:
                text = sql.decode() if isinstance(sql, bytes) else str(sql)
                statement = text.removeprefix(AS_WRITTEN)
                if '"issues_issue"' in text and statement.lstrip().upper().startswith("SELECT"):
                    result.rows_read.append(self.rows_read(text))
                    result.alternatives.append(text.count(") UNION (") + 1)
        return result

    def measure_photo_reports(self, world: dict, runs: int) -> None:
        """The whole report POST (form, photo checks, decode, re-encode, thumbnail, storage,
        the case and its event) with one 12 MP JPEG carrying EXIF time and GPS, `runs` times.

        Each report is rolled back after its response (its files deleted), so the seeded data
        stays as it was; only the final COMMIT is not timed."""
        from django.core.files.storage import default_storage
        from django.core.files.uploadedfile import SimpleUploadedFile

        from issues.models import Photo

        inspector = world["personas"]["inspector"]
        client = self.client_for(inspector)
        point = InspectionPoint.objects.filter(community__district=world["districts"][0]).first()
        category = Category.objects.filter(is_active=True).order_by("pk").first()
        photo = _twelve_megapixel_jpeg()
        self.stdout.write(f"12 MP JPEG: 4000×3000, {len(photo) / 1e6:.1f} MB, EXIF time and GPS.")
        url = reverse("issues:issue_report")
        wall: list[float] = []
        cpu: list[float] = []
        for run in range(runs + 1):
            data = {
                "category": str(category.pk),
                "point": str(point.pk),
                "community": "",
                "address": "",
                "latitude": "43.650100",
                "longitude": "122.250100",
                "accuracy_m": "12",
                "description": "基准测试上报",
                "severity": "",
                "client_token": f"00000000-0000-4000-8000-{run:012d}",
                "photos": [SimpleUploadedFile("photo.jpg", photo, content_type="image/jpeg")],
            }
            with transaction.atomic():
                started, started_cpu = time.perf_counter(), time.process_time()
                response = client.post(url, data)
                elapsed = time.perf_counter() - started
                elapsed_cpu = time.process_time() - started_cpu
                if response.status_code != 302:
                    raise CommandError(f"The report was refused ({response.status_code}).")
                names = [
                    name
                    for pair in Photo.objects.filter(
                        uploaded_by=inspector, issue__description="基准测试上报"
                    ).values_list("image", "thumbnail")
                    for name in pair
                ]
                transaction.set_rollback(True)
            for name in names:
                default_storage.delete(name)
            if run:  # the first run warms imports and caches
                wall.append(elapsed * 1000)
                cpu.append(elapsed_cpu * 1000)
        self.stdout.write(
            f"Report with one 12 MP photo, {runs} runs: median {statistics.median(wall):.0f} ms, "
            f"p95 {_p95(wall):.0f} ms wall; CPU median {statistics.median(cpu):.0f} ms, "
            f"p95 {_p95(cpu):.0f} ms."
        )

    def rows_read(self, sql: str) -> int:
        """Rows PostgreSQL read from issues_issue for a statement: returned + filtered, × loops.

        A statement sent with its planner setting (`civicapp.db.joins_as_written`) is explained
        with it."""
        setting = AS_WRITTEN if sql.startswith(AS_WRITTEN) else ""
        with connection.cursor() as cursor:
            cursor.execute(
                f"{setting}EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql.removeprefix(setting)}"
            )
            plan = cursor.fetchone()[0]
        if isinstance(plan, str):
            plan = json.loads(plan)
        return _rows_read(plan[0]["Plan"])

    def profile(self, client: Client, url: str, out: str) -> None:
        path, _sep, query = url.partition("?")
        params = _multi(query)
        client.get(path, params)
        profiler = cProfile.Profile()
        with _enabled(profiler):
            for _ in range(20):
                client.get(path, params)
        profiler.dump_stats(out)
        self.stdout.write(f"Profile of 20 requests written to {out} (python -m pstats {out}).")

    def print_table(self, results: list[Result]) -> list[str]:
        total = Issue.objects.count()
        self.stdout.write("")
        self.stdout.write(
            f"{connection.settings_dict['NAME']}: {total:,} issues, "
            f"{InspectionPoint.objects.count():,} points, "
            f"{get_user_model().objects.count():,} users. In-process test client, DEBUG off."
        )
        load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
        self.stdout.write(
            f"Machine: a reference loop of a million additions takes {_reference_loop_ms():.0f} ms "
            f"of CPU (compare figures across machines by it); load average {load}."
        )
        self.stdout.write(
            "| page | status | median ms | p95 ms | SQL ms | queries | Python ms | CPU ms | KB "
            "| issue rows read per list query |"
        )
        self.stdout.write("|---|---|---|---|---|---|---|---|---|---|")
        failed = []
        for row in results:
            median = statistics.median(row.wall_ms)
            p95 = _p95(row.wall_ms)
            sql = statistics.median(row.sql_ms)
            reads = ", ".join(
                f"{count} ({parts} alternatives)" if parts > 1 else str(count)
                for count, parts in zip(row.rows_read, row.alternatives, strict=True)
            )
            if len(row.rows_read) > 1:
                # A search read window by window (`issues.paging`) runs several statements:
                # the budget holds for each, so say the largest and how many there were.
                reads = f"max {max(row.rows_read)} of {len(row.rows_read)} statements: {reads}"
            # The budget is for 20-row pages; 100-row pages may read five times as much, and
            # a search read as a union of alternatives (`issues.paging`) the budget for each.
            limit = ROWS_READ_BUDGET * (5 if "100" in row.page else 1)
            if any(
                count > limit * parts
                for count, parts in zip(row.rows_read, row.alternatives, strict=True)
            ):
                failed.append(row.page)
                reads += " FAIL"
            self.stdout.write(
                f"| {row.page} | {row.status} | {median:.1f} | {p95:.1f} | {sql:.1f} "
                f"| {row.queries} | {median - sql:.1f} | {statistics.median(row.cpu_ms):.1f} "
                f"| {row.size / 1024:.0f} | {reads} |"
            )
        for page in failed:
            self.stdout.write(f"FAIL {page}: a list query read more than the row budget")
        return failed


@contextmanager
def _enabled(profiler: cProfile.Profile):
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()


def _twelve_megapixel_jpeg() -> bytes:
    """A 4000×3000 camera-like JPEG (smooth scene, sensor noise) with EXIF time and GPS."""
    import io
    import random

    from PIL import Image

    rng = random.Random(12)
    small = Image.frombytes(
        "RGB", (160, 120), bytes(rng.randrange(256) for _ in range(160 * 120 * 3))
    )
    scene = small.resize((4000, 3000), Image.Resampling.BICUBIC)
    noise = Image.effect_noise((4000, 3000), 24).convert("RGB")
    image = Image.blend(scene, noise, 0.12)
    exif = Image.Exif()
    exif[0x8769] = {0x9003: "2026:03:01 10:20:30"}
    exif[0x8825] = {1: "N", 2: (43.0, 39.0, 36.0), 3: "E", 4: (122.0, 15.0, 0.0)}
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92, exif=exif)
    return buffer.getvalue()


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _multi(query: str) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for key, value in parse_qsl(query):
        params.setdefault(key, []).append(value)
    return params


def _rows_read(node: dict) -> int:
    """Rows of issues_issue a plan read: each scan of the table returned them or threw them
    away (filter, recheck), once per loop."""
    total = 0
    if node.get("Relation Name") == "issues_issue":
        removed = int(node.get("Rows Removed by Filter", 0)) + int(
            node.get("Rows Removed by Index Recheck", 0)
        )
        total += (int(node.get("Actual Rows", 0)) + removed) * int(node.get("Actual Loops", 1))
    for child in node.get("Plans", []):
        total += _rows_read(child)
    return total
