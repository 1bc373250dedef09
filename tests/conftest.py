"""Shared fixtures: app, client, runner, session, clock, factories, a live server and Chromium.

The suite runs on SQLite by default and on PostgreSQL when TEST_DATABASE_URL or DATABASE_URL
names a PostgreSQL server (a scratch database is created there and dropped afterwards). The
schema comes from the real migrations; each test starts with empty tables.
"""
from __future__ import annotations

import os
import shutil
import threading
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
from alembic import command as alembic_command
from hypothesis import settings as hypothesis_settings
from sqlalchemy import delete
from sqlmodel import SQLModel

from app import create_app, import_models
from core.audit import GENESIS_HASH
from core.auth import create_user, issue_api_token
from core.cli import alembic_config
from core.clock import ManualClock
from core.db import db
from core.i18n import compile_catalogs
from core.models import AuditChainHead, Venue
from tests.support.databases import scratch_database
from tests.support.requirements import skip_or_fail
from visits.models import Visit, Visitor

import_models()  # every table on SQLModel.metadata

# Property tests check what is answered, never how fast: Hypothesis's default 200 ms deadline per
# example would fail them on a loaded machine (nothing in `make test` depends on timing).
hypothesis_settings.register_profile("khaibao", deadline=None)
hypothesis_settings.load_profile("khaibao")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASSWORD = "correct horse battery"
# 09:00 in Hà Nội on a weekday: a plausible opening hour for fixed-time tests.
T0 = datetime(2026, 3, 10, 2, 0, tzinfo=timezone.utc)


def pytest_sessionstart(session):
    from pathlib import Path

    compile_catalogs(Path(ROOT))  # pages must render in Vietnamese even when run without make


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    with scratch_database(tmp_path_factory.mktemp("db")) as url:
        alembic_command.upgrade(alembic_config(url), "head")
        yield url


@pytest.fixture
def app_config():
    """Override in a module or test to change the app's config."""
    return {}


@pytest.fixture
def app(database_url, tmp_path, app_config):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret-key",
            "DATABASE_URL": database_url,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "WTF_CSRF_ENABLED": False,
            "PUBLIC_URL": "http://kiosk.test",
            "CAMERA_SOURCE": "none",
            "BLE": "off",
            # Abuse limits out of the way of functional tests; tests/hardening sets its own.
            "PUBLIC_RATE_LIMIT": "100000 per hour",
            "VENUE_RATE_LIMIT": "100000 per hour",
            **app_config,
        }
    )
    yield app
    with db.new_session(app) as session:
        for table in reversed(SQLModel.metadata.sorted_tables):
            session.execute(delete(table))
        session.add(AuditChainHead(id=1, seq=0, last_hash=GENESIS_HASH))  # as the migration left it
        session.commit()
    db.dispose(app)


@pytest.fixture
def client(app):
    return app.test_client()


def pair_screen(app) -> str:
    """Pair a door screen as an administrator would (kiosk/screens.py); returns the secret its
    browser keeps in the `khaibao_screen` cookie."""
    from kiosk import screens

    with db.new_session(app) as session:
        _device, code = screens.create_pairing(session=session, name="test screen",
                                               now=app.extensions["clock"].now())
        _device, secret = screens.pair(session=session, code=code,
                                       now=app.extensions["clock"].now())
    return secret


@pytest.fixture
def screen(app):
    """The kiosk's own door screen: a browser paired once, holding its screen cookie."""
    from kiosk.screens import COOKIE_NAME

    browser = app.test_client()
    browser.set_cookie(COOKIE_NAME, pair_screen(app))
    return browser


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def session(app):
    with db.new_session(app) as session:
        yield session


@pytest.fixture
def clock(app):
    """A clock that only moves when the test says so; the app reads it as "now"."""
    manual = ManualClock(T0)
    app.extensions["clock"] = manual
    return manual


@pytest.fixture
def make_venue(session):
    counter = iter(range(1, 10_000))

    def make(**overrides) -> Venue:
        n = next(counter)
        fields = {"code": f"V{n:03d}", "name": f"Địa điểm {n}", "created_at": T0, **overrides}
        venue = Venue(**fields)
        session.add(venue)
        session.commit()
        return venue

    return make


