"""Bearer tokens' actors, remembered for a few seconds in each process.

Every API request authenticates; reading the token, its owner and the owner's teams costs
two statements and a trip to the thread pool, a fifth of a small request's CPU. So an actor
is kept for `ttl` seconds (never past its token's expiry). Any committed change to users,
teams, tokens or existing customers — through the ORM or a bulk UPDATE/DELETE — empties the
cache of the process that made it at once; other processes (`zabota serve --workers N`)
see a revocation or a changed role within `ttl` seconds.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from datetime import datetime
from itertools import chain

import sqlalchemy as sa
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from zabota.core.clock import SYSTEM_CLOCK, Clock, as_utc
from zabota.identity.models import ApiToken, Customer, Team, User
from zabota.identity.permissions import Actor

MAX_ENTRIES = 10_000  # tokens in use at once; beyond, the cache starts afresh
_WATCHED = (User, Team, ApiToken, Customer)
_CHANGED = "identity.actors_changed"


class ActorCache:
    def __init__(self, ttl_seconds: float, *, clock: Clock = SYSTEM_CLOCK,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl_seconds
        self._clock = clock
        self._monotonic = monotonic
        self._entries: dict[str, tuple[Actor, float]] = {}
        self.generation = 0  # bumped by every relevant commit

    def get(self, token: str) -> Actor | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        actor, until = entry
        if until <= self._monotonic():
            self._entries.pop(token, None)
            return None
        return actor

    def put(self, token: str, actor: Actor, *, expires_at: datetime | None,
            generation: int) -> None:
        """Remember `actor`, read when the cache was at `generation`: if a change was
        committed since, the read may predate it, and nothing is kept."""
        if generation != self.generation:
            return
        seconds = self.ttl
        if expires_at is not None:
            seconds = min(seconds, (as_utc(expires_at) - self._clock.now()).total_seconds())
        if seconds <= 0:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[token] = (actor, self._monotonic() + seconds)

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()


_CACHES: weakref.WeakSet[ActorCache] = weakref.WeakSet()  # one per app


def register(cache: ActorCache) -> ActorCache:
    """Have `cache` emptied by relevant commits of this process."""
    _CACHES.add(cache)
    return cache


def _relevant(session: Session) -> bool:
    # New rows change no one's actor (a new customer comes with every new ticket).
    return any(isinstance(obj, _WATCHED) for obj in chain(session.dirty, session.deleted))


@sa.event.listens_for(Session, "after_flush")
def _note_flush(session: Session, _flush: UOWTransaction) -> None:
    if _relevant(session):
        session.info[_CHANGED] = True


@sa.event.listens_for(Session, "do_orm_execute")
def _note_bulk(state: ORMExecuteState) -> None:
    mapper = state.bind_mapper
    if (state.is_update or state.is_delete) and mapper is not None and issubclass(
            mapper.class_, _WATCHED):
        state.session.info[_CHANGED] = True


@sa.event.listens_for(Session, "after_commit")
def _clear_on_commit(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        for cache in list(_CACHES):
            cache.clear()
