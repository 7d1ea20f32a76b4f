"""Engine and sessions: SQLite in WAL mode by default, PostgreSQL by configuration."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from typing import Any, TypeVar, cast

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import (
    DeclarativeBase,
    InstanceState,
    Mapper,
    Session,
    make_transient_to_detached,
    sessionmaker,
)
from sqlalchemy.orm.attributes import set_committed_value

from zabota.core.clock import as_utc

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


T = TypeVar("T")


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC in and out on every backend (SQLite stores no zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: sa.JSON()}  # noqa: RUF012


BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _json_text(value: Any) -> str:
    # JSON columns (history, outbox, custom fields) are written on every change: orjson
    # takes a tenth of json.dumps' time, and keeps non-Latin text as UTF-8 instead of
    # \u escapes. Reading stays with json.loads, which also accepts older rows' NaN.
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def make_engine(url: str, **kwargs: Any) -> Engine:
    kwargs.setdefault("json_serializer", _json_text)
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )
        _tune_sqlite(engine)
        return engine
    return sa.create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True, **kwargs)


WRITER_WAIT_SECONDS = 30
BUSY_TIMEOUT_MS = 30_000


class WriterBusy(Exception):
    """SQLite's write lock is held elsewhere and the caller asked not to wait for it
    (execution option `sqlite_nowait`)."""


def _tune_sqlite(engine: Engine) -> None:
    # pysqlite opens transactions behind SQLAlchemy's back and never for SELECT, which
    # breaks SAVEPOINT and lets a read transaction fail to upgrade to a write under load.
    # We switch that off and emit BEGIN ourselves (SQLAlchemy's documented recipe).
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        # SQLite's own lower() folds only ASCII; «Ольга» must match «ольга» as on PostgreSQL.
        dbapi_connection.create_function("lower", 1, _lower, deterministic=True)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.close()

    # The threads of one process queue for SQLite's single write lock on a Python lock:
    # SQLite's busy handler polls with sleeps of up to 100 ms, so a freed lock could sit
    # idle while every waiter slept. Other processes (the worker) still meet busy_timeout.
    writer = threading.Lock()

    @event.listens_for(engine, "begin")
    def on_begin(connection: sa.Connection) -> None:
        # IMMEDIATE takes the write lock up front, so two writers queue on busy_timeout
        # instead of one failing with "database is locked" when it upgrades.
        options = connection.get_execution_options()
        mode = options.get("sqlite_begin", "IMMEDIATE")
        if mode == "IMMEDIATE" and options.get("sqlite_nowait"):
            _begin_nowait(connection)
            return
        if mode == "IMMEDIATE":
            # A thread already writing through another connection gets SQLite's own
            # verdict after the timeout rather than waiting here for ever.
            held = writer.acquire(timeout=WRITER_WAIT_SECONDS)
            connection.info["zabota_writer"] = held
        try:
            connection.exec_driver_sql(f"BEGIN {mode}")
        except BaseException:
            _release(connection)
            raise

    def _begin_nowait(connection: sa.Connection) -> None:
        # For a caller that must not block (the event loop): the write lock now or
        # WriterBusy, whether a thread of ours or another process holds it.
        if not writer.acquire(blocking=False):
            raise WriterBusy
        connection.info["zabota_writer"] = True
        raw = cast(sqlite3.Connection, connection.connection.driver_connection)
        try:
            raw.execute("PRAGMA busy_timeout=0")
            try:
                raw.execute("BEGIN IMMEDIATE")
            finally:
                raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        except sqlite3.OperationalError as exc:
            _release(connection)
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                raise
            raise WriterBusy from exc
        except BaseException:
            _release(connection)
            raise

    def _release(connection: sa.Connection) -> None:
        if connection.info.pop("zabota_writer", False):
            writer.release()

    event.listen(engine, "commit", lambda connection: _release(connection))
    event.listen(engine, "rollback", lambda connection: _release(connection))


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def is_sqlite(session_or_engine: Session | Engine | sa.Connection) -> bool:
    if isinstance(session_or_engine, Session):
        return session_or_engine.get_bind().dialect.name == "sqlite"
    return session_or_engine.dialect.name == "sqlite"


def race_guard(session: Session) -> AbstractContextManager[object]:
    """A savepoint around an insert that may lose a race for a unique key to another writer
    (the caller catches `IntegrityError` and reads the winner's row).

    On SQLite a write transaction began IMMEDIATE and holds the database's only write lock,
    so nobody can insert between our read and our write, and the savepoint (two statements
    and a snapshot of the session) would guard nothing: there it is skipped. An error that
    still happens then fails the whole transaction, as any unexpected error does."""
    connection = session.connection()
    if connection.dialect.name == "sqlite" and connection.get_execution_options().get(
            "sqlite_begin", "IMMEDIATE") == "IMMEDIATE":
        return nullcontext()
    return session.begin_nested()


def keep(session: Session, obj: T) -> T:
    """Hold `obj` for the session's life. The identity map holds objects weakly, so a row
    read twice in one unit of work (a team by the router, then by the transfer, then by the
    explanation) is queried again once the first reader let go of it."""
    session.info.setdefault("kept", []).append(obj)
    return obj


def scalar_now(session: Session, statement: sa.Executable, params: dict[str, Any]) -> Any:
    """`session.scalar` for a read of plain table columns on a busy path: the statement runs
    on the session's connection, past the ORM's execution layer (17 µs against 35 µs for a
    one-row read on SQLite). Pending changes are flushed first, as autoflush would."""
    if session.autoflush and (session.new or session.dirty or session.deleted):
        session.flush()
    return session.connection().scalar(statement, params)


_LATER = "db.insert_later"


def insert_later(session: Session, statement: sa.Insert | sa.TextClause,
                 row: dict[str, Any]) -> None:
    """Insert an append-only row (history, outbox, a new search row) that nothing reads
    back in this transaction: at once, or, in a session that `defer_inserts` prepared,
    with the rows of the same statement in one `executemany` before the commit."""
    pending: dict[Any, list[dict[str, Any]]] | None = session.info.get(_LATER)
    if pending is None:
        session.connection().execute(statement, row)
    else:
        pending.setdefault(statement, []).append(row)


def defer_inserts(session: Session) -> None:
    """From now on `insert_later` collects its rows; `write_deferred` writes them."""
    session.info[_LATER] = {}


def write_deferred(session: Session) -> None:
    pending: dict[Any, list[dict[str, Any]]] = session.info.pop(_LATER, {})
    for statement, rows in pending.items():
        session.connection().execute(statement, rows)


_INSERTS: dict[type[Any], tuple[Any, tuple[tuple[str, str], ...]]] = {}


def insert_now(session: Session, obj: T, **loaded: object) -> T:
    """Write a new object with one `INSERT … RETURNING` and put it in the session as a row
    already written, instead of leaving it to the unit of work.

    For rows written once on a busy path (a new ticket, its new customer): flushing one
    object costs the unit of work 6–8 times what the INSERT itself does (a customer with its
    e-mail identity: 330 µs against 45 µs on SQLite). The object gets every column as
    stored (defaults included); `loaded` sets relationships whose contents are known (an
    empty list for a new parent), so reading them needs no query. No flush events fire for
    it: use this only for objects no session hook watches."""
    cls = type(obj)
    cached = _INSERTS.get(cls)
    if cached is None:
        mapper: Mapper[Any] = sa.inspect(cls)  # type: ignore[assignment]
        table = cast(sa.Table, mapper.local_table)
        pairs = tuple((prop.key, prop.columns[0].key) for prop in mapper.column_attrs)
        statement = sa.insert(table).returning(*(table.c[column] for _attr, column in pairs))
        cached = _INSERTS[cls] = (statement, pairs)
    statement, pairs = cached
    state: InstanceState[Any] = sa.inspect(obj)  # type: ignore[assignment]
    values = {column: state.dict[attr] for attr, column in pairs if attr in state.dict}
    row = session.connection().execute(statement, values).one()
    for (attr, _column), value in zip(pairs, row, strict=True):
        set_committed_value(obj, attr, value)
    for name, value in loaded.items():
        set_committed_value(obj, name, value)
    make_transient_to_detached(obj)
    session.add(obj)
    return obj


def refresh_statistics(engine: Engine, *, full: bool = False) -> None:
    """Planner statistics for SQLite: `ANALYZE` after bulk loads, `PRAGMA optimize` otherwise."""
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE" if full else "PRAGMA optimize")


class Database:
    """The engine and session factory of one process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        sqlite = url.startswith("sqlite")
        # Reads on SQLite take no write lock, so GETs never wait behind a writer.
        read_engine = (
            self.engine.execution_options(sqlite_begin="DEFERRED") if sqlite else self.engine)
        self.read_sessions = sessionmaker(read_engine, expire_on_commit=False)
        # Writes from the event loop itself, which must never sit waiting for a lock: on
        # SQLite they fail with WriterBusy instead (see web.batching).
        nowait_engine = self.engine.execution_options(sqlite_nowait=True) if sqlite else (
            self.engine)
        self.nowait_sessions = sessionmaker(nowait_engine, expire_on_commit=False)

    @contextmanager
    def session_scope(self) -> Iterator[Session]:
        """A unit of work for jobs and the CLI: commit on success, roll back on error."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


_database: Database | None = None


def get_database() -> Database:
    global _database
    if _database is None:
        from zabota.core.settings import get_settings

        settings = get_settings()
        if settings.sqlalchemy_url.startswith("sqlite"):
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        _database = Database(settings.sqlalchemy_url)
    return _database


def set_database(database: Database | None) -> None:
    global _database
    _database = database
