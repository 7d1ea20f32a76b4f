"""Group commit (web.batching): tickets created together share a transaction, never a fate."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.conftest import TransactionalDatabase
from zabota.core.db import Database, WriterBusy
from zabota.core.outbox import OutboxEvent
from zabota.identity.models import Role
from zabota.tickets.models import Ticket, TicketEvent
from zabota.web.app import create_app
from zabota.web.batching import WriteBatcher


def body(n: int, **extra: Any) -> dict[str, Any]:
    return {"subject": f"Заказ {n} не доставлен", "customer": {"email": f"buyer{n}@example.org"},
            "message": {"text": f"Где мой заказ номер {n}?"}, **extra}


def run(coroutine: Any) -> Any:
    """`asyncio.run` in a thread of its own: the browser tests' sync API keeps a loop
    running in the main thread for the rest of the session."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def post_all(app: Any, requests: list[tuple[dict[str, str], dict[str, Any]]]
                   ) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://zabota") as client:
        # The tests' sessions share one connection, so the token is looked up (in a thread)
        # before the burst, not while a batch writes.
        await client.get("/api/v1/tickets?limit=1", headers=requests[0][0])
        return await asyncio.gather(*(client.post("/api/v1/tickets", headers=h, json=b)
                                      for h, b in requests))


@pytest.fixture
def app(connection, settings):
    app = create_app(settings, TransactionalDatabase(connection))
    # The tests' sessions share one connection: one batch at a time on PostgreSQL too.
    app.state.write_batcher = WriteBatcher(app.state.database, threads=1)
    return app


def test_concurrent_requests_share_batches_and_each_gets_its_ticket(
        app, make_agent, auth_headers, session):
    headers = auth_headers(make_agent(role=Role.ADMIN))
    responses = run(post_all(app, [(headers, body(n)) for n in range(12)]))

    assert [r.status_code for r in responses] == [201] * 12
    ids = [r.json()["id"] for r in responses]
    assert len(set(ids)) == 12
    for n, response in enumerate(responses):  # each answer is its own request's ticket
        assert response.json()["subject"] == f"Заказ {n} не доставлен"
    batcher: WriteBatcher = app.state.write_batcher
    assert batcher.requests == 12 and batcher.batches < 12
    stored = session.scalars(sa.select(Ticket.subject).where(Ticket.id.in_(ids))).all()
    assert sorted(stored) == sorted(f"Заказ {n} не доставлен" for n in range(12))
    # History, outbox and search rows of a batch are written together before its commit.
    kinds = session.execute(sa.select(TicketEvent.ticket_id, TicketEvent.kind).where(
        TicketEvent.ticket_id.in_(ids))).all()
    assert sorted(kinds) == sorted((i, k) for i in ids for k in ("created", "message_added"))
    topics = session.scalars(sa.select(OutboxEvent.topic).where(
        OutboxEvent.payload["ticket_id"].as_integer().in_(ids))).all()
    assert sorted(topics) == sorted(["message.created", "ticket.created"] * 12)
    found = TestClient(app).get("/api/v1/tickets?q=номер 7", headers=headers).json()["items"]
    assert [t["id"] for t in found] == [ids[7]]


def test_a_bad_request_fails_alone_in_its_own_language(app, make_agent, auth_headers, session):
    headers = auth_headers(make_agent(role=Role.ADMIN))
    english = {**headers, "Accept-Language": "en"}
    russian = {**headers, "Accept-Language": "ru"}
    blank = {"html": "<p>&nbsp;</p><img src=x>"}  # nothing left once sanitised
    requests = [(russian, body(1)),
                (english, body(2, message=blank)),
                (russian, body(3, message=blank)),
                (english, body(4, team_id=987654)),  # no such team
                (english, body(5))]
    responses = run(post_all(app, requests))

    assert [r.status_code for r in responses] == [201, 422, 422, 404, 201]
    assert responses[1].headers["content-type"].startswith("application/problem+json")
    assert responses[1].json()["errors"][0]["message"] == "Write what the request is about"
    assert responses[2].json()["errors"][0]["message"] == "Опишите суть обращения"
    assert responses[3].json()["title"] == "Team not found"
    subjects = session.scalars(sa.select(Ticket.subject).where(
        Ticket.subject.like("Заказ _ не доставлен"))).all()
    assert sorted(subjects) == ["Заказ 1 не доставлен", "Заказ 5 не доставлен"]


