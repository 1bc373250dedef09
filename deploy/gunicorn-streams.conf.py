"""gunicorn settings of a central server's long-lived responses: desk and door screens' event
streams (/kiosk/events) and camera previews (/kiosk/preview.mjpg), kept apart from the sync
workers of deploy/gunicorn.conf.py so an open stream never takes a worker that check-ins need
(deploy/khaibao-central-streams.service; the reverse proxy routes those two paths here).

One process, a thread per stream: a stream mostly sleeps between heartbeats. KIOSK_STREAM_LIMIT
bounds the streams the process holds (more are refused with 503, never queued); it gets a few
threads more than that for the occasional other request."""
import os

bind = os.environ.get("KHAIBAO_STREAMS_BIND", "127.0.0.1:8001")
workers = 1  # one process: every stream hears every event without a broker between workers
worker_class = "gthread"
threads = int(os.environ.get("KIOSK_STREAM_LIMIT", "64")) + 4
timeout = 60
wsgi_app = "app:create_app()"
