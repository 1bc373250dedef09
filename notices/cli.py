"""`notices deliver`: one delivery pass (exposure notices' and hosts' e-mails and SMS), for a
central server's timer; a kiosk's `kiosk run` does it every few seconds itself."""
from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import AppGroup

from core.clock import now
from core.db import db

notices_cli = AppGroup("notices", help="Exposure and host notices.")


@notices_cli.command("deliver")
def notices_deliver():
    """Try every e-mail and SMS that is due once; print the counts as JSON."""
    from notices.hosts import deliver_host_emails
    from notices.services import deliver_due
    from notices.worker import delivery_settings

    settings = delivery_settings(current_app)
    moment = now()
    with db.new_session() as session:
        counts = deliver_due(session=session, settings=settings, now=moment)
        hosts = deliver_host_emails(session=session, settings=settings, now=moment)
    click.echo(json.dumps({key: counts[key] + hosts[key] for key in counts}))
