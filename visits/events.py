"""The in-process event broker behind the screens' live streams: services publish check-in and
check-out events per venue after their commit; each open screen holds one subscription.

One broker per process (the kiosk device runs one process). Subscribers get a bounded queue: a
screen that stops reading loses its oldest events, never blocks a check-in.
"""
from __future__ import annotations

import itertools
import logging
import queue
import threading
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

logger = logging.getLogger(__name__)

# Events a slow screen may fall behind before the oldest are dropped.
SUBSCRIBER_BACKLOG = 100
_PENDING_KEY = "visits.pending_events"


class Subscription:
    """One listener's queue. Use as a context manager so it always unsubscribes."""

    def __init__(self, broker: "EventBroker", topic: str):
        self.broker = broker
        self.topic = topic
        self._queue: queue.Queue = queue.Queue(maxsize=SUBSCRIBER_BACKLOG)

    def get(self, timeout: float | None = None) -> dict | None:
        """The next event, or None when `timeout` passes without one."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def _put(self, event: dict) -> None:
        while True:
            try:
                self._queue.put_nowait(event)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    pass

    def close(self) -> None:
        self.broker._remove(self)

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class EventBroker:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, set[Subscription]] = {}
        self._ids = itertools.count(1)

    def subscribe(self, topic: str) -> Subscription:
        subscription = Subscription(self, topic)
        with self._lock:
            self._subscribers.setdefault(topic, set()).add(subscription)
        return subscription

    def _remove(self, subscription: Subscription) -> None:
        with self._lock:
            listeners = self._subscribers.get(subscription.topic)
            if listeners is not None:
                listeners.discard(subscription)
                if not listeners:
                    del self._subscribers[subscription.topic]

    def subscriber_count(self, topic: str) -> int:
        with self._lock:
            return len(self._subscribers.get(topic, ()))

    def publish(self, topic: str, event: dict[str, Any]) -> dict:
        """Deliver `event` (a JSON-able dict) to every subscriber of `topic`; returns it with its
        sequence id."""
        with self._lock:
            event = {**event, "id": next(self._ids)}
            listeners = list(self._subscribers.get(topic, ()))
        for subscription in listeners:
            subscription._put(event)
        return event


broker = EventBroker()


def publish_now(topic: str, event: dict[str, Any]) -> None:
    """For answers that change nothing in the database (repeats, questions, refusals)."""
    try:
        broker.publish(topic, event)
    except Exception:  # the screen is a courtesy; the answer to the caller is what counts
        logger.exception("could not publish a %s event", event.get("type"))


def publish_after_commit(session: Session, topic: str, event: dict[str, Any],
                         target: EventBroker | None = None) -> None:
    """Queue `event` on the session; it goes out only if the transaction commits, so a screen
    never shows a check-in that was rolled back."""
    session.info.setdefault(_PENDING_KEY, []).append((target or broker, topic, event))


@sa.event.listens_for(Session, "after_commit")
def _publish_pending(session: Session) -> None:
    pending = session.info.pop(_PENDING_KEY, None)
    for target, topic, event in pending or ():
        try:
            target.publish(topic, event)
        except Exception:  # a screen problem must never undo or fail a committed check-in
            logger.exception("could not publish a %s event", event.get("type"))


@sa.event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)
