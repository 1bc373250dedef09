"""Kiosk fixtures: declarations, personal tokens signed with the app's own keys, scan settings."""
from __future__ import annotations

from datetime import timedelta

import pytest

from declarations.models import Declaration
from kiosk import events, runtime
from tests.conftest import T0


@pytest.fixture
def make_declaration(session):
    def make(*, visitor, submitted_at=T0, status="clear", **overrides) -> Declaration:
        fields = {
            "visitor_id": visitor.id,
            "submitted_at": submitted_at,
            "source": "phone_form",
            "travel_14d": False,
            "symptoms": [],
            "exposures": [],
            "status": status,
            "rules_version": "default-1",
            "consent_processing": True,
            "consent_sensitive_health": True,
            "consent_text_version": "test",
            "consent_at": submitted_at,
            **overrides,
        }
        declaration = Declaration(**fields)
        session.add(declaration)
        session.commit()
        return declaration

    return make


@pytest.fixture
def keyring(app):
    return runtime.token_keyring(app)


@pytest.fixture
def make_token(keyring):
    def make(visitor, declaration, issued_at=T0) -> str:
        return keyring.issue(visitor_id=visitor.id, declaration_id=declaration.id, now=issued_at)

    return make


@pytest.fixture
def scan_settings(app):
    return runtime.scan_settings(app)


@pytest.fixture
def venue(make_venue):
    return make_venue(code="HQ", name="Trụ sở chính")


@pytest.fixture
def stream(venue):
    """What the venue's screens hear."""
    with events.broker.subscribe(venue.code) as subscription:
        yield subscription


def drain(subscription) -> list[dict]:
    found = []
    while (event := subscription.get(timeout=0)) is not None:
        found.append(event)
    return found


def later(**delta):
    return T0 + timedelta(**delta)
