"""Health components that features add to /healthz (and, when something needs staff attention,
to the desk): a feature registers a probe at its init_app; core knows no feature."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

_KEY = "health.probes"


@dataclass
class Reading:
    value: object            # what /healthz shows under components.<name> (JSON-able)
    warning: object = None   # a message for staff (lazy gettext) when something needs attention


def register(app, name: str, probe: Callable[[object], Reading]) -> None:
    """`probe(app)` is called on each /healthz and desk request: keep it cheap, never raise."""
    app.extensions.setdefault(_KEY, {})[name] = probe


def read_all(app) -> dict[str, Reading]:
    readings = {}
    for name, probe in app.extensions.get(_KEY, {}).items():
        try:
            readings[name] = probe(app)
        except Exception as exc:  # a health probe must not break the health check
            readings[name] = Reading(f"error: {type(exc).__name__}")
    return readings
