"""3. Abuse limits cost no thread per request: the in-process store (`memory://`, the shipped
default, and the fallback while a shared store is down) sweeps expired counters inline instead of
starting a `threading.Timer` on most hits, and the limits still hold at their shipped values."""
from __future__ import annotations

import threading

import pytest

from core.settings import Defaults
from tests.hardening.test_abuse import assert_rate_limited_json

SHIPPED = {"PUBLIC_RATE_LIMIT": Defaults.PUBLIC_RATE_LIMIT,
           "VENUE_RATE_LIMIT": Defaults.VENUE_RATE_LIMIT}
STRANGER = {"REMOTE_ADDR": "192.0.2.77"}


@pytest.fixture
def thread_starts(monkeypatch):
    """How many threads this process starts from now on."""
    started = []
    original = threading.Thread.start

    def counting_start(self, *args, **kwargs):
        started.append(self.name)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(threading.Thread, "start", counting_start)
    return started


def public_limit_count() -> int:
    count, _, _ = Defaults.PUBLIC_RATE_LIMIT.partition(" ")
    return int(count)


def spend_and_exceed(client) -> list[int]:
    """Every POST counts against the client's budget, whatever it answers: spend it all, then one
    more. The venue is unknown to this app (nobody is checked in)."""
    body = {"venue_code": "HQ", "payload": "KB2.not-a-code"}
    return [client.post("/api/v1/checkins", json=body, environ_base=STRANGER).status_code
            for _ in range(public_limit_count() + 1)]


@pytest.mark.parametrize("app_config", [SHIPPED])
def test_requests_under_the_shipped_limits_start_no_threads(client, thread_starts, app_config):
    statuses = spend_and_exceed(client)
    assert 429 not in statuses[:-1]
    assert statuses[-1] == 429
    assert thread_starts == []


@pytest.mark.parametrize("app_config", [{**SHIPPED, "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1/0"}])
def test_the_fallback_while_the_shared_store_is_down_starts_no_threads(
        client, thread_starts, app_config):
    from core.security import limiter

    try:
        statuses = spend_and_exceed(client)
    finally:
        limiter._storage_dead = False  # the limiter is one object per process
    assert 429 not in statuses[:-1]
    assert statuses[-1] == 429
    assert thread_starts == []


@pytest.mark.parametrize("app_config", [SHIPPED])
def test_the_limit_answer_is_bilingual_after_the_inline_sweep(client, app_config, monkeypatch):
    """Expired counters are swept by the hits themselves: with a sweep on every hit the limit
    still holds and still answers in both languages."""
    from core import ratelimit

    monkeypatch.setattr(ratelimit, "SWEEP_EVERY_S", 0.0)
    statuses = spend_and_exceed(client)
    assert statuses[-1] == 429
    assert_rate_limited_json(client.post("/api/v1/checkins", json={"venue_code": "HQ",
                                                                     "payload": "x"},
                                         environ_base=STRANGER))
