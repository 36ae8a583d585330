"""Benchmark a large inspection round on a scratch database: worklist, one toggle, results.

    createdb -U postgres -h 127.0.0.1 civicapp_bench_i14
    export DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/civicapp_bench_i14
    .venv/bin/python manage.py migrate
    .venv/bin/python manage.py benchmark_rounds --points 2000 --standards 20 --inspectors 50
    .venv/bin/python manage.py benchmark_rounds --reuse     # again, on the same seed: seconds

With `--reuse` (or when the seed of the same size is already there) it skips seeding and times
the pages on the rounds it finds; `--profile` prints the top of a cProfile of each page.

It refuses any database that is not PostgreSQL or whose name lacks "bench", because it deletes
its own earlier seed (codes starting with "bench-") first. It seeds one district per 400 points,
10 point types with N standards each, the points and the inspectors, then creates two rounds of
the same kind through `rounds.services.round_create`. Round creation is timed as the request
(which, with a broker, only records the round and queues the task) and the preparation task
(the draw and the balanced assignment). The previous round is fully marked and most of the
current one (bulk inserts: the seed is not what is measured), so the results page has a
comparison and repeat failures to find.
Then, through the test client, it times the worklist page of one inspector (with a position),
saving one toggle (the JSON endpoint, a new token each time) and the results page of the whole
round as the supervisor, and prints median and 95th percentile with query counts.
"""

from __future__ import annotations

import cProfile
import datetime
import io
import json
import pstats
import random
import statistics
import time
import uuid
from decimal import Decimal
from unittest import mock

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import reverse
from django.utils import timezone

from districts.models import (
    CheckItem,
    Community,
    District,
    InspectionPoint,
    Membership,
    PointType,
    Role,
    Zone,
)
from rounds import services
from rounds.models import Observation, Round, RoundPoint, Visit
from rounds.tasks import prepare_round_task

PREFIX = "bench-"
POINT_TYPES = 10
POINTS_PER_DISTRICT = 400
COMMUNITIES_PER_DISTRICT = 8


