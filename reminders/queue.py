"""Queueing tasks from request code without ever failing the request.

A request must not fail because Redis is down: the issue is saved, and the reminder job, which
computes its work from the database, picks it up on its next run. So a broker error is logged
and swallowed here, and the caller carries on.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from kombu.exceptions import KombuError

try:
    from redis.exceptions import RedisError
except ImportError:  # pragma: no cover - redis is a runtime dependency
    RedisError = KombuError

logger = logging.getLogger(__name__)

BROKER_ERRORS: tuple[type[BaseException], ...] = (
    KombuError,  # OperationalError (cannot connect), LimitExceeded (pool exhausted)
    RedisError,
    ConnectionError,
    TimeoutError,
    OSError,
)


def safe_delay(task: Any, /, **kwargs: Any) -> bool:
    """Queue `task` with keyword arguments; False (and a log line) if it could not be queued.

    One connection attempt, no publish retries: with the broker down the request goes on within
    milliseconds (connection refused) or the connect timeout (a silent host), not after kombu's
    default retry loop. In the embedded mode (no Redis) the task runs eagerly, and an error in
    it is logged the same way rather than failing the request.
    """
    try:
        if task.app.conf.task_always_eager:
            task.apply_async(kwargs=kwargs)
        else:
            # One quick connection attempt first; kombu's own loop would take seconds.
            with task.app.pool.acquire(block=True, timeout=2) as connection:
                connection.ensure_connection(max_retries=0)
            # Publish through the producer pool, which declares the queue binding (a
            # producer on a bare connection does not, and Redis would drop the message).
            task.apply_async(kwargs=kwargs, retry=False)
    except BROKER_ERRORS as error:
        logger.warning("Could not queue %s (the next run will pick it up): %s", task.name, error)
        return False
    except Exception:
        if not task.app.conf.task_always_eager:
            raise
        logger.exception("Task %s failed in eager mode; the next run will pick it up", task.name)
        return False
    return True


def safe_delay_on_commit(task: Any, /, **kwargs: Any) -> None:
    """Queue `task` once the current transaction commits, never failing the caller."""
    transaction.on_commit(lambda: safe_delay(task, **kwargs))
