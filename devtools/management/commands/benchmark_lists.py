"""Benchmark the issue list, the home pages and the triage screens on a scratch database.

    createdb -U postgres -h 127.0.0.1 civicapp_perf
    export DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/civicapp_perf
    .venv/bin/python manage.py migrate
    .venv/bin/python manage.py benchmark_lists --issues 300000

It refuses any database that is not PostgreSQL or whose name contains neither "bench" nor "perf",
because it empties the issue tables before seeding. It seeds two years of issues over two zones
(10 districts, 60 communities, 200 points, 40 organisations, every status) with bulk inserts,
ANALYZEs, then renders each page as each persona through the test client. For every statement a
page sends to `issues_issue` it runs EXPLAIN (ANALYZE, BUFFERS) and prints one table row: request
time, statements, the slowest statement on the issue table and how PostgreSQL read that table.
A second run with `--no-seed` measures again on the same data (after a migration, say);
`--explain` also prints the plan of every statement slower than 20 ms or reading the whole table,
`--persona` and `--page` narrow the run. Last, it streams the admin's CSV export (time, then the
Python memory peak under tracemalloc).
"""

from __future__ import annotations

import bisect
import datetime
import gc
import itertools
import json
import random
import re
import statistics
import time
import tracemalloc
from dataclasses import dataclass, field
from decimal import Decimal
from html import unescape
from urllib.parse import parse_qsl, urlencode

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import reverse
from django.utils import timezone

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
    Severity,
    Zone,
)
from issues.models import Issue, Notification, Photo, Status

SEED_CHUNK = 5000
YEARS_OF_HISTORY = 2
ZONES = 2
DISTRICTS_PER_ZONE = 5
COMMUNITIES_PER_DISTRICT = 6
POINTS = 200
DEPARTMENTS = 20
PROPERTY_COMPANIES = 10
INSPECTORS_PER_DISTRICT = 4
# Tables the seed fills, emptied (with everything that refers to them) before seeding.
SEEDED_TABLES = ["issues_issue", "issues_notification", "issues_photo", "issues_casecounter"]
# A statement on the issue table slower than this is printed with its plan under --explain.
SLOW_MS = 20.0
# The status mix by age in days: (younger than, ((cumulative share, status), ...)).
STATUS_SHARES = (
    (
        2,
        (
            (0.30, Status.REPORTED),
            (0.55, Status.ASSIGNED),
            (0.80, Status.IN_PROGRESS),
            (0.88, Status.SUBMITTED),
            (0.90, Status.REJECTED),
        ),
    ),
    (
        30,
        (
            (0.02, Status.REPORTED),
            (0.08, Status.ASSIGNED),
            (0.20, Status.IN_PROGRESS),
            (0.26, Status.SUBMITTED),
            (0.28, Status.PARKED),
            (0.35, Status.REJECTED),
            (0.38, Status.CANCELLED),
        ),
    ),
    (
        float("inf"),
        (
            (0.001, Status.REPORTED),
            (0.005, Status.ASSIGNED),
            (0.012, Status.IN_PROGRESS),
            (0.015, Status.SUBMITTED),
            (0.025, Status.PARKED),
            (0.085, Status.REJECTED),
            (0.115, Status.CANCELLED),
        ),
    ),
)
# Words that reports are made of: (category code, English name, phrases).
CATEGORY_TEXTS = (
    ("GARBAGE_EXPOSED", "Exposed garbage", ("垃圾暴露", "生活垃圾乱堆乱放", "垃圾桶满溢未清运")),
    ("ROAD_DIRTY", "Dirty road", ("路面不洁", "人行道积土", "路沿石有卫生死角")),
    ("STALLS", "Street stalls", ("占道经营", "流动摊贩占用人行道", "店外经营")),
    ("PARKING", "Illegal parking", ("机动车乱停放", "非机动车乱停乱放", "共享单车堆积")),
    ("ADS", "Illegal ads", ("小广告乱贴", "违规设置广告牌", "横幅破损")),
    ("MANHOLE", "Manhole", ("井盖缺失", "井盖破损", "雨水井堵塞")),
    ("LIGHTS", "Street lights", ("路灯不亮", "路灯杆倾斜", "景观灯损坏")),
    ("GREENERY", "Greenery", ("绿地毁损", "树木倒伏", "绿化带内有垃圾")),
    ("CONSTRUCTION", "Construction site", ("工地围挡破损", "渣土车未苫盖", "施工扬尘")),
    ("FIRE_LANE", "Fire lane", ("消防通道堵塞", "楼道堆放杂物", "消防栓损坏")),
    ("WATER", "Water", ("路面积水", "供水管道漏水", "污水外溢")),
    ("FACILITIES", "Facilities", ("公厕设施损坏", "座椅损坏", "护栏缺失")),
    ("SIGNS", "Signs", ("路名牌缺失", "交通标志被遮挡", "门牌脱落")),
    ("SNOW", "Snow", ("积雪未清", "路面结冰", "屋檐冰溜子")),
    ("ANIMALS", "Animals", ("流浪犬出没", "家禽散养", "宠物粪便未清理")),
    ("NOISE", "Noise", ("夜间施工噪音", "商铺高音喇叭", "广场舞噪音")),
    ("SMOKE", "Smoke", ("露天烧烤", "焚烧垃圾", "油烟直排")),
    ("WIRES", "Wires", ("飞线充电", "线缆杂乱", "通信杆倾斜")),
    ("WALLS", "Walls", ("墙面污损", "乱涂乱画", "外墙脱落")),
    ("OTHER", "Other", ("其他问题", "群众反映问题", "需现场核实")),
)
STREETS = (
    "新城大街", "世纪路", "滨河大道", "明德路", "通北路", "创业路", "科技路", "车站后街",
    "建国路", "和平路", "民主路", "团结路", "胜利路", "光明街", "育新街", "兴安路",
)  # fmt: skip
DETAILS = ("附近", "东侧", "西侧", "南门", "北门", "路口", "中段", "小区内", "广场", "商铺门前")


