"""Exposure notices: giving them (one per co-present visitor), showing them (the personal page,
the kiosk's card), delivering them (e-mail, SMS, with retries and backoff) and resending.
Audited with ids and counts only; never a name, a phone or an address in a log."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable

from sqlmodel import Session, select

from core.audit import record_audit
from core.models import Venue
from notices import texts
from notices.delivery import DeliveryError, send_email, send_sms
from notices.models import Exposure, ExposureNotice
from visits.models import Visitor

logger = logging.getLogger(__name__)

CHANNELS = ("email", "sms")


@dataclass(frozen=True)
class NoticeTarget:
    """A co-present visitor who met the rule: where and when they shared the place."""

    visitor_id: int
    venue_id: int
    exposed_from: datetime
    exposed_until: datetime
    overlap_min: float


@dataclass(frozen=True)
class DeliverySettings:
    smtp_url: str | None
    sms_webhook_url: str | None
    sender: str = "khaibao@localhost"
    max_attempts: int = 5
    retry_s: int = 30           # the first retry; each next one waits twice as long
    max_retry_s: int = 3600


def backoff(attempts: int, settings: DeliverySettings) -> timedelta:
    """The wait after the `attempts`-th failure: retry_s, 2×, 4×… capped at max_retry_s."""
    return timedelta(seconds=min(settings.retry_s * 2 ** max(attempts - 1, 0),
                                 settings.max_retry_s))


def give_notices(*, session: Session, targets: Iterable[NoticeTarget], index_visit_ids,
                 before_min: int, after_min: int, min_overlap_min: int,
                 settings: DeliverySettings, actor, now: datetime) -> tuple[Exposure,
                                                                            list[ExposureNotice]]:
    """One exposure and a notice per visitor (the longest overlap when they met the case more
    than once), e-mail and SMS queued when the visitor gave an address and the channel is on.
    One transaction, audited with ids and counts."""
    best: dict[int, NoticeTarget] = {}
    for target in targets:
        if target.overlap_min < min_overlap_min:
            continue
        if (target.visitor_id not in best
                or target.overlap_min > best[target.visitor_id].overlap_min):
            best[target.visitor_id] = target
    actor_label = getattr(actor, "username", None) or str(actor or "system")
    exposure = Exposure(created_at=now, actor=actor_label, index_visit_ids=list(index_visit_ids),
                        before_min=before_min, after_min=after_min,
                        min_overlap_min=min_overlap_min)
    session.add(exposure)
    session.flush()
    visitors = {v.id: v for v in session.exec(
        select(Visitor).where(Visitor.id.in_(sorted(best))))} if best else {}
    notices = []
    for visitor_id, target in sorted(best.items()):
        visitor = visitors[visitor_id]
        email = bool(settings.smtp_url and visitor.email)
        sms = bool(settings.sms_webhook_url and visitor.phone_e164)
        notice = ExposureNotice(
            exposure_id=exposure.id, visitor_id=visitor_id, venue_id=target.venue_id,
            exposed_from=target.exposed_from, exposed_until=target.exposed_until,
            overlap_min=round(target.overlap_min, 1), lang=_visitor_lang(session, visitor_id),
            created_at=now, email_status="pending" if email else "none",
            email_next_at=now if email else None, sms_status="pending" if sms else "none",
            sms_next_at=now if sms else None)
        session.add(notice)
        notices.append(notice)
    session.flush()
    record_audit(session=session, now=now, actor=actor, action="exposure.notify",
                 target_type="exposure", target_id=exposure.id,
                 details={"index_visit_ids": list(index_visit_ids),
                          "before_min": before_min, "after_min": after_min,
                          "min_overlap_min": min_overlap_min,
                          "notice_ids": [n.id for n in notices]},
                 row_count=len(notices))
    session.commit()
    logger.info("exposure %s: %d notices", exposure.id, len(notices))
    return exposure, notices


def _visitor_lang(session: Session, visitor_id: int) -> str:
    from sqlalchemy import text

    row = session.execute(text("SELECT lang FROM declaration WHERE visitor_id = :v "
                               "ORDER BY submitted_at DESC LIMIT 1"), {"v": visitor_id}).first()
    return row[0] if row and row[0] in ("vi", "en") else "vi"


def _venue_name(session: Session, venue_id: int) -> str:
    venue = session.get(Venue, venue_id)
    return venue.name if venue else ""


def notice_view(session: Session, notice: ExposureNotice) -> dict:
    """What a page or the kiosk card shows, in the current locale."""
    return {"id": notice.id, **texts.notice_lines(
        venue=_venue_name(session, notice.venue_id), start=notice.exposed_from,
        end=notice.exposed_until)}


def notices_for_page(*, session: Session, visitor_ids: Iterable[int],
                     now: datetime) -> list[dict]:
    """Every notice of these visitors (newest first), for their personal page; the unread ones
    are marked read now."""
    ids = sorted(set(visitor_ids))
    if not ids:
        return []
    notices = session.exec(select(ExposureNotice).where(ExposureNotice.visitor_id.in_(ids))
                           .order_by(ExposureNotice.created_at.desc())).all()
    shown = []
    for notice in notices:
        view = notice_view(session, notice)
        view["new"] = notice.seen_on_page_at is None
        if notice.seen_on_page_at is None:
            notice.seen_on_page_at = now
            session.add(notice)
        shown.append(view)
    session.commit()
    return shown


def notice_for_kiosk(*, session: Session, visitor_id: int | None, now: datetime) -> dict | None:
    """The newest notice this visitor has not yet been shown at a kiosk (then marked shown), as
    the check-in answer's `notice`; None otherwise. Called after the check-in committed."""
    if not visitor_id:
        return None
    notice = session.exec(select(ExposureNotice).where(
        ExposureNotice.visitor_id == visitor_id, ExposureNotice.seen_at_kiosk_at.is_(None))
        .order_by(ExposureNotice.created_at.desc())).first()
    if notice is None:  # on a kiosk of an installation: one the central server sent down
        from notices.doors import door_notice_for

        waiting = door_notice_for(session, visitor_id=visitor_id, now=now)
        if waiting is None:
            return None
        session.commit()
        return {"id": waiting.notice_id, **texts.notice_lines(
            venue=waiting.venue_name, start=waiting.exposed_from, end=waiting.exposed_until)}
    view = notice_view(session, notice)
    notice.seen_at_kiosk_at = now
    session.add(notice)
    session.commit()
    return view


