"""components.sync on /healthz and a desk line when the backlog is old: how many changes wait
for the central server, how old the oldest is, when a round last succeeded."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from core.db import db
from core.health import Reading

# A clock this far off the central server's is shown (codes from more than 5 minutes in the
# future are refused at other doors: tell the receptionist well before that).
CLOCK_WARN_S = 120


def probe(app) -> Reading:
    if not app.config.get("CENTRAL_URL"):
        return Reading("off")  # a stand-alone kiosk, or the central server itself
    from sync import outbox

    now = app.extensions["clock"].now()
    with db.new_session(app) as session:
        backlog = outbox.backlog(session)
        state = session.get(outbox.SyncState, 1)
    age_s = max(0, int((now - backlog.oldest_at).total_seconds())) if backlog.oldest_at else None
    worker = app.extensions["workers"].get("sync")
    value = {
        "state": worker.status() if worker is not None else "not running",
        "pending": backlog.pending,
        "oldest_pending_age_s": age_s,
        "last_success_at": state.last_success_at.isoformat()
        if state is not None and state.last_success_at else None,
        "last_error": state.last_error if state is not None else None,
        "clock_offset_s": state.clock_offset_s if state is not None else None,
    }
    warnings = []
    limit_s = app.config["SYNC_BACKLOG_WARN_MIN"] * 60
    if age_s is not None and age_s >= limit_s:
        warnings.append(_l(
            "%(n)d changes have not reached the central server for %(minutes)d minutes: check "
            "this kiosk's network. Check-ins are kept and will be sent.",
            n=backlog.pending, minutes=age_s // 60))
    offset = value["clock_offset_s"]
    if offset is not None and abs(offset) >= CLOCK_WARN_S:
        warnings.append(_l(
            "This kiosk's clock is %(minutes)d minutes off the central server's: set its time "
            "(check-in times are recorded by it, and other doors refuse codes it issues from "
            "the future).", minutes=max(1, round(abs(offset) / 60))))
    if len(warnings) > 1:
        return Reading(value, " ".join(str(w) for w in warnings))
    return Reading(value, warnings[0] if warnings else None)
