"""Database access: one engine per app, request-scoped sessions, UTC datetimes on every dialect.

SQLite (the kiosk's embedded default) runs in WAL mode with full fsync so that a check-in that
was acknowledged survives a power cut; PostgreSQL is selected with DATABASE_URL.
"""
from __future__ import annotations

import fcntl
import logging
import os
import secrets
import sqlite3
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import sqlalchemy as sa
from flask import Flask, current_app, g
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, SQLModel

logger = logging.getLogger(__name__)

# Stable constraint names, so migrations are reproducible on SQLite and PostgreSQL alike.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# A record's global identity: the same on every server of an installation (row ids are each
# database's own), random so that it cannot be guessed or enumerated, never reused. 96 bits: a
# personal QR code carries a visitor's in 12 bytes (declarations/tokens.py).
UID_LENGTH = 24


def new_uid() -> str:
    return secrets.token_hex(UID_LENGTH // 2)


def row_instance(model: type[SQLModel], values: dict) -> SQLModel:
    """A table model's instance from a row's column values as this server stored or computed
    them (a cached row, a row just inserted), built as SQLAlchemy builds a loaded row: no
    __init__, no validation, no defaults to work out (ten times cheaper than `model(**values)`
    on the hot paths). Transient: attach it (make_transient_to_detached, then Session.add) to
    use it as a loaded row."""
    manager = sa.orm.instrumentation.manager_of_class(model)
    if manager is None or not manager.mapper.configured:
        sa.orm.configure_mappers()
        manager = sa.orm.instrumentation.manager_of_class(model)
    instance = manager.new_instance()
    instance.__dict__.update(values)
    # What pydantic keeps beside the fields (repr, model_dump and copies need them).
    object.__setattr__(instance, "__pydantic_fields_set__", set(values))
    object.__setattr__(instance, "__pydantic_extra__", None)
    object.__setattr__(instance, "__pydantic_private__", None)
    return instance


def as_read(session: Session, model: type[SQLModel], values: dict) -> SQLModel:
    """The `model` row with these column values (a cached copy of it) as if this session had
    read it, without SQL: the session's own object when it holds that row already, else a new
    one attached (session.get finds it; a change to it is flushed as to any loaded row)."""
    present = session.identity_map.get(sa.orm.util.identity_key(model, values["id"]))
    if present is not None:
        return present
    instance = row_instance(model, values)
    sa.orm.make_transient_to_detached(instance)
    session.add(instance)
    return instance


_ROW_DEFAULTS: dict[type, tuple[dict, dict]] = {}


def new_row(model: type[SQLModel], **values) -> SQLModel:
    """A new table-model instance as `model(**values)` would make it (the fields' defaults and
    default factories for what `values` leaves out), built with row_instance: for rows the hot
    paths INSERT themselves and then attach as if read. Values are taken as given (the caller's
    own, already validated)."""
    defaults = _ROW_DEFAULTS.get(model)
    if defaults is None:
        constant, factories = {}, {}
        for name, field in model.model_fields.items():
            if field.default_factory is not None:
                factories[name] = field.default_factory
            elif not field.is_required():
                constant[name] = field.default
        defaults = _ROW_DEFAULTS[model] = (constant, factories)
    constant, factories = defaults
    made = {name: make() for name, make in factories.items() if name not in values}
    return row_instance(model, {**constant, **made, **values})


class UtcDateTime(sa.types.TypeDecorator):
    """A timezone-aware UTC datetime on every dialect.

    SQLite has no time zone type, so values are stored as naive UTC there and made aware again on
    the way out. Naive datetimes are refused on the way in: they are always a bug here.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime given to a UTC column; attach a time zone")
        value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)

    def __repr__(self) -> str:  # how Alembic renders the type in migrations
        return "UtcDateTime()"


def normalise_database_url(url: str) -> str:
    """Accept the URL forms people paste (postgres://, postgresql://) and pick psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


# The audit chain's head, signed with the instance secret, in the instance folder (core.audit).
AUDIT_ANCHOR_FILE = "audit_anchor"

# How long a SQLite writer waits for another one's lock (settings.DATABASE_BUSY_TIMEOUT_S).
DEFAULT_BUSY_TIMEOUT_S = 10.0
# /healthz asks for the write lock for this long at most: enough to see "busy", never a stall.
PROBE_BUSY_TIMEOUT_MS = 200


def _sqlite_pragmas(busy_timeout_s: float):
    busy_ms = max(0, int(busy_timeout_s * 1000))

    def on_connect(dbapi_connection, connection_record):
        cursor = dbapi_connection.cursor()
        # WAL lets the web threads read while the camera/BLE workers write; synchronous=FULL makes
        # an acknowledged commit survive power loss; busy_timeout turns lock contention into
        # waiting, up to a bound after which the caller gets a clear "busy, try again".
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        # Deleted rows are overwritten with zeros, not left in free pages for anyone who can
        # read the file (privacy deletion, retention purge).
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    return on_connect


# The database and its -wal/-shm files hold personal data: readable by the service account only.
# SQLite gives the -wal and -shm files the mode of the database file when it creates them.
PRIVATE_FILE_MODE = 0o600


def _sqlite_path(url: str) -> Path | None:
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def make_private(url: str) -> None:
    """Create the SQLite file (if new) and its companions readable by the owner only, and take
    group and other permissions off existing ones (a database made by an older version)."""
    path = _sqlite_path(url)
    if path is None:
        return
    if not path.exists():
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE_MODE))
        except FileNotFoundError:  # no such folder: SQLite says so when it connects
            return
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        try:
            if file.stat().st_mode & 0o077:
                file.chmod(PRIVATE_FILE_MODE)
        except FileNotFoundError:
            pass


