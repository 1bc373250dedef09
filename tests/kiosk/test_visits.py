"""Visits by staff and by the clock: staff check-out, close-all, automatic check-out, the flagged
queue's decisions, and the events the screens hear (only after a commit)."""
from __future__ import annotations

from datetime import time, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from core.audit import verify_chain
from core.models import AuditEvent
from kiosk.desk import flagged_rows
from tests.conftest import T0
from tests.kiosk.conftest import drain
from visits.models import ClosedBy, Visit, VisitStatus
from visits.services import (
    VisitError,
    check_out_by_staff,
    close_all,
    close_overdue_visits,
    on_site,
    open_visit,
    review_visit,
)


def test_open_visit_publishes_after_commit_only(session, venue, make_visitor, stream):
    visitor = make_visitor()
    visit = open_visit(session=session, visitor_id=visitor.id, venue_id=venue.id, now=T0,
                       opened_by="phone_form", commit=False)
    assert drain(stream) == []  # not committed yet: the screen must not show it
    session.commit()
    [event] = drain(stream)
    assert event["type"] == "visit" and event["action"] == "check_in"
    assert event["visit_id"] == visit.id
    assert event["display_name"] == "NGUYỄN VĂN AN"
    assert event["local_time"] == "09:00"
    assert event["opened_by"] == "phone_form"


def test_a_rolled_back_check_in_is_never_shown(session, venue, make_visitor, stream):
    visitor = make_visitor()
    open_visit(session=session, visitor_id=visitor.id, venue_id=venue.id, now=T0,
               opened_by="scan", commit=False)
    session.rollback()
    session.commit()  # a later, empty commit must not flush the dropped event either
    assert drain(stream) == []
    assert session.exec(select(Visit)).all() == []


def test_imported_paper_lists_do_not_light_up_the_screen(session, venue, make_visitor, stream):
    from visits.services import close_visit

    visit = open_visit(session=session, visitor_id=make_visitor().id, venue_id=venue.id,
                       now=T0 - timedelta(days=2), opened_by="import")
    close_visit(session=session, visit=visit, now=T0 - timedelta(days=2, hours=-1),
                closed_by="staff")
    assert drain(stream) == []


def test_staff_check_out(session, venue, make_visitor, make_visit, stream):
    visit = make_visit(visitor=make_visitor(), venue=venue, checked_in_at=T0)
    check_out_by_staff(session=session, visit_id=visit.id, venue_id=venue.id,
                       now=T0 + timedelta(hours=2))
    session.refresh(visit)
    assert visit.checked_out_at == T0 + timedelta(hours=2)
    assert visit.closed_by == ClosedBy.staff
    [event] = drain(stream)
    assert event["action"] == "check_out" and event["closed_by"] == "staff"
    with pytest.raises(VisitError) as error:
        check_out_by_staff(session=session, visit_id=visit.id, venue_id=venue.id, now=T0)
    assert error.value.code == "visit_closed"


def test_staff_cannot_check_out_a_visit_of_another_venue(session, venue, make_venue,
                                                         make_visitor, make_visit):
    other = make_venue()
    visit = make_visit(visitor=make_visitor(), venue=other, checked_in_at=T0)
    with pytest.raises(VisitError) as error:
        check_out_by_staff(session=session, visit_id=visit.id, venue_id=venue.id, now=T0)
    assert error.value.code == "unknown_visit"
    session.refresh(visit)
    assert visit.checked_out_at is None


def test_close_all_closes_only_this_venues_open_visits_and_is_audited(
        session, venue, make_venue, make_visitor, make_visit, make_user, stream):
    receptionist = make_user("receptionist")
    other = make_venue()
    inside = [make_visit(visitor=make_visitor(), venue=venue, checked_in_at=T0 + timedelta(minutes=i))
              for i in range(3)]
    gone = make_visit(visitor=make_visitor(), venue=venue, checked_in_at=T0,
                      checked_out_at=T0 + timedelta(minutes=30))
    elsewhere = make_visit(visitor=make_visitor(), venue=other, checked_in_at=T0)
    now = T0 + timedelta(hours=9)
    assert close_all(session=session, venue_id=venue.id, now=now, actor=receptionist) == 3
    for visit in inside:
        session.refresh(visit)
        assert (visit.checked_out_at, visit.closed_by) == (now, "close_all")
    session.refresh(gone)
    session.refresh(elsewhere)
    assert gone.checked_out_at == T0 + timedelta(minutes=30) and gone.closed_by == "scan"
    assert elsewhere.checked_out_at is None
    assert on_site(session=session, venue_id=venue.id) == []
    [audit] = session.exec(select(AuditEvent)).all()
    assert (audit.action, audit.row_count, audit.actor) == ("visits.close_all", 3,
                                                            receptionist.username)
    assert verify_chain(session=session).ok
    assert [e["action"] for e in drain(stream)] == ["check_out"] * 3


