"""The camera pipeline end to end with real OpenCV sources: a video file, a folder of images and
an MJPEG HTTP stream that goes away and comes back."""
from __future__ import annotations

import glob
import http.server
import queue
import threading

import cv2
import pytest

from kiosk.camera import (
    ABSENT,
    OFF,
    OK,
    RECONNECTING,
    CameraWorker,
    Deduplicator,
    SourceSpec,
    parse_source,
)
from tests.kiosk.conftest import CCCD_TEXT, TOKEN_A, TOKEN_B, wait_until
from tests.support.qrframes import Placement, camera_frame

FAST = {"backoff_initial_s": 0.05, "backoff_max_s": 0.3, "poll_s": 0.05}


def _drain(events: queue.Queue) -> list:
    found = []
    while True:
        try:
            found.append(events.get_nowait())
        except queue.Empty:
            return found


# --- pure parts ------------------------------------------------------------------------------

def test_dedupe_reports_a_held_code_once():
    dedupe = Deduplicator(window_s=3.0)
    assert dedupe.is_new("A", 0.0)
    # held in front of the camera for a while: every sighting extends the presentation
    assert not any(dedupe.is_new("A", t / 10) for t in range(1, 100))
    assert dedupe.is_new("B", 9.95)
    assert not dedupe.is_new("A", 12.0)     # 2.1 s after its last sighting
    assert dedupe.is_new("A", 15.5)         # away for more than the window: a new presentation
    assert dedupe.is_new("A", 1.0)          # time went backwards: a new stream


def test_dedupe_forgets_old_codes():
    dedupe = Deduplicator(window_s=1.0)
    for i in range(500):
        assert dedupe.is_new(f"code {i}", float(i))
    assert len(dedupe._last_seen) <= 66


def test_parse_source(tmp_path):
    (tmp_path / "shot.JPG").write_bytes(b"")
    assert parse_source("auto") == SourceSpec("auto")
    assert parse_source(" none ") == SourceSpec("none")
    assert parse_source("") == SourceSpec("none")
    assert parse_source("0") == SourceSpec("device", 0)
    assert parse_source("12") == SourceSpec("device", 12)
    assert parse_source("rtsp://user:pw@cam.local:554/live?x=1").kind == "url"
    assert parse_source("rtsp://user:pw@cam.local:554/live?x=1").describe() == (
        "rtsp://cam.local:554/live")
    assert parse_source(str(tmp_path)).kind == "folder"
    assert parse_source(str(tmp_path / "shot.JPG")).kind == "image"
    assert parse_source(str(tmp_path / "door.avi")).kind == "video"
    assert parse_source("http://127.0.0.1:8080/stream.mjpg").live
    assert not parse_source(str(tmp_path)).live


# --- a video file ---------------------------------------------------------------------------

@pytest.mark.parametrize("decoder", ["zxing", "zbar"])
def test_video_reports_each_code_once_with_its_kind(scan_clip, decoder):
    worker = CameraWorker(str(scan_clip.path), decoder=decoder, reopen=False)
    events = worker.subscribe(maxsize=100)
    worker.start()
    assert worker.wait(timeout=120)
    found = _drain(events)
    if decoder == "zbar":
        # pyzbar never reads tilted-by-35° or light-on-dark codes as reliably: it must still
        # report no code twice and no wrong code.
        expected = [e for e in scan_clip.expected if e[1] in {f.text for f in found}]
        assert len(expected) >= len(scan_clip.expected) - 3
    else:
        expected = scan_clip.expected
    assert [(e.kind, e.text) for e in found] == [(kind, text) for kind, text, _ in expected]
    for event, (_kind, _text, frames) in zip(found, expected):
        assert event.frame in frames and event.file is None
        assert len(event.corners) == 4
        assert event.seen_at.tzinfo is not None
    assert worker.status() == OFF
    cccd = next(e for e in found if e.kind == "cccd")
    assert cccd.code.identity.id_number == "001090012345"
    assert cccd.code.identity.gender == "male"