def _due(session: Session, channel: str, now: datetime, limit: int) -> list[int]:
    status = getattr(ExposureNotice, f"{channel}_status")
    next_at = getattr(ExposureNotice, f"{channel}_next_at")
    return list(session.exec(select(ExposureNotice.id).where(status == "pending",
                                                             next_at <= now)
                             .order_by(next_at).limit(limit)))


def deliver_due(*, session: Session, settings: DeliverySettings, now: datetime,
                limit: int = 50) -> dict:
    """One pass of the delivery worker: every pending e-mail and SMS that is due, each tried
    once; a failure waits (backoff) and after max_attempts is marked failed for the tracer to
    see and resend. Each notice's outcome is committed on its own. Returns counts."""
    counts = {"sent": 0, "retry": 0, "failed": 0}
    for channel in CHANNELS:
        for notice_id in _due(session, channel, now, limit):
            notice = session.get(ExposureNotice, notice_id)
            visitor = session.get(Visitor, notice.visitor_id)
            try:
                _send(session, channel, notice, visitor, settings)
            except DeliveryError as exc:
                attempts = getattr(notice, f"{channel}_attempts") + 1
                setattr(notice, f"{channel}_attempts", attempts)
                setattr(notice, f"{channel}_error", str(exc)[:200])
                if attempts >= settings.max_attempts:
                    setattr(notice, f"{channel}_status", "failed")
                    setattr(notice, f"{channel}_next_at", None)
                    counts["failed"] += 1
                    logger.warning("notice %s: %s failed after %d attempts", notice.id,
                                   channel, attempts)
                else:
                    setattr(notice, f"{channel}_next_at", now + backoff(attempts, settings))
                    counts["retry"] += 1
                    logger.info("notice %s: %s attempt %d failed, will retry", notice.id,
                                channel, attempts)
            else:
                setattr(notice, f"{channel}_attempts", getattr(notice, f"{channel}_attempts") + 1)
                setattr(notice, f"{channel}_status", "sent")
                setattr(notice, f"{channel}_next_at", None)
                setattr(notice, f"{channel}_error", None)
                counts["sent"] += 1
                logger.info("notice %s: %s sent", notice.id, channel)
            session.add(notice)
            session.commit()
    return counts


