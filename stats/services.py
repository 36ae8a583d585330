"""Writes of the stats app: freezing the weekly 红黑榜 (the only domain state this app owns)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from districts.policy import CaseScope
from issues.models import Issue
from stats import kpis, rollup
from stats.forms import monday_of
from stats.models import LedgerExport, RankingEntry, RankingSettings, WeeklyRanking


@dataclass
class RankedUnit:
    """One unit's week in a ranking, before or after it is frozen."""

    key: int
    label: str
    due: int
    closed_on_time: int
    late: int
    verified: int
    reworked: int
    on_time_rate: float | None
    rework_rate: float | None
    score: float | None = None
    rank: int | None = None
    board: str = ""


def week_period(week_start: datetime.date) -> kpis.Period:
    return kpis.Period(week_start, week_start + datetime.timedelta(days=6))


def parse_week(label: str) -> datetime.date | None:
    """The Monday of an ISO week written "2025-W40", None when it is not one."""
    try:
        year_part, week_part = label.split("-W")
        return datetime.date.fromisocalendar(int(year_part), int(week_part), 1)
    except (ValueError, TypeError):
        return None


def _score(unit: RankedUnit, settings: RankingSettings) -> float:
    due = unit.due or 1
    return (
        float(settings.weight_on_time) * (unit.on_time_rate or 0.0)
        - float(settings.weight_overdue) * (unit.late / due)
        - float(settings.weight_rework) * (unit.rework_rate or 0.0)
    )


def rank_units(
    scope: QuerySet[Issue],
    *,
    week_start: datetime.date,
    kind: str,
    settings: RankingSettings,
    now: datetime.datetime | None = None,
    rollup_filter: rollup.RollupFilter | None = None,
) -> list[RankedUnit]:
    """The week's units ranked: by score (the on-time closure rate by default), then fewer
    overdue cases, then the lower rework rate. Equal on all three share a rank (1, 2, 2, 4).
    Units with fewer than `minimum_due` cases due are listed unranked at the end."""
    grouping = "organisation" if kind == WeeklyRanking.Kind.ORGANISATION else "district"
    report = kpis.compute(
        scope,
        period=week_period(week_start),
        grouping=grouping,
        now=now,
        include_times=False,
        include_stock=False,
        rollup_filter=rollup_filter,
    )
    units = []
    for row in report.rows:
        if row.key is None:
            continue
        rates = row.rates
        units.append(
            RankedUnit(
                key=row.key,
                label=row.label,
                due=row.counts["due"],
                closed_on_time=row.counts["closed_on_time"],
                late=row.counts["late"],
                verified=row.counts["verified"],
                reworked=row.counts["reworked"],
                on_time_rate=rates["on_time_rate"],
                rework_rate=rates["rework_rate"],
            )
        )
    ranked = [unit for unit in units if unit.due >= settings.minimum_due]
    unranked = sorted(
        (unit for unit in units if unit.due < settings.minimum_due), key=lambda u: u.label
    )
    for unit in ranked:
        unit.score = _score(unit, settings)

    def merit(unit: RankedUnit) -> tuple:
        return (-round(unit.score or 0.0, 9), unit.late, round(unit.rework_rate or 0.0, 9))

    ranked.sort(key=lambda unit: (merit(unit), unit.label))
    for index, unit in enumerate(ranked):
        previous = ranked[index - 1] if index else None
        unit.rank = previous.rank if previous and merit(previous) == merit(unit) else index + 1
    size = settings.list_size
    worst_first = sorted(ranked, key=merit, reverse=True)
    bottom_rank: dict[int, int] = {}
    for index, unit in enumerate(worst_first):
        previous = worst_first[index - 1] if index else None
        bottom_rank[unit.key] = (
            bottom_rank[previous.key] if previous and merit(previous) == merit(unit) else index + 1
        )
    for unit in ranked:
        if unit.rank is not None and unit.rank <= size:
            unit.board = RankingEntry.Board.RED
        elif bottom_rank[unit.key] <= size:
            unit.board = RankingEntry.Board.BLACK
    return ranked + unranked


