"""Celery tasks of the issues app; each re-reads the database and calls the code that writes."""

from __future__ import annotations

from celery import shared_task

from civicapp.celery import IDEMPOTENT_TASK
from issues import stock


@shared_task(**IDEMPOTENT_TASK, soft_time_limit=240, time_limit=300)
def rebuild_open_stock_task() -> dict:
    """Recount the home pages' counters from the cases and move their mark to now (hourly: the
    deadlines passed since the mark are read from the cases, an hour of them at most)."""
    return {"rows": stock.rebuild()}