class Command(BaseCommand):
    help = "Seed a scratch *bench* database and time a round's worklist, toggle and results."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--points", type=int, default=2000)
        parser.add_argument("--standards", type=int, default=20)
        parser.add_argument("--inspectors", type=int, default=50)
        parser.add_argument("--repeat", type=int, default=20)
        parser.add_argument("--seed", type=int, default=20260302)
        parser.add_argument(
            "--reuse",
            action="store_true",
            help="Time the rounds already seeded (of the same size) instead of seeding anew.",
        )
        parser.add_argument("--fresh", action="store_true", help="Always wipe and seed again.")
        parser.add_argument("--profile", action="store_true", help="cProfile each page once.")

    def handle(self, *args, **options) -> None:
        name = str(connection.settings_dict["NAME"])
        if connection.vendor != "postgresql":
            raise CommandError("The rounds benchmark runs on PostgreSQL; point DATABASE_URL at it.")
        if "bench" not in name:
            raise CommandError(
                f"Refusing to run on database {name!r}: it deletes its earlier seed. "
                "Use a scratch database whose name contains 'bench'."
            )
        self.rng = random.Random(options["seed"])
        self.profile = options["profile"]
        seeded = None if options["fresh"] else self.seeded(options)
        if options["reuse"] and seeded is None:
            raise CommandError("No seed of this size to reuse; run once without --reuse.")
        with override_settings(DEBUG=False):
            if seeded is not None:
                world, previous, current = seeded
                self.stdout.write("reusing the seeded rounds (--fresh seeds anew)")
                created_s = self.time_create(world)
            else:
                self.wipe()
                world = self.seed(options["points"], options["standards"], options["inspectors"])
                started = time.perf_counter()
                previous = self.make_round(world, "上周模拟测评", days_ago=7)
                created_s = time.perf_counter() - started
                current = self.make_round(world, "本周模拟测评", days_ago=0)
                self.mark(previous, world, share=1.0)
                self.mark(current, world, share=0.7)
                services.round_close(round_=previous, actor=world["supervisor"])
                # As autovacuum leaves a table that has settled: fresh statistics, and a
                # visibility map so the failed-marks index is read without the heap.
                with connection.cursor() as cursor:
                    cursor.execute("VACUUM ANALYZE")
        self.stdout.write(
            f"round of {current.round_points.count()} points, "
            f"{Observation.objects.filter(round_point__round=current).count()} observations "
            f"(+{Observation.objects.filter(round_point__round=previous).count()} in the "
            f"previous round); create in all (request + task): {created_s * 1000:.0f} ms"
        )
        with override_settings(DEBUG=False, ALLOWED_HOSTS=["testserver"]):
            self.measure(current, world, options["repeat"])

    # --- data ----------------------------------------------------------------------------------

    def seeded(self, options: dict) -> tuple[dict, Round, Round] | None:
        """The world and the two rounds of an earlier seed of the same size, if there is one."""
        previous = Round.objects.filter(name=f"{PREFIX}上周模拟测评").first()
        current = Round.objects.filter(name=f"{PREFIX}本周模拟测评").first()
        if previous is None or current is None:
            return None
        types = list(PointType.objects.filter(code__startswith=PREFIX))
        items = {
            t.pk: list(CheckItem.objects.filter(point_type=t).order_by("sort_order")) for t in types
        }
        inspectors = list(
            get_user_model()
            .objects.filter(username__startswith=f"{PREFIX}inspector")
            .order_by("pk")
        )
        if (
            current.round_points.count() != options["points"]
            or len(inspectors) != options["inspectors"]
            or any(len(rows) != options["standards"] for rows in items.values())
        ):
            return None
        world = {
            "districts": list(District.objects.filter(code__startswith=PREFIX).order_by("pk")),
            "inspectors": inspectors,
            "supervisor": get_user_model().objects.get(username=f"{PREFIX}supervisor"),
            "items": items,
        }
        return world, previous, current

    def time_create(self, world: dict) -> float:
        """Create a round of all the points again, inside a transaction that is rolled back.

        Prints the request's share (recording the round; with a broker the draw and the
        assignment are queued) apart from the task's (drawing, assigning, writing the points).
        """
        started = time.perf_counter()
        with transaction.atomic():
            with (
                override_settings(CELERY_TASK_ALWAYS_EAGER=False),
                mock.patch.object(prepare_round_task, "delay"),
            ):
                round_ = self.make_round(world, "试算", days_ago=14)
            requested = time.perf_counter() - started
            prepare_started = time.perf_counter()
            services.round_prepare(round_id=round_.pk)
            prepared = time.perf_counter() - prepare_started
            transaction.set_rollback(True)
        self.stdout.write(
            f"create a round of every point: request {requested * 1000:.0f} ms "
            f"(queues the task), task {prepared * 1000:.0f} ms (draw, assign, write)"
        )
        return requested + prepared

    def wipe(self) -> None:
        with transaction.atomic():
            bench_rounds = Round.objects.filter(name__startswith=PREFIX)
            Observation.objects.filter(round_point__round__in=bench_rounds).delete()
            Visit.objects.filter(round_point__round__in=bench_rounds).delete()
            RoundPoint.objects.filter(round__in=bench_rounds).delete()
            bench_rounds.delete()
            InspectionPoint.objects.filter(code__startswith=PREFIX).delete()
            CheckItem.objects.filter(point_type__code__startswith=PREFIX).delete()
            PointType.objects.filter(code__startswith=PREFIX).delete()
            Community.objects.filter(code__startswith=PREFIX).delete()
            get_user_model().objects.filter(username__startswith=PREFIX).delete()
            District.objects.filter(code__startswith=PREFIX).delete()

    @transaction.atomic
    def seed(self, points: int, standards: int, inspectors: int) -> dict:
        zone, _created = Zone.objects.get_or_create(
            code=f"{PREFIX}zone", defaults={"name": "基准测试区"}
        )
        district_count = max(1, round(points / POINTS_PER_DISTRICT))
        districts = [
            District.objects.create(zone=zone, code=f"{PREFIX}d{i}", name=f"基准街道{i}")
            for i in range(district_count)
        ]
        communities = [
            Community.objects.create(district=d, code=f"{PREFIX}c{d.pk}-{i}", name=f"基准社区{i}")
            for d in districts
            for i in range(COMMUNITIES_PER_DISTRICT)
        ]
        types = [
            PointType.objects.create(code=f"{PREFIX}t{i}", name=f"基准点位类型{i}")
            for i in range(POINT_TYPES)
        ]
        CheckItem.objects.bulk_create(
            [
                CheckItem(point_type=t, text=f"基准标准{t.pk}-{i}", weight=1 + i % 3, sort_order=i)
                for t in types
                for i in range(standards)
            ]
        )
        InspectionPoint.objects.bulk_create(
            [
                InspectionPoint(
                    code=f"{PREFIX}p{i}",
                    name=f"基准点位{i:05d}",
                    point_type=types[i % POINT_TYPES],
                    community=communities[i % len(communities)],
                    latitude=Decimal("43.60") + Decimal(self.rng.randrange(0, 100_000)) / 1_000_000,
                    longitude=Decimal("122.20")
                    + Decimal(self.rng.randrange(0, 150_000)) / 1_000_000,
                )
                for i in range(points)
            ],
            batch_size=1000,
        )
        user_model = get_user_model()
        people = []
        for i in range(inspectors):
            user = user_model.objects.create_user(f"{PREFIX}inspector{i}", password=None)
            Membership.objects.create(user=user, role=Role.INSPECTOR, all_districts=True)
            people.append(user)
        supervisor = user_model.objects.create_user(f"{PREFIX}supervisor", password=None)
        Membership.objects.create(user=supervisor, role=Role.SUPERVISOR, all_districts=True)
        return {
            "districts": districts,
            "inspectors": people,
            "supervisor": supervisor,
            "items": {
                t.pk: list(CheckItem.objects.filter(point_type=t).order_by("sort_order"))
                for t in types
            },
        }

    def make_round(self, world: dict, name: str, *, days_ago: int) -> Round:
        start = timezone.localdate() - datetime.timedelta(days=days_ago)
        return services.round_create(
            actor=world["supervisor"],
            name=f"{PREFIX}{name}",
            kind=Round.Kind.MOCK,
            starts_on=start,
            ends_on=start + datetime.timedelta(days=6),
            districts=world["districts"],
            inspectors=world["inspectors"],
        )

    @transaction.atomic
    def mark(self, round_: Round, world: dict, *, share: float) -> None:
        now = timezone.now()
        round_points = list(round_.round_points.select_related("point"))
        visited = [rp for rp in round_points if self.rng.random() < share]
        Visit.objects.bulk_create(
            [
                Visit(
                    round_point=rp,
                    inspector_id=rp.inspector_id,
                    started_at=now,
                    finished_at=now,
                    latitude=rp.point.latitude,
                    longitude=rp.point.longitude,
                    accuracy_m=10,
                    distance_m=0,
                )
                for rp in visited
            ],
            batch_size=1000,
        )
        rows = []
        for rp in visited:
            for item in world["items"][rp.point.point_type_id]:
                roll = self.rng.random()
                result = "no" if roll < 0.2 else "na" if roll < 0.25 else "yes"
                rows.append(
                    Observation(
                        round_point=rp,
                        check_item=item,
                        text=item.text,
                        weight=item.weight,
                        result=result,
                        inspector_id=rp.inspector_id,
                        observed_at=now,
                        client_token=uuid.uuid4(),
                    )
                )
        Observation.objects.bulk_create(rows, batch_size=5000)
        services.round_recount(round_=round_)

    # --- measuring -----------------------------------------------------------------------------

    def timed(self, label: str, call, repeat: int, target_ms: float) -> None:
        call()  # warm up
        if self.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            call()
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
            self.stdout.write(out.getvalue())
        timings, cpu = [], []
        for _ in range(repeat):
            started, cpu_started = time.perf_counter(), time.process_time()
            response = call()
            timings.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - cpu_started) * 1000)
            if response.status_code != 200:
                raise CommandError(f"{label}: HTTP {response.status_code}")
        with CaptureQueriesContext(connection) as captured:
            response = call()
        timings.sort()
        p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
        median = statistics.median(timings)
        verdict = "ok" if median <= target_ms else "SLOWER THAN TARGET"
        # The Python CPU time (this process only, not PostgreSQL's) depends less on the load.
        self.stdout.write(
            f"{label:<34} median {median:7.1f} ms   p95 {p95:7.1f} ms   "
            f"CPU {statistics.median(cpu):6.1f} ms   {len(response.content) / 1024:6.1f} KB   "
            f"{len(captured.captured_queries):3d} queries   target {target_ms:.0f} ms  {verdict}"
        )

    def measure(self, round_: Round, world: dict, repeat: int) -> None:
        inspector = world["inspectors"][0]
        mine = list(round_.round_points.filter(inspector=inspector).select_related("point"))
        walker = Client()
        walker.force_login(inspector)
        worklist_url = reverse("rounds:worklist", args=[round_.pk])
        self.stdout.write(f"inspector 0 has {len(mine)} points")
        self.timed(
            "worklist (one inspector, nearest)",
            lambda: walker.get(worklist_url, {"lat": "43.65", "lng": "122.27"}),
            repeat,
            100,
        )
        target = mine[0]
        item = world["items"][target.point.point_type_id][0]
        mark_url = reverse("rounds:visit_mark", args=[round_.pk, target.pk])

        def toggle():
            body = {
                "check_item": item.pk,
                "result": self.rng.choice(["yes", "no", "na"]),
                "client_token": str(uuid.uuid4()),
                "observed_at": timezone.now().isoformat(),
                "latitude": str(target.point.latitude),
                "longitude": str(target.point.longitude),
                "accuracy_m": 8,
            }
            return walker.post(
                mark_url,
                json.dumps(body),
                content_type="application/json",
                HTTP_ACCEPT="application/json",
            )

        self.timed("toggle save (JSON endpoint)", toggle, repeat, 100)
        reader = Client()
        reader.force_login(world["supervisor"])
        results_url = reverse("rounds:round_results", args=[round_.pk])
        self.timed("results page (whole round)", lambda: reader.get(results_url), repeat, 500)
