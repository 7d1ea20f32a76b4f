"""Bulk-load a realistic helpdesk into a database migrated by `zabota migrate`.

    python -m benchmarks.dataset --url postgresql+psycopg://postgres@127.0.0.1/zabota_bench_1m \\
        --tickets 1000000
    python -m benchmarks.dataset --url sqlite:////tmp/zabota_bench_100k.db --tickets 100000

Teams, staff and organisations are created through the product's service functions. The
bulk (customers and their channel identities, tickets, tags, messages, ticket events and the
search index) is written directly, the way the product would have written it: the same
enum values, JSON shapes, sanitised HTML, event kinds, and search text normalised by
`zabota.ml.text.search_text` (once per distinct sentence; see SearchTexts). PostgreSQL is
loaded with COPY, SQLite with executemany in large transactions. Outbox rows are not
written: for history this old they would all have been delivered long ago.

A database that already holds exactly this dataset (same ticket count, search index
complete) is reused; anything else in it is dropped and loaded anew.
"""

from __future__ import annotations

import argparse
import logging
import random
import sqlite3
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from benchmarks import texts
from benchmarks.harness import (
    create_pg_database,
    is_sqlite_url,
    migrate,
    pg_database_name,
    pg_url,
)
from zabota.core.db import Database
from zabota.core.logging import configure_logging
from zabota.identity import service as identity
from zabota.identity.models import Role, Team, User
from zabota.identity.permissions import SYSTEM
from zabota.ml.text import search_text
from zabota.tickets.service import sanitize

BENCH_AGENT = "bench-agent@zabota.bench"
BENCH_ADMIN = "bench-admin@zabota.bench"
TEAMS = ("Первая линия", "Вторая линия", "Доставка", "Возвраты", "Оплата", "Техподдержка", "B2B")
BENCH_AGENT_TEAMS = ("Первая линия", "Доставка")
AGENTS_PER_TEAM = 8
LONG_TICKETS = 20  # tickets with exactly LONG_MESSAGES messages, for the ticket page
LONG_MESSAGES = 50
CHUNK = 20_000  # tickets per batch
DAY = 86_400.0

PRIORITIES = (("low", 15), ("normal", 60), ("high", 20), ("urgent", 5))
CHANNELS = (("email", 35), ("chat", 18), ("telegram", 15), ("vk", 5), ("whatsapp", 5),
            ("phone", 5), ("portal", 12), ("api", 5))
# Status by the ticket's age: most of the backlog is recent, old tickets are closed.
STATUS_BY_AGE = (
    (1.0, (("new", 35), ("open", 35), ("pending", 15), ("on_hold", 5), ("solved", 10))),
    (7.0, (("new", 5), ("open", 20), ("pending", 15), ("on_hold", 5), ("solved", 45),
           ("closed", 10))),
    (1e9, (("open", 1.5), ("pending", 1), ("on_hold", 0.5), ("solved", 7), ("closed", 90))),
)
TAGS = ("vip", "жалоба", "повторное", "срочно", "b2b")
MAIL_DOMAINS = ("mail.ru", "yandex.ru", "gmail.com", "bk.ru", "inbox.ru", "rambler.ru")

TICKET_COLUMNS = (
    "id", "subject", "status", "priority", "channel", "customer_id", "organization_id",
    "team_id", "assignee_id", "category", "language", "escalation_level", "transfers",
    "reopens", "replies", "custom_fields", "merged_into_id", "created_at", "updated_at",
    "first_response_at", "solved_at", "closed_at",
)
MESSAGE_COLUMNS = (
    "id", "ticket_id", "author_kind", "author_user_id", "author_customer_id", "direction",
    "channel", "is_internal", "body_text", "body_html", "external_id", "created_at",
)
EVENT_COLUMNS = ("id", "ticket_id", "kind", "field", "from_value", "to_value", "actor_kind",
                 "actor_id", "reason", "data", "at")
CUSTOMER_COLUMNS = ("id", "name", "email", "phone", "organization_id",
                    "sees_organization_tickets", "language", "password_hash", "notes",
                    "merged_into_id", "created_at")
IDENTITY_COLUMNS = ("id", "customer_id", "kind", "value", "created_at")

