"""`flask --app app kiosk run`: web server + camera + BLE workers in one process;
`flask --app app scan`: decode a camera, video, image or folder and print one JSON line per code;
`flask --app app venue poster`: the printable venue poster."""
from __future__ import annotations

import json
import logging
import os
import sys
import threading

import click
from flask import current_app, has_app_context
from flask.cli import AppGroup

from core.cli import venue_cli
from core.heap import settle_after_start

logger = logging.getLogger(__name__)

kiosk_cli = AppGroup("kiosk", help="The entrance kiosk.")


@kiosk_cli.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=lambda: int(os.environ.get("PORT", 5000)),
              show_default="$PORT or 5000")
def run(host, port):
    """Serve the kiosk with its camera and BLE workers (each reports its state when absent)."""
    from kiosk.runtime import build_jobs, build_workers
    from kiosk.server import create_server, serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if steady_memory():
        logger.info("memory: blocks of %d KiB and more get their own mapping (camera frames)",
                    FRAME_MMAP_THRESHOLD // 1024)
    app = current_app._get_current_object()
    manager = app.extensions["workers"]
    for worker in (*build_workers(app), *build_jobs(app)):
        manager.add(worker)
    # Streams have threads of their own on top of the ordinary ones (kiosk/streams.py).
    server, bridge = create_server(
        app, host=host, port=port,
        threads=app.config["SERVER_THREADS"] + app.config["STREAM_LIMIT"])
    manager.start()
    # What start-up loaded lives as long as the process: kept out of the collector's sight, a
    # full collection no longer stops a check-in for tens of milliseconds (core/heap.py).
    settle_after_start()
    click.echo(f"KhaiBao Kiosk serving on http://{host}:{port}/ (venue {app.config['VENUE']})")
    try:
        serve(server, bridge)  # until SIGINT, or SIGTERM (how systemd stops services)
    finally:
        manager.stop()
        logger.info("kiosk stopped")


@kiosk_cli.command("pair")
@click.option("--name", default="door screen", show_default=True,
              help="What the screen is called on the admin's screens page.")
@click.option("--base-url", default=lambda: f"http://127.0.0.1:{os.environ.get('PORT', 5000)}",
              show_default="http://127.0.0.1:$PORT", help="The address the screen's browser uses.")
def pair(name, base_url):
    """Make a one-time link that pairs a browser as this kiosk's door screen (printed on the
    last line; it works once, within 30 minutes)."""
    from core.clock import now
    from core.db import db
    from kiosk import screens

    app = current_app._get_current_object()
    with db.new_session(app) as session:
        device, code = screens.create_pairing(session=session, name=name, now=now())
    with app.test_request_context(base_url=base_url):
        from kiosk.views import pairing_link

        link = pairing_link(base_url, code)
    click.echo(f"Open this link once in the door screen's browser (it works for "
               f"{int(screens.PAIRING_TTL.total_seconds() // 60)} minutes):")
    click.echo(link)


# glibc's mallopt parameter: requests at least this large get their own memory mapping.
M_MMAP_THRESHOLD = -3
FRAME_MMAP_THRESHOLD = 256 * 1024


def steady_memory() -> bool:
    """Keep the kiosk's resident memory steady over days (glibc only; elsewhere a no-op).

    Camera frames (0.9 MB grey, 2.7 MB colour at 720p) are allocated and freed many times a
    second. glibc raises its mmap threshold each time such a block is freed, after which frames
    come from the heap arenas of whichever thread decoded them, and fragments there keep the
    resident size creeping up and down. A fixed threshold (which also switches off the raising)
    gives every frame its own mapping, returned to the system when the frame is freed."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(M_MMAP_THRESHOLD, FRAME_MMAP_THRESHOLD))
    except (OSError, AttributeError):   # not glibc (musl has no mallopt)
        return False


@click.command("scan")
@click.option("--source", required=True, metavar="SRC",
              help="A camera index (0), `auto`, a video file, an image, a folder of images or a "
                   "stream URL.")
@click.option("--decoder", type=click.Choice(["zxing", "zbar"]), default=None,
              help="QR decoder (default: KIOSK_DECODER, else zxing).")
@click.option("--window", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
              help="A camera or video reports the same code once within this many seconds "
                   "(default 3).")
def scan(source, decoder, window):
    """Decode QR codes; one JSON line per code: {"frame": n | "file": name, "kind", "text"}.

    A camera, stream or video reports a code once per short window; a folder reports every file
    on its own. Needs no database.
    """
    from kiosk.camera import (ABSENT, DEDUPE_WINDOW_S, ERROR, RECONNECTING, CameraWorker,
                              parse_source)
    from kiosk.decoding import DecoderUnavailable, make_decoder

    spec = parse_source(source)
    if spec.kind == "none":
        raise click.BadParameter("name a camera, file, folder or stream URL", param_hint="--source")
    if decoder is None:
        decoder = (current_app.config.get("DECODER") if has_app_context()
                   else os.environ.get("KIOSK_DECODER")) or "zxing"
    try:
        backend = make_decoder(decoder)
    except (DecoderUnavailable, ValueError) as exc:
        raise click.ClickException(str(exc)) from None

    reader_gone = threading.Event()

    def print_code(event):
        if reader_gone.is_set():
            return
        where = {"file": event.file} if event.file is not None else {"frame": event.frame}
        try:
            click.echo(json.dumps({**where, "kind": event.kind, "text": event.text},
                                  ensure_ascii=False))
        except BrokenPipeError:  # `scan … | head`: the reader has all it wanted
            reader_gone.set()

    def print_skipped(frame):
        click.echo(f"{frame.file}: {frame.error.message} ({frame.error.code})", err=True)

    worker = CameraWorker(spec, decoder=backend, reopen=False,
                          dedupe_window_s=DEDUPE_WINDOW_S if window is None else window)
    worker.add_listener(print_code)
    worker.add_skip_listener(print_skipped)
    worker.start()
    try:
        while not worker.wait(0.5):  # short waits keep Ctrl-C responsive
            if reader_gone.is_set():
                break
    except KeyboardInterrupt:
        pass
    status = worker.status_info()  # before stop(), which turns every state into "off"
    worker.stop()
    if reader_gone.is_set():
        # Quiet exit: Python would otherwise complain when it flushes the closed pipe.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return
    if status.state in (ABSENT, ERROR, RECONNECTING):
        reason = {ABSENT: "not available", RECONNECTING: "lost", ERROR: "unusable"}[status.state]
        raise click.ClickException(f"source {reason}: {status.detail}")


@venue_cli.command("poster")
@click.option("--code", required=True, help="The venue code.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, writable=True),
              help="Where to write the PDF.")
@click.option("--base-url", default=None,
              help="The address visitors' phones reach (default: KIOSK_PUBLIC_URL).")
def venue_poster(code, output, base_url):
    """Write the printable A4 poster of a venue: its QR code and bilingual instructions."""
    from core.db import db
    from core.services import get_venue
    from declarations.venue_links import build_venue_url
    from kiosk.poster import PosterError, PosterVenue, render_poster

    base_url = base_url or current_app.config.get("PUBLIC_URL")
    if not base_url:
        raise click.UsageError("set KIOSK_PUBLIC_URL or pass --base-url: the QR code must hold "
                               "an address that visitors' phones can reach")
    with db.new_session() as session:
        venue = get_venue(session=session, code=code)
    if venue is None:
        raise click.UsageError(f"no venue {code.strip().upper()}")
    url = build_venue_url(base_url, venue.code, current_app.config["SECRET_KEY"])
    try:
        pdf = render_poster(PosterVenue(venue.code, venue.name, venue.address, url))
    except PosterError as exc:
        raise click.ClickException(str(exc)) from None
    with open(output, "wb") as handle:
        handle.write(pdf)
    click.echo(f"poster for {venue.code} written to {output} ({url})")


@kiosk_cli.command("close-overdue")
def close_overdue():
    """Check out every visit past its venue's closing time or maximum stay (`kiosk run` does this
    every minute; a central server without it runs this from cron)."""
    from kiosk.runtime import AutoCheckout

    closed = AutoCheckout(current_app._get_current_object()).run_once()
    click.echo(f"{closed} visits closed")
