"""Notifications for staff: in the app (the bell) and by e-mail, per the user's preferences."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from zabota.core.db import Base, BigId


class NotificationKind(enum.StrEnum):
    ASSIGNED = "assigned"
    CUSTOMER_REPLIED = "customer_replied"
    MENTIONED = "mentioned"
    ESCALATED = "escalated"


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        # One event notifies a user of one thing once, however often the outbox redelivers.
        sa.UniqueConstraint("user_id", "event_id", "kind"),
        sa.Index("ix_notifications_user_unread", "user_id", "read_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[NotificationKind] = mapped_column(
        sa.Enum(NotificationKind, native_enum=False, length=24,
                values_callable=lambda members: [m.value for m in members]))
    ticket_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tickets.id"))
    event_id: Mapped[str] = mapped_column(sa.String(36))
    text: Mapped[str] = mapped_column(sa.String(500))  # as e-mailed, in the user's language
    author: Mapped[str] = mapped_column(sa.String(200), default="", server_default="")
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]
    emailed_at: Mapped[datetime | None]


class NotificationPreference(Base):
    """A row only where the user changed the default (in the app: on; by e-mail: on)."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(24), primary_key=True)
    in_app: Mapped[bool] = mapped_column(default=True)
    by_email: Mapped[bool] = mapped_column(default=True)
