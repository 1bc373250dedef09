"""The contact query done by PostgreSQL (tracing.contact_sql) gives the answers of the reference,
the pure matching of tracing.contacts, on a generated data set full of edges: windows that touch,
zero-length stays, overlaps on the minimum-overlap boundary, one visitor's several visits, open
visits closed by venue rules across local and UTC midnight, before/after buffers, phones heard
several times and the index case's own phone, all from two doors of each venue; with the
server in another time zone."""
from __future__ import annotations

import random
from datetime import datetime, time, timedelta, timezone

import pytest
from sqlalchemy import text

from ble_beacon.models import Encounter
from core.models import Kiosk, Venue
from tests.support.databases import dialect
from tracing import contact_query
from tracing.contacts import LOCAL_TZ, effective_end
from tracing.visit_lists import load_visits
from visits.models import Visit, Visitor

pytestmark = pytest.mark.skipif(dialect() != "postgresql",
                                reason="the SQL path runs on PostgreSQL; SQLite uses the reference")

# 10:00 in Hà Nội, 03:00 UTC: the data spans the two days before, both midnights included.
NOW = datetime(2026, 3, 12, 10, 0, tzinfo=LOCAL_TZ)
GRID = timedelta(minutes=5)
BUFFERS = [(0, 0), (0, 30), (15, 0), (5, 5), (60, 30)]


def _at(rng: random.Random, around: datetime) -> datetime:
    """A time near `around` on the 5-minute grid (so that ends touch buffered windows exactly),
    sometimes a second off it."""
    t = around + rng.randint(-30, 30) * GRID
    return t + timedelta(seconds=rng.choice([0, 0, 0, 0, -1, 1]))


@pytest.fixture
def generated(session):
    rng = random.Random(20260312)
    venues = [
        Venue(code="NONE", name="Không giới hạn", created_at=NOW),
        Venue(code="STAY", name="Ở tối đa 90 phút", max_stay_min=90, created_at=NOW),
        Venue(code="CLOSE", name="Đóng 17:30", closing_time=time(17, 30), created_at=NOW),
        Venue(code="MIDNIGHT", name="Đóng nửa đêm", closing_time=time(0, 0), max_stay_min=600,
              created_at=NOW),
        # 06:30 in Hà Nội is 23:30 UTC the day before: the closing crosses UTC midnight.
        Venue(code="DAWN", name="Đóng 6:30", closing_time=time(6, 30), created_at=NOW),
    ]
    session.add_all(venues)
    session.flush()
    # Two doors at every venue, as on a central server: visits and phones heard come from both.
    doors = {v.id: [Kiosk(venue_id=v.id, name=f"Cổng {n}", created_at=NOW) for n in "AB"]
             for v in venues}
    session.add_all([door for pair in doors.values() for door in pair])
    people = [Visitor(full_name=f"Người {i}", name_folded=f"nguoi {i}",
                      phone_e164=f"+849130{i:05d}", id_number=f"0010900{i:05d}",
                      id_type="cccd", created_at=NOW, updated_at=NOW) for i in range(30)]
    session.add_all(people)
    session.flush()
    index_person, others = people[0], people[1:]

    # The index case: several visits at every venue, some overlapping each other, one a point,
    # some left open (one checked in after the venue's closing time).
    index_visits = []
    for venue in venues:
        for day_back, hour in ((1, 23), (0, 7), (1, 12)):
            start = (NOW - timedelta(days=day_back)).replace(hour=hour, minute=0, second=0)
            length = rng.choice([0, 25, 60, 90, 135, None])
            index_visits.append(Visit(
                visitor_id=index_person.id, venue_id=venue.id, checked_in_at=start,
                checked_out_at=None if length is None else start + timedelta(minutes=length),
                opened_by="scan", closed_by=None if length is None else "scan"))
    index_visits.append(Visit(visitor_id=index_person.id, venue_id=venues[2].id,
                              checked_in_at=(NOW - timedelta(days=1)).replace(hour=18, minute=0),
                              opened_by="scan"))
    session.add_all(index_visits)

    # Others near each index visit's window edges: touching, a second either side, points,
    # open ones, the same person several times.
    visits = []
    for anchor in index_visits:
        ends = [anchor.checked_in_at, anchor.checked_out_at or NOW]
        for _ in range(14):
            start = _at(rng, rng.choice(ends))
            kind = rng.random()
            if kind < 0.15:
                out, closed_by = None, None
            elif kind < 0.25:
                out, closed_by = start, "staff"
            else:
                out = start + rng.randint(1, 30) * GRID + timedelta(
                    seconds=rng.choice([0, 0, 0, -1, 1, 3]))
                closed_by = rng.choice(["scan", "staff", "automatic"])
            visits.append(Visit(visitor_id=rng.choice(others).id, venue_id=anchor.venue_id,
                                checked_in_at=start, checked_out_at=out, opened_by="scan",
                                closed_by=closed_by))
        # Exactly 15 minutes (the notices' minimum overlap) in the window, and a second less.
        end = anchor.checked_out_at or NOW
        for seconds in (15 * 60, 15 * 60 - 1, 14 * 60 + 57, 14 * 60 + 54):
            visits.append(Visit(visitor_id=rng.choice(others).id, venue_id=anchor.venue_id,
                                checked_in_at=end - timedelta(seconds=seconds),
                                checked_out_at=end + timedelta(hours=2), opened_by="scan",
                                closed_by="scan"))
    # And exactly on every edge the buffers make: a point there, a stay ending there, one
    # starting there.
    rules = {v.id: v for v in venues}
    edges = []
    for anchor in index_visits:
        venue = rules[anchor.venue_id]
        end = effective_end(anchor.checked_in_at, anchor.checked_out_at, now=NOW,
                            closing_time=venue.closing_time, max_stay_min=venue.max_stay_min)
        for edge in {anchor.checked_in_at - timedelta(minutes=b) for b, _ in BUFFERS} | {
                end + timedelta(minutes=a) for _, a in BUFFERS}:
            edges.append((anchor.venue_id, edge))
            for start, out in ((edge, edge), (edge - GRID * 2, edge), (edge, edge + GRID * 2)):
                visits.append(Visit(visitor_id=rng.choice(others).id, venue_id=anchor.venue_id,
                                    checked_in_at=start, checked_out_at=out, opened_by="scan",
                                    closed_by="scan"))
    for visit in visits:
        visit.kiosk_id = rng.choice(doors[visit.venue_id]).id
    session.add_all(visits)
    session.flush()

    # Phones heard: a few rolling IDs heard again and again, some linked to visits (the index
    # case's own phone among them), one whose last sighting is recorded before its first.
    taken = set()
    keys = [(rng.choice(["bluezone", "gaen", "bluetrace"]), f"{k:02x}" * 16) for k in range(12)]
    linkable = [v.id for v in visits] + [v.id for v in index_visits]
    rng.shuffle(linkable)
    encounters = []
    for anchor in index_visits:
        for _ in range(10):
            protocol, rolling = rng.choice(keys)
            first = _at(rng, rng.choice([anchor.checked_in_at, anchor.checked_out_at or NOW]))
            if (anchor.venue_id, protocol, rolling, first) in taken:
                continue
            taken.add((anchor.venue_id, protocol, rolling, first))
            last = first + rng.choice([0, 1, 5, 20, 45]) * timedelta(minutes=1)
            if rng.random() < 0.05:
                last = first - timedelta(seconds=30)
            encounters.append(Encounter(
                venue_id=anchor.venue_id, protocol=protocol, rolling_id=rolling,
                first_seen_at=first, last_seen_at=last, count=rng.randint(1, 9),
                rssi_min=-95, rssi_max=rng.choice([-50, -60, -70]), rssi_mean=-75.0,
                proximity="near",
                visit_id=linkable.pop() if rng.random() < 0.3 else None))
    for n, (venue_id, edge) in enumerate(edges):
        protocol, rolling = keys[n % len(keys)]
        for first, last in ((edge, edge), (edge - GRID, edge)):
            if (venue_id, protocol, rolling, first) in taken:
                continue
            taken.add((venue_id, protocol, rolling, first))
            encounters.append(Encounter(
                venue_id=venue_id, protocol=protocol, rolling_id=rolling, first_seen_at=first,
                last_seen_at=last, count=1, rssi_min=-95, rssi_max=-80, rssi_mean=-85.0,
                proximity="far"))
    for encounter in encounters:
        encounter.kiosk_id = rng.choice(doors[encounter.venue_id]).id
    session.add_all(encounters)
    session.commit()
    return [v.id for v in index_visits]


