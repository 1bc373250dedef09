"""A power cut in the middle of a rush: the real `kiosk run` server takes a burst of check-ins
from several clients and is killed with SIGKILL; after a restart on the same database every
check-in it acknowledged is there, for the right visitor, and the database is sound."""
from __future__ import annotations

import http.client
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from alembic import command as alembic_command

from app import create_app
from core.cli import alembic_config
from core.db import db
from core.models import Venue
from tests.hardening.faults_support import sqlite_integrity, visits_by_id, wait_until
from tests.support.databases import dialect, scratch_database

ROOT = Path(__file__).resolve().parents[2]
VISITORS = 120      # declared beforehand at another venue, each with a personal QR code
KILL_AFTER = 30     # acknowledged check-ins before the plug is pulled
CLIENTS = 6


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _flask(env, *args) -> str:
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _post(port: int, path: str, body: dict, token: str | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method="POST",
                                     data=json.dumps(body).encode(), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def _healthz(port: int):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return json.load(response)
    except (OSError, ValueError):
        return None


class Server:
    """`flask --app app kiosk run` (what `make run` serves) in its own process group."""

    def __init__(self, env: dict, log: Path):
        self.env = env
        self.log = log
        self.process: subprocess.Popen | None = None
        self.port = 0

    def start(self) -> None:
        self.port = _free_port()
        with open(self.log, "a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "app", "kiosk", "run",
                 "--port", str(self.port)],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        wait_until(lambda: self.process.poll() is None
                   and (_healthz(self.port) or {}).get("status") == "ok", timeout=90)

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)


FAMILY = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi")
GIVEN = ("An", "Bình", "Chi", "Dũng", "Giang", "Hà", "Khánh", "Linh", "Minh", "Ngọc", "Phúc",
         "Quỳnh", "Sơn", "Thảo", "Uyên", "Vy", "Xuân", "Yến", "Hương", "Lan")


def _declaration(i: int) -> dict:
    name = f"{FAMILY[i % 8]} Thị {GIVEN[i // 8 % 20]}"
    return {
        "venue_code": "PREP", "lang": "vi", "full_name": name,
        "birth_year": 1990, "gender": "female", "nationality": "VN",
        "id_number": f"0011900{i:05d}", "phone": f"091{i:07d}", "email": None,
        "province_code": "01", "ward_code": "00004", "street_address": "Số 1 Tràng Tiền",
        "travel_14d": False, "travel_places": None, "symptoms": [], "exposures": [],
        "declared_for_other": False, "consent_processing": True, "consent_sensitive_health": True,
    }


