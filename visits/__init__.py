"""Visits: the central record of the door (visitors, their visits, the rules of opening and
closing them, and the live events they publish). The phone flow (declarations) and the door
(kiosk) both build on it; it imports neither."""
from __future__ import annotations


def init_app(app) -> None:
    """Live events go through Redis when KIOSK_EVENTS_URL is set (a central server's workers),
    else stay in this process (a kiosk). No connection is opened here."""
    from visits import events

    events.broker.configure(app.config.get("EVENTS_URL") or None)
