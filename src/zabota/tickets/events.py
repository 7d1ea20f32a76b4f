"""Domain events of tickets; they go to the outbox with the change that caused them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from zabota.core.outbox import DomainEvent


@dataclass(frozen=True, kw_only=True)
class TicketCreated(DomainEvent):
    topic = "ticket.created"
    ticket_id: int
    customer_id: int
    channel: str
    actor_kind: str
    actor_id: int | None


@dataclass(frozen=True, kw_only=True)
class TicketUpdated(DomainEvent):
    topic = "ticket.updated"
    ticket_id: int
    actor_kind: str
    actor_id: int | None
    changes: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class MessageCreated(DomainEvent):
    topic = "message.created"
    ticket_id: int
    message_id: int
    author_kind: str
    channel: str
    is_internal: bool
    assignee_id: int | None = None  # who held the ticket when the message came


@dataclass(frozen=True, kw_only=True)
class TicketsMerged(DomainEvent):
    topic = "ticket.merged"
    source_id: int
    target_id: int
    actor_kind: str
    actor_id: int | None