def test_missing_video_is_reported_absent(tmp_path):
    worker = CameraWorker(str(tmp_path / "gone.avi"), reopen=False)
    worker.start()
    assert worker.wait(timeout=10)
    assert worker.status() == ABSENT


def test_a_file_that_is_not_a_video_is_an_error_not_a_crash(tmp_path):
    bogus = tmp_path / "notes.avi"
    bogus.write_text("this is not a video")
    worker = CameraWorker(str(bogus), **FAST)  # the kiosk: keeps trying, slowly
    worker.start()
    try:
        wait_until(lambda: worker.status().startswith("error: "))
        assert "notes.avi" in worker.status()
    finally:
        worker.stop()
    assert worker.status() == OFF


def test_listener_failure_does_not_stop_the_camera(scan_clip):
    worker = CameraWorker(str(scan_clip.path), reopen=False)

    def broken(event):
        raise RuntimeError("listener bug")

    worker.add_listener(broken)
    events = worker.subscribe(maxsize=100)
    worker.start()
    assert worker.wait(timeout=120)
    assert len(_drain(events)) == len(scan_clip.expected)


def test_disabled_camera_is_off():
    worker = CameraWorker("none")
    worker.start()
    assert worker.status() == OFF
    worker.stop()


def test_auto_without_a_camera_says_absent():
    if glob.glob("/dev/video*"):
        pytest.skip("this machine has a camera device")
    worker = CameraWorker("auto", **FAST)
    worker.start()
    try:
        wait_until(lambda: worker.status() == ABSENT)
        assert worker.status_info().detail == "no camera found"
    finally:
        worker.stop()
    assert worker.status() == OFF


def test_missing_device_index_says_absent():
    worker = CameraWorker("63", reopen=False)
    worker.start()
    assert worker.wait(timeout=10)
    assert worker.status() == ABSENT


# --- a watched folder that disappears and comes back ------------------------------------------

def _write_code(path, text, seed):
    assert cv2.imwrite(str(path), camera_frame([Placement(text)], seed=seed))


def test_folder_disappears_and_comes_back(tmp_path):
    folder = tmp_path / "drop"
    folder.mkdir()
    _write_code(folder / "1.jpg", TOKEN_A, 1)
    worker = CameraWorker(str(folder), **FAST)
    events = worker.subscribe()
    worker.start()
    try:
        first = events.get(timeout=20)
        assert (first.kind, first.text, first.file) == ("token", TOKEN_A, "1.jpg")
        assert worker.status() == OK

        folder.rename(tmp_path / "unplugged")
        wait_until(lambda: worker.status() == RECONNECTING)

        (tmp_path / "unplugged").rename(folder)
        _write_code(folder / "2.png", TOKEN_B, 2)
        second = events.get(timeout=20)
        assert (second.kind, second.text, second.file) == ("token", TOKEN_B, "2.png")
        wait_until(lambda: worker.status() == OK)
        assert _drain(events) == []  # 1.jpg was read already: not reported again
    finally:
        worker.stop()


