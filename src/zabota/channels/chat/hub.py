"""Who hears a chat frame: the live connections of this process, or of every process through
Redis pub/sub when `ZABOTA_REDIS_URL` is set.

A topic names a listener: `visitor:<id>` (the widget's connections of one visitor),
`ticket:<id>` (agents with that chat open), `desk:<team id>` and `desk:all` (agents'
waiting lists). `publish` answers how many listeners there were, so the sender knows
whether a visitor is online without a second bookkeeping of its own (Redis' PUBLISH counts
the processes subscribed to the visitor's channel; each subscribes only while the visitor has
a connection there).

Frames are a convenience on top of the database, never the record: a connection that falls
behind is closed, and the widget then asks for the messages after the last one it saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Any, Protocol

import orjson
import structlog

log = structlog.get_logger()

Frame = dict[str, Any]
PREFIX = "zabota:chat:"
LIVE_TTL_SECONDS = 24 * 3600
OVERFLOW: Frame = {"type": "_overflow"}


class Inbox:
    """The frames waiting for one live connection; fed from any thread, read in its loop."""

    def __init__(self, *, limit: int = 1000) -> None:
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[Frame] = asyncio.Queue()
        self.limit = limit
        self.overflowed = False
        self._thread = threading.get_ident()

    def put(self, frame: Frame) -> None:
        if threading.get_ident() == self._thread:
            self._put(frame)
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed: the connection is gone
                self.loop.call_soon_threadsafe(self._put, frame)

    def _put(self, frame: Frame) -> None:
        if self.overflowed:
            return
        if self.queue.qsize() >= self.limit:
            # A client that does not read: drop it rather than hold memory for it; it
            # reconnects and reads what it missed from the database.
            self.overflowed = True
            self.queue.put_nowait(OVERFLOW)
            return
        self.queue.put_nowait(frame)


class ChatHub(Protocol):
    async def subscribe(self, topic: str, inbox: Inbox) -> None: ...

    async def unsubscribe(self, topic: str, inbox: Inbox) -> None: ...

    def publish(self, topic: str, frame: Frame) -> int:
        """Send from any thread; returns how many listeners (processes, with Redis) heard."""

    async def apublish(self, topic: str, frame: Frame) -> int: ...

    async def has_listeners(self, topic: str) -> bool: ...

    def mark_live(self, message_id: int) -> None:
        """Remember that a message reached its visitor live (the sender then does nothing)."""

    def was_live(self, message_id: int) -> bool: ...

    async def close(self) -> None: ...


class MemoryHub:
    """One process: topics map to the inboxes of its own connections."""

    def __init__(self) -> None:
        self._topics: dict[str, set[Inbox]] = {}
        self._live: dict[int, float] = {}
        self._lock = threading.Lock()

    def add(self, topic: str, inbox: Inbox) -> bool:
        """Add a listener; True when it is the topic's first."""
        with self._lock:
            listeners = self._topics.setdefault(topic, set())
            listeners.add(inbox)
            return len(listeners) == 1

    def remove(self, topic: str, inbox: Inbox) -> bool:
        """Remove a listener; True when the topic has none left."""
        with self._lock:
            listeners = self._topics.get(topic)
            if listeners is None:
                return False
            listeners.discard(inbox)
            if listeners:
                return False
            del self._topics[topic]
            return True

    async def subscribe(self, topic: str, inbox: Inbox) -> None:
        self.add(topic, inbox)

    async def unsubscribe(self, topic: str, inbox: Inbox) -> None:
        self.remove(topic, inbox)

    def publish(self, topic: str, frame: Frame) -> int:
        with self._lock:
            listeners = list(self._topics.get(topic, ()))
        for inbox in listeners:
            inbox.put(frame)
        return len(listeners)

    async def apublish(self, topic: str, frame: Frame) -> int:
        return self.publish(topic, frame)

    async def has_listeners(self, topic: str) -> bool:
        with self._lock:
            return bool(self._topics.get(topic))

    def mark_live(self, message_id: int) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._live) > 50_000:
                self._live = {k: at for k, at in self._live.items()
                              if now - at < LIVE_TTL_SECONDS}
            self._live[message_id] = now

    def was_live(self, message_id: int) -> bool:
        with self._lock:
            at = self._live.get(message_id)
        return at is not None and time.monotonic() - at < LIVE_TTL_SECONDS

    async def close(self) -> None:
        return None


