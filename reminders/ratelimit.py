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

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from reminders.models import ChannelConfig, RateEvent

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60

# KEYS[1] the window; ARGV: now (ms), window (ms), limit, member. Returns 0 when a slot was
# taken, else the milliseconds until the oldest entry leaves the window.
_ACQUIRE = """
local key, now, window, limit = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now, ARGV[4])
  redis.call('PEXPIRE', key, window)
  return 0
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""

_clients: dict[str, object] = {}


def _redis_client(url: str):
    client = _clients.get(url)
    if client is None:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        _clients[url] = client
    return client


def acquire(
    *,
    target_key: str,
    limit: int,
    now: datetime.datetime | None = None,
    redis_url: str | None = None,
) -> float:
    """Take one slot of the target's window: 0 when allowed, else seconds until one is free."""
    now = now or timezone.now()
    url = settings.REDIS_URL if redis_url is None else redis_url
    if url:
        try:
            return _acquire_redis(url, target_key, limit, now)
        except Exception as error:  # any Redis trouble: fall back to the database
            logger.warning("Rate limit falls back to the database: %s", error)
    return _acquire_database(target_key, limit, now)


def _acquire_redis(url: str, target_key: str, limit: int, now: datetime.datetime) -> float:
    client = _redis_client(url)
    now_ms = int(now.timestamp() * 1000)
    wait_ms = client.eval(
        _ACQUIRE,
        1,
        f"civicapp:rate:{target_key}",
        now_ms,
        WINDOW_SECONDS * 1000,
        limit,
        f"{now_ms}:{uuid.uuid4().hex}",
    )
    return int(wait_ms) / 1000


def _acquire_database(target_key: str, limit: int, now: datetime.datetime) -> float:
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
        if len(times) < limit:
            RateEvent.objects.create(target_key=target_key, created_at=now)
            RateEvent.objects.filter(target_key=target_key, created_at__lte=start).delete()
            return 0.0
        return max((times[0] - start).total_seconds(), 0.001)
