"""Site settings an admin edits (company name, logo, languages, time zone).

Revision ID: 0005_site_settings
Revises: 0004_saved_views
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_site_settings"
down_revision = "0004_saved_views"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "site_settings",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_site_settings")),
    )


def downgrade() -> None:
    op.drop_table("site_settings")
