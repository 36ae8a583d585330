"""Celery tasks of the stats app; each re-reads the database and calls a service."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from civicapp.celery import IDEMPOTENT_TASK
from stats import services


@shared_task(**IDEMPOTENT_TASK, soft_time_limit=240, time_limit=300)
def freeze_weekly_ranking_task() -> dict:
    """Freeze last week's 红黑榜 (Monday morning); a week already frozen is left as it was."""
    now = timezone.now()
    week_start = services.last_ended_week(timezone.localdate(now))
    rankings = services.ranking_freeze(week_start=week_start, now=now)
    return {"week": week_start.isoformat(), "rankings": [ranking.pk for ranking in rankings]}


@shared_task(**IDEMPOTENT_TASK, soft_time_limit=600, time_limit=660)
def build_ledger_task(*, export_id: int) -> dict:
    """Build a requested 整改台账 workbook; a rerun of a claimed export does nothing."""
    export = services.ledger_export_build(export_id=export_id)
    return {"export": export_id, "status": export.status if export else "skipped"}


@shared_task(**IDEMPOTENT_TASK, soft_time_limit=1800, time_limit=1900)
def rebuild_kpi_rollup_task() -> dict:
    """Recompute the KPI rollup from the cases every night: the services keep it during the
    day, this catches what they cannot see (the work calendar, a category's big class)."""
    from stats import rollup

    return {"rows": rollup.rebuild()}
