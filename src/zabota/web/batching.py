"""Group commit: write requests that arrive together share one transaction.

Creating a ticket is a short burst of inserts followed by a commit, and on SQLite every
writer queues for the database's single write lock anyway. So the requests that are ready
at the same moment are written one after the other in one session and committed once
(ADR 014): the commit, the transaction's set-up and the trip between threads are paid once
per batch instead of once per request.

Each request keeps its own outcome. When any request of a batch fails, the batch is rolled
back and every request of it runs again alone, in its own transaction, so one bad request
never costs the others their result, and the failing one gets exactly the error it would
have got on its own.

On SQLite a batch runs on the event loop itself: SQLite does no network I/O, and a thread
would only add the hop and the fight for the GIL. The loop never waits for the write lock:
the batch asks for it without waiting (`sqlite_nowait`) and, when another thread or process
holds it, goes to a thread that waits as any writer does. On PostgreSQL batches run in
threads, two at a time; requests arriving meanwhile form the next one.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import structlog
from sqlalchemy.orm import Session

from zabota.core.db import Database, WriterBusy, defer_inserts, write_deferred

log = structlog.get_logger()
T = TypeVar("T")

MAX_BATCH = 16  # bounds how long a batch holds the event loop (SQLite) or the write lock
PARALLEL_BATCHES = 2  # PostgreSQL: batches in flight at once

Work = Callable[[Session], T]
Recover = Callable[[Session, Exception], T]


@dataclass
class _Request(Generic[T]):
    work: Work[T]
    recover: Recover[T] | None
    context: contextvars.Context  # the request's own (language, log context)
    future: asyncio.Future[T]


@dataclass
class _Outcome:
    ok: bool
    value: Any


class WriteBatcher:
    """Runs `work(session)` for concurrent requests in shared transactions of one process."""

    def __init__(self, database: Database, *, max_batch: int = MAX_BATCH,
                 threads: int | None = None) -> None:
        self.database = database
        self.max_batch = max_batch
        self.inline = database.engine.dialect.name == "sqlite"
        # SQLite has one writer at a time anyway; PostgreSQL writes in parallel, and a batch
        # waiting for its round trips leaves the CPU to the next one.
        self.threads = threads or (1 if self.inline else PARALLEL_BATCHES)
        self._pending: list[_Request[Any]] = []
        self._scheduled = False  # a start is queued: newcomers join its batch
        self._running = 0  # batches in threads
        self.batches = 0  # counters for tests and inspection
        self.requests = 0

    async def run(self, work: Work[T], *, recover: Recover[T] | None = None) -> T:
        """The result of `work`, once the transaction it ran in has committed.

        `work` changes state through the session and never commits or rolls back. When it
        raised (or its batch failed) and it ran again alone, `recover`, if given, gets the
        error in a fresh transaction and may answer instead (or raise)."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append(_Request(work, recover, contextvars.copy_context(), future))
        self._kick()
        return await future

    def _kick(self) -> None:
        if self._pending and not self._scheduled and self._running < self.threads:
            self._scheduled = True
            # After the callbacks already ready: requests parsed meanwhile join the batch.
            asyncio.get_running_loop().call_soon(self._start)

    def _start(self) -> None:
        self._scheduled = False
        if not self._pending or self._running >= self.threads:
            return  # a finishing batch kicks again
        batch, self._pending = self._pending[:self.max_batch], self._pending[self.max_batch:]
        self.batches += 1
        self.requests += len(batch)
        if self.inline:
            try:
                outcomes = self._write(batch, nowait=True)
            except Exception as exc:  # every request's own error is in `outcomes`: a bug
                log.error("batch.failed", error=repr(exc))
                outcomes = [_Outcome(False, exc)] * len(batch)
            self._deliver(batch, outcomes)
            # Another writer holds the lock: the rest waits for it in a thread, not here.
            batch = [r for r, outcome in zip(batch, outcomes, strict=True) if outcome is None]
            if not batch:
                self._kick()  # whatever arrived while this batch ran is the next batch
                return
        self._running += 1
        done = asyncio.get_running_loop().run_in_executor(None, self._write, batch, False)
        done.add_done_callback(lambda finished: self._finished(batch, finished))
        self._kick()

    def _finished(self, batch: list[_Request[Any]],
                  finished: asyncio.Future[list[_Outcome | None]]) -> None:
        self._running -= 1
        exc = finished.exception()
        if exc is not None:  # _write reports every request's own error: this is a bug
            log.error("batch.failed", error=repr(exc))
            self._deliver(batch, [_Outcome(False, exc)] * len(batch))
        else:
            self._deliver(batch, finished.result())
        self._kick()

    @staticmethod
    def _deliver(batch: list[_Request[Any]], outcomes: list[_Outcome | None]) -> None:
        for request, outcome in zip(batch, outcomes, strict=True):
            if outcome is None or request.future.done():
                continue  # not written yet, or the client went away (its change stands)
            if outcome.ok:
                request.future.set_result(outcome.value)
            else:
                request.future.set_exception(outcome.value)

    def _write(self, batch: list[_Request[Any]], nowait: bool) -> list[_Outcome | None]:
        """Each request's outcome; None for those not run because the lock was taken
        (only when `nowait`)."""
        sessions = self.database.nowait_sessions if nowait else self.database.sessions
        if len(batch) > 1:
            session = sessions()
            try:
                # History, outbox and new search rows of the whole batch: one executemany
                # per table before the commit.
                defer_inserts(session)
                values = [request.context.run(request.work, session) for request in batch]
                write_deferred(session)
                session.commit()
                return [_Outcome(True, value) for value in values]
            except WriterBusy:
                return [None] * len(batch)  # the lock is taken first: nothing was written
            except Exception as exc:
                session.rollback()
                log.info("batch.retried_alone", size=len(batch), error=type(exc).__name__)
            finally:
                session.close()
        outcomes: list[_Outcome | None] = []
        for request in batch:
            outcome = None if outcomes and outcomes[-1] is None else (
                self._write_alone(request, sessions))
            outcomes.append(outcome)
        return outcomes

    @staticmethod
    def _write_alone(request: _Request[Any], sessions: Callable[[], Session]
                     ) -> _Outcome | None:
        session = sessions()
        try:
            try:
                value = request.context.run(request.work, session)
                session.commit()
                return _Outcome(True, value)
            except WriterBusy:
                return None
            except Exception as exc:
                session.rollback()
                if request.recover is None:
                    return _Outcome(False, exc)
                try:
                    value = request.context.run(request.recover, session, exc)
                    session.commit()
                    return _Outcome(True, value)
                except Exception as again:
                    session.rollback()
                    return _Outcome(False, again)
        finally:
            session.close()
