"""Answer bot: admin-defined FAQ pairs, and the pair a turn answered with.

Revision ID: 0010_bot_faq
Revises: 0009_bot
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import zabota.core.db

revision = "0010_bot_faq"
down_revision = "0009_bot"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = zabota.core.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "bot_faqs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("question", sa.String(length=300), nullable=False),
        sa.Column("alternatives", sa.JSON(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("article_id", BigId, nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
        sa.ForeignKeyConstraint(["article_id"], ["kb_articles.id"],
                                name=op.f("fk_bot_faqs_article_id_kb_articles"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bot_faqs")),
    )
    op.create_index("ix_bot_faqs_language", "bot_faqs", ["language", "is_active"])
    # Batch mode: SQLite cannot add a foreign key to an existing table in place.
    with op.batch_alter_table("bot_turns") as batch:
        batch.add_column(sa.Column("faq_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f("fk_bot_turns_faq_id_bot_faqs"), "bot_faqs",
                                 ["faq_id"], ["id"], ondelete="SET NULL")


def downgrade() -> None:
    with op.batch_alter_table("bot_turns") as batch:
        batch.drop_constraint(op.f("fk_bot_turns_faq_id_bot_faqs"), type_="foreignkey")
        batch.drop_column("faq_id")
    op.drop_index("ix_bot_faqs_language", table_name="bot_faqs")
    op.drop_table("bot_faqs")
