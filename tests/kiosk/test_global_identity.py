"""One installation, any door: visitors have a random global identity (uid) made with the record,
personal codes name it (not a row id), so a code dies with its record, is never taken for the
next person given the same row id, and is understood by a door that holds another signer's
public key. The door applies the newest declaration it knows: its own, or the one the code
describes."""
from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from sqlmodel import select

from core.cli import alembic_config
from core.db import create_engine_for_url
from declarations.services import issue_token
from declarations.tokens import KeyRing, generate_keyring
from kiosk.services import ScanError, confirm_scan, handle_scan, venue_consent_version
from tests.conftest import T0
from tests.kiosk.conftest import later
from tests.support.databases import scratch_database
from visits.models import Visit, Visitor

HEALTH = {"travel_14d": False, "travel_places": None, "symptoms": [], "exposures": [],
          "consent_processing": True, "consent_sensitive_health": True}


@pytest.fixture
def scan(session, venue, scan_settings):
    def do(payload, now, *, settings=None):
        return handle_scan(session=session, now=now, venue_code=venue.code, payload=payload,
                           settings=settings or scan_settings)

    return do


def test_every_visitor_gets_a_distinct_random_uid(make_visitor):
    people = [make_visitor(phone_e164=f"+8491234{i:04d}") for i in range(20)]
    uids = {person.uid for person in people}
    assert len(uids) == 20
    assert all(re.fullmatch(r"[0-9a-f]{24}", uid) for uid in uids)


def test_the_uid_is_made_by_core_inserts_too(session):
    """A lean Core INSERT (no ORM object) gets a uid from the column default."""
    session.execute(sa.insert(Visitor).values(full_name="Lê Văn Cường",
                                              name_folded="le van cuong", created_at=T0,
                                              updated_at=T0))
    session.commit()
    [uid] = session.exec(select(Visitor.uid)).all()
    assert re.fullmatch(r"[0-9a-f]{24}", uid)


def test_a_code_dies_with_its_record_even_when_the_row_id_is_given_again(
        session, venue, make_visitor, make_declaration, make_token, scan):
    first = make_visitor()
    token = make_token(first, make_declaration(visitor=first))
    first_id = first.id
    session.execute(sa.text("DELETE FROM declaration"))  # erased on request
    session.execute(sa.text("DELETE FROM visitor"))
    session.commit()
    session.expunge_all()
    # The next person is given the same row id (what SQLite does after deleting the last row).
    session.add(Visitor(id=first_id, full_name="Trần Thị Bình", name_folded="tran thi binh",
                        created_at=T0, updated_at=T0))
    session.commit()
    with pytest.raises(ScanError) as refused:
        scan(token, later(minutes=1))
    assert refused.value.code == "token_unknown_visitor"
    assert session.exec(select(Visit)).all() == []


def test_a_code_signed_at_another_door_checks_in_by_the_global_identity(
        session, venue, make_visitor, make_declaration, scan, scan_settings):
    """Another server of the installation signed the code with its own key; this door has only
    that key's public half, and knows the visitor by uid (its own row id differs)."""
    session.add(Visitor(full_name="Người khác", name_folded="nguoi khac", created_at=T0,
                        updated_at=T0))  # row ids here and there differ
    session.commit()
    visitor = make_visitor()
    declaration = make_declaration(visitor=visitor, submitted_at=later(hours=-1))
    elsewhere = generate_keyring()
    token = issue_token(elsewhere, visitor=visitor, declaration=declaration, now=later(hours=-1))

    with pytest.raises(ScanError) as refused:  # without the other door's key: unknown signer
        scan(token, T0)
    assert refused.value.code == "token_unknown_key"
    keys = KeyRing({**scan_settings.keyring.public_keys, **elsewhere.public_keys},
                   scan_settings.keyring.signing_key)
    result = scan(token, T0, settings=replace(scan_settings, keyring=keys))
    assert (result.action, result.visitor.uid) == ("check_in", visitor.uid)
    assert result.visit.declaration_id == declaration.id


def test_a_newer_flagged_declaration_named_by_the_code_wins_over_an_old_clear_one(
        session, venue, make_visitor, make_declaration, scan, keyring):
    """The person declared again elsewhere (flagged); this door holds only their old, clear
    declaration. The code's newer one decides: they wait for the receptionist."""
    visitor = make_visitor()
    old = make_declaration(visitor=visitor, submitted_at=later(hours=-30))
    newer = type("Elsewhere", (), {"submitted_at": later(hours=-1), "status": "needs_review"})()
    token = issue_token(keyring, visitor=visitor, declaration=newer, now=later(hours=-1))

    result = scan(token, T0)
    assert (result.action, result.status) == ("check_in", "needs_review")
    assert result.visit.declaration_id is None  # that declaration is not on this server
    assert old.status == "clear"


