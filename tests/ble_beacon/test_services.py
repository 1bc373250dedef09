"""Encounters in the database: the batched writer and linking a phone at check-in. Real SQLite
(and PostgreSQL when the suite runs on it)."""
from __future__ import annotations

from datetime import timedelta
from types import MappingProxyType

import pytest
from sqlalchemy import event
from sqlmodel import select

from ble_beacon import services
from ble_beacon.aggregation import Encounter as Sighting
from ble_beacon.models import Encounter
from core.models import Kiosk
from tests.conftest import T0


def sighting(rolling_id="aa" * 12, *, protocol="bluezone", first=T0, last=None, count=1,
             rssi_min=-70, rssi_max=-70, rssi_mean=-70.0, proximity="near", closed=False):
    return Sighting(protocol=protocol, rolling_id=rolling_id, key_type="rolling_id",
                    first_seen_at=first, last_seen_at=last or first, count=count,
                    rssi_min=rssi_min, rssi_max=rssi_max, rssi_mean=rssi_mean,
                    proximity=proximity, closed=closed, details=MappingProxyType({}))


@pytest.fixture
def venue(make_venue):
    return make_venue(code="DEMO", name="Trụ sở UBND phường", unit="UBND phường Tràng Tiền")


@pytest.fixture
def kiosk(session, venue):
    device = Kiosk(venue_id=venue.id, name="entrance-1", created_at=T0)
    session.add(device)
    session.commit()
    return device


def rows(session):
    session.expire_all()
    return session.exec(select(Encounter).order_by(Encounter.first_seen_at)).all()


# --- record_encounters --------------------------------------------------------------------------
def test_a_batch_is_inserted_with_venue_and_kiosk(session, venue, kiosk):
    written = services.record_encounters(
        session=session, venue_id=venue.id, kiosk_id=kiosk.id,
        encounters=[sighting("aa" * 12), sighting("bb" * 16, protocol="gaen", rssi_max=-88,
                                                   rssi_min=-95, rssi_mean=-91.5,
                                                   proximity="medium")])
    assert written == 2
    got = rows(session)
    assert {(e.protocol, e.rolling_id) for e in got} == {("bluezone", "aa" * 12),
                                                         ("gaen", "bb" * 16)}
    assert all(e.venue_id == venue.id and e.kiosk_id == kiosk.id for e in got)
    assert all(e.first_seen_at == T0 for e in got)


def test_later_snapshots_update_the_same_row(session, venue, kiosk):
    services.record_encounters(session=session, venue_id=venue.id, kiosk_id=kiosk.id,
                               encounters=[sighting(count=1)])
    services.record_encounters(session=session, venue_id=venue.id, kiosk_id=kiosk.id,
                               encounters=[sighting(count=5, last=T0 + timedelta(seconds=40),
                                                    rssi_min=-90, rssi_max=-60, rssi_mean=-75.0)])
    (row,) = rows(session)
    assert (row.count, row.rssi_min, row.rssi_max, row.rssi_mean) == (5, -90, -60, -75.0)
    assert row.last_seen_at == T0 + timedelta(seconds=40)


def test_a_retried_older_snapshot_never_moves_a_row_backwards(session, venue, kiosk):
    newer = sighting(count=9, last=T0 + timedelta(seconds=90), rssi_min=-95, rssi_max=-55,
                     rssi_mean=-71.0)
    older = sighting(count=3, last=T0 + timedelta(seconds=20), rssi_min=-80, rssi_max=-70,
                     rssi_mean=-75.0)
    for batch in ([newer], [older], [newer, older]):
        services.record_encounters(session=session, venue_id=venue.id, kiosk_id=kiosk.id,
                                   encounters=batch)
    (row,) = rows(session)
    assert (row.count, row.rssi_min, row.rssi_max, row.rssi_mean) == (9, -95, -55, -71.0)
    assert row.last_seen_at == T0 + timedelta(seconds=90) and row.proximity == "near"


def test_the_same_id_heard_again_later_is_a_second_row(session, venue, kiosk):
    later = T0 + timedelta(minutes=5)
    services.record_encounters(session=session, venue_id=venue.id, kiosk_id=kiosk.id,
                               encounters=[sighting(closed=True), sighting(first=later)])
    assert [e.first_seen_at for e in rows(session)] == [T0, later]


def test_the_writer_never_touches_a_visit_link(session, venue, kiosk, make_visitor, make_visit):
    services.record_encounters(session=session, venue_id=venue.id, kiosk_id=kiosk.id,
                               encounters=[sighting()])
    visit = make_visit(visitor=make_visitor(), venue=venue, checked_in_at=T0)
    (row,) = rows(session)
    row.visit_id = visit.id
    session.add(row)
    session.commit()
    services.record_encounters(session=session, venue_id=venue.id, kiosk_id=kiosk.id,
                               encounters=[sighting(count=2)])
    (row,) = rows(session)
    assert row.visit_id == visit.id and row.count == 2


def test_a_large_batch_is_one_transaction(session, venue, kiosk):
    commits = []
    event.listen(session, "after_commit", lambda s: commits.append(1))
    batch = [sighting(f"{i:024x}") for i in range(1200)]
    assert services.record_encounters(session=session, venue_id=venue.id, kiosk_id=kiosk.id,
                                      encounters=batch) == 1200
    assert len(commits) == 1
    assert len(rows(session)) == 1200


