"""Full-text search over tickets: one interface, FTS5 on SQLite, tsvector + GIN on PostgreSQL.

Both index the same normalised terms (Russian lemmas via pymorphy3, English stems), so a
query finds the same tickets on either database. Internal notes go to a separate column that
customers' queries never read. On PostgreSQL the search row also carries the ticket's team
and assignee, indexed with the terms, so an agent's search reads only the matches they may
see (ADR 010).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import QueryableAttribute, Session

from zabota.core.db import insert_later, is_sqlite
from zabota.ml.text import search_text, terms

MAX_QUERY_TERMS = 12
IdColumn = sa.ColumnElement[int] | QueryableAttribute[int]  # the outer query's ticket id


@dataclass(frozen=True)
class Owners:
    """Whose tickets an agent sees: their teams' and their own."""

    team_ids: frozenset[int]
    user_id: int


class SearchBackend(Protocol):
    # A query with at most this many matches is answered from their ids; with more, the
    # ticket list is walked in its order and each ticket tested (`ticket_matches`).
    few_matches: int
    # Before reading any match, test this many of the list's first tickets (0: never).
    walk_window: int

    def add(self, session: Session, ticket_id: int, *texts: str, internal: bool,
            new: bool = False) -> None:
        """Append the texts' terms to the ticket's public or internal column (`new`: the
        ticket was created in this transaction, so it has no row yet)."""

    def owners_changed(self, session: Session, ticket_id: int, *, team_id: int | None,
                       assignee_id: int | None) -> None:
        """The ticket changed team or assignee (in the same transaction)."""

    def move(self, session: Session, source_id: int, target_id: int) -> None: ...

    def matching_ids(self, query: str, *, include_internal: bool,
                     owners: Owners | None = None) -> sa.Select[tuple[int]] | None:
        """A select of ticket ids matching every term; None when the query has no terms.
        With `owners`, the backend may leave out tickets of other teams and agents."""

    def listed(self, ticket_id: IdColumn,
               ids: Sequence[int]) -> sa.ColumnElement[bool]:
        """`ticket_id` is one of `ids` (at most `few_matches` of them)."""

    def ticket_matches(self, ticket_id: IdColumn, query: str, *,
                       include_internal: bool) -> sa.ColumnElement[bool]:
        """The ticket `ticket_id` (of the outer query) matches every term of `query`, tested
        ticket by ticket as the outer query walks its index. The query has terms."""


_FTS_INSERT = sa.text("INSERT INTO ticket_fts(rowid, public, internal) VALUES (:id, :p, :i)")


class SqliteSearch:
    few_matches = 200
    walk_window = 0  # SQLite's planner probes FTS5 by rowid when walking is cheaper

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
            row = {"id": ticket_id, "p": public, "i": private}
            if new:
                insert_later(session, _FTS_INSERT, row)  # nothing reads it before the commit
            else:
                session.execute(_FTS_INSERT, row)

    def owners_changed(self, session: Session, ticket_id: int, *, team_id: int | None,
                       assignee_id: int | None) -> None:
        pass  # FTS5 holds terms only; SQLite answers the permission filter from `tickets`

    def move(self, session: Session, source_id: int, target_id: int) -> None:
        row = session.execute(sa.text("SELECT public, internal FROM ticket_fts WHERE rowid = :id"),
                              {"id": source_id}).first()
        if row is None:
            return
        _add_normalized(self, session, target_id, row.public, row.internal)

    def listed(self, ticket_id: IdColumn,
               ids: Sequence[int]) -> sa.ColumnElement[bool]:
        return ticket_id.in_(ids)

    def ticket_matches(self, ticket_id: IdColumn, query: str, *,
                       include_internal: bool) -> sa.ColumnElement[bool]:
        # SQLite's planner walks the list and probes FTS5 by rowid when that is cheaper.
        matching = self.matching_ids(query, include_internal=include_internal)
        return ticket_id.in_(matching) if matching is not None else sa.false()

    def matching_ids(self, query: str, *, include_internal: bool,
                     owners: Owners | None = None) -> sa.Select[tuple[int]] | None:
        words = _query_terms(query)
        if not words:
            return None
        columns = "{public internal}" if include_internal else "{public}"
        expression = columns + " : (" + " AND ".join(f'"{w}"' for w in words) + ")"
        fts = sa.table("ticket_fts", sa.column("rowid", sa.Integer))
        return sa.select(fts.c.rowid).where(sa.text("ticket_fts MATCH :fts_q")
                                            .bindparams(fts_q=expression))


