"""The hot paths build the rows they INSERT themselves (core.db.new_row, row_instance) instead of
calling the models' __init__: the objects must hold what `Model(**values)` would, defaults and
default factories included, and behave as loaded rows once attached."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import make_transient_to_detached

from core.db import new_row, row_instance
from core.models import Venue
from declarations.models import Declaration
from tests.conftest import T0
from visits.models import Visit, Visitor


def _columns(instance) -> dict:
    return {c.key: getattr(instance, c.key) for c in type(instance).__table__.columns}


def _without_uid(values: dict) -> dict:
    return {k: v for k, v in values.items() if k != "uid"}


def test_new_row_holds_what_the_model_would_defaults_included():
    cases = [
        (Visitor, {"full_name": "Nguyễn Văn An", "name_folded": "nguyen van an",
                   "created_at": T0, "updated_at": T0}),
        (Declaration, {"visitor_id": 1, "venue_id": 1, "submitted_at": T0, "lang": "vi",
                       "source": "phone_form", "travel_14d": False, "symptoms": ["ho"],
                       "exposures": [], "status": "clear", "rules_version": "default-1",
                       "consent_processing": True, "consent_sensitive_health": True,
                       "consent_text_version": "v1", "consent_at": T0}),
        (Visit, {"visitor_id": 1, "venue_id": 1, "checked_in_at": T0, "opened_by": "scan"}),
    ]
    for model, values in cases:
        built, reference = new_row(model, **values), model(**values)
        assert _without_uid(_columns(built)) == _without_uid(_columns(reference)), model
        if "uid" in model.model_fields:  # a default factory runs for each row
            assert built.uid and built.uid != new_row(model, **values).uid


def test_a_row_instance_attached_reads_and_writes_as_a_loaded_row(session):
    venue = Venue(code="ROW", name="Trạm y tế", created_at=T0)
    session.add(venue)
    session.commit()
    values = _columns(venue)
    session.expunge_all()
    copy = row_instance(Venue, values)
    make_transient_to_detached(copy)
    session.add(copy)
    assert session.get(Venue, values["id"]) is copy  # no second object for the same row
    copy.name = "Trạm y tế phường"
    session.commit()
    name = session.execute(sa.select(Venue.name).where(Venue.id == values["id"])).scalar_one()
    assert name == "Trạm y tế phường"
    assert copy.model_dump()["code"] == "ROW"
