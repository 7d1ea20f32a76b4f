"""Full-text search on the ticket list: 1,000,000 tickets in PostgreSQL, 100,000 in SQLite.

    python -m benchmarks.search                      # both databases, full size
    python -m benchmarks.search --db sqlite --quick  # seconds

Uses the dataset of benchmarks/dataset.py (loaded once, shared with benchmarks/inbox.py)
and one server process. `GET /api/v1/tickets?q=…&limit=25` as the bench agent (permission
filter: own tickets or my teams') and as an admin (no filter), one request at a time, over a
mix of common and rare Russian and English terms, an order number and a term no ticket has.
Server-side latency from `Server-Timing: app;dur=`. Target: p95 ≤ 50 ms.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa

from benchmarks import dataset, texts
from benchmarks.harness import (
    DEFAULT_WORKDIR,
    Connection,
    Latencies,
    Server,
    check,
    command_line,
    cpu_seconds,
    database_version,
    drop_pg_database,
    machine_summary,
    pg_database_name,
    run_async,
)
from zabota.core.logging import configure_logging

TARGET_P95_MS = 50.0
SIZES = {"sqlite": 100_000, "postgresql": 1_000_000}
QUERIES = (
    "доставка",  # common: a quarter of all tickets
    "возврат денег",  # two terms, common
    "сбой транзакции",  # rare-ish
    "refund",  # English
    "принтер",  # rare
    "Не приходит код подтверждения",  # a whole subject, four terms
    "голограмма",  # no ticket has it
)


def order_numbers(url: str, tickets: int, count: int = 5) -> list[str]:
    """Order numbers quoted in tickets spread over the dataset (each in exactly one ticket)."""
    engine = sa.create_engine(url)
    found = []
    try:
        with engine.connect() as conn:
            for k in range(count):
                ticket_id = conn.execute(sa.text(
                    "SELECT ticket_id FROM messages WHERE ticket_id >= :low AND "
                    "(body_text LIKE '%Номер заказа:%' OR body_text LIKE '%Order number:%') "
                    "ORDER BY ticket_id LIMIT 1"), {"low": 1 + tickets * k // count}).scalar()
                if ticket_id is not None:
                    found.append(texts.order_number(int(ticket_id)))
    finally:
        engine.dispose()
    return found


async def measure(port: int, server_pid: int, token: str, role: str, queries: Sequence[str], *,
                  rounds: int, warmup: int) -> tuple[list[Latencies], Latencies, dict[str, int]]:
    per_query = {q: Latencies(f"{role}: q={q}") for q in queries}
    overall = Latencies(f"{role}: all queries")
    hits: dict[str, int] = {}
    connection = Connection(port, token)
    try:
        for n in range(warmup + rounds):
            if n == warmup:
                cpu = cpu_seconds(server_pid)
            for q in queries:
                response = check(await connection.request(
                    "GET", f"/api/v1/tickets?q={quote(q)}&limit=25"))
                hits[q] = len(response.json()["items"])
                if n >= warmup:
                    per_query[q].add(response)
                    overall.add(response)
    finally:
        await connection.close()
    overall.cpu_ms = (cpu_seconds(server_pid) - cpu) * 1000 / len(overall.server_ms)
    return list(per_query.values()), overall, hits


def run_one(db: str, tickets: int, workdir: Path, *, rounds: int, warmup: int,
            drop: bool) -> list[str]:
    url = dataset.default_url(db, tickets, workdir)
    server = Server(url, dataset.data_dir_for(url))
    if dataset.is_loaded(url, tickets):
        server.start()  # boots while the schema is brought up to date
    try:
        report = dataset.ensure_dataset(url, tickets, verbose=False)
        lines = [f"{db}: {tickets:,} tickets, {database_version(url)}; {report.summary()}"]
        print(lines[0], flush=True)
        readers = dataset.issue_tokens(url)
        queries = [*QUERIES, *order_numbers(url, tickets, count=2)]
        with server:
            for role, token in (("agent", readers.agent_token), ("admin", readers.admin_token)):
                results, overall, hits = run_async(
                    measure, server.port, server.pid, token, role, queries, rounds=rounds,
                    warmup=warmup)
                for result in [*results, overall]:
                    q = result.name.partition("q=")[2]
                    shown = f" hits {hits[q]:>2}" if q else " " * 8
                    verdict = "ok" if result.p95_server() <= TARGET_P95_MS else "MISSED"
                    lines.append(f"  {result.row()}{shown}  [{verdict} ≤ {TARGET_P95_MS:.0f} ms]")
                    print(lines[-1], flush=True)
    finally:
        server.stop()
        if drop and db == "postgresql":
            drop_pg_database(pg_database_name(url))
    return lines


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.search", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", action="append", choices=("sqlite", "postgresql"),
                        help="repeatable; default: both")
    parser.add_argument("--tickets", type=int, help="default: 100,000 SQLite, 1,000,000 PG")
    parser.add_argument("--rounds", type=int, default=40, help="measured rounds of all queries")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR,
                        help="where the SQLite dataset is kept between runs")
    parser.add_argument("--drop", action="store_true", help="drop the PostgreSQL database after")
    parser.add_argument("--quick", action="store_true", help="1,000 tickets, 2 rounds")
    args = parser.parse_args(argv)
    configure_logging(level=logging.WARNING)
    if args.quick:
        args.tickets, args.rounds, args.warmup = args.tickets or 1000, 2, 1
    args.workdir.mkdir(parents=True, exist_ok=True)
    out = [command_line("benchmarks.search", argv), machine_summary()]
    print("\n".join(out), flush=True)
    for db in args.db or ["sqlite", "postgresql"]:
        out += run_one(db, args.tickets or SIZES[db], args.workdir, rounds=args.rounds,
                       warmup=args.warmup, drop=args.drop)
    return "\n".join(out)


if __name__ == "__main__":
    main()