def test_the_same_key_twice_in_one_batch_creates_one_ticket(
        app, make_agent, auth_headers, session):
    headers = {**auth_headers(make_agent(role=Role.ADMIN)), "Idempotency-Key": "order-77"}
    first, second, other = run(post_all(app, [
        (headers, body(77)), (headers, body(77)),
        ({**headers, "Idempotency-Key": "order-78"}, body(78))]))

    assert first.status_code == second.status_code == other.status_code == 201
    assert first.json() == second.json()
    assert "idempotent-replayed" not in first.headers
    assert second.headers["Idempotent-Replayed"] == "true"
    assert other.json()["id"] != first.json()["id"]
    count = session.scalar(sa.select(sa.func.count()).select_from(Ticket).where(
        Ticket.subject == "Заказ 77 не доставлен"))
    assert count == 1


@pytest.fixture
def small_db(tmp_path) -> Iterator[Database]:
    """A SQLite file with one table `t (x UNIQUE)`, for the batcher on its own."""
    database = Database(f"sqlite:///{tmp_path / 'small.db'}")
    with database.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER UNIQUE)")
    yield database
    database.dispose()


def insert(value: int):
    """Work that inserts `value` and answers it with the name of the thread it ran on."""
    def work(session):
        session.execute(sa.text("INSERT INTO t VALUES (:x)"), {"x": value})
        return value, threading.current_thread().name
    return work


def stored(database: Database) -> list[int]:
    with database.engine.connect() as conn:
        return sorted(conn.exec_driver_sql("SELECT x FROM t").scalars())


def other_writer(database: Database) -> sqlite3.Connection:
    """Another process's writer, as SQLite sees it: it holds the write lock."""
    held = sqlite3.connect(str(database.engine.url.database), isolation_level=None,
                           check_same_thread=False)
    held.execute("BEGIN IMMEDIATE")
    return held


def test_sqlite_nowait_session_refuses_a_held_lock(small_db):
    held = other_writer(small_db)
    with small_db.nowait_sessions() as session, pytest.raises(WriterBusy):
        session.execute(sa.text("INSERT INTO t VALUES (1)"))
    held.execute("ROLLBACK")
    held.close()
    with small_db.nowait_sessions() as session:  # the lock is free again: no waiting
        session.execute(sa.text("INSERT INTO t VALUES (2)"))
        session.commit()
    assert stored(small_db) == [2]


def test_sqlite_batch_waits_for_a_held_lock_in_a_thread_not_on_the_event_loop(small_db):
    batcher = WriteBatcher(small_db)
    held = other_writer(small_db)

    async def scenario() -> tuple[list[tuple[int, str]], str]:
        writes = asyncio.gather(batcher.run(insert(1)), batcher.run(insert(2)))
        ticks = 0
        started = time.monotonic()
        while time.monotonic() - started < 0.3:  # the loop keeps running meanwhile
            await asyncio.sleep(0.01)
            ticks += 1
        assert ticks >= 10
        held.execute("ROLLBACK")
        return await writes, threading.current_thread().name

    answers, loop_thread = run(scenario())
    held.close()
    assert [value for value, _thread in answers] == [1, 2]
    assert all(thread != loop_thread for _value, thread in answers)
    assert stored(small_db) == [1, 2]


def test_each_request_runs_in_its_own_context_and_errors_stay_its_own(small_db):
    batcher = WriteBatcher(small_db)

    def recover(session, exc):
        return -1, "recovered"  # the duplicate answers instead of failing

    async def scenario() -> list[Any]:
        return await asyncio.gather(
            batcher.run(insert(1)), batcher.run(insert(1)),
            batcher.run(insert(1), recover=recover), batcher.run(insert(2)),
            return_exceptions=True)

    first, duplicate, recovered, second = run(scenario())
    assert (first[0], recovered[0], second[0]) == (1, -1, 2)
    assert isinstance(duplicate, sa.exc.IntegrityError)
    assert batcher.batches == 1 and batcher.requests == 4
    assert stored(small_db) == [1, 2]


def test_a_broken_database_fails_every_request_instead_of_leaving_it_waiting(small_db):
    batcher = WriteBatcher(small_db)

    def unavailable():
        raise RuntimeError("disk gone")

    small_db.nowait_sessions = unavailable  # type: ignore[assignment]

    async def scenario() -> list[Any]:
        return await asyncio.wait_for(asyncio.gather(
            batcher.run(insert(1)), batcher.run(insert(2)), return_exceptions=True), timeout=5)

    assert [str(r) for r in run(scenario())] == ["disk gone", "disk gone"]