def truncate_wal(session: Session) -> None:
    """After a privacy deletion or a purge: copy the WAL into the database (where secure_delete
    has zeroed the deleted rows) and cut the WAL file to nothing, so that no earlier version of
    a deleted page stays readable in it. PostgreSQL: nothing to do here (its files are the
    server's; VACUUM reclaims dead rows)."""
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        return
    with bind.connect() as connection:
        busy, _, _ = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
        connection.commit()
    if busy:
        logger.warning("WAL checkpoint after a deletion was blocked by a reader; the next one "
                       "will truncate it")


class _NoResultRows(logging.Filter):
    """SQLAlchemy's DEBUG logging prints every fetched row: names, ID numbers, answers. Someone
    turning SQL logging on to debug a kiosk must not copy personal data into its log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith("Row "))


def _keep_personal_data_out_of_sql_logs() -> None:
    engine_logger = logging.getLogger("sqlalchemy.engine.Engine")
    if not any(isinstance(f, _NoResultRows) for f in engine_logger.filters):
        engine_logger.addFilter(_NoResultRows())


# --- SQLite writers: one at a time, waiting on a lock rather than polling ----------------------
# SQLite's busy handler makes a waiting writer sleep and retry (up to 100 ms a nap), which under a
# rush of check-ins gives second-long tails. Writers of one process (web threads, the camera and
# BLE workers) queue on a lock instead and start the moment the previous one commits; writers of
# several processes (sync gunicorn workers, CLI jobs, timers) take an advisory file lock beside
# the database as well, tried again every fraction of a millisecond. The busy timeout bounds the
# whole wait, and still covers anything that writes without these locks.
_WRITE_STARTS = ("INSERT", "UPDATE", "DELETE", "REPLACE")
_write_locks: dict[str, _WriterLock] = {}
_write_locks_guard = threading.Lock()
# How often a writer waiting on another process looks again: from 0.2 ms, doubling, to 2 ms.
_FILE_LOCK_FIRST_WAIT_S, _FILE_LOCK_LONGEST_WAIT_S = 0.0002, 0.002


class _WriterLock:
    """The writer lock of one database file: a thread lock, then (across processes) `flock` on
    `<database>-writer.lock`. Where that file cannot be made (a read-only folder), SQLite's own
    busy wait is what serialises processes, as before."""

    def __init__(self, path: str):
        self._thread_lock = threading.Lock()
        self._path = path + "-writer.lock"
        self._fd: int | None = None
        self._pid: int | None = None  # a descriptor inherited across fork() shares its lock
        self._holds_file = False
        self._no_file = False

    def locked(self) -> bool:
        return self._thread_lock.locked()

    def acquire(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        if not self._thread_lock.acquire(timeout=timeout):
            return False
        if self._lock_file(deadline):
            return True
        self._thread_lock.release()
        return False

    def release(self) -> None:
        if self._holds_file:
            self._holds_file = False
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._thread_lock.release()

    def _lock_file(self, deadline: float) -> bool:
        fd = self._descriptor()
        if fd is None:
            return True
        wait = _FILE_LOCK_FIRST_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._holds_file = True
                return True
            except BlockingIOError:
                pass
            if time.monotonic() >= deadline:
                return False
            time.sleep(wait)
            wait = min(wait * 2, _FILE_LOCK_LONGEST_WAIT_S)

    def _descriptor(self) -> int | None:
        if self._no_file:
            return None
        if self._fd is None or self._pid != os.getpid():
            try:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                self._no_file = True
                logger.warning("SQLite writer lock file unavailable (%s): processes wait on "
                               "SQLite's busy handler", exc.strerror)
                return None
            self._pid = os.getpid()
        return self._fd


def sqlite_write_lock(path: str) -> _WriterLock:
    """The process-wide writer lock of one database file."""
    key = os.path.realpath(path)
    with _write_locks_guard:
        lock = _write_locks.get(key)
        if lock is None:
            lock = _write_locks[key] = _WriterLock(key)
        return lock


def _is_write(sql: str) -> bool:
    return sql.lstrip()[:7].upper().startswith(_WRITE_STARTS)


def _serialised_connection_class(lock: _WriterLock, timeout_s: float):
    class SerialisedConnection(sqlite3.Connection):
        """Reads run outside any transaction (as pysqlite does by default); the first write
        takes the process's writer lock, then BEGIN IMMEDIATE, and both are given back when the
        transaction ends (commit, rollback, or a failed start)."""

        _holds_write_lock = False

        def cursor(self, factory=None):
            return super().cursor(factory or SerialisedCursor)

        def _before(self, sql: str) -> None:
            if self._holds_write_lock or self.in_transaction or self.isolation_level is None:
                return
            if not _is_write(sql):
                return
            if not lock.acquire(timeout=max(timeout_s, 0.001)):
                raise sqlite3.OperationalError("database is locked")
            self._holds_write_lock = True
            try:
                sqlite3.Connection.execute(self, "BEGIN IMMEDIATE")
            except BaseException:
                self._release()
                raise

        def _release(self) -> None:
            if self._holds_write_lock and not self.in_transaction:
                self._holds_write_lock = False
                lock.release()

        def commit(self):
            try:
                return super().commit()
            finally:
                self._release()

        def rollback(self):
            try:
                return super().rollback()
            finally:
                self._release()

        def close(self):
            try:
                if self.in_transaction:
                    super().rollback()
            finally:
                self._release()
                super().close()

    class SerialisedCursor(sqlite3.Cursor):
        def execute(self, sql, parameters=()):
            connection = self.connection
            connection._before(sql)
            try:
                return super().execute(sql, parameters)
            finally:
                connection._release()  # only when no transaction is left open

        def executemany(self, sql, seq_of_parameters):
            connection = self.connection
            connection._before(sql)
            try:
                return super().executemany(sql, seq_of_parameters)
            finally:
                connection._release()

    return SerialisedConnection


# A pooled PostgreSQL connection unused for this long is checked with a round trip before it is
# handed out (a server restart or an idle-connection cut in between); a busy one is not, so the
# hot path pays nothing. A connection that breaks in use is thrown away with the rest of the pool
# (SQLAlchemy invalidates it on a disconnect error); that request answers 503, the next one
# reconnects.
IDLE_CHECK_AFTER_S = 10.0


def _check_idle_connections(engine: Engine, idle_s: float) -> None:
    @sa.event.listens_for(engine, "checkin")
    def _note_checkin(dbapi_connection, connection_record):
        connection_record.info["khaibao_idle_since"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _check_if_idle(dbapi_connection, connection_record, connection_proxy):
        since = connection_record.info.get("khaibao_idle_since")
        if since is None or time.monotonic() - since < idle_s:
            return
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
            dbapi_connection.rollback()
        except Exception as exc:
            # The pool throws this connection away and hands out a fresh one.
            raise sa.exc.DisconnectionError("idle connection lost") from exc


# PostgreSQL: connecting gives up after this long, and a statement running longer is cancelled
# (settings.DATABASE_CONNECT_TIMEOUT_S / DATABASE_STATEMENT_TIMEOUT_S).
DEFAULT_CONNECT_TIMEOUT_S = 5
DEFAULT_STATEMENT_TIMEOUT_S = 30


def create_engine_for_url(url: str, *, pool_size: int = 10,
                          busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
                          idle_check_after_s: float = IDLE_CHECK_AFTER_S,
                          connect_timeout_s: int = DEFAULT_CONNECT_TIMEOUT_S,
                          statement_timeout_s: int | None = None) -> Engine:
    """The engine for `url`. The app passes its statement timeout; migrations and benchmarks
    (long bulk statements by design) run without one."""
    # hide_parameters: statement parameters are personal data; keep them out of SQL logs and of
    # the text of database errors (which end up in logger.exception).
    _keep_personal_data_out_of_sql_logs()
    url = normalise_database_url(url)
    if url.startswith("sqlite"):
        make_private(url)
        connect_args = {"check_same_thread": False, "timeout": busy_timeout_s}
        path = make_url(url).database
        if path and path != ":memory:" and not path.startswith("file:"):
            connect_args["factory"] = _serialised_connection_class(
                sqlite_write_lock(path), busy_timeout_s)
        engine = sa.create_engine(
            url,
            connect_args=connect_args,
            pool_size=pool_size,
            max_overflow=20,
            hide_parameters=True,
        )
        sa.event.listen(engine, "connect", _sqlite_pragmas(busy_timeout_s))
        return engine
    # A server that is gone or a link that went silent must not hang a request for minutes:
    # bounded connect, and statements cancelled by the server past the statement timeout.
    connect_args = {"connect_timeout": max(1, int(connect_timeout_s))}
    if statement_timeout_s:
        connect_args["options"] = f"-c statement_timeout={int(statement_timeout_s * 1000)}"
    engine = sa.create_engine(url, pool_size=pool_size, max_overflow=20, hide_parameters=True,
                              connect_args=connect_args)
    _check_idle_connections(engine, idle_check_after_s)
    return engine


# --- Database faults: a locked database, a full disk, a lost server --------------------------
# Codes of the faults a caller can do something about (wait, free space, call someone); anything
# else stays an unexpected error.
DATABASE_BUSY = "database_busy"
STORAGE_FULL = "storage_full"
STORAGE_ERROR = "storage_error"
DATABASE_UNAVAILABLE = "database_unavailable"

_SQLITE_FAULTS = (
    ("database is locked", DATABASE_BUSY),
    ("database table is locked", DATABASE_BUSY),
    ("database or disk is full", STORAGE_FULL),
    ("disk i/o error", STORAGE_ERROR),
    ("unable to open database file", DATABASE_UNAVAILABLE),
)
# PostgreSQL SQLSTATEs (class 08 = connection exceptions, handled by prefix).
_POSTGRES_FAULTS = {
    "53100": STORAGE_FULL,          # disk_full
    "55P03": DATABASE_BUSY,         # lock_not_available
    "40P01": DATABASE_BUSY,         # deadlock_detected
    "57P01": DATABASE_UNAVAILABLE,  # admin_shutdown
    "57P02": DATABASE_UNAVAILABLE,  # crash_shutdown
    "57P03": DATABASE_UNAVAILABLE,  # cannot_connect_now
}


def database_fault(exc: BaseException) -> str | None:
    """The fault code of a database error the caller can wait out or report, else None.
    Looks at the driver's error, never at SQL text or parameters (they may hold personal data)."""
    if not isinstance(exc, sa.exc.DBAPIError):
        return None
    orig = exc.orig
    module = type(orig).__module__ if orig is not None else ""
    if module.startswith("sqlite3"):
        message = str(orig).lower()
        for needle, code in _SQLITE_FAULTS:
            if needle in message:
                return code
        return None
    if module.startswith("psycopg"):
        state = getattr(orig, "sqlstate", None)
        if state is None or state.startswith("08"):
            # No SQLSTATE: the connection failed or broke before the server could answer.
            return DATABASE_UNAVAILABLE if isinstance(exc, (sa.exc.OperationalError,
                                                            sa.exc.InterfaceError)) else None
        return _POSTGRES_FAULTS.get(state)
    if exc.connection_invalidated:
        return DATABASE_UNAVAILABLE
    return None


