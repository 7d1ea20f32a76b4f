"""Full-text search over tickets: one interface, FTS5 on SQLite, tsvector + GIN on PostgreSQL.

Both index the same normalised terms (Russian lemmas via pymorphy3, English stems), so a
query finds the same tickets on either database. Internal notes go to a separate column that
customers' queries never read.
"""

from __future__ import annotations

from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from zabota.core.db import is_sqlite
from zabota.ml.text import search_text, terms

MAX_QUERY_TERMS = 12


class SearchBackend(Protocol):
    def add(self, session: Session, ticket_id: int, *texts: str, internal: bool,
            new: bool = False) -> None:
        """Append the texts' terms to the ticket's public or internal column (`new`: the
        ticket was created in this transaction, so it has no row yet)."""

    def move(self, session: Session, source_id: int, target_id: int) -> None: ...

    def matching_ids(self, query: str, *, include_internal: bool) -> sa.Select[tuple[int]] | None:
        """A sub-select of ticket ids matching every term; None when the query has no terms."""


class SqliteSearch:
    def add(self, session: Session, ticket_id: int, *texts: str, internal: bool,
            new: bool = False) -> None:
        normalized = _normalized(texts)
        if not normalized:
            return
        column = "internal" if internal else "public"
        updated = None if new else session.execute(
            sa.text(f"UPDATE ticket_fts SET {column} = {column} || ' ' || :t WHERE rowid = :id"),
            {"t": normalized, "id": ticket_id},
        )
        if not getattr(updated, "rowcount", 0):
            public, private = ("", normalized) if internal else (normalized, "")
            session.execute(
                sa.text("INSERT INTO ticket_fts(rowid, public, internal) VALUES (:id, :p, :i)"),
                {"id": ticket_id, "p": public, "i": private},
            )

    def move(self, session: Session, source_id: int, target_id: int) -> None:
        row = session.execute(sa.text("SELECT public, internal FROM ticket_fts WHERE rowid = :id"),
                              {"id": source_id}).first()
        if row is None:
            return
        _add_normalized(self, session, target_id, row.public, row.internal)

    def matching_ids(self, query: str, *, include_internal: bool) -> sa.Select[tuple[int]] | None:
        words = _query_terms(query)
        if not words:
            return None
        columns = "{public internal}" if include_internal else "{public}"
        expression = columns + " : (" + " AND ".join(f'"{w}"' for w in words) + ")"
        fts = sa.table("ticket_fts", sa.column("rowid", sa.Integer))
        return sa.select(fts.c.rowid).where(sa.text("ticket_fts MATCH :fts_q")
                                            .bindparams(fts_q=expression))


class PostgresSearch:
    def add(self, session: Session, ticket_id: int, *texts: str, internal: bool,
            new: bool = False) -> None:
        normalized = _normalized(texts)
        if not normalized:
            return
        column = "internal_text" if internal else "public_text"
        public, private = ("", normalized) if internal else (normalized, "")
        session.execute(
            sa.text("INSERT INTO ticket_search(ticket_id, public_text, internal_text) "
                    "VALUES (:id, :p, :i) ON CONFLICT (ticket_id) DO UPDATE SET "
                    f"{column} = ticket_search.{column} || ' ' || :t"),
            {"t": normalized, "id": ticket_id, "p": public, "i": private},
        )

    def move(self, session: Session, source_id: int, target_id: int) -> None:
        row = session.execute(sa.text("SELECT public_text, internal_text FROM ticket_search "
                                      "WHERE ticket_id = :id"), {"id": source_id}).first()
        if row is None:
            return
        _add_normalized(self, session, target_id, row.public_text, row.internal_text)

    def matching_ids(self, query: str, *, include_internal: bool) -> sa.Select[tuple[int]] | None:
        words = _query_terms(query)
        if not words:
            return None
        search = sa.table("ticket_search", sa.column("ticket_id", sa.BigInteger))
        tsquery = sa.func.plainto_tsquery(sa.literal_column("'simple'::regconfig"),
                                          " ".join(words))
        condition: sa.ColumnElement[bool] = sa.literal_column("public_tsv").op("@@")(tsquery)
        if include_internal:
            condition = sa.or_(condition, sa.literal_column("internal_tsv").op("@@")(tsquery))
        return sa.select(search.c.ticket_id).where(condition)


def _normalized(texts: tuple[str, ...]) -> str:
    # Each text on its own, as if added one after the other.
    return " ".join(n for n in (search_text(text) for text in texts) if n)


def _add_normalized(backend: SearchBackend, session: Session, ticket_id: int,
                    public: str, internal: str) -> None:
    # Already normalised text normalises to itself, so re-adding it is safe.
    if public.strip():
        backend.add(session, ticket_id, public, internal=False)
    if internal.strip():
        backend.add(session, ticket_id, internal, internal=True)


def _query_terms(query: str) -> list[str]:
    seen: dict[str, None] = {}
    for term in terms(query):
        seen.setdefault(term.replace('"', ""), None)
    return [t for t in seen if t][:MAX_QUERY_TERMS]


_SQLITE, _POSTGRES = SqliteSearch(), PostgresSearch()


def backend_for(session: Session) -> SearchBackend:
    return _SQLITE if is_sqlite(session) else _POSTGRES
