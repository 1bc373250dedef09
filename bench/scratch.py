"""Shared by the check-in, contact and export benchmarks: scratch databases (a PostgreSQL database
made for the run and dropped after it, or a SQLite file in a temporary folder) migrated to the
real schema with the project's own Alembic migrations, and the row shape of bench/run.py."""
from __future__ import annotations

import contextlib
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
_made = 0


def postgres_admin_url() -> str:
    """The server the benchmarks make their scratch databases on (its own database untouched)."""
    return os.environ.get("BENCH_POSTGRES_URL") or DEFAULT_POSTGRES


def _with_database(url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=name).render_as_string(hide_password=False)


@contextlib.contextmanager
def scratch_postgres(label: str) -> Iterator[str]:
    """A new, empty PostgreSQL database `khaibao_bench_<label>_<pid>_<n>`, dropped afterwards."""
    import psycopg
    from sqlalchemy.engine import make_url

    global _made
    _made += 1
    name = f"khaibao_bench_{label}_{os.getpid()}_{_made}"
    admin = make_url(postgres_admin_url())
    conninfo = dict(host=admin.host or "127.0.0.1", port=admin.port or 5432,
                    user=admin.username or "postgres", password=admin.password or None,
                    dbname=admin.database or "postgres", autocommit=True)
    with psycopg.connect(**conninfo) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(postgres_admin_url(), name)
    finally:
        with psycopg.connect(**conninfo) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def scratch_sqlite(label: str) -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix=f"khaibao-bench-{label}-") as folder:
        yield f"sqlite:///{folder}/bench.db"


def migrate(url: str) -> None:
    """The real schema: the project's Alembic migrations, to head."""
    from alembic import command

    from app import import_models
    from core.cli import alembic_config

    import_models()  # every table on SQLModel.metadata

    command.upgrade(alembic_config(url), "head")


def psycopg_url(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as libpq understands it (for COPY through psycopg)."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    return u.set(drivername="postgresql").render_as_string(hide_password=False)


def percentile(values, p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values) -> float:
    return statistics.median(values)


def row(figure: str, *, how: str, target: str, measured: str, comparison: str, met,
        data: dict, miss: str | None = None, note: str | None = None) -> dict:
    out = {"figure": figure, "how": how, "target": target, "measured": measured,
           "comparison": comparison, "met": met, "data": data}
    if miss:
        out["miss"] = miss
    if note:
        out["note"] = note
    return out


def failed_row(figure: str, *, how: str, target: str, error: str) -> dict:
    return row(figure, how=how, target=target, measured="not measured", comparison="",
               met=None, data={}, miss=f"could not be measured: {error}")
