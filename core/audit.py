"""The audit log: every export, contact query, review decision and purge, as a hash chain.

Each event's hash covers its content and the previous event's hash, so editing or deleting a row
breaks verification from that row on. Writers take the chain head's row lock first, so two
concurrent writers queue instead of forking the chain.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlmodel import Session, select, update

from core.models import AuditChainHead, AuditEvent, User

GENESIS_HASH = "0" * 64


def _canonical(event: AuditEvent) -> bytes:
    body = {
        "seq": event.seq,
        "at": event.at.isoformat(timespec="microseconds"),
        "actor_user_id": event.actor_user_id,
        "actor": event.actor,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "details": event.details,
        "row_count": event.row_count,
        "file_sha256": event.file_sha256,
        "prev_hash": event.prev_hash,
    }
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def compute_hash(event: AuditEvent) -> str:
    return hashlib.sha256(_canonical(event)).hexdigest()


def _lock_head(session: Session) -> AuditChainHead:
    bump = update(AuditChainHead).where(AuditChainHead.id == 1).values(seq=AuditChainHead.seq + 1)
    if session.exec(bump).rowcount == 0:  # the migration creates the head; rebuild it if gone
        session.add(AuditChainHead(id=1, seq=0, last_hash=GENESIS_HASH))
        session.flush()
        session.exec(bump)
    head = session.exec(
        select(AuditChainHead).where(AuditChainHead.id == 1).execution_options(
            populate_existing=True
        )
    ).one()
    return head


def record_audit(
    *,
    session: Session,
    now: datetime,
    actor: User | str | None,
    action: str,
    target_type: str | None = None,
    target_id: str | int | None = None,
    details: dict | None = None,
    row_count: int | None = None,
    file_sha256: str | None = None,
) -> AuditEvent:
    """Append an event inside the caller's transaction; the caller commits its unit of work."""
    head = _lock_head(session)
    if isinstance(actor, User):
        actor_id, actor_label = actor.id, actor.username
    else:
        actor_id, actor_label = None, actor or "system"
    event = AuditEvent(
        seq=head.seq,
        at=now.astimezone(timezone.utc),
        actor_user_id=actor_id,
        actor=actor_label,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        details=details or {},
        row_count=row_count,
        file_sha256=file_sha256,
        prev_hash=head.last_hash,
    )
    event.hash = compute_hash(event)
    head.last_hash = event.hash
    session.add(event)
    session.add(head)
    session.flush()
    return event


@dataclass(frozen=True)
class ChainCheck:
    ok: bool
    checked: int
    broken_at_seq: int | None = None
    reason: str | None = None


def verify_chain(*, session: Session) -> ChainCheck:
    """Walk the chain from the start; report the first event whose hash or link does not hold."""
    expected_prev = GENESIS_HASH
    checked = 0
    query = select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=1000)
    result = session.exec(query)
    try:
        for event in result:
            expected_seq = checked + 1
            if event.seq != expected_seq:
                return ChainCheck(False, checked, expected_seq, "missing")
            if event.prev_hash != expected_prev:
                return ChainCheck(False, checked, event.seq, "link")
            if compute_hash(event) != event.hash:
                return ChainCheck(False, checked, event.seq, "content")
            expected_prev = event.hash
            checked += 1
    finally:
        result.close()  # a server-side cursor on PostgreSQL: release it even on early return
    head = session.get(AuditChainHead, 1)
    if head is not None and (head.seq != checked or head.last_hash != expected_prev):
        return ChainCheck(False, checked, checked + 1, "truncated")
    return ChainCheck(True, checked)