@pytest.fixture
def make_user(session):
    counter = iter(range(1, 10_000))

    def make(role: str = "receptionist", password: str = PASSWORD, **overrides):
        username = overrides.pop("username", f"{role}{next(counter)}")
        return create_user(session=session, username=username, role=role, password=password,
                           now=T0, **overrides)

    return make


@pytest.fixture
def api_token(session):
    def make(user) -> str:
        return issue_api_token(session=session, user=user, now=T0)

    return make


@pytest.fixture
def login(client):
    """Sign a user in through the real form; returns the response."""

    def do(user, password: str = PASSWORD):
        return client.post("/login", data={"username": user.username, "password": password})

    return do


@pytest.fixture
def make_visitor(session):
    def make(**overrides) -> Visitor:
        from declarations.identity import fold

        fields = {
            "full_name": "Nguyễn Văn An",
            "birth_year": 1990,
            "gender": "male",
            "phone_e164": "+84912345678",
            "id_number": "001090012345",
            "id_type": "cccd",
            "created_at": T0,
            "updated_at": T0,
            **overrides,
        }
        fields.setdefault("name_folded", fold(fields["full_name"]))
        visitor = Visitor(**fields)
        session.add(visitor)
        session.commit()
        return visitor

    return make


@pytest.fixture
def make_visit(session):
    def make(*, visitor, venue, checked_in_at, checked_out_at=None, **overrides) -> Visit:
        visit = Visit(
            visitor_id=visitor.id,
            venue_id=venue.id,
            checked_in_at=checked_in_at,
            checked_out_at=checked_out_at,
            opened_by=overrides.pop("opened_by", "scan"),
            closed_by=overrides.pop("closed_by", "scan" if checked_out_at else None),
            **overrides,
        )
        session.add(visit)
        session.commit()
        return visit

    return make


@pytest.fixture
def live_server(app):
    """The app on a real threaded HTTP server, CSRF on (browsers fill the real forms)."""
    from werkzeug.serving import make_server

    app.config["WTF_CSRF_ENABLED"] = True
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.port}"

    def screen_cookie() -> dict:
        """A freshly paired door screen's cookie, for a browser context's add_cookies()."""
        from kiosk.screens import COOKIE_NAME

        return {"name": COOKIE_NAME, "value": pair_screen(app), "url": url, "httpOnly": True}

    def pairing_link() -> str:
        """A one-time link that pairs the browser that opens it as the door screen."""
        from kiosk import screens

        with db.new_session(app) as session:
            _device, code = screens.create_pairing(session=session, name="test screen",
                                                   now=app.extensions["clock"].now())
        return f"{url}/kiosk/pair/{code}"

    yield SimpleNamespace(url=url, app=app, screen_cookie=screen_cookie,
                          pairing_link=pairing_link)
    server.shutdown()
    thread.join(timeout=10)


def chromium_path() -> str | None:
    return os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which(
        "chromium-browser"
    )


@pytest.fixture(scope="module")
def browser():
    # One browser per test module, not per session: a running sync Playwright keeps its event
    # loop set as the thread's running loop, and asyncio tests that come later in the same run
    # (BLE) would then fail with "event loop is already running".
    path = chromium_path()
    if not path:
        skip_or_fail("Chromium is not installed (make test installs Debian's chromium package)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=path,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--use-fake-ui-for-media-stream",
            ],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser):
    """Opens a page in a fresh browser context (no cookies; Vietnamese locale unless told).
    Any Content Security Policy violation or uncaught script error on it fails the test: the
    kiosk must work under its strict policy (no inline scripts)."""
    contexts = []
    problems: list[str] = []

    def open_(**context_options):
        options = {"locale": "vi-VN", "timezone_id": "Asia/Ho_Chi_Minh", **context_options}
        context = browser.new_context(**options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        new = context.new_page()
        new.on("console", lambda msg: problems.append(msg.text)
               if msg.type == "error" and "Content Security Policy" in msg.text else None)
        new.on("pageerror", lambda exc: problems.append(f"uncaught script error: {exc}"))
        return new

    yield open_
    for context in contexts:
        context.close()
    assert problems == [], "the page broke its Content Security Policy or threw: " + "; ".join(problems)


@pytest.fixture
def page(open_page):
    return open_page()
