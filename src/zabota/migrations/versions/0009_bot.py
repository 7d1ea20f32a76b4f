"""Answer bot: the log of its turns (decision, confidence, article) per conversation, and
the versions of its guided flows.

Revision ID: 0009_bot
Revises: 0008_kb
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import zabota.core.db

revision = "0009_bot"
down_revision = "0008_kb"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = zabota.core.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "bot_turns",
        sa.Column("id", BigId, nullable=False),
        sa.Column("ticket_id", BigId, nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("message_id", BigId, nullable=True),
        sa.Column("reply_message_id", BigId, nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("article_id", BigId, nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("at", When, nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"],
                                name=op.f("fk_bot_turns_ticket_id_tickets")),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"],
                                name=op.f("fk_bot_turns_message_id_messages")),
        sa.ForeignKeyConstraint(["reply_message_id"], ["messages.id"],
                                name=op.f("fk_bot_turns_reply_message_id_messages")),
        sa.ForeignKeyConstraint(["article_id"], ["kb_articles.id"],
                                name=op.f("fk_bot_turns_article_id_kb_articles"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bot_turns")),
    )
    op.create_index("ix_bot_turns_ticket", "bot_turns", ["ticket_id", "id"])
    op.create_index("ix_bot_turns_at", "bot_turns", ["at"])
    op.create_table(
        "bot_flows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bot_flows")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_bot_flows_name_version")),
    )


def downgrade() -> None:
    op.drop_table("bot_flows")
    op.drop_table("bot_turns")
