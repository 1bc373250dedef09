"""A door reads each venue once per VENUE_CACHE_S, and never acts on a venue changed in its own
process: deactivating a venue stops its check-ins at once, a venue created after a miss is found
at once, and a change made by another process is seen within VENUE_CACHE_S as shipped."""
from __future__ import annotations

import pytest

from core import venue_cache
from core.services import create_venue
from tests.conftest import T0
from tests.support.databases import write_as_another_process


@pytest.fixture
def scan(client, make_user, api_token, make_visitor, make_declaration, make_token, clock):
    """Check a new visitor in at `code` as a receptionist's script would; returns the response."""
    bearer = {"Authorization": "Bearer " + api_token(make_user("receptionist"))}
    made = [0]

    def post(code: str):
        made[0] += 1
        visitor = make_visitor(full_name=f"Lê Văn Khách {made[0]}",
                               id_number=f"0010900777{made[0]:02d}")
        token = make_token(visitor, make_declaration(visitor=visitor, submitted_at=T0))
        return client.post("/api/v1/checkins", json={"venue_code": code, "payload": token},
                           headers=bearer)

    clock.advance(minutes=10)
    return post


def _checked_in(response) -> bool:
    return response.status_code == 200 and response.get_json()["action"] == "check_in"


def _refused_as_unknown(response) -> bool:
    return response.status_code == 422 and response.get_json()["code"] == "unknown_venue"


def test_a_venue_deactivated_in_this_process_takes_no_check_in_at_once(scan, session, venue):
    assert _checked_in(scan("HQ"))  # the venue is now cached
    venue.is_active = False
    session.add(venue)
    session.commit()
    assert _refused_as_unknown(scan("HQ"))


def test_a_venue_created_after_a_miss_is_found_at_once(scan, session, venue):
    assert _refused_as_unknown(scan("ANNEX"))  # "no such venue" is cached too
    create_venue(session=session, code="ANNEX", name="Nhà B", now=T0)
    assert _checked_in(scan("annex "))


def test_a_venue_changed_by_another_process_is_seen_within_the_default_staleness(
        app, scan, venue, monkeypatch):
    """Another process's write passes none of this process's hooks (here: a raw DB-API
    connection); the cached venue still goes once VENUE_CACHE_S, as shipped, has passed."""
    now = [1000.0]
    monkeypatch.setattr(venue_cache, "_monotonic", lambda: now[0])
    assert _checked_in(scan("HQ"))
    write_as_another_process(app, "UPDATE venue SET is_active = false")
    assert _checked_in(scan("HQ"))  # served from this process's cache...
    now[0] += venue_cache.VENUE_CACHE_S
    assert _refused_as_unknown(scan("HQ"))  # ...for VENUE_CACHE_S at most
    assert venue_cache.VENUE_CACHE_S <= 2.0


def test_check_ins_keep_the_cache_and_venue_writes_empty_it(scan, session, venue):
    """Only a write to the venue table itself forgets: a visit (which names venue_id) or a host
    list (venue_host) must not, or the cache would be emptied by every check-in."""
    assert _checked_in(scan("HQ"))
    generation = venue_cache.venue_cache.generation
    assert _checked_in(scan("HQ"))
    assert venue_cache.venue_cache.generation == generation
    writes = venue_cache._WRITES_VENUE
    for statement in ("UPDATE venue SET is_active=?", 'DELETE FROM "venue"',
                      "INSERT INTO venue (code, name) VALUES (?, ?)", "TRUNCATE TABLE venue",
                      "  update public.venue set name = 'x'"):
        assert writes.match(statement), statement
    for statement in ("INSERT INTO visit (uid, visitor_id, venue_id) VALUES (?, ?, ?)",
                      "UPDATE venue_host SET name=?", "DELETE FROM venue_host",
                      "SELECT venue.id FROM venue", "UPDATE visit SET venue_id=?"):
        assert not writes.match(statement), statement
