"""The kiosk's side of the outbox: switching capture on (with what was already stored), reading a
batch of pending changes as the rows they name, and forgetting the entries the central server has
acknowledged. The triggers write the outbox; nothing here hooks a write path."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from sync.models import SYNCED_TABLES, SyncOutbox, SyncState

# Which column names a row across servers (the audit log's chain hash is already global).
UID_COLUMN = {"visitor": "uid", "declaration": "uid", "visit": "uid", "encounter": "uid",
              "audit_event": "hash"}


def state(session: Session) -> SyncState:
    """The one sync_state row (made when missing; the caller commits)."""
    row = session.get(SyncState, 1)
    if row is None:
        row = SyncState(id=1, capture=False)
        session.add(row)
        session.flush()
    return row


def enable_capture(*, session: Session, now: datetime) -> int:
    """Turn the triggers on. The first time, everything already stored goes into the outbox in
    the same transaction (a stand-alone kiosk joining an installation forwards its history);
    returns how many entries that added. Idempotent."""
    current = state(session)
    if current.capture:
        return 0
    # Take the write lock before reading, so no change slips between the copy and the switch.
    session.execute(sa.update(SyncState).where(SyncState.id == 1).values(capture=True))
    added = 0
    for table in SYNCED_TABLES:
        column = UID_COLUMN[table]
        order = "seq" if table == "audit_event" else "id"
        result = session.execute(sa.text(
            f"INSERT INTO sync_outbox (table_name, row_uid, op, created_at) "
            f"SELECT :table, {column}, 'insert', :now FROM {table} ORDER BY {order}"),
            {"table": table, "now": _bind_now(session, now)})
        added += result.rowcount or 0
    session.commit()
    return added


def _bind_now(session: Session, now: datetime):
    # Plain SQL bypasses UtcDateTime: store what it would (naive UTC on SQLite).
    from core.db import UtcDateTime

    return UtcDateTime().process_bind_param(now, session.get_bind().dialect)


def capturing(session: Session) -> bool:
    row = session.get(SyncState, 1)
    return bool(row is not None and row.capture)


@dataclass
class Backlog:
    pending: int
    oldest_at: datetime | None


def backlog(session: Session) -> Backlog:
    count = session.execute(sa.select(sa.func.count()).select_from(SyncOutbox)).scalar_one()
    # The first entry is the oldest (seq order is write order): no scan for a minimum.
    oldest = session.execute(sa.select(SyncOutbox.created_at).order_by(SyncOutbox.seq)
                             .limit(1)).scalar()
    return Backlog(pending=int(count or 0), oldest_at=oldest)


def next_entries(session: Session, limit: int) -> list[SyncOutbox]:
    """The oldest `limit` entries, in the order they were written."""
    return list(session.exec(select(SyncOutbox).order_by(SyncOutbox.seq).limit(limit)).all())


def forget(*, session: Session, seqs: list[int]) -> int:
    """Delete the acknowledged entries, by their seq (never "up to": on PostgreSQL a lower seq
    can commit after a higher one was read)."""
    removed = 0
    for start in range(0, len(seqs), 500):
        result = session.execute(sa.delete(SyncOutbox).where(
            SyncOutbox.seq.in_(seqs[start:start + 500])))
        removed += result.rowcount or 0
    session.commit()
    return removed