def ranking_freeze(
    *, week_start: datetime.date, now: datetime.datetime | None = None
) -> list[WeeklyRanking]:
    """Publish the week's rankings of organisations and districts, once.

    A week already frozen is returned as it was: the published list never changes, whatever
    happens to its cases afterwards. Two workers freezing at once: the unique constraint lets one
    win, the other reads its rows.
    """
    if week_start.weekday() != 0:
        raise ValueError("A ranking week starts on a Monday.")
    now = now or timezone.now()
    if week_period(week_start).end >= timezone.localdate(now):
        raise ValueError("A week is frozen only once it has ended.")
    settings = RankingSettings.load()
    rankings = []
    for kind in WeeklyRanking.Kind.values:
        existing = WeeklyRanking.objects.filter(week_start=week_start, kind=kind).first()
        if existing is not None:
            rankings.append(existing)
            continue
        units = rank_units(
            Issue.objects.all(),
            week_start=week_start,
            kind=kind,
            settings=settings,
            now=now,
            rollup_filter=rollup.RollupFilter(scope=CaseScope(everything=True)),
        )
        try:
            with transaction.atomic():
                ranking = WeeklyRanking.objects.create(
                    week_start=week_start, kind=kind, settings=settings.snapshot(), frozen_at=now
                )
                RankingEntry.objects.bulk_create([_entry(ranking, kind, unit) for unit in units])
        except IntegrityError:
            ranking = WeeklyRanking.objects.get(week_start=week_start, kind=kind)
        rankings.append(ranking)
    return rankings


def _entry(ranking: WeeklyRanking, kind: str, unit: RankedUnit) -> RankingEntry:
    unit_field: dict[str, Any] = (
        {"organisation_id": unit.key}
        if kind == WeeklyRanking.Kind.ORGANISATION
        else {"district_id": unit.key}
    )
    return RankingEntry(
        ranking=ranking,
        label=unit.label[:200],
        rank=unit.rank,
        board=unit.board,
        due=unit.due,
        closed_on_time=unit.closed_on_time,
        late=unit.late,
        verified=unit.verified,
        reworked=unit.reworked,
        on_time_rate=unit.on_time_rate,
        rework_rate=unit.rework_rate,
        score=unit.score,
        **unit_field,
    )


def last_ended_week(today: datetime.date | None = None) -> datetime.date:
    """The Monday of the last week that has ended."""
    today = today or timezone.localdate()
    return monday_of(today) - datetime.timedelta(days=7)


# --- the 整改台账 built in the background -------------------------------------------------------


def ledger_filterset(user: Any, query: str):
    """The issue list's filterset for a user and a query string, on the user's visible cases."""
    from django.http import QueryDict
    from django.test import RequestFactory

    from issues.filters import IssueFilterSet

    request = RequestFactory().get("/", QueryDict(query))
    request.user = user
    return IssueFilterSet(
        QueryDict(query), queryset=Issue.objects.visible_to(user), request=request
    )


@transaction.atomic
def ledger_export_request(*, user: Any, query: str) -> LedgerExport:
    """Record a ledger to build and queue its task once the row is committed."""
    import secrets

    from stats.tasks import build_ledger_task

    export = LedgerExport.objects.create(user=user, query=query, token=secrets.token_hex(16))
    transaction.on_commit(lambda: build_ledger_task.delay(export_id=export.pk))
    return export


def ledger_export_build(*, export_id: int) -> LedgerExport | None:
    """Build a requested ledger; a ledger already claimed or finished is left alone."""
    import tempfile

    from django.core.files import File

    from stats.ledger import write_ledger

    claimed = LedgerExport.objects.filter(pk=export_id, status=LedgerExport.Status.PENDING).update(
        status=LedgerExport.Status.RUNNING
    )
    if not claimed:
        return None
    export = LedgerExport.objects.select_related("user").get(pk=export_id)
    filterset = ledger_filterset(export.user, export.query)
    if not filterset.is_valid():
        LedgerExport.objects.filter(pk=export_id).update(
            status=LedgerExport.Status.FAILED, error="invalid filters", finished_at=timezone.now()
        )
        return export
    queryset = filterset.qs
    total = queryset.count()
    LedgerExport.objects.filter(pk=export_id).update(total=total)

    def progress(done: int) -> None:
        LedgerExport.objects.filter(pk=export_id).update(done=done)

    # The workbook goes to a temporary file, never to memory, then into storage.
    with tempfile.TemporaryFile() as handle:
        write_ledger(queryset, handle, progress=progress)
        handle.seek(0)
        export.file.save("ledger.xlsx", File(handle), save=False)
    LedgerExport.objects.filter(pk=export_id).update(
        status=LedgerExport.Status.DONE, file=export.file.name, finished_at=timezone.now()
    )
    export.refresh_from_db()
    return export
