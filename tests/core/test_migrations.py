"""Migrations: an empty database migrates to head, matches the models exactly, and goes back down.
Runs on whichever database the suite targets (SQLite, or PostgreSQL in CI's second pass)."""
from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from app import import_models
from core.cli import alembic_config
from core.db import create_engine_for_url
from tests.support.databases import scratch_database

import_models()  # every table on SQLModel.metadata


def _diff(url):
    engine = create_engine_for_url(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(context, SQLModel.metadata)
    finally:
        engine.dispose()


def _tables(url):
    engine = create_engine_for_url(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_head_matches_models_and_downgrade_removes_everything(tmp_path):
    with scratch_database(tmp_path) as url:
        config = alembic_config(url)
        command.upgrade(config, "head")
        assert _diff(url) == []
        assert set(SQLModel.metadata.tables) <= _tables(url)

        command.downgrade(config, "base")
        assert _tables(url) - {"alembic_version"} == set()

        command.upgrade(config, "head")  # and back up again, cleanly
        assert _diff(url) == []


def test_single_head():
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1, "migrations have diverged: add a merge revision"
