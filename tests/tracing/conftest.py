"""The hand-computed tracing scenario: two venues, an index case, and neighbours at every edge.

All times are Hà Nội wall-clock times in March 2026 (stored as UTC). "Now" is 12 March 09:15.

Venue BVHK (a hospital: open all night, visits left open close after 180 minutes):
  index visit I1  Nguyễn Văn An   10th 23:00 – 11th 00:30  → window [23:00, 01:00) with +30 min
  Trần Thị Bình   22:00 – 23:00   touches the window's start             → not a contact
  Lê Văn Cường    22:30 – 23:10   10 min in the window, 10 together      → contact
  Phạm Thị Dung   00:45 – 02:00   15 min in the after-buffer, 0 together → contact
  Hoàng Văn Em    01:00 – 01:30   starts as the window closes            → not a contact
  Vũ Thị Giang    00:00 – open    auto check-out at 03:00: 60 min, 30 together → contact
  Đặng Văn Hùng   22:50 – 00:40   100 min, 90 together (crosses local midnight) → contact
  Ngô Thị Khánh   23:00 – 23:00   turned away at the door (a point)      → contact, 0 min
  Đặng Văn Hùng   9th 10:00 – 11:00 (another day)                        → not a contact
Venue UBND (an office: closes 17:30):
  Nguyễn Văn Ân (a different person whose name folds the same) at UBND 10th 23:00 – 11th 00:00
                                                          (other venue than I1) → not a contact
  Lê Văn Cường    11th 16:00 – open: auto check-out 17:30 the same day   → not a contact of I2
  index visit I2  Nguyễn Văn An   12th 08:00 – 09:00      → window [08:00, 09:30)
  Bùi Thị Lan     07:30 – open, counts until now (09:15): 75 min, 60 together → contact
  Đỗ Văn Minh     07:40 – 07:55   before the window (contact only with a 15-min before-buffer)
  Nguyễn Văn Ân   09:20 – 10:00   10 min in the after-buffer              → contact
The index case's own visit at BVHK on 5 March is outside the window 10–12 March.

Ranked (overlap, then time together): Hùng 100/90, Lan 75/60, Giang 60/30, Dung 15/0,
Cường 10/10, Ân 10/0, Khánh 0/0.
Phones heard: aa11 at BVHK twice (23:05–23:20 at −60 dBm, 23:40–23:50 at −52): 25 min, best −52;
ee55 at UBND 08:10–08:20: 10 min, −65; cc33 at BVHK 22:40–23:01: 1 min, −70. Left out: bb22
(heard from 01:00, the window's end) and dd44 (the index case's own phone, linked to I1).
"""
from __future__ import annotations

from datetime import datetime, time, timezone
from types import SimpleNamespace

import pytest

from ble_beacon.models import Encounter
from tracing.contacts import LOCAL_TZ
from tracing.folding import fold_name

NOW = datetime(2026, 3, 12, 9, 15, tzinfo=LOCAL_TZ).astimezone(timezone.utc)

EXPECTED_CONTACTS = [
    # (name, venue, overlap_min, simultaneous_min, index visit)
    ("Đặng Văn Hùng", "BVHK", 100, 90, "I1"),
    ("Bùi Thị Lan", "UBND", 75, 60, "I2"),
    ("Vũ Thị Giang", "BVHK", 60, 30, "I1"),
    ("Phạm Thị Dung", "BVHK", 15, 0, "I1"),
    ("Lê Văn Cường", "BVHK", 10, 10, "I1"),
    ("Nguyễn Văn Ân", "UBND", 10, 0, "I2"),
    ("Ngô Thị Khánh", "BVHK", 0, 0, "I1"),
]
EXPECTED_DEVICES = [
    # (rolling id, venue, overlap_min, best_rssi)
    ("aa11" * 8, "BVHK", 25, -52),
    ("ee55" * 8, "UBND", 10, -65),
    ("cc33" * 8, "BVHK", 1, -70),
]


def local(day: int, hh: int, mm: int = 0) -> datetime:
    return datetime(2026, 3, day, hh, mm, tzinfo=LOCAL_TZ).astimezone(timezone.utc)


