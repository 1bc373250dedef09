"""Hardening tests: abuse limits, bad input, privacy. Shared helpers and one hypothesis profile
(moderate example counts: the suite runs on two cores; no deadline, the app is real)."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import func, select

from declarations.models import Declaration
from tests.declarations.test_schema import DESIGN_EXAMPLE
from tests.kiosk.conftest import keyring, make_declaration, make_token  # noqa: F401
from visits.models import Visit, Visitor

settings.register_profile(
    "hardening", max_examples=40, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
HARDENING = settings.get_profile("hardening")

# Addresses from the documentation ranges (RFC 5737): "somewhere on the internet".
ALICE = {"REMOTE_ADDR": "192.0.2.10"}
BOB = {"REMOTE_ADDR": "192.0.2.20"}


def declaration_body(**changes) -> dict:
    data = dict(DESIGN_EXAMPLE, symptoms=[], exposures=[], venue_code="HQ")
    data.update(changes)
    return data


def counts(session) -> tuple[int, int, int]:
    """(visitors, declarations, visits) as stored now."""
    session.expire_all()
    return tuple(session.execute(select(func.count()).select_from(model)).scalar_one()
                 for model in (Visitor, Declaration, Visit))


@pytest.fixture
def venue(make_venue, clock):
    return make_venue(code="HQ", name="Trụ sở chính", unit="Công ty ABC")