REFERENCES = (
    ("customers", "organization_id", "organizations"),
    ("channel_identities", "customer_id", "customers"),
    ("tickets", "customer_id", "customers"), ("tickets", "organization_id", "organizations"),
    ("tickets", "team_id", "teams"), ("tickets", "assignee_id", "users"),
    ("ticket_tags", "ticket_id", "tickets"), ("messages", "ticket_id", "tickets"),
    ("messages", "author_user_id", "users"), ("messages", "author_customer_id", "customers"),
    ("ticket_events", "ticket_id", "tickets"), ("ticket_search", "ticket_id", "tickets"),
)


# --- normalised search text, cached per sentence ------------------------------------------


class SearchTexts:
    """`search_text` of whole texts, computed once per distinct sentence.

    A text is whole sentences joined by spaces (plus "Номер заказа: 1234567."), and the
    tokeniser never joins tokens across a sentence's final punctuation, so the terms of a
    text are its sentences' terms in order. `verify` checks that on samples at start.
    """

    def __init__(self) -> None:
        self._cache: dict[str, str] = {}

    def of(self, sentence: str) -> str:
        found = self._cache.get(sentence)
        if found is None:
            found = self._cache[sentence] = search_text(sentence)
        return found

    def join(self, parts: Iterable[str]) -> str:
        return " ".join(n for n in (self.of(p) for p in parts) if n)

    def of_order(self, phrase: str, number: str) -> str:
        return f"{self.of(phrase)} {number}"


def compose(sentences: Sequence[str], order: tuple[str, str] | None) -> str:
    text = " ".join(sentences)
    return f"{text} {order[0]} {order[1]}." if order else text


def verify_normalisation(cache: SearchTexts, rng: random.Random, samples: int = 300) -> None:
    for _ in range(samples):
        topic = texts.pick_topic(rng)
        sentences = texts.request_sentences(topic, rng)
        phrase = texts.ORDER_PHRASE_EN if topic.language == "en" else texts.ORDER_PHRASE_RU
        order = (phrase, texts.order_number(rng.randint(1, 10**6))) if rng.random() < .5 else None
        cached = cache.join(sentences)
        if order:
            cached = f"{cached} {cache.of_order(*order)}"
        exact = search_text(compose(sentences, order))
        if cached != exact:
            raise AssertionError(f"sentence-wise normalisation differs: {exact!r} != {cached!r}")


