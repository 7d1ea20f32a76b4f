"""PostgreSQL's search rows carry the ticket's team and assignee, indexed with the terms, so
an agent's search reads only the matches they may see (docs/decisions/010-search-owners.md).

One GIN index over team, assignee and both term columns replaces the two term indexes; its
integer columns need the `btree_gin` extension (shipped with PostgreSQL, trusted since 13).
Where the extension cannot be created, the two term indexes stay: search stays correct,
only an agent's search for terms common in other teams stays slow. SQLite is untouched.

Revision ID: 0012_search_owners
Revises: 0011_delivery_parts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_search_owners"
down_revision = "0011_delivery_parts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        return
    op.execute("ALTER TABLE ticket_search ADD COLUMN team_id INTEGER, "
               "ADD COLUMN assignee_id INTEGER")
    op.execute("UPDATE ticket_search s SET team_id = t.team_id, assignee_id = t.assignee_id "
               "FROM tickets t WHERE t.id = s.ticket_id "
               "AND (t.team_id IS NOT NULL OR t.assignee_id IS NOT NULL)")
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS btree_gin"))
    except sa.exc.DBAPIError:
        return  # not allowed here: keep the term indexes (see the docstring)
    op.execute("CREATE INDEX ix_ticket_search_terms ON ticket_search USING gin "
               "(team_id, assignee_id, public_tsv, internal_tsv)")
    op.execute("DROP INDEX ix_ticket_search_public")
    op.execute("DROP INDEX ix_ticket_search_internal")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute("CREATE INDEX IF NOT EXISTS ix_ticket_search_public ON ticket_search "
               "USING gin (public_tsv)")
    op.execute("CREATE INDEX IF NOT EXISTS ix_ticket_search_internal ON ticket_search "
               "USING gin (internal_tsv)")
    op.execute("DROP INDEX IF EXISTS ix_ticket_search_terms")
    op.execute("ALTER TABLE ticket_search DROP COLUMN team_id, DROP COLUMN assignee_id")
