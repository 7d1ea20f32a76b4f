"""Web chat: many widget connections on one server process, message round trip visitor → agent.

    python -m benchmarks.chat                       # 500 connections
    python -m benchmarks.chat --connections 20      # a quick smoke

One server process (`zabota serve --no-with-worker`, uvicorn) on a fresh, migrated SQLite
database. This process opens one agent connection (the chats page's live channel,
`/agent/chats/live`, signed in with a session cookie) and N widget connections
(`/chat/ws`, each its own visitor) and keeps them all open. Then the visitors write at a
steady aggregate rate, in random order: first each visitor's opening message (which opens a
chat ticket), then further messages in the open chats. The round trip of a message is the
time from the visitor sending its frame to the agent's live channel delivering it (the
waiting-list frame that carries the message); the ack (stored, back to the visitor) is shown
beside it. Every message is checked to arrive exactly once, and the database to hold
exactly the messages sent.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from websockets.asyncio.client import ClientConnection, connect

from benchmarks import texts
from benchmarks.harness import (
    Server,
    command_line,
    cpu_seconds,
    database_version,
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
from zabota.tickets.models import AuthorKind, Channel, Message

TARGET_P99_MS = 100.0
WARM_UP = 20


@dataclass
class Setup:
    team_id: int
    agent_token: str


def prepare(url: str) -> Setup:
    """A team and an agent of it, signed in (the session cookie the chats page uses)."""
    database = Database(url)
    try:
        with database.session_scope() as session:
            team = identity.create_team(session, name="Интернет-магазин", actor=SYSTEM)
            agent = identity.create_user(session, email="chat@zabota.bench", name="Ирина",
                                         role=Role.AGENT, team_ids=[team.id], actor=SYSTEM)
            token = identity.issue_token_for(session, ttl=timedelta(hours=2), user_id=agent.id)
            return Setup(team.id, token)
    finally:
        database.dispose()


@dataclass
class Run:
    sent_at: dict[str, float] = field(default_factory=dict)
    round_trip_ms: dict[str, float] = field(default_factory=dict)
    ack_ms: dict[str, float] = field(default_factory=dict)
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)
    all_heard: asyncio.Event = field(default_factory=asyncio.Event)
    expected: int = 0


class Visitor:
    def __init__(self, number: int, run: Run) -> None:
        self.number = number
        self.run = run
        self.ws: ClientConnection | None = None
        self.count = 0
        self.reader: asyncio.Task[None] | None = None

    async def open(self, base: str, team_id: int) -> float:
        started = time.perf_counter()
        self.ws = await connect(f"{base}/chat/ws", max_size=2**20, open_timeout=60,
                                ping_interval=None)
        await self.ws.send(orjson.dumps({"type": "hello", "team": str(team_id), "lang": "ru"})
                           .decode())
        welcome = orjson.loads(await self.ws.recv())
        if welcome.get("type") != "welcome":
            raise RuntimeError(f"visitor {self.number}: {welcome}")
        self.reader = asyncio.create_task(self._read())
        return (time.perf_counter() - started) * 1000

    async def say(self, random_texts: random.Random) -> None:
        assert self.ws is not None
        self.count += 1
        client_id = f"b{self.number}x{self.count}"
        text = " ".join(texts.request_sentences(texts.pick_topic(random_texts), random_texts))
        self.run.sent_at[client_id] = time.perf_counter()
        await self.ws.send(orjson.dumps({"type": "message", "id": client_id, "text": text})
                           .decode())

    async def _read(self) -> None:
        assert self.ws is not None
        async for raw in self.ws:
            frame = orjson.loads(raw)
            if frame["type"] == "ack":
                self.run.ack_ms[frame["id"]] = (
                    time.perf_counter() - self.run.sent_at[frame["id"]]) * 1000
            elif frame["type"] == "error":
                self.run.errors.append(f"{frame.get('code')}: {frame.get('message')}")

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            self.reader.cancel()


async def agent_listens(ws: ClientConnection, run: Run) -> None:
    async for raw in ws:
        now = time.perf_counter()
        frame = orjson.loads(raw)
        if frame["type"] != "desk" or frame.get("event") != "message":
            continue
        client_id = frame["message"]["client_id"]
        if client_id in run.round_trip_ms:
            run.duplicates += 1
            continue
        run.round_trip_ms[client_id] = (now - run.sent_at[client_id]) * 1000
        if len(run.round_trip_ms) >= run.expected:
            run.all_heard.set()


async def drive(port: int, setup: Setup, *, connections: int, messages: int, rate: float,
                seed: int, server_pid: int) -> dict[str, Any]:
    base = f"ws://127.0.0.1:{port}"
    run = Run()
    agent = await connect(f"{base}/agent/chats/live", ping_interval=None, max_size=2**24,
                          additional_headers={"Cookie": f"zabota_session={setup.agent_token}"})
    ready = orjson.loads(await agent.recv())
    if ready.get("type") != "ready":
        raise RuntimeError(f"agent: {ready}")
    listener = asyncio.create_task(agent_listens(agent, run))
    # Warm-up (not counted): a few chats, so first-use costs (caches, lazy imports) are paid.
    warm = [Visitor(-1 - n, run) for n in range(WARM_UP)]
    await asyncio.gather(*(v.open(base, setup.team_id) for v in warm))
    run.expected = WARM_UP
    for visitor in warm:
        await visitor.say(random.Random(seed))
        await asyncio.sleep(1 / rate)
    await asyncio.wait_for(run.all_heard.wait(), 60)
    run.all_heard.clear()
    for visitor in warm:
        await visitor.close()
    counted_from = len(run.sent_at)
    visitors = [Visitor(n, run) for n in range(connections)]
    opened: list[float] = []
    for start in range(0, connections, 50):  # as browsers arrive, not all in one instant
        opened += await asyncio.gather(*(v.open(base, setup.team_id)
                                         for v in visitors[start:start + 50]))
    random_order = random.Random(seed)
    random_texts = random.Random(seed + 1)
    phases: list[tuple[str, list[str]]] = []
    cpu_before = cpu_seconds(server_pid)
    for phase in range(messages):
        order = list(visitors)
        random_order.shuffle(order)
        first_id = len(run.sent_at)
        run.expected += len(order)
        started = time.perf_counter()
        for k, visitor in enumerate(order):
            # A steady aggregate rate: each send at its planned time, never in a burst.
            delay = started + k / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await visitor.say(random_texts)
        try:
            await asyncio.wait_for(run.all_heard.wait(), 60)
        except TimeoutError:
            raise RuntimeError(f"heard {len(run.round_trip_ms)} of {run.expected} messages; "
                               f"errors: {run.errors[:5]}") from None
        run.all_heard.clear()
        ids = list(run.sent_at)[first_id:]
        phases.append(("first messages (each opens a chat)" if phase == 0
                       else "messages in open chats", ids))
    cpu_used = cpu_seconds(server_pid) - cpu_before
    await asyncio.sleep(0.2)  # late acks
    for visitor in visitors:
        await visitor.close()
    listener.cancel()
    await agent.close()
    return {"run": run, "phases": phases, "opened": opened, "cpu": cpu_used,
            "warm_up": list(run.sent_at)[:counted_from]}


def count_chat_messages(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            # The visitors' own: the bot's replies (a hand-off says a person comes) are not
            # what was sent.
            return int(conn.execute(sa.select(sa.func.count()).select_from(Message).where(
                Message.channel == Channel.CHAT,
                Message.author_kind == AuthorKind.CUSTOMER)).scalar() or 0)
    finally:
        engine.dispose()


def row(name: str, values: Sequence[float]) -> str:
    return (f"  {name:<40} n={len(values):>5}  p50 {percentile(values, .5):7.1f} ms"
            f"  p95 {percentile(values, .95):7.1f} ms  p99 {percentile(values, .99):7.1f} ms"
            f"  max {max(values):7.1f} ms")


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=500)
    parser.add_argument("--messages", type=int, default=3,
                        help="messages per visitor (the first opens the chat)")
    parser.add_argument("--rate", type=float, default=25.0,
                        help="messages per second from all visitors together")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    configure_logging(level=logging.WARNING)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="zabota-bench-chat-"))
    data_dir = workdir / "var"
    url = sqlite_url(workdir / "chat.db")
    migrate(url, data_dir)
    setup = prepare(url)
    lines = [command_line("benchmarks.chat", argv), machine_summary(),
             f"sqlite: {database_version(url)}; one uvicorn process (zabota serve "
             f"--no-with-worker); {args.connections} widget connections + 1 agent"]
    with Server(url, data_dir) as server:
        result = run_async(drive, server.port, setup, connections=args.connections,
                           messages=args.messages, rate=args.rate, seed=args.seed,
                           server_pid=server.pid)
    run: Run = result["run"]
    total = len(run.sent_at) - len(result["warm_up"])
    stored = count_chat_messages(url)
    lines.append(row(f"connect + hello ({args.connections} visitors)", result["opened"]))
    all_round_trips: list[float] = []
    for name, ids in result["phases"]:
        trips = [run.round_trip_ms[i] for i in ids]
        all_round_trips += trips
        lines.append(row(f"visitor → agent, {name}", trips))
    lines.append(row("visitor → agent, all", all_round_trips))
    warm = set(result["warm_up"])
    lines.append(row("ack (stored, back to the visitor)",
                     [ms for key, ms in run.ack_ms.items() if key not in warm]))
    lines.append(f"  sent {total} messages at {args.rate:g}/s (after {WARM_UP} warm-up); agent "
                 f"heard {len(run.round_trip_ms) - WARM_UP} (duplicates {run.duplicates}); "
                 f"stored {stored - WARM_UP}; "
                 f"errors {len(run.errors)}; "
                 f"server CPU {result['cpu'] * 1000 / max(total, 1):.1f} ms per message")
    p99 = percentile(all_round_trips, .99)
    verdict = "met" if p99 <= TARGET_P99_MS else "missed"
    lines.append(f"  target p99 ≤ {TARGET_P99_MS:.0f} ms: {verdict} ({p99:.1f} ms)")
    if stored != total + WARM_UP or run.duplicates or run.errors:
        lines.append("  WARNING: messages lost, doubled or refused")
    out = "\n".join(lines)
    print(out)
    return out


if __name__ == "__main__":
    main()
