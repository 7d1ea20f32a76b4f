"""Tickets, their conversation, history and the admin-defined custom fields."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from zabota.core.db import Base, BigId


class Status(enum.StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    ON_HOLD = "on_hold"
    SOLVED = "solved"
    CLOSED = "closed"


class Priority(enum.StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class Channel(enum.StrEnum):
    EMAIL = "email"
    CHAT = "chat"
    TELEGRAM = "telegram"
    VK = "vk"
    WHATSAPP = "whatsapp"
    PHONE = "phone"
    PORTAL = "portal"
    API = "api"


class AuthorKind(enum.StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    BOT = "bot"
    SYSTEM = "system"


class FieldType(enum.StrEnum):
    TEXT = "text"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    SELECT = "select"


def _enum(cls: type[enum.StrEnum]) -> sa.Enum:
    return sa.Enum(cls, native_enum=False, length=16, validate_strings=True,
                   values_callable=lambda members: [m.value for m in members])


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        # Each index leads with the filter an inbox uses and ends with the keyset sort key.
        sa.Index("ix_tickets_status_updated", "status", "updated_at", "id"),
        sa.Index("ix_tickets_team_status_updated", "team_id", "status", "updated_at", "id"),
        sa.Index("ix_tickets_assignee_status_updated", "assignee_id", "status", "updated_at",
                 "id"),
        sa.Index("ix_tickets_customer_created", "customer_id", "created_at", "id"),
        sa.Index("ix_tickets_org_created", "organization_id", "created_at", "id"),
        sa.Index("ix_tickets_updated", "updated_at", "id"),
        sa.Index("ix_tickets_created", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subject: Mapped[str] = mapped_column(sa.String(300))
    status: Mapped[Status] = mapped_column(_enum(Status), default=Status.NEW)
    priority: Mapped[Priority] = mapped_column(_enum(Priority), default=Priority.NORMAL)
    channel: Mapped[Channel] = mapped_column(_enum(Channel))
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customers.id"))
    organization_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organizations.id"))
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("teams.id"))
    assignee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    category: Mapped[str | None] = mapped_column(sa.String(100))
    language: Mapped[str | None] = mapped_column(sa.String(8))
    escalation_level: Mapped[int] = mapped_column(sa.SmallInteger, default=0)
    transfers: Mapped[int] = mapped_column(default=0)
    reopens: Mapped[int] = mapped_column(default=0)
    replies: Mapped[int] = mapped_column(default=0)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    merged_into_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tickets.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    first_response_at: Mapped[datetime | None]
    solved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]

    # Loaded on access, and eagerly only by the queries that list tickets: an eager load on
    # the model would re-read the tags on every single-ticket query of every service call.
    tag_rows: Mapped[list[TicketTag]] = relationship(
        cascade="all, delete-orphan", order_by="TicketTag.tag"
    )

    @property
    def number(self) -> int:
        return self.id

    @property
    def tags(self) -> list[str]:
        return [row.tag for row in self.tag_rows]


class TicketTag(Base):
    __tablename__ = "ticket_tags"
    __table_args__ = (sa.Index("ix_ticket_tags_tag", "tag", "ticket_id"),)

    ticket_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(sa.String(64), primary_key=True)


# What one message may hold, however it arrives: the API refuses more, channels cut it.
MAX_MESSAGE_TEXT = 100_000  # characters
MAX_MESSAGE_HTML = 500_000


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        sa.UniqueConstraint("channel", "external_id"),
        sa.Index("ix_messages_ticket_created", "ticket_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id"))
    author_kind: Mapped[AuthorKind] = mapped_column(_enum(AuthorKind))
    author_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    author_customer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customers.id"))
    direction: Mapped[str] = mapped_column(sa.String(8))  # inbound | outbound | internal
    channel: Mapped[Channel] = mapped_column(_enum(Channel))
    is_internal: Mapped[bool] = mapped_column(default=False)
    body_text: Mapped[str] = mapped_column(sa.Text)
    body_html: Mapped[str] = mapped_column(sa.Text)
    external_id: Mapped[str | None] = mapped_column(sa.String(255))
    # The channel account (mailbox, bot) it came through, so the answer leaves by the same.
    account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("channel_accounts.id"))
    # Channel details worth keeping: e-mail addresses, call data, chat waiting time.
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]

    attachments: Mapped[list[Attachment]] = relationship(lazy="selectin",
                                                         order_by="Attachment.id")


class Attachment(Base):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int | None] = mapped_column(sa.ForeignKey("messages.id"), index=True)
    filename: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(127))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    storage_key: Mapped[str] = mapped_column(sa.String(255))
    uploaded_by_kind: Mapped[str] = mapped_column(sa.String(16))
    uploaded_by_id: Mapped[int]
    created_at: Mapped[datetime]


class TicketEvent(Base):
    """Append-only history: who changed what, from → to, when and why."""

    __tablename__ = "ticket_events"
    __table_args__ = (sa.Index("ix_ticket_events_ticket", "ticket_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id"))
    kind: Mapped[str] = mapped_column(sa.String(32))
    field: Mapped[str | None] = mapped_column(sa.String(64))
    from_value: Mapped[str | None] = mapped_column(sa.String(300))
    to_value: Mapped[str | None] = mapped_column(sa.String(300))
    actor_kind: Mapped[str] = mapped_column(sa.String(16))
    actor_id: Mapped[int | None]
    reason: Mapped[str | None] = mapped_column(sa.String(500))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[datetime]


class CustomFieldDef(Base):
    __tablename__ = "custom_field_defs"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    label: Mapped[str] = mapped_column(sa.String(200))
    label_en: Mapped[str] = mapped_column(sa.String(200), default="")
    type: Mapped[FieldType] = mapped_column(_enum(FieldType))
    options: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]


class TicketRead(Base):
    """When a staff user last opened a ticket: what changed since is shown as updated."""

    __tablename__ = "ticket_reads"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    ticket_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("tickets.id", ondelete="CASCADE"),
                                           primary_key=True)
    seen_at: Mapped[datetime]


class SavedView(Base):
    """An inbox filter a staff user saved under a name (the query string of the inbox)."""

    __tablename__ = "saved_views"
    __table_args__ = (sa.UniqueConstraint("user_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(80))
    params: Mapped[str] = mapped_column(sa.String(2000))
    created_at: Mapped[datetime]
