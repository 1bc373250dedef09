"""`flask --app app keys …`: the personal-QR signing keys (list, rotate, retire). This server's
private key lives in instance/keys/; which public keys the installation accepts, and which are
retired, lives in the database (declarations/keystore.py), so a change acts in every running
process within seconds."""
from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from core.db import db
from declarations import keystore

keys_cli = AppGroup("keys", help="Signing keys of the personal QR codes.")


def _directory() -> Path:
    return Path(current_app.instance_path) / "keys"


def _changed() -> None:
    keystore.keystore_of(current_app._get_current_object()).forget()


@keys_cli.command("list")
def keys_list():
    """Key ids: * signs new codes here, the others are accepted, unless marked retired."""
    for kid, state in keystore.list_keys(db.engine(), _directory()):
        mark = {"signing": "*", "accepted": " ", "retired": "-"}[state]
        click.echo(f"{mark} {kid}" + ("  (retired)" if state == "retired" else ""))


@keys_cli.command("rotate")
def keys_rotate():
    """Sign new codes with a new key (in every running process within seconds); codes already
    handed out keep working."""
    click.echo(keystore.rotate(db.engine(), _directory()))
    _changed()


@keys_cli.command("retire")
@click.argument("kid")
def keys_retire(kid):
    """Stop accepting codes signed with KID (refused as "unknown key" by every running process
    within seconds)."""
    try:
        keystore.retire(db.engine(), _directory(), kid)
    except (ValueError, LookupError) as exc:
        raise click.ClickException(str(exc)) from None
    _changed()
    click.echo(f"retired {kid}")
