"""The engine under load: SQLite writers of one process queue on a lock (not on SQLite's polling
busy handler) while readers go on; PostgreSQL connections are not pinged on every checkout, and a
lost connection costs at most one refused request."""
from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.db import create_engine_for_url, database_fault, sqlite_write_lock
from tests.support.databases import dialect, scratch_database

sqlite_only = pytest.mark.skipif(dialect() != "sqlite", reason="SQLite's writer lock")
postgresql_only = pytest.mark.skipif(dialect() != "postgresql", reason="PostgreSQL connections")


@pytest.fixture
def engine(tmp_path):
    with scratch_database(tmp_path) as url:
        engine = create_engine_for_url(url, busy_timeout_s=30)
        with engine.begin() as connection:
            connection.execute(sa.text("CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT)"))
        yield engine
        engine.dispose()


def wait_until(condition, what: str) -> None:
    event = threading.Event()
    for _ in range(3000):
        if condition():
            return
        event.wait(0.01)
    raise AssertionError(f"timed out waiting until {what}")


@sqlite_only
def test_a_second_writer_waits_on_the_process_lock_not_on_sqlite(engine):
    """SQLite's own wait is switched off (busy_timeout 0) on the second writer's connection: had
    it reached SQLite while the first writer held the lock, it would fail at once with "database
    is locked". It waits on the process lock instead and writes the moment the first commits,
    while a reader is served throughout."""
    first = engine.connect()
    first.execute(sa.text("INSERT INTO note (body) VALUES ('first')"))  # holds the write lock
    lock = sqlite_write_lock(engine.url.database)
    assert lock.locked()

    second = engine.connect()
    second.exec_driver_sql("PRAGMA busy_timeout=0")
    outcome = {}

    def write():
        try:
            second.execute(sa.text("INSERT INTO note (body) VALUES ('second')"))
            second.commit()
            outcome["ok"] = True
        except Exception as exc:  # reported below
            outcome["error"] = exc

    writer = threading.Thread(target=write)
    writer.start()
    try:
        # The second writer is blocked (not failed) while the first holds the lock…
        wait_until(lambda: writer.is_alive() and lock.locked(), "the second writer waits")
        assert "error" not in outcome and "ok" not in outcome
        # …and readers are not: WAL readers see the last commit (not the first's open insert).
        with engine.connect() as reader:
            assert reader.execute(sa.text("SELECT count(*) FROM note")).scalar_one() == 0
        first.commit()
        writer.join(timeout=30)
    finally:
        first.close()
    assert outcome == {"ok": True}
    second.close()
    assert not lock.locked()
    with engine.connect() as reader:
        bodies = reader.execute(sa.text("SELECT body FROM note ORDER BY id")).scalars().all()
    assert bodies == ["first", "second"]


OTHER_PROCESS_WRITER = """
import sys
import sqlalchemy as sa
from core.db import create_engine_for_url
engine = create_engine_for_url(sys.argv[1], busy_timeout_s=30)
with engine.connect() as connection:
    connection.execute(sa.text("INSERT INTO note (body) VALUES ('other process')"))
    print("holding", flush=True)
    sys.stdin.readline()
    connection.commit()
"""


@sqlite_only
def test_a_writer_waits_for_another_process_on_the_file_lock_not_on_sqlite(engine):
    """Another process (a sibling gunicorn worker, a CLI job) holds the write lock: our writer,
    with SQLite's own wait switched off, waits on the file lock beside the database and writes
    once the other commits, instead of failing with "database is locked"."""
    with subprocess.Popen(
            [sys.executable, "-c", OTHER_PROCESS_WRITER, str(engine.url)],
            cwd=Path(__file__).resolve().parents[2], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True) as other:
        try:
            assert other.stdout.readline().strip() == "holding"
            second = engine.connect()
            second.exec_driver_sql("PRAGMA busy_timeout=0")
            outcome = {}

            def write():
                try:
                    second.execute(sa.text("INSERT INTO note (body) VALUES ('this process')"))
                    second.commit()
                    outcome["ok"] = True
                except Exception as exc:  # reported below
                    outcome["error"] = exc

            writer = threading.Thread(target=write)
            writer.start()
            lock = sqlite_write_lock(engine.url.database)
            wait_until(lambda: writer.is_alive() and lock.locked(), "our writer waits")
            assert outcome == {}
            other.stdin.write("commit\n")
            other.stdin.flush()
            writer.join(timeout=30)
            assert outcome == {"ok": True}
            second.close()
        finally:
            if other.poll() is None:
                other.stdin.close()
                other.wait(timeout=30)
    with engine.connect() as reader:
        bodies = reader.execute(sa.text("SELECT body FROM note ORDER BY id")).scalars().all()
    assert bodies == ["other process", "this process"]


@sqlite_only
def test_reads_take_no_lock_and_a_failed_write_gives_it_back(engine):
    lock = sqlite_write_lock(engine.url.database)
    with engine.connect() as connection:
        connection.execute(sa.text("SELECT count(*) FROM note")).scalar_one()
        assert not lock.locked()
        with pytest.raises(sa.exc.OperationalError):
            connection.execute(sa.text("INSERT INTO no_such_table VALUES (1)"))
        connection.rollback()
        assert not lock.locked()
        connection.execute(sa.text("INSERT INTO note (body) VALUES ('x')"))
        assert lock.locked()
        connection.rollback()
    assert not lock.locked()


@sqlite_only
def test_many_threads_writing_at_once_all_succeed(engine):
    def write(n):
        with engine.begin() as connection:
            connection.execute(sa.text("INSERT INTO note (body) VALUES (:b)"), {"b": str(n)})

    threads = [threading.Thread(target=write, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with engine.connect() as reader:
        assert reader.execute(sa.text("SELECT count(*) FROM note")).scalar_one() == 40


def backend_pids(engine) -> list[int]:
    pids = []
    for record in list(engine.pool._pool.queue):  # the idle connections in the pool
        pids.append(record.dbapi_connection.info.backend_pid)
    return pids


def terminate(engine, pids) -> None:
    admin = create_engine_for_url(engine.url.render_as_string(hide_password=False))
    with admin.connect() as connection:
        for pid in pids:
            connection.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    admin.dispose()


@postgresql_only
def test_busy_connections_are_not_pinged(engine, monkeypatch):
    pings = []
    original = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping",
                        lambda conn: pings.append(1) or original(conn))
    for _ in range(20):
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1")).scalar_one()
    assert pings == []


@postgresql_only
def test_a_lost_connection_costs_at_most_one_request(engine):
    with engine.connect() as connection:
        connection.execute(sa.text("SELECT 1")).scalar_one()
    terminate(engine, backend_pids(engine))  # the server restarted, or a proxy cut it
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1")).scalar_one()
    except sa.exc.DBAPIError as lost:
        assert database_fault(lost) == "database_unavailable"  # a clear 503 for the caller
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT 1")).scalar_one() == 1


@postgresql_only
def test_an_idle_connection_is_checked_before_use(tmp_path):
    with scratch_database(tmp_path) as url:
        engine = create_engine_for_url(url, idle_check_after_s=0)
        try:
            with engine.connect() as connection:
                connection.execute(sa.text("SELECT 1")).scalar_one()
            terminate(engine, backend_pids(engine))
            with engine.connect() as connection:  # replaced at checkout: no error at all
                assert connection.execute(sa.text("SELECT 1")).scalar_one() == 1
        finally:
            engine.dispose()