class Database:
    """Flask extension: `db.init_app(app)`; `db.session` inside a request; `db.new_session()`
    for CLI commands and background threads (each batch opens its own)."""

    def init_app(self, app: Flask) -> None:
        url = app.config["DATABASE_URL"]
        app.extensions["db"] = _State(
            url, busy_timeout_s=app.config.get("DATABASE_BUSY_TIMEOUT_S", DEFAULT_BUSY_TIMEOUT_S),
            connect_timeout_s=app.config.get("DATABASE_CONNECT_TIMEOUT_S",
                                             DEFAULT_CONNECT_TIMEOUT_S),
            statement_timeout_s=app.config.get("DATABASE_STATEMENT_TIMEOUT_S",
                                               DEFAULT_STATEMENT_TIMEOUT_S))
        # Every session carries where the audit chain's head is anchored outside the database
        # and the key that signs it (core.audit keeps the anchor up to date after each commit).
        app.extensions["db"].session_info = {
            "audit_anchor_path": str(Path(app.instance_path) / AUDIT_ANCHOR_FILE),
            "audit_anchor_key": str(app.config.get("SECRET_KEY") or ""),
        }
        app.teardown_appcontext(self._teardown)

    @staticmethod
    def _state(app: Flask | None = None) -> "_State":
        return (app or current_app).extensions["db"]

    def engine(self, app: Flask | None = None) -> Engine:
        return self._state(app).engine

    @property
    def session(self) -> Session:
        """The session of the current app context, closed (and rolled back) at teardown."""
        if "db_session" not in g:
            g.db_session = Session(self.engine(), expire_on_commit=False,
                                   info=dict(self._state().session_info))
        return g.db_session

    @contextmanager
    def new_session(self, app: Flask | None = None) -> Iterator[Session]:
        session = Session(self.engine(app), expire_on_commit=False,
                          info=dict(self._state(app).session_info))
        try:
            yield session
        finally:
            session.close()

    @staticmethod
    def _teardown(exc):
        session = g.pop("db_session", None)
        if session is not None:
            session.close()

    def dispose(self, app: Flask | None = None) -> None:
        self._state(app).dispose()

    def note_fault(self, code: str, app: Flask | None = None) -> None:
        """A write failed with `code` (database_fault): /healthz says so until a commit works."""
        self._state(app).fault = code

    def fault(self, app: Flask | None = None) -> str | None:
        """The last write fault noted and not yet cleared by a commit (no I/O: cheap to poll)."""
        return self._state(app).fault

    def health(self, app: Flask | None = None) -> str:
        """ok | busy (another writer holds the lock) | error: <fault or error type>."""
        state = self._state(app)
        try:
            with state.engine.connect() as connection:
                connection.execute(sa.text("SELECT 1")).scalar_one()
                if connection.dialect.name == "sqlite" and not _sqlite_can_write(connection):
                    return "busy"
        except Exception as exc:  # an unreachable database is a state to report, not a crash
            code = database_fault(exc)
            logger.warning("health check: database %s", code or type(exc).__name__)
            if code == DATABASE_BUSY:
                return "busy"
            return f"error: {code or type(exc).__name__}"
        fault = state.fault
        if fault == DATABASE_BUSY:  # the probe just took the lock: that fault is over
            state.fault = fault = None
        return f"error: {fault}" if fault else "ok"


