"""Channels: accounts (mailboxes, bots), outbound deliveries, quarantine; messages keep
the account they came through and channel details.

Revision ID: 0006_channels
Revises: 0005_site_settings
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import zabota.core.db

revision = "0006_channels"
down_revision = "0005_site_settings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channel_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "email",
                "chat",
                "telegram",
                "vk",
                "whatsapp",
                "phone",
                "portal",
                "api",
                name="channel",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("address", sa.String(length=255), nullable=True),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("last_success_at", zabota.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", zabota.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", zabota.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", zabota.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_channel_accounts_team_id_teams")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_accounts")),
        sa.UniqueConstraint("kind", "name", name=op.f("uq_channel_accounts_kind_name")),
    )
    with op.batch_alter_table("channel_accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_channel_accounts_address"), ["address"], unique=False)

    op.create_table(
        "channel_quarantine",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "channel",
            sa.Enum(
                "email",
                "chat",
                "telegram",
                "vk",
                "whatsapp",
                "phone",
                "portal",
                "api",
                name="channel",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "retrying",
                "quarantined",
                "released",
                "dismissed",
                name="quarantinestatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("first_seen_at", zabota.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", zabota.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["channel_accounts.id"],
            name=op.f("fk_channel_quarantine_account_id_channel_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_quarantine")),
        sa.UniqueConstraint(
            "channel",
            "account_id",
            "external_id",
            name=op.f("uq_channel_quarantine_channel_account_id_external_id"),
        ),
    )
    with op.batch_alter_table("channel_quarantine", schema=None) as batch_op:
        batch_op.create_index("ix_channel_quarantine_status", ["status", "id"], unique=False)

    op.create_table(
        "outbound_deliveries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "channel",
            sa.Enum(
                "email",
                "chat",
                "telegram",
                "vk",
                "whatsapp",
                "phone",
                "portal",
                "api",
                name="channel",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("recipient", sa.String(length=255), nullable=False),
        sa.Column(
            "status",
            sa.Enum("pending", "sent", "dead", name="deliverystatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", zabota.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", zabota.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", zabota.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["channel_accounts.id"],
            name=op.f("fk_outbound_deliveries_account_id_channel_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_outbound_deliveries_message_id_messages")
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_outbound_deliveries_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_deliveries")),
        sa.UniqueConstraint("message_id", name=op.f("uq_outbound_deliveries_message_id")),
    )
    with op.batch_alter_table("outbound_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbound_deliveries_due", ["status", "next_attempt_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_outbound_deliveries_external", ["channel", "external_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_outbound_deliveries_ticket_id"), ["ticket_id"], unique=False
        )

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("account_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("meta", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.create_foreign_key(
            batch_op.f("fk_messages_account_id_channel_accounts"),
            "channel_accounts",
            ["account_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_messages_account_id_channel_accounts"), type_="foreignkey"
        )
        batch_op.drop_column("meta")
        batch_op.drop_column("account_id")
    op.drop_table("outbound_deliveries")
    op.drop_table("channel_quarantine")
    op.drop_table("channel_accounts")
