"""Who is looking at a ticket right now: heartbeats with a short expiry, in process or Redis."""

from __future__ import annotations

import json
import threading
import time
from typing import Protocol

TTL_SECONDS = 25


class PresenceBoard(Protocol):
    def beat(self, ticket_id: int, user_id: int, name: str, state: str) -> None: ...

    def others(self, ticket_id: int, user_id: int) -> list[dict[str, str]]:
        """The other people on the ticket: name and state (`viewing` or `replying`)."""


class MemoryPresence:
    def __init__(self) -> None:
        self._seen: dict[int, dict[int, tuple[float, str, str]]] = {}
        self._lock = threading.Lock()

    def beat(self, ticket_id: int, user_id: int, name: str, state: str) -> None:
        with self._lock:
            self._seen.setdefault(ticket_id, {})[user_id] = (time.monotonic(), name, state)

    def others(self, ticket_id: int, user_id: int) -> list[dict[str, str]]:
        now = time.monotonic()
        with self._lock:
            board = self._seen.get(ticket_id, {})
            for uid in [u for u, (at, _n, _s) in board.items() if now - at > TTL_SECONDS]:
                del board[uid]
            return [{"name": name, "state": state} for uid, (_at, name, state)
                    in sorted(board.items()) if uid != user_id]


class RedisPresence:
    """Shared between server processes: a hash per ticket, entries expire by timestamp."""

    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url)

    def beat(self, ticket_id: int, user_id: int, name: str, state: str) -> None:
        key = f"zabota:presence:{ticket_id}"
        self._redis.hset(key, str(user_id), json.dumps([time.time(), name, state]))
        self._redis.expire(key, TTL_SECONDS * 2)

    def others(self, ticket_id: int, user_id: int) -> list[dict[str, str]]:
        now = time.time()
        found = []
        raw: dict[bytes, bytes] = self._redis.hgetall(f"zabota:presence:{ticket_id}")  # type: ignore[assignment]
        for uid, value in sorted(raw.items()):
            at, name, state = json.loads(value)
            if int(uid) != user_id and now - at <= TTL_SECONDS:
                found.append({"name": name, "state": state})
        return found


def make_presence(redis_url: str | None) -> MemoryPresence | RedisPresence:
    return RedisPresence(redis_url) if redis_url else MemoryPresence()
