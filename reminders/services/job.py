"""The reminder job: scan, claim, escalate, plan deliveries and summaries, digest."""

from __future__ import annotations

import datetime
import hashlib
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from districts.models import Severity
from issues.calendar import is_working_day
from issues.models import Issue
from issues.services import ReminderEscalation, issues_escalate_for_reminders
from reminders.models import ChannelConfig, ChannelKind, Delivery, Reminder
from reminders.selectors import STAGES, clock_batch, submitted_batch
from reminders.services.audiences import (
    AUDIENCES,
    HANDLERS,
    ORGANISATION_CHANNELS,
    SUPERVISORS,
    ZONE_OFFICE,
    RecipientDirectory,
    awaits_summary,
)
from reminders.services.ledger import reminders_refresh
from reminders.sql import adapt_datetime, insert_ignoring_conflicts, one_of


@dataclass
class RunReport:
    """What one run of the job did."""

    # Clock-running issues the scan returned: those that owe a reminder at `now`.
    scanned: int = 0
    submitted_scanned: int = 0
    created: int = 0
    escalated: int = 0
    deliveries: int = 0
    summaries: int = 0
    batches: int = 0
    # Batches a run for the same moment was writing at that instant (see `_claim`).
    batches_left: int = 0
    urgent_only: bool = False
    seconds: float = 0.0
    created_by_kind: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "scanned": self.scanned,
            "submitted_scanned": self.submitted_scanned,
            "created": self.created,
            "escalated": self.escalated,
            "deliveries": self.deliveries,
            "summaries": self.summaries,
            "batches": self.batches,
            "batches_left": self.batches_left,
            "urgent_only": self.urgent_only,
            "seconds": round(self.seconds, 3),
            "created_by_kind": dict(self.created_by_kind),
        }


@dataclass(frozen=True)
class Candidate:
    """A reminder the SQL said is due; it becomes a ledger row only if this run wins the key."""

    issue_id: int
    kind: str
    level: int
    deadline: datetime.datetime
    organisation_id: int | None
    district_id: int


class WonReminder(NamedTuple):
    """A ledger row this run's claim inserted: it is this run's to escalate and deliver."""

    id: int
    issue_id: int
    kind: str
    level: int
    deadline: datetime.datetime
    organisation_id: int | None
    district_id: int | None


def verification_cutoff(now: datetime.datetime, working_days: int) -> datetime.datetime | None:
    """The submission time before which a fix has waited `working_days` working days.

    Counted back on the work calendar from today, at the same time of day: on Monday 10:00
    with one working day, Friday 10:00. A handful of calendar reads per run, not per issue.
    """
    if working_days <= 0:
        return now
    local = timezone.localtime(now)
    day = local.date()
    for _step in range(working_days):
        day -= datetime.timedelta(days=1)
        for _guard in range(60):  # the longest holiday is far shorter than two months
            if is_working_day(day):
                break
            day -= datetime.timedelta(days=1)
    return local.replace(year=day.year, month=day.month, day=day.day)


def reminders_run(*, now: datetime.datetime, batch_size: int | None = None) -> RunReport:
    """Create every reminder due at `now` exactly once, with its escalation and deliveries.

    Safe to run twice at once and to rerun after a crash: each batch commits on its own and a
    ledger row that exists already is never created again. On a non-working day only urgent
    categories are chased.
    """
    started = time.monotonic()
    size = batch_size or settings.REMINDER_BATCH_SIZE
    fraction = settings.REMINDER_DUE_SOON_PERCENT / 100
    report = RunReport(urgent_only=not is_working_day(timezone.localdate(now)))
    directory = RecipientDirectory()

    after: tuple[datetime.datetime, int] | None = None
    while True:
        rows = clock_batch(
            now=now,
            after=after,
            size=size,
            due_soon_fraction=fraction,
            urgent_only=report.urgent_only,
            owing_only=True,
        )
        report.scanned += len(rows)
        candidates = []
        for row in rows:
            kind, level = STAGES[row.stage]
            candidates.append(
                Candidate(row.id, kind, level, row.deadline, row.organisation_id, row.district_id)
            )
        if candidates:
            _claim(candidates, now=now, directory=directory, report=report)
        if len(rows) < size:
            break
        after = (rows[-1].deadline, rows[-1].id)

    cutoff = verification_cutoff(now, settings.REMINDER_VERIFY_AFTER_WORKING_DAYS)
    after = None
    while cutoff is not None:
        submitted = submitted_batch(
            submitted_before=cutoff, after=after, size=size, urgent_only=report.urgent_only
        )
        report.submitted_scanned += len(submitted)
        if submitted:
            _claim(
                [
                    Candidate(
                        row.id,
                        Reminder.Kind.AWAITING_VERIFICATION,
                        0,
                        row.submitted_at,
                        row.organisation_id,
                        row.district_id,
                    )
                    for row in submitted
                ],
                now=now,
                directory=directory,
                report=report,
            )
        if len(submitted) < size:
            break
        after = (submitted[-1].submitted_at, submitted[-1].id)

    report.summaries = summaries_plan(now=now, directory=directory)
    report.seconds = time.monotonic() - started
    return report


