"""Sessions in the cache with the database behind them, where a cache outage is no outage.

Django's `cached_db` store reads the cache first and writes both; it raises when Redis is down.
This one treats every cache error as a miss (read) or a no-op (write), logs it, and goes on with
the database, so no request fails because Redis is unreachable (README: requests never depend
on Redis). Used as SESSION_ENGINE when REDIS_URL is set.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.sessions.backends.cached_db import SessionStore as CachedDBStore

logger = logging.getLogger(__name__)


class _ForgivingCache:
    """A cache proxy whose calls return None instead of raising."""

    def __init__(self, cache: Any) -> None:
        self._cache = cache

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._cache, name)
        if not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except Exception as error:
                logger.warning("Session cache unavailable (%s): %s", name, error)
                return None

        return call

    def __contains__(self, key: str) -> bool:
        try:
            return key in self._cache
        except Exception as error:
            logger.warning("Session cache unavailable (contains): %s", error)
            return False


class SessionStore(CachedDBStore):
    """`cached_db` sessions that fall back to the database when the cache fails."""

    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        self._cache = _ForgivingCache(self._cache)
