"""Contact-tracing phones over Bluetooth LE: the bleak scanner, advertisement parsers, encounters,
linking a phone to a check-in, and the optional venue beacon."""
from __future__ import annotations


def init_app(app) -> None:
    """Register the `beacon` CLI and the scanner and venue-beacon workers."""
    from ble_beacon.cli import beacon
    from ble_beacon.worker import build_scanner, build_venue_beacon
    from core.workers import register_builder

    app.cli.add_command(beacon)
    register_builder(app, build_scanner)
    register_builder(app, build_venue_beacon)