@pytest.fixture
def scenario(session, clock, make_venue, make_visitor, make_visit):
    clock.set(NOW)
    bvhk = make_venue(code="BVHK", name="Bệnh viện Hoàn Kiếm", max_stay_min=180)
    ubnd = make_venue(code="UBND", name="UBND phường Cửa Nam", closing_time=time(17, 30))
    people = {}
    phones = iter(range(1, 100))

    def person(name, **extra):
        n = next(phones)
        fields = {"full_name": name, "name_folded": fold_name(name),
                  "phone_e164": f"+8491200{n:04d}", "id_number": f"0011900{n:05d}", **extra}
        people[name] = make_visitor(**fields)
        return people[name]

    an = person("Nguyễn Văn An", phone_e164="+84912345678", id_number="001090012345")
    namesake = person("Nguyễn Văn Ân", phone_e164="+84987654321", id_number="079090000001")
    visits = {}

    def visit(key, who, venue, start, end, **extra):
        visits[key] = make_visit(visitor=who, venue=venue, checked_in_at=start,
                                 checked_out_at=end, **extra)
        return visits[key]

    visit("I1", an, bvhk, local(10, 23), local(11, 0, 30))
    visit("I2", an, ubnd, local(12, 8), local(12, 9))
    visit("an-old", an, bvhk, local(5, 10), local(5, 11))
    visit("binh", person("Trần Thị Bình"), bvhk, local(10, 22), local(10, 23))
    cuong = person("Lê Văn Cường")
    visit("cuong", cuong, bvhk, local(10, 22, 30), local(10, 23, 10))
    visit("cuong-ubnd", cuong, ubnd, local(11, 16), None)
    visit("dung", person("Phạm Thị Dung"), bvhk, local(11, 0, 45), local(11, 2))
    visit("em", person("Hoàng Văn Em"), bvhk, local(11, 1), local(11, 1, 30))
    visit("giang", person("Vũ Thị Giang"), bvhk, local(11, 0), None)
    hung = person("Đặng Văn Hùng")
    visit("hung", hung, bvhk, local(10, 22, 50), local(11, 0, 40))
    visit("hung-old", hung, bvhk, local(9, 10), local(9, 11))
    visit("khanh", person("Ngô Thị Khánh"), bvhk, local(10, 23), local(10, 23),
          status="turned_away", closed_by="staff")
    visit("an2-night", namesake, ubnd, local(10, 23), local(11, 0))
    visit("lan", person("Bùi Thị Lan"), ubnd, local(12, 7, 30), None)
    visit("minh", person("Đỗ Văn Minh"), ubnd, local(12, 7, 40), local(12, 7, 55))
    visit("an2", namesake, ubnd, local(12, 9, 20), local(12, 10))

    def heard(venue, rolling, start, end, rssi_max, count, protocol="bluezone", visit_id=None):
        session.add(Encounter(venue_id=venue.id, protocol=protocol, rolling_id=rolling * 8,
                              first_seen_at=start, last_seen_at=end, count=count,
                              rssi_min=rssi_max - 15, rssi_max=rssi_max,
                              rssi_mean=rssi_max - 7.5, proximity="near", visit_id=visit_id))

    heard(bvhk, "aa11", local(10, 23, 5), local(10, 23, 20), -60, 4)
    heard(bvhk, "aa11", local(10, 23, 40), local(10, 23, 50), -52, 3)
    heard(bvhk, "bb22", local(11, 1), local(11, 1, 10), -40, 5, protocol="gaen")
    heard(bvhk, "cc33", local(10, 22, 40), local(10, 23, 1), -70, 2, protocol="gaen")
    heard(bvhk, "dd44", local(10, 23), local(11, 0, 30), -35, 40, visit_id=visits["I1"].id)
    heard(ubnd, "ee55", local(12, 8, 10), local(12, 8, 20), -65, 2)
    session.commit()
    return SimpleNamespace(venues={"BVHK": bvhk, "UBND": ubnd}, people=people, visits=visits,
                           index=an, namesake=namesake, now=NOW)


def contact_summary(contacts: list[dict]) -> list[tuple]:
    """API/CLI JSON contacts as (name, venue, overlap, together, index visit key)."""
    return [(c["visitor"]["full_name"], c["venue_code"], c["overlap_min"],
             c["simultaneous_min"], c["index_visit_id"]) for c in contacts]


def expected_contacts(scenario) -> list[tuple]:
    return [(name, venue, overlap, together, scenario.visits[key].id)
            for name, venue, overlap, together, key in EXPECTED_CONTACTS]


def device_summary(devices: list[dict]) -> list[tuple]:
    return [(d["rolling_id"], d["venue_code"], d["overlap_min"], d["best_rssi"]) for d in devices]