def test_an_empty_batch_writes_nothing(session, venue):
    assert services.record_encounters(session=session, venue_id=venue.id, encounters=[]) == 0


# --- link_encounter_to_visit --------------------------------------------------------------
@pytest.fixture
def heard(session, venue, kiosk):
    """Put encounters in the database as the scanner would have written them."""

    def put(rolling_id, *, first, last=None, rssi_max=-70, kiosk_id=None, protocol="bluezone"):
        services.record_encounters(
            session=session, venue_id=venue.id,
            kiosk_id=kiosk.id if kiosk_id is None else kiosk_id,
            encounters=[sighting(rolling_id, protocol=protocol, first=first, last=last or first,
                                 rssi_max=rssi_max, rssi_min=rssi_max - 10,
                                 rssi_mean=rssi_max - 5.0)])
        return session.exec(select(Encounter).where(Encounter.rolling_id == rolling_id)).one()

    return put


@pytest.fixture
def visit_at(make_visitor, make_visit, venue, kiosk):
    def make(at, name="Nguyễn Văn An", phone="+84912345678"):
        visitor = make_visitor(full_name=name, phone_e164=phone)
        return make_visit(visitor=visitor, venue=venue, checked_in_at=at, kiosk_id=kiosk.id)

    return make


def link(session, visit, venue, kiosk, **kwargs):
    return services.link_encounter_to_visit(session=session, visit_id=visit.id,
                                            venue_id=venue.id, kiosk_id=kiosk.id,
                                            now=visit.checked_in_at, **kwargs)


def test_the_strongest_phone_heard_around_the_scan_is_linked(session, venue, kiosk, heard,
                                                              visit_at):
    scan = T0 + timedelta(minutes=3)
    heard("11" * 12, first=scan - timedelta(seconds=50), last=scan, rssi_max=-75)
    strongest = heard("22" * 12, first=scan - timedelta(seconds=20), last=scan, rssi_max=-58)
    visit = visit_at(scan)
    linked = link(session, visit, venue, kiosk)
    assert linked is not None and linked.id == strongest.id
    assert rows(session)[1].visit_id == visit.id
    # Idempotent: asking again gives the same phone.
    assert link(session, visit, venue, kiosk).id == strongest.id


@pytest.mark.parametrize(
    ("first_offset_s", "last_offset_s", "rssi_max"),
    [
        (-300, 0, -60),   # first heard long before: someone waiting in the hall
        (-100, -70, -60),  # not heard in the last minute: already gone
        (-30, 0, -90),    # too weak: across the hall, not at the kiosk
        (60, 60, -60),    # first heard well after the scan
    ],
)
def test_phones_outside_the_window_or_too_weak_are_not_linked(session, venue, kiosk, heard,
                                                               visit_at, first_offset_s,
                                                               last_offset_s, rssi_max):
    scan = T0 + timedelta(minutes=10)
    first = scan + timedelta(seconds=first_offset_s)
    heard("33" * 12, first=first, last=max(first, scan + timedelta(seconds=last_offset_s)),
          rssi_max=rssi_max)
    assert link(session, visit_at(scan), venue, kiosk) is None
    assert rows(session)[0].visit_id is None


def test_one_phone_never_links_to_two_visits(session, venue, kiosk, heard, visit_at):
    scan = T0 + timedelta(minutes=3)
    phone = heard("44" * 12, first=scan - timedelta(seconds=10), last=scan, rssi_max=-60)
    first_visit = visit_at(scan)
    second_visit = visit_at(scan + timedelta(seconds=5), name="Trần Thị Bình", phone="+84987654321")
    assert link(session, first_visit, venue, kiosk).id == phone.id
    assert link(session, second_visit, venue, kiosk) is None
    assert rows(session)[0].visit_id == first_visit.id


def test_two_people_in_a_row_get_their_own_phones(session, venue, kiosk, heard, visit_at):
    scan = T0 + timedelta(minutes=3)
    a = heard("55" * 12, first=scan - timedelta(seconds=30), last=scan, rssi_max=-55)
    b = heard("66" * 16, protocol="gaen", first=scan - timedelta(seconds=25), last=scan,
              rssi_max=-65)
    assert link(session, visit_at(scan), venue, kiosk).id == a.id
    second = visit_at(scan + timedelta(seconds=8), name="Lê Văn Cường", phone="+84911111111")
    assert link(session, second, venue, kiosk).id == b.id


def test_phones_heard_by_another_kiosk_are_not_linked(session, venue, kiosk, heard, visit_at):
    other = Kiosk(venue_id=venue.id, name="back-door", created_at=T0)
    session.add(other)
    session.commit()
    scan = T0 + timedelta(minutes=3)
    heard("77" * 12, first=scan - timedelta(seconds=10), last=scan, rssi_max=-50,
          kiosk_id=other.id)
    assert link(session, visit_at(scan), venue, kiosk) is None


def test_link_thresholds_follow_the_reference():
    assert services.LINK_MIN_RSSI == -82
    assert 0 < services.LINK_WINDOW_BEFORE_S <= 300
