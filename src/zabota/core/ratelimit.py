"""Fixed-window rate limits: in process by default, shared through Redis when configured."""

from __future__ import annotations

import threading
import time
from typing import Protocol

from zabota.core.errors import RateLimited


class RateLimiter(Protocol):
    def hit(self, key: str, *, limit: int, window: int = 60) -> None:
        """Count one request; raise RateLimited with the seconds to wait when over."""


class MemoryRateLimiter:
    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, *, limit: int, window: int = 60) -> None:
        now = time.time()
        slot = int(now // window)
        with self._lock:
            if len(self._counts) > 100_000:
                self._counts = {k: v for k, v in self._counts.items() if k[1] >= slot}
            count = self._counts.get((key, slot), 0) + 1
            self._counts[(key, slot)] = count
        if count > limit:
            raise RateLimited(retry_after=max(1, int((slot + 1) * window - now) + 1))

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()


class RedisRateLimiter:
    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url)

    def hit(self, key: str, *, limit: int, window: int = 60) -> None:
        now = time.time()
        slot = int(now // window)
        name = f"zabota:rl:{key}:{slot}"
        pipe = self._redis.pipeline()
        pipe.incr(name)
        pipe.expire(name, window + 1)
        count = int(pipe.execute()[0])
        if count > limit:
            raise RateLimited(retry_after=max(1, int((slot + 1) * window - now) + 1))

    def reset(self) -> None:
        for name in self._redis.scan_iter("zabota:rl:*"):
            self._redis.delete(name)


def make_rate_limiter(redis_url: str | None) -> MemoryRateLimiter | RedisRateLimiter:
    return RedisRateLimiter(redis_url) if redis_url else MemoryRateLimiter()
