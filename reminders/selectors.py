"""Reads for the reminder job and its sender: which issues owe which reminder, decided in SQL,
and the rows a message is made of, as named rows rather than model instances.

Time arithmetic happens in the database on seconds since the epoch, so the job never does
per-row date maths in Python and the same expressions run on PostgreSQL and on SQLite (the
embedded demo). `now` is always passed in.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from django.db.models import (
    Case,
    F,
    FloatField,
    Func,
    IntegerField,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Greatest
from django.db.models.lookups import GreaterThan, GreaterThanOrEqual

from districts.models import Severity
from issues.models import CLOCK_STATUSES, Issue, Status
from reminders.models import Delivery, Reminder, reminder_key
from reminders.sql import one_of

# A clock of zero or negative length (a deadline set at or before the start) still gets
# thresholds an hour apart instead of all firing at once.
MIN_ALLOWED_SECONDS = 3600.0

# Stage codes computed in SQL; each maps to one ledger (kind, level).
STAGES: dict[int, tuple[str, int]] = {
    0: (Reminder.Kind.DUE_SOON, 0),
    1: (Reminder.Kind.OVERDUE, 1),
    2: (Reminder.Kind.ESCALATION, 2),
    3: (Reminder.Kind.ESCALATION, 3),
}


class Epoch(Func):
    """Seconds since 1970 of a timestamp, as a float, on PostgreSQL and SQLite."""

    output_field = FloatField()

    def as_postgresql(self, compiler, connection, **extra_context):
        return self.as_sql(
            compiler,
            connection,
            template="EXTRACT(EPOCH FROM %(expressions)s)::double precision",
            **extra_context,
        )

    def as_sqlite(self, compiler, connection, **extra_context):
        # Django stores UTC text on SQLite. Whole seconds from '%s' plus the fraction of '%f'
        # (julianday() arithmetic loses the exact boundaries to rounding).
        sql, params = self.as_sql(compiler, connection, template="%(expressions)s")
        template = (
            "(CAST(strftime('%%s', {0}) AS REAL)"
            " + CAST(strftime('%%f', {0}) AS REAL) - CAST(strftime('%%S', {0}) AS INTEGER))"
        )
        return template.format(sql), params * 3


@dataclass(frozen=True)
class ClockRow:
    """One issue of a batch: the keyset position, and the stage it has reached (or None)."""

    id: int
    deadline: datetime.datetime
    stage: int | None
    organisation_id: int | None
    district_id: int


@dataclass(frozen=True)
class SubmittedRow:
    id: int
    submitted_at: datetime.datetime
    organisation_id: int | None
    district_id: int


def clock_batch(
    *,
    now: datetime.datetime,
    after: tuple[datetime.datetime, int] | None,
    size: int,
    due_soon_fraction: float,
    urgent_only: bool,
    owing_only: bool = False,
) -> list[ClockRow]:
    """The next keyset batch of issues whose clock runs, by (deadline, id), with their stage.

    Reads the partial index `issue_clock_deadline_idx`. With A = deadline − start (at least
    an hour), the stage is 3 from deadline + 2A, 2 from deadline + A, 1 past the deadline, and
    0 (due soon) from deadline − (1 − fraction)·A; otherwise None. With `owing_only` the
    database skips the issues without a stage itself, so a batch holds only work and the
    comfortably early majority costs no round trip.
    """
    queryset: QuerySet = Issue.objects.filter(status__in=CLOCK_STATUSES)
    if after is not None:
        last_deadline, last_id = after
        # (deadline, id) > (last_deadline, last_id), written so the index range starts at
        # last_deadline and only equal deadlines are filtered further.
        queryset = queryset.filter(deadline__gte=last_deadline).exclude(
            deadline=last_deadline, id__lte=last_id
        )
    if urgent_only:
        queryset = queryset.filter(
            Q(severity=Severity.URGENT) | Q(category__severity=Severity.URGENT)
        )
    now_seconds = Value(now.timestamp(), output_field=FloatField())
    end = F("end_s")
    span = F("span_s")
    queryset = (
        queryset.annotate(
            end_s=Epoch("deadline"),
            start_s=Epoch(Coalesce("clock_started_at", "dispatched_at", "reported_at")),
        )
        .annotate(
            span_s=Greatest(
                F("end_s") - F("start_s"), Value(MIN_ALLOWED_SECONDS, output_field=FloatField())
            )
        )
        .annotate(
            stage=Case(
                When(GreaterThanOrEqual(now_seconds, end + 2 * span), then=Value(3)),
                When(GreaterThanOrEqual(now_seconds, end + span), then=Value(2)),
                When(GreaterThan(now_seconds, end), then=Value(1)),
                When(
                    GreaterThanOrEqual(now_seconds, end - (1.0 - due_soon_fraction) * span),
                    then=Value(0),
                ),
                default=None,
                output_field=IntegerField(),
            )
        )
        .order_by("deadline", "id")
    )
    if owing_only:
        queryset = queryset.filter(stage__isnull=False)
    rows = queryset.values_list(
        "id", "deadline", "stage", "assigned_organisation_id", "district_id"
    )[:size]
    return [ClockRow(*row) for row in rows]


def submitted_batch(
    *,
    submitted_before: datetime.datetime,
    after: tuple[datetime.datetime, int] | None,
    size: int,
    urgent_only: bool,
) -> list[SubmittedRow]:
    """The next keyset batch of fixes waiting for verification since before the cutoff.

    Reads the partial index `issue_awaiting_verify_idx`; the cutoff bounds the range, so only
    issues that owe a reminder are read.
    """
    queryset: QuerySet = Issue.objects.filter(
        status=Status.SUBMITTED, submitted_at__lt=submitted_before
    )
    if after is not None:
        last_submitted, last_id = after
        queryset = queryset.filter(submitted_at__gte=last_submitted).exclude(
            submitted_at=last_submitted, id__lte=last_id
        )
    if urgent_only:
        queryset = queryset.filter(
            Q(severity=Severity.URGENT) | Q(category__severity=Severity.URGENT)
        )
    rows = queryset.order_by("submitted_at", "id").values_list(
        "id", "submitted_at", "assigned_organisation_id", "district_id"
    )[:size]
    return [SubmittedRow(*row) for row in rows]


# --- what the sender reads ----------------------------------------------------------------------


class ClaimedDelivery(NamedTuple):
    """A delivery row the sender holds: what it needs to send and to record the outcome."""

    id: int
    kind: str
    reminder_id: int | None
    digest_date: datetime.date | None
    config_id: int | None
    user_id: int | None
    organisation_id: int | None
    target_key: str
    idempotency_key: str
    payload: dict
    attempts: int

    @property
    def pk(self) -> int:
        return self.id


def claim_due(
    *, target_key: str, kind: str, now: datetime.datetime, limit: int
) -> list[ClaimedDelivery]:
    """Lock the oldest due deliveries of one target and kind; rows another sender holds are
    skipped, not waited for. Call inside a transaction."""
    rows = (
        Delivery.objects.due(now)
        .filter(target_key=target_key, kind=kind)
        .select_for_update(skip_locked=True)
        .order_by("next_attempt_at", "id")
        .values_list(*ClaimedDelivery._fields)[:limit]
    )
    return [ClaimedDelivery(*row) for row in rows]


class CaseRow(NamedTuple):
    """A reminder with what its message shows and what tells whether it still holds."""

    reminder_id: int
    kind: str
    level: int
    deadline: datetime.datetime
    organisation_id: int | None
    issue_id: int
    case_number: str
    status: str
    issue_deadline: datetime.datetime | None
    submitted_at: datetime.datetime | None
    assigned_organisation_id: int | None
    address: str
    category_name: str
    category_name_en: str
    community_name: str
    community_name_en: str
    point_name: str | None

    @property
    def key(self) -> str:
        """The reminder's idempotency key, also its in-app notification's dedupe key."""
        return reminder_key(self.issue_id, self.kind, self.level, self.deadline)


CASE_FIELDS = (
    "id",
    "kind",
    "level",
    "deadline",
    "organisation_id",
    "issue_id",
    "issue__case_number",
    "issue__status",
    "issue__deadline",
    "issue__submitted_at",
    "issue__assigned_organisation_id",
    "issue__address",
    "issue__category__name",
    "issue__category__name_en",
    "issue__community__name",
    "issue__community__name_en",
    "issue__point__name",
)


def case_rows(reminder_ids: Iterable[int]) -> dict[int, CaseRow]:
    """The reminders with their issues' current state, by reminder id (one query)."""
    rows = Reminder.objects.filter(one_of(Reminder, "id", reminder_ids)).values_list(*CASE_FIELDS)
    return {row[0]: CaseRow(*row) for row in rows}
