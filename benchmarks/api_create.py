"""Tickets created per second through the REST API, on SQLite and on PostgreSQL.

    python -m benchmarks.api_create                   # both databases
    python -m benchmarks.api_create --db sqlite --quick

One server process (`zabota serve --no-with-worker`, uvicorn) on a fresh, migrated database;
this process drives it over keep-alive connections. Every request is `POST /api/v1/tickets`
with a personal API token, an inline customer with an e-mail never seen before, and varied
Russian or English text, so each ticket writes a customer, a channel identity, the ticket,
its first message, two history events, two outbox events and its search-index row; the
run checks those counts at the end. The token's rate limit is raised for the run (the
limiter still counts every request).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchmarks import texts
from benchmarks.harness import (
    Connection,
    Latencies,
    Server,
    check,
    command_line,
    cpu_seconds,
    create_pg_database,
    database_version,
    drop_pg_database,
    machine_summary,
    migrate,
    percentile,
    run_async,
    sqlite_url,
)
from zabota.core.db import Database
from zabota.core.logging import configure_logging
from zabota.identity import service as identity
from zabota.identity.models import Role
from zabota.identity.permissions import SYSTEM

PG_DATABASE = "zabota_bench_create"
DOMAINS = ("mail.ru", "yandex.ru", "gmail.com", "company1.ru", "company2.ru", "bk.ru")


@dataclass
class Setup:
    token: str
    team_ids: list[int]


def prepare(url: str) -> Setup:
    """An integration user with a personal token, teams and organisations, as an admin would."""
    database = Database(url)
    try:
        with database.session_scope() as session:
            teams = [identity.create_team(session, name=name, actor=SYSTEM)
                     for name in ("Первая линия", "Доставка", "Оплата", "Возвраты")]
            for k in (1, 2):
                identity.create_organization(session, name=f"Компания {k}",
                                             domain=f"company{k}.ru", actor=SYSTEM)
            user = identity.create_user(session, email="integration@zabota.bench",
                                        name="Интернет-магазин", role=Role.AGENT,
                                        actor=SYSTEM, team_ids=[t.id for t in teams])
            token, _row = identity.create_personal_token(
                session, user_id=user.id, name="benchmark", expires_at=None, actor=SYSTEM)
            return Setup(token, [t.id for t in teams])
    finally:
        database.dispose()


def payload(n: int, rng: random.Random, setup: Setup, run: str) -> dict[str, Any]:
    topic = texts.pick_topic(rng)
    sentences = texts.request_sentences(topic, rng)
    name = f"{rng.choice(texts.FIRST_NAMES)} {rng.choice(texts.LAST_NAMES)}"
    if topic.language == "en":
        text = " ".join(sentences) + f" {texts.ORDER_PHRASE_EN} {texts.order_number(n)}."
        text += f"\n\nBest regards,\n{name}"
    else:
        text = " ".join(sentences) + f" {texts.ORDER_PHRASE_RU} {texts.order_number(n)}."
        text += f"\n\nС уважением,\n{name}, +7 9{rng.randrange(10**9):09d}"
    return {
        "subject": f"{rng.choice(topic.subjects)} (заказ {texts.order_number(n)})",
        "message": {"text": text},
        "customer": {"email": f"{run}.{n}@{rng.choice(DOMAINS)}", "name": name},
        "priority": rng.choice(("low", "normal", "normal", "normal", "high", "urgent")),
        "team_id": rng.choice(setup.team_ids),
        "category": topic.key,
    }


async def drive(port: int, token: str, bodies: Sequence[dict[str, Any]],
                concurrency: int) -> tuple[Latencies, float]:
    """Send every body once over `concurrency` connections; the figures and the wall time."""
    latencies = Latencies("POST /api/v1/tickets")
    queue = iter(bodies)

    async def worker() -> None:
        connection = Connection(port, token)
        try:
            for body in queue:
                response = check(await connection.request("POST", "/api/v1/tickets", body), 201)
                latencies.add(response)
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - started


def count_rows(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    search = "ticket_fts" if url.startswith("sqlite") else "ticket_search"
    queries = {
        "tickets": "SELECT count(*) FROM tickets",
        "customers": "SELECT count(*) FROM customers",
        "identities": "SELECT count(*) FROM channel_identities",
        "messages": "SELECT count(*) FROM messages",
        "created events": "SELECT count(*) FROM ticket_events WHERE kind = 'created'",
        "message events": "SELECT count(*) FROM ticket_events WHERE kind = 'message_added'",
        "outbox events": "SELECT count(*) FROM outbox_events",
        "search rows": f"SELECT count(*) FROM {search}",
    }
    try:
        with engine.connect() as conn:
            return {k: int(conn.execute(sa.text(q)).scalar() or 0) for k, q in queries.items()}
    finally:
        engine.dispose()


@dataclass
class Result:
    db: str
    version: str
    tickets_per_second: float
    latencies: Latencies
    server_cpu_ms: float
    rows: dict[str, int]

    def lines(self) -> list[str]:
        s, c = self.latencies.server_ms, self.latencies.client_ms
        return [
            f"{self.db}: {self.tickets_per_second:.0f} tickets/s ({len(s)} tickets, "
            f"{self.version})",
            f"  latency client p50 {percentile(c, .5):.1f} ms p95 {percentile(c, .95):.1f} ms;"
            f" server p50 {percentile(s, .5):.1f} ms p95 {percentile(s, .95):.1f} ms;"
            f" server CPU {self.server_cpu_ms:.2f} ms per ticket",
            "  rows: " + ", ".join(f"{k} {v}" for k, v in self.rows.items()),
        ]


def run_one(db: str, workdir: Path, *, requests: int, warmup: int, concurrency: int,
            keep: bool) -> Result:
    data_dir = workdir / f"create-{db}"
    if db == "sqlite":
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / "zabota.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = sqlite_url(path)
    else:
        url = create_pg_database(PG_DATABASE)
    # The server boots while the schema is created: it opens the database on the first request.
    server = Server(url, data_dir, env={"ZABOTA_API_RATE_LIMIT_PER_MINUTE": "100000000"})
    server.start()
    try:
        migrate(url, data_dir)
        setup = prepare(url)
        rng = random.Random(7)
        run = f"c{int(time.time())}"
        bodies = [payload(n, rng, setup, run) for n in range(warmup + requests)]
        with server as srv:
            run_async(drive, srv.port, setup.token, bodies[:warmup], concurrency)
            cpu_before = cpu_seconds(srv.pid)
            latencies, seconds = run_async(
                drive, srv.port, setup.token, bodies[warmup:], concurrency)
            cpu = cpu_seconds(srv.pid) - cpu_before
        rows = count_rows(url)
        expected = warmup + requests
        for name, value in rows.items():
            want = 2 * expected if name == "outbox events" else expected
            if value != want:
                raise AssertionError(f"{name}: {value} rows, expected {want}")
        return Result(db, database_version(url), requests / seconds, latencies,
                      cpu * 1000 / requests, rows)
    finally:
        server.stop()
        if db == "postgresql" and not keep:
            drop_pg_database(PG_DATABASE)


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.api_create", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", action="append", choices=("sqlite", "postgresql"),
                        help="repeatable; default: both")
    parser.add_argument("--requests", type=int, default=4000, help="measured requests")
    parser.add_argument("--warmup", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8, help="keep-alive connections")
    parser.add_argument("--workdir", type=Path, help="default: a temporary directory")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    parser.add_argument("--quick", action="store_true", help="80 requests, for a smoke run")
    args = parser.parse_args(argv)
    configure_logging(level=logging.WARNING)
    if args.quick:
        args.requests, args.warmup, args.concurrency = 80, 10, 4
    out = [command_line("benchmarks.api_create", argv), machine_summary(),
           f"{args.requests} measured requests after {args.warmup} warm-up, "
           f"{args.concurrency} connections"]
    print("\n".join(out), flush=True)
    with tempfile.TemporaryDirectory(prefix="zabota-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        for db in args.db or ["sqlite", "postgresql"]:
            result = run_one(db, workdir, requests=args.requests, warmup=args.warmup,
                             concurrency=args.concurrency, keep=args.keep)
            lines = result.lines()
            print("\n".join(lines), flush=True)
            out.extend(lines)
    return "\n".join(out)


if __name__ == "__main__":
    main()

