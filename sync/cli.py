"""`flask --app app device enrol|list|revoke` (central server) and `flask --app app sync once`
(kiosk)."""
from __future__ import annotations

import json
import sys

import click
from flask import current_app
from flask.cli import AppGroup
from flask_babel import lazy_gettext as _l

from core.cli import bilingual
from core.clock import now
from core.db import db
from sync.devices import DeviceError, enrol_device, list_devices, revoke_device

device_cli = AppGroup("device", help="Kiosk devices of an installation (central server).")
sync_cli = AppGroup("sync", help="Store and forward to the central server (kiosk).")


@device_cli.command("enrol")
@click.option("--venue", "venue_code", required=True, help="the venue code the kiosk serves")
@click.option("--name", required=True, help="a name for the device, e.g. 'Cổng A'")
def enrol(venue_code, name):
    """Enrol a kiosk device; its credential (KIOSK_DEVICE_TOKEN) is printed once, on the last
    line."""
    with db.new_session() as session:
        try:
            device, token = enrol_device(session=session, venue_code=venue_code, name=name,
                                         now=now())
        except DeviceError as exc:
            raise click.ClickException(bilingual(exc.message)) from None
        click.echo(f"enrolled device {device.id} for venue {venue_code.strip().upper()}; "
                   "set KIOSK_DEVICE_TOKEN on the kiosk to the line below (shown once)")
        click.echo(token)


@device_cli.command("list")
def list_command():
    """Devices: id, venue, name, credential prefix, enrolled, last seen, revoked."""
    with db.new_session() as session:
        for device, kiosk, venue in list_devices(session=session):
            click.echo("\t".join([
                str(device.id), venue.code, kiosk.name, device.prefix + "…",
                device.created_at.isoformat(timespec="seconds"),
                device.last_seen_at.isoformat(timespec="seconds") if device.last_seen_at
                else "never",
                f"revoked {device.revoked_at.isoformat(timespec='seconds')}"
                if device.revoked_at else "active"]))


@device_cli.command("revoke")
@click.argument("device_id", type=int)
def revoke(device_id):
    """Revoke a device's credential: its next sync call is refused."""
    with db.new_session() as session:
        try:
            device = revoke_device(session=session, device_id=device_id, now=now())
        except DeviceError as exc:
            raise click.ClickException(bilingual(exc.message)) from None
        click.echo(f"device {device.id} revoked")


@sync_cli.command("once")
def once():
    """Push what is pending, pull what changed; one JSON line {"pushed", "pulled", "pending"}.
    Exit status 0 when nothing is left pending, 2 when the central server could not be reached,
    1 when it refused (a revoked credential)."""
    from sync.worker import run_sync_once

    app = current_app._get_current_object()
    if not app.config.get("CENTRAL_URL"):
        raise click.ClickException(bilingual(NOT_CONFIGURED))
    result = run_sync_once(app)
    click.echo(json.dumps(result.as_json()))
    if result.error == "unreachable":
        sys.exit(2)
    if result.error is not None or result.pending:
        sys.exit(1)


NOT_CONFIGURED = _l("This kiosk has no central server: set KIOSK_CENTRAL_URL and "
                    "KIOSK_DEVICE_TOKEN.")

COMMANDS = (device_cli, sync_cli)
