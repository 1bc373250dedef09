"""The audit log is a hash chain: edits and deletions are detected and located."""
from __future__ import annotations

import threading

from sqlalchemy import text

from core.audit import record_audit, verify_chain
from core.db import db
from tests.conftest import T0


def _record(session, n, actor="tracer1"):
    for i in range(n):
        record_audit(session=session, now=T0, actor=actor, action="export.visits",
                     details={"venue": "DEMO", "i": i, "name": "Nguyễn"}, row_count=i,
                     file_sha256="ab" * 32)
        session.commit()


def test_intact_chain_verifies(session):
    _record(session, 3)
    check = verify_chain(session=session)
    assert check.ok and check.checked == 3


def test_editing_a_row_breaks_the_chain_there(session):
    _record(session, 4)
    session.execute(text("UPDATE audit_event SET row_count = 999 WHERE seq = 2"))
    session.commit()
    check = verify_chain(session=session)
    assert not check.ok
    assert (check.broken_at_seq, check.reason) == (2, "content")


def test_deleting_a_row_is_detected(session):
    _record(session, 4)
    session.execute(text("DELETE FROM audit_event WHERE seq = 3"))
    session.commit()
    check = verify_chain(session=session)
    assert (check.ok, check.broken_at_seq, check.reason) == (False, 3, "missing")


def test_deleting_the_newest_row_is_detected(session):
    _record(session, 3)
    session.execute(text("DELETE FROM audit_event WHERE seq = 3"))
    session.commit()
    check = verify_chain(session=session)
    assert not check.ok and check.reason == "truncated"


def test_concurrent_writers_never_fork_the_chain(app, session):
    errors = []

    def writer(k):
        try:
            with db.new_session(app) as own:
                _record(own, 5, actor=f"writer{k}")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    check = verify_chain(session=session)
    assert check.ok and check.checked == 20
