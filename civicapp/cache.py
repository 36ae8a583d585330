"""A Redis cache that answers as an empty cache while Redis is down, so no request fails on it.

Nothing on the request path may depend on Redis (the login throttle counts in the database);
this keeps that true for any later cache use: a read is a miss and a write is dropped, with a
warning logged at most once a minute per process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

_WARN_EVERY_SECONDS = 60
_last_warning = 0.0


def _warn(operation: str, error: RedisError) -> None:
    global _last_warning  # one timestamp per process is the point
    now = time.monotonic()
    if now - _last_warning >= _WARN_EVERY_SECONDS:
        _last_warning = now
        logger.warning("Cache unavailable, %s answered as a miss: %s", operation, error)


def _redis(client: ResilientRedisCacheClient) -> RedisCacheClient:
    """Django's own client methods, for the guarded calls below."""
    return super(ResilientRedisCacheClient, client)  # type: ignore[return-value]


class ResilientRedisCacheClient(RedisCacheClient):
    """Django's Redis cache client, degrading to "nothing cached" on any Redis error.

    After an error it leaves Redis alone for `BREAK_SECONDS`: a Redis that stops answering
    (rather than refusing) would otherwise cost every call its socket timeout, several a
    request (the session, the reference tables).
    """

    BREAK_SECONDS = 5.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._skip_until = 0.0
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        # Django builds a `redis.Redis` for every call, and its constructor fills a table of
        # two hundred reply callbacks: half a millisecond of CPU a call, more than the round
        # trip. One client per connection pool serves every call (it is thread-safe, and the
        # pool reconnects after a fork).
        index = self._get_connection_pool_index(write)  # type: ignore[attr-defined]
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = super().get_client(key, write=write)
        return client

    def _guarded(self, operation: str, default: Any, call: Callable[[], Any]) -> Any:
        if time.monotonic() < self._skip_until:
            return default
        try:
            return call()
        except RedisError as error:
            self._skip_until = time.monotonic() + self.BREAK_SECONDS
            _warn(operation, error)
            return default

    def add(self, key: Any, value: Any, timeout: Any) -> bool:
        return self._guarded("add", False, lambda: _redis(self).add(key, value, timeout))

    def get(self, key: Any, default: Any) -> Any:
        return self._guarded("get", default, lambda: _redis(self).get(key, default))

    def set(self, key: Any, value: Any, timeout: Any) -> None:
        self._guarded("set", None, lambda: _redis(self).set(key, value, timeout))

    def touch(self, key: Any, timeout: Any) -> bool:
        return self._guarded("touch", False, lambda: _redis(self).touch(key, timeout))

    def delete(self, key: Any) -> bool:
        return self._guarded("delete", False, lambda: _redis(self).delete(key))

    def get_many(self, keys: Any) -> dict:
        return self._guarded("get_many", {}, lambda: _redis(self).get_many(keys))

    def has_key(self, key: Any) -> bool:
        return self._guarded("has_key", False, lambda: _redis(self).has_key(key))

    def incr(self, key: Any, delta: int) -> int:
        missing = object()
        value = self._guarded("incr", missing, lambda: _redis(self).incr(key, delta))
        if value is missing:
            raise ValueError(f"Key '{key}' not found (cache unavailable).")
        return value

    def set_many(self, data: dict, timeout: Any) -> None:
        self._guarded("set_many", None, lambda: _redis(self).set_many(data, timeout))

    def delete_many(self, keys: Any) -> None:
        self._guarded("delete_many", None, lambda: _redis(self).delete_many(keys))

    def clear(self) -> bool:
        return self._guarded("clear", False, lambda: _redis(self).clear())


class ResilientRedisCache(RedisCache):
    """The cache backend used with REDIS_URL (see ResilientRedisCacheClient)."""

    def __init__(self, server: str, params: dict) -> None:
        super().__init__(server, params)
        self._class = ResilientRedisCacheClient
