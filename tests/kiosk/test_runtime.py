"""The camera as a `kiosk run` worker: built from KIOSK_CAMERA_SOURCE, its state in /healthz,
its codes available to the check-in side."""
from __future__ import annotations

import glob
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import cv2
import pytest

from kiosk.runtime import build_workers, camera_of
from tests.kiosk.conftest import TOKEN_A, wait_until
from tests.support.qrframes import Placement, camera_frame

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("app_config", [{"CAMERA_SOURCE": "none"}])
def test_no_camera_configured_is_off(app, client):
    assert "camera" not in [w.name for w in build_workers(app)]
    assert camera_of(app) is None
    assert client.get("/healthz").get_json()["components"]["camera"] == "off"


def test_every_camera_state_has_a_bilingual_message(app):
    from flask_babel import force_locale

    from kiosk.camera import STATUS_MESSAGES, CameraStatus

    with app.app_context():
        for state in STATUS_MESSAGES:
            with force_locale("vi"):
                vietnamese = str(CameraStatus(state).message)
            with force_locale("en"):
                english = str(CameraStatus(state).message)
            assert vietnamese and english and vietnamese != english
        with force_locale("vi"):
            assert str(CameraStatus("absent").message).startswith("Không tìm thấy camera")


@pytest.fixture
def drop_folder(tmp_path):
    folder = tmp_path / "camera"
    folder.mkdir()
    return folder


@pytest.fixture
def app_config(drop_folder):
    return {"CAMERA_SOURCE": str(drop_folder)}


def test_camera_worker_reports_codes_and_health(app, client, drop_folder):
    manager = app.extensions["workers"]
    for worker in build_workers(app):
        manager.add(worker)
    camera = camera_of(app)
    assert manager.get("camera") is camera
    events = camera.subscribe()
    manager.start()
    try:
        wait_until(lambda: client.get("/healthz").get_json()["components"]["camera"] == "ok")
        assert cv2.imwrite(str(drop_folder / "visitor.jpg"),
                           camera_frame([Placement(TOKEN_A)], seed=1))
        event = events.get(timeout=20)
        assert (event.kind, event.text, event.file) == ("token", TOKEN_A, "visitor.jpg")
    finally:
        manager.stop()
    assert client.get("/healthz").get_json()["components"]["camera"] == "off"


@pytest.mark.parametrize("app_config", [{"CAMERA_SOURCE": "auto"}])
def test_auto_without_a_camera_is_absent_in_healthz(app, client):
    if glob.glob("/dev/video*"):
        pytest.skip("this machine has a camera device")
    manager = app.extensions["workers"]
    for worker in build_workers(app):
        manager.add(worker)
    manager.start()
    try:
        wait_until(lambda: client.get("/healthz").get_json()["components"]["camera"] == "absent")
        assert client.get("/healthz").status_code == 200  # no camera is a state, not a failure
    finally:
        manager.stop()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _healthz(port: int):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return json.load(response)
    except OSError:
        return None


def test_kiosk_run_starts_the_camera(database_url, drop_folder):
    """The real command: `flask --app app kiosk run` with a camera source, then SIGTERM."""
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "KIOSK_SECRET_KEY": "test",
           "KIOSK_CAMERA_SOURCE": str(drop_folder), "KIOSK_BLE": "off"}
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "kiosk", "run", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        health = wait_until(lambda: process.poll() is None and _healthz(port), timeout=60)
        wait_until(lambda: (_healthz(port) or {}).get("components", {}).get("camera") == "ok")
        assert health["components"]["db"] == "ok"
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "starting worker camera" in output and "stopping worker camera" in output
    if sys.platform.startswith("linux"):   # glibc: steady memory with camera frames
        assert "memory: blocks of 256 KiB and more get their own mapping" in output
