"""`flask --app app keys …`: the personal-QR signing keys in instance/keys/ (list, rotate,
retire). Kiosks that only verify need the *.public.pem files, never a private key."""
from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from declarations.tokens import load_keyring, retire_key, rotate_signing_key

keys_cli = AppGroup("keys", help="Signing keys of the personal QR codes.")


def _directory() -> Path:
    return Path(current_app.instance_path) / "keys"


@keys_cli.command("list")
def keys_list():
    """Key ids accepted for verification; the signing key is marked with *."""
    ring = load_keyring(_directory())
    for kid in sorted(ring.public_keys):
        click.echo(f"{'*' if kid == ring.signing_key_id else ' '} {kid}")


@keys_cli.command("rotate")
def keys_rotate():
    """Sign new codes with a new key; codes already handed out keep working."""
    load_keyring(_directory())  # make sure a first key exists to rotate from
    click.echo(rotate_signing_key(_directory()))
    current_app.extensions.pop("declarations.keyring", None)


@keys_cli.command("retire")
@click.argument("kid")
def keys_retire(kid):
    """Stop accepting codes signed with KID (they are refused as "unknown key")."""
    try:
        retire_key(_directory(), kid)
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    current_app.extensions.pop("declarations.keyring", None)
    click.echo(f"retired {kid}")
