"""Celery tasks of the reminder machinery; each re-reads the database and calls a service.

All are idempotent (the ledger key, the delivery key and the sending lease make a rerun
harmless), which is what makes `acks_late` with `reject_on_worker_lost` safe: a task whose
worker died is simply run again.
"""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from civicapp.celery import IDEMPOTENT_TASK
from reminders import services
from reminders.queue import safe_delay_on_commit

# Each run of the sender stops claiming new messages after this many seconds, so it finishes
# well inside its soft time limit and the next minute's run carries on.
DELIVERY_TIME_BUDGET_SECONDS = 40


@shared_task(**IDEMPOTENT_TASK, soft_time_limit=240, time_limit=300)
def run_reminders_task() -> dict:
    """Create the reminders due now (once each) and queue their delivery."""
    report = services.reminders_run(now=timezone.now())
    if report.deliveries:
        safe_delay_on_commit(deliver_pending_task)
    return report.as_dict()


@shared_task(**IDEMPOTENT_TASK, soft_time_limit=55, time_limit=70)
def deliver_pending_task() -> dict:
    """Send due deliveries: new ones, retries whose backoff ended, and expired sending leases."""
    report = services.deliveries_send(time_budget_seconds=DELIVERY_TIME_BUDGET_SECONDS)
    return report.as_dict()


@shared_task(**IDEMPOTENT_TASK, soft_time_limit=120, time_limit=150)
def send_digest_task() -> dict:
    """Queue today's digest per organisation channel (once a day by key) and send it."""
    created = services.digests_create(now=timezone.now())
    if created:
        safe_delay_on_commit(deliver_pending_task)
    return {"digests": created}
