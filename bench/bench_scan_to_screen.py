"""Scan-to-screen benchmark (not a test): how long from the moment a camera frame holding a
visitor's personal QR enters the kiosk pipeline until the check-in card's event arrives on the
screen's event stream.

The pipeline is the kiosk's own: the CameraWorker (capture and decode threads, zxing-cpp), the
check-in consumer from kiosk/runtime.py, handle_scan on a real SQLite database made by the
migrations, the event broker, and GET /kiosk/events served by the server of `kiosk run`
(kiosk/server.py) and read over HTTP as the screen reads it. Only the camera driver is the
benchmark's: a live source that delivers 1280x720 frames at 30 fps and, when told, frames with
a visitor's code (signed with the kiosk's own keys).

    python bench/bench_scan_to_screen.py [--quick]
"""
from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FPS = 30


class LiveFeed:
    """A live camera (kiosk.camera.FrameSource): one frame every 1/30 s, an empty scene unless a
    code is being held up. Records when the first frame with each code left the driver."""

    live = True
    description = "bench camera"

    def __init__(self, empty_frames):
        from kiosk.camera import Frame

        self._Frame = Frame
        self._empty = empty_frames
        self._index = 0
        self._next = time.perf_counter()
        self._lock = threading.Lock()
        self._showing = None      # (label, frame) while a code is held up
        self.entered: dict[str, float] = {}       # perf_counter
        self.entered_wall: dict[str, float] = {}  # time.time(), for a browser's clock

    def show(self, label: str | None, frame=None) -> None:
        with self._lock:
            self._showing = (label, frame) if label is not None else None

    def read(self):
        self._next += 1.0 / FPS
        delay = self._next - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        else:
            self._next = time.perf_counter()
        with self._lock:
            showing = self._showing
        self._index += 1
        if showing is None:
            image = self._empty[self._index % len(self._empty)]
        else:
            label, image = showing
            if label not in self.entered:
                self.entered[label] = time.perf_counter()
                self.entered_wall[label] = time.time()
        return self._Frame(self._index, image, time.monotonic())

    def close(self) -> None:
        pass


class ScreenStream:
    """GET /kiosk/events over HTTP, as the screen reads it; records each visit event's arrival."""

    def __init__(self, port: int, cookie: str):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.connection.request("GET", "/kiosk/events", headers={"Cookie": cookie})
        self._sock = self.connection.sock
        self.response = self.connection.getresponse()
        if self.response.status != 200:
            raise RuntimeError(f"/kiosk/events answered {self.response.status}")
        self.arrivals: list[tuple[float, dict]] = []
        self.ready = threading.Event()
        self.changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        kind = None
        try:
            while True:
                line = self.response.fp.readline()
                if not line:
                    return
                line = line.decode().rstrip("\n")
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    if kind == "status":
                        self.ready.set()
                    elif kind == "visit":
                        arrived = time.perf_counter()
                        with self.changed:
                            self.arrivals.append((arrived, json.loads(line[6:])))
                            self.changed.notify_all()
                elif line == "":
                    kind = None
        except (OSError, ValueError, AttributeError):  # closed by close()
            return

    def wait_for(self, count: int, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: len(self.arrivals) >= count, timeout)

    def close(self) -> None:
        try:  # unblocks the reader thread at once (closing the response would wait for it)
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._thread.join(5)
        self.connection.close()


@contextlib.contextmanager
def door(scans: int, prefix: str, config: dict | None = None):
    """The kiosk's door pipeline on a scratch database with `scans` visitors: the live feed, the
    CameraWorker and the check-in consumer (the caller serves the app with
    kiosk.server.serve_while, as `kiosk run` serves it). Yields a namespace with app, feed,
    camera, tokens, frames (one with each visitor's code) and manager."""
    from types import SimpleNamespace

    from kiosk_setup import kiosk_database

    from kiosk.camera import CameraWorker, parse_source
    from kiosk.runtime import CAMERA_EXTENSION, build_checkin
    from tests.support.qrframes import Placement, camera_frame

    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        app, _, tokens = kiosk_database(Path(tmp), venue="HQ", visitors=scans,
                                        config={"SECRET_KEY": "bench-secret",
                                                "EVENTS_HEARTBEAT_S": 5, **(config or {})})
        empties = [camera_frame(seed=300 + i) for i in range(4)]
        frames = [camera_frame([Placement(t, center=(0.4 + 0.02 * (i % 10), 0.5),
                                          rotate_deg=7 * (i % 5), tilt_deg=5 * (i % 4))],
                               seed=400 + i, jpeg_quality=85)
                  for i, t in enumerate(tokens)]
        feed = LiveFeed(empties)
        camera = CameraWorker(parse_source("0"), decoder=app.config["DECODER"],
                              opener=lambda spec, done=None: feed)
        app.extensions[CAMERA_EXTENSION] = camera
        manager = app.extensions["workers"]
        manager.add(camera)
        manager.add(build_checkin(app))
        try:
            yield SimpleNamespace(app=app, feed=feed, camera=camera, tokens=tokens,
                                  frames=frames, manager=manager)
        finally:
            manager.stop()
            from core.db import db
            db.dispose(app)


