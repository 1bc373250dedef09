"""One round of sync on a kiosk: push what the outbox holds, in order and in batches, deleting
entries only once the central server has acknowledged them; then pull what changed centrally.
Safe to stop at any instant (a crash between the central server's commit and our delete only
sends the batch again, which the central server stores once)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from sync import batch, outbox
from sync.client import CentralClient, Refused, Unreachable

logger = logging.getLogger(__name__)

# Outbox entries per push: a few hundred rows is one quick transaction on the central server.
BATCH_SIZE = 500


@dataclass
class Result:
    pushed: int = 0
    pulled: int = 0
    pending: int = 0
    error: str | None = None  # None, "unreachable" or the central server's refusal code

    def as_json(self) -> dict:
        return {"pushed": self.pushed, "pulled": self.pulled, "pending": self.pending}


def push_pending(*, session: Session, client: CentralClient, batch_size: int | None = None,
                 max_batches: int | None = None, stop=None, progress: Result | None = None) -> int:
    """Send the outbox in order until it is empty; returns the entries acknowledged (also
    counted in `progress` as it goes, so a round cut off midway still says what it sent)."""
    batch_size = batch_size or BATCH_SIZE
    pushed = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        if stop is not None and stop():
            break
        entries = outbox.next_entries(session, batch_size)
        if not entries:
            break
        rows = batch.build(session, entries)
        session.rollback()  # end the read transaction: never hold SQLite's snapshot over the network
        seqs = [e.seq for e in entries]
        answer = client.call("POST", "/api/v1/sync/push",
                             {"first_seq": seqs[0], "last_seq": seqs[-1], "rows": rows})
        rejected = answer.get("rejected") or []
        if rejected:
            logger.warning("central server refused %d rows of a batch", len(rejected))
        outbox.forget(session=session, seqs=seqs)
        pushed += len(seqs)
        if progress is not None:
            progress.pushed += len(seqs)
        batches += 1
    return pushed


def record(session: Session, result: Result, now: datetime) -> None:
    current = outbox.state(session)
    current.last_attempt_at = now
    if result.error is None:
        current.last_success_at = now
    current.last_error = result.error
    session.add(current)
    session.commit()


def sync_once(*, session: Session, client: CentralClient, now: datetime,
              pull=None, stop=None) -> Result:
    """Push everything pending, then pull (`pull(session, client)` returns the changes applied)."""
    result = Result()
    outbox.enable_capture(session=session, now=now)
    try:
        push_pending(session=session, client=client, stop=stop, progress=result)
        if pull is not None:
            result.pulled = pull(session, client)
            # What the pull itself recorded (the audit entry of an erasure applied here).
            push_pending(session=session, client=client, stop=stop, progress=result)
    except Unreachable as exc:
        logger.info("central server unreachable (%s)", exc)
        session.rollback()
        result.error = "unreachable"
    except Refused as exc:
        logger.warning("central server refused the sync call: %s", exc)
        session.rollback()
        result.error = exc.code
    result.pending = outbox.backlog(session).pending
    record(session, result, now)
    return result
