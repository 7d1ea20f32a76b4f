"""Staff, teams, skills, customers, organisations, channel identities, API tokens."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from zabota.core.db import Base, BigId


class Role(enum.StrEnum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    AGENT = "agent"


class Presence(enum.StrEnum):
    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


class IdentityKind(enum.StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    TELEGRAM = "telegram"
    VK = "vk"
    WHATSAPP = "whatsapp"
    CHAT = "chat"
    EXTERNAL = "external"


def _enum(cls: type[enum.StrEnum]) -> sa.Enum:
    return sa.Enum(cls, native_enum=False, length=16, validate_strings=True,
                   values_callable=lambda members: [m.value for m in members])


team_members = sa.Table(
    "team_members",
    Base.metadata,
    sa.Column("team_id", sa.ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True,
              index=True),
)


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    description: Mapped[str] = mapped_column(sa.String(500), default="")
    email: Mapped[str | None] = mapped_column(sa.String(254))
    # The line a ticket escalates to (1st line → 2nd line → experts).
    escalation_team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("teams.id"))
    created_at: Mapped[datetime]

    members: Mapped[list[User]] = relationship(secondary=team_members, back_populates="teams")

    @property
    def member_ids(self) -> list[int]:
        return [member.id for member in self.members]


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    password_hash: Mapped[str | None] = mapped_column(sa.String(200))
    role: Mapped[Role] = mapped_column(_enum(Role))
    language: Mapped[str] = mapped_column(sa.String(2), default="ru")
    timezone: Mapped[str] = mapped_column(sa.String(64), default="Europe/Moscow")
    capacity: Mapped[int] = mapped_column(default=10)
    presence: Mapped[Presence] = mapped_column(_enum(Presence), default=Presence.OFFLINE)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    # Two-factor authentication: the base32 TOTP secret, and the last time step accepted, so
    # a code seen once (shoulder, screen share) cannot be replayed (RFC 6238 §5.2).
    totp_secret: Mapped[str | None] = mapped_column(sa.String(64))
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)

    teams: Mapped[list[Team]] = relationship(
        secondary=team_members, back_populates="members", lazy="selectin"
    )
    skills: Mapped[list[Skill]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )


class Skill(Base):
    __tablename__ = "skills"
    __table_args__ = (sa.UniqueConstraint("user_id", "category", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(sa.String(100))
    language: Mapped[str] = mapped_column(sa.String(2), default="ru")
    level: Mapped[int] = mapped_column(sa.SmallInteger, default=1)

    user: Mapped[User] = relationship(back_populates="skills")


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    domain: Mapped[str | None] = mapped_column(sa.String(253), index=True)
    sla_tier: Mapped[str] = mapped_column(sa.String(32), default="standard")
    is_vip: Mapped[bool] = mapped_column(default=False)
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime]


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    email: Mapped[str | None] = mapped_column(sa.String(254), index=True)
    phone: Mapped[str | None] = mapped_column(sa.String(32))
    organization_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("organizations.id"), index=True
    )
    # An organisation's manager may follow all of its requests (portal, API).
    sees_organization_tickets: Mapped[bool] = mapped_column(default=False)
    language: Mapped[str | None] = mapped_column(sa.String(2))
    password_hash: Mapped[str | None] = mapped_column(sa.String(200))
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    merged_into_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customers.id"))
    created_at: Mapped[datetime]
    # Sign-in links carry this number; using one bumps it, so every link works once.
    login_nonce: Mapped[int] = mapped_column(default=0, server_default="0")
    # A password chosen at sign-up; it takes effect only when the e-mailed link is followed.
    pending_password_hash: Mapped[str | None] = mapped_column(sa.String(200))

    identities: Mapped[list[ChannelIdentity]] = relationship(
        back_populates="customer", lazy="selectin", order_by="ChannelIdentity.id"
    )


class ChannelIdentity(Base):
    """One way to reach a customer; (kind, value) is unique so a person is one customer."""

    __tablename__ = "channel_identities"
    __table_args__ = (sa.UniqueConstraint("kind", "value"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    kind: Mapped[IdentityKind] = mapped_column(_enum(IdentityKind))
    value: Mapped[str] = mapped_column(sa.String(254))
    created_at: Mapped[datetime]

    customer: Mapped[Customer] = relationship(back_populates="identities")


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored. Either a login token or a personal one."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(12))
    name: Mapped[str] = mapped_column(sa.String(120))
    is_personal: Mapped[bool] = mapped_column(default=False)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"),
                                                index=True)
    customer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
