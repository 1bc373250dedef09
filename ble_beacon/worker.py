"""The BLE workers `kiosk run` starts: the scanner, whose encounters are written for this kiosk's
venue and device, and the optional venue beacon. Builders return None when turned off."""
from __future__ import annotations

import logging
import socket
import uuid

from flask import Flask

from ble_beacon import advertiser
from ble_beacon.aggregation import Encounter as Sighting
from ble_beacon.scanner import BleScanner, ScannerConfig
from ble_beacon.services import record_encounters
from core.db import db
from core.services import ensure_kiosk, get_venue

logger = logging.getLogger(__name__)

BEACON_KINDS = ("off", "ibeacon", "eddystone")


class VenueNotReady(RuntimeError):
    """KIOSK_VENUE names no venue yet: the batch is kept and tried again."""


class EncounterWriter:
    """The scanner's sink: each batch in its own session and one transaction, tied to the venue
    this kiosk serves and its device record (the same record check-ins use: the host name)."""

    def __init__(self, app: Flask, *, venue_code: str, kiosk_name: str | None = None) -> None:
        self.app = app
        self.venue_code = venue_code
        self.kiosk_name = (kiosk_name or socket.gethostname())[:100]
        self._ids: tuple[int, int] | None = None
        self.batches = 0
        self.rows = 0

    def __call__(self, batch: list[Sighting]) -> None:
        with db.new_session(self.app) as session:
            venue_id, kiosk_id = self._resolve(session)
            self.rows += record_encounters(session=session, encounters=batch, venue_id=venue_id,
                                           kiosk_id=kiosk_id)
        self.batches += 1

    def _resolve(self, session) -> tuple[int, int]:
        if self._ids is None:
            venue = get_venue(session=session, code=self.venue_code)
            if venue is None:
                raise VenueNotReady(f"venue {self.venue_code} is not set up")
            kiosk = ensure_kiosk(session=session, venue=venue, name=self.kiosk_name,
                                 now=self.app.extensions["clock"].now())
            self._ids = (venue.id, kiosk.id)
        return self._ids


def build_scanner(app: Flask) -> BleScanner | None:
    """KIOSK_BLE=off (a central server) starts nothing; /healthz then says "off"."""
    config = ScannerConfig.from_mapping(app.config)
    if config.adapter == "off":
        return None
    clock = app.extensions["clock"]
    return BleScanner(config, sink=EncounterWriter(app, venue_code=app.config["VENUE"]),
                      clock=clock.now)


def build_venue_beacon(app: Flask) -> advertiser.VenueBeacon | None:
    """KIOSK_BLE_BEACON = off (default) | ibeacon | eddystone. The identity is the project UUID
    (or KIOSK_BLE_BEACON_UUID) with the venue and kiosk ids, so a phone can tell venues apart."""
    kind = str(app.config.get("BLE_BEACON", "off")).strip().lower()
    if kind not in BEACON_KINDS:
        raise ValueError(f"KIOSK_BLE_BEACON={kind!r} is not one of {', '.join(BEACON_KINDS)}")
    adapter = str(app.config.get("BLE", "auto"))
    if kind == "off" or adapter == "off":
        return None
    beacon_uuid = uuid.UUID(str(app.config.get("BLE_BEACON_UUID")
                                or advertiser.DEFAULT_BEACON_UUID))
    with db.new_session(app) as session:
        venue = get_venue(session=session, code=app.config["VENUE"])
        if venue is None:
            logger.warning("venue beacon not started: venue %s is not set up", app.config["VENUE"])
            return None
        kiosk = ensure_kiosk(session=session, venue=venue, name=socket.gethostname()[:100],
                             now=app.extensions["clock"].now())
        payload = advertiser.venue_payload(kind, venue_id=venue.id, kiosk_id=kiosk.id,
                                           beacon_uuid=beacon_uuid)
    return advertiser.VenueBeacon(payload, adapter="hci0" if adapter == "auto" else adapter)
