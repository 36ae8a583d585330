"""The reminder job and the sender: the only code that writes reminders and deliveries.

The job (`reminders_run`) scans open issues in keyset batches, lets SQL decide which reminder
each one owes at `now`, and inserts ledger rows with ON CONFLICT DO NOTHING: the unique key
(issue, kind, level, deadline) is the claim, so whichever run inserts first owns the reminder
and a second run (or a rerun after a crash) creates nothing. The run's escalations and its
deliveries are written in the same transaction as the ledger rows, so a batch lands whole or
not at all.

The sender (`deliveries_send`) claims due deliveries of one target with SKIP LOCKED, marks
them `sending` under a lease and commits; sends outside any transaction; then marks them sent,
or pending again with backoff, or failed. A worker killed mid-send leaves rows `sending` until
their lease ends, when they are claimed again: the lease is the only window in which a channel
may see a message twice.
"""

from __future__ import annotations

import datetime
import logging
import random
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F
from django.utils import timezone

from districts.models import Membership, Organisation, Severity
from districts.selectors import handlers_of, supervisors_for, zone_office
from issues.calendar import is_working_day
from issues.models import (
    CLOCK_STATUSES,
    Action,
    Escalation,
    Issue,
    IssueEvent,
    Status,
)
from issues.services.core import SYSTEM_ROLE
from reminders import messages, ratelimit
from reminders.channels import (
    Channel,
    ChannelError,
    Message,
    PermanentError,
    TransientError,
    channel_for,
)
from reminders.models import ChannelConfig, ChannelKind, Delivery, Reminder
from reminders.selectors import (
    STAGES,
    CaseRow,
    ClaimedDelivery,
    case_rows,
    claim_due,
    clock_batch,
    submitted_batch,
)
from reminders.sql import adapt_datetime, insert_ignoring_conflicts, one_of, update_from_values

logger = logging.getLogger(__name__)

# An in-app "message" is one bulk insert of notifications; keep it a reasonable size.
INAPP_MAX_ITEMS = 200

HANDLERS = "handlers"
ORGANISATION_CHANNELS = "organisation_channels"
SUPERVISORS = "supervisors"
ZONE_OFFICE = "zone_office"

# Who hears about a reminder: the organisation first, then the district's supervisors, then
# the zone office (docs/domain.md §5).
AUDIENCES: dict[tuple[str, int], frozenset[str]] = {
    (Reminder.Kind.DUE_SOON, 0): frozenset({HANDLERS, ORGANISATION_CHANNELS}),
    (Reminder.Kind.OVERDUE, 1): frozenset({HANDLERS, ORGANISATION_CHANNELS}),
    (Reminder.Kind.ESCALATION, 2): frozenset({HANDLERS, ORGANISATION_CHANNELS, SUPERVISORS}),
    (Reminder.Kind.ESCALATION, 3): frozenset(
        {HANDLERS, ORGANISATION_CHANNELS, SUPERVISORS, ZONE_OFFICE}
    ),
    (Reminder.Kind.AWAITING_VERIFICATION, 0): frozenset({SUPERVISORS}),
}
# The organisation hears about each case; the people above it get one summary per run.
SUMMARY_GROUPS = frozenset({SUPERVISORS, ZONE_OFFICE})


def awaits_summary(kind: str, level: int) -> bool:
    """Whether a reminder of this kind and level goes into the summaries of a run."""
    return bool(AUDIENCES[(kind, level)] & SUMMARY_GROUPS)


# --- the job ---------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class WonReminder:
    id: int
    issue_id: int
    kind: str
    level: int
    deadline: datetime.datetime
    organisation_id: int | None
    district_id: int | None


