"""The in-process event broker: per-venue topics, a bounded backlog per screen, unsubscribe."""
from __future__ import annotations

import threading

from visits.events import SUBSCRIBER_BACKLOG, EventBroker


def test_events_reach_the_subscribers_of_their_venue_only():
    broker = EventBroker()
    with broker.subscribe("HQ") as hq, broker.subscribe("HQ") as hq_desk, \
            broker.subscribe("B2") as other:
        sent = broker.publish("HQ", {"type": "visit", "visit_id": 1})
        assert hq.get(timeout=1) == sent == hq_desk.get(timeout=1)
        assert sent["id"] >= 1
        assert other.get(timeout=0) is None
    assert broker.subscriber_count("HQ") == 0


def test_a_slow_screen_loses_its_oldest_events_and_never_blocks_a_check_in():
    broker = EventBroker()
    with broker.subscribe("HQ") as slow:
        for n in range(SUBSCRIBER_BACKLOG + 10):
            broker.publish("HQ", {"n": n})
        received = []
        while (event := slow.get(timeout=0)) is not None:
            received.append(event["n"])
    assert received == list(range(10, SUBSCRIBER_BACKLOG + 10))


def test_a_waiting_screen_wakes_up_on_an_event():
    broker = EventBroker()
    with broker.subscribe("HQ") as screen:
        got = []
        waiter = threading.Thread(target=lambda: got.append(screen.get(timeout=10)))
        waiter.start()
        broker.publish("HQ", {"type": "visit"})
        waiter.join(10)
    assert got and got[0]["type"] == "visit"
