"""Retention purge on the real database: personal data older than the window goes, whole days are
kept as counts, foreign keys hold, every purge is audited; the daily job inside `kiosk run`."""
from __future__ import annotations

from datetime import date, datetime, timezone
from types import SimpleNamespace

import pytest
from sqlmodel import select

from ble_beacon.models import Encounter
from core.audit import verify_chain
from core.models import AuditEvent
from declarations.models import Declaration
from kiosk.runtime import build_workers
from tracing import counts, purge
from tracing.contacts import LOCAL_TZ
from tracing.folding import fold_name
from tracing.models import DailyVenueStat
from tracing.worker import RetentionWorker
from visits.models import Visit, Visitor


def at(month, day, hh=0, mm=0):
    return datetime(2026, month, day, hh, mm, tzinfo=LOCAL_TZ).astimezone(timezone.utc)


NOW = at(3, 31, 10)            # with 21 days kept, the cut is 10 March 00:00 in Hà Nội
CUTOFF = at(3, 10)


@pytest.fixture
def history(session, clock, make_venue, make_visitor, make_visit):
    """Old and new data, with every link that could trip a foreign key."""
    clock.set(NOW)
    a = make_venue(code="A")
    b = make_venue(code="B")
    phones = iter(range(100))

    def person(name, created, **extra):
        return make_visitor(full_name=name, name_folded=fold_name(name), created_at=created,
                            updated_at=created, phone_e164=f"+8490000{next(phones):04d}",
                            **extra)

    def declare(who, when, **extra):
        fields = {"source": "kiosk", **extra}
        row = Declaration(visitor_id=who.id, venue_id=a.id, submitted_at=when, status="clear",
                          rules_version="r1", consent_processing=True,
                          consent_sensitive_health=True, consent_text_version="c1",
                          consent_at=when, **fields)
        session.add(row)
        session.commit()
        return row

    def heard(venue, rolling, first, last, visit=None):
        session.add(Encounter(venue_id=venue.id, protocol="bluezone", rolling_id=rolling,
                              first_seen_at=first, last_seen_at=last, count=3, rssi_min=-80,
                              rssi_max=-60, rssi_mean=-70.0, proximity="near",
                              visit_id=visit.id if visit else None))
        session.commit()

    old = person("Cũ Văn Xưa", at(3, 1))
    d_old = declare(old, at(3, 5, 9))
    v = make_visit(visitor=old, venue=a, checked_in_at=at(3, 5, 9), checked_out_at=at(3, 5, 10),
                   declaration_id=d_old.id)
    heard(a, "01" * 16, at(3, 5, 9), at(3, 5, 9, 30), visit=v)
    make_visit(visitor=old, venue=a, checked_in_at=at(3, 5, 14), checked_out_at=at(3, 5, 15))

    returning = person("Trở Lại", at(3, 2))
    declare(returning, at(3, 6, 8))
    make_visit(visitor=returning, venue=a, checked_in_at=at(3, 6, 8), checked_out_at=at(3, 6, 9))
    d_new = declare(returning, at(3, 20, 8))
    recent = make_visit(visitor=returning, venue=a, checked_in_at=at(3, 20, 8),
                        checked_out_at=at(3, 20, 9), declaration_id=d_new.id)
    heard(a, "02" * 16, at(3, 20, 8), at(3, 20, 8, 40), visit=recent)

    # Declared just before the cut, checked in just after it with that declaration.
    late = person("Nửa Đêm", at(3, 9))
    d_late = declare(late, at(3, 9, 23, 50))
    make_visit(visitor=late, venue=b, checked_in_at=at(3, 10, 0, 0), checked_out_at=None,
               declaration_id=d_late.id)
    # A renewal after the cut pointing to a declaration before it.
    renewing = person("Gia Hạn", at(3, 3))
    d_first = declare(renewing, at(3, 8, 10))
    declare(renewing, at(3, 15, 10), previous_declaration_id=d_first.id,
            source="reconfirmation")
    # One minute before local midnight: the 9th, purged; its phone first heard after midnight.
    before_midnight = person("Trước Nửa Đêm", at(3, 9))
    v = make_visit(visitor=before_midnight, venue=b, checked_in_at=at(3, 9, 23, 59),
                   checked_out_at=at(3, 10, 0, 30))
    heard(b, "03" * 16, at(3, 10, 0, 1), at(3, 10, 0, 20), visit=v)
    heard(b, "04" * 16, at(3, 9, 23, 50), at(3, 10, 0, 10))     # spans the cut: first seen before
    # A parent who declared for a child long ago; the child came back recently on their own.
    parent = person("Mẹ", at(3, 1))
    declare(parent, at(3, 2, 9))
    child = person("Con", at(3, 1), declarant_id=parent.id)
    make_visit(visitor=child, venue=a, checked_in_at=at(3, 25, 9), checked_out_at=at(3, 25, 10))
    # The other way round: an old child of a parent who is still around.
    parent2 = person("Bố", at(3, 1))
    make_visit(visitor=parent2, venue=b, checked_in_at=at(3, 28, 9), checked_out_at=at(3, 28, 10))
    child2 = person("Bé", at(3, 1), declarant_id=parent2.id)
    make_visit(visitor=child2, venue=b, checked_in_at=at(3, 4, 9), checked_out_at=at(3, 4, 10))
    return SimpleNamespace(a=a, b=b, old=old, returning=returning, late=late, renewing=renewing,
                           before_midnight=before_midnight, parent=parent, child=child,
                           parent2=parent2, child2=child2)


