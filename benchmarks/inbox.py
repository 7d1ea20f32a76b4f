"""An agent's inbox and ticket page at scale: 1,000,000 tickets in PostgreSQL, 100,000 in SQLite.

    python -m benchmarks.inbox                      # both databases, full size
    python -m benchmarks.inbox --db sqlite --quick  # seconds

Loads the dataset (benchmarks/dataset.py) unless the database already holds it, starts one
server process (`zabota serve --no-with-worker`) and, one request at a time, measures as the
bench agent (member of two teams; the permission filter is "own tickets or my teams'"):

- the first page of the team inbox: `GET /tickets?status=open&status=new&team_id=T&limit=25`
- the default view, every team of the agent: `GET /tickets?status=open&status=new&limit=25`
- everything visible, no filter: `GET /tickets?limit=25`
- a ticket page with 50 messages: `GET /tickets/{id}` and `GET /tickets/{id}/messages`

Server-side latency is the app's own `Server-Timing: app;dur=` header; the client round trip
is shown next to it. Target: p95 ≤ 30 ms server-side.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks import dataset
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

TARGET_P95_MS = 30.0
SIZES = {"sqlite": 100_000, "postgresql": 1_000_000}
PathFor = Callable[[int], str]


async def measure(connection: Connection, name: str, path_for: PathFor, *, requests: int,
                  warmup: int, server_pid: int,
                  check_body: Callable[[object], None] | None = None) -> Latencies:
    latencies = Latencies(name)
    for n in range(warmup + requests):
        if n == warmup:
            cpu = cpu_seconds(server_pid)
        response = check(await connection.request("GET", path_for(n)))
        if check_body is not None:
            check_body(response.json())
        if n >= warmup:
            latencies.add(response)
    latencies.cpu_ms = (cpu_seconds(server_pid) - cpu) * 1000 / requests
    return latencies


def _has_items(body: object) -> None:
    assert isinstance(body, dict) and body["items"], "an empty inbox measures nothing"


def _has_long_conversation(body: object) -> None:
    assert isinstance(body, list) and len(body) == dataset.LONG_MESSAGES, "not a 50-message page"


async def scenarios(port: int, server_pid: int, readers: dataset.Readers, tickets: int, *,
                    requests: int, warmup: int) -> list[Latencies]:
    teams = readers.agent_team_ids
    long_ids = dataset.long_ticket_ids(tickets)
    agent = Connection(port, readers.agent_token)
    try:
        results = [
            await measure(agent, "inbox: team, status open+new",
                          lambda n: f"/api/v1/tickets?status=open&status=new&team_id="
                                    f"{teams[n % len(teams)]}&limit=25",
                          requests=requests, warmup=warmup, server_pid=server_pid,
                          check_body=_has_items),
            await measure(agent, "inbox: my teams + mine, status open+new",
                          lambda n: "/api/v1/tickets?status=open&status=new&limit=25",
                          requests=requests, warmup=warmup, server_pid=server_pid,
                          check_body=_has_items),
            await measure(agent, "inbox: everything visible, no filter",
                          lambda n: "/api/v1/tickets?limit=25",
                          requests=requests, warmup=warmup, server_pid=server_pid,
                          check_body=_has_items),
        ]
        ticket = Latencies("ticket page: GET /tickets/{id}")
        messages = Latencies("ticket page: GET /tickets/{id}/messages (50)")
        page = Latencies("ticket page: both requests")
        for n in range(warmup + requests):
            if n == warmup:
                cpu = cpu_seconds(server_pid)
            ticket_id = long_ids[n % len(long_ids)]
            first = check(await agent.request("GET", f"/api/v1/tickets/{ticket_id}"))
            second = check(await agent.request("GET", f"/api/v1/tickets/{ticket_id}/messages"))
            _has_long_conversation(second.json())
            if n >= warmup:
                ticket.add(first)
                messages.add(second)
                page.server_ms.append(first.server_ms + second.server_ms)
                page.client_ms.append((first.seconds + second.seconds) * 1000)
        page.cpu_ms = (cpu_seconds(server_pid) - cpu) * 1000 / requests
        return [*results, ticket, messages, page]
    finally:
        await agent.close()


def run_one(db: str, tickets: int, workdir: Path, *, requests: int, warmup: int,
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
        with server:
            results = run_async(scenarios, server.port, server.pid, readers, tickets,
                                requests=requests, warmup=warmup)
        for result in results:
            verdict = "ok" if result.p95_server() <= TARGET_P95_MS else "MISSED"
            lines.append(f"  {result.row()}  [{verdict} ≤ {TARGET_P95_MS:.0f} ms]")
            print(lines[-1], flush=True)
    finally:
        server.stop()
        if drop and db == "postgresql":
            drop_pg_database(pg_database_name(url))
    return lines


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.inbox", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", action="append", choices=("sqlite", "postgresql"),
                        help="repeatable; default: both")
    parser.add_argument("--tickets", type=int, help="default: 100,000 SQLite, 1,000,000 PG")
    parser.add_argument("--requests", type=int, default=300, help="measured per scenario")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR,
                        help="where the SQLite dataset is kept between runs")
    parser.add_argument("--drop", action="store_true", help="drop the PostgreSQL database after")
    parser.add_argument("--quick", action="store_true", help="1,000 tickets, 10 requests")
    args = parser.parse_args(argv)
    configure_logging(level=logging.WARNING)
    if args.quick:
        args.tickets, args.requests, args.warmup = args.tickets or 1000, 10, 2
    args.workdir.mkdir(parents=True, exist_ok=True)
    out = [command_line("benchmarks.inbox", argv), machine_summary()]
    print("\n".join(out), flush=True)
    for db in args.db or ["sqlite", "postgresql"]:
        out += run_one(db, args.tickets or SIZES[db], args.workdir, requests=args.requests,
                       warmup=args.warmup, drop=args.drop)
    return "\n".join(out)


if __name__ == "__main__":
    main()
