"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from zabota.core.db import Base
from zabota.migrations.models import load_all_models

# Full-text indexes live outside the ORM (FTS5 virtual tables, generated tsvector columns).
SEARCH_TABLES = {"ticket_fts", "ticket_search", "kb_fts", "kb_article_search"}


def _names(diff: object) -> str:
    return repr(diff)


def test_models_and_migrations_agree(database):
    load_all_models()
    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    relevant = [d for d in diff if not any(t in _names(d) for t in SEARCH_TABLES)
                and "ticket_fts_" not in _names(d)]
    assert relevant == []


def test_search_index_exists(database):
    with database.engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
    assert tables & SEARCH_TABLES
