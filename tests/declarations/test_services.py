"""Declaration services against the real database: one transaction or nothing, re-confirmation,
token identification, configured triage rules recorded with each decision."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core.models import Venue
from declarations.consent import consent_version
from declarations.models import Declaration
from declarations.rules import rules_from_config
from declarations.schema import validate_declaration
from declarations.services import (
    DeclarationError,
    TokenRejected,
    identify_token,
    reconfirm_declaration,
    submit_declaration,
)
from declarations.tokens import generate_keyring
from tests.conftest import T0
from tests.declarations.test_schema import DESIGN_EXAMPLE
from visits.models import Visit, Visitor

KEYS = generate_keyring()
VERSION = consent_version(retention_days=21)


def clean(**changes):
    data = dict(DESIGN_EXAMPLE, symptoms=[], exposures=[])
    data.update(changes)
    result = validate_declaration(data, now=T0, consent_version=VERSION)
    assert result.ok, result.errors
    return result.declaration


def counts(session):
    session.expire_all()
    return tuple(session.exec(select(func.count()).select_from(m)).one()[0]
                 for m in (Visitor, Declaration, Visit))


@pytest.fixture
def venue(make_venue):
    return make_venue(code="HQ", name="Trụ sở")


def test_submit_is_one_unit_of_work_or_nothing(session, venue):
    ghost = Venue(id=9999, code="GHOST", name="không tồn tại")  # not in the database
    with pytest.raises(Exception):
        submit_declaration(session=session, clean=clean(), venue=ghost, now=T0, keyring=KEYS)
    assert counts(session) == (0, 0, 0)
    result = submit_declaration(session=session, clean=clean(), venue=venue, now=T0,
                                keyring=KEYS)
    assert counts(session) == (1, 1, 1)
    claims = KEYS.verify(result.token, now=T0, max_age=None)
    assert (claims.visitor_uid, claims.declared_at, claims.flagged) == (
        result.visitor.uid, result.declaration.submitted_at, False)


def test_configured_rules_decide_and_their_version_is_stored(session, venue):
    rules = rules_from_config({"flag_symptoms": ["fever"], "fever_threshold_c": 38.0})
    cough = submit_declaration(session=session, clean=clean(symptoms=["cough"]), venue=venue,
                               now=T0, keyring=KEYS, rules=rules)
    assert (cough.declaration.status, cough.declaration.rules_version) == ("clear",
                                                                            rules.version)
    assert cough.visit.status == "clear"


def test_reconfirmation_copies_answers_and_retriages(session, venue):
    first = submit_declaration(session=session, clean=clean(symptoms=["cough"],
                                                            body_temperature_c=38.2),
                               venue=venue, now=T0, keyring=KEYS)
    later = T0 + timedelta(hours=30)
    again = reconfirm_declaration(session=session, previous=first.declaration, venue=venue,
                                  now=later, keyring=KEYS, consent_version=VERSION,
                                  rules=rules_from_config({"flag_symptoms": []}))
    d = again.declaration
    assert (d.source, d.previous_declaration_id, d.symptoms) == (
        "reconfirmation", first.declaration.id, ["cough"])
    assert (d.submitted_at, d.body_temperature_c, d.status) == (later, None, "clear")
    assert (d.consent_at, d.consent_text_version) == (T0, VERSION)  # consent given at T0


def test_reconfirmation_refused_when_the_consent_text_changed(session, venue):
    first = submit_declaration(session=session, clean=clean(), venue=venue, now=T0,
                               keyring=KEYS)
    before = counts(session)
    with pytest.raises(DeclarationError) as caught:
        reconfirm_declaration(session=session, previous=first.declaration, venue=venue,
                              now=T0 + timedelta(days=2), keyring=KEYS,
                              consent_version=consent_version(retention_days=28))
    assert caught.value.problem.code == "consent_changed"
    assert counts(session) == before


def test_identify_token_reports_fresh_stale_and_gone(session, venue):
    result = submit_declaration(session=session, clean=clean(), venue=venue, now=T0,
                                keyring=KEYS)
    day = timedelta(hours=24)
    fresh = identify_token(session=session, keyring=KEYS, text=result.token,
                           now=T0 + timedelta(hours=23), max_age=None, fresh_for=day)
    assert fresh.fresh and fresh.declaration_id == result.declaration.id
    stale = identify_token(session=session, keyring=KEYS, text=result.token,
                           now=T0 + timedelta(hours=24), max_age=None, fresh_for=day)
    assert not stale.fresh
    for model, row_id in ((Visit, result.visit.id), (Declaration, result.declaration.id),
                          (Visitor, result.visitor.id)):  # purged, as after retention
        session.delete(session.get(model, row_id))
        session.commit()
    with pytest.raises(TokenRejected) as caught:
        identify_token(session=session, keyring=KEYS, text=result.token, now=T0,
                       max_age=None, fresh_for=day)
    assert caught.value.reason == "unknown_visitor"


def test_a_shared_phone_does_not_merge_two_people(session, venue):
    an = submit_declaration(session=session, clean=clean(), venue=venue, now=T0, keyring=KEYS)
    binh = submit_declaration(
        session=session, clean=clean(full_name="Trần Thị Bình", id_number="001190012345",
                                     gender="female"),
        venue=venue, now=T0, keyring=KEYS, remembered_visitor_id=an.visitor.id)
    assert binh.visitor.id != an.visitor.id
    session.refresh(an.visitor)
    assert an.visitor.full_name == "Nguyễn Văn An"