def _scans(pipeline, port: int, cookie: str) -> tuple[list, list, int]:
    """Each visitor holds up their code in turn; when the door screen's stream shows them."""
    from visits import events

    feed, tokens, frames = pipeline.feed, pipeline.tokens, pipeline.frames
    decoded_at: dict[str, float] = {}
    pipeline.camera.add_listener(
        lambda event: decoded_at.setdefault(event.text, time.perf_counter()))
    published_at: list[float] = []
    broker_side = events.broker.subscribe("HQ")
    pipeline.manager.start()
    stream = ScreenStream(port, cookie)
    latencies, decode_ms, lost = [], [], 0
    try:
        if not stream.ready.wait(10):
            raise RuntimeError("the event stream sent no status")
        for i, token in enumerate(tokens):
            label = f"scan{i}"
            feed.show(label, frames[i])
            arrived = stream.wait_for(i + 1 - lost, 5.0)
            feed.show(None)
            while (event := broker_side.get(timeout=0)) is not None:
                if event.get("type") == "visit":
                    published_at.append(time.perf_counter())
            if not arrived:
                lost += 1
                continue
            t_in = feed.entered[label]
            t_screen, event = stream.arrivals[-1]
            if event.get("action") != "check_in":
                raise RuntimeError(f"unexpected event {event.get('action')}")
            latencies.append((t_screen - t_in) * 1000)
            if token in decoded_at:
                decode_ms.append((decoded_at[token] - t_in) * 1000)
            time.sleep(0.15)  # the visitor walks on; the next one steps up
    finally:
        stream.close()
        broker_side.close()
    return latencies, decode_ms, lost


def measure(scans: int) -> dict:
    from kiosk_setup import screen_cookie

    from kiosk.server import serve_while

    with door(scans, "khaibao-bench-scan-") as pipeline:
        latencies, decode_ms, lost = serve_while(
            pipeline.app, lambda port: _scans(pipeline, port, screen_cookie(pipeline.app)))
    latencies.sort()
    return {"scans": scans, "received": len(latencies), "lost": lost,
            "p50_ms": round(statistics.median(latencies), 1),
            "p95_ms": round(latencies[max(0, round(0.95 * len(latencies)) - 1)], 1),
            "max_ms": round(latencies[-1], 1),
            "decode_p50_ms": round(statistics.median(decode_ms), 1) if decode_ms else None,
            "frame_period_ms": round(1000 / FPS, 1)}


def run(quick: bool = False) -> list[dict]:
    result = measure(5 if quick else 60)
    met = result["p95_ms"] <= 150 and result["lost"] == 0
    after_decode = result["p50_ms"] - (result["decode_p50_ms"] or 0)
    row = {
        "figure": "scan to screen",
        "how": (f"{result['scans']} visitors, each a fresh signed personal QR held up to a 30 fps "
                "1280×720 live source feeding the kiosk's CameraWorker; check-in by the runtime's "
                "consumer on SQLite (migrated); from the first frame with the code leaving the "
                "camera driver to the visit event read from GET /kiosk/events (the server of "
                "`kiosk run`, HTTP)"),
        "target": "p95 ≤ 150 ms",
        "measured": (f"p95 {result['p95_ms']:.0f} ms, median {result['p50_ms']:.0f} ms "
                     f"({result['received']}/{result['scans']} scans shown)"),
        "comparison": (f"of the median, {result['decode_p50_ms']} ms is the camera side (queue + "
                       f"decode; a new frame every {result['frame_period_ms']} ms) and "
                       f"{after_decode:.1f} ms check-in, commit and the stream"),
        "met": met,
        "data": result,
    }
    if not met:
        row["miss"] = ("p95 above 150 ms or scans not shown on this machine; data splits the "
                       "time between the camera side and check-in + stream")
    return [row]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes")
    args = parser.parse_args()
    json.dump(run(args.quick), sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
