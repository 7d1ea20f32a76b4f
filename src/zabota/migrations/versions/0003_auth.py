"""Sign-in: staff two-factor secrets, one-time customer sign-in links, sign-up passwords.

Revision ID: 0003_auth
Revises: 0002_workspace
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_auth"
down_revision = "0002_workspace"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("totp_secret", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("login_nonce", sa.Integer(), server_default="0",
                                      nullable=False))
        batch_op.add_column(sa.Column("pending_password_hash", sa.String(length=200),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("pending_password_hash")
        batch_op.drop_column("login_nonce")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("totp_last_step")
        batch_op.drop_column("totp_secret")
