"""The event broker behind the screens' live streams: services publish check-in and check-out
events per venue after their commit; each open screen holds one subscription.

One broker per process. A kiosk device runs one process and delivers in memory. A central server
runs several worker processes: with KIOSK_EVENTS_URL=redis://… every event goes through Redis
pub/sub, and each process's listener hands it to that process's screens, so every screen sees
every check-in whatever worker handled it. While Redis cannot be reached, events are delivered in
the publishing process only (and a warning is logged) rather than lost or blocking a check-in.
Subscribers get a bounded queue: a screen that stops reading loses its oldest events, never
blocks a check-in.
"""
from __future__ import annotations

import itertools
import json
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


CHANNEL_PREFIX = "khaibao:events:"
# Redis calls give up after this long: a check-in never waits on a stuck event bus.
REDIS_TIMEOUT_S = 2.0


class RedisRelay:
    """Publishes to Redis and runs one listener thread (started by the first subscriber) that
    hands every event of every process to this process's broker."""

    def __init__(self, url: str, deliver):
        import redis

        self.url = url
        self._deliver = deliver
        self._client = redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_S,
                                            socket_connect_timeout=REDIS_TIMEOUT_S)
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self.stopped = threading.Event()

    def publish(self, topic: str, event: dict) -> None:
        self._client.publish(CHANNEL_PREFIX + topic, json.dumps({"topic": topic, "event": event}))

    def ensure_listening(self, wait_s: float = 2.0) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._ready.clear()
                self._thread = threading.Thread(target=self._listen, name="events-redis",
                                                daemon=True)
                self._thread.start()
        self._ready.wait(wait_s)

    def _listen(self) -> None:
        delay = 0.5
        while not self.stopped.is_set():
            pubsub = None
            try:
                pubsub = self._client.pubsub(ignore_subscribe_messages=True)
                pubsub.psubscribe(CHANNEL_PREFIX + "*")
                pubsub.get_message(timeout=REDIS_TIMEOUT_S)  # the subscription's confirmation
                self._ready.set()
                delay = 0.5
                while not self.stopped.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is None or message.get("type") != "pmessage":
                        continue
                    try:
                        data = json.loads(message["data"])
                        self._deliver(str(data["topic"]), dict(data["event"]))
                    except (ValueError, KeyError, TypeError):
                        logger.warning("ignored a malformed event from Redis")
            except Exception as exc:  # Redis gone: retry with backoff, screens keep their streams
                self._ready.set()  # do not hold a subscriber up while Redis is away
                logger.warning("event bus: Redis unreachable (%s); retrying", type(exc).__name__)
                self.stopped.wait(delay)
                delay = min(delay * 2, 10.0)
            finally:
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except Exception:
                        pass

    def close(self) -> None:
        self.stopped.set()


class EventBroker:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, set[Subscription]] = {}
        self._ids = itertools.count(1)
        self._relay: RedisRelay | None = None

    def configure(self, url: str | None) -> None:
        """Deliver through Redis at `url` (redis://…), or in this process only (None)."""
        if (self._relay.url if self._relay else None) == (url or None):
            return
        if self._relay is not None:
            self._relay.close()
        self._relay = RedisRelay(url, self._deliver) if url else None

    @property
    def relayed(self) -> bool:
        return self._relay is not None

    def subscribe(self, topic: str) -> Subscription:
        subscription = Subscription(self, topic)
        with self._lock:
            self._subscribers.setdefault(topic, set()).add(subscription)
        if self._relay is not None:
            self._relay.ensure_listening()
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
        """Deliver `event` (a JSON-able dict) to every subscriber of `topic`, in every process
        when relayed through Redis; returns it (with its sequence id when delivered here)."""
        relay = self._relay
        if relay is not None:
            try:
                relay.publish(topic, event)
                return dict(event)
            except Exception as exc:
                logger.warning("event bus: Redis unreachable (%s); delivering in this process",
                               type(exc).__name__)
        return self._deliver(topic, event)

    def _deliver(self, topic: str, event: dict[str, Any]) -> dict:
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
