"""The sender: claim a target's due deliveries, send them outside transactions, record."""

from __future__ import annotations

import datetime
import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from districts.models import Membership, Organisation
from issues.models import CLOCK_STATUSES, Status
from reminders import messages, ratelimit
from reminders.channels import (
    Channel,
    ChannelError,
    Message,
    PermanentError,
    TransientError,
    channel_for,
)
from reminders.models import ChannelConfig, Delivery, Reminder
from reminders.selectors import CaseRow, ClaimedDelivery, case_rows, claim_due
from reminders.services.ledger import reminder_ids_of, reminders_refresh, reminders_sweep
from reminders.sql import one_of

logger = logging.getLogger(__name__)

# An in-app "message" is one bulk insert of notifications; keep it a reasonable size.
INAPP_MAX_ITEMS = 200


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
    reminders_refresh(reminder_ids=reminder_ids_of(rows), now=now)
    logger.info("%s put %d failed deliveries back in the queue", actor, count)
    return count
