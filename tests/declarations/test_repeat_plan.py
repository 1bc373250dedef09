"""Every submission asks whether the same one was just made (declarations.services._repeat_of).
That question must stay one index probe on the submission key, whatever the planner's
statistics say: with the key index counting rows from before keys existed (NULL), SQLite took
the submission-time index instead and read every declaration of the last minutes, at a busy
door thousands of rows per submission."""
from __future__ import annotations

from datetime import timedelta

from alembic import command as alembic_command
import pytest
import sqlalchemy as sa
from sqlmodel import Session

from core.cli import alembic_config
from core.db import create_engine_for_url
from declarations.services import _REPEAT_OF
from tests.conftest import T0


def _declarations(session, count: int) -> None:
    from declarations.models import Declaration
    from visits.models import Visitor

    visitor = Visitor(full_name="Phạm Thị Hoa", name_folded="pham thi hoa", created_at=T0,
                      updated_at=T0)
    session.add(visitor)
    session.flush()
    session.execute(sa.insert(Declaration), [{
        "visitor_id": visitor.id, "submitted_at": T0 - timedelta(seconds=n % 240),
        "lang": "vi", "source": "phone_form", "travel_14d": False, "symptoms": [],
        "exposures": [], "declared_for_other": False, "status": "clear",
        "rules_version": "default-1", "consent_processing": True,
        "consent_sensitive_health": True, "consent_text_version": "test", "consent_at": T0,
        "submission_key": None} for n in range(count)])
    session.commit()


def test_the_same_submission_is_looked_up_by_its_key_whatever_the_statistics_say(
        database_url, tmp_path):
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's planner: PostgreSQL chose the key index with or without it")
    # A database of its own: the statistics ANALYZE leaves would change other tests' plans.
    url = f"sqlite:///{tmp_path / 'plan.db'}"
    alembic_command.upgrade(alembic_config(url), "head")
    engine = create_engine_for_url(url)
    try:
        with Session(engine) as session:
            # Rows from before keys existed, all inside the duplicate window, then fresh
            # statistics (as ANALYZE leaves them): the key index, unfiltered, counted them all
            # under one value.
            _declarations(session, 3000)
            session.execute(sa.text("ANALYZE"))
            compiled = _REPEAT_OF.compile(engine)
            processed = compiled.construct_params({
                "key": "f" * 64, "since": T0 - timedelta(minutes=5),
                "until": T0 + timedelta(minutes=5)})
            plan = session.connection().exec_driver_sql(
                "EXPLAIN QUERY PLAN " + str(compiled),
                tuple(processed[name] for name in compiled.positiontup)).all()
    finally:
        engine.dispose()
    details = " ".join(row[-1] for row in plan)
    assert "USING INDEX ix_declaration_submission_key (submission_key=?)" in details, details
