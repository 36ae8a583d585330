"""Celery tasks of the rounds app; each re-reads the database and calls a service."""

from __future__ import annotations

from celery import shared_task

from civicapp.celery import IDEMPOTENT_TASK
from rounds import services


@shared_task(**IDEMPOTENT_TASK, soft_time_limit=240, time_limit=300)
def prepare_round_task(*, round_id: int) -> dict:
    """Draw and assign a large round's points and open it; a prepared round is left alone."""
    round_ = services.round_prepare(round_id=round_id)
    return {"round": round_id, "status": round_.status if round_ else "missing"}
