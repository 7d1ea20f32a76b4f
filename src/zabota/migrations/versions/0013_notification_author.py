"""A notification keeps who mentioned the user, so the page can say it in the language it
is shown in (the stored text is the e-mail's, in the user's own language).

Revision ID: 0013_notification_author
Revises: 0012_search_owners
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_notification_author"
down_revision = "0012_search_owners"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("notifications", sa.Column("author", sa.String(200), nullable=False,
                                             server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("author")