def test_automatic_check_out_at_closing_time_and_maximum_stay(session, make_venue, make_visitor,
                                                              make_visit):
    # T0 is 09:00 in Hà Nội.
    shop = make_venue(closing_time=time(17, 30))
    clinic = make_venue(max_stay_min=120)
    plain = make_venue()
    at_shop = make_visit(visitor=make_visitor(), venue=shop, checked_in_at=T0)
    at_clinic = make_visit(visitor=make_visitor(), venue=clinic, checked_in_at=T0)
    at_plain = make_visit(visitor=make_visitor(), venue=plain, checked_in_at=T0)

    # 10:59: nothing is due yet.
    assert close_overdue_visits(session=session, now=T0 + timedelta(hours=1, minutes=59),
                                default_max_stay_min=720) == 0
    # 11:00: the clinic's two hours are up.
    assert close_overdue_visits(session=session, now=T0 + timedelta(hours=2),
                                default_max_stay_min=720) == 1
    # The job ran late (23:00): each visit closes at the moment it was due, not when noticed.
    assert close_overdue_visits(session=session, now=T0 + timedelta(hours=14),
                                default_max_stay_min=720) == 2
    for visit, due in ((at_shop, T0 + timedelta(hours=8, minutes=30)),
                       (at_clinic, T0 + timedelta(hours=2)),
                       (at_plain, T0 + timedelta(hours=12))):
        session.refresh(visit)
        assert visit.checked_out_at == due
        assert visit.closed_by == ClosedBy.automatic
    # Running again changes nothing.
    assert close_overdue_visits(session=session, now=T0 + timedelta(days=3),
                                default_max_stay_min=720) == 0


def test_automatic_check_out_reads_only_the_visits_that_can_be_due(session, make_venue,
                                                                   make_visitor, make_visit):
    """The job runs every minute beside the door's requests: it reads the visits that can be
    due, not every open visit (a busy day leaves thousands open, and reading them all held the
    door up for a quarter of a second each minute)."""
    clinic = make_venue(max_stay_min=120)
    shop = make_venue(closing_time=time(17, 30))
    make_visit(visitor=make_visitor(), venue=clinic, checked_in_at=T0)
    for minutes in range(1, 31):
        make_visit(visitor=make_visitor(), venue=clinic,
                   checked_in_at=T0 + timedelta(minutes=minutes))
        make_visit(visitor=make_visitor(), venue=shop,
                   checked_in_at=T0 + timedelta(minutes=minutes))
    session.expunge_all()
    loaded = []
    sa.event.listen(session, "loaded_as_persistent",
                    lambda _, instance: loaded.append(instance))

    assert close_overdue_visits(session=session, now=T0 + timedelta(hours=2),
                                default_max_stay_min=720) == 1
    assert [v.checked_in_at for v in loaded if isinstance(v, Visit)] == [T0]
    assert session.exec(select(sa.func.count()).select_from(Visit).where(
        Visit.checked_out_at.is_(None))).one() == 60


