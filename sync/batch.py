"""A push batch, built on the kiosk from outbox entries: each entry names a row; the batch carries
the row as it is now (several changes of one row travel once) and, so that the central server
can store any batch on its own (out of order, again, after a restart), the rows it refers to."""
from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from sqlmodel import Session

from sync.models import SYNCED_TABLES, SyncOutbox
from sync.rows import KEY_COLUMN, REFERENCES, own_columns, table, to_wire


def build(session: Session, entries: list[SyncOutbox]) -> dict[str, list[dict]]:
    """{table: [row, …]} in SYNCED_TABLES order for these entries (rows deleted since are left
    out: the kiosk forgets what the retention purge removed)."""
    wanted: dict[str, set[str]] = defaultdict(set)
    for entry in entries:
        if entry.table_name in KEY_COLUMN:
            wanted[entry.table_name].add(entry.row_uid)
    rows: dict[str, dict[str, dict]] = defaultdict(dict)
    # Children first, so each brings its parents along: encounter → visit → declaration → visitor.
    for name in reversed(SYNCED_TABLES):
        missing = wanted[name] - rows[name].keys()
        if not missing:
            continue
        for item, parents in _fetch(session, name, missing):
            rows[name][item[KEY_COLUMN[name]]] = item
            for parent_table, uid in parents:
                if uid not in rows[parent_table]:
                    wanted[parent_table].add(uid)
    return {name: list(rows[name].values()) for name in SYNCED_TABLES if rows[name]}


def _fetch(session: Session, name: str, uids: set[str]):
    t = table(name)
    key = t.c[KEY_COLUMN[name]]
    records = []
    uid_list = sorted(uids)
    for start in range(0, len(uid_list), 500):
        records += session.execute(sa.select(t).where(key.in_(uid_list[start:start + 500]))).all()
    # Resolve each foreign key to the referenced row's global key, one query per reference.
    resolved: dict[str, dict] = {}
    for field, (column, target, target_key) in REFERENCES[name].items():
        ids = {getattr(r, column) for r in records if getattr(r, column) is not None}
        mapping = {}
        if ids:
            target_table = table(target)
            for row_id, value in session.execute(
                    sa.select(target_table.c.id, target_table.c[target_key])
                    .where(target_table.c.id.in_(ids))):
                mapping[row_id] = value
        resolved[field] = mapping
    columns = own_columns(name)
    for record in records:
        item = {c.name: to_wire(getattr(record, c.name)) for c in columns}
        parents = []
        for field, (column, target, _target_key) in REFERENCES[name].items():
            local = getattr(record, column)
            value = resolved[field].get(local) if local is not None else None
            item[field] = value
            if value is not None and target in KEY_COLUMN:
                parents.append((target, value))
        yield item, parents