class ReminderRow(NamedTuple):
    """A ledger row as the claim inserts it: the columns, by name, of database-ready values."""

    issue_id: int
    kind: str
    level: int
    deadline: Any
    organisation_id: int | None
    district_id: int
    state: str
    attempts: int
    last_error: str
    next_attempt_at: Any
    claim_token: Any
    awaits_summary: bool
    created_at: Any
    updated_at: Any


class DeliveryRow(NamedTuple):
    """A case delivery as the plan inserts it: the columns, by name, of database-ready values."""

    kind: str
    reminder_id: int
    organisation_id: int | None
    channel: str
    config_id: int | None
    user_id: int | None
    target_key: str
    idempotency_key: str
    payload: str
    state: str
    attempts: int
    last_error: str
    next_attempt_at: Any
    created_at: Any
    updated_at: Any


def batch_taken_by_another_run(candidates: Sequence[Candidate], *, now: datetime.datetime) -> bool:
    """Whether a run for the same moment is writing this very batch now (PostgreSQL only).

    Runs started together read the same keyset batches. Without this the second one waits on
    each insert the first has not committed yet, only to find every key taken. The lock lives
    until the batch commits; the batch stays the ledger's to claim: a run that finds it held
    goes on to the next batch, and a batch whose holder rolls back is claimed by the next run.
    Runs for different moments never match, and claim through the ledger's key as before.
    """
    if connection.vendor != "postgresql":
        return False
    first, last = candidates[0], candidates[-1]
    identity = f"{first.kind}:{first.issue_id}:{last.issue_id}:{len(candidates)}:{now.timestamp()}"
    key = int.from_bytes(
        hashlib.blake2b(identity.encode(), digest_size=8).digest(), "big", signed=True
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [key])
        return not cursor.fetchone()[0]


@transaction.atomic
def _claim(
    candidates: Sequence[Candidate],
    *,
    now: datetime.datetime,
    directory: RecipientDirectory,
    report: RunReport,
) -> None:
    """Insert one batch of ledger rows; only the rows this run inserted get escalated and sent."""
    report.batches += 1
    if batch_taken_by_another_run(candidates, now=now):
        report.batches_left += 1
        return
    token = uuid.uuid4()
    claim = Reminder._meta.get_field("claim_token").get_db_prep_value(token, connection)
    at_now = adapt_datetime(now)
    # The unique key is the claim: a row another run (or an earlier run) made stays theirs.
    insert_ignoring_conflicts(
        Reminder,
        ReminderRow._fields,
        [
            ReminderRow(
                issue_id=candidate.issue_id,
                kind=candidate.kind,
                level=candidate.level,
                deadline=adapt_datetime(candidate.deadline),
                organisation_id=candidate.organisation_id,
                district_id=candidate.district_id,
                state=Reminder.State.PENDING.value,
                attempts=0,
                last_error="",
                next_attempt_at=at_now,
                claim_token=claim,
                awaits_summary=awaits_summary(candidate.kind, candidate.level),
                created_at=at_now,
                updated_at=at_now,
            )
            for candidate in candidates
        ],
    )
    won = [
        WonReminder(*row)
        for row in Reminder.objects.filter(
            one_of(Reminder, "issue_id", {candidate.issue_id for candidate in candidates}),
            claim_token=token,
        ).values_list(*WonReminder._fields)
    ]
    if not won:
        return
    report.created += len(won)
    for reminder in won:
        report.created_by_kind[reminder.kind] = report.created_by_kind.get(reminder.kind, 0) + 1
    # The same writer as a supervisor's escalation, in this batch's transaction.
    report.escalated += issues_escalate_for_reminders(
        escalations=[
            ReminderEscalation(
                issue_id=reminder.issue_id,
                level=reminder.level,
                deadline=reminder.deadline,
                reminder_id=reminder.id,
            )
            for reminder in won
            if reminder.level >= 1
        ],
        now=now,
    )
    report.deliveries += deliveries_plan(reminders=won, now=now, directory=directory)


