"""Channel accounts, outbound deliveries and the quarantine of inbound input we could not take."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from zabota.core.db import Base, BigId
from zabota.tickets.models import Channel


def _enum(cls: type[enum.StrEnum]) -> sa.Enum:
    return sa.Enum(cls, native_enum=False, length=16, validate_strings=True,
                   values_callable=lambda members: [m.value for m in members])


class ChannelAccount(Base):
    """One configured way in and out: a mailbox, a Telegram bot, a VK community, a WhatsApp
    number, a phone connector. `config` holds its connection settings and secrets."""

    __tablename__ = "channel_accounts"
    __table_args__ = (sa.UniqueConstraint("kind", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[Channel] = mapped_column(_enum(Channel))
    name: Mapped[str] = mapped_column(sa.String(100))
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("teams.id"))
    # The public address of the account: an e-mail address, a bot's username, a number.
    address: Mapped[str | None] = mapped_column(sa.String(255), index=True)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    enabled: Mapped[bool] = mapped_column(default=True)
    last_success_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    last_error_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"


class OutboundDelivery(Base):
    """A public reply on its way to the customer's channel, retried with back-off until it is
    sent or, after the last attempt, dead-lettered for an admin to replay."""

    __tablename__ = "outbound_deliveries"
    __table_args__ = (
        sa.Index("ix_outbound_deliveries_due", "status", "next_attempt_at", "id"),
        sa.Index("ix_outbound_deliveries_external", "channel", "external_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(sa.ForeignKey("messages.id"), unique=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id"), index=True)
    channel: Mapped[Channel] = mapped_column(_enum(Channel))
    account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("channel_accounts.id"))
    recipient: Mapped[str] = mapped_column(sa.String(255))
    status: Mapped[DeliveryStatus] = mapped_column(_enum(DeliveryStatus),
                                                   default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    # Fixed before the first attempt where the channel lets us choose it (e-mail Message-ID),
    # otherwise the id the platform returned.
    external_id: Mapped[str | None] = mapped_column(sa.String(255))
    # Parts of a long reply (text pieces, then files) the platform has accepted: a retry
    # starts after them. With several parts, `external_id` is the first part's id.
    parts_sent: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class QuarantineStatus(enum.StrEnum):
    RETRYING = "retrying"  # failed, will be tried again
    QUARANTINED = "quarantined"  # given up: an admin looks at it
    RELEASED = "released"  # an admin asked for another try
    DISMISSED = "dismissed"


class QuarantinedDelivery(Base):
    """Inbound input that failed: kept with the reason, never silently dropped."""

    __tablename__ = "channel_quarantine"
    __table_args__ = (
        sa.UniqueConstraint("channel", "account_id", "external_id"),
        sa.Index("ix_channel_quarantine_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[Channel] = mapped_column(_enum(Channel))
    account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("channel_accounts.id"))
    external_id: Mapped[str | None] = mapped_column(sa.String(255))
    reason: Mapped[str] = mapped_column(sa.Text)
    payload: Mapped[bytes] = mapped_column(sa.LargeBinary)
    attempts: Mapped[int] = mapped_column(default=1)
    status: Mapped[QuarantineStatus] = mapped_column(_enum(QuarantineStatus),
                                                     default=QuarantineStatus.QUARANTINED)
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