def test_flagged_visitor_admitted_with_a_note(session, venue, make_visitor, make_visit,
                                              make_user, stream):
    receptionist = make_user("receptionist")
    flagged = make_visit(visitor=make_visitor(full_name="Lê Thị Hoa"), venue=venue,
                         checked_in_at=T0, status="needs_review")
    make_visit(visitor=make_visitor(), venue=venue, checked_in_at=T0)  # a clear visitor
    assert [r.visit.id for r in flagged_rows(session=session, venue_id=venue.id)] == [flagged.id]

    review_visit(session=session, visit_id=flagged.id, venue_id=venue.id, admit=True,
                 note="  Đã đo nhiệt   độ: 36,8  ", actor=receptionist,
                 now=T0 + timedelta(minutes=3))
    session.refresh(flagged)
    assert flagged.status == VisitStatus.admitted
    assert flagged.review_note == "Đã đo nhiệt độ: 36,8"
    assert flagged.reviewed_by_id == receptionist.id
    assert flagged.checked_out_at is None
    assert flagged_rows(session=session, venue_id=venue.id) == []
    [audit] = session.exec(select(AuditEvent)).all()
    assert audit.action == "visit.admit" and audit.target_id == str(flagged.id)
    assert "36,8" not in str(audit.details)  # the note stays on the visit, not in the trail
    [event] = drain(stream)
    assert (event["action"], event["status"]) == ("admitted", "admitted")


def test_flagged_visitor_turned_away_leaves_the_site(session, venue, make_visitor, make_visit,
                                                     make_user, stream):
    receptionist = make_user("receptionist")
    flagged = make_visit(visitor=make_visitor(), venue=venue, checked_in_at=T0,
                         status="needs_review")
    review_visit(session=session, visit_id=flagged.id, venue_id=venue.id, admit=False, note=None,
                 actor=receptionist, now=T0 + timedelta(minutes=1))
    session.refresh(flagged)
    assert flagged.status == VisitStatus.turned_away
    assert flagged.checked_out_at == T0 + timedelta(minutes=1)
    assert flagged.closed_by == ClosedBy.staff
    assert on_site(session=session, venue_id=venue.id) == []
    assert session.exec(select(AuditEvent.action)).all() == ["visit.turn_away"]
    [event] = drain(stream)
    assert (event["action"], event["status"]) == ("check_out", "turned_away")


def test_review_refuses_a_clear_visit_or_an_overlong_note(session, venue, make_visitor,
                                                          make_visit, make_user):
    receptionist = make_user("receptionist")
    clear = make_visit(visitor=make_visitor(), venue=venue, checked_in_at=T0)
    with pytest.raises(VisitError) as error:
        review_visit(session=session, visit_id=clear.id, venue_id=venue.id, admit=True,
                     note=None, actor=receptionist, now=T0)
    assert error.value.code == "not_flagged"
    flagged = make_visit(visitor=make_visitor(), venue=venue, checked_in_at=T0,
                         status="needs_review")
    with pytest.raises(VisitError) as error:
        review_visit(session=session, visit_id=flagged.id, venue_id=venue.id, admit=True,
                     note="x" * 501, actor=receptionist, now=T0)
    assert error.value.code == "note_too_long"
    session.rollback()
    session.refresh(flagged)
    assert flagged.status == VisitStatus.needs_review
    assert session.exec(select(AuditEvent)).all() == []


def test_a_flagged_visitor_who_leaves_before_review_stays_in_the_queue(session, venue,
                                                                        make_visitor, make_visit,
                                                                        make_user, stream):
    """Scanning out after the minimum stay closes the visit, but nobody decided: the visitor
    stays in the queue, shown as gone, until a receptionist does."""
    from visits.services import close_visit

    receptionist = make_user("receptionist")
    flagged = make_visit(visitor=make_visitor(full_name="Lê Thị Hoa"), venue=venue,
                         checked_in_at=T0, status="needs_review")
    close_visit(session=session, visit=flagged, now=T0 + timedelta(minutes=20), closed_by="scan")
    [row] = flagged_rows(session=session, venue_id=venue.id)
    assert row.visit.id == flagged.id and row.left_before_review
    review_visit(session=session, visit_id=flagged.id, venue_id=venue.id, admit=False,
                 note=None, actor=receptionist, now=T0 + timedelta(minutes=30))
    session.refresh(flagged)
    assert flagged.status == VisitStatus.turned_away
    assert flagged.checked_out_at == T0 + timedelta(minutes=20)  # as it closed, not re-closed
    assert flagged_rows(session=session, venue_id=venue.id) == []
    [audit] = session.exec(select(AuditEvent)).all()
    assert audit.action == "visit.turn_away"
