"""BLE encounters in the database: the batched writer and linking a phone to a check-in. Services
take a keyword-only session and own their commit. (The adoption report, built on the daily counts
of visits, is the tracing package's.)"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from ble_beacon.aggregation import NEAR_RSSI, proximity_bucket
from ble_beacon.aggregation import Encounter as Sighting
from ble_beacon.models import Encounter

logger = logging.getLogger(__name__)

# Linking a phone to a check-in ("app detected", DESIGN flow 6):
# A phone is heard from the edge of BLE range (10–30 m) as its owner walks up; Bluezone's 15 s on /
# 15 s off advertising and a short queue put the first report up to about two minutes before the
# scan. Longer would pick up people who merely passed by.
LINK_WINDOW_BEFORE_S = 120
# The writer commits about once a second, and the kiosk and server clocks may differ slightly.
LINK_WINDOW_AFTER_S = 10
# Still being heard at the scan (BlueZ reports only changes, Bluezone is silent 15 s of every 30):
# a phone last heard longer ago has left and is not the person at the kiosk.
LINK_STILL_HEARD_S = 60
# The visitor stands within arm's length of the kiosk: only "near" phones (the CWA < 1.5 m band,
# ble-formats.md §6) may be linked, so a bystander's phone across the hall is not.
LINK_MIN_RSSI = NEAR_RSSI
# Rows read per IN (...) query; well under SQLite's bound-parameter limit.
_CHUNK = 500


def _chunks(items: Sequence, size: int = _CHUNK) -> Iterable[Sequence]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


# --- The writer ----------------------------------------------------------------------------------
def record_encounters(*, session: Session, encounters: Sequence[Sighting], venue_id: int,
                      kiosk_id: int | None = None) -> int:
    """Insert or update a batch of encounter snapshots in one transaction; returns rows written.

    A row is identified by (venue, protocol, rolling ID, first seen). Snapshots are cumulative,
    so applying one twice, or an older one after a newer one (a retried batch), never moves a row
    backwards; a link to a visit is never touched.
    """
    if not encounters:
        return 0
    for attempt in (1, 2):
        try:
            written = _upsert(session, encounters, venue_id, kiosk_id)
            session.commit()
            return written
        except IntegrityError:
            # Another writer (a second kiosk at the venue, on a central server) inserted the same
            # encounter between our read and our insert: read again and update its row instead.
            session.rollback()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _upsert(session: Session, encounters: Sequence[Sighting], venue_id: int,
            kiosk_id: int | None) -> int:
    ids = sorted({e.rolling_id for e in encounters})
    existing: dict[tuple[str, str, datetime], Encounter] = {}
    for chunk in _chunks(ids):
        for row in session.exec(select(Encounter).where(Encounter.venue_id == venue_id,
                                                        Encounter.rolling_id.in_(chunk))):
            existing[(row.protocol, row.rolling_id, row.first_seen_at)] = row
    written = 0
    for snap in encounters:
        key = (snap.protocol, snap.rolling_id, snap.first_seen_at)
        row = existing.get(key)
        if row is None:
            row = Encounter(
                venue_id=venue_id, kiosk_id=kiosk_id, protocol=snap.protocol,
                rolling_id=snap.rolling_id, first_seen_at=snap.first_seen_at,
                last_seen_at=snap.last_seen_at, count=snap.count, rssi_min=snap.rssi_min,
                rssi_max=snap.rssi_max, rssi_mean=snap.rssi_mean, proximity=snap.proximity,
            )
            existing[key] = row
        else:
            if snap.count >= row.count:
                row.rssi_mean = snap.rssi_mean
            row.last_seen_at = max(row.last_seen_at, snap.last_seen_at)
            row.count = max(row.count, snap.count)
            row.rssi_min = min(row.rssi_min, snap.rssi_min)
            row.rssi_max = max(row.rssi_max, snap.rssi_max)
            row.proximity = proximity_bucket(row.rssi_max)
            if row.kiosk_id is None:
                row.kiosk_id = kiosk_id
        session.add(row)
        written += 1
    session.flush()
    return written


# --- Linking at check-in -------------------------------------------------------------------------
def take_strongest_statement(with_kiosk: bool, visit_id=None):
    """One statement finds the strongest unlinked candidate and takes it. On PostgreSQL a row
    another check-in is taking right now is skipped (SKIP LOCKED), so racing check-ins still get
    the next phone; SQLite has one writer at a time and needs no row lock. Built once (every
    check-in runs it): only the parameters (`link_parameters`) change. `visit_id`: the visit's
    id as an SQL expression (a CTE's column: the check-in and its link in one statement);
    default the `p_visit_id` parameter. Returns the linked encounter's id."""
    table = Encounter.__table__
    conditions = [
        table.c.venue_id == sa.bindparam("p_venue_id"),
        table.c.visit_id.is_(None),
        table.c.first_seen_at >= sa.bindparam("p_first_from", type_=table.c.first_seen_at.type),
        table.c.first_seen_at <= sa.bindparam("p_first_until", type_=table.c.first_seen_at.type),
        table.c.last_seen_at >= sa.bindparam("p_heard_since", type_=table.c.last_seen_at.type),
        table.c.rssi_max >= sa.bindparam("p_min_rssi"),
    ]
    if with_kiosk:
        conditions.append(table.c.kiosk_id == sa.bindparam("p_kiosk_id"))
    strongest = (
        sa.select(table.c.id).where(*conditions)
        .order_by(table.c.rssi_max.desc(), table.c.first_seen_at.desc(), table.c.id)
        .limit(1).with_for_update(skip_locked=True).scalar_subquery()
    )
    return (sa.update(table)
            .where(table.c.id == strongest, table.c.visit_id.is_(None))
            .values(visit_id=sa.bindparam("p_visit_id") if visit_id is None else visit_id)
            .returning(table.c.id))


def link_parameters(*, venue_id: int, kiosk_id: int | None, now: datetime,
                    window_before_s: int = LINK_WINDOW_BEFORE_S,
                    window_after_s: int = LINK_WINDOW_AFTER_S,
                    still_heard_s: int = LINK_STILL_HEARD_S,
                    min_rssi: int = LINK_MIN_RSSI) -> dict:
    """The parameters of take_strongest_statement for a scan at `now` (all but p_visit_id)."""
    return {"p_venue_id": venue_id, "p_kiosk_id": kiosk_id,
            "p_first_from": now - timedelta(seconds=window_before_s),
            "p_first_until": now + timedelta(seconds=window_after_s),
            "p_heard_since": now - timedelta(seconds=still_heard_s), "p_min_rssi": min_rssi}


_TAKE_STRONGEST = {False: take_strongest_statement(False), True: take_strongest_statement(True)}


def link_encounter_to_visit(
    *,
    session: Session,
    visit_id: int,
    venue_id: int,
    kiosk_id: int | None,
    now: datetime,
    window_before_s: int = LINK_WINDOW_BEFORE_S,
    window_after_s: int = LINK_WINDOW_AFTER_S,
    still_heard_s: int = LINK_STILL_HEARD_S,
    min_rssi: int = LINK_MIN_RSSI,
    commit: bool = True,
    new_visit: bool = False,
) -> Encounter | None:
    """Link the strongest unlinked phone first heard around the scan to the visit.

    Candidates: encounters at the venue (and this kiosk, when known) first seen in
    [now − window_before, now + window_after], still heard within `still_heard_s` of now, with a
    strongest report of at least `min_rssi`. The strongest wins (then the most recent). An
    encounter never links to two visits: the update only takes a row still unlinked, so two
    check-ins racing for the same phone cannot both get it. Returns the linked encounter or None.
    With commit=False the caller commits (one unit of work with the check-in).
    """
    if not new_visit:  # a visit made just now has no phone linked yet: no need to look
        already = session.exec(select(Encounter).where(Encounter.visit_id == visit_id)).first()
        if already is not None:
            return already
    encounter_id = session.execute(
        _TAKE_STRONGEST[kiosk_id is not None],
        {"p_visit_id": visit_id, **link_parameters(
            venue_id=venue_id, kiosk_id=kiosk_id, now=now, window_before_s=window_before_s,
            window_after_s=window_after_s, still_heard_s=still_heard_s, min_rssi=min_rssi)},
    ).scalar_one_or_none()
    if encounter_id is None:
        return None
    encounter = session.get(Encounter, encounter_id, populate_existing=True)
    if commit:
        session.commit()
    logger.info("visit %s: phone detected (encounter %s, %s)", visit_id, encounter_id,
                encounter.protocol if encounter else "?")
    return encounter
