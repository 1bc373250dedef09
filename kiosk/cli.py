"""`flask --app app kiosk run`: web server + camera + BLE workers in one process."""
from __future__ import annotations

import logging
import os
import signal

import click
from flask import current_app
from flask.cli import AppGroup

logger = logging.getLogger(__name__)

kiosk_cli = AppGroup("kiosk", help="The entrance kiosk.")


@kiosk_cli.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=lambda: int(os.environ.get("PORT", 5000)),
              show_default="$PORT or 5000")
def run(host, port):
    """Serve the kiosk with its camera and BLE workers (each reports its state when absent)."""
    from waitress import create_server

    from kiosk.runtime import build_workers

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = current_app._get_current_object()
    manager = app.extensions["workers"]
    for worker in build_workers(app):
        manager.add(worker)
    server = create_server(app, host=host, port=port, threads=app.config["SERVER_THREADS"],
                           ident="khaibao")

    def _terminate(signum, frame):  # systemd stops services with SIGTERM
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _terminate)
    manager.start()
    click.echo(f"KhaiBao Kiosk serving on http://{host}:{port}/ (venue {app.config['VENUE']})")
    try:
        server.run()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.close()
        manager.stop()
        logger.info("kiosk stopped")