def _send(session: Session, channel: str, notice: ExposureNotice, visitor: Visitor | None,
          settings: DeliverySettings) -> None:
    venue = _venue_name(session, notice.venue_id)
    if channel == "email":
        if not (settings.smtp_url and visitor and visitor.email):
            raise DeliveryError("e-mail is off or the visitor has no address")
        subject, body = texts.email_message(notice.lang, venue=venue, start=notice.exposed_from,
                                            end=notice.exposed_until)
        send_email(settings.smtp_url, sender=settings.sender, to=visitor.email,
                   subject=subject, body=body)
    else:
        if not (settings.sms_webhook_url and visitor and visitor.phone_e164):
            raise DeliveryError("SMS is off or the visitor has no phone")
        lines = texts.in_language(notice.lang, venue=venue, start=notice.exposed_from,
                                  end=notice.exposed_until)
        send_sms(settings.sms_webhook_url, to=visitor.phone_e164, text=lines["sms"])


def resend(*, session: Session, notice_id: int, actor, now: datetime) -> ExposureNotice | None:
    """Queue a notice's failed (or sent) e-mail and SMS again, from the first attempt."""
    notice = session.get(ExposureNotice, notice_id)
    if notice is None:
        return None
    channels = []
    for channel in CHANNELS:
        if getattr(notice, f"{channel}_status") in ("failed", "sent"):
            setattr(notice, f"{channel}_status", "pending")
            setattr(notice, f"{channel}_attempts", 0)
            setattr(notice, f"{channel}_next_at", now)
            channels.append(channel)
    session.add(notice)
    record_audit(session=session, now=now, actor=actor, action="exposure.resend",
                 target_type="notice", target_id=notice.id, details={"channels": channels},
                 row_count=len(channels))
    session.commit()
    return notice


def exposures_with_notices(*, session: Session, limit: int = 50) -> list[tuple[Exposure, list]]:
    """The latest exposures and their notices with each visitor's display data, for the tracer."""
    exposures = session.exec(select(Exposure).order_by(Exposure.created_at.desc())
                             .limit(limit)).all()
    out = []
    for exposure in exposures:
        rows = session.exec(select(ExposureNotice, Visitor, Venue)
                            .join(Visitor, Visitor.id == ExposureNotice.visitor_id)
                            .join(Venue, Venue.id == ExposureNotice.venue_id)
                            .where(ExposureNotice.exposure_id == exposure.id)
                            .order_by(ExposureNotice.id)).all()
        out.append((exposure, rows))
    return out


def purge_notices(*, session: Session, before: datetime | None,
                  visitor_ids: Iterable[int] = ()) -> int:
    """Retention and erasure: delete notices older than `before`, and every notice of these
    visitors (they are being deleted); then exposures older than `before` left with no notice.
    The caller commits."""
    from sqlalchemy import delete, false, or_

    ids = sorted(set(visitor_ids))
    condition = ExposureNotice.created_at < before if before is not None else false()
    if ids:
        condition = or_(condition, ExposureNotice.visitor_id.in_(ids))
    count = session.execute(delete(ExposureNotice).where(condition)
                            .execution_options(synchronize_session=False)).rowcount or 0
    from notices.models import HostNotice

    host_condition = HostNotice.arrived_at < before if before is not None else false()
    if ids:
        host_condition = or_(host_condition, HostNotice.visitor_id.in_(ids))
    session.execute(delete(HostNotice).where(host_condition)
                    .execution_options(synchronize_session=False))
    from notices.models import DoorNotice

    if before is not None:
        session.execute(delete(DoorNotice).where(DoorNotice.created_at < before)
                        .execution_options(synchronize_session=False))
    if ids:
        session.execute(delete(DoorNotice).where(DoorNotice.visitor_uid.in_(
            select(Visitor.uid).where(Visitor.id.in_(ids)))).execution_options(
            synchronize_session=False))
    if before is not None:
        session.execute(delete(Exposure).where(
            Exposure.created_at < before,
            ~select(ExposureNotice.id).where(ExposureNotice.exposure_id == Exposure.id)
            .exists()).execution_options(synchronize_session=False))
    return count
