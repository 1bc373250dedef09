"""The installation end to end, with real processes: a central server (gunicorn, several workers,
PostgreSQL, Redis for live events) and two kiosks of one venue (`kiosk run` on their own SQLite),
each linked to it through a TCP proxy that the test cuts and restores. Visitors declare and check
in and out at both doors and on the central server itself; a door keeps answering while its link
is down; a kiosk is killed with SIGKILL after the central server stored its batch but before it
heard so; when the links are back the central server holds every visit exactly once, finds the
contacts across the two doors, and a revocation made centrally is refused at both doors."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command as alembic_command

from core.cli import alembic_config
from core.i18n import LOCAL_TZ
from tests.hardening.faults_support import wait_until
from tests.hardening.test_faults_sigkill import Server, _flask, _free_port, _healthz, _post
from tests.support.databases import scratch_database, server_url
from tests.support.requirements import skip_or_fail
from tests.sync.proxy import LinkProxy

ROOT = Path(__file__).resolve().parents[2]
POSTGRES = server_url() or os.environ.get("KHAIBAO_E2E_POSTGRES_URL",
                                          "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("KHAIBAO_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
PASSWORD = "correct horse battery"


def _needs(postgres: str, redis_url: str) -> None:
    try:
        engine = sa.create_engine(postgres.replace("postgresql://", "postgresql+psycopg://", 1),
                                  connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
    except Exception:
        skip_or_fail("PostgreSQL is not running on 127.0.0.1:5432")
    import redis

    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=1).ping()
    except Exception:
        skip_or_fail("Redis is not running on 127.0.0.1:6379")


def _get(url: str, token: str | None = None) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                    timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


class Central:
    """gunicorn with the real app factory, as deploy/khaibao-central.service runs it."""

    def __init__(self, env: dict, log: Path):
        self.env, self.log = env, log
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        gunicorn = Path(sys.executable).with_name("gunicorn")
        with open(log, "wb") as output:
            self.process = subprocess.Popen(
                [str(gunicorn), "--workers", "3", "--threads", "4", "--bind",
                 f"127.0.0.1:{self.port}", "app:create_app()"],
                cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
                start_new_session=True)
        wait_until(lambda: self.process.poll() is None
                   and (_healthz(self.port) or {}).get("status") == "ok", timeout=90)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


def _person(i: int, family: str, given: str) -> dict:
    return {"venue_code": "HQ", "lang": "vi", "full_name": f"{family} Văn {given}",
            "birth_year": 1990, "gender": "male", "nationality": "VN",
            "id_number": f"0010900{i:05d}", "phone": f"090{i:07d}", "email": None,
            "province_code": "01", "ward_code": "00004", "street_address": "Số 1 Tràng Tiền",
            "travel_14d": False, "travel_places": None, "symptoms": [], "exposures": [],
            "declared_for_other": False, "consent_processing": True,
            "consent_sensitive_health": True}


GIVEN = ("An", "Bình", "Cường", "Dũng", "Giang", "Hải", "Khánh", "Long", "Minh", "Nam",
         "Phúc", "Quang", "Sơn", "Thắng", "Tuấn", "Việt", "Xuân", "Đức", "Hùng", "Lâm")


def _kiosk_uids(path: Path, table: str) -> set[str]:
    with sqlite3.connect(path) as connection:
        return {row[0] for row in connection.execute(f"SELECT uid FROM {table}")}


def _pending(kiosk: Server) -> int | None:
    body = _healthz(kiosk.port) or {}
    sync = body.get("components", {}).get("sync")
    return sync.get("pending") if isinstance(sync, dict) else None


@pytest.fixture
def installation(tmp_path):
    _needs(POSTGRES, REDIS)
    base = {k: v for k, v in os.environ.items() if not k.startswith("KIOSK_")}
    base.pop("DATABASE_URL", None)
    started: list = []
    proxies: list[LinkProxy] = []
    old = os.environ.get("TEST_DATABASE_URL")
    os.environ["TEST_DATABASE_URL"] = POSTGRES  # the central database is PostgreSQL
    try:
        with scratch_database(tmp_path) as central_url:
            alembic_command.upgrade(alembic_config(central_url), "head")
            env = {**base, "DATABASE_URL": central_url, "KIOSK_SECRET_KEY": "central-secret",
                   "KIOSK_EVENTS_URL": REDIS, "KIOSK_CAMERA_SOURCE": "none", "KIOSK_BLE": "off",
                   "KIOSK_VENUE": "HQ", "KIOSK_PUBLIC_URL": "http://central.test",
                   "KIOSK_RATELIMIT_STORAGE_URI": "memory://",
                   "KIOSK_PUBLIC_RATE_LIMIT": "100000 per hour",
                   "KIOSK_VENUE_RATE_LIMIT": "100000 per hour"}
            (tmp_path / "central").mkdir()
            # Each server its own instance folder: its own secret and its own signing key.
            env_central = {**env, "KIOSK_INSTANCE_PATH": str(tmp_path / "central")}
            _flask(env_central, "venue", "create", "--code", "HQ", "--name", "Trụ sở chính")
            tracer = _flask(env_central, "user", "create", "--username", "tracer", "--role",
                            "tracer", "--password", PASSWORD, "--print-token").split()[-1]
            tokens = [_flask(env_central, "device", "enrol", "--venue", "HQ", "--name",
                             f"Cổng {door}").strip().splitlines()[-1] for door in "AB"]
            central = Central(env_central, tmp_path / "central.log")
            started.append(central)
            kiosks = {}
            for door, token in zip("AB", tokens):
                folder = tmp_path / f"kiosk-{door}"
                folder.mkdir()
                db_path = folder / "kiosk.db"
                alembic_command.upgrade(alembic_config(f"sqlite:///{db_path}"), "head")
                proxy = LinkProxy(central.port)
                proxies.append(proxy)
                kiosk_env = {**base, "DATABASE_URL": f"sqlite:///{db_path}",
                             "KIOSK_INSTANCE_PATH": str(folder / "instance"),
                             "KIOSK_SECRET_KEY": f"kiosk-{door}", "KIOSK_VENUE": "HQ",
                             "KIOSK_CAMERA_SOURCE": "none", "KIOSK_BLE": "off",
                             "KIOSK_PUBLIC_URL": "http://kiosk.test", "KIOSK_MIN_STAY_MIN": "0",
                             "KIOSK_REPEAT_SCAN_S": "0",
                             "KIOSK_CENTRAL_URL": proxy.url, "KIOSK_DEVICE_TOKEN": token,
                             "KIOSK_SYNC_INTERVAL_S": "1", "KIOSK_SYNC_CONNECT_TIMEOUT_S": "1",
                             "KIOSK_SYNC_READ_TIMEOUT_S": "2",
                             "KIOSK_PUBLIC_RATE_LIMIT": "100000 per hour",
                             "KIOSK_VENUE_RATE_LIMIT": "100000 per hour"}
                _flask(kiosk_env, "venue", "create", "--code", "HQ", "--name", "Trụ sở chính")
                desk = _flask(kiosk_env, "user", "create", "--username", "letan", "--role",
                              "receptionist", "--password", PASSWORD, "--venue", "HQ",
                              "--print-token").split()[-1]
                kiosk = Server(kiosk_env, folder / "kiosk.log")
                kiosk.start()
                started.append(kiosk)
                kiosk.db_path, kiosk.proxy, kiosk.desk = db_path, proxy, desk
                kiosks[door] = kiosk
            yield {"central": central, "central_url": central_url, "tracer": tracer,
                   "kiosks": kiosks}
    finally:
        for process in reversed(started):
            process.stop()
        for proxy in proxies:
            proxy.close()
        if old is None:
            os.environ.pop("TEST_DATABASE_URL", None)
        else:
            os.environ["TEST_DATABASE_URL"] = old


@pytest.mark.timeout(600)
def test_two_doors_one_central_server_every_visit_once(installation):
    central, kiosks = installation["central"], installation["kiosks"]
    a, b = kiosks["A"], kiosks["B"]
    tokens = {}

    def declare(kiosk_port: int, i: int, given: str, family: str = "Nguyễn") -> dict:
        status, body = _post(kiosk_port, "/api/v1/declarations", _person(i, family, given))
        assert status == 201, body
        tokens[i] = body["token"]
        return body

    def scan(kiosk, token: str) -> tuple[int, dict]:
        return _post(kiosk.port, "/api/v1/checkins", {"venue_code": "HQ", "payload": token},
                     kiosk.desk)

    # Link up: An comes in by door A, Bình by door B while An is inside (a contact across the
    # doors), Bình leaves by door B; Cường declares on the central server's own phone form.
    declare(a.port, 1, "An")
    declare(b.port, 2, "Bình", "Trần")
    status, left = scan(b, tokens[2])
    assert (status, left["action"]) == (200, "check_out"), left
    status, body = _post(central.port, "/api/v1/declarations", _person(3, "Lê", "Cường"))
    assert status == 201, body
    cuong = body["token"]

    # Door A's link drops silently: its door keeps answering at once.
    a.proxy.cut()
    for i in range(10, 16):
        started = time.monotonic()
        declare(a.port, i, GIVEN[i % 20], "Phạm")
        assert time.monotonic() - started < 2.0, "the door waited for the network"
    wait_until(lambda: (_pending(a) or 0) >= 6 and (_healthz(a.port) or {})["components"][
        "sync"]["last_error"] == "unreachable", timeout=30, interval=0.5)

    # Door B: a backlog built offline, then the link comes back holding its answers: the
    # central server stores a batch and the kiosk is killed before it hears so.
    b.proxy.cut()
    for i in range(20, 40):
        declare(b.port, i, GIVEN[i % 20], "Hoàng")
    # No pool: each read below closes its connection, so a failing assertion leaves none open.
    engine = sa.create_engine(installation["central_url"].replace(
        "postgresql://", "postgresql+psycopg://", 1), poolclass=sa.pool.NullPool)

    def central_visits() -> int:
        with engine.connect() as connection:
            return connection.execute(sa.text("SELECT count(*) FROM visit")).scalar_one()

    before = central_visits()
    sent = b.proxy.requests
    b.proxy.hold()
    wait_until(lambda: central_visits() > before, timeout=30)  # stored centrally...
    assert b.proxy.requests > sent
    b.kill()  # ... and the kiosk dies before the answer reaches it
    b.proxy.restore()
    b.start()
    a.proxy.restore()
    wait_until(lambda: _pending(a) == 0 and _pending(b) == 0, timeout=90, interval=0.5)

    # Every visit exactly once on the central server.
    with engine.connect() as connection:
        central_uids = [row[0] for row in connection.execute(sa.text("SELECT uid FROM visit"))]
        per_visitor = connection.execute(sa.text(
            "SELECT max(n) FROM (SELECT count(*) AS n FROM visit GROUP BY visitor_id) s")
        ).scalar_one()
        central_visitors = {row[0] for row in connection.execute(
            sa.text("SELECT uid FROM visitor"))}
    door_uids = _kiosk_uids(a.db_path, "visit") | _kiosk_uids(b.db_path, "visit")
    assert len(central_uids) == len(set(central_uids)) == len(door_uids) + 1
    assert door_uids < set(central_uids)
    assert per_visitor == 1
    assert _kiosk_uids(a.db_path, "visitor") | _kiosk_uids(b.db_path, "visitor") < (
        central_visitors)

    # Contacts across the two doors: An (door A) met Bình (door B).
    # The day as the installation counts days (Vietnam's), not this machine's: from 17:00 UTC
    # on they differ.
    day = datetime.now(LOCAL_TZ).strftime("%Y-%m-%d")
    status, contacts = _get(f"{central.url}/api/v1/contacts?phone=0900000001&since={day}"
                            f"&until={day}", installation["tracer"])
    assert status == 200, contacts
    assert "Trần Văn Bình" in json.dumps([c for c in contacts["contacts"]],
                                         ensure_ascii=False), contacts

    # One installation, any door: codes signed by door A and by the central server check in at
    # the other door once it has heard the signers' keys (a round after they were announced).
    answers = []

    def checks_in(kiosk, token) -> bool:
        status, body = scan(kiosk, token)
        answers.append((status, body.get("code") or body.get("action")))
        return status == 200 and body["action"] == "check_in"

    try:
        wait_until(lambda: checks_in(a, cuong), timeout=30, interval=0.5)
        an_at_a = tokens[1]
        wait_until(lambda: checks_in(b, an_at_a), timeout=30, interval=0.5)
    except BaseException:
        print("answers at the other door:", answers[-3:])
        raise

    # An also declares at door B (that door makes its own record of him). The central office
    # withdraws every code of An's: both doors refuse them within a minute.
    an_at_b = declare(b.port, 1, "An")["token"]
    wait_until(lambda: _pending(b) == 0, timeout=30, interval=0.5)
    revoke = (
        "from app import create_app\n"
        "from core.db import db\n"
        "from core.clock import now\n"
        "from sqlmodel import select\n"
        "from visits.models import Visitor\n"
        "from tracing.privacy import revoke_codes\n"
        "app = create_app()\n"
        "with app.app_context(), db.new_session() as s:\n"
        "    for v in s.exec(select(Visitor).where(Visitor.phone_e164 == '+84900000001')):\n"
        "        revoke_codes(session=s, visitor=v, actor='cli:test', now=now())\n")
    time.sleep(1.1)  # codes carry whole seconds: withdraw after the last one was issued
    done = subprocess.run([sys.executable, "-c", revoke], cwd=ROOT, env=central.env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    withdrawn_at = time.monotonic()

    def refused(kiosk, token) -> bool:
        status, body = scan(kiosk, token)
        return status == 422 and body["code"] == "token_revoked"

    wait_until(lambda: refused(a, an_at_a) and refused(b, an_at_b) and refused(b, an_at_a),
               timeout=60, interval=0.5)
    assert time.monotonic() - withdrawn_at < 60
    engine.dispose()
