"""A Redis cache that answers as an empty cache while Redis is down, so no request fails on it.

Nothing on the request path may depend on Redis (the login throttle counts in the database);
this keeps that true for any later cache use: a read is a miss and a write is dropped, with a
warning logged at most once a minute per process.
"""

from __future__ import annotations

import logging
import time
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


class ResilientRedisCacheClient(RedisCacheClient):
    """Django's Redis cache client, degrading to "nothing cached" on any Redis error."""

    def add(self, key: Any, value: Any, timeout: Any) -> bool:
        try:
            return super().add(key, value, timeout)
        except RedisError as error:
            _warn("add", error)
            return False

    def get(self, key: Any, default: Any) -> Any:
        try:
            return super().get(key, default)
        except RedisError as error:
            _warn("get", error)
            return default

    def set(self, key: Any, value: Any, timeout: Any) -> None:
        try:
            super().set(key, value, timeout)
        except RedisError as error:
            _warn("set", error)

    def touch(self, key: Any, timeout: Any) -> bool:
        try:
            return super().touch(key, timeout)
        except RedisError as error:
            _warn("touch", error)
            return False

    def delete(self, key: Any) -> bool:
        try:
            return super().delete(key)
        except RedisError as error:
            _warn("delete", error)
            return False

    def get_many(self, keys: Any) -> dict:
        try:
            return super().get_many(keys)
        except RedisError as error:
            _warn("get_many", error)
            return {}

    def has_key(self, key: Any) -> bool:
        try:
            return super().has_key(key)
        except RedisError as error:
            _warn("has_key", error)
            return False

    def incr(self, key: Any, delta: int) -> int:
        try:
            return super().incr(key, delta)
        except RedisError as error:
            _warn("incr", error)
            raise ValueError(f"Key '{key}' not found (cache unavailable).") from error

    def set_many(self, data: dict, timeout: Any) -> None:
        try:
            super().set_many(data, timeout)
        except RedisError as error:
            _warn("set_many", error)

    def delete_many(self, keys: Any) -> None:
        try:
            super().delete_many(keys)
        except RedisError as error:
            _warn("delete_many", error)

    def clear(self) -> bool:
        try:
            return super().clear()
        except RedisError as error:
            _warn("clear", error)
            return False


class ResilientRedisCache(RedisCache):
    """The cache backend used with REDIS_URL (see ResilientRedisCacheClient)."""

    def __init__(self, server: str, params: dict) -> None:
        super().__init__(server, params)
        self._class = ResilientRedisCacheClient
