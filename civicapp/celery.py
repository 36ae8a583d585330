"""The Celery application; configuration comes from Django settings (CELERY_* names)."""

import os

from celery import Celery
from django.db import OperationalError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "civicapp.settings")

app = Celery("civicapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Every task of the project is idempotent (it re-reads the database and returns early when the
# work is done), which makes `acks_late` with `reject_on_worker_lost` safe: a task whose worker
# died is run again. A database that is briefly unreachable is retried with backoff.
IDEMPOTENT_TASK = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "retry_jitter": True,
    "max_retries": 3,
}
