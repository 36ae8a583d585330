"""Benchmark the reminder job and its sending on a scratch database (not a test).

    createdb -U postgres -h 127.0.0.1 civicapp_bench_reminders
    export DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/civicapp_bench_reminders
    .venv/bin/python manage.py migrate
    .venv/bin/python manage.py benchmark_reminders --issues 200000 --overdue 5333

It refuses any database whose name does not contain "bench", because it rewrites the issue and
reminder tables. It seeds clock-running issues once (a later run with the same numbers reuses
them and only empties the ledger), then runs the reminder job with `--runners` runs at the same
moment, then the sender the same way (robots are stubs that accept at once, in-app
notifications are real), and prints the times, the deliveries written against the deliveries
expected, and every duplicate it finds (there must be none). See reminders/BENCHMARK.md.
"""

from __future__ import annotations

import datetime
import gc
import os
import resource
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import Count
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
from issues.models import CLOCK_STATUSES, Escalation, Issue, IssueEvent, Notification, Status
from reminders import services
from reminders.channels import Channel, Message, channel_for
from reminders.models import ChannelConfig, ChannelKind, Delivery, Reminder

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
CASE_PREFIX = "B2026-"
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
    runners: int
    seed_seconds: float | None = None  # None: the seeded issues were reused
    setup_seconds: float = 0.0  # the reference world and the check for a seeded database
    reset_seconds: float = 0.0  # emptying the ledger of the previous run
    check_seconds: float = 0.0  # counting what was written and looking for duplicates
    job_seconds: float = 0.0
    send_seconds: float = 0.0
    scanned: int = 0
    created: int = 0
    escalated: int = 0
    deliveries: int = 0
    summaries: int = 0
    expected_deliveries: int = 0
    expected_summaries: int = 0
    per_case_deliveries: int = 0
    job_queries: int = 0
    send_queries: int = 0
    python_cpu: float = 0.0
    database_cpu: float | None = None
    messages: int = 0
    sent: int = 0
    unsent: int = 0
    duplicates: dict[str, int] = field(default_factory=dict)
    peak_mib: float | None = None
    rss_mib: float = 0.0


class StubRobots:
    """Robots and mailboxes that accept at once and remember which cases each target got."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.cases: Counter = Counter()

    def __call__(self, config, *, user_id=None) -> Channel:
        if config is None:
            return channel_for(config, user_id=user_id)
        stub = self

        class Accepting(Channel):
            def send(self, message: Message) -> None:
                with stub.lock:
                    for item in message.items:
                        stub.cases[(config.target_key, item.case_number)] += 1
                self.last_response_code = 200

        return Accepting()


@contextmanager
def counting_queries(counter: Counter):
    """Count this thread's statements without keeping their SQL."""

    def wrapper(execute, sql, params, many, context):
        counter["queries"] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield


@dataclass
class Phase:
    """What running one phase (the job, or the sending) with several runners took."""

    results: list
    seconds: float
    queries: int
    python_cpu: float
    database_cpu: float | None