def deliveries_plan(
    *, reminders: Sequence[WonReminder], now: datetime.datetime, directory: RecipientDirectory
) -> int:
    """Write the organisation's deliveries of new reminders: one per channel and target.

    People above the organisation are not written here: they get one summary per run (see
    `summaries_plan`). A reminder nobody can receive is marked failed at once with the
    reason, never dropped.
    """
    at_now = adapt_datetime(now)
    # Quiet hours: a robot's deliveries wait until they end.
    first_attempt = {}
    rows: list[DeliveryRow] = []
    unreachable: list[int] = []
    for reminder in reminders:
        audience = AUDIENCES[(reminder.kind, reminder.level)]
        users: list[int] = []
        configs: list[ChannelConfig] = []
        if HANDLERS in audience:
            users += directory.handlers(reminder.organisation_id)
        if ORGANISATION_CHANNELS in audience:
            configs += directory.organisation_channels(reminder.organisation_id)
        if (
            not users
            and not configs
            and not directory.has_summary_targets(
                kind=reminder.kind, level=reminder.level, district_id=reminder.district_id
            )
        ):
            unreachable.append(reminder.id)
        for user_id in dict.fromkeys(users):
            target = f"user:{user_id}"
            rows.append(
                DeliveryRow(
                    kind=Delivery.Kind.CASE.value,
                    reminder_id=reminder.id,
                    organisation_id=reminder.organisation_id,
                    channel=ChannelKind.INAPP.value,
                    config_id=None,
                    user_id=user_id,
                    target_key=target,
                    idempotency_key=f"rem:{reminder.id}:{target}",
                    payload="{}",
                    state=Delivery.State.PENDING.value,
                    attempts=0,
                    last_error="",
                    next_attempt_at=at_now,
                    created_at=at_now,
                    updated_at=at_now,
                )
            )
        for config in configs:
            if config.pk not in first_attempt:
                first_attempt[config.pk] = adapt_datetime(config.quiet_until(now) or now)
            rows.append(
                DeliveryRow(
                    kind=Delivery.Kind.CASE.value,
                    reminder_id=reminder.id,
                    organisation_id=reminder.organisation_id,
                    channel=config.kind,
                    config_id=config.pk,
                    user_id=None,
                    target_key=config.target_key,
                    idempotency_key=f"rem:{reminder.id}:{config.target_key}",
                    payload="{}",
                    state=Delivery.State.PENDING.value,
                    attempts=0,
                    last_error="",
                    next_attempt_at=first_attempt[config.pk],
                    created_at=at_now,
                    updated_at=at_now,
                )
            )
    insert_ignoring_conflicts(Delivery, DeliveryRow._fields, rows)
    if unreachable:
        Reminder.objects.filter(pk__in=unreachable).update(
            awaits_summary=False,
            state=Reminder.State.FAILED,
            last_error="No recipient: the organisation has no active handler or channel.",
            next_attempt_at=None,
            updated_at=now,
        )
    return len(rows)


# --- summaries for the people above the organisation -----------------------------------------


@dataclass
class SummaryTarget:
    """One person or zone channel's summary of a run, gathered reminder by reminder."""

    target_key: str
    group: str
    user_id: int | None = None
    config: ChannelConfig | None = None
    reminder_ids: list[int] = field(default_factory=list)
    districts: set[int] = field(default_factory=set)
    counts: Counter = field(default_factory=Counter)

    def add(self, reminder: WaitingReminder) -> None:
        self.reminder_ids.append(reminder.id)
        if reminder.district_id is not None:
            self.districts.add(reminder.district_id)
        self.counts[f"{reminder.kind}:{reminder.level}"] += 1

    def payload(self) -> dict:
        covers: dict = {"group": self.group}
        if self.group == SUPERVISORS:
            covers["districts"] = sorted(self.districts)
        return {"reminders": self.reminder_ids, "covers": covers, "counts": dict(self.counts)}


class WaitingReminder(NamedTuple):
    """A reminder the summary step claimed."""

    id: int
    kind: str
    level: int
    district_id: int | None


# Rows claimed, and ids per UPDATE, at a time: a first run over a big backlog stays in bounds.
SUMMARY_CLAIM_CHUNK = 5000