class RecipientDirectory:
    """Who hears about what, read once per run and per organisation or district, not per issue."""

    def __init__(self) -> None:
        self._handlers: dict[int, list[int]] = {}
        self._supervisors: dict[int, list[int]] = {}
        self._zone_office: list[int] | None = None
        configs = list(ChannelConfig.objects.filter(enabled=True))
        self._inapp_off = {
            config.organisation_id
            for config in ChannelConfig.objects.filter(kind=ChannelKind.INAPP, enabled=False)
        }
        self._organisation_configs: dict[int | None, list[ChannelConfig]] = defaultdict(list)
        for config in configs:
            if config.kind != ChannelKind.INAPP:
                self._organisation_configs[config.organisation_id].append(config)

    def handlers(self, organisation_id: int | None) -> list[int]:
        if organisation_id is None or organisation_id in self._inapp_off:
            return []
        if organisation_id not in self._handlers:
            self._handlers[organisation_id] = sorted(
                handlers_of(organisation_id).values_list("pk", flat=True)
            )
        return self._handlers[organisation_id]

    def supervisors(self, district_id: int | None) -> list[int]:
        if district_id is None:
            return []
        if district_id not in self._supervisors:
            self._supervisors[district_id] = sorted(
                supervisors_for(district_id).values_list("pk", flat=True)
            )
        return self._supervisors[district_id]

    def zone_office(self) -> list[int]:
        if None in self._inapp_off:
            return []
        if self._zone_office is None:
            self._zone_office = sorted(zone_office().values_list("pk", flat=True))
        return self._zone_office

    def organisation_channels(self, organisation_id: int | None) -> list[ChannelConfig]:
        return self._organisation_configs.get(organisation_id, []) if organisation_id else []

    def zone_channels(self) -> list[ChannelConfig]:
        return self._organisation_configs.get(None, [])

    def has_summary_targets(self, *, kind: str, level: int, district_id: int | None) -> bool:
        """Whether anyone above the organisation would hear about such a reminder."""
        audience = AUDIENCES[(kind, level)]
        if SUPERVISORS in audience and self.supervisors(district_id):
            return True
        return ZONE_OFFICE in audience and bool(self.zone_office() or self.zone_channels())


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


REMINDER_COLUMNS = (
    "issue_id",
    "kind",
    "level",
    "deadline",
    "organisation_id",
    "district_id",
    "state",
    "attempts",
    "last_error",
    "next_attempt_at",
    "claim_token",
    "awaits_summary",
    "created_at",
    "updated_at",
)


@transaction.atomic
def _claim(
    candidates: Sequence[Candidate],
    *,
    now: datetime.datetime,
    directory: RecipientDirectory,
    report: RunReport,
) -> None:
    """Insert one batch of ledger rows; only the rows this run inserted get escalated and sent."""
    token = uuid.uuid4()
    claim = Reminder._meta.get_field("claim_token").get_db_prep_value(token, connection)
    at_now = adapt_datetime(now)
    # The unique key is the claim: a row another run (or an earlier run) made stays theirs.
    insert_ignoring_conflicts(
        Reminder,
        REMINDER_COLUMNS,
        [
            (
                candidate.issue_id,
                candidate.kind,
                candidate.level,
                adapt_datetime(candidate.deadline),
                candidate.organisation_id,
                candidate.district_id,
                Reminder.State.PENDING.value,
                0,
                "",
                at_now,
                claim,
                awaits_summary(candidate.kind, candidate.level),
                at_now,
                at_now,
            )
            for candidate in candidates
        ],
    )
    won = [
        WonReminder(*row)
        for row in Reminder.objects.filter(
            one_of(Reminder, "issue_id", {candidate.issue_id for candidate in candidates}),
            claim_token=token,
        ).values_list(
            "id", "issue_id", "kind", "level", "deadline", "organisation_id", "district_id"
        )
    ]
    report.batches += 1
    if not won:
        return
    report.created += len(won)
    for reminder in won:
        report.created_by_kind[reminder.kind] = report.created_by_kind.get(reminder.kind, 0) + 1
    report.escalated += escalations_raise(reminders=[r for r in won if r.level >= 1], now=now)
    report.deliveries += deliveries_plan(reminders=won, now=now, directory=directory)


def escalations_raise(*, reminders: Sequence[WonReminder], now: datetime.datetime) -> int:
    """Raise issues to their reminder's level, once, with the event issue_escalate would write.

    The batch form of `issues.services.issue_escalate` for the job: the rows are locked in id
    order, the level only goes up (compare-and-swap on `escalation_level < level`), the issue
    must still be on the same deadline, and each raise writes one Escalation(source="job") and
    one IssueEvent(action=escalate, actor=None, role "system"). Returns how many were raised.
    """
    raised = 0
    by_level: dict[int, dict[int, WonReminder]] = defaultdict(dict)
    for reminder in reminders:
        by_level[reminder.level][reminder.issue_id] = reminder
    for level in sorted(by_level):
        group = by_level[level]
        locked = (
            Issue.objects.select_for_update()
            .filter(pk__in=list(group), status__in=CLOCK_STATUSES, escalation_level__lt=level)
            .order_by("pk")
            .values_list("pk", "status", "escalation_level", "deadline", "assigned_organisation_id")
        )
        eligible = [row for row in locked if row[3] == group[row[0]].deadline]
        if not eligible:
            continue
        # A level lowered by hand and raised again must not meet the job's earlier row.
        done = set(
            Escalation.objects.filter(
                issue_id__in=[row[0] for row in eligible],
                level=level,
                source=Escalation.Source.JOB,
            ).values_list("issue_id", "deadline")
        )
        eligible = [row for row in eligible if (row[0], row[3]) not in done]
        if not eligible:
            continue
        Issue.objects.filter(
            pk__in=[row[0] for row in eligible], escalation_level__lt=level
        ).update(escalation_level=level, updated_at=now)
        escalations = Escalation.objects.bulk_create(
            [
                Escalation(
                    issue_id=row[0],
                    level=level,
                    source=Escalation.Source.JOB,
                    actor=None,
                    deadline=row[3],
                    created_at=now,
                )
                for row in eligible
            ]
        )
        IssueEvent.objects.bulk_create(
            [
                IssueEvent(
                    issue_id=row[0],
                    actor=None,
                    actor_role=SYSTEM_ROLE,
                    action=Action.ESCALATE,
                    from_status=row[1],
                    to_status=row[1],
                    organisation_id=row[4],
                    data={
                        "level": level,
                        "previous_level": row[2],
                        "source": Escalation.Source.JOB,
                        "escalation": escalation.pk,
                        "reminder": group[row[0]].id,
                    },
                    created_at=now,
                )
                for row, escalation in zip(eligible, escalations, strict=True)
            ]
        )
        raised += len(eligible)
    return raised