class RedisHub:
    """Several processes: each subscribes to a topic's Redis channel while it has listeners
    for it, and hands what Redis delivers to its own inboxes."""

    def __init__(self, url: str) -> None:
        import redis
        import redis.asyncio

        self._local = MemoryHub()
        self._sync = redis.Redis.from_url(url)
        self._async = redis.asyncio.Redis.from_url(url)
        self._pubsub: Any = None
        self._listener: asyncio.Task[None] | None = None
        self._lock: asyncio.Lock | None = None
        self._confirming: dict[str, asyncio.Future[None]] = {}

    async def subscribe(self, topic: str, inbox: Inbox) -> None:
        """Returns once Redis confirmed the subscription (or after a second): a frame
        published after the caller goes on is then heard."""
        async with self._guard():
            if self._local.add(topic, inbox):
                pubsub = await self._started()
                channel = PREFIX + topic
                confirmed = self._confirming[channel] = asyncio.get_running_loop(
                    ).create_future()
                await pubsub.subscribe(channel)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(confirmed), 1.0)
                self._confirming.pop(channel, None)

    async def unsubscribe(self, topic: str, inbox: Inbox) -> None:
        async with self._guard():
            if self._local.remove(topic, inbox) and self._pubsub is not None:
                await self._pubsub.unsubscribe(PREFIX + topic)

    def publish(self, topic: str, frame: Frame) -> int:
        return int(self._sync.publish(PREFIX + topic, orjson.dumps(frame)))

    async def apublish(self, topic: str, frame: Frame) -> int:
        return int(await self._async.publish(PREFIX + topic, orjson.dumps(frame)))

    async def has_listeners(self, topic: str) -> bool:
        counts = await self._async.pubsub_numsub(PREFIX + topic)
        return any(int(n) > 0 for _channel, n in counts)

    def mark_live(self, message_id: int) -> None:
        self._sync.set(f"{PREFIX}live:{message_id}", 1, ex=LIVE_TTL_SECONDS)

    def was_live(self, message_id: int) -> bool:
        return bool(self._sync.exists(f"{PREFIX}live:{message_id}"))

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        if self._pubsub is not None:
            await self._pubsub.aclose()
        await self._async.aclose()
        self._sync.close()

    def _guard(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    async def _started(self) -> Any:
        if self._pubsub is None:
            self._pubsub = self._async.pubsub()
            # A channel of our own keeps the connection subscribed between listeners.
            await self._pubsub.subscribe(PREFIX + "_hub")
            self._listener = asyncio.create_task(self._listen())
        return self._pubsub

    async def _listen(self) -> None:
        delay = 0.5
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis went away: keep listening, never die
                # redis-py resubscribes on reconnect; until then frames are missed, and the
                # clients catch up from the database when they reconnect.
                log.warning("chat.hub_disconnected", error=type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            delay = 0.5
            if message is None:
                continue
            channel = message["channel"]
            topic = (channel.decode() if isinstance(channel, bytes) else str(channel))
            if message.get("type") == "subscribe":
                confirmed = self._confirming.get(topic)
                if confirmed is not None and not confirmed.done():
                    confirmed.set_result(None)
                continue
            if message.get("type") != "message":
                continue
            try:
                frame = orjson.loads(message["data"])
            except orjson.JSONDecodeError:
                log.warning("chat.hub_bad_frame", channel=topic)
                continue
            self._local.publish(topic[len(PREFIX):], frame)


# One process has one in-memory hub: the server's connections and the jobs that publish
# to them (the embedded worker, the commit hook) must meet in it.
MEMORY_HUB = MemoryHub()


def make_hub(redis_url: str | None) -> ChatHub:
    return RedisHub(redis_url) if redis_url else MEMORY_HUB
