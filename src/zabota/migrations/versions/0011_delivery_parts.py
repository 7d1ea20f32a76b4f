"""Outbound deliveries remember how many parts of a long reply the platform has accepted, so
a retry after a failure half-way never sends the same text twice.

Revision ID: 0011_delivery_parts
Revises: 0010_bot_faq
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_delivery_parts"
down_revision = "0010_bot_faq"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbound_deliveries") as batch:
        batch.add_column(sa.Column("parts_sent", sa.Integer(), nullable=False,
                                   server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("outbound_deliveries") as batch:
        batch.drop_column("parts_sent")