def backend_cpu_seconds() -> float | None:
    """CPU seconds the PostgreSQL backend of this thread's connection has used so far, when the
    server runs on this machine (read from /proc); None otherwise."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_together(function: Callable[[], object], runners: int) -> Phase:
    """Start `runners` calls at the same instant, each on its own connection, and measure the
    wall time until the last one finished, the statements, and the CPU time of this process
    and of the database backends (which, on a busy machine, says more than the wall time)."""
    barrier = threading.Barrier(runners + 1)
    results: list = [None] * runners
    errors: list[BaseException] = []
    counter: Counter = Counter()
    database_cpu: list[float | None] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        own: Counter = Counter()
        try:
            before = backend_cpu_seconds()
            barrier.wait()
            with counting_queries(own):
                results[index] = function()
            after = backend_cpu_seconds()
            with lock:
                database_cpu.append(None if before is None or after is None else after - before)
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            with lock:
                counter.update(own)
            connection.close()

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(runners)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started, cpu = time.monotonic(), process_cpu_seconds()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return Phase(
        results=results,
        seconds=time.monotonic() - started,
        queries=counter["queries"],
        python_cpu=process_cpu_seconds() - cpu,
        database_cpu=None if None in database_cpu else sum(database_cpu),
    )


def seconds_since_the_process_started() -> float | None:
    """Wall seconds since this process started (Linux /proc), start-up and imports included."""
    try:
        with open("/proc/self/stat") as stat:
            started_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as uptime:
            up = float(uptime.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return up - started_ticks / os.sysconf("SC_CLK_TCK")


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Command(BaseCommand):
    help = "Seed clock-running issues in a scratch *bench* database, run the reminders, report."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--issues", type=int, default=200_000)
        parser.add_argument("--overdue", type=int, default=5_333)
        parser.add_argument("--runners", type=int, default=2, help="Runs at the same moment.")
        parser.add_argument("--batch-size", type=int, default=None)
        parser.add_argument(
            "--fresh", action="store_true", help="Seed again even if the issues are there."
        )
        parser.add_argument(
            "--scaling", action="store_true", help="Half the numbers first, then the full ones."
        )
        parser.add_argument(
            "--memory",
            action="store_true",
            help="Also run the job once more under tracemalloc for its peak Python memory.",
        )
        parser.add_argument("--no-send", action="store_true", help="Only the job.")
        parser.add_argument("--wipe", action="store_true", help="Empty the issue tables when done.")

    def handle(self, *args, **options) -> None:
        name = str(connection.settings_dict["NAME"])
        if "bench" not in name:
            raise CommandError(
                f"Refusing to run on database {name!r}: it rewrites the issue tables. "
                "Use a scratch database whose name contains 'bench', e.g. civicapp_bench."
            )
        issues, overdue = options["issues"], options["overdue"]
        if not 0 < overdue <= issues or overdue + overdue // 4 + issues // 50 > issues:
            raise CommandError("--overdue must be between 1 and about three quarters of --issues.")
        if options["runners"] < 1:
            raise CommandError("--runners must be at least 1.")
        self.startup_seconds = seconds_since_the_process_started()
        sizes = [(issues, overdue)]
        if options["scaling"]:
            sizes.insert(0, (issues // 2, overdue // 2))
        started = time.monotonic()
        world = self.reference_world()
        world_seconds = time.monotonic() - started
        # With DEBUG on, Django keeps the SQL of every statement, bulk inserts included: that
        # would be measured as the job's time and memory.
        with override_settings(DEBUG=False):
            rows = [
                self.measure(world, size, late, options, fresh=options["fresh"] or len(sizes) > 1)
                for size, late in sizes
            ]
        rows[0].setup_seconds += world_seconds
        self.print_table(rows, options)
        if options["wipe"]:
            self.wipe()
        total = seconds_since_the_process_started()
        if total is not None:
            self.stdout.write(
                f"Whole command: {total:.1f} s (start-up {self.startup_seconds or 0:.1f} s), "
                "load average " + "/".join(f"{value:.1f}" for value in os.getloadavg()) + "."
            )

    # --- data ---------------------------------------------------------------------------------

    def reference_world(self) -> dict:
        """Zone, districts, communities, organisations with handlers and a robot, supervisors,
        a dispatch centre, the zone office and its mailbox and robot."""
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
        tables = [*LEDGER_TABLES, "issues_issue"]
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # TRUNCATE does not fire the append-only row trigger of the event log.
                cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
            else:
                for table in tables:
                    cursor.execute(f"DELETE FROM {table}")  # noqa: S608 (fixed table names)

    def reset_ledger(self) -> None:
        """Empty the ledger and what the job wrote, and put the issues back on level 0."""
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # CASCADE reaches photos of events, which the benchmark never makes.
                cursor.execute(f"TRUNCATE {', '.join(LEDGER_TABLES)} RESTART IDENTITY CASCADE")
            else:
                for table in LEDGER_TABLES:
                    cursor.execute(f"DELETE FROM {table}")  # noqa: S608 (fixed table names)
        Issue.objects.exclude(escalation_level=0).update(escalation_level=0)

    def is_seeded(self, issues: int, overdue: int) -> bool:
        """Whether the issue table holds exactly what `seed` makes for these numbers."""
        seeded = Issue.objects.filter(case_number__startswith=CASE_PREFIX)
        if Issue.objects.count() != issues or seeded.count() != issues:
            return False
        late = seeded.filter(status__in=CLOCK_STATUSES, deadline__lt=NOW).count()
        waiting = seeded.filter(status=Status.SUBMITTED).count()
        return late == overdue and waiting == issues // 50

    def seed(self, world: dict, issues: int, overdue: int) -> None:
        """`issues` clock-running issues: `overdue` past their deadline over levels 1–3, a
        quarter as many due soon, 2 % waiting for verification, the rest comfortably early."""
        self.wipe()
        if connection.vendor == "postgresql":
            self.seed_in_sql(world, issues, overdue)
        else:
            self.seed_in_python(world, issues, overdue)
        with connection.cursor() as cursor:
            cursor.execute(
                "ANALYZE issues_issue" if connection.vendor == "postgresql" else "ANALYZE"
            )

    def seed_in_sql(self, world: dict, issues: int, overdue: int) -> None:
        """The same rows as `seed_in_python`, generated by PostgreSQL.

        As the PostgreSQL manual advises for a bulk load, the table's plain indexes are dropped
        for the insert and built again afterwards, in the same transaction.
        """
        communities = world["communities"]
        categories = world["categories"]
        params = {
            "issues": issues,
            "overdue": overdue,
            "due_soon": overdue // 4,
            "submitted": issues // 50,
            "now": NOW,
            "communities": [community.pk for community in communities],
            "districts": [community.district_id for community in communities],
            "categories": [category.pk for category in categories],
            "severities": [category.severity for category in categories],
            "organisations": [organisation.pk for organisation in world["organisations"]],
            "reporter": world["reporter"].pk,
            "zone": world["zone"].pk,
            "prefix": CASE_PREFIX,
        }
        sql = """
            INSERT INTO issues_issue (
                case_number, year, description, severity, address, status, deadline,
                clock_started_at, rework_count, escalation_level, extension_count, fixed_on_spot,
                reported_at, dispatched_at, submitted_at, updated_at, assigned_organisation_id,
                category_id, community_id, district_id, reporter_id, zone_id
            )
            SELECT
                %(prefix)s || lpad((n + 1)::text, 7, '0'), 2026, '',
                (%(severities)s::text[])[n %% cardinality(%(categories)s::bigint[]) + 1], '',
                status, deadline, deadline - interval '4 hours', 0, 0, 0, false,
                deadline - interval '4 hours', deadline - interval '4 hours',
                CASE WHEN status = 'submitted'
                     THEN %(now)s - interval '3 days' - (n %% 500) * interval '1 minute' END,
                %(now)s,
                (%(organisations)s::bigint[])[n %% cardinality(%(organisations)s::bigint[]) + 1],
                (%(categories)s::bigint[])[n %% cardinality(%(categories)s::bigint[]) + 1],
                (%(communities)s::bigint[])[n %% cardinality(%(communities)s::bigint[]) + 1],
                (%(districts)s::bigint[])[n %% cardinality(%(districts)s::bigint[]) + 1],
                %(reporter)s, %(zone)s
            FROM (
                SELECT n, status,
                       %(now)s - late * interval '1 hour' - (n %% 1000) * interval '1 millisecond'
                           AS deadline
                FROM (
                    SELECT n,
                        CASE WHEN n < %(overdue)s THEN
                                 CASE WHEN n %% 20 < 12 THEN 1.0
                                      WHEN n %% 20 < 17 THEN 5.0 ELSE 9.0 END
                             WHEN n < %(overdue)s + %(due_soon)s THEN -0.5
                             WHEN n < %(overdue)s + %(due_soon)s + %(submitted)s THEN -2.0
                             ELSE -(2 + n %% 72) END AS late,
                        CASE WHEN n >= %(overdue)s + %(due_soon)s
                                  AND n < %(overdue)s + %(due_soon)s + %(submitted)s
                                 THEN 'submitted'
                             WHEN n %% 2 = 1 THEN 'assigned' ELSE 'in_progress' END AS status
                    FROM generate_series(0, %(issues)s - 1) AS n
                ) AS plan
            ) AS issue
        """
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT indexname, indexdef FROM pg_indexes
                WHERE tablename = 'issues_issue' AND indexname NOT IN (
                    SELECT conname FROM pg_constraint WHERE conrelid = 'issues_issue'::regclass
                )
                """
            )
            indexes = cursor.fetchall()
            for index_name, _definition in indexes:
                cursor.execute(f'DROP INDEX "{index_name}"')
            # Django's foreign keys are deferred; an index cannot be built while checks wait.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(sql, params)
            cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
            for _index_name, definition in indexes:
                cursor.execute(definition)

    def seed_in_python(self, world: dict, issues: int, overdue: int) -> None:
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
                        case_number=f"{CASE_PREFIX}{number + 1:07d}",
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
                        updated_at=NOW,
                    )
                )
            with transaction.atomic():
                Issue.objects.bulk_create(chunk)

    # --- measuring ----------------------------------------------------------------------------

    def measure(self, world: dict, issues: int, overdue: int, options: dict, *, fresh: bool) -> Row:
        runners = options["runners"]
        row = Row(issues=issues, overdue=overdue, runners=runners)
        started = time.monotonic()
        seeded = not fresh and self.is_seeded(issues, overdue)
        row.setup_seconds = time.monotonic() - started
        if not seeded:
            self.stdout.write(f"Seeding {issues:,} clock-running issues ({overdue:,} overdue)…")
            started = time.monotonic()
            self.seed(world, issues, overdue)
            row.seed_seconds = time.monotonic() - started
        else:
            self.stdout.write(f"Reusing the {issues:,} seeded issues; emptying the ledger…")
        started = time.monotonic()
        self.reset_ledger()
        gc.collect()
        row.reset_seconds = time.monotonic() - started

        batch_size = options["batch_size"]
        self.stdout.write(f"Running the reminder job, {runners} at once…")
        job = run_together(lambda: services.reminders_run(now=NOW, batch_size=batch_size), runners)
        reports, row.job_seconds, row.job_queries = job.results, job.seconds, job.queries
        row.python_cpu, row.database_cpu = job.python_cpu, job.database_cpu
        row.scanned = max(report.scanned + report.submitted_scanned for report in reports)
        row.created = sum(report.created for report in reports)
        row.escalated = sum(report.escalated for report in reports)
        row.deliveries = sum(report.deliveries for report in reports)
        row.summaries = sum(report.summaries for report in reports)
        self.expect(row, issues, overdue)

        robots = StubRobots()
        checking = 0.0
        if not options["no_send"]:
            self.stdout.write(f"Sending the deliveries, {runners} senders at once…")
            sending = run_together(
                lambda: services.deliveries_send(now=NOW, channel_factory=robots), runners
            )
            sent, row.send_seconds, row.send_queries = (
                sending.results,
                sending.seconds,
                sending.queries,
            )
            row.python_cpu += sending.python_cpu
            if row.database_cpu is not None and sending.database_cpu is not None:
                row.database_cpu += sending.database_cpu
            row.messages = sum(report.messages for report in sent)
            row.sent = sum(report.sent for report in sent)
            started = time.monotonic()
            row.unsent = Delivery.objects.exclude(state=Delivery.State.SENT).count()
            checking = time.monotonic() - started
        started = time.monotonic()
        row.duplicates = self.duplicates(robots)
        row.check_seconds = checking + time.monotonic() - started

        if options["memory"]:
            self.stdout.write("Running the job again on an empty ledger under tracemalloc…")
            self.reset_ledger()
            gc.collect()
            tracemalloc.start()
            services.reminders_run(now=NOW, batch_size=batch_size)
            row.peak_mib = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
        row.rss_mib = rss_mib()
        return row

    def expect(self, row: Row, issues: int, overdue: int) -> None:
        """The deliveries the runs must write on the seeded data, and what one per case made.

        The organisation's handlers and robot hear about each case it owes a reminder for (due
        soon and levels 1–3). Above it, each supervisor and admin and each zone channel gets
        at most one summary per run: every supervisor here covers a district with escalations,
        and there are level-3 cases, so all of them, once per runner that won some. Sent once
        per case, as before summaries, the district's and the dispatch centre's supervisors
        would hear about every level-2 and 3 case and every fix waiting for verification, and
        the zone office about every level 3.
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

    def duplicates(self, robots: StubRobots) -> dict[str, int]:
        """Everything that exists more than once and must not: 0 everywhere."""

        def repeated(queryset, *fields) -> int:
            return (
                queryset.order_by()
                .values(*fields)
                .annotate(copies=Count("id"))
                .filter(copies__gt=1)
                .count()
            )

        carried: Counter = Counter()
        for target_key, payload in Delivery.objects.filter(kind=Delivery.Kind.SUMMARY).values_list(
            "target_key", "payload"
        ):
            carried.update((target_key, pk) for pk in payload.get("reminders", []))
        return {
            "reminders": repeated(Reminder.objects, "issue", "kind", "level", "deadline"),
            "deliveries": repeated(
                Delivery.objects.filter(kind=Delivery.Kind.CASE), "reminder", "target_key"
            ),
            "summary items": sum(1 for copies in carried.values() if copies > 1),
            "escalations": repeated(
                Escalation.objects.filter(source=Escalation.Source.JOB), "issue", "level"
            ),
            "escalation events": max(
                IssueEvent.objects.filter(action="escalate").count() - Escalation.objects.count(),
                0,
            ),
            "notifications": repeated(
                Notification.objects.exclude(dedupe_key=""), "user", "dedupe_key"
            ),
            "robot cases": sum(1 for copies in robots.cases.values() if copies > 1),
        }

    def print_table(self, rows: list[Row], options: dict) -> None:
        self.stdout.write("")
        self.stdout.write(
            f"Database: {connection.vendor} {connection.settings_dict['NAME']}, "
            f"batch size {options['batch_size'] or 'default'}, now = {NOW.isoformat()}"
        )
        self.stdout.write(
            "| open issues | overdue | runners | seed s | job s | send s | job + send s "
            "| reminders | escalated | case deliveries (expected) | summaries (expected at most) "
            "| messages | sent | unsent | duplicates | queries (job + send) |"
        )
        self.stdout.write("|" + "---|" * 16)
        for row in rows:
            seed = "reused" if row.seed_seconds is None else f"{row.seed_seconds:.1f}"
            ceiling = row.expected_summaries * row.runners
            self.stdout.write(
                f"| {row.issues:,} | {row.overdue:,} | {row.runners} | {seed} "
                f"| {row.job_seconds:.2f} | {row.send_seconds:.2f} "
                f"| {row.job_seconds + row.send_seconds:.2f} | {row.created:,} "
                f"| {row.escalated:,} | {row.deliveries:,} ({row.expected_deliveries:,}) "
                f"| {row.summaries:,} ({row.expected_summaries:,}–{ceiling:,}) "
                f"| {row.messages:,} | {row.sent:,} | {row.unsent:,} "
                f"| {sum(row.duplicates.values())} | {row.job_queries + row.send_queries:,} |"
            )
        self.stdout.write("")
        self.stdout.write(
            "| open issues | deliveries per run | one delivery per case and person would be "
            "| CPU s, Python (job + send) | CPU s, PostgreSQL backends | load average "
            "| peak Python MiB (job) | max RSS MiB |"
        )
        self.stdout.write("|" + "---|" * 8)
        load = "/".join(f"{value:.1f}" for value in os.getloadavg())
        for row in rows:
            peak = "—" if row.peak_mib is None else f"{row.peak_mib:.1f}"
            database = "—" if row.database_cpu is None else f"{row.database_cpu:.1f}"
            self.stdout.write(
                f"| {row.issues:,} | {row.deliveries + row.summaries:,} "
                f"| {row.per_case_deliveries:,} | {row.python_cpu:.1f} | {database} | {load} "
                f"| {peak} | {row.rss_mib:.0f} |"
            )
        for row in rows:
            found = ", ".join(f"{name} {count}" for name, count in row.duplicates.items())
            self.stdout.write(f"Duplicates at {row.issues:,} issues: {found}.")
            seed = "" if row.seed_seconds is None else f"seed {row.seed_seconds:.1f} · "
            self.stdout.write(
                f"Phases at {row.issues:,} issues (s): set-up {row.setup_seconds:.1f} · {seed}"
                f"reset {row.reset_seconds:.1f} · job {row.job_seconds:.1f} · "
                f"send {row.send_seconds:.1f} · checks {row.check_seconds:.1f}"
            )