@transaction.atomic
def summaries_plan(*, now: datetime.datetime, directory: RecipientDirectory) -> int:
    """Write one summary per supervisor, zone admin and zone channel for the waiting reminders.

    The claim is the `awaits_summary` flag, cleared under SKIP LOCKED: two runs at once each
    summarise the reminders they cleared, never the same one, and reminders a crashed run left
    waiting go into the next run's summaries. One run makes at most one summary per target.
    Returns how many summaries were written.
    """
    token = uuid.uuid4()
    waiting: list[WaitingReminder] = []
    while True:
        chunk = [
            WaitingReminder(*row)
            for row in Reminder.objects.select_for_update(skip_locked=True)
            .filter(awaits_summary=True)
            .order_by("id")
            .values_list("id", "kind", "level", "district_id")[:SUMMARY_CLAIM_CHUNK]
        ]
        if not chunk:
            break
        Reminder.objects.filter(one_of(Reminder, "id", [reminder.id for reminder in chunk])).update(
            awaits_summary=False, summary_token=token, updated_at=now
        )
        waiting += chunk
    if not waiting:
        return 0
    targets: dict[str, SummaryTarget] = {}

    def target(key: str, group: str, **owner) -> SummaryTarget:
        if key not in targets:
            targets[key] = SummaryTarget(target_key=key, group=group, **owner)
        return targets[key]

    for reminder in waiting:
        audience = AUDIENCES[(reminder.kind, reminder.level)]
        if SUPERVISORS in audience:
            for user_id in directory.supervisors(reminder.district_id):
                target(f"user:{user_id}", SUPERVISORS, user_id=user_id).add(reminder)
        if ZONE_OFFICE in audience:
            for user_id in directory.zone_office():
                target(f"user:{user_id}", ZONE_OFFICE, user_id=user_id).add(reminder)
            for config in directory.zone_channels():
                target(config.target_key, ZONE_OFFICE, config=config).add(reminder)
    Delivery.objects.bulk_create(
        [
            Delivery(
                kind=Delivery.Kind.SUMMARY,
                summary_token=token,
                channel=summary.config.kind if summary.config else ChannelKind.INAPP,
                config=summary.config,
                user_id=summary.user_id,
                target_key=summary.target_key,
                idempotency_key=f"sum:{token}:{summary.target_key}",
                payload=summary.payload(),
                next_attempt_at=(summary.config.quiet_until(now) if summary.config else None)
                or now,
                created_at=now,
                updated_at=now,
            )
            for summary in targets.values()
        ]
    )
    # A reminder no summary carries and nobody else hears about (its supervisors left since
    # it was planned) is failed visibly, as in deliveries_plan.
    covered = {pk for summary in targets.values() for pk in summary.reminder_ids}
    uncovered = [reminder.id for reminder in waiting if reminder.id not in covered]
    heard = set(
        Delivery.objects.filter(reminder_id__in=uncovered).values_list("reminder_id", flat=True)
    )
    Reminder.objects.filter(pk__in=[pk for pk in uncovered if pk not in heard]).update(
        state=Reminder.State.FAILED,
        last_error="No recipient: nobody above the organisation and no handler or channel.",
        next_attempt_at=None,
        updated_at=now,
    )
    reminders_refresh(reminder_ids=[reminder.id for reminder in waiting], now=now)
    return len(targets)


# --- daily digest ----------------------------------------------------------------------------


def digests_create(*, now: datetime.datetime) -> int:
    """Queue today's digest for every organisation channel whose organisation has overdue work.

    One delivery per channel and day (its key says so), however often this runs; the list is
    read when it is sent, so it is current.
    """
    day = timezone.localdate(now)
    urgent_only = not is_working_day(day)
    configs: dict[int, list[ChannelConfig]] = defaultdict(list)
    for config in ChannelConfig.objects.filter(enabled=True, organisation__isnull=False).exclude(
        kind=ChannelKind.INAPP
    ):
        configs[config.organisation_id].append(config)
    if not configs:
        return 0
    overdue = Issue.objects.overdue(now).filter(assigned_organisation_id__in=list(configs))
    if urgent_only:
        overdue = overdue.filter(category__severity=Severity.URGENT)
    counts = dict(
        overdue.order_by()
        .values("assigned_organisation_id")
        .annotate(count=Count("id"))
        .values_list("assigned_organisation_id", "count")
    )
    deliveries = [
        Delivery(
            kind=Delivery.Kind.DAILY_DIGEST,
            digest_date=day,
            organisation_id=organisation_id,
            channel=config.kind,
            config=config,
            target_key=config.target_key,
            idempotency_key=f"digest:{day.isoformat()}:{config.target_key}",
            payload={"overdue": count, "urgent_only": urgent_only},
            next_attempt_at=config.quiet_until(now) or now,
            created_at=now,
            updated_at=now,
        )
        for organisation_id, count in counts.items()
        if count
        for config in configs[organisation_id]
    ]
    Delivery.objects.bulk_create(deliveries, ignore_conflicts=True)
    return len(deliveries)
