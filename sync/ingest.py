"""The central server's side of a push: store a device's batch once, whatever order or how many
times it arrives. Every row is an upsert on its global identity, and every update merges in a way
that does not depend on the order (a visit once closed stays closed, the later review wins, an
encounter keeps its widest span), so a duplicate or late batch changes nothing."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from core.models import Venue
from sync import doors
from sync.models import SYNCED_TABLES, SyncDevice, SyncMergedVisit
from sync.rows import REFERENCES, Invalid, from_wire, own_columns, table

logger = logging.getLogger(__name__)

# A batch larger than this is refused whole (the kiosk sends 500 entries at most, plus parents).
MAX_ROWS = 5000


@dataclass
class Outcome:
    stored: dict[str, int] = field(default_factory=dict)
    rejected: list[dict] = field(default_factory=list)


class BatchError(ValueError):
    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code


def _insert(session: Session, t: sa.Table):
    return (postgresql.insert(t) if session.get_bind().dialect.name == "postgresql"
            else sqlite.insert(t))


def _ids(session: Session, table_name: str, key: str, values) -> dict[str, int]:
    values = {v for v in values if v is not None}
    if not values:
        return {}
    t = table(table_name)
    found = {}
    values = sorted(values)
    for start in range(0, len(values), 500):
        for row_id, value in session.execute(
                sa.select(t.c.id, t.c[key]).where(t.c[key].in_(values[start:start + 500]))):
            found[value] = row_id
    return found


def apply_batch(*, session: Session, device: SyncDevice, rows, now: datetime,
                min_stay_min: int = 5, last_seq: int | None = None) -> Outcome:
    """Store `rows` ({table: [row, …]}) sent by `device`; commits, with the device's last outbox
    seq acknowledged (`last_seq`) in the same transaction. Rows that do not fit are refused one
    by one (reported back, never stored), the rest are stored."""
    if not isinstance(rows, dict) or any(k not in SYNCED_TABLES for k in rows):
        raise BatchError("invalid_batch", "rows must map table names to lists")
    if sum(len(v) if isinstance(v, list) else MAX_ROWS + 1 for v in rows.values()) > MAX_ROWS:
        raise BatchError("batch_too_large", f"at most {MAX_ROWS} rows per batch")
    if session.get_bind().dialect.name == "postgresql":
        # The driver prepares a statement it sees often, and PostgreSQL may then keep one plan
        # for it; planned while the tables were small (a new central server, a catch-up), the
        # uid look-ups stay sequential scans as the tables grow. Planned afresh each time (a
        # fraction of a ms), they use the uid indexes. For this transaction only.
        session.execute(sa.text("SET LOCAL plan_cache_mode = force_custom_plan"))
    venue = session.get(Venue, device.venue_id)
    outcome = Outcome()
    checked: dict[str, list[dict]] = {}
    for name in SYNCED_TABLES:
        good = []
        for item in rows.get(name, ()):
            try:
                values = from_wire(name, item)
                if "venue_code" in values and values["venue_code"] not in (None, venue.code):
                    raise Invalid("another venue's row")
                if name in ("visit", "encounter") and values["venue_code"] is None:
                    raise Invalid("venue_code missing")
                good.append(values)
            except Invalid as exc:
                key = item.get("hash" if name == "audit_event" else "uid") \
                    if isinstance(item, dict) else None
                outcome.rejected.append({"table": name, "uid": key if isinstance(key, str)
                                         else None, "reason": str(exc)})
        checked[name] = good
    _store_visitors(session, checked["visitor"])
    _store_declarations(session, checked["declaration"], venue, outcome)
    visitor_ids = _store_visits(session, checked["visit"], venue, device, outcome)
    if visitor_ids:
        doors.reconcile(session=session, venue_id=venue.id, visitor_ids=visitor_ids,
                        min_stay_min=min_stay_min, device_id=device.id)
    _store_encounters(session, checked["encounter"], venue, device, outcome)
    _store_audit(session, checked["audit_event"], device)
    for name in SYNCED_TABLES:
        outcome.stored[name] = len(checked[name])
    for item in outcome.rejected:
        outcome.stored[item["table"]] = outcome.stored.get(item["table"], 0)
    device.last_seen_at = now
    if last_seq is not None and last_seq > device.last_seq:
        device.last_seq = last_seq
    session.add(device)
    session.commit()
    if outcome.rejected:
        logger.warning("device %s: %d rows refused (%s)", device.id, len(outcome.rejected),
                       ", ".join(sorted({r["reason"] for r in outcome.rejected})))
    return outcome


def _plain(values: dict, name: str) -> dict:
    return {c.name: values[c.name] for c in own_columns(name)}


def _store_visitors(session: Session, items: list[dict]) -> None:
    if not items:
        return
    t = table("visitor")
    stmt = _insert(session, t)
    newer = stmt.excluded.updated_at > t.c.updated_at
    merged = {c.name: sa.case((newer, stmt.excluded[c.name]), else_=t.c[c.name])
              for c in own_columns("visitor") if c.name not in ("uid", "created_at",
                                                                "tokens_valid_after")}
    # Codes withdrawn anywhere stay withdrawn: the latest instant wins.
    merged["tokens_valid_after"] = sa.case(
        (t.c.tokens_valid_after.is_(None), stmt.excluded.tokens_valid_after),
        (stmt.excluded.tokens_valid_after > t.c.tokens_valid_after,
         stmt.excluded.tokens_valid_after),
        else_=t.c.tokens_valid_after)
    session.execute(stmt.on_conflict_do_update(index_elements=["uid"], set_=merged),
                    [_plain(v, "visitor") for v in items])
    with_declarant = [v for v in items if v["declarant_uid"]]
    if with_declarant:
        ids = _ids(session, "visitor", "uid",
                   [v["uid"] for v in with_declarant] + [v["declarant_uid"] for v in with_declarant])
        for v in with_declarant:
            if v["declarant_uid"] in ids:
                session.execute(sa.update(t).where(t.c.id == ids[v["uid"]])
                                .values(declarant_id=ids[v["declarant_uid"]]))


def _missing(outcome: Outcome, name: str, uid: str, what: str) -> None:
    outcome.rejected.append({"table": name, "uid": uid, "reason": f"{what} unknown"})


def _store_declarations(session, items, venue, outcome) -> None:
    if not items:
        return
    t = table("declaration")
    visitors = _ids(session, "visitor", "uid", [v["visitor_uid"] for v in items])
    values = []
    for v in items:
        if v["visitor_uid"] not in visitors:
            _missing(outcome, "declaration", v["uid"], "visitor")
            continue
        values.append({**_plain(v, "declaration"), "visitor_id": visitors[v["visitor_uid"]],
                       "venue_id": venue.id if v["venue_code"] else None,
                       "previous_declaration_id": None})
    if values:
        # A declaration never changes once made.
        session.execute(_insert(session, t).on_conflict_do_nothing(index_elements=["uid"]),
                        values)
    renewals = [v for v in items if v["previous_uid"]]
    if renewals:
        ids = _ids(session, "declaration", "uid",
                   [v["uid"] for v in renewals] + [v["previous_uid"] for v in renewals])
        for v in renewals:
            if v["uid"] in ids and v["previous_uid"] in ids:
                session.execute(sa.update(t).where(t.c.id == ids[v["uid"]],
                                                   t.c.previous_declaration_id.is_(None))
                                .values(previous_declaration_id=ids[v["previous_uid"]]))


def _store_visits(session, items, venue, device, outcome) -> set[int]:
    """Upsert the visits; returns the ids of their visitors (for the doors' rule)."""
    if not items:
        return set()
    merged = {m.uid: m for m in session.exec(select(SyncMergedVisit).where(
        SyncMergedVisit.uid.in_([v["uid"] for v in items])))}
    for v in items:
        if v["uid"] in merged:  # read as another door's exit: only a new scan matters
            doors.later_news(session=session, merged=merged[v["uid"]], item=v)
    items = [v for v in items if v["uid"] not in merged]
    if not items:
        return set()
    t = table("visit")
    visitors = _ids(session, "visitor", "uid", [v["visitor_uid"] for v in items])
    declarations = _ids(session, "declaration", "uid", [v["declaration_uid"] for v in items])
    staff = _ids(session, "staff_user", "username", [v["reviewed_by"] for v in items])
    values = []
    for v in items:
        if v["visitor_uid"] not in visitors:
            _missing(outcome, "visit", v["uid"], "visitor")
            continue
        values.append({**_plain(v, "visit"), "visitor_id": visitors[v["visitor_uid"]],
                       "venue_id": venue.id, "kiosk_id": device.kiosk_id,
                       "declaration_id": declarations.get(v["declaration_uid"]),
                       "reviewed_by_id": staff.get(v["reviewed_by"])})
    if not values:
        return set()
    stmt = _insert(session, t)
    x = stmt.excluded
    stored_open = t.c.checked_out_at.is_(None)
    later_review = sa.and_(x.reviewed_at.is_not(None),
                           sa.or_(t.c.reviewed_at.is_(None), x.reviewed_at > t.c.reviewed_at))
    update = {
        # Once closed, a visit stays closed as it was first closed (an older copy cannot reopen it).
        "checked_out_at": sa.case((stored_open, x.checked_out_at), else_=t.c.checked_out_at),
        "closed_by": sa.case((stored_open, x.closed_by), else_=t.c.closed_by),
        # The latest review decides.
        "status": sa.case((later_review, x.status), else_=t.c.status),
        "review_note": sa.case((later_review, x.review_note), else_=t.c.review_note),
        "reviewed_at": sa.case((later_review, x.reviewed_at), else_=t.c.reviewed_at),
        "reviewed_by_id": sa.case((later_review, x.reviewed_by_id), else_=t.c.reviewed_by_id),
        "declaration_id": sa.func.coalesce(t.c.declaration_id, x.declaration_id),
    }
    session.execute(stmt.on_conflict_do_update(index_elements=["uid"], set_=update), values)
    return {v["visitor_id"] for v in values}


def _store_encounters(session, items, venue, device, outcome) -> None:
    if not items:
        return
    t = table("encounter")
    visits = _ids(session, "visit", "uid", [v["visit_uid"] for v in items])
    # A visit is linked to one phone at most: keep the link already stored.
    taken = set()
    if visits:
        taken = set(session.execute(sa.select(t.c.visit_id).where(
            t.c.visit_id.in_(list(visits.values())))).scalars())
    values = []
    for v in items:
        visit_id = visits.get(v["visit_uid"])
        if visit_id in taken:
            visit_id = None
        elif visit_id is not None:
            taken.add(visit_id)
        values.append({**_plain(v, "encounter"), "venue_id": venue.id,
                       "kiosk_id": device.kiosk_id, "visit_id": visit_id})
    stmt = _insert(session, t)
    x = stmt.excluded
    # Two doors of a venue can hear one phone: the same sighting merges into one row, its span
    # the widest either door heard.
    more = x.count > t.c.count
    merged = {
        "last_seen_at": sa.case((x.last_seen_at > t.c.last_seen_at, x.last_seen_at),
                                else_=t.c.last_seen_at),
        "count": sa.case((more, x.count), else_=t.c.count),
        "rssi_min": sa.case((x.rssi_min < t.c.rssi_min, x.rssi_min), else_=t.c.rssi_min),
        "rssi_max": sa.case((x.rssi_max > t.c.rssi_max, x.rssi_max), else_=t.c.rssi_max),
        "rssi_mean": sa.case((more, x.rssi_mean), else_=t.c.rssi_mean),
        "proximity": sa.case((more, x.proximity), else_=t.c.proximity),
        "visit_id": sa.func.coalesce(t.c.visit_id, x.visit_id),
    }
    session.execute(stmt.on_conflict_do_update(
        index_elements=["venue_id", "protocol", "rolling_id", "first_seen_at"], set_=merged),
        values)


def _store_audit(session, items, device) -> None:
    if not items:
        return
    t = table("sync_audit_event")
    values = [{**_plain(v, "audit_event"), "device_id": device.id} for v in items]
    session.execute(_insert(session, t).on_conflict_do_nothing(), values)
