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


def test_postgresql_search_without_btree_gin_keeps_plain_term_indexes():
    # A managed PostgreSQL may refuse CREATE EXTENSION: the schema must still migrate, and
    # search (with the owners columns, unindexed) must still work (ADR 010).
    from tests.conftest import _worker_suffix, postgres_url
    from zabota.core.db import Database
    from zabota.core.migrate import upgrade
    from zabota.identity.models import IdentityKind
    from zabota.identity.permissions import SYSTEM
    from zabota.tickets import service as tickets

    url = postgres_url(f"zabota_test_no_ext_{_worker_suffix()}")
    name = url.rsplit("/", 1)[1]
    owner = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    role = f"zabota_limited_{_worker_suffix()}"
    with owner.connect() as conn:
        conn.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
        conn.execute(sa.text(f'CREATE ROLE "{role}" LOGIN'))
        conn.execute(sa.text(f'GRANT USAGE, CREATE ON SCHEMA public TO "{role}"'))
        conn.execute(sa.text(f'REVOKE CREATE ON DATABASE "{name}" FROM PUBLIC'))
    limited = url.replace("postgres@", f"{role}@")
    try:
        upgrade(limited)
        with owner.connect() as conn:
            indexes = set(conn.scalars(sa.text(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'ticket_search'")))
            extensions = set(conn.scalars(sa.text("SELECT extname FROM pg_extension")))
        assert "btree_gin" not in extensions
        assert {"ix_ticket_search_public", "ix_ticket_search_internal"} <= indexes
        assert "ix_ticket_search_terms" not in indexes
        database = Database(limited)
        try:
            with database.session_scope() as session:
                ticket = tickets.create_ticket(
                    session, actor=SYSTEM, subject="Сбой транзакции",
                    message=tickets.NewMessage(text="Платёж не прошёл"),
                    customer_identities=[(IdentityKind.EMAIL, "a@example.org")])
                found, _cursor = tickets.list_tickets(
                    session, tickets.TicketFilter(q="транзакция"), actor=SYSTEM)
                assert [t.id for t in found] == [ticket.id]
        finally:
            database.dispose()
    finally:
        with owner.connect() as conn:
            conn.execute(sa.text(f'DROP OWNED BY "{role}"'))
        owner.dispose()
        admin = sa.create_engine(url.rsplit("/", 1)[0] + "/test", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()