DELIVERY_COLUMNS = (
    "kind",
    "reminder_id",
    "organisation_id",
    "channel",
    "config_id",
    "user_id",
    "target_key",
    "idempotency_key",
    "payload",
    "state",
    "attempts",
    "last_error",
    "next_attempt_at",
    "created_at",
    "updated_at",
)


def deliveries_plan(
    *, reminders: Sequence[WonReminder], now: datetime.datetime, directory: RecipientDirectory
) -> int:
    """Write the organisation's deliveries of new reminders: one per channel and target.

    People above the organisation are not written here: they get one summary per run (see
    `summaries_plan`). A reminder nobody can receive is marked failed at once with the
    reason, never dropped.
    """
    adapt = adapt_datetime
    at_now = adapt(now)
    # Quiet hours: a robot's deliveries wait until they end.
    first_attempt = {}
    rows: list[tuple] = []
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
                (
                    Delivery.Kind.CASE.value,
                    reminder.id,
                    reminder.organisation_id,
                    ChannelKind.INAPP.value,
                    None,
                    user_id,
                    target,
                    f"rem:{reminder.id}:{target}",
                    "{}",
                    Delivery.State.PENDING.value,
                    0,
                    "",
                    at_now,
                    at_now,
                    at_now,
                )
            )
        for config in configs:
            if config.pk not in first_attempt:
                first_attempt[config.pk] = adapt(config.quiet_until(now) or now)
            rows.append(
                (
                    Delivery.Kind.CASE.value,
                    reminder.id,
                    reminder.organisation_id,
                    config.kind,
                    config.pk,
                    None,
                    config.target_key,
                    f"rem:{reminder.id}:{config.target_key}",
                    "{}",
                    Delivery.State.PENDING.value,
                    0,
                    "",
                    first_attempt[config.pk],
                    at_now,
                    at_now,
                )
            )
    insert_ignoring_conflicts(Delivery, DELIVERY_COLUMNS, rows)
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


# --- sending ---------------------------------------------------------------------------------


@dataclass
class SendReport:
    """What one sending pass did."""

    messages: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    deferred: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {
            "messages": self.messages,
            "sent": self.sent,
            "retried": self.retried,
            "failed": self.failed,
            "cancelled": self.cancelled,
            "deferred": self.deferred,
            "seconds": round(self.seconds, 3),
        }


ChannelFactory = Callable[..., Channel]


