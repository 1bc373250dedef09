"""Live events through Redis pub/sub (KIOSK_EVENTS_URL): a check-in handled by one process reaches
the screens of another; with Redis gone the publishing process still delivers to its own
screens and the check-in is unaffected."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest

from visits.events import EventBroker

REDIS_URL = os.environ.get("KHAIBAO_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_or_skip():
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception:
        from tests.support.requirements import skip_or_fail

        skip_or_fail("Redis is not running on 127.0.0.1:6379")


def test_an_event_published_in_another_process_reaches_this_processes_screen():
    _redis_or_skip()
    broker = EventBroker()
    broker.configure(REDIS_URL)
    topic = f"HQ{uuid.uuid4().hex[:8]}"  # Redis channels are shared by every run on the host
    with broker.subscribe(topic) as screen, broker.subscribe(topic + "X") as other:
        code = ("from visits.events import EventBroker\n"
                "b = EventBroker(); b.configure(%r)\n"
                "b.publish(%r, {'type': 'visit', 'visit_id': 7, 'action': 'check_in'})\n"
                % (REDIS_URL, topic))
        subprocess.run([sys.executable, "-c", code], check=True, timeout=30,
                       cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
        event = screen.get(timeout=5)
        assert event is not None and event["visit_id"] == 7 and event["action"] == "check_in"
        assert other.get(timeout=0.3) is None
    broker.configure(None)


def test_without_redis_the_publishing_process_still_delivers():
    broker = EventBroker()
    broker.configure("redis://127.0.0.1:9/0")  # nothing listens there
    started = time.monotonic()
    with broker.subscribe("HQ") as screen:
        broker.publish("HQ", {"type": "visit", "visit_id": 1})
        assert screen.get(timeout=2)["visit_id"] == 1
    assert time.monotonic() - started < 6
    broker.configure(None)


@pytest.mark.parametrize("url", ["http://redis", "redis"])
def test_a_wrong_events_url_stops_the_start(tmp_path, url):
    from app import create_app
    from core.settings import ConfigError

    with pytest.raises(ConfigError, match="KIOSK_EVENTS_URL"):
        create_app({"SECRET_KEY": "x", "DATABASE_URL": "sqlite://", "EVENTS_URL": url,
                    "INSTANCE_PATH": str(tmp_path)})
