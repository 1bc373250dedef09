"""Issue 15 point 7: `keys rotate` and `keys retire` act in running server processes within
seconds, no restart: after a rotation every process signs with the new key, after a retirement
every process refuses the retired key's codes and their QR images; codes issued after the
rotation stay valid after a restart. The real server: `kiosk run` on SQLite, gunicorn with
several workers (a central server) on PostgreSQL; the commands run as separate processes."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from alembic import command as alembic_command

from core.cli import alembic_config
from declarations.tokens import decode_unverified
from tests.hardening.faults_support import wait_until
from tests.hardening.test_faults_sigkill import _free_port, _healthz
from tests.support.databases import dialect, scratch_database

ROOT = Path(__file__).resolve().parents[2]
# Enough requests in a row that every worker of the server answers some of them.
IN_A_ROW = 15


def _flask(env, *args) -> str:
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _request(port, method, path, body=None, token=None) -> tuple[int, dict | bytes]:
    headers = {"Content-Type": "application/json", "Connection": "close"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                     data=json.dumps(body).encode() if body else None,
                                     headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw


class Server:
    def __init__(self, env, log: Path, workers: int):
        self.env, self.log, self.workers = env, log, workers
        self.process = None
        self.port = 0

    def start(self) -> None:
        self.port = _free_port()
        if self.workers > 1:  # a central server, as deploy/khaibao-central.service runs it
            command = [str(Path(sys.executable).parent / "gunicorn"), "--workers",
                       str(self.workers), "--threads", "2", "--bind",
                       f"127.0.0.1:{self.port}", "app:create_app()"]
        else:  # a kiosk device
            command = [sys.executable, "-m", "flask", "--app", "app", "kiosk", "run",
                       "--port", str(self.port)]
        with open(self.log, "a") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(lambda: self.process.poll() is None
                   and (_healthz(self.port) or {}).get("status") in ("ok", "degraded"),
                   timeout=90)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)


DECLARATION = {"venue_code": "HQ", "lang": "vi", "full_name": "Nguyễn Văn An",
               "birth_year": 1990, "gender": "male", "nationality": "VN",
               "id_number": "001090012345", "phone": "0912345678", "province_code": "01",
               "ward_code": "00004", "street_address": "Số 1 Tràng Tiền", "travel_14d": False,
               "symptoms": [], "exposures": [], "consent_processing": True,
               "consent_sensitive_health": True}


@pytest.fixture
def central(tmp_path):
    with scratch_database(tmp_path) as url:
        alembic_command.upgrade(alembic_config(url), "head")
        env = {**os.environ, "DATABASE_URL": url, "KIOSK_SECRET_KEY": "keys-test",
               "KIOSK_INSTANCE_PATH": str(tmp_path / "instance"), "KIOSK_VENUE": "HQ",
               "KIOSK_CAMERA_SOURCE": "none", "KIOSK_BLE": "off",
               "KIOSK_PUBLIC_URL": "http://kiosk.test",
               "KIOSK_PUBLIC_RATE_LIMIT": "100000 per hour",
               "KIOSK_VENUE_RATE_LIMIT": "100000 per hour"}
        _flask(env, "venue", "create", "--code", "HQ", "--name", "Trụ sở chính")
        token = _flask(env, "user", "create", "--username", "admin", "--role", "admin",
                       "--password", "correct horse battery", "--print-token").split()[-1]
        server = Server(env, tmp_path / "server.log",
                        workers=3 if dialect() == "postgresql" else 1)
        server.env, server.token = env, token
        server.start()
        try:
            yield server
        finally:
            server.stop()


def _declare(server) -> str:
    status, body = _request(server.port, "POST", "/api/v1/declarations", DECLARATION)
    assert status == 201, body
    return body["token"]


def _kid(token: str) -> str:
    return decode_unverified(token)[0].key_id


def _check_in(server, token) -> tuple[int, dict]:
    return _request(server.port, "POST", "/api/v1/checkins",
                    {"venue_code": "HQ", "payload": token}, server.token)


def test_rotate_and_retire_act_in_running_processes_and_survive_a_restart(central):
    old_token = _declare(central)
    old_kid = _kid(old_token)

    new_kid = _flask(central.env, "keys", "rotate").strip()
    assert new_kid != old_kid
    # Every process signs with the new key within seconds, without a restart.
    wait_until(lambda: all(_kid(_declare(central)) == new_kid for _ in range(IN_A_ROW)),
               timeout=20, interval=0.5)
    new_token = _declare(central)
    assert _check_in(central, old_token)[0] == 200  # old codes still work until retired

    _flask(central.env, "keys", "retire", old_kid)
    # Every process refuses the retired key's codes, and their QR images, within seconds.
    wait_until(lambda: all(_check_in(central, old_token)[1].get("code") == "token_unknown_key"
                           for _ in range(IN_A_ROW)), timeout=20, interval=0.5)
    assert all(_request(central.port, "GET", f"/qr/{old_token}.png")[0] == 404
               for _ in range(IN_A_ROW))
    status, answer = _check_in(central, new_token)
    assert status == 200, answer

    # After a restart, codes issued since the rotation are still good; the retired key is not.
    central.stop()
    central.start()
    status, answer = _check_in(central, new_token)
    assert status == 200, answer
    assert _check_in(central, old_token)[1]["code"] == "token_unknown_key"
    assert _kid(_declare(central)) == new_kid
    listed = _flask(central.env, "keys", "list")
    assert f"* {new_kid}" in listed and f"- {old_kid}  (retired)" in listed
