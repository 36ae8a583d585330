"""A reminder's own state, summarised from its deliveries and the summaries carrying it."""

from __future__ import annotations

import datetime
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from django.conf import settings
from django.db import transaction

from reminders.models import Delivery, Reminder
from reminders.selectors import ClaimedDelivery
from reminders.services.audiences import AUDIENCES, SUPERVISORS, ZONE_OFFICE
from reminders.sql import one_of, update_from_values

SWEEP_LIMIT = 5000


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