def test_a_stale_declaration_known_only_from_the_code_asks_the_health_questions(
        session, venue, make_visitor, make_declaration, scan, scan_settings, keyring):
    """Stale, and this door has none of its answers: "nothing has changed" cannot renew it, so
    the touchscreen asks the health questions (reason "renew") and the answers make a new
    declaration at the kiosk."""
    visitor = make_visitor()
    elsewhere = type("Elsewhere", (), {"submitted_at": later(hours=-30), "status": "clear"})()
    token = issue_token(keyring, visitor=visitor, declaration=elsewhere, now=later(hours=-30))

    asked = scan(token, T0)
    assert asked.action == "needs_confirmation"
    assert asked.confirmation["reason"] == "renew"
    assert asked.confirmation["declared_at"] == later(hours=-30).isoformat()
    assert session.exec(select(Visit)).all() == []

    version = venue_consent_version(venue, retention_days=scan_settings.retention_days)
    with pytest.raises(ScanError) as refused:  # no answers: nothing stored
        confirm_scan(session=session, now=later(seconds=20), ticket=asked.confirmation["ticket"],
                     changed=False, answers=None, settings=scan_settings)
    assert refused.value.code == "validation_failed"
    answered = confirm_scan(
        session=session, now=later(seconds=30), ticket=asked.confirmation["ticket"],
        changed=True, answers={**HEALTH, "consent_text_version": version},
        settings=scan_settings)
    assert (answered.action, answered.status, answered.visitor.id) == (
        "check_in", "clear", visitor.id)
    session.expire_all()
    [visit] = session.exec(select(Visit)).all()
    assert visit.declaration_id is not None and visit.visitor_id == visitor.id


def test_the_phone_remembers_the_visitor_by_uid_not_by_row_id(client, session, venue, clock):
    """The "remember me" cookie set by the phone form names the global identity: once the
    visitor is deleted and their row id given to someone else, the phone does not open the
    other person's record."""
    from declarations.venue_links import venue_path
    from tests.declarations.test_pages import FORM, SECRET

    link = venue_path(venue.code, SECRET)
    assert client.post(link, data=FORM).status_code == 302
    visitor = session.exec(select(Visitor)).one()
    assert "Chào mừng bạn trở lại, NGUYỄN VĂN AN" in client.get(link).get_data(as_text=True)

    for table in ("visit", "declaration", "visitor"):
        session.execute(sa.text(f"DELETE FROM {table}"))
    session.commit()
    session.expunge_all()
    session.add(Visitor(id=visitor.id, full_name="Trần Thị Bình", name_folded="tran thi binh",
                        phone_e164="+84987654321", created_at=T0, updated_at=T0))
    session.commit()
    page = client.get(link).get_data(as_text=True)
    assert "Chào mừng bạn trở lại" not in page
    assert "Trần Thị Bình" not in page and "TRẦN THỊ BÌNH" not in page
    assert "0987 654 321" not in page


def test_the_migration_gives_existing_visitors_distinct_uids(tmp_path):
    with scratch_database(tmp_path) as url:
        config = alembic_config(url)
        command.upgrade(config, "5c1e7b2a9d40")
        engine = create_engine_for_url(url)
        try:
            with engine.begin() as conn:
                for i in range(3):
                    conn.execute(sa.text(
                        "INSERT INTO visitor (full_name, name_folded, nationality, created_at,"
                        " updated_at) VALUES (:n, :n, 'VN', :t, :t)"),
                        {"n": f"khach {i}", "t": T0.replace(tzinfo=None)})
            command.upgrade(config, "head")
            with engine.connect() as conn:
                uids = conn.execute(sa.text("SELECT uid FROM visitor")).scalars().all()
                assert len(set(uids)) == 3
                assert all(re.fullmatch(r"[0-9a-f]{24}", uid) for uid in uids)
                with pytest.raises(sa.exc.IntegrityError):  # unique
                    conn.execute(sa.text(
                        "INSERT INTO visitor (uid, full_name, name_folded, nationality,"
                        " created_at, updated_at) VALUES (:u, 'x', 'x', 'VN', :t, :t)"),
                        {"u": uids[0], "t": T0.replace(tzinfo=None)})
        finally:
            engine.dispose()
