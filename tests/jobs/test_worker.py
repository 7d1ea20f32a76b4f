"""The real server and the real `zabota worker`, on SQLite/PostgreSQL and SqliteHuey/RedisHuey:
an API call's outbox events are delivered by the worker after commit."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from zabota.core import outbox
from zabota.core.clock import FrozenClock
from zabota.core.db import Database
from zabota.identity import service as identity
from zabota.identity.models import Role
from zabota.identity.permissions import SYSTEM

ZABOTA = [sys.executable, "-m", "zabota.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(condition, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(params=["sqlite-queue", "redis-queue"])
def environment(request, committed_db_url, tmp_path: Path):
    env = {**os.environ, "ZABOTA_DATABASE_URL": committed_db_url,
           "ZABOTA_DATA_DIR": str(tmp_path / "var"), "ZABOTA_SECRET_KEY": "s"}
    env.pop("ZABOTA_REDIS_URL", None)
    if request.param == "redis-queue":
        env["ZABOTA_REDIS_URL"] = request.getfixturevalue("redis_url")
    return env


def test_worker_delivers_what_the_api_wrote(environment, committed_db_url, tmp_path):
    database = Database(committed_db_url)
    with database.session_scope() as session:
        admin = identity.create_user(session, email="a@example.com", name="A", role=Role.ADMIN,
                                     actor=SYSTEM)
        token = identity.issue_token_for(session, ttl=timedelta(hours=1), user_id=admin.id)
    port = free_port()
    logs = [(tmp_path / "server.log").open("wb"), (tmp_path / "worker.log").open("wb")]
    procs = [
        subprocess.Popen([*ZABOTA, "serve", "--port", str(port), "--no-with-worker"],
                         env=environment, stdout=logs[0], stderr=subprocess.STDOUT),
        subprocess.Popen([*ZABOTA, "worker", "--workers", "2"], env=environment,
                         stdout=logs[1], stderr=subprocess.STDOUT),
    ]
    try:
        base = f"http://127.0.0.1:{port}"

        def server_ready() -> bool:
            try:
                return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(server_ready, timeout=30, what="the server")
        created = httpx.post(f"{base}/api/v1/tickets",
                             headers={"Authorization": f"Bearer {token}"},
                             json={"subject": "Outbox", "customer": {"email": "c@example.org"},
                                   "message": {"text": "hello"}}, timeout=10)
        assert created.status_code == 201, created.text

        def delivered() -> bool:
            with database.read_sessions() as s:
                rows = s.execute(sa.select(outbox.OutboxEvent.topic,
                                           outbox.OutboxEvent.delivered_at)).all()
            return bool(rows) and all(at is not None for _topic, at in rows)

        wait_until(delivered, timeout=30, what="the worker to deliver the outbox")
        with database.read_sessions() as s:
            topics = sorted(s.scalars(sa.select(outbox.OutboxEvent.topic)))
        assert topics == ["message.created", "ticket.created"]
    except AssertionError:
        for log in logs:
            log.flush()
            print(Path(log.name).read_text(errors="replace")[-3000:])
        raise
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()  # reaped: no zombie, no ResourceWarning later
        for log in logs:
            log.close()
        database.dispose()


def test_failing_handler_retries_then_dead_letters_then_replays(session, frozen_clock):
    calls: list[str] = []

    @outbox.subscribe("test.flaky")
    def flaky(_session, row) -> None:
        calls.append(row.event_id)
        raise RuntimeError("receiver down")

    try:
        row = outbox.OutboxEvent(event_id="e-1", topic="test.flaky", payload={},
                                 created_at=frozen_clock.now(),
                                 next_attempt_at=frozen_clock.now())
        session.add(row)
        session.flush()
        for _ in range(3):
            assert outbox.dispatch_pending(session, max_attempts=3, clock=frozen_clock) == 0
            frozen_clock.advance(timedelta(minutes=10))
        assert (row.attempts, row.dead_at is not None) == (3, True)
        assert "receiver down" in row.last_error
        assert outbox.dispatch_pending(session, max_attempts=3, clock=frozen_clock) == 0
        assert len(calls) == 3

        outbox._handlers[:] = [h for h in outbox._handlers if h[2] is not flaky]
        assert outbox.replay_dead(session, [row.id], clock=frozen_clock) == 1
        session.refresh(row)
        assert outbox.dispatch_pending(session, clock=FrozenClock(frozen_clock.now())) == 1
        assert row.delivered_at is not None and row.dead_at is None
    finally:
        outbox._handlers[:] = [h for h in outbox._handlers if h[2] is not flaky]
