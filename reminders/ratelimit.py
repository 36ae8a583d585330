"""A sliding one-minute counter per robot, so no robot gets more than its limit.

With Redis (REDIS_URL) the window is a sorted set updated by one Lua script, atomic across
workers; without Redis (the embedded demo) it is RateEvent rows counted under a row lock on
the channel settings. Should Redis fail, the database window takes over: a limit is never
silently dropped.
"""

from __future__ import annotations

import datetime
import logging
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from reminders.models import ChannelConfig, RateEvent

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60

# KEYS[1] the window; ARGV: now (ms), window (ms), limit, wanted, member prefix. Takes up to
# `wanted` slots; returns {slots taken, milliseconds until the next slot frees (0 if all taken)}.
_ACQUIRE = """
local key, now, window = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local limit, wanted = tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local granted = math.max(0, math.min(wanted, limit - redis.call('ZCARD', key)))
for slot = 1, granted do
  redis.call('ZADD', key, now, ARGV[5] .. ':' .. slot)
end
if granted > 0 then
  redis.call('PEXPIRE', key, window)
end
if granted == wanted then
  return {granted, 0}
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return {granted, math.max(1, tonumber(oldest[2]) + window - now)}
"""

_clients: dict[str, object] = {}
# When this process last cleared a target's expired database window rows.
_last_cleared: dict[str, datetime.datetime] = {}


def _redis_client(url: str):
    client = _clients.get(url)
    if client is None:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        _clients[url] = client
    return client


@dataclass(frozen=True)
class Slots:
    """Slots taken in a target's window, and the seconds until the next one frees (0: all
    that were wanted were taken)."""

    granted: int
    wait: float


def acquire(
    *,
    target_key: str,
    limit: int,
    now: datetime.datetime | None = None,
    redis_url: str | None = None,
) -> float:
    """Take one slot of the target's window: 0 when allowed, else seconds until one is free."""
    return acquire_many(
        target_key=target_key, limit=limit, wanted=1, now=now, redis_url=redis_url
    ).wait


def acquire_many(
    *,
    target_key: str,
    limit: int,
    wanted: int,
    now: datetime.datetime | None = None,
    redis_url: str | None = None,
) -> Slots:
    """Take up to `wanted` slots of the target's window at once (a sender's next messages)."""
    now = now or timezone.now()
    url = settings.REDIS_URL if redis_url is None else redis_url
    if url:
        try:
            return _acquire_redis(url, target_key, limit, wanted, now)
        except Exception as error:  # any Redis trouble: fall back to the database
            logger.warning("Rate limit falls back to the database: %s", error)
    return _acquire_database(target_key, limit, wanted, now)


def _acquire_redis(
    url: str, target_key: str, limit: int, wanted: int, now: datetime.datetime
) -> Slots:
    client = _redis_client(url)
    now_ms = int(now.timestamp() * 1000)
    granted, wait_ms = client.eval(
        _ACQUIRE,
        1,
        f"civicapp:rate:{target_key}",
        now_ms,
        WINDOW_SECONDS * 1000,
        limit,
        wanted,
        f"{now_ms}:{uuid.uuid4().hex}",
    )
    return Slots(granted=int(granted), wait=int(wait_ms) / 1000)


def _acquire_database(target_key: str, limit: int, wanted: int, now: datetime.datetime) -> Slots:
    start = now - datetime.timedelta(seconds=WINDOW_SECONDS)
    with transaction.atomic():
        # Serialise counters of one robot: two senders must not both see "one slot left".
        if target_key.startswith("cfg:"):
            list(
                ChannelConfig.objects.select_for_update()
                .filter(pk=int(target_key[4:]))
                .order_by()
                .values_list("pk", flat=True)
            )
        window = RateEvent.objects.filter(target_key=target_key, created_at__gt=start)
        times = list(window.order_by("created_at").values_list("created_at", flat=True)[:limit])
        granted = max(0, min(wanted, limit - len(times)))
        if granted:
            RateEvent.objects.bulk_create(
                [RateEvent(target_key=target_key, created_at=now) for _slot in range(granted)]
            )
            # Rows older than the window count for nothing; clear them once a window, not at
            # every message.
            if _last_cleared.get(target_key, start) <= start:
                RateEvent.objects.filter(target_key=target_key, created_at__lte=start).delete()
                _last_cleared[target_key] = now
        if granted == wanted:
            return Slots(granted=granted, wait=0.0)
        oldest = times[0] if times else now
        return Slots(granted=granted, wait=max((oldest - start).total_seconds(), 0.001))