def _sqlite_can_write(connection: sa.Connection) -> bool:
    """Take the write lock for a moment (and give it back at once): False when another
    connection holds it for longer than the probe waits. Readers are never blocked in WAL mode,
    so a plain SELECT would call a locked database healthy."""
    raw = connection.connection.dbapi_connection
    cursor = raw.cursor()
    (busy_ms,) = cursor.execute("PRAGMA busy_timeout").fetchone()
    cursor.execute(f"PRAGMA busy_timeout={min(busy_ms, PROBE_BUSY_TIMEOUT_MS)}")
    try:
        cursor.execute("BEGIN IMMEDIATE")
    except raw.OperationalError as exc:
        if "locked" in str(exc).lower():
            return False
        raise
    else:
        cursor.execute("ROLLBACK")
    finally:
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.close()
    return True


class _State:
    """Lazily creates the engine: building the app never opens a connection."""

    def __init__(self, url: str, *, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
                 connect_timeout_s: int = DEFAULT_CONNECT_TIMEOUT_S,
                 statement_timeout_s: int | None = DEFAULT_STATEMENT_TIMEOUT_S):
        self.url = normalise_database_url(url)
        self.busy_timeout_s = busy_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.statement_timeout_s = statement_timeout_s
        self.fault: str | None = None  # the last write fault, until a commit succeeds
        self.session_info: dict = {}
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            engine = create_engine_for_url(self.url, busy_timeout_s=self.busy_timeout_s,
                                           connect_timeout_s=self.connect_timeout_s,
                                           statement_timeout_s=self.statement_timeout_s)
            sa.event.listen(engine, "commit", self._committed)
            self._engine = engine
        return self._engine

    def _committed(self, connection) -> None:
        self.fault = None

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


db = Database()


def dialect_name(session: Session) -> str:
    return session.get_bind().dialect.name
