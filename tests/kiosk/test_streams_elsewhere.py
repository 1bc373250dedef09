"""A central server's sync workers serve no streams (KIOSK_STREAM_LIMIT=0, as
deploy/gunicorn.conf.py sets it): a screen asking one of them is told at once to try again (the
reverse proxy sends streams to the streams process), and the worker is never held."""
from __future__ import annotations

import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def app_config():
    return {"STREAM_LIMIT": 0, "VENUE": "HQ"}


def test_a_process_without_stream_slots_refuses_a_stream_at_once(client, venue):
    response = client.get("/kiosk/events")
    assert response.status_code == 503
    assert response.headers.get("Retry-After")
    body = response.get_json()
    assert body["code"] == "too_many_streams"
    assert body["message_vi"] and body["message_en"] and body["message_vi"] != body["message_en"]


def test_the_deployed_sync_workers_hold_no_streams_and_the_streams_process_threads_them():
    sync = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))
    assert sync["worker_class"] == "sync"
    assert "KIOSK_STREAM_LIMIT=0" in sync["raw_env"]
    streams = runpy.run_path(str(ROOT / "deploy" / "gunicorn-streams.conf.py"))
    assert streams["worker_class"] == "gthread" and streams["threads"] > 1
    unit = (ROOT / "deploy" / "khaibao-central.service").read_text()
    assert "deploy/gunicorn.conf.py" in unit
    assert "deploy/gunicorn-streams.conf.py" in (
        ROOT / "deploy" / "khaibao-central-streams.service").read_text()