def _in_parallel(work, items, clients: int) -> None:
    todo: queue.Queue = queue.Queue()
    for item in items:
        todo.put(item)

    failures: list[BaseException] = []

    def run():
        while not failures:
            try:
                item = todo.get_nowait()
            except queue.Empty:
                return
            try:
                work(item)
            except BaseException as exc:  # reported in the test's own thread
                failures.append(exc)

    threads = [threading.Thread(target=run, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
        assert not thread.is_alive(), "a client hung"
    if failures:
        raise failures[0]


def _add_venues(url: str, tmp_path: Path) -> None:
    """The main door (HQ) and a side gate where the visitors declared beforehand."""
    app = create_app({"SECRET_KEY": "x", "DATABASE_URL": url,
                      "INSTANCE_PATH": str(tmp_path / "setup")})
    with db.new_session(app) as session:
        session.add(Venue(code="HQ", name="Trụ sở chính"))
        session.add(Venue(code="PREP", name="Cổng phụ"))
        session.commit()
    db.dispose(app)


@pytest.fixture
def server(tmp_path):
    with scratch_database(tmp_path) as url:
        alembic_command.upgrade(alembic_config(url), "head")
        env = {**os.environ, "DATABASE_URL": url, "KIOSK_SECRET_KEY": "sigkill-test",
               "KIOSK_VENUE": "HQ", "KIOSK_CAMERA_SOURCE": "none", "KIOSK_BLE": "off",
               "KIOSK_PUBLIC_URL": "http://kiosk.test"}
        _add_venues(url, tmp_path)
        out = _flask(env, "user", "create", "--username", "reception", "--role",
                     "receptionist", "--password", "correct horse battery", "--print-token")
        running = Server(env, tmp_path / "server.log")
        running.url = url
        running.token = out.strip().splitlines()[-1]
        try:
            yield running
        finally:
            running.stop()


def test_acknowledged_check_ins_survive_sigkill(server):
    server.start()
    # Visitors who declared on their phones at the side gate: each has a personal QR code.
    people: dict[str, int] = {}
    lock = threading.Lock()

    def declare(i):
        status, body = _post(server.port, "/api/v1/declarations", _declaration(i))
        assert status == 201, body
        with lock:
            people[body["token"]] = body["visitor_id"]

    _in_parallel(declare, range(VISITORS), CLIENTS)
    tokens = list(people)
    spare = tokens.pop()  # shown after the restart

    # The rush at the main door: every client scans codes as fast as the server answers.
    acknowledged: dict[int, int] = {}  # visit id → visitor id
    enough = threading.Event()

    def scan(token):
        if enough.is_set() and server.process.poll() is not None:
            return  # the server is gone: this client gives up
        try:
            status, body = _post(server.port, "/api/v1/checkins",
                                 {"venue_code": "HQ", "payload": token}, server.token)
        except (OSError, ValueError, http.client.HTTPException):
            # Refused, reset, or the answer cut short by the kill (IncompleteRead, a bad status
            # line): the client never saw an acknowledgement.
            return
        if 200 <= status < 300:
            assert body["action"] == "check_in", body
            with lock:
                acknowledged[body["visit_id"]] = people[token]
                if len(acknowledged) >= KILL_AFTER:
                    enough.set()

    burst_failed: list[BaseException] = []

    def rush():
        try:
            _in_parallel(scan, tokens, CLIENTS)
        except BaseException as exc:  # reported in the test's own thread
            burst_failed.append(exc)
        finally:
            enough.set()

    burst = threading.Thread(target=rush, daemon=True)
    burst.start()
    assert enough.wait(90), "the server acknowledged too few check-ins"
    assert not burst_failed, burst_failed
    server.kill()  # the power cut: no shutdown, no flush, nothing
    burst.join(120)
    assert not burst.is_alive()
    if burst_failed:
        raise burst_failed[0]
    assert server.process.returncode == -signal.SIGKILL
    with lock:
        acked = dict(acknowledged)
    assert len(acked) >= KILL_AFTER
    assert len(acked) < len(tokens), "the burst ended before the kill: nothing was in flight"

    server.start()  # the same database, a new process
    stored = visits_by_id(server.url)
    hq_visits = {visit_id: visitor for visit_id, (visitor, venue) in stored.items()
                 if venue == stored_venue(stored, acked)}
    missing = {v: who for v, who in acked.items() if stored.get(v, (None,))[0] != who}
    assert missing == {}, f"{len(missing)} acknowledged check-ins lost or changed"
    # Nothing doubled: one visit per visitor at the door, whatever was in flight.
    assert len(set(hq_visits.values())) == len(hq_visits)
    if dialect() == "sqlite":
        assert sqlite_integrity(server.url) == ([("ok",)], [])

    # …and the door works again.
    status, body = _post(server.port, "/api/v1/checkins", {"venue_code": "HQ", "payload": spare},
                         server.token)
    assert status == 200 and body["action"] == "check_in", body
    assert visits_by_id(server.url)[body["visit_id"]][0] == people[spare]


def stored_venue(stored: dict, acked: dict) -> int:
    """The main door's venue id: the venue of the acknowledged check-ins."""
    venues = {stored[v][1] for v in acked if v in stored}
    assert len(venues) == 1
    return venues.pop()