def test_purge_leaves_no_personal_data_from_before_the_window(session, history):
    result = purge.purge_personal_data(session=session, now=NOW, days=21, actor="tester")
    assert result.cutoff == CUTOFF
    assert (result.visits, result.encounters, result.declarations) == (5, 2, 5)
    assert session.exec(select(Visit).where(Visit.checked_in_at < CUTOFF)).all() == []
    assert session.exec(select(Declaration).where(Declaration.submitted_at < CUTOFF)).all() == []
    assert session.exec(select(Encounter).where(Encounter.first_seen_at < CUTOFF)).all() == []
    names = set(session.exec(select(Visitor.full_name)))
    # Gone: people whose every visit and declaration was old (and who are nobody's declarant).
    assert names == {"Trở Lại", "Nửa Đêm", "Gia Hạn", "Mẹ", "Con", "Bố"}
    assert result.visitors == 3


def test_links_into_purged_rows_are_cut_not_left_dangling(session, history):
    purge.purge_personal_data(session=session, now=NOW, days=21, actor="tester")
    late_visit = session.exec(select(Visit).where(Visit.visitor_id == history.late.id)).one()
    assert late_visit.declaration_id is None             # its declaration was from the 9th
    renewal = session.exec(select(Declaration)
                           .where(Declaration.visitor_id == history.renewing.id)).one()
    assert renewal.previous_declaration_id is None
    phone = session.exec(select(Encounter).where(Encounter.rolling_id == "03" * 16)).one()
    assert phone.visit_id is None                        # heard after the cut: kept, unlinked
    child = session.get(Visitor, history.child.id)
    assert child.declarant_id == history.parent.id       # the parent is how the child is reached
    recent = session.exec(select(Encounter).where(Encounter.rolling_id == "02" * 16)).one()
    assert recent.visit_id is not None


