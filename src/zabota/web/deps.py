"""Request-scoped dependencies: the session, the acting person, limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from zabota.core.db import Database
from zabota.core.fields import MAX_ROW_ID, MAX_STAFF_ID
from zabota.core.i18n import set_language
from zabota.core.ratelimit import MemoryRateLimiter, RedisRateLimiter
from zabota.core.settings import Settings
from zabota.identity import errors as identity_errors
from zabota.identity import service as identity
from zabota.identity.actor_cache import ActorCache
from zabota.identity.permissions import Actor

READ_METHODS = {"GET", "HEAD", "OPTIONS"}


# An id in a URL or a filter, bounded as the columns are: a larger number names nothing (404
# in a path, 422 in a filter) instead of overflowing the database driver.
PathId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]  # BIGINT keys: tickets, customers, articles
SmallPathId = Annotated[int, Path(ge=1, le=MAX_STAFF_ID)]  # INTEGER keys: users, teams, rules
QueryId = Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)]
StaffQueryId = Annotated[int | None, Query(ge=1, le=MAX_STAFF_ID)]  # teams, users


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[Session]:
    # Async on purpose: a sync dependency costs two trips to the thread pool (in and out),
    # and making a session and closing it is no I/O worth a thread (closing returns the
    # connection; a transaction still open there is a rolled-back failure path).
    database: Database = request.app.state.database
    factory = database.read_sessions if request.method in READ_METHODS else database.sessions
    session = factory()
    try:
        yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


def limiter(request: Request) -> MemoryRateLimiter | RedisRateLimiter:
    value: MemoryRateLimiter | RedisRateLimiter = request.app.state.rate_limiter
    return value


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _sep, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise identity_errors.InvalidToken()
    return token.strip()


async def current_actor(request: Request) -> Actor:
    """The bearer token's owner; counts the request against the token's rate limit."""
    token = _bearer(request)
    cache: ActorCache = request.app.state.actor_cache
    actor = cache.get(token) or await _load_actor(request, cache, token)
    settings: Settings = request.app.state.settings
    limiter(request).hit(f"token:{actor.token_id}", limit=settings.api_rate_limit_per_minute)
    if not request.state.explicit_language:
        # Set here, in the request's task, so the endpoint's thread inherits it.
        request.state.language = actor.language
        set_language(actor.language)
    return actor


async def _load_actor(request: Request, cache: ActorCache, token: str) -> Actor:
    database: Database = request.app.state.database
    generation = cache.generation

    def load() -> tuple[Actor, datetime | None]:
        with database.read_sessions() as session:
            return identity.token_actor(session, token)

    actor, expires_at = await run_in_threadpool(load)
    cache.put(token, actor, expires_at=expires_at, generation=generation)
    return actor


CurrentActor = Annotated[Actor, Depends(current_actor)]