def test_unreadable_image_in_a_folder_is_skipped(tmp_path):
    _write_code(tmp_path / "a.jpg", TOKEN_B, 4)
    whole = (tmp_path / "a.jpg").read_bytes()
    (tmp_path / "a.jpg").write_bytes(whole[: len(whole) // 2])  # a copy cut short
    (tmp_path / "c.png").write_text("not an image")
    _write_code(tmp_path / "b.png", TOKEN_A, 3)
    worker = CameraWorker(str(tmp_path), reopen=False)
    skipped = []
    worker.add_skip_listener(skipped.append)
    events = worker.subscribe()
    worker.start()
    assert worker.wait(timeout=30)
    assert [(f.file, f.error.code) for f in skipped] == [("a.jpg", "image_truncated"),
                                                         ("c.png", "not_an_image")]
    assert [(e.file, e.text) for e in _drain(events)] == [("b.png", TOKEN_A)]


# --- an MJPEG camera over HTTP that is unplugged and plugged back -------------------------

class MjpegCamera:
    """A network camera served from a thread: multipart/x-mixed-replace JPEG frames, like
    IP webcams and phone camera apps. stop() drops every connection; start() serves again on
    the same port."""

    def __init__(self, text: str):
        self.port = 0
        self.show(text)
        self._server = None

    def show(self, text: str) -> None:
        frame = camera_frame([Placement(text, size_px=300)], seed=42, size=(640, 480))
        self._jpeg = cv2.imencode(".jpg", frame)[1].tobytes()

    def start(self) -> None:
        camera = self
        self._running = threading.Event()
        self._running.set()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                running = camera._running
                try:
                    while running.is_set():
                        jpeg = camera._jpeg
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\n"
                                         b"Content-Length: %d\r\n\r\n" % len(jpeg))
                        self.wfile.write(jpeg + b"\r\n")
                        running.wait(1 / 25)  # the camera's frame clock
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"

    def stop(self) -> None:
        self._running.clear()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def ip_camera():
    camera = MjpegCamera(TOKEN_A)
    camera.start()
    yield camera
    camera.stop()


def test_stream_unplugged_and_back(ip_camera):
    worker = CameraWorker(ip_camera.url, **FAST)
    events = worker.subscribe()
    worker.start()
    try:
        first = events.get(timeout=30)
        assert (first.kind, first.text) == ("token", TOKEN_A)
        assert worker.status() == OK
        assert isinstance(first.frame, int) and first.file is None

        ip_camera.stop()                                # unplugged
        wait_until(lambda: worker.status() == RECONNECTING)
        frames_while_away = worker.status_info().frames

        ip_camera.show(CCCD_TEXT)                       # someone else is at the door now
        ip_camera.start()                               # plugged back
        second = events.get(timeout=30)
        assert (second.kind, second.text) == ("cccd", CCCD_TEXT)
        assert worker.status() == OK
        assert worker.status_info().frames > frames_while_away
        assert all(t.is_alive() for t in worker._threads)
    finally:
        worker.stop()
    assert worker.status() == OFF
    assert not any(t.is_alive() for t in worker._threads)


def test_live_camera_drops_stale_frames_when_decoding_falls_behind(ip_camera):
    """Latest frame wins: while the decode side is stuck, capture keeps reading and the next
    frame decoded is a fresh one, not the backlog."""
    worker = CameraWorker(ip_camera.url, dedupe_window_s=0, **FAST)
    release = threading.Event()
    decoded_frames = []

    def slow_consumer(event):
        decoded_frames.append(event.frame)
        release.wait(30)

    worker.add_listener(slow_consumer)
    worker.start()
    try:
        wait_until(lambda: decoded_frames)
        stuck_at = worker.status_info().frames
        wait_until(lambda: worker.status_info().frames >= stuck_at + 15)
        release.set()
        wait_until(lambda: len(decoded_frames) >= 2)
        assert decoded_frames[1] >= decoded_frames[0] + 14
    finally:
        release.set()
        worker.stop()


def test_preview_frames_show_the_outlined_code(ip_camera):
    worker = CameraWorker(ip_camera.url, **FAST)
    worker.start()
    try:
        seq, jpeg = wait_until(lambda: worker.preview_jpeg(after=0, timeout=1.0))
        assert jpeg[:2] == b"\xff\xd8"
        image = cv2.imdecode(__import__("numpy").frombuffer(jpeg, "uint8"), cv2.IMREAD_COLOR)
        assert image.shape == (480, 640, 3)
        later = wait_until(lambda: worker.preview_jpeg(after=seq, timeout=1.0))
        assert later[0] > seq
    finally:
        worker.stop()
    assert worker.preview_jpeg(after=10**9, timeout=0.1) is None


def test_stream_that_never_answers_is_absent():
    with __import__("socket").socket() as probe:   # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    worker = CameraWorker(f"http://127.0.0.1:{port}/cam.mjpg", **FAST)
    worker.start()
    try:
        wait_until(lambda: worker.status() == ABSENT)
    finally:
        worker.stop()
