"""Abuse limits on a central server with several workers: the counts live in Redis
(KIOSK_RATELIMIT_STORAGE_URI), so a client cannot spread its requests over the workers; while Redis
cannot be reached each worker counts in its own memory and the door keeps working.

Redis comes from the machine (127.0.0.1:6379, or KIOSK_TEST_REDIS_URL); the tests skip without it,
and fail in CI (KIOSK_TEST_REQUIRE_ALL=1)."""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

import pytest

from core.security import limiter
from tests.conftest import ROOT
from tests.hardening.conftest import counts
from tests.hardening.test_abuse import THREE, assert_rate_limited_json, person
from tests.support.requirements import skip_or_fail

REDIS_URL = os.environ.get("KIOSK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# Nothing listens on port 1: the connection is refused at once.
UNREACHABLE = "redis://127.0.0.1:1/0"
# A client address of this run only (TEST-NET-2), so counts left by another run never meet it.
CLIENT = {"REMOTE_ADDR": f"198.51.100.{secrets.randbelow(250) + 1}"}

ANOTHER_WORKER = """
import json, sys
from app import create_app
config = json.loads(sys.argv[1])
app = create_app(config)
body, address = json.loads(sys.argv[2]), sys.argv[3]
response = app.test_client().post("/api/v1/declarations", json=body,
                                  environ_base={"REMOTE_ADDR": address})
print(json.dumps({"status": response.status_code, "body": response.get_json()}))
"""


@pytest.fixture
def redis_url():
    import redis

    connection = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        connection.ping()
    except redis.exceptions.ConnectionError as exc:
        skip_or_fail(f"Redis at {REDIS_URL}: {exc}")
    yield REDIS_URL
    # This run's counters only: the client address is in every key the limiter wrote for it.
    for key in connection.scan_iter(match=f"*{CLIENT['REMOTE_ADDR']}*"):
        connection.delete(key)
    connection.close()


def spend_the_clients_budget(client, session) -> tuple[int, int, int]:
    """THREE declarations from CLIENT, each stored; the counts after them."""
    for n in range(3):
        assert client.post("/api/v1/declarations", json=person(n),
                           environ_base=CLIENT).status_code == 201
    stored = counts(session)
    assert stored[1] == 3
    return stored


@pytest.fixture
def app_config(request):
    return {"PUBLIC_RATE_LIMIT": THREE,
            "RATELIMIT_STORAGE_URI": request.getfixturevalue(request.param)}


@pytest.mark.parametrize("app_config", ["redis_url"], indirect=True)
def test_another_worker_sees_the_same_counts_through_redis(
        client, session, venue, app, app_config):
    before = spend_the_clients_budget(client, session)
    # Another worker: its own process, its own app and limiter, the same database and Redis.
    config = {key: app.config[key] for key in ("SECRET_KEY", "DATABASE_URL", "PUBLIC_URL",
                                               "VENUE_RATE_LIMIT", "RATELIMIT_STORAGE_URI",
                                               "PUBLIC_RATE_LIMIT", "CAMERA_SOURCE", "BLE")}
    config.update(TESTING=True, INSTANCE_PATH=app.instance_path)
    worker = subprocess.run(
        [sys.executable, "-c", ANOTHER_WORKER, json.dumps(config), json.dumps(person(3)),
         CLIENT["REMOTE_ADDR"]],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    answer = json.loads(worker.stdout.strip().splitlines()[-1])
    assert answer["status"] == 429, answer
    assert answer["body"]["code"] == "rate_limited"
    assert answer["body"]["message_vi"] and answer["body"]["message_en"]
    assert counts(session) == before
    # And this worker refuses the client too.
    assert_rate_limited_json(client.post("/api/v1/declarations", json=person(4),
                                         environ_base=CLIENT))
    assert counts(session) == before


@pytest.fixture
def revive_the_store():
    yield
    # The limiter is one object per process; let the next app start with its store alive.
    limiter._storage_dead = False


@pytest.mark.parametrize("app_config", ["unreachable"], indirect=True)
def test_an_unreachable_store_falls_back_to_memory_and_still_limits(
        client, session, venue, revive_the_store, app_config):
    before = spend_the_clients_budget(client, session)
    assert_rate_limited_json(client.post("/api/v1/declarations", json=person(3),
                                         environ_base=CLIENT))
    assert counts(session) == before


@pytest.fixture
def unreachable():
    return UNREACHABLE


def _keys_of_this_client(redis_url: str) -> set[str]:
    import redis

    connection = redis.Redis.from_url(redis_url)
    try:
        return {key.decode() for key in connection.scan_iter(match=f"*{CLIENT['REMOTE_ADDR']}*")}
    finally:
        connection.close()


@pytest.mark.parametrize("app_config", ["redis_url"], indirect=True)
def test_the_counts_keep_the_keys_earlier_workers_wrote(client, session, venue, redis_url,
                                                        app_config):
    """A central server upgraded worker by worker: the public budgets are counted under the same
    keys Flask-Limiter used for them, so old and new workers still share one count per client."""
    assert client.post("/api/v1/declarations", json=person(0),
                       environ_base=CLIENT).status_code == 201
    assert _keys_of_this_client(redis_url) == {
        f"LIMITS:LIMITER/client:{CLIENT['REMOTE_ADDR']}/public-client/3/1/hour"}


@pytest.mark.parametrize("app_config", ["redis_url"], indirect=True)
def test_the_shared_store_is_used_again_once_it_is_back(client, session, venue, redis_url,
                                                        revive_the_store, app_config,
                                                        monkeypatch):
    """After a fall back to memory, a later request finds the store reachable and counts there
    again (checked now and then; here at once): every worker shares the count again."""
    limiter._storage_dead = True  # as after a failure
    monkeypatch.setattr(limiter, "_Limiter__should_check_backend", lambda: True)
    assert client.post("/api/v1/declarations", json=person(0),
                       environ_base=CLIENT).status_code == 201
    assert limiter._storage_dead is False
    assert any("/public-client/" in key for key in _keys_of_this_client(redis_url))
