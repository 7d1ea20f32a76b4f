"""Idempotency-Key for POST: the first response is stored with the change it made."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from zabota.core.clock import SYSTEM_CLOCK, Clock
from zabota.core.db import Base, BigId
from zabota.core.errors import ZabotaError
from zabota.core.i18n import N_


class IdempotencyKeyReused(ZabotaError):
    status, code = 422, "idempotency_key_reused"
    title = N_("This Idempotency-Key was already used for a different request")


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (sa.UniqueConstraint("owner", "key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    owner: Mapped[str] = mapped_column(sa.String(40))
    key: Mapped[str] = mapped_column(sa.String(255))
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    status_code: Mapped[int]
    response: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(index=True)


def find(session: Session, owner: str, key: str, request_hash: str) -> IdempotencyKey | None:
    row = session.scalar(sa.select(IdempotencyKey).where(IdempotencyKey.owner == owner,
                                                         IdempotencyKey.key == key))
    if row is not None and row.request_hash != request_hash:
        raise IdempotencyKeyReused()
    return row


def remember(session: Session, *, owner: str, key: str, request_hash: str, status_code: int,
             response: dict[str, Any], clock: Clock = SYSTEM_CLOCK) -> None:
    """Store the response in the caller's transaction; a concurrent twin fails on the key."""
    session.add(IdempotencyKey(owner=owner, key=key, request_hash=request_hash,
                               status_code=status_code, response=response,
                               created_at=clock.now()))
    session.flush()
