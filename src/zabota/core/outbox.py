"""Transactional outbox: events written with the change, delivered after commit by a job."""

from __future__ import annotations

import dataclasses
import fnmatch
import traceback
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, ClassVar, cast

import sqlalchemy as sa
import structlog
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Mapped, Session, mapped_column

from zabota.core.clock import SYSTEM_CLOCK, Clock
from zabota.core.db import Base, BigId, insert_later, is_sqlite

log = structlog.get_logger()


@dataclasses.dataclass(frozen=True, kw_only=True)
class DomainEvent:
    """Base of all domain events; subclasses set `topic` and are named in the past tense."""

    topic: ClassVar[str]
    at: datetime

    def payload(self) -> dict[str, Any]:
        # Field by field: `dataclasses.asdict` deep-copies through `copy.deepcopy`, several
        # times the cost, and every change to a ticket writes an event.
        return {name: _jsonable(getattr(self, name)) for name in _field_names(type(self))}


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(kind: type[DomainEvent]) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(kind)
    if names is None:
        names = _FIELD_NAMES[kind] = tuple(f.name for f in dataclasses.fields(kind))
    return names


def _jsonable(value: object) -> object:
    """A copy of `value` that JSON can hold (containers are copied, never shared)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    return value


class OutboxEvent(Base):
    __tablename__ = "outbox_events"
    __table_args__ = (
        sa.Index("ix_outbox_pending", "delivered_at", "dead_at", "next_attempt_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[str] = mapped_column(sa.String(36), unique=True)
    topic: Mapped[str] = mapped_column(sa.String(64))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    dead_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.Text)


Handler = Callable[[Session, OutboxEvent], None]
_handlers: list[tuple[str, str, Handler]] = []
_wakeups: list[Callable[[], None]] = []


def subscribe(pattern: str) -> Callable[[Handler], Handler]:
    """Register a handler for topics matching a glob (`ticket.*`). It must be idempotent."""

    def register(handler: Handler) -> Handler:
        name = f"{handler.__module__}.{handler.__qualname__}"
        if all(existing != name for _p, existing, _h in _handlers):
            _handlers.append((pattern, name, handler))
        return handler

    return register


def on_commit_wakeup(callback: Callable[[], None]) -> None:
    """Called after a commit that wrote outbox rows (the job layer enqueues the dispatcher)."""
    if callback not in _wakeups:
        _wakeups.append(callback)


def add(session: Session, event: DomainEvent) -> None:
    """Write the event in the session's transaction: it is delivered only if that commits."""
    history = bool(session.info.get(AS_HISTORY))
    # Straight into the table, not through the unit of work: rows are only ever read back by
    # the dispatcher, and every ticket writes several.
    insert_later(session, _INSERT, {
        "event_id": str(uuid.uuid4()), "topic": event.topic, "payload": event.payload(),
        "created_at": event.at, "next_attempt_at": event.at,
        # Generated history (demo data): kept, never handled, so no live handler such as
        # notifications, triage or replies to customers acts on a story of the past.
        "delivered_at": event.at if history else None,
    })
    if not history:
        session.info["outbox_written"] = True


_INSERT = sa.insert(cast(sa.Table, OutboxEvent.__table__))


AS_HISTORY = "outbox_as_history"  # session.info flag: events written are history, not news


def after_commit(session: Session, callback: Callable[[], object]) -> None:
    """Run `callback` once the session's transaction commits (dropped on rollback): for side
    effects such as e-mail that must not leave before the change they report is stored."""
    session.info.setdefault("after_commit", []).append(callback)


@sa_event.listens_for(Session, "after_commit")
def _wake_dispatcher(session: Session) -> None:
    for callback in session.info.pop("after_commit", []):
        callback()
    if session.info.pop("outbox_written", False):
        for callback in _wakeups:
            callback()


@sa_event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop("outbox_written", None)
    session.info.pop("after_commit", None)


BACKOFF_BASE = timedelta(seconds=5)


def dispatch_pending(
    session: Session, *, limit: int = 500, max_attempts: int = 8, clock: Clock = SYSTEM_CLOCK,
) -> int:
    """Deliver due events to their handlers in id order; return how many were delivered.

    A failing handler schedules the event again with exponential back-off; after
    `max_attempts` it lands in the dead-letter list (`dead_at`) for an admin to replay.
    """
    now = clock.now()
    query = (
        sa.select(OutboxEvent)
        .where(OutboxEvent.delivered_at.is_(None), OutboxEvent.dead_at.is_(None),
               OutboxEvent.next_attempt_at <= now)
        .order_by(OutboxEvent.id)
        .limit(limit)
    )
    if not is_sqlite(session):
        # Several workers may dispatch at once; each takes rows the others have not locked.
        query = query.with_for_update(skip_locked=True)
    delivered = 0
    for row in session.scalars(query):
        try:
            with session.begin_nested():
                for pattern, _name, handler in _handlers:
                    if fnmatch.fnmatchcase(row.topic, pattern):
                        handler(session, row)
        except Exception as exc:  # a handler's failure must not stop the others' events
            row.attempts += 1
            row.last_error = "".join(traceback.format_exception_only(exc))[-2000:]
            if row.attempts >= max_attempts:
                row.dead_at = now
                log.error("outbox.dead_lettered", event_id=row.event_id, topic=row.topic)
            else:
                row.next_attempt_at = now + BACKOFF_BASE * 2 ** (row.attempts - 1)
                log.warning("outbox.retry", event_id=row.event_id, attempts=row.attempts)
            continue
        row.attempts += 1
        row.delivered_at = now
        delivered += 1
    return delivered


def replay_dead(session: Session, event_ids: list[int] | None = None, *,
                clock: Clock = SYSTEM_CLOCK) -> int:
    """Put dead-lettered events back in the queue (all, or the given ids)."""
    query = sa.update(OutboxEvent).where(OutboxEvent.dead_at.is_not(None))
    if event_ids is not None:
        query = query.where(OutboxEvent.id.in_(event_ids))
    result = session.execute(
        query.values(dead_at=None, attempts=0, next_attempt_at=clock.now(), last_error=None)
    )
    session.info["outbox_written"] = True
    return int(getattr(result, "rowcount", 0) or 0)


def settle_as_history(session: Session, *, after_id: int, clock: Clock = SYSTEM_CLOCK) -> int:
    """Mark events after `after_id` delivered without running handlers.

    For generated history (demo data): its events describe the past, and handlers such as
    notifications or webhooks must not fire 90 days of them at once.
    """
    result = session.execute(
        sa.update(OutboxEvent).where(OutboxEvent.id > after_id,
                                     OutboxEvent.delivered_at.is_(None))
        .values(delivered_at=clock.now()))
    return int(getattr(result, "rowcount", 0) or 0)


def last_id(session: Session) -> int:
    return session.scalar(sa.select(sa.func.max(OutboxEvent.id))) or 0


def backlog(session: Session) -> int:
    return session.scalar(
        sa.select(sa.func.count()).select_from(OutboxEvent)
        .where(OutboxEvent.delivered_at.is_(None), OutboxEvent.dead_at.is_(None))
    ) or 0


@subscribe("*")
def _log_delivery(_session: Session, row: OutboxEvent) -> None:
    log.info("outbox.delivered", event_id=row.event_id, topic=row.topic)
