"""Shared by the kiosk benchmarks: a migrated scratch SQLite database with a venue and visitors,
each with a fresh declaration and a personal QR token signed with the kiosk's own keys (the
instance folder's keyring, as the declarations package signs them)."""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path


def kiosk_database(tmp: Path, *, venue: str, visitors: int, config: dict | None = None):
    """(app, database URL, tokens). The app is configured like a kiosk at `venue`, with its
    instance folder (secret key, token keys) in tmp/instance."""
    from alembic import command

    from app import create_app, import_models
    from core.cli import alembic_config
    from core.db import db
    from core.models import Venue
    from declarations.models import Declaration
    from declarations.services import issue_token
    from kiosk.runtime import token_keyring
    from visits.models import Visitor

    import_models()  # every table on SQLModel.metadata

    url = f"sqlite:///{tmp / 'kiosk.db'}"
    command.upgrade(alembic_config(url), "head")
    app = create_app({"DATABASE_URL": url, "INSTANCE_PATH": str(tmp / "instance"),
                      "CAMERA_SOURCE": "none", "BLE": "off", "VENUE": venue, **(config or {})})
    now = datetime.now(UTC)
    tokens = []
    with db.new_session(app) as session:
        session.add(Venue(code=venue, name="Trụ sở chính (bench)", created_at=now))
        session.commit()
        ring = token_keyring(app)
        for i in range(visitors):
            visitor = Visitor(full_name=f"Nguyễn Văn Khách {i}", name_folded=f"nguyen van khach {i}",
                              birth_year=1990, gender="male", phone_e164=f"+8491200{i:04d}",
                              id_number=f"0010900{i:05d}", id_type="cccd", created_at=now,
                              updated_at=now)
            session.add(visitor)
            session.commit()
            declaration = Declaration(
                visitor_id=visitor.id, submitted_at=now, source="phone_form", travel_14d=False,
                symptoms=[], exposures=[], status="clear", rules_version="default-1",
                consent_processing=True, consent_sensitive_health=True,
                consent_text_version="bench", consent_at=now)
            session.add(declaration)
            session.commit()
            tokens.append(issue_token(ring, visitor=visitor, declaration=declaration, now=now))
    return app, url, tokens


def screen_cookie(app) -> str:
    """The Cookie header of a door screen paired with `app`'s database (the door pages and the
    event stream answer only a paired screen, kiosk/screens.py)."""
    from datetime import UTC, datetime

    from core.db import db
    from kiosk import screens

    with db.new_session(app) as session:
        _device, code = screens.create_pairing(session=session, name="bench screen",
                                               now=datetime.now(UTC))
        _device, secret = screens.pair(session=session, code=code, now=datetime.now(UTC))
    return f"{screens.COOKIE_NAME}={secret}"