def retry_delay(attempts: int, *, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter: base·2^(n−1), capped, times a random 0.5–1.0."""
    base = settings.REMINDER_RETRY_BASE_SECONDS
    ceiling = settings.REMINDER_RETRY_MAX_SECONDS
    delay = min(base * 2 ** max(attempts - 1, 0), ceiling)
    delay *= random.uniform(0.5, 1.0)  # noqa: S311 (jitter, not security)
    return max(delay, retry_after or 0.0)


# One claim takes up to this many messages' worth of one target's rows: fewer round trips, and
# the reminders are summarised once per claim. They are still sent one message at a time.
MESSAGES_PER_CLAIM = 10
# How many pending reminders a pass re-summarises if a sender died before doing it.
SWEEP_LIMIT = 5000
# A pass summarises the reminders it moved once this many are waiting, and when it ends.
REFRESH_EVERY = 5000


def deliveries_send(
    *,
    now: datetime.datetime | None = None,
    channel_factory: ChannelFactory = channel_for,
    time_budget_seconds: float | None = None,
) -> SendReport:
    """Send every due delivery, a target's messages in order, until none is due.

    Each target is claimed, sent and recorded on its own, so one failing channel never blocks
    the others. Stops early (leaving work for the next pass) when the time budget is spent.
    """
    started = time.monotonic()
    report = SendReport()
    finished: set[str] = set()

    def clock() -> datetime.datetime:
        return now or timezone.now()

    context = SendingPass(clock)
    reminders_sweep(now=clock())
    while time_budget_seconds is None or time.monotonic() - started < time_budget_seconds:
        targets = list(
            Delivery.objects.due(clock())
            .exclude(target_key__in=finished)
            .order_by()
            .values_list("target_key", flat=True)
            .distinct()[:100]
        )
        if not targets:
            break
        for target_key in targets:
            if time_budget_seconds is not None and (
                time.monotonic() - started >= time_budget_seconds
            ):
                break
            if not _send_target(
                target_key, clock=clock, factory=channel_factory, report=report, context=context
            ):
                finished.add(target_key)
    context.flush()
    report.seconds = time.monotonic() - started
    return report


def messages_per_claim() -> int:
    """Messages one claim may hold: all of them fit in half the lease even if each send waits
    for its whole timeout, so a slow robot never outlives its claim mid-way."""
    per_message = 2 * max(settings.REMINDER_HTTP_TIMEOUT_SECONDS, 1)
    return max(1, min(MESSAGES_PER_CLAIM, settings.REMINDER_SENDING_LEASE_SECONDS // per_message))


def reminder_is_stale(case: CaseRow, now: datetime.datetime) -> bool:
    """Whether the reminder no longer describes the issue (closed, new deadline, moved on)."""
    if case.kind == Reminder.Kind.AWAITING_VERIFICATION:
        return case.status != Status.SUBMITTED or case.submitted_at != case.deadline
    if case.status not in CLOCK_STATUSES or case.issue_deadline != case.deadline:
        return True
    if case.assigned_organisation_id != case.organisation_id:
        return True
    return case.kind == Reminder.Kind.DUE_SOON and now >= case.deadline


class SendingPass:
    """What one pass of the sender keeps: organisation names, languages, and the reminders
    whose deliveries it moved, which it summarises once rather than after every message."""

    def __init__(self, clock: Callable[[], datetime.datetime]) -> None:
        self._clock = clock
        self._names: dict[int, messages.Names] = {}
        self._languages: dict[int, str] = {}
        self._touched: set[int] = set()

    def touch(self, rows: Iterable[ClaimedDelivery]) -> None:
        """Note the reminders of rows whose outcome changed; summarise them in bulk.

        A reminder is summarised from whatever its deliveries say when the pass flushes, so
        three handlers and a robot hearing about one case cost one refresh, not four. A pass
        that dies before flushing leaves its reminders to the next pass's sweep.
        """
        self._touched |= reminder_ids_of(rows)
        if len(self._touched) >= REFRESH_EVERY:
            self.flush()

    def flush(self) -> None:
        if self._touched:
            reminders_refresh(reminder_ids=self._touched, now=self._clock())
            self._touched = set()

    def owner(self, organisation_id: int | None) -> messages.Names | None:
        """The names of the organisation a message is about (None: the zone office)."""
        if organisation_id is None:
            return None
        if organisation_id not in self._names:
            self._names[organisation_id] = (
                Organisation.objects.filter(pk=organisation_id)
                .values_list("name", "name_en")
                .first()
            ) or ("", "")
        return self._names[organisation_id]

    def language(self, user_id: int | None) -> str:
        """A person's bell speaks their saved interface language; groups get the site's."""
        if user_id is None:
            return ""
        if user_id not in self._languages:
            self._languages[user_id] = (
                Membership.objects.filter(user_id=user_id)
                .values_list("language", flat=True)
                .first()
                or ""
            )
        return self._languages[user_id]


@dataclass
class Batch:
    """The rows of one message, with their cases, or the message itself when prepared."""

    rows: list[ClaimedDelivery]
    cases: list[CaseRow] = field(default_factory=list)
    message: Message | None = None


def _claim_target(target_key: str, now: datetime.datetime, *, cases: int) -> list[ClaimedDelivery]:
    """A target's due rows of one kind, in the order it hears them: cases, summary, digest."""
    for kind, limit in (
        (Delivery.Kind.CASE, cases),
        (Delivery.Kind.SUMMARY, 1),
        (Delivery.Kind.DAILY_DIGEST, 1),
    ):
        rows = claim_due(target_key=target_key, kind=kind, now=now, limit=limit)
        if rows:
            return rows
    return []


def _send_target(
    target_key: str,
    *,
    clock: Callable[[], datetime.datetime],
    factory: ChannelFactory,
    report: SendReport,
    context: SendingPass,
) -> bool:
    """Claim, send and record one target's next messages; False when there was nothing to do.

    A channel that only writes to this database (the bell) is sent inside the claim's
    transaction: its notifications and the `sent` mark commit together, with no lease. Any
    other channel's rows are marked `sending` under a lease and committed first; each message
    is then sent outside any transaction and its outcome recorded at once. The reminders are
    summarised by the pass (see `SendingPass.touch`).
    """
    now = clock()
    is_user = target_key.startswith("user:")
    per_message = INAPP_MAX_ITEMS if is_user else settings.REMINDER_DIGEST_MAX_ITEMS
    with transaction.atomic():
        rows = _claim_target(
            target_key,
            now,
            cases=per_message * (MESSAGES_PER_CLAIM if is_user else messages_per_claim()),
        )
        if not rows:
            return False
        first = rows[0]
        config = (
            ChannelConfig.objects.filter(pk=first.config_id).first() if first.config_id else None
        )
        if not is_user and (config is None or not config.enabled):
            report.cancelled += _close(
                rows, Delivery.State.CANCELLED, now, error="The channel was disabled or removed."
            )
            context.touch(rows)
            return True
        if config is not None:
            quiet_until = config.quiet_until(now)
            if quiet_until is not None:
                report.deferred += _defer(target_key, quiet_until, now)
                return True
        batches = _prepare(rows, now=now, per_message=per_message, report=report, context=context)
        if not batches:
            context.touch(rows)
            return True
        try:
            channel = factory(config, user_id=first.user_id)
        except Exception as error:  # no channel to send on: the same outcome as a failed send
            if not isinstance(error, ChannelError):
                logger.exception("Channel %s could not be made", target_key)
            for batch in batches:
                _after_failure(
                    batch.rows,
                    now,
                    error,
                    permanent=isinstance(error, PermanentError),
                    report=report,
                )
            context.touch(rows)
            return True
        language = context.language(first.user_id)
        if channel.writes_database:
            for batch in batches:
                message = batch.message or _case_message(batch, first, now, language, context)
                _send_in_transaction(channel, batch, message, target_key, now, report)
            context.touch(rows)
            return True
        if config is not None:
            slots = ratelimit.acquire_many(
                target_key=target_key,
                limit=config.rate_limit_per_minute,
                wanted=len(batches),
                now=now,
            )
            later = now + datetime.timedelta(seconds=slots.wait)
            if not slots.granted:
                report.deferred += _defer(target_key, later, now)
                return True
            # Messages past the window's free slots wait for it, without spending an attempt.
            waiting = [row for batch in batches[slots.granted :] for row in batch.rows]
            if waiting:
                report.deferred += Delivery.objects.filter(
                    pk__in=[row.pk for row in waiting]
                ).update(next_attempt_at=later, updated_at=now)
                batches = batches[: slots.granted]
        lease = now + datetime.timedelta(seconds=settings.REMINDER_SENDING_LEASE_SECONDS)
        Delivery.objects.filter(
            one_of(Delivery, "id", [row.pk for batch in batches for row in batch.rows])
        ).update(
            state=Delivery.State.SENDING,
            attempts=F("attempts") + 1,
            next_attempt_at=lease,
            updated_at=now,
        )
    # Committed: the rows are ours until the lease ends. Send outside the transaction.
    claimed = time.monotonic()
    unsent: list[ClaimedDelivery] = []
    until = now
    for index, batch in enumerate(batches):
        if index and time.monotonic() - claimed > settings.REMINDER_SENDING_LEASE_SECONDS / 2:
            unsent = [row for later in batches[index:] for row in later.rows]
            break
        message = batch.message or _case_message(batch, first, now, language, context)
        report.messages += 1
        failure = _deliver(channel, message, target_key)
        done = clock()
        with transaction.atomic():
            if failure is None:
                report.sent += Delivery.objects.filter(
                    one_of(Delivery, "id", [row.pk for row in batch.rows]),
                    state=Delivery.State.SENDING,
                    next_attempt_at=lease,  # still our claim: the lease did not run out meanwhile
                ).update(
                    state=Delivery.State.SENT,
                    sent_at=done,
                    last_error="",
                    response_code=channel.last_response_code,
                    updated_at=done,
                )
            else:
                error, permanent = failure
                until = _after_failure(
                    batch.rows, done, error, permanent=permanent, report=report, lease=lease
                )
        if failure is not None:
            # The channel is failing: the rest waits as long as the failed message, unspent.
            unsent = [row for later in batches[index + 1 :] for row in later.rows]
            break
    if unsent:
        _release(unsent, lease, until, clock())
    context.touch(rows)
    return True


def _case_message(
    batch: Batch,
    first: ClaimedDelivery,
    now: datetime.datetime,
    language: str,
    context: SendingPass,
) -> Message:
    return messages.reminder_message(
        batch.cases, owner=context.owner(first.organisation_id), now=now, language=language
    )


def _prepare(
    rows: list[ClaimedDelivery],
    *,
    now: datetime.datetime,
    per_message: int,
    report: SendReport,
    context: SendingPass,
) -> list[Batch]:
    """Cancel what moved on, and cut the rest into messages (none: all were cancelled)."""
    first = rows[0]
    if first.kind == Delivery.Kind.DAILY_DIGEST:
        message = messages.digest_message(
            first,
            owner=context.owner(first.organisation_id),
            now=now,
            max_items=settings.REMINDER_DIGEST_MAX_ITEMS,
        )
        if message is None:
            report.cancelled += _close(
                rows, Delivery.State.CANCELLED, now, error="Nothing is overdue any more."
            )
            return []
        return [Batch(rows, message=message)]
    if first.kind == Delivery.Kind.SUMMARY:
        cases = case_rows(first.payload.get("reminders", []))
        live = sorted(
            (case for case in cases.values() if not reminder_is_stale(case, now)),
            key=lambda case: case.reminder_id,
        )
        if not live:
            report.cancelled += _close(
                rows, Delivery.State.CANCELLED, now, error="The cases moved on before sending."
            )
            return []
        message = messages.summary_message(
            first,
            live,
            now=now,
            language=context.language(first.user_id),
            max_items=settings.REMINDER_DIGEST_MAX_ITEMS,
        )
        return [Batch(rows, message=message)]
    cases = case_rows(row.reminder_id for row in rows)
    stale = [row for row in rows if reminder_is_stale(cases[row.reminder_id], now)]
    if stale:
        report.cancelled += _close(
            stale, Delivery.State.CANCELLED, now, error="The case moved on before sending."
        )
    fresh = [row for row in rows if row not in stale]
    return [
        Batch(part, cases=[cases[row.reminder_id] for row in part])
        for part in (
            fresh[start : start + per_message] for start in range(0, len(fresh), per_message)
        )
    ]


def _deliver(channel: Channel, message: Message, target_key: str) -> tuple[Exception, bool] | None:
    """Send one message: None when the channel took it, else (error, whether it is final)."""
    try:
        channel.send(message)
    except TransientError as error:
        return error, False
    except PermanentError as error:
        return error, True
    except Exception as error:  # a bug in one channel must not stop the others
        logger.exception("Channel %s failed unexpectedly", target_key)
        return error, False
    return None


def _send_in_transaction(
    channel: Channel,
    batch: Batch,
    message: Message,
    target_key: str,
    now: datetime.datetime,
    report: SendReport,
) -> None:
    """Send a message on a channel that writes to this database, in the claim's transaction."""
    report.messages += 1
    with transaction.atomic():  # a failing send rolls back what it wrote, not the claim
        failure = _deliver(channel, message, target_key)
        if failure is not None:
            transaction.set_rollback(True)
    if failure is not None:
        error, permanent = failure
        _after_failure(batch.rows, now, error, permanent=permanent, report=report)
        return
    report.sent += Delivery.objects.filter(
        one_of(Delivery, "id", [row.pk for row in batch.rows])
    ).update(
        state=Delivery.State.SENT,
        attempts=F("attempts") + 1,
        sent_at=now,
        last_error="",
        response_code=channel.last_response_code,
        updated_at=now,
    )


def _close(rows: Iterable[Delivery], state: str, now: datetime.datetime, *, error: str) -> int:
    return Delivery.objects.filter(pk__in=[row.pk for row in rows]).update(
        state=state, last_error=error, updated_at=now
    )


def _defer(target_key: str, until: datetime.datetime, now: datetime.datetime) -> int:
    """Push a target's due rows to a later time without spending an attempt.

    Quiet hours and a full rate window hold for the whole target, so every due row of it that
    no other sender holds moves at once, instead of being claimed and pushed 20 at a time.
    """
    due = (
        Delivery.objects.due(now)
        .filter(target_key=target_key)
        .select_for_update(skip_locked=True)
        .order_by()
        .values_list("pk", flat=True)
    )
    return Delivery.objects.filter(pk__in=list(due)).update(
        state=Delivery.State.PENDING, next_attempt_at=until, updated_at=now
    )


def _release(
    rows: Sequence[Delivery],
    lease: datetime.datetime,
    until: datetime.datetime,
    now: datetime.datetime,
) -> int:
    """Give back claimed rows that were not sent: pending from `until`, the attempt uncounted."""
    return Delivery.objects.filter(
        pk__in=[row.pk for row in rows], state=Delivery.State.SENDING, next_attempt_at=lease
    ).update(
        state=Delivery.State.PENDING,
        attempts=F("attempts") - 1,
        next_attempt_at=until,
        updated_at=now,
    )


def _after_failure(
    rows: Sequence[Delivery],
    now: datetime.datetime,
    error: Exception,
    *,
    permanent: bool,
    report: SendReport,
    lease: datetime.datetime | None = None,
) -> datetime.datetime:
    """Record a failed send: pending again after a backoff, or failed for good.

    With a `lease`, only rows still held under it are touched. Returns when the rows will be
    tried again (now, when they failed for good).
    """
    text = f"{type(error).__name__}: {error}"[:2000]
    code = getattr(error, "response_code", None)
    retry_after = getattr(error, "retry_after", None)
    by_attempts: dict[int, list[int]] = defaultdict(list)
    for row in rows:
        by_attempts[row.attempts + 1].append(row.pk)  # the attempt just made
    retry_at = now
    for attempts, ids in by_attempts.items():
        ours = Delivery.objects.filter(pk__in=ids)
        if lease is not None:
            ours = ours.filter(state=Delivery.State.SENDING, next_attempt_at=lease)
        if permanent or attempts >= settings.REMINDER_MAX_ATTEMPTS:
            report.failed += ours.update(
                state=Delivery.State.FAILED,
                attempts=attempts,
                last_error=text,
                response_code=code,
                updated_at=now,
            )
        else:
            retry_at = now + datetime.timedelta(
                seconds=retry_delay(attempts, retry_after=retry_after)
            )
            report.retried += ours.update(
                state=Delivery.State.PENDING,
                attempts=attempts,
                next_attempt_at=retry_at,
                last_error=text,
                response_code=code,
                updated_at=now,
            )
    logger.warning(
        "Delivery to %s failed (%s): %s",
        rows[0].target_key,
        "permanent" if permanent else "will retry",
        text,
    )
    return retry_at


def reminders_sweep(*, now: datetime.datetime, limit: int = SWEEP_LIMIT) -> int:
    """Summarise again the reminders a sender left pending when it died after recording a
    message and before summarising its claim (at most `limit`, oldest first).

    Such a reminder is pending with a next attempt older than a lease; one legitimately
    waiting for a retry has its next attempt ahead and is left alone.
    """
    cutoff = now - datetime.timedelta(seconds=settings.REMINDER_SENDING_LEASE_SECONDS)
    ids = list(
        Reminder.objects.filter(
            state=Reminder.State.PENDING, awaits_summary=False, next_attempt_at__lt=cutoff
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    return reminders_refresh(reminder_ids=ids, now=now) if ids else 0


def reminder_ids_of(rows: Iterable[ClaimedDelivery | Delivery]) -> set[int]:
    """The reminders deliveries are about: a case's own, or those a summary carries."""
    ids: set[int] = set()
    for row in rows:
        if row.reminder_id:
            ids.add(row.reminder_id)
        elif row.kind == Delivery.Kind.SUMMARY:
            ids.update(row.payload.get("reminders", []))
    return ids


def _refresh_reminders(rows: Iterable[ClaimedDelivery | Delivery], now: datetime.datetime) -> None:
    ids = reminder_ids_of(rows)
    if ids:
        reminders_refresh(reminder_ids=ids, now=now)


class Outcome(NamedTuple):
    """Where one delivery stands, as far as its reminders' summary is concerned."""

    state: str
    attempts: int
    next_attempt_at: datetime.datetime | None
    last_error: str
    sent_at: datetime.datetime | None


class ReminderSubject(NamedTuple):
    """A reminder as refreshing reads it: which summaries carry it, and what it says now."""

    id: int
    kind: str
    level: int
    district_id: int | None
    awaits_summary: bool
    summary_token: uuid.UUID | None
    state: str
    attempts: int
    next_attempt_at: datetime.datetime | None
    last_error: str
    sent_at: datetime.datetime | None

    @property
    def outcome(self) -> Outcome:
        return Outcome(
            self.state, self.attempts, self.next_attempt_at, self.last_error, self.sent_at
        )


OPEN_DELIVERY_STATES = frozenset({Delivery.State.PENDING, Delivery.State.SENDING})
OUTCOME_FIELDS = ("state", "attempts", "next_attempt_at", "last_error", "sent_at")


def reminder_outcomes(ids: Sequence[int]) -> dict[int, tuple[ReminderSubject, list[Outcome]]]:
    """Each reminder with the outcomes of its own deliveries and of the summaries carrying it.

    Read by reminder and by summary token only: right after a big insert, stale statistics
    made a filter on state choose a scan of every due row.
    """
    # Locked in id order before the deliveries are read: two senders refreshing one reminder
    # take turns, and the second one reads what the first one committed.
    subjects = {
        row[0]: ReminderSubject(*row)
        for row in Reminder.objects.select_for_update()
        .filter(one_of(Reminder, "id", ids))
        .order_by("pk")
        .values_list(*ReminderSubject._fields)
    }
    outcomes: dict[int, list[Outcome]] = defaultdict(list)
    for reminder_id, *outcome in (
        Delivery.objects.filter(one_of(Delivery, "reminder", subjects))
        .order_by()
        .values_list("reminder_id", *OUTCOME_FIELDS)
    ):
        outcomes[reminder_id].append(Outcome(*outcome))
    tokens = {subject.summary_token for subject in subjects.values() if subject.summary_token}
    if tokens:
        # Per token, the summaries of each district's supervisors and those of the zone office.
        by_district: dict[tuple, list[Outcome]] = defaultdict(list)
        zone: dict[uuid.UUID, list[Outcome]] = defaultdict(list)
        for token, covers, *outcome in (
            Delivery.objects.filter(kind=Delivery.Kind.SUMMARY, summary_token__in=tokens)
            .order_by()
            .values_list("summary_token", "payload__covers", *OUTCOME_FIELDS)
        ):
            covers = covers or {}
            if covers.get("group") == SUPERVISORS:
                for district_id in covers.get("districts", ()):
                    by_district[(token, district_id)].append(Outcome(*outcome))
            elif covers.get("group") == ZONE_OFFICE:
                zone[token].append(Outcome(*outcome))
        for subject in subjects.values():
            audience = AUDIENCES[(subject.kind, subject.level)]
            if SUPERVISORS in audience:
                outcomes[subject.id] += by_district.get(
                    (subject.summary_token, subject.district_id), []
                )
            if ZONE_OFFICE in audience:
                outcomes[subject.id] += zone.get(subject.summary_token, [])
    return {pk: (subject, outcomes.get(pk, [])) for pk, subject in subjects.items()}


def summarise(subject: ReminderSubject, outcomes: Sequence[Outcome]) -> Outcome | None:
    """A reminder's own state from its deliveries' and summaries' (None: nothing to say yet).

    pending while one is pending or sending, or while its summary is still to be written;
    failed if one failed for good; cancelled if every one was cancelled; sent otherwise.
    """
    if not outcomes:
        return None if not subject.awaits_summary else Outcome("pending", 0, None, "", None)
    states = {outcome.state for outcome in outcomes}
    if states & OPEN_DELIVERY_STATES or subject.awaits_summary:
        state = Reminder.State.PENDING
    elif Delivery.State.FAILED in states:
        state = Reminder.State.FAILED
    elif states == {Delivery.State.CANCELLED}:
        state = Reminder.State.CANCELLED
    else:
        state = Reminder.State.SENT
    waiting = [
        outcome.next_attempt_at
        for outcome in outcomes
        if outcome.state in OPEN_DELIVERY_STATES and outcome.next_attempt_at is not None
    ]
    errors = [
        outcome.last_error
        for outcome in outcomes
        if outcome.last_error and outcome.state != Delivery.State.SENT
    ]
    sent = [
        outcome.sent_at
        for outcome in outcomes
        if outcome.sent_at is not None and outcome.state == Delivery.State.SENT
    ]
    return Outcome(
        state=state,
        attempts=max(outcome.attempts for outcome in outcomes),
        next_attempt_at=min(waiting) if waiting else None,
        last_error=errors[-1] if errors else "",
        sent_at=max(sent) if sent else None,
    )


@transaction.atomic
def reminders_refresh(*, reminder_ids: Iterable[int], now: datetime.datetime) -> int:
    """Bring reminders' state in line with their deliveries and summaries (see `summarise`)."""
    ids = list(set(reminder_ids))
    if not ids:
        return 0
    rows = []
    for pk, (subject, outcomes) in reminder_outcomes(ids).items():
        summary = summarise(subject, outcomes)
        # Most refreshes change nothing (the second handler's bell, say): no write for those.
        if summary is not None and summary != subject.outcome:
            rows.append((pk, *summary, now))
    return update_from_values(Reminder, [*OUTCOME_FIELDS, "updated_at"], rows)


# --- admin actions ---------------------------------------------------------------------------


@transaction.atomic
def deliveries_retry(*, delivery_ids: Iterable[int], actor, now: datetime.datetime) -> int:
    """Put failed deliveries back in the queue now (an admin fixed the channel settings)."""
    rows = list(
        Delivery.objects.select_for_update()
        .filter(pk__in=list(delivery_ids), state=Delivery.State.FAILED)
        .only("pk", "kind", "reminder_id", "payload")
    )
    count = Delivery.objects.filter(pk__in=[row.pk for row in rows]).update(
        state=Delivery.State.PENDING, attempts=0, next_attempt_at=now, updated_at=now
    )
    _refresh_reminders(rows, now)
    logger.info("%s put %d failed deliveries back in the queue", actor, count)
    return count
