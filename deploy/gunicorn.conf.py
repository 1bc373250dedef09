"""gunicorn settings of a central server's pages and API (deploy/khaibao-central.service; the
HTTP benchmark serves the app with this same file).

Sync workers, a few of them: each takes one request at a time, so a burst of check-ins queues in
the kernel's accept queue and is served in order, instead of a dozen threads per process
contending for the interpreter lock (gthread 4×4 gave the same throughput with a p99 several
times longer; bench/results.md). A sync worker must never hold a long-lived response, so this
server serves no event streams or camera previews (KIOSK_STREAM_LIMIT=0: refused at once with
503 and Retry-After); deploy/gunicorn-streams.conf.py serves those, and the reverse proxy sends
/kiosk/events and /kiosk/preview.mjpg there.

KHAIBAO_BIND and KHAIBAO_WORKERS override the address and the number of workers (2–3 per two
cores measured best; one more per further core)."""
import os

bind = os.environ.get("KHAIBAO_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("KHAIBAO_WORKERS", "3"))
worker_class = "sync"
# A request the database holds longer than this is abandoned and its worker replaced (the
# app's own statement timeout, KIOSK_DATABASE_STATEMENT_TIMEOUT_S, cuts in first).
timeout = 60
graceful_timeout = 20
# Behind the TLS proxy on the same machine: it keeps its connections to us short.
keepalive = 2
wsgi_app = "app:create_app()"
# Set here, not in the unit, so no environment file can hand a stream to a sync worker.
raw_env = ["KIOSK_STREAM_LIMIT=0"]


def post_worker_init(worker):
    # Everything loaded so far (modules, the app, its config: ~160,000 objects) lives as long as
    # the worker: out of the collector's sight, a full collection walks only what requests made
    # (measured: 72 ms → 0.3 ms per full collection, the same CPU per check-in).
    from core.heap import settle_after_start

    settle_after_start()
