"""Database access: one engine per app, request-scoped sessions, UTC datetimes on every dialect.

SQLite (the kiosk's embedded default) runs in WAL mode with full fsync so that a check-in that
was acknowledged survives a power cut; PostgreSQL is selected with DATABASE_URL.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from datetime import datetime, timezone
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


def _sqlite_pragmas(dbapi_connection, connection_record):
    cursor = dbapi_connection.cursor()
    # WAL lets the web threads read while the camera/BLE workers write; synchronous=FULL makes an
    # acknowledged commit survive power loss; busy_timeout turns lock contention into waiting.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class _NoResultRows(logging.Filter):
    """SQLAlchemy's DEBUG logging prints every fetched row: names, ID numbers, answers. Someone
    turning SQL logging on to debug a kiosk must not copy personal data into its log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith("Row "))


def _keep_personal_data_out_of_sql_logs() -> None:
    engine_logger = logging.getLogger("sqlalchemy.engine.Engine")
    if not any(isinstance(f, _NoResultRows) for f in engine_logger.filters):
        engine_logger.addFilter(_NoResultRows())


def create_engine_for_url(url: str, *, pool_size: int = 10) -> Engine:
    # hide_parameters: statement parameters are personal data; keep them out of SQL logs and of
    # the text of database errors (which end up in logger.exception).
    _keep_personal_data_out_of_sql_logs()
    url = normalise_database_url(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 10},
            pool_size=pool_size,
            max_overflow=20,
            hide_parameters=True,
        )
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(url, pool_size=pool_size, max_overflow=20, pool_pre_ping=True,
                            hide_parameters=True)


class Database:
    """Flask extension: `db.init_app(app)`; `db.session` inside a request; `db.new_session()`
    for CLI commands and background threads (each batch opens its own)."""

    def init_app(self, app: Flask) -> None:
        url = app.config["DATABASE_URL"]
        app.extensions["db"] = _State(url)
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
            g.db_session = Session(self.engine(), expire_on_commit=False)
        return g.db_session

    @contextmanager
    def new_session(self, app: Flask | None = None) -> Iterator[Session]:
        session = Session(self.engine(app), expire_on_commit=False)
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


class _State:
    """Lazily creates the engine: building the app never opens a connection."""

    def __init__(self, url: str):
        self.url = normalise_database_url(url)
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = create_engine_for_url(self.url)
        return self._engine

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


db = Database()


def dialect_name(session: Session) -> str:
    return session.get_bind().dialect.name
