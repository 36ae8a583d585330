"""Benchmark the reminder job on a scratch database (not a test).

    createdb -U postgres -h 127.0.0.1 civicapp_bench
    export DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/civicapp_bench
    .venv/bin/python manage.py migrate
    .venv/bin/python manage.py benchmark_reminders --issues 100000 --overdue 20000

It refuses any database whose name does not contain "bench", because it empties the issue and
reminder tables before each size. For each size (half, then the full numbers) it seeds open
issues with bulk inserts, runs the job once with a query counter, resets the ledger, runs it
again under tracemalloc for the peak memory, and prints one table row.
"""

from __future__ import annotations

import datetime
import gc
import resource
import time
import tracemalloc
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.test.utils import override_settings

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
from issues.models import Issue, Status
from reminders import services
from reminders.channels import Channel, Message, channel_for
from reminders.models import ChannelConfig, ChannelKind

# A Tuesday at 10:00 in the zone: a working day, so every category is chased.
NOW = datetime.datetime(2026, 3, 10, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
ORGANISATIONS = 50
HANDLERS_PER_ORGANISATION = 2
DISTRICTS = 10
COMMUNITIES_PER_DISTRICT = 5
SUPERVISORS_PER_DISTRICT = 3
ZONE_WIDE_SUPERVISORS = 1  # the dispatch centre (调度中心) covers every district
ADMINS = 4
ZONE_CHANNELS = (ChannelKind.EMAIL, ChannelKind.WECOM)
SEED_CHUNK = 5000
LEDGER_TABLES = [
    "reminders_delivery",
    "reminders_reminder",
    "reminders_rateevent",
    "issues_notification",
    "issues_escalation",
    "issues_issueevent",
]


@dataclass
class Row:
    issues: int
    overdue: int
    seed_seconds: float = 0.0
    scanned: int = 0
    created: int = 0
    escalated: int = 0
    deliveries: int = 0
    summaries: int = 0
    expected_deliveries: int = 0
    expected_summaries: int = 0
    per_case_deliveries: int = 0
    seconds: float = 0.0
    queries: int = 0
    peak_mib: float = 0.0
    rss_mib: float = 0.0
    sent: int = 0
    send_seconds: float = 0.0
    send_queries: int = 0


class NullChannel(Channel):
    """A robot that accepts everything at once: the benchmark measures our side only."""

    def send(self, message: Message) -> None:
        self.last_response_code = 200


def null_robots(config, *, user_id=None) -> Channel:
    return channel_for(config, user_id=user_id) if config is None else NullChannel()


@contextmanager
def counting_queries():
    """Count statements without keeping their SQL (bulk inserts would swamp the memory peak)."""
    counter = {"queries": 0}

    def wrapper(execute, sql, params, many, context):
        counter["queries"] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield counter


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Command(BaseCommand):
    help = "Seed open issues in a scratch *bench* database, run the reminder job and report."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--issues", type=int, default=100_000)
        parser.add_argument("--overdue", type=int, default=20_000)
        parser.add_argument("--batch-size", type=int, default=None)
        parser.add_argument(
            "--single", action="store_true", help="Only the full size, not half and full."
        )
        parser.add_argument(
            "--send", action="store_true", help="Also send the deliveries (robots are stubs)."
        )

    def handle(self, *args, **options) -> None:
        name = str(connection.settings_dict["NAME"])
        if "bench" not in name:
            raise CommandError(
                f"Refusing to run on database {name!r}: it empties the issue tables. "
                "Use a scratch database whose name contains 'bench', e.g. civicapp_bench."
            )
        issues, overdue = options["issues"], options["overdue"]
        if not 0 < overdue <= issues:
            raise CommandError("--overdue must be between 1 and --issues.")
        sizes = (
            [(issues, overdue)]
            if options["single"]
            else [
                (issues // 2, overdue // 2),
                (issues, overdue),
            ]
        )
        world = self.reference_world()
        # With DEBUG on, Django keeps the SQL of every statement, bulk inserts included: that
        # would be measured as the job's memory.
        with override_settings(DEBUG=False):
            rows = [
                self.measure(world, size, late, options["batch_size"], send=options["send"])
                for size, late in sizes
            ]
        self.print_table(rows, options["batch_size"])
        self.wipe()

    # --- data ---------------------------------------------------------------------------------

    def reference_world(self) -> dict:
        """Zone, districts, communities, organisations with handlers and a robot each."""
        user_model = get_user_model()
        zone, _ = Zone.objects.get_or_create(code="BENCH", defaults={"name": "基准测试区"})
        districts = [
            District.objects.get_or_create(
                code=f"bench-d{number}", defaults={"zone": zone, "name": f"基准街道{number}"}
            )[0]
            for number in range(DISTRICTS)
        ]
        communities = [
            Community.objects.get_or_create(
                code=f"bench-c{district.pk}-{number}",
                defaults={"district": district, "name": f"基准社区{district.pk}-{number}"},
            )[0]
            for district in districts
            for number in range(COMMUNITIES_PER_DISTRICT)
        ]
        organisations = []
        for number in range(ORGANISATIONS):
            organisation, created = Organisation.objects.get_or_create(
                code=f"bench-o{number}",
                defaults={"name": f"基准单位{number}", "kind": Organisation.Kind.DEPARTMENT},
            )
            organisations.append(organisation)
            if created:
                for handler in range(HANDLERS_PER_ORGANISATION):
                    user = user_model.objects.create(username=f"bench-h{number}-{handler}")
                    Membership.objects.create(
                        user=user, role=Role.HANDLER, organisation=organisation
                    )
                ChannelConfig.objects.create(
                    organisation=organisation,
                    kind=ChannelKind.WECOM,
                    webhook_url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=bench",
                    rate_limit_per_minute=10_000,
                )
        for district in districts:
            for number in range(SUPERVISORS_PER_DISTRICT):
                user, created = user_model.objects.get_or_create(
                    username=f"bench-s{district.code}-{number}"
                )
                if created:
                    membership = Membership.objects.create(user=user, role=Role.SUPERVISOR)
                    membership.districts.set([district])
        for number in range(ZONE_WIDE_SUPERVISORS):
            user, created = user_model.objects.get_or_create(username=f"bench-dispatch-{number}")
            if created:
                Membership.objects.create(user=user, role=Role.SUPERVISOR, all_districts=True)
        for number in range(ADMINS):
            admin, created = user_model.objects.get_or_create(username=f"bench-admin-{number}")
            if created:
                Membership.objects.create(user=admin, role=Role.ADMIN, all_districts=True)
        for kind in ZONE_CHANNELS:
            ChannelConfig.objects.get_or_create(
                organisation=None,
                kind=kind,
                defaults={
                    "webhook_url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=zone",
                    "email_addresses": "office@bench.example",
                    "rate_limit_per_minute": 10_000,
                },
            )
        reporter, _ = user_model.objects.get_or_create(username="bench-reporter")
        # Staff an earlier version of this command made would change who hears what.
        staff = {
            f"bench-h{number}-{handler}"
            for number in range(ORGANISATIONS)
            for handler in range(HANDLERS_PER_ORGANISATION)
        }
        staff |= {
            f"bench-s{district.code}-{number}"
            for district in districts
            for number in range(SUPERVISORS_PER_DISTRICT)
        }
        staff |= {f"bench-dispatch-{number}" for number in range(ZONE_WIDE_SUPERVISORS)}
        staff |= {f"bench-admin-{number}" for number in range(ADMINS)}
        user_model.objects.filter(username__startswith="bench-").exclude(
            username__in=[*staff, "bench-reporter"]
        ).delete()
        categories = [
            Category.objects.get_or_create(
                code=f"BENCH_{number}",
                defaults={
                    "name": f"基准类别{number}",
                    "big_class": Category.BigClass.CITY_APPEARANCE,
                    "severity": Severity.URGENT if number == 0 else Severity.GENERAL,
                    "limit_value": 2 + number,
                    "limit_unit": Category.LimitUnit.HOURS,
                    "owner_kind": OwnerKind.TERRITORIAL,
                },
            )[0]
            for number in range(5)
        ]
        return {
            "zone": zone,
            "communities": communities,
            "organisations": organisations,
            "categories": categories,
            "reporter": reporter,
        }

    def wipe(self) -> None:
        """Empty the issue and ledger tables of the scratch database."""
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                # TRUNCATE does not fire the append-only row trigger of the event log.
                tables = ", ".join([*LEDGER_TABLES, "issues_issue"])
                cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        else:
            with connection.cursor() as cursor:
                for table in [*LEDGER_TABLES, "issues_issue"]:
                    cursor.execute(f"DELETE FROM {table}")  # noqa: S608 (fixed table names)

    def reset_ledger(self) -> None:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # CASCADE reaches photos of events, which the benchmark never makes.
                cursor.execute(f"TRUNCATE {', '.join(LEDGER_TABLES)} RESTART IDENTITY CASCADE")
            else:
                for table in LEDGER_TABLES:
                    cursor.execute(f"DELETE FROM {table}")  # noqa: S608 (fixed table names)
        Issue.objects.update(escalation_level=0)

    def seed(self, world: dict, issues: int, overdue: int) -> None:
        """`issues` clock-running issues: `overdue` past their deadline over levels 1–3, a
        quarter as many due soon, 2 % waiting for verification, the rest comfortably early."""
        communities, organisations = world["communities"], world["organisations"]
        categories, reporter, zone = world["categories"], world["reporter"], world["zone"]
        due_soon = overdue // 4
        submitted = issues // 50
        allowed = datetime.timedelta(hours=4)
        for start in range(0, issues, SEED_CHUNK):
            chunk = []
            for number in range(start, min(start + SEED_CHUNK, issues)):
                status = Status.ASSIGNED if number % 2 else Status.IN_PROGRESS
                submitted_at = None
                if number < overdue:
                    # 60 % level 1, 25 % level 2, 15 % level 3.
                    share = number % 20
                    late = 1.0 if share < 12 else (5.0 if share < 17 else 9.0)
                elif number < overdue + due_soon:
                    late = -0.5  # 87.5 % of the allowed time used
                elif number < overdue + due_soon + submitted:
                    late, status = -2.0, Status.SUBMITTED
                    submitted_at = NOW - datetime.timedelta(days=3, minutes=number % 500)
                else:
                    late = -(2 + number % 72)  # hours still to go
                deadline = NOW - datetime.timedelta(hours=late, milliseconds=number % 1000)
                community = communities[number % len(communities)]
                category = categories[number % len(categories)]
                chunk.append(
                    Issue(
                        zone=zone,
                        case_number=f"B2026-{number + 1:07d}",
                        year=2026,
                        district_id=community.district_id,
                        community=community,
                        category=category,
                        severity=category.severity,
                        reporter=reporter,
                        status=status,
                        assigned_organisation=organisations[number % len(organisations)],
                        reported_at=deadline - allowed,
                        dispatched_at=deadline - allowed,
                        clock_started_at=deadline - allowed,
                        deadline=deadline,
                        submitted_at=submitted_at,
                    )
                )
            with transaction.atomic():
                Issue.objects.bulk_create(chunk)
            del chunk
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("ANALYZE issues_issue")

    # --- measuring ----------------------------------------------------------------------------

    def measure(
        self, world: dict, issues: int, overdue: int, batch_size: int | None, *, send: bool
    ) -> Row:
        row = Row(issues=issues, overdue=overdue)
        self.stdout.write(f"Seeding {issues:,} open issues ({overdue:,} overdue)…")
        self.wipe()
        started = time.monotonic()
        self.seed(world, issues, overdue)
        row.seed_seconds = time.monotonic() - started
        gc.collect()

        self.stdout.write("Running the reminder job…")
        with counting_queries() as counter:
            report = services.reminders_run(now=NOW, batch_size=batch_size)
        row.scanned = report.scanned + report.submitted_scanned
        row.created, row.escalated = report.created, report.escalated
        row.deliveries, row.seconds = report.deliveries, report.seconds
        row.summaries = report.summaries
        row.queries = counter["queries"]
        self.expect(row, issues, overdue)

        if send:
            self.stdout.write("Sending the deliveries (robots stubbed, in-app real)…")
            with counting_queries() as counter:
                sent = services.deliveries_send(now=NOW, channel_factory=null_robots)
            row.sent, row.send_seconds = sent.sent, sent.seconds
            row.send_queries = counter["queries"]

        self.stdout.write("Running it again on an empty ledger under tracemalloc…")
        self.reset_ledger()
        gc.collect()
        tracemalloc.start()
        services.reminders_run(now=NOW, batch_size=batch_size)
        row.peak_mib = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        row.rss_mib = rss_mib()
        return row

    def expect(self, row: Row, issues: int, overdue: int) -> None:
        """The deliveries one run must write on the seeded data, and what one per case made.

        The organisation's handlers and robot hear about each case it owes a reminder for (due
        soon and levels 1–3). Above it, each supervisor and admin and each zone channel gets
        one summary per run: every supervisor here covers a district with escalations, and
        there are level-3 cases, so all of them. Sent once per case, as before summaries, the
        district's and the dispatch centre's supervisors would hear about every level-2 and 3
        case and every fix waiting for verification, and the zone office about every level 3.
        """
        levels = Counter(number % 20 for number in range(overdue))
        level_two = sum(levels[share] for share in range(12, 17))
        level_three = sum(levels[share] for share in range(17, 20))
        waiting = issues // 50
        organisation = HANDLERS_PER_ORGANISATION + 1
        supervisors = SUPERVISORS_PER_DISTRICT + ZONE_WIDE_SUPERVISORS
        zone = ADMINS + len(ZONE_CHANNELS)
        row.expected_deliveries = organisation * (overdue + overdue // 4)
        row.expected_summaries = DISTRICTS * SUPERVISORS_PER_DISTRICT + ZONE_WIDE_SUPERVISORS + zone
        row.per_case_deliveries = (
            row.expected_deliveries
            + supervisors * (level_two + level_three + waiting)
            + zone * level_three
        )

    def print_table(self, rows: list[Row], batch_size: int | None) -> None:
        self.stdout.write("")
        self.stdout.write(
            f"Database: {connection.vendor} {connection.settings_dict['NAME']}, "
            f"batch size {batch_size or 'default'}, now = {NOW.isoformat()}"
        )
        self.stdout.write(
            "| open issues | overdue | seed s | scanned | reminders | escalated | deliveries "
            "| job s | issues scanned/s | reminders claimed/s | queries | queries/issue "
            "| peak Python MiB (job) | max RSS MiB (process) |"
        )
        self.stdout.write("|" + "---|" * 14)
        for row in rows:
            self.stdout.write(
                f"| {row.issues:,} | {row.overdue:,} | {row.seed_seconds:.1f} | {row.scanned:,} "
                f"| {row.created:,} | {row.escalated:,} | {row.deliveries:,} | {row.seconds:.2f} "
                f"| {row.scanned / row.seconds:,.0f} | {row.created / row.seconds:,.0f} "
                f"| {row.queries:,} | {row.queries / max(row.scanned, 1):.4f} "
                f"| {row.peak_mib:.1f} | {row.rss_mib:.0f} |"
            )
        self.stdout.write("")
        self.stdout.write(
            "| open issues | overdue | case deliveries (expected) | summaries (expected) "
            "| deliveries per run | one per case would be |"
        )
        self.stdout.write("|" + "---|" * 6)
        for row in rows:
            self.stdout.write(
                f"| {row.issues:,} | {row.overdue:,} | {row.deliveries:,} "
                f"({row.expected_deliveries:,}) | {row.summaries:,} ({row.expected_summaries:,}) "
                f"| {row.deliveries + row.summaries:,} | {row.per_case_deliveries:,} |"
            )
        if any(row.sent for row in rows):
            self.stdout.write("")
            self.stdout.write("| open issues | deliveries sent | send s | sent/s | queries |")
            self.stdout.write("|---|---|---|---|---|")
            for row in rows:
                self.stdout.write(
                    f"| {row.issues:,} | {row.sent:,} | {row.send_seconds:.1f} "
                    f"| {row.sent / max(row.send_seconds, 0.001):,.0f} | {row.send_queries:,} |"
                )