_SEARCH = sa.table("ticket_search", sa.column("ticket_id", sa.BigInteger),
                   sa.column("team_id", sa.Integer), sa.column("assignee_id", sa.Integer),
                   sa.column("public_tsv"), sa.column("internal_tsv"))
_OWNERS_CHANGED = sa.text("UPDATE ticket_search SET team_id = :team, assignee_id = :assignee "
                          "WHERE ticket_id = :id")


class PostgresSearch:
    # Listing 2,000 matches by id costs about what walking the newest tickets until 25 match
    # costs when that many match among a million (docs/performance.md, PostgreSQL search).
    few_matches = 2_000
    walk_window = 1_000

    def add(self, session: Session, ticket_id: int, *texts: str, internal: bool,
            new: bool = False) -> None:
        normalized = _normalized(texts)
        if not normalized:
            return
        column = "internal_text" if internal else "public_text"
        public, private = ("", normalized) if internal else (normalized, "")
        # The team and assignee as the ticket has them now (a session flushes before this).
        session.execute(
            sa.text("INSERT INTO ticket_search(ticket_id, team_id, assignee_id, public_text, "
                    "internal_text) SELECT id, team_id, assignee_id, :p, :i FROM tickets "
                    "WHERE id = :id ON CONFLICT (ticket_id) DO UPDATE SET "
                    f"{column} = ticket_search.{column} || ' ' || :t"),
            {"t": normalized, "id": ticket_id, "p": public, "i": private},
        )

    def owners_changed(self, session: Session, ticket_id: int, *, team_id: int | None,
                       assignee_id: int | None) -> None:
        session.connection().execute(_OWNERS_CHANGED, {"team": team_id, "assignee": assignee_id,
                                                       "id": ticket_id})

    def move(self, session: Session, source_id: int, target_id: int) -> None:
        row = session.execute(sa.text("SELECT public_text, internal_text FROM ticket_search "
                                      "WHERE ticket_id = :id"), {"id": source_id}).first()
        if row is None:
            return
        _add_normalized(self, session, target_id, row.public_text, row.internal_text)

    def matching_ids(self, query: str, *, include_internal: bool,
                     owners: Owners | None = None) -> sa.Select[tuple[int]] | None:
        tests = _term_tests(query, include_internal=include_internal)
        if not tests:
            return None
        if owners is None:
            return sa.select(_SEARCH.c.ticket_id).where(sa.or_(*tests))
        # Spelled out as (owner AND terms) OR …: each branch is one scan of the GIN index
        # over team, assignee and terms, which reads only that owner's matches.
        scopes = [_SEARCH.c.assignee_id == owners.user_id]
        if owners.team_ids:
            scopes.append(_SEARCH.c.team_id == sa.any_(sa.bindparam(
                "search_teams", sorted(owners.team_ids), type_=postgresql.ARRAY(sa.Integer))))
        return sa.select(_SEARCH.c.ticket_id).where(
            sa.or_(*(sa.and_(scope, test) for scope in scopes for test in tests)))

    def listed(self, ticket_id: IdColumn,
               ids: Sequence[int]) -> sa.ColumnElement[bool]:
        # One array parameter, not one parameter per id.
        return ticket_id == sa.any_(sa.bindparam("search_ids", list(ids),
                                                 type_=postgresql.ARRAY(sa.BigInteger)))

    def ticket_matches(self, ticket_id: IdColumn, query: str, *,
                       include_internal: bool) -> sa.ColumnElement[bool]:
        tests = _term_tests(query, include_internal=include_internal)
        if not tests:
            return sa.false()
        # OFFSET keeps PostgreSQL from turning the test into a join: its estimate for
        # several words multiplies their frequencies (words that occur together look rare),
        # and it would then fetch every match and sort them, seconds for a common phrase.
        probe = (sa.select(sa.literal(1)).select_from(_SEARCH)
                 .where(_SEARCH.c.ticket_id == ticket_id, sa.or_(*tests)).offset(0))
        return sa.exists(probe)


def _term_tests(query: str, *, include_internal: bool) -> list[sa.ColumnElement[bool]]:
    """PostgreSQL: the public column (and the internal one) has every term of the query."""
    words = _query_terms(query)
    if not words:
        return []
    tsquery = sa.func.plainto_tsquery(sa.literal_column("'simple'::regconfig"), " ".join(words))
    columns = (_SEARCH.c.public_tsv, _SEARCH.c.internal_tsv) if include_internal else (
        _SEARCH.c.public_tsv,)
    return [column.op("@@")(tsquery) for column in columns]


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