def local_day(days_ago: int) -> str:
    return (timezone.localdate() - datetime.timedelta(days=days_ago)).isoformat()


@dataclass
class Measurement:
    """One page as one persona: wall time, statements, and the issue table's share."""

    persona: str
    page: str
    status: int = 0
    request_ms: float = 0.0
    queries: int = 0
    issue_queries: int = 0
    slowest_ms: float = 0.0
    access: str = ""
    seq_scan: bool = False
    issue_count: bool = False
    rows: int = 0
    plans: list[tuple[float, str, str]] = field(default_factory=list)


class Command(BaseCommand):
    help = "Seed a scratch *bench*/*perf* database and time the list, home and triage pages."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--issues", type=int, default=300_000)
        parser.add_argument(
            "--no-seed", action="store_true", help="Measure the data already there."
        )
        parser.add_argument("--repeat", type=int, default=3, help="Requests per page (median).")
        parser.add_argument("--persona", action="append", help="Only these personas.")
        parser.add_argument("--page", action="append", help="Only pages whose name contains this.")
        parser.add_argument(
            "--explain", action="store_true", help="Print plans of slow statements and seq scans."
        )
        parser.add_argument("--no-export", action="store_true", help="Skip the CSV export.")
        parser.add_argument("--seed", type=int, default=20260310, help="Random seed of the data.")

    def handle(self, *args, **options) -> None:
        name = str(connection.settings_dict["NAME"])
        if connection.vendor != "postgresql":
            raise CommandError(
                "The list benchmark measures PostgreSQL plans; point DATABASE_URL at it."
            )
        if "bench" not in name and "perf" not in name:
            raise CommandError(
                f"Refusing to run on database {name!r}: it empties the issue tables. "
                "Use a scratch database whose name contains 'bench' or 'perf'."
            )
        self.rng = random.Random(options["seed"])
        world = self.reference_world()
        if not options["no_seed"]:
            with override_settings(DEBUG=False):
                self.seed(world, options["issues"])
        elif not Issue.objects.filter(zone__in=world["zones"]).exists():
            raise CommandError("No seeded issues: run once without --no-seed.")
        personas = self.personas(world)
        wanted = options["persona"]
        measurements: list[Measurement] = []
        with override_settings(DEBUG=False, ALLOWED_HOSTS=["testserver"]):
            for persona, user in personas.items():
                if wanted and persona not in wanted:
                    continue
                client = Client()
                client.force_login(user)
                for page, url in self.pages(persona, world):
                    if options["page"] and not any(part in page for part in options["page"]):
                        continue
                    measurements.extend(
                        self.measure_page(client, persona, page, url, options["repeat"])
                    )
            if not options["no_export"] and (not wanted or "admin" in wanted):
                self.measure_export(personas["admin"])
        self.print_table(measurements, explain=options["explain"])

    # --- data ---------------------------------------------------------------------------------

    def reference_world(self) -> dict:
        """Two zones of places, organisations, categories, staff and responsibilities."""
        user_model = get_user_model()
        rng = random.Random(7)
        zones = [
            Zone.objects.get_or_create(
                code=f"perf-z{number}", defaults={"name": f"性能测试区{number}"}
            )[0]
            for number in range(ZONES)
        ]
        districts = [
            District.objects.get_or_create(
                code=f"perf-d{number}",
                defaults={
                    "zone": zones[number // DISTRICTS_PER_ZONE],
                    "name": f"测试街道{number}",
                    "name_en": f"Perf street {number}",
                    "sort_order": number,
                },
            )[0]
            for number in range(ZONES * DISTRICTS_PER_ZONE)
        ]
        communities = [
            Community.objects.get_or_create(
                code=f"perf-c{index}-{number}",
                defaults={
                    "district": district,
                    "name": f"测试社区{index}-{number}",
                    "name_en": f"Perf community {index}-{number}",
                },
            )[0]
            for index, district in enumerate(districts)
            for number in range(COMMUNITIES_PER_DISTRICT)
        ]
        point_types = [
            PointType.objects.get_or_create(
                code=f"PERF_PT{number}", defaults={"name": f"点位类型{number}"}
            )[0]
            for number in range(6)
        ]
        points = []
        for number in range(POINTS):
            community = communities[number % len(communities)]
            street = STREETS[number % len(STREETS)]
            points.append(
                InspectionPoint.objects.get_or_create(
                    code=f"perf-p{number}",
                    defaults={
                        "name": f"{street}{DETAILS[number % len(DETAILS)]}点位{number}",
                        "point_type": point_types[number % len(point_types)],
                        "community": community,
                        "address": f"{street}{number + 1}号",
                        "latitude": Decimal("43.600000") + Decimal(rng.randint(0, 90000)) / 10**6,
                        "longitude": Decimal("122.200000") + Decimal(rng.randint(0, 90000)) / 10**6,
                    },
                )[0]
            )
        categories = []
        for number, (code, name_en, phrases) in enumerate(CATEGORY_TEXTS):
            owner = (OwnerKind.TERRITORIAL, OwnerKind.SECTOR, OwnerKind.PAIRED)[number % 3]
            categories.append(
                Category.objects.get_or_create(
                    code=f"PERF_{code}",
                    defaults={
                        "name": phrases[0],
                        "name_en": name_en,
                        "big_class": Category.BigClass.CITY_APPEARANCE,
                        "severity": (Severity.URGENT, Severity.MAJOR, *[Severity.GENERAL] * 4)[
                            number % 6
                        ],
                        "limit_value": (2, 4, 24, 48, 72)[number % 5],
                        "limit_unit": Category.LimitUnit.HOURS,
                        "owner_kind": owner,
                        "sort_order": number,
                    },
                )[0]
            )
        street_offices = [
            Organisation.objects.get_or_create(
                code=f"perf-office{index}",
                defaults={
                    "name": f"{district.name}办事处",
                    "kind": Organisation.Kind.STREET_OFFICE,
                    "district": district,
                },
            )[0]
            for index, district in enumerate(districts)
        ]
        departments = [
            Organisation.objects.get_or_create(
                code=f"perf-dept{number}",
                defaults={"name": f"测试部门{number}", "kind": Organisation.Kind.DEPARTMENT},
            )[0]
            for number in range(DEPARTMENTS)
        ]
        companies = [
            Organisation.objects.get_or_create(
                code=f"perf-property{number}",
                defaults={
                    "name": f"测试物业{number}",
                    "kind": Organisation.Kind.PROPERTY_COMPANY,
                    "district": districts[number % len(districts)],
                },
            )[0]
            for number in range(PROPERTY_COMPANIES)
        ]
        if not Responsibility.objects.filter(organisation__in=street_offices).exists():
            start = timezone.localdate() - datetime.timedelta(days=800)
            rows = [
                Responsibility(
                    kind=OwnerKind.TERRITORIAL,
                    organisation=office,
                    district=office.district,
                    valid_from=start,
                )
                for office in street_offices
            ]
            rows += [
                Responsibility(
                    kind=OwnerKind.SECTOR,
                    organisation=departments[number % len(departments)],
                    category=category,
                    valid_from=start,
                )
                for number, category in enumerate(categories)
                if category.owner_kind == OwnerKind.SECTOR
            ]
            rows += [
                Responsibility(
                    kind=OwnerKind.PAIRED,
                    organisation=companies[number % len(companies)],
                    point=point,
                    valid_from=start,
                )
                for number, point in enumerate(points[::2])
            ]
            Responsibility.objects.bulk_create(rows)
        inspectors: dict[int, list] = {}
        for index, district in enumerate(districts):
            inspectors[district.pk] = []
            for number in range(INSPECTORS_PER_DISTRICT):
                user, created = user_model.objects.get_or_create(
                    username=f"perf-inspector{index}-{number}"
                )
                if created:
                    Membership.objects.create(user=user, role=Role.INSPECTOR).districts.set(
                        [district]
                    )
                inspectors[district.pk].append(user)
        return {
            "zones": zones,
            "districts": districts,
            "communities": communities,
            "points": points,
            "categories": categories,
            "street_offices": street_offices,
            "departments": departments,
            "companies": companies,
            "inspectors": inspectors,
        }

    def personas(self, world: dict) -> dict:
        """A supervisor of the two quietest districts (the hardest case for reading the list in
        index order), handlers of the busiest and of the quietest street office, an admin, a
        leader, and an inspector of the quietest district who reported a quarter of its issues."""
        user_model = get_user_model()
        districts = world["districts"]

        def member(username: str, role: str, **fields):
            user, created = user_model.objects.get_or_create(username=username)
            if created:
                Membership.objects.create(user=user, role=role, **fields)
            return user

        supervisor = member("perf-supervisor", Role.SUPERVISOR)
        supervisor.membership.districts.set(districts[:2])
        return {
            "supervisor": supervisor,
            "handler": member(
                "perf-handler-busy", Role.HANDLER, organisation=world["street_offices"][-1]
            ),
            "handler-quiet": member(
                "perf-handler", Role.HANDLER, organisation=world["street_offices"][0]
            ),
            "admin": member("perf-admin", Role.ADMIN, all_districts=True),
            "leader": member("perf-leader", Role.LEADER, all_districts=True),
            "inspector": world["inspectors"][districts[0].pk][0],
        }

    def wipe(self) -> None:
        with connection.cursor() as cursor:
            # TRUNCATE does not fire the append-only row trigger of the event log.
            cursor.execute(f"TRUNCATE {', '.join(SEEDED_TABLES)} RESTART IDENTITY CASCADE")

    def seed(self, world: dict, total: int) -> None:
        """`total` issues reported over two years, ids in time order; old ones mostly closed."""
        self.stdout.write(f"Seeding {total:,} issues…")
        started = time.monotonic()
        self.wipe()
        rng = self.rng
        now = timezone.now().replace(second=0, microsecond=0)
        span = YEARS_OF_HISTORY * 365 * 86400
        # Reports grow over time: later days have more of them.
        ages = sorted((span * (1 - rng.random() ** 0.8) for _ in range(total)), reverse=True)
        communities = world["communities"]
        # Districts differ in size: weights 1..10, communities within a district equal.
        weights = [
            1 + (index // COMMUNITIES_PER_DISTRICT) % 10 for index in range(len(communities))
        ]
        cumulative = list(itertools.accumulate(weights))
        points_of: dict[int, list] = {}
        for point in world["points"]:
            points_of.setdefault(point.community_id, []).append(point)
        categories = world["categories"]
        category_weights = list(
            itertools.accumulate([40 // (1 + number // 2) for number in range(20)])
        )
        office_of = {office.district_id: office for office in world["street_offices"]}
        departments, companies = world["departments"], world["companies"]
        inspectors = world["inspectors"]
        everyone = [user for users in inspectors.values() for user in users]
        counters: dict[tuple[int, int], int] = {}
        zone_of = {district.pk: district.zone_id for district in world["districts"]}
        updated_at = Issue._meta.get_field("updated_at")
        # bulk_create would stamp every row with now; the seed writes realistic update times.
        updated_at.auto_now = False
        try:
            for start in range(0, total, SEED_CHUNK):
                chunk = []
                for age in ages[start : start + SEED_CHUNK]:
                    community = communities[
                        bisect.bisect_right(cumulative, rng.random() * cumulative[-1])
                    ]
                    category = categories[
                        bisect.bisect_right(category_weights, rng.random() * category_weights[-1])
                    ]
                    issue = self.make_issue(
                        now=now,
                        reported_at=now - datetime.timedelta(seconds=age),
                        community=community,
                        points=points_of.get(community.pk, []),
                        category=category,
                        organisation=self.owner(
                            category, office_of[community.district_id], departments, companies
                        ),
                        reporter=rng.choice(inspectors[community.district_id])
                        if rng.random() < 0.85
                        else rng.choice(everyone),
                        zone_id=zone_of[community.district_id],
                        counters=counters,
                    )
                    chunk.append(issue)
                with transaction.atomic():
                    Issue.objects.bulk_create(chunk)
                del chunk
                if (start // SEED_CHUNK) % 10 == 9:
                    self.stdout.write(f"  {start + SEED_CHUNK:,} issues")
        finally:
            updated_at.auto_now = True
        self.seed_side_rows(world, now)
        with connection.cursor() as cursor:
            # A live table is mostly all-visible; without VACUUM no index-only scan would show.
            cursor.execute("VACUUM ANALYZE issues_issue")
            cursor.execute("ANALYZE")
        self.stdout.write(f"Seeded in {time.monotonic() - started:.0f} s.")

    def owner(self, category, office, departments, companies):
        """The organisation a dispatcher would pick: mostly the street office of the place."""
        roll = self.rng.random()
        if category.owner_kind == OwnerKind.SECTOR or roll < 0.2:
            return departments[self.rng.randrange(len(departments))]
        if category.owner_kind == OwnerKind.PAIRED and roll < 0.6:
            return companies[self.rng.randrange(len(companies))]
        return office

    def make_issue(
        self,
        *,
        now,
        reported_at,
        community,
        points,
        category,
        organisation,
        reporter,
        zone_id,
        counters,
    ) -> Issue:
        rng = self.rng
        hour = datetime.timedelta(hours=1)
        age_days = (now - reported_at).total_seconds() / 86400
        status = self.status_for(age_days)
        point = rng.choice(points) if points and rng.random() < 0.6 else None
        street = STREETS[rng.randrange(len(STREETS))]
        phrases = CATEGORY_TEXTS[category.sort_order][2]
        detail = DETAILS[rng.randrange(len(DETAILS))]
        description = f"{street}{detail}{rng.choice(phrases)},{rng.choice(phrases)},请尽快处理。"
        if rng.random() < 0.3:
            description += f"群众第{rng.randint(2, 9)}次反映。"
        year = timezone.localtime(reported_at).year
        counters[(zone_id, year)] = number = counters.get((zone_id, year), 0) + 1
        issue = Issue(
            zone_id=zone_id,
            case_number=f"{year}-{number:06d}",
            year=year,
            district_id=community.district_id,
            community=community,
            point=point,
            category=category,
            severity=category.severity,
            description=description,
            address=point.address if point else f"{street}{rng.randint(1, 300)}号",
            latitude=point.latitude if point else None,
            longitude=point.longitude if point else None,
            reporter=reporter,
            status=status,
            reported_at=reported_at,
        )
        stamps = [reported_at]

        def after(moment, low_hours: float, high_hours: float):
            value = min(moment + rng.uniform(low_hours, high_hours) * hour, now)
            stamps.append(value)
            return value

        if status == Status.REJECTED or (status == Status.CANCELLED and rng.random() < 0.5):
            field_name = "rejected_at" if status == Status.REJECTED else "cancelled_at"
            setattr(issue, field_name, after(reported_at, 0.2, 24))
        elif status == Status.CLOSED and rng.random() < 0.08:
            issue.fixed_on_spot = True
            issue.closed_at = issue.verified_at = after(reported_at, 0, 0.5)
        elif status != Status.REPORTED:
            issue.assigned_organisation = organisation
            issue.dispatched_at = issue.clock_started_at = after(reported_at, 0.1, 8)
            allowed = category.limit_value * hour
            issue.deadline = issue.dispatched_at + allowed
            if status == Status.CANCELLED:
                issue.cancelled_at = after(issue.dispatched_at, 1, 48)
            elif status != Status.ASSIGNED:
                issue.acknowledged_at = after(issue.dispatched_at, 0.1, 4)
                # Most fixes arrive in time; some late, a few very late.
                share = rng.choice((0.3, 0.5, 0.7, 0.9, 0.95, 1.3, 2.5))
                fix_at = issue.dispatched_at + allowed * share
                if status in (Status.SUBMITTED, Status.CLOSED):
                    issue.first_submitted_at = issue.submitted_at = min(fix_at, now)
                    if rng.random() < 0.06:
                        issue.rework_count = rng.randint(1, 2)
                        issue.submitted_at = after(issue.submitted_at, 2, 48)
                    stamps.append(issue.submitted_at)
                if status == Status.CLOSED:
                    issue.verified_at = issue.closed_at = after(issue.submitted_at, 0.5, 30)
                if status == Status.PARKED:
                    issue.parked_at = after(issue.acknowledged_at, 1, 72)
                    issue.park_review_date = timezone.localdate(
                        issue.parked_at
                    ) + datetime.timedelta(days=rng.randint(7, 90))
            late_hours = (now - issue.deadline) / hour
            if status in (Status.ASSIGNED, Status.IN_PROGRESS) and late_hours > 0:
                issue.escalation_level = 1 if late_hours < 24 else (2 if late_hours < 72 else 3)
            elif status == Status.CLOSED and (issue.closed_at - issue.deadline) / hour > 24:
                issue.escalation_level = 1
        issue.updated_at = max(stamps)
        return issue

    def status_for(self, age_days: float) -> str:
        """New reports are mostly open; after a month nearly everything is closed."""
        roll = self.rng.random()
        table = next(shares for days, shares in STATUS_SHARES if age_days < days)
        return next((status for threshold, status in table if roll < threshold), Status.CLOSED)

    def seed_side_rows(self, world: dict, now) -> None:
        """Before/after photo rows of the open issues (triage and verification show them) and a
        backlog of notifications for the personas' bells."""
        photos = []
        uploader = world["inspectors"][world["districts"][0].pk][0]
        open_rows = Issue.objects.filter(
            status__in=[Status.REPORTED, Status.SUBMITTED], zone__in=world["zones"]
        ).values_list("pk", "status")
        for pk, status in open_rows.iterator(chunk_size=SEED_CHUNK):
            kinds = [Photo.Kind.BEFORE] + ([Photo.Kind.AFTER] if status == Status.SUBMITTED else [])
            photos += [
                Photo(
                    issue_id=pk,
                    kind=kind,
                    image=f"photos/perf/{pk}-{kind}.jpg",
                    thumbnail=f"thumbs/perf/{pk}-{kind}.jpg",
                    width=1600,
                    height=1200,
                    size_bytes=250_000,
                    sha256="0" * 64,
                    uploaded_by=uploader,
                    created_at=now,
                )
                for kind in kinds
            ]
        Photo.objects.bulk_create(photos, batch_size=SEED_CHUNK)
        user_model = get_user_model()
        recipients = user_model.objects.filter(username__startswith="perf-")
        notifications = [
            Notification(
                user=user,
                kind="reminder",
                title=f"提醒 {number}",
                read_at=None if number % 5 == 0 else now,
                created_at=now - datetime.timedelta(minutes=number),
            )
            for user in recipients
            for number in range(1000)
        ]
        Notification.objects.bulk_create(notifications, batch_size=SEED_CHUNK)

    # --- pages --------------------------------------------------------------------------------

    def pages(self, persona: str, world: dict) -> list[tuple[str, str]]:
        """(name, url) of every page measured for the persona."""
        issue_list = reverse("issues:issue_list")
        district = world["districts"][0].pk
        category = world["categories"][0].pk

        def listed(**params) -> str:
            return f"{issue_list}?{urlencode(params, doseq=True)}" if params else issue_list

        pages = [("home", reverse("home")), ("list default", listed())]
        pages += [
            (f"list sort={sort}", listed(sort=sort))
            for sort in ("reported_at", "deadline", "-deadline", "-updated_at", "updated_at")
        ]
        pages += [
            ("list status=reported", listed(status="reported")),
            ("list status=reported oldest", listed(status="reported", sort="reported_at")),
            (
                "list status=open",
                listed(status=["reported", "assigned", "in_progress", "submitted", "parked"]),
            ),
            ("list overdue", listed(overdue="true", sort="deadline")),
            ("list overdue newest", listed(overdue="true")),
            ("list light=red", listed(light="red")),
            ("list light=yellow", listed(light="yellow", sort="deadline")),
            ("list district", listed(district=district)),
            ("list district status=reported", listed(district=district, status="reported")),
            ("list category", listed(category=category)),
            ("list category sort=deadline", listed(category=category, sort="deadline")),
            ("list q=common", listed(q="垃圾")),
            ("list q=phrase", listed(q="井盖缺失")),
            ("list q=rare", listed(q="群众第9次反映")),
            ("list q=none", listed(q="不存在的问题描述")),
            ("list q=short rare", listed(q="冰溜")),
            ("list q=short none", listed(q="火星")),
            ("list q=case", listed(q=f"{timezone.localdate().year - 1}-0001")),
            ("list reported last 7 days", listed(reported_from=local_day(7))),
            (
                "list reported a year ago",
                listed(reported_from=local_day(400), reported_to=local_day(370)),
            ),
            (
                "list dispatched a year ago",
                listed(dispatched_from=local_day(400), dispatched_to=local_day(370)),
            ),
            (
                "list closed a year ago",
                listed(closed_from=local_day(400), closed_to=local_day(370)),
            ),
            (
                "list closed last month",
                listed(status="closed", closed_from=local_day(30), sort="-updated_at"),
            ),
        ]
        if persona in ("supervisor", "admin"):
            pages.append(("triage", reverse("issues:triage")))
        if persona in ("supervisor", "admin", "inspector"):
            pages.append(("verify queue", reverse("issues:verify_queue")))
        return pages

    def measure_page(
        self, client: Client, persona: str, page: str, url: str, repeat: int
    ) -> list[Measurement]:
        """The page, and for lists the page its "next" link leads to."""
        result = self.measure_url(client, persona, page, url, repeat)
        measurements = [result[0]]
        next_url = result[1]
        if page.startswith("list") and next_url:
            path = url.split("?", 1)[0]
            measurements.append(
                self.measure_url(client, persona, f"{page} → next", path + next_url, repeat)[0]
            )
        return measurements

    def measure_url(
        self, client: Client, persona: str, page: str, url: str, repeat: int
    ) -> tuple[Measurement, str | None]:
        measurement = Measurement(persona=persona, page=page)
        path, _sep, query = url.partition("?")
        params = _multi(query)
        client.get(path, params)  # warm the caches: measure steady state, not the first touch
        timings = []
        for _ in range(max(repeat, 1)):
            started = time.perf_counter()
            response = client.get(path, params)
            timings.append((time.perf_counter() - started) * 1000)
        measurement.request_ms = statistics.median(timings)
        measurement.status = response.status_code
        with CaptureQueriesContext(connection) as captured:
            response = client.get(path, params)
        measurement.queries = len(captured.captured_queries)
        body = response.content.decode()
        measurement.rows = body.count('class="mono"') + body.count('class="triage-check"')
        for query in captured.captured_queries:
            sql = query["sql"]
            if '"issues_issue"' not in sql:
                continue
            measurement.issue_queries += 1
            if re.search(r"COUNT\(", sql) and re.search(r'FROM "issues_issue"', sql):
                measurement.issue_count = True
            total_ms, access, text = self.explain(sql)
            measurement.plans.append((total_ms, access, sql + "\n" + text))
            if "Seq Scan on issues_issue" in access:
                measurement.seq_scan = True
            if total_ms >= measurement.slowest_ms:
                measurement.slowest_ms, measurement.access = total_ms, access
        match = re.search(r'href="(\?[^"]*)" rel="next"', body)
        return measurement, unescape(match.group(1)) if match else None

    def explain(self, sql: str) -> tuple[float, str, str]:
        """Planning + execution ms, how issues_issue was read, and the text plan."""
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}")
            plan = cursor.fetchone()[0]
            if isinstance(plan, str):
                plan = json.loads(plan)
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
            text = "\n".join(row[0] for row in cursor.fetchall())
        top = plan[0]
        nodes: list[str] = []
        _walk(top["Plan"], nodes)
        total = float(top.get("Planning Time", 0)) + float(top.get("Execution Time", 0))
        return total, "; ".join(dict.fromkeys(nodes)), text

    def measure_export(self, user) -> None:
        """The admin's whole CSV export (capped), streamed: rows and seconds, then the Python
        peak of the same export under tracemalloc (which slows it several times)."""
        client = Client()
        client.force_login(user)
        for traced in (False, True):
            gc.collect()
            if traced:
                tracemalloc.start()
            started = time.perf_counter()
            response = client.get(reverse("issues:issue_export"))
            lines = size = 0
            for chunk in response.streaming_content:
                lines += chunk.count(b"\n")
                size += len(chunk)
            seconds = time.perf_counter() - started
            if traced:
                peak = tracemalloc.get_traced_memory()[1] / 2**20
                tracemalloc.stop()
                self.stdout.write(f"  Python peak while streaming: {peak:.1f} MiB")
            else:
                self.stdout.write(
                    f"CSV export (admin, no filter): {lines - 1:,} rows, {size / 2**20:.0f} MiB "
                    f"in {seconds:.1f} s ({(lines - 1) / seconds:,.0f} rows/s)"
                )

    def print_table(self, measurements: list[Measurement], *, explain: bool) -> None:
        total = Issue.objects.order_by().values("pk").count() if measurements else 0
        self.stdout.write("")
        self.stdout.write(
            f"Database {connection.settings_dict['NAME']}: {total:,} issues; request ms is the "
            "median wall time of the test client; issue-table ms is planning + execution under "
            "EXPLAIN ANALYZE of the slowest statement on issues_issue."
        )
        self.stdout.write(
            "| persona | page | status | rows | queries | request ms | issue-table ms "
            "| issues_issue read by | flags |"
        )
        self.stdout.write("|---|---|---|---|---|---|---|---|---|")
        for row in measurements:
            flags = []
            if row.seq_scan:
                flags.append("SEQ SCAN")
            if row.issue_count:
                flags.append("COUNT")
            if row.slowest_ms > 50:
                flags.append("SLOW")
            self.stdout.write(
                f"| {row.persona} | {row.page} | {row.status} | {row.rows} | {row.queries} "
                f"| {row.request_ms:.1f} | {row.slowest_ms:.1f} | {row.access} "
                f"| {' '.join(flags)} |"
            )
        if not explain:
            return
        for row in measurements:
            for total_ms, access, text in row.plans:
                if total_ms >= SLOW_MS or "Seq Scan on issues_issue" in access:
                    self.stdout.write("")
                    self.stdout.write(f"--- {row.persona} / {row.page}: {total_ms:.1f} ms ---")
                    self.stdout.write(text)


def _multi(query: str) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for key, value in parse_qsl(query):
        params.setdefault(key, []).append(value)
    return params


def _walk(node: dict, nodes: list[str]) -> None:
    """Collect how each plan node read the issue table (scan type and index)."""
    if node.get("Relation Name") == "issues_issue":
        kind = node["Node Type"]
        index = node.get("Index Name")
        nodes.append(f"{kind} on issues_issue" + (f" using {index}" if index else ""))
    elif node.get("Node Type") == "Bitmap Index Scan" and "issue" in node.get("Index Name", ""):
        nodes.append(f"Bitmap Index Scan using {node['Index Name']}")
    for child in node.get("Plans", []):
        _walk(child, nodes)
