"""The threads of one process take turns for SQLite's write lock, and a failed or abandoned
write transaction lets the next writer in at once."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from zabota.core.db import make_engine


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'writers.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    yield engine
    engine.dispose()


def test_concurrent_writers_all_land(engine):
    def write(n: int) -> None:
        for i in range(5):
            with engine.begin() as conn:
                conn.exec_driver_sql("INSERT INTO t VALUES (?)", (n * 10 + i,))
                time.sleep(0.002)  # hold the lock a little, as a real request does

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 40


def _next_write_seconds(engine) -> float:
    done = threading.Event()

    def write() -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        done.set()

    started = time.perf_counter()
    threading.Thread(target=write).start()
    assert done.wait(timeout=10)
    return time.perf_counter() - started


def test_a_failed_write_transaction_lets_the_next_writer_in(engine):
    with pytest.raises(sa.exc.OperationalError), engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO missing VALUES (1)")

    assert _next_write_seconds(engine) < 2


def test_a_connection_closed_mid_transaction_lets_the_next_writer_in(engine):
    conn = engine.connect()
    conn.begin()
    conn.exec_driver_sql("INSERT INTO t VALUES (2)")
    conn.close()  # never committed: rolled back

    assert _next_write_seconds(engine) < 2
    with engine.connect() as check:
        assert check.exec_driver_sql("SELECT count(*) FROM t WHERE x = 2").scalar() == 0