def test_purged_days_are_kept_as_counts_and_reports_do_not_change(session, history):
    days = {"venue_ids": [history.a.id, history.b.id], "since_day": date(2026, 3, 1),
            "until_day": date(2026, 3, 31)}
    before = counts.daily_counts(session=session, **days)
    assert before[(history.a.id, date(2026, 3, 5))] == {"visits": 2, "visitors": 1,
                                                         "visitors_with_app": 1}
    purge.purge_personal_data(session=session, now=NOW, days=21, actor="tester")
    assert counts.daily_counts(session=session, **days) == before
    stats = {(s.venue_id, s.day): (s.visits, s.visitors, s.visitors_with_app, s.encounters)
             for s in session.exec(select(DailyVenueStat))}
    assert stats == {
        (history.a.id, date(2026, 3, 5)): (2, 1, 1, 1),
        (history.a.id, date(2026, 3, 6)): (1, 1, 0, 0),
        (history.b.id, date(2026, 3, 9)): (1, 1, 1, 1),   # linked phone was first heard the 10th
        (history.b.id, date(2026, 3, 4)): (1, 1, 0, 0),
    }
    # A second purge finds nothing new and changes no count.
    again = purge.purge_personal_data(session=session, now=NOW, days=21, actor="tester")
    assert again.total == 0
    assert counts.daily_counts(session=session, **days) == before
    assert len(session.exec(select(AuditEvent)).all()) == 1   # a run that deleted nothing


def test_each_purge_is_audited_with_its_counts(session, history):
    purge.purge_personal_data(session=session, now=NOW, days=21, actor="tester")
    event = session.exec(select(AuditEvent)).one()
    assert event.action == "retention.purge"
    assert event.details["cutoff"] == "2026-03-10T00:00:00+07:00"
    assert event.details["visits"] == 5 and event.details["visitors"] == 3
    assert event.row_count == 5 + 2 + 5 + 3
    assert verify_chain(session=session).ok


def test_purge_command_uses_the_configured_retention(runner, session, history, app):
    app.config["RETENTION_DAYS"] = 30
    result = runner.invoke(args=["purge"])
    assert result.exit_code == 0, result.output
    assert "0 visits" in result.output      # 30 days back from 31 March: nothing that old
    result = runner.invoke(args=["purge", "--days", "21"])
    assert result.exit_code == 0, result.output
    assert "5 visits, 2 encounters, 5 declarations, 3 visitors" in result.output
    assert runner.invoke(args=["purge", "--days", "0"]).exit_code == 2


def test_the_daily_job_is_part_of_kiosk_run_and_purges_at_start(app, session, history):
    workers = {w.name: w for w in build_workers(app)}
    worker = workers["retention"]
    assert isinstance(worker, RetentionWorker)
    worker.start()
    try:
        _wait_for(lambda: worker.runs >= 1)
        assert worker.status() == "ok"
        assert worker.last_result.visits == 5
    finally:
        worker.stop()
    assert worker.status() == "stopped"
    assert session.exec(select(AuditEvent.actor)).all() == ["system:retention"]


def test_a_failing_purge_is_reported_not_raised(app, history, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(purge, "purge_personal_data", broken)
    worker = RetentionWorker(app)
    assert worker.run_once() is None
    assert worker.status() == "error: RuntimeError"


def _wait_for(condition, timeout=20.0):
    """Poll a condition (the worker's thread sets it) instead of sleeping a fixed time."""
    import threading
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        threading.Event().wait(0.05)


def test_the_adoption_report_shows_the_same_old_counts_after_purge(runner, history):
    """`report adoption` (the BLE feature's report) reads the kept counts for purged days."""
    import json

    args = ["report", "adoption", "--since", "2026-03-01", "--until", "2026-03-31"]
    before = runner.invoke(args=args)
    assert before.exit_code == 0, before.output
    assert runner.invoke(args=["purge", "--days", "21"]).exit_code == 0
    after = runner.invoke(args=args)
    assert after.exit_code == 0, after.output
    assert json.loads(after.stdout) == json.loads(before.stdout)
    rows = {(r["venue"], r["day"]): (r["visits"], r["visitors"], r["visitors_with_app"])
            for r in json.loads(after.stdout)["rows"]}
    assert rows[("A", "2026-03-05")] == (2, 1, 1)
