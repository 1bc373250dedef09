"""Tracing services on the real database: the scenario, search, index use, audit."""
from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlmodel import select

from core.models import AuditEvent
from tests.support.databases import dialect
from tests.tracing.conftest import (
    EXPECTED_DEVICES,
    NOW,
    contact_summary,
    device_summary,
    expected_contacts,
    local,
)
from tracing import contact_query, search, visit_lists
from tracing.errors import TracingError


def test_scenario_contacts_and_devices_match_the_hand_computed_lists(session, scenario):
    report = contact_query.query_contacts(
        session=session, visit_ids=[scenario.visits["I1"].id, scenario.visits["I2"].id],
        before_min=0, after_min=30, now=NOW, actor="tester", channel="test")
    body = report.as_json()
    assert contact_summary(body["contacts"]) == expected_contacts(scenario)
    assert [c["rank"] for c in body["contacts"]] == list(range(1, 8))
    assert device_summary(body["encounters"]) == EXPECTED_DEVICES
    giang = next(c for c in body["contacts"] if c["visitor"]["full_name"] == "Vũ Thị Giang")
    assert giang["still_open"] and giang["effective_end_at"] == "2026-03-11T03:00:00+07:00"


def test_a_before_buffer_brings_in_the_earlier_visitor(session, scenario):
    report = contact_query.find_contacts(
        session=session,
        index_visits=visit_lists.load_visits(session=session, visit_ids=[scenario.visits["I2"].id],
                                          now=NOW),
        before_min=15, after_min=30, now=NOW)
    assert [(c.visit.full_name, c.overlap_min) for c in report.contacts] == [
        ("Bùi Thị Lan", 90), ("Đỗ Văn Minh", 10), ("Nguyễn Văn Ân", 10)]


def test_index_case_visits_over_a_window(session, scenario):
    visits = search.resolve_index(session=session, phone="0912 345 678",
                                    since=local(10, 0), until=local(13, 0), now=NOW)
    assert [v.id for v in visits] == [scenario.visits["I1"].id, scenario.visits["I2"].id]
    visits = search.resolve_index(session=session, id_number="001090012345",
                                    since=local(1, 0), until=local(13, 0), now=NOW)
    assert len(visits) == 3
    with pytest.raises(TracingError) as info:
        search.resolve_index(session=session, phone="0900000000", since=local(1, 0),
                               until=local(13, 0), now=NOW)
    assert info.value.code == "index_not_found"


@pytest.mark.parametrize(("query", "names"), [
    ("nguyen van an", ["Nguyễn Văn An", "Nguyễn Văn Ân"]),
    ("NGUYỄN VĂN ÂN", ["Nguyễn Văn An", "Nguyễn Văn Ân"]),
    ("dang hung", ["Đặng Văn Hùng"]),
    ("Đặng", ["Đặng Văn Hùng"]),
    ("0912345678", ["Nguyễn Văn An"]),
    ("+84 987 654 321", ["Nguyễn Văn Ân"]),
    ("079090000001", ["Nguyễn Văn Ân"]),
    ("%", []),
    ("nobody", []),
])
def test_search_is_accent_insensitive_and_understands_phones_and_ids(session, scenario, query,
                                                                     names):
    found = search.search_visitors(session=session, query=query)
    assert [v.full_name for v in found] == names


def test_contact_query_is_audited_without_the_typed_identifiers(session, scenario):
    contact_query.query_contacts(session=session, visit_ids=[scenario.visits["I1"].id],
                            before_min=0, after_min=30, now=NOW, actor="tracer-x",
                            channel="test", query={"by": "phone"})
    event = session.exec(select(AuditEvent)).one()
    assert (event.action, event.actor, event.row_count) == ("contacts.query", "tracer-x", 5)
    assert event.details["index_visit_ids"] == [scenario.visits["I1"].id]
    assert event.details["after_min"] == 30
    assert "0912345678" not in str(event.details) and "Nguyễn" not in str(event.details)


def test_unknown_visit_is_an_error_and_nothing_is_audited(session, scenario):
    with pytest.raises(TracingError):
        contact_query.query_contacts(session=session, visit_ids=[999_999], before_min=0,
                                after_min=30, now=NOW, actor="x", channel="test")
    assert session.exec(select(AuditEvent)).all() == []


def test_venue_visit_list_includes_visits_that_span_the_range(session, scenario):
    visits = list(visit_lists.list_visits(session=session, venue=scenario.venues["BVHK"],
                                       since=local(11, 0), until=local(11, 1), now=NOW))
    names = [v.full_name for v in visits]
    # Started before midnight and still there, started inside, and the open one (until 03:00).
    assert names == ["Đặng Văn Hùng", "Nguyễn Văn An", "Vũ Thị Giang", "Phạm Thị Dung"]


def test_visit_query_uses_the_venue_time_indexes(session, scenario):
    """The contact and list queries are range scans on (venue, time), or on the venue's open
    visits (ix_visit_open, for the visits still open), not table scans."""
    statements = []
    from sqlalchemy import event

    engine = session.get_bind()

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        list(visit_lists.list_visits(session=session, venue=scenario.venues["BVHK"],
                                  since=local(10, 0), until=local(11, 0), now=NOW))
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    visit_queries = [s for s in statements if "FROM visit" in s[0]]
    assert len(visit_queries) == 3
    if dialect() == "sqlite":
        for statement, parameters in visit_queries:
            plan = _sqlite_plan(session, statement, parameters)
            assert "ix_visit_venue_checked_in" in plan or "ix_visit_venue_stay" in plan, plan
            assert "SCAN visit" not in plan, plan
    else:
        session.exec(text("SET enable_seqscan = off"))
        for statement, parameters in visit_queries:
            plan = _pg_plan(session, statement, parameters)
            assert any(index in plan for index in (
                "ix_visit_venue_checked_in", "ix_visit_venue_stay", "ix_visit_open")), plan
            assert "Index Cond: (venue_id = " in plan or "Index Cond: ((venue_id = " in plan, plan
        session.rollback()


def _sqlite_plan(session, statement, parameters):
    connection = session.connection().connection.dbapi_connection
    cursor = connection.cursor()
    rows = cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
    return " | ".join(str(row[-1]) for row in rows)


def _pg_plan(session, statement, parameters):
    connection = session.connection().connection.dbapi_connection
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + statement, parameters)
        return " | ".join(row[0] for row in cursor.fetchall())