def _both(session, visit_ids, before_min, after_min, now=NOW):
    index = load_visits(session=session, visit_ids=visit_ids, now=now)
    answers = []
    for find in (contact_query.find_contacts_in_sql, contact_query.find_contacts_in_python):
        report = find(session=session, index_visits=index, before_min=before_min,
                      after_min=after_min, now=now)
        answers.append(report.as_json())
        session.rollback()
    return answers


@pytest.mark.parametrize(("before_min", "after_min"), BUFFERS)
def test_sql_path_gives_the_reference_answers_for_all_the_index_visits(session, generated,
                                                                       before_min, after_min):
    in_sql, reference = _both(session, generated, before_min, after_min)
    assert in_sql["contacts"], "the data set should give contacts"
    assert in_sql["encounters"], "the data set should give phones heard"
    assert in_sql == reference


def test_sql_path_gives_the_reference_answers_for_each_index_visit_alone(session, generated):
    for visit_id in generated:
        for before_min, after_min in ((0, 0), (0, 30)):
            in_sql, reference = _both(session, [visit_id], before_min, after_min)
            assert in_sql == reference, (visit_id, before_min, after_min)


def test_the_data_set_reaches_the_edges_it_is_meant_to(session, generated):
    """Guards the generator: the comparisons above are only worth what the data covers."""
    in_sql, _ = _both(session, generated, 0, 0)
    overlaps = [c["overlap_min"] for c in in_sql["contacts"]]
    assert 0.0 in overlaps                              # points and instants that meet
    assert 15.0 in overlaps and 14.9 in overlaps        # either side of the notices' 15 min
    people = [c["visitor"]["id"] for c in in_sql["contacts"]]
    assert len(people) > len(set(people))               # one person, several visits
    assert any(c["still_open"] for c in in_sql["contacts"])
    assert any(d["sightings"] > 1 and d["linked_visit_id"] for d in in_sql["encounters"])
    doors = dict(session.execute(text("SELECT id, kiosk_id FROM visit")).all())
    index_doors = {(c["index_visit_id"], doors[c["visit_id"]]) for c in in_sql["contacts"]}
    assert len(index_doors) > len({c["index_visit_id"] for c in in_sql["contacts"]})


def test_sql_path_does_not_depend_on_the_servers_time_zone(session, generated):
    expected = _both(session, generated, 0, 30)[1]
    for zone in ("America/New_York", "Asia/Kolkata"):
        session.execute(text(f"SET TIME ZONE '{zone}'"))
        index = load_visits(session=session, visit_ids=generated, now=NOW)
        report = contact_query.find_contacts_in_sql(
            session=session, index_visits=index, before_min=0, after_min=30,
            now=NOW.astimezone(timezone.utc))
        assert report.as_json() == expected
        session.rollback()
        session.execute(text("RESET TIME ZONE"))
