"""The audit log: every export, contact query, review decision and purge, as a hash chain.

Each event's hash covers its content and the previous event's hash, so editing or deleting a row
breaks verification from that row on. Writers take the chain head's row lock first, so two
concurrent writers queue instead of forking the chain.

Someone with write access to the database could still rewrite a row and recompute every hash
after it. So the chain is anchored outside the database: after each commit that added events,
the head (sequence number and hash) is written to `instance/audit_anchor` with an HMAC made with
the instance secret. Verification checks that the chain still passes through the anchored head;
a rewritten row, re-hashed or not, no longer does.
"""
from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, select, update

from core.models import AuditChainHead, AuditEvent, User

GENESIS_HASH = "0" * 64

logger = logging.getLogger(__name__)


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
    session.info["audit_head"] = (event.seq, event.hash)  # anchored once committed
    return event


# ---------------------------------------------------------------------------------------------
# The anchor outside the database

@dataclass(frozen=True)
class AnchoredHead:
    seq: int
    hash: str


class AuditAnchor:
    """The chain head kept in a file next to the instance secret, signed with it (HMAC-SHA256).
    Only ever moved forward; several processes may write it (a file lock orders them)."""

    def __init__(self, path: str | Path, key: str):
        self.path = Path(path)
        self._key = key.encode()

    @classmethod
    def of(cls, session: Session) -> "AuditAnchor | None":
        path, key = session.info.get("audit_anchor_path"), session.info.get("audit_anchor_key")
        return cls(path, key) if path and key else None

    def _mac(self, seq: int, hash_: str) -> str:
        return hmac.new(self._key, f"khaibao-audit-anchor:{seq}:{hash_}".encode(),
                        hashlib.sha256).hexdigest()

    def read(self) -> AnchoredHead | None:
        """The anchored head; None when there is no anchor yet; ValueError when the file was
        changed by someone without the instance secret."""
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except ValueError:
            raise ValueError("the audit anchor file is unreadable") from None
        try:
            seq, hash_, mac = int(data["seq"]), str(data["hash"]), str(data["mac"])
        except (KeyError, TypeError, ValueError):
            raise ValueError("the audit anchor file is unreadable") from None
        if not hmac.compare_digest(mac, self._mac(seq, hash_)):
            raise ValueError("the audit anchor's signature does not match")
        return AnchoredHead(seq, hash_)

    def advance(self, seq: int, hash_: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = os.open(self.path.with_name(self.path.name + ".lock"),
                       os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                current = self.read()
            except ValueError:
                current = None  # verification reports it; do not hide it by overwriting
                logger.warning("audit anchor unreadable or forged: left as it is")
                return
            if current is not None and current.seq >= seq:
                return
            body = json.dumps({"seq": seq, "hash": hash_, "mac": self._mac(seq, hash_)})
            temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(body + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        finally:
            os.close(lock)


@sa.event.listens_for(OrmSession, "after_commit")
def _anchor_committed_head(session) -> None:
    head = session.info.pop("audit_head", None)
    anchor = AuditAnchor.of(session) if head is not None else None
    if anchor is not None:
        try:
            anchor.advance(*head)
        except OSError:  # the events are committed; the next commit or `audit verify` anchors
            logger.exception("could not write the audit anchor")


@sa.event.listens_for(OrmSession, "after_rollback")
def _forget_rolled_back_head(session) -> None:
    session.info.pop("audit_head", None)


@dataclass(frozen=True)
class ChainCheck:
    ok: bool
    checked: int
    broken_at_seq: int | None = None
    reason: str | None = None
    anchored_seq: int | None = None  # the head anchored outside the database that was checked


def verify_chain(*, session: Session, anchor: AuditAnchor | None = None) -> ChainCheck:
    """Walk the chain from the start; report the first event whose hash or link does not hold,
    then check that the chain passes through the head anchored outside the database (the
    session's anchor unless one is given): reason "anchor" when it does not (a row was
    rewritten and the hashes after it recomputed, or the anchor file was forged)."""
    anchor = anchor or AuditAnchor.of(session)
    try:
        anchored = anchor.read() if anchor is not None else None
    except ValueError:
        return ChainCheck(False, 0, None, "anchor")
    anchored_hash = None
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
            if anchored is not None and event.seq == anchored.seq:
                anchored_hash = event.hash
    finally:
        result.close()  # a server-side cursor on PostgreSQL: release it even on early return
    head = session.get(AuditChainHead, 1)
    if head is not None and (head.seq != checked or head.last_hash != expected_prev):
        return ChainCheck(False, checked, checked + 1, "truncated")
    if anchored is not None:
        if anchored.seq > checked:
            return ChainCheck(False, checked, checked + 1, "truncated")
        if anchored.seq and anchored_hash != anchored.hash:
            return ChainCheck(False, checked, None, "anchor")
    return ChainCheck(True, checked, anchored_seq=anchored.seq if anchored else None)


def anchor_chain(*, session: Session) -> ChainCheck:
    """`audit verify`: verify, and when the chain holds and has no anchor yet (a database from
    before anchoring), anchor its head now."""
    check = verify_chain(session=session)
    anchor = AuditAnchor.of(session)
    if check.ok and check.anchored_seq is None and anchor is not None and check.checked:
        head = session.get(AuditChainHead, 1)
        anchor.advance(head.seq, head.last_hash)
        check = verify_chain(session=session)
    return check
