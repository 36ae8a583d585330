"""Reads for the reminder job: which issues owe which reminder, decided in SQL.

Time arithmetic happens in the database on seconds since the epoch, so the job never does
per-row date maths in Python and the same expressions run on PostgreSQL and on SQLite (the
embedded demo). `now` is always passed in.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

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
from reminders.models import Reminder

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
) -> list[ClockRow]:
    """The next keyset batch of issues whose clock runs, by (deadline, id), with their stage.

    Reads the partial index `issue_clock_deadline_idx`. With A = deadline − start (at least
    an hour), the stage is 3 from deadline + 2A, 2 from deadline + A, 1 past the deadline, and
    0 (due soon) from deadline − (1 − fraction)·A; otherwise None.
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