def long_ticket_ids(tickets: int) -> list[int]:
    """The recent open tickets of the bench agent with exactly LONG_MESSAGES messages."""
    spacing = max(1, min(200, tickets // 40))
    return [tickets - 1 - k * spacing for k in range(LONG_TICKETS)
            if tickets - 1 - k * spacing >= 1]


# --- the people: created through the product ----------------------------------------------


@dataclass
class People:
    team_ids: dict[str, int]
    agents_by_team: dict[int, list[int]]
    bench_agent_id: int
    admin_id: int
    organizations: list[tuple[int, str]]  # (id, domain)


def create_people(database: Database, *, organizations: int) -> People:
    """Teams, agents (the bench agent among them), an admin and organisations."""
    with database.session_scope() as session:
        teams: dict[str, Team] = {}
        for name in TEAMS:
            teams[name] = identity.create_team(session, name=name, actor=SYSTEM,
                                               description=f"Очередь «{name}»")
        identity.update_team(session, teams["Первая линия"].id, actor=SYSTEM,
                             escalation_team_id=teams["Вторая линия"].id)
        agents_by_team: dict[int, list[int]] = {team.id: [] for team in teams.values()}
        bench = identity.create_user(
            session, email=BENCH_AGENT, name="Агент Бенчмарков", role=Role.AGENT, actor=SYSTEM,
            team_ids=[teams[name].id for name in BENCH_AGENT_TEAMS])
        for name in BENCH_AGENT_TEAMS:
            agents_by_team[teams[name].id].append(bench.id)
        number = 0
        for team in teams.values():
            while len(agents_by_team[team.id]) < AGENTS_PER_TEAM:
                number += 1
                user = identity.create_user(
                    session, email=f"agent{number}@zabota.bench",
                    name=f"{texts.FIRST_NAMES[number % 15]} {texts.LAST_NAMES[number % 12]}",
                    role=Role.AGENT, actor=SYSTEM, team_ids=[team.id])
                agents_by_team[team.id].append(user.id)
        admin = identity.create_user(session, email=BENCH_ADMIN, name="Администратор",
                                     role=Role.ADMIN, actor=SYSTEM)
        identity.create_user(session, email="supervisor@zabota.bench", name="Руководитель",
                             role=Role.SUPERVISOR, actor=SYSTEM)
        orgs = []
        for k in range(1, organizations + 1):
            org = identity.create_organization(
                session, name=f"ООО «Компания {k}»", domain=f"company{k}.ru", actor=SYSTEM,
                sla_tier="premium" if k % 10 == 0 else "standard", is_vip=k % 25 == 0)
            orgs.append((org.id, f"company{k}.ru"))
        return People({name: t.id for name, t in teams.items()}, agents_by_team, bench.id,
                      admin.id, orgs)


def load_people(database: Database) -> People:
    with database.session_scope() as session:
        teams = {t.name: t.id for t in session.scalars(sa.select(Team))}
        agents_by_team: dict[int, list[int]] = {tid: [] for tid in teams.values()}
        bench_id = admin_id = 0
        for user in session.scalars(sa.select(User).order_by(User.id)):
            if user.email == BENCH_AGENT:
                bench_id = user.id
            if user.email == BENCH_ADMIN:
                admin_id = user.id
            if user.role == Role.AGENT:
                for team in user.teams:
                    agents_by_team[team.id].append(user.id)
        orgs = [(int(r.id), str(r.domain)) for r in session.execute(
            sa.text("SELECT id, domain FROM organizations ORDER BY id"))]
    return People(teams, agents_by_team, bench_id, admin_id, orgs)


# --- generation ---------------------------------------------------------------------------


def _weighted(pairs: Sequence[tuple[str, float]]) -> tuple[list[str], list[float]]:
    values = [p[0] for p in pairs]
    total = 0.0
    cumulative = []
    for _value, weight in pairs:
        total += weight
        cumulative.append(total)
    return values, cumulative


@dataclass
class Batch:
    customers: list[tuple[Any, ...]] = field(default_factory=list)
    identities: list[tuple[Any, ...]] = field(default_factory=list)
    tickets: list[tuple[Any, ...]] = field(default_factory=list)
    tags: list[tuple[Any, ...]] = field(default_factory=list)
    messages: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    search: list[tuple[Any, ...]] = field(default_factory=list)


class Generator:
    """Deterministic rows for tickets 1..N (ids are given, the database is fresh)."""

    def __init__(self, people: People, *, tickets: int, seed: int, now: datetime,
                 sqlite: bool) -> None:
        self.people = people
        self.total = tickets
        self.customers = max(50, tickets // 5)
        self.rng = random.Random(seed)
        self.now = now
        self.start = now - timedelta(days=90)
        self.sqlite = sqlite
        self.search = SearchTexts()
        self.message_id = 0
        self.event_id = 0
        self.identity_id = 0
        self.long_tickets = set(long_ticket_ids(tickets))
        self.customer_orgs: list[int | None] = [None]  # index = customer id
        self.priorities = _weighted(PRIORITIES)
        self.channels = _weighted(CHANNELS)
        self.statuses = [(limit, _weighted(pairs)) for limit, pairs in STATUS_BY_AGE]
        self.team_names = list(people.team_ids)
        self.html_cache: dict[str, str] = {}

    # values as each database stores them
    def ts(self, value: datetime | None) -> str | None:
        if value is None:
            return None
        if self.sqlite:
            return value.strftime("%Y-%m-%d %H:%M:%S.%f")
        return value.isoformat()

    def flag(self, value: bool) -> Any:
        return int(value) if self.sqlite else value

    def pick(self, weighted: tuple[list[str], list[float]]) -> str:
        values, cumulative = weighted
        return self.rng.choices(values, cum_weights=cumulative)[0]

    # customers
    def customer_rows(self) -> Iterator[Batch]:
        batch = Batch()
        for cid in range(1, self.customers + 1):
            rng = self.rng
            first, last = rng.choice(texts.FIRST_NAMES), rng.choice(texts.LAST_NAMES)
            org_id: int | None = None
            if self.people.organizations and rng.random() < .25:
                org_id, domain = rng.choice(self.people.organizations)
            else:
                domain = rng.choice(MAIL_DOMAINS)
            email = f"client{cid}@{domain}"
            phone = f"+79{cid:09d}" if rng.random() < .3 else None
            created = self.ts(self.start - timedelta(days=30) + timedelta(seconds=cid % 86_400))
            self.customer_orgs.append(org_id)
            batch.customers.append((cid, f"{first} {last}", email, phone, org_id,
                                    self.flag(False), "en" if first in ("John", "Emma") else "ru",
                                    None, "", None, created))
            self.identity_id += 1
            batch.identities.append((self.identity_id, cid, "email", email, created))
            if phone:
                self.identity_id += 1
                batch.identities.append((self.identity_id, cid, "phone", phone, created))
            if len(batch.customers) >= CHUNK * 2:
                yield batch
                batch = Batch()
        if batch.customers:
            yield batch

    # tickets
    def ticket_batches(self) -> Iterator[Batch]:
        batch = Batch()
        span = (self.now - self.start).total_seconds() - 600
        for tid in range(1, self.total + 1):
            created = self.start + timedelta(
                seconds=span * (tid - 1) / self.total + self.rng.random() * 60)
            self._ticket(batch, tid, created)
            if len(batch.tickets) >= CHUNK:
                yield batch
                batch = Batch()
        if batch.tickets:
            yield batch

    def _message(self, batch: Batch, tid: int, at: datetime, channel: str, *, text: str,
                 author: str, user_id: int | None, customer_id: int | None,
                 internal: bool = False) -> None:
        self.message_id += 1
        html = self.html_cache.get(text)
        if html is None:
            html = sanitize(text, None)[1]
            if len(self.html_cache) < 50_000:
                self.html_cache[text] = html
        direction = "internal" if internal else ("inbound" if author == "customer"
                                                 else "outbound")
        batch.messages.append((self.message_id, tid, author, user_id, customer_id, direction,
                               channel, self.flag(internal), text, html, None, self.ts(at)))
        self._event(batch, tid, "message_added", at,
                    actor=("customer", customer_id) if author == "customer" else ("user", user_id),
                    data={"message_id": self.message_id, "author_kind": author,
                          "is_internal": internal, "channel": channel})

    def _event(self, batch: Batch, tid: int, kind: str, at: datetime, *,
               actor: tuple[str, int | None], field_name: str | None = None,
               before: object = None, after: object = None,
               data: dict[str, Any] | None = None) -> None:
        self.event_id += 1
        batch.events.append((
            self.event_id, tid, kind, field_name, None if before is None else str(before),
            None if after is None else str(after), actor[0], actor[1], None,
            orjson.dumps(data or {}).decode(), self.ts(at)))

    def _ticket(self, batch: Batch, tid: int, created: datetime) -> None:
        rng = self.rng
        age_days = (self.now - created).total_seconds() / DAY
        topic = texts.pick_topic(rng)
        is_long = tid in self.long_tickets
        status = "open" if is_long else self.pick(
            next(w for limit, w in self.statuses if age_days < limit))
        priority = self.pick(self.priorities)
        channel = self.pick(self.channels)
        customer_id = min(self.customers, int(self.customers * rng.random() ** 1.3) + 1)
        team_name = topic.team if rng.random() < .88 else rng.choice(self.team_names)
        if is_long:
            team_name = "Доставка"
        team_id: int | None = self.people.team_ids[team_name]
        if status == "new" and rng.random() < .3:
            team_id = None  # not routed yet: only admins and supervisors see it
        assignee: int | None = None
        if status != "new":
            assert team_id is not None
            assignee = (self.people.bench_agent_id if is_long
                        else rng.choice(self.people.agents_by_team[team_id]))
        en = topic.language == "en"
        subject = rng.choice(topic.subjects)
        # the conversation
        sentences = texts.request_sentences(topic, rng)
        order = None
        if topic.key in ("delivery", "refund", "payment", "english") and rng.random() < .4:
            order = (texts.ORDER_PHRASE_EN if en else texts.ORDER_PHRASE_RU,
                     texts.order_number(tid))
        public = [self.search.of(subject), self.search.join(sentences)]
        if order:
            public.append(self.search.of_order(*order))
        internal: list[str] = []
        window = min(age_days * DAY * .9, 10 * DAY)
        moments = sorted(rng.random() * window for _ in range(6))
        at = [created + timedelta(seconds=s) for s in moments]
        customer = ("customer", customer_id)
        creator = {"email": ("system", None), "chat": ("system", None),
                   "telegram": ("system", None), "vk": ("system", None),
                   "whatsapp": ("system", None), "portal": customer}.get(
            channel, ("user", self.people.admin_id))
        self._event(batch, tid, "created", created, actor=creator, data={
            "status": "new", "priority": priority, "channel": channel, "team_id": team_id,
            "assignee_id": None, "customer_id": customer_id})
        self._message(batch, tid, created, channel, text=compose(sentences, order),
                      author="customer", user_id=None, customer_id=customer_id)
        updated = created
        replies = 0
        first_response = solved_at = closed_at = None
        if assignee is not None:
            agent = ("user", assignee)
            self._event(batch, tid, "assigned", at[0], actor=("system", None),
                        field_name="assignee_id", after=assignee, data={"transfer": False})
            self._event(batch, tid, "status_changed", at[0], actor=("system", None),
                        field_name="status", before="new", after="open")
            replies_pool = texts.AGENT_REPLIES_EN if en else texts.AGENT_REPLIES_RU
            followups = texts.CUSTOMER_FOLLOWUPS_EN if en else texts.CUSTOMER_FOLLOWUPS_RU
            turns = (LONG_MESSAGES - 1) if is_long else rng.choice((1, 1, 1, 2, 2, 3))
            for turn in range(turns):
                moment = at[min(1 + turn, 4)] + timedelta(seconds=turn)
                if is_long or turn % 2 == 0:
                    kind = "customer" if (is_long and turn % 2 == 1) else "agent"
                else:
                    kind = "customer"
                if kind == "agent":
                    text = rng.choice(replies_pool)
                    self._message(batch, tid, moment, channel, text=text, author="agent",
                                  user_id=assignee, customer_id=None)
                    replies += 1
                    first_response = first_response or moment
                else:
                    text = rng.choice(followups)
                    self._message(batch, tid, moment, channel, text=text, author="customer",
                                  user_id=None, customer_id=customer_id)
                public.append(self.search.of(text))
                updated = moment
            if not is_long and rng.random() < .15:
                note = rng.choice(texts.INTERNAL_NOTES)
                moment = at[4] + timedelta(seconds=30)
                self._message(batch, tid, moment, channel, text=note, author="agent",
                              user_id=assignee, customer_id=None, internal=True)
                internal.append(self.search.of(note))
                updated = moment
            if status != "open":
                final = "solved" if status == "closed" else status
                updated = at[5] + timedelta(seconds=60)
                self._event(batch, tid, "status_changed", updated, actor=agent,
                            field_name="status", before="open", after=final)
                if final == "solved":
                    solved_at = updated
            if status == "closed":
                closed_at = solved_at + timedelta(days=3) if solved_at else None
                if closed_at is None or closed_at >= self.now:
                    closed_at = solved_at
                updated = closed_at or updated
                self._event(batch, tid, "status_changed", updated, actor=("system", None),
                            field_name="status", before="solved", after="closed")
        elif rng.random() < .2:
            text = rng.choice(texts.CUSTOMER_FOLLOWUPS_EN if en else texts.CUSTOMER_FOLLOWUPS_RU)
            updated = at[2]
            self._message(batch, tid, updated, channel, text=text, author="customer",
                          user_id=None, customer_id=customer_id)
            public.append(self.search.of(text))
        if rng.random() < .2:
            batch.tags.append((tid, TAGS[tid % len(TAGS)]))
        escalation = 1 if rng.random() < .04 else 0
        batch.tickets.append((
            tid, subject, status, priority, channel, customer_id, self.customer_orgs[customer_id],
            team_id, assignee, topic.key, topic.language, escalation, 0, 0, replies, "{}", None,
            self.ts(created), self.ts(updated), self.ts(first_response), self.ts(solved_at),
            self.ts(closed_at)))
        # The product appends each later text with a leading space to the row the subject
        # created, so a non-empty internal column starts with one.
        batch.search.append((tid, team_id, assignee, " ".join(p for p in public if p),
                             "".join(f" {n}" for n in internal if n)))


# --- writing ------------------------------------------------------------------------------


def _insert_sql(table: str, columns: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


class SqliteWriter:
    def __init__(self, url: str) -> None:
        path = sa.engine.make_url(url).database
        assert path
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=OFF")
        self.conn.execute("PRAGMA cache_size=-262144")
        self.conn.execute("PRAGMA foreign_keys=ON")

    def write(self, batch: Batch) -> None:
        c = self.conn
        c.execute("BEGIN")
        c.executemany(_insert_sql("customers", CUSTOMER_COLUMNS), batch.customers)
        c.executemany(_insert_sql("channel_identities", IDENTITY_COLUMNS), batch.identities)
        c.executemany(_insert_sql("tickets", TICKET_COLUMNS), batch.tickets)
        c.executemany(_insert_sql("ticket_tags", ("ticket_id", "tag")), batch.tags)
        c.executemany(_insert_sql("messages", MESSAGE_COLUMNS), batch.messages)
        c.executemany(_insert_sql("ticket_events", EVENT_COLUMNS), batch.events)
        c.executemany("INSERT INTO ticket_fts(rowid, public, internal) VALUES (?, ?, ?)",
                      [(tid, public, internal) for tid, _team, _assignee, public, internal
                       in batch.search])
        c.execute("COMMIT")

    def finish(self) -> None:
        # The product refreshes SQLite's statistics after loading demo data and hourly from
        # the worker (zabota.jobs.maintenance); measure that steady state.
        self.conn.execute("ANALYZE")
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.conn.close()


class PostgresWriter:
    def __init__(self, url: str) -> None:
        import psycopg

        plain = sa.engine.make_url(url).set(drivername="postgresql")
        self.conn = psycopg.connect(plain.render_as_string(hide_password=False))
        # Foreign-key triggers would more than double the load time; the rows are
        # consistent by construction, and `check_references` proves it after the load.
        self.conn.execute("SET session_replication_role = replica")

    def _copy(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        if not rows:
            return
        with self.conn.cursor() as cur, cur.copy(
                f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def write(self, batch: Batch) -> None:
        self._copy("customers", CUSTOMER_COLUMNS, batch.customers)
        self._copy("channel_identities", IDENTITY_COLUMNS, batch.identities)
        self._copy("tickets", TICKET_COLUMNS, batch.tickets)
        self._copy("ticket_tags", ("ticket_id", "tag"), batch.tags)
        self._copy("messages", MESSAGE_COLUMNS, batch.messages)
        self._copy("ticket_events", EVENT_COLUMNS, batch.events)
        self._copy("ticket_search", ("ticket_id", "team_id", "assignee_id", "public_text",
                                     "internal_text"), batch.search)
        self.conn.commit()

    def check_references(self) -> None:
        with self.conn.cursor() as cur:
            for child, column, parent in REFERENCES:
                cur.execute(f"SELECT count(*) FROM {child} c WHERE c.{column} IS NOT NULL AND "
                            f"NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.id = c.{column})")
                dangling = cur.fetchone()
                if dangling and dangling[0]:
                    raise AssertionError(f"{dangling[0]} rows of {child}.{column} point nowhere")

    def finish(self) -> None:
        self.conn.commit()
        self.check_references()
        with self.conn.cursor() as cur:
            for table in ("customers", "channel_identities", "tickets", "messages",
                          "ticket_events"):
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"(SELECT max(id) FROM {table}))")
        self.conn.commit()
        self.conn.autocommit = True
        with self.conn.cursor() as cur:
            cur.execute("VACUUM (ANALYZE)")
        self.conn.close()


# --- the whole load -----------------------------------------------------------------------


def search_rows(url: str, engine: sa.Engine) -> int:
    table = "ticket_fts" if is_sqlite_url(url) else "ticket_search"
    with engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() or 0)


def ticket_count(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM tickets")).scalar() or 0)


def is_loaded(url: str, tickets: int) -> bool:
    """Whether the database holds the whole dataset of `tickets` tickets.

    Each batch commits its tickets with their search rows; the load ends with ANALYZE on
    PostgreSQL (and a checkpoint on SQLite), so analysed statistics mark a finished load.
    """
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            users = conn.execute(sa.text("SELECT count(*) FROM users WHERE email = :e"),
                                 {"e": BENCH_AGENT}).scalar()
            analysed = is_sqlite_url(url) or conn.execute(sa.text(
                "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables "
                "WHERE relname = 'tickets'")).scalar()
        return (bool(users) and bool(analysed) and ticket_count(engine) == tickets
                and search_rows(url, engine) == tickets)
    except sa.exc.DBAPIError:
        return False
    finally:
        engine.dispose()


def reset_database(url: str) -> None:
    """An empty, migrated database at `url` (benchmark databases only)."""
    if is_sqlite_url(url):
        path = Path(sa.engine.make_url(url).database or "")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
    else:
        create_pg_database(pg_database_name(url))
    migrate(url, data_dir_for(url))


def data_dir_for(url: str) -> Path:
    if is_sqlite_url(url):
        return Path(sa.engine.make_url(url).database or ".").parent / "var"
    return Path(tempfile.gettempdir()) / f"{pg_database_name(url)}-var"


@dataclass
class LoadReport:
    tickets: int
    reused: bool
    seconds: float
    rows: dict[str, int]

    def summary(self) -> str:
        if self.reused:
            return f"dataset of {self.tickets:,} tickets reused (already loaded)"
        counts = ", ".join(f"{v:,} {k}" for k, v in self.rows.items())
        return f"dataset loaded in {self.seconds:.1f} s: {counts}"


def ensure_dataset(url: str, tickets: int, *, seed: int = 42, force: bool = False,
                   verbose: bool = True) -> LoadReport:
    """Load the dataset unless the database already holds it."""
    if not force and is_loaded(url, tickets):
        # The schema may have moved on since the load; `zabota migrate` brings it up to date.
        migrate(url, data_dir_for(url))
        return LoadReport(tickets, True, 0.0, {})
    started = time.perf_counter()
    reset_database(url)
    database = Database(url)
    try:
        people = create_people(database, organizations=max(5, min(300, tickets // 3000)))
    finally:
        database.dispose()
    generator = Generator(people, tickets=tickets, seed=seed, now=datetime.now(UTC),
                          sqlite=is_sqlite_url(url))
    verify_normalisation(generator.search, random.Random(seed + 1))
    writer: SqliteWriter | PostgresWriter = (
        SqliteWriter(url) if is_sqlite_url(url) else PostgresWriter(url))
    rows = dict.fromkeys(("customers", "identities", "tickets", "tags", "messages", "events",
                          "search"), 0)
    for batch in generator.customer_rows():
        writer.write(batch)
        rows["customers"] += len(batch.customers)
        rows["identities"] += len(batch.identities)
    # The database writes one batch (mostly waiting on the server) while the next is made.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending: Future[None] | None = None
        for batch in generator.ticket_batches():
            if pending is not None:
                pending.result()
            pending = pool.submit(writer.write, batch)
            for name in ("tickets", "tags", "messages", "events", "search"):
                rows[name] += len(getattr(batch, name))
            if verbose:
                print(f"  … {rows['tickets']:,} tickets, {time.perf_counter() - started:.0f} s",
                      flush=True)
        if pending is not None:
            pending.result()
    writer.finish()
    return LoadReport(tickets, False, time.perf_counter() - started, rows)


@dataclass
class Readers:
    """Bearer tokens of the bench agent and the admin, and the agent's teams."""

    agent_token: str
    admin_token: str
    agent_team_ids: list[int]
    people: People


def issue_tokens(url: str) -> Readers:
    database = Database(url)
    try:
        people = load_people(database)
        with database.session_scope() as session:
            agent = identity.issue_token_for(session, ttl=timedelta(hours=2),
                                             user_id=people.bench_agent_id)
            admin = identity.issue_token_for(session, ttl=timedelta(hours=2),
                                             user_id=people.admin_id)
        return Readers(agent, admin, [people.team_ids[n] for n in BENCH_AGENT_TEAMS], people)
    finally:
        database.dispose()


def default_url(db: str, tickets: int, workdir: Path) -> str:
    """Where the read benchmarks keep a dataset of `tickets` tickets between runs."""
    size = (f"{tickets // 1_000_000}m" if tickets % 1_000_000 == 0 else
            f"{tickets // 1000}k" if tickets % 1000 == 0 else str(tickets))
    if db == "sqlite":
        return f"sqlite:///{workdir / f'zabota_bench_{size}.db'}"
    return pg_url(f"zabota_bench_{size}")


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dataset", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True,
                        help="sqlite:///path or postgresql+psycopg://…/zabota_bench…")
    parser.add_argument("--tickets", type=int, required=True)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--force", action="store_true", help="reload even if already loaded")
    args = parser.parse_args(argv)
    configure_logging(level=logging.WARNING)  # not one line per created user
    if args.tickets < 100:
        parser.error("--tickets must be at least 100")
    report = ensure_dataset(args.url, args.tickets, seed=args.seed, force=args.force)
    print(report.summary())
    return report.summary()


if __name__ == "__main__":
    main()
