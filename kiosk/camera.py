"""The camera pipeline: one function opens a source (device, video file, image folder, stream URL);
a capture thread and a decode thread joined by a queue turn frames into recognised codes, each
reported once per short window; a lost source is reopened with backoff and its state exposed."""
from __future__ import annotations

import glob
import logging
import queue
import re
import sys
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

import cv2
import numpy as np
from flask_babel import lazy_gettext as _l

from kiosk.codes import ScannedCode, parse_code
from kiosk.decoding import (DECODER_NAMES, Decoder, DecoderUnavailable, Detection, ImageError,
                            load_image_bytes, make_decoder, render_preview, to_gray)

logger = logging.getLogger(__name__)

# Status words (shown on the kiosk screen and in /healthz as the `camera` component).
OFF = "off"                    # disabled, stopped, or a finished file
ABSENT = "absent"              # enabled, but no camera (or the file/stream is not there)
OK = "ok"                      # frames are coming in
RECONNECTING = "reconnecting"  # it was there and went away; reopening with backoff
ERROR = "error"                # shown as "error: <reason>"

# A code seen again within this many seconds of its last sighting is the same presentation: a
# visitor holding a QR for ten seconds must not be checked in and then out again.
DEDUPE_WINDOW_S = 3.0
# Reopen delays after a loss: fast first (a USB hiccup), then no more than every 30 s.
BACKOFF_INITIAL_S = 0.5
BACKOFF_MAX_S = 30.0
# A watched folder or file is looked at again this often for new images.
POLL_S = 1.0
# Capture at 720p: zxing-cpp decodes it at ~166 fps on one core, and 1080p gains little at a door.
CAPTURE_WIDTH, CAPTURE_HEIGHT = 1280, 720
# Network streams: fail an open or a read after this long, so a dead camera is noticed.
STREAM_TIMEOUT_MS = 5000
# Files (lossless) queue this many frames ahead of the decoder before capture waits.
FILE_QUEUE_FRAMES = 8
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif"})
STREAM_SCHEMES = ("http://", "https://", "rtsp://", "rtsps://", "rtmp://", "udp://", "tcp://")


class SourceUnavailable(Exception):
    """The source is not there (no camera, file or folder missing, stream down): wait and retry."""


class SourceError(Exception):
    """The source is there but unusable (say, a file that is not a video). The message is short
    and holds no personal data: it is shown as the camera status."""


class SourceLost(Exception):
    """An open source stopped delivering frames (unplugged camera, dropped stream)."""


@dataclass(frozen=True)
class SourceSpec:
    """What KIOSK_CAMERA_SOURCE (or `scan --source`) names."""

    kind: str  # none | auto | device | url | video | folder | image
    value: str | int | None = None

    @property
    def live(self) -> bool:
        return self.kind in ("auto", "device", "url")

    def describe(self) -> str:
        """For logs and the status screen: no credentials, no query string."""
        if self.kind == "device":
            return f"camera {self.value}"
        if self.kind == "url":
            try:
                parts = urlsplit(str(self.value))
                host = parts.hostname or ""
                port = f":{parts.port}" if parts.port else ""
                return f"{parts.scheme}://{host}{port}{parts.path}"
            except ValueError:
                return "stream"
        if self.kind in ("video", "folder", "image"):
            return Path(str(self.value)).name or str(self.value)
        return self.kind


def parse_source(text: str | int | None) -> SourceSpec:
    """`auto`, `none`, a device index, a stream URL, a folder, an image file or a video file."""
    value = "" if text is None else str(text).strip()
    lowered = value.lower()
    if lowered in ("", "none", "off"):
        return SourceSpec("none")
    if lowered == "auto":
        return SourceSpec("auto")
    if value.isascii() and value.isdigit():
        return SourceSpec("device", int(value))
    if lowered.startswith(STREAM_SCHEMES):
        return SourceSpec("url", value)
    path = Path(value).expanduser()
    if path.is_dir():
        return SourceSpec("folder", str(path))
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return SourceSpec("image", str(path))
    return SourceSpec("video", str(path))


@dataclass
class Frame:
    index: int                  # frame number in the source (a folder: the file's position)
    image: np.ndarray | None    # BGR or gray; None when a still image could not be read
    t_s: float                  # stream time in seconds (video position, or monotonic for live)
    file: str | None = None     # the image's file name (folders and single images)
    error: ImageError | None = None

    @property
    def still(self) -> bool:
        return self.file is not None


class FrameSource:
    live = False
    description = ""

    def read(self) -> Frame | None:
        """The next frame, or None at the end of a file. Raises SourceLost when it fails."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class CaptureSource(FrameSource):
    """cv2.VideoCapture over a device, a stream URL or a video file."""

    def __init__(self, capture: cv2.VideoCapture, *, live: bool, description: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._capture = capture
        self.live = live
        self.description = description
        self._clock = clock
        self._index = 0
        fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
        self._fps = fps if 1.0 <= fps <= 1000.0 else 30.0

    def read(self) -> Frame | None:
        ok, image = self._capture.read()
        if not ok or image is None:
            if self.live:
                raise SourceLost(self.description)
            return None
        index = self._index
        self._index += 1
        t_s = self._clock() if self.live else index / self._fps
        return Frame(index, image, t_s)

    def close(self) -> None:
        self._capture.release()


class StillsSource(FrameSource):
    """Image files, one frame each: a folder (in name order) or a single image. With `done`,
    files already read (same name, size and modification time) are skipped, which makes a
    watched folder report each new image once."""

    def __init__(self, folder: Path | None, files: list[Path], *, done: set | None = None,
                 description: str = "") -> None:
        self._folder = folder
        self._files = files
        self._done = done
        self._position = 0
        self.description = description

    def read(self) -> Frame | None:
        while self._position < len(self._files):
            path = self._files[self._position]
            index = self._position
            self._position += 1
            try:
                stat = path.stat()
                key = (path.name, stat.st_size, stat.st_mtime_ns)
                if self._done is not None and key in self._done:
                    continue
                data = path.read_bytes()
            except FileNotFoundError:
                if self._folder is not None and not self._folder.is_dir():
                    raise SourceLost(self.description) from None
                continue  # one file removed while we were listing: not a lost source
            except OSError as exc:
                if self._folder is not None and not self._folder.is_dir():
                    raise SourceLost(self.description) from None
                raise SourceLost(f"{self.description}: {type(exc).__name__}") from None
            if self._done is not None:
                self._done.add(key)
            try:
                image = load_image_bytes(data)
            except ImageError as exc:
                return Frame(index, None, float(index), file=path.name, error=exc)
            return Frame(index, image, float(index), file=path.name)
        return None


def _natural_key(path: Path) -> list:
    return [int(part) if part.isdigit() else part.lower()
            for part in re.split(r"(\d+)", path.name)]


def _list_images(folder: Path) -> list[Path]:
    return sorted(
        (p for p in folder.iterdir()
         if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()),
        key=_natural_key,
    )


def _configure_camera(capture: cv2.VideoCapture) -> None:
    # Many USB webcams give 720p at 30 fps only as MJPEG (raw YUYV drops to ~10 fps).
    capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
    capture.set(cv2.CAP_PROP_FRAME_WIDTH, CAPTURE_WIDTH)
    capture.set(cv2.CAP_PROP_FRAME_HEIGHT, CAPTURE_HEIGHT)
    capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the freshest frame, not a queue of stale ones


def _open_device(index: int) -> cv2.VideoCapture | None:
    backend = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
    capture = cv2.VideoCapture(index, backend)
    if not capture.isOpened():
        capture.release()
        return None
    _configure_camera(capture)
    ok, _ = capture.read()  # metadata nodes of a webcam open fine but never deliver a frame
    if not ok:
        capture.release()
        return None
    return capture


def camera_indexes() -> list[int]:
    """Candidate device indexes, in order: /dev/video* on Linux, else the first few."""
    if sys.platform.startswith("linux"):
        found = []
        for node in glob.glob("/dev/video*"):
            suffix = node[len("/dev/video"):]
            if suffix.isdigit():
                found.append(int(suffix))
        return sorted(found)
    return [0, 1, 2, 3]


def open_source(source: str | int | SourceSpec, *, done: set | None = None) -> FrameSource:
    """The one place a frame source is opened. Raises SourceUnavailable when it is not there
    (try again later) and SourceError when it is there but unusable."""
    spec = source if isinstance(source, SourceSpec) else parse_source(source)
    if spec.kind == "none":
        raise SourceError("camera disabled")
    if spec.kind == "auto":
        for index in camera_indexes():
            capture = _open_device(index)
            if capture is not None:
                logger.info("camera: using device %d", index)
                return CaptureSource(capture, live=True, description=f"camera {index}")
        raise SourceUnavailable("no camera found")
    if spec.kind == "device":
        capture = _open_device(int(spec.value))
        if capture is None:
            raise SourceUnavailable(f"camera {spec.value} not found")
        return CaptureSource(capture, live=True, description=spec.describe())
    if spec.kind == "url":
        capture = cv2.VideoCapture(
            str(spec.value), cv2.CAP_FFMPEG,
            [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_TIMEOUT_MS,
             cv2.CAP_PROP_READ_TIMEOUT_MSEC, STREAM_TIMEOUT_MS],
        )
        if not capture.isOpened():
            capture.release()
            raise SourceUnavailable(f"stream {spec.describe()} not reachable")
        return CaptureSource(capture, live=True, description=spec.describe())
    path = Path(str(spec.value))
    if spec.kind == "folder":
        if not path.is_dir():
            raise SourceUnavailable(f"folder {spec.describe()} not found")
        try:
            files = _list_images(path)
        except OSError:
            raise SourceUnavailable(f"folder {spec.describe()} not readable") from None
        return StillsSource(path, files, done=done, description=spec.describe())
    if not path.is_file():
        raise SourceUnavailable(f"file {spec.describe()} not found")
    if spec.kind == "image":
        return StillsSource(None, [path], done=done, description=spec.describe())
    if done is not None:
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if key in done:
            return StillsSource(None, [], description=spec.describe())  # played already
        done.add(key)
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not capture.isOpened():
        capture.release()
        raise SourceError(f"{spec.describe()} is not a video or image")
    return CaptureSource(capture, live=False, description=spec.describe())


class Deduplicator:
    """Reports a text when it was not seen in the last `window_s` seconds (by the stream's own
    time, so a video file gives the same answer however fast it is decoded)."""

    def __init__(self, window_s: float = DEDUPE_WINDOW_S) -> None:
        self.window_s = window_s
        self._last_seen: dict[str, float] = {}
        self._latest = float("-inf")

    def is_new(self, text: str, now_s: float) -> bool:
        if now_s < self._latest:  # time went backwards: a new stream, a new start
            self._last_seen.clear()
        self._latest = now_s
        if len(self._last_seen) > 64:
            self._last_seen = {t: s for t, s in self._last_seen.items()
                               if now_s - s <= self.window_s}
        last = self._last_seen.get(text)
        self._last_seen[text] = now_s
        return last is None or now_s - last > self.window_s


@dataclass(frozen=True)
class ScanEvent:
    """One newly presented code, as the check-in side consumes it."""

    code: ScannedCode
    corners: tuple[tuple[int, int], ...]
    seen_at: datetime
    frame: int | None = None   # frame number (cameras, streams, video files)
    file: str | None = None    # file name (images)

    @property
    def kind(self) -> str:
        return self.code.kind

    @property
    def text(self) -> str:
        return self.code.text


@dataclass(frozen=True)
class CameraStatus:
    state: str
    detail: str = ""
    source: str = ""
    since: datetime | None = None
    frames: int = 0
    codes: int = 0

    def __str__(self) -> str:
        return f"{ERROR}: {self.detail}" if self.state == ERROR else self.state

    @property
    def message(self):
        """A lazy, translatable sentence for the kiosk screen."""
        return STATUS_MESSAGES[self.state]


STATUS_MESSAGES = {
    OFF: _l("The camera is off."),
    ABSENT: _l("No camera found. Use the browser camera or enter details by hand."),
    OK: _l("Camera ready. Show your QR code."),
    RECONNECTING: _l("The camera was disconnected. Reconnecting…"),
    ERROR: _l("The camera is not working. Please tell reception."),
}


_END = object()


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class CameraWorker:
    """The kiosk's camera: a capture thread feeding a decode thread.

    Live sources (cameras, streams) go through a one-frame queue where the latest frame wins, so
    the decoder never works on stale frames; files go through a bounded lossless queue so every
    frame is decoded (deterministic tests and `scan`). With `reopen` (the kiosk), a lost source
    is reopened with exponential backoff, and a folder or file is watched for new content; without
    it (`scan`), the worker ends with its source.

    Decoded codes are delivered to listeners (add_listener / subscribe) in the decode thread.
    """

    name = "camera"

    def __init__(
        self,
        source: str | int | SourceSpec,
        *,
        decoder: Decoder | str = "zxing",
        reopen: bool = True,
        dedupe_window_s: float = DEDUPE_WINDOW_S,
        backoff_initial_s: float = BACKOFF_INITIAL_S,
        backoff_max_s: float = BACKOFF_MAX_S,
        poll_s: float = POLL_S,
        utcnow: Callable[[], datetime] = _utcnow,
        opener: Callable[..., FrameSource] = open_source,
    ) -> None:
        self.spec = source if isinstance(source, SourceSpec) else parse_source(source)
        if isinstance(decoder, str) and decoder.strip().lower() not in DECODER_NAMES:
            raise ValueError(f"unknown decoder {decoder!r}: use one of {', '.join(DECODER_NAMES)}")
        self._decoder = decoder  # a name is turned into a backend at start (see start())
        self._reopen = reopen
        self._dedupe = Deduplicator(dedupe_window_s)
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._poll_s = poll_s
        self._utcnow = utcnow
        self._opener = opener
        self._listeners: list[Callable[[ScanEvent], None]] = []
        self._skip_listeners: list[Callable[[Frame], None]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._frames: queue.Queue = queue.Queue(maxsize=1 if self.spec.live else FILE_QUEUE_FRAMES)
        self._frame_count = 0
        self._code_count = 0
        self._done: set = set()
        self._status = CameraStatus(OFF, source=self.spec.describe(), since=utcnow())
        self._preview = threading.Condition()
        self._preview_seq = 0
        self._preview_frame: tuple[np.ndarray, tuple[Detection, ...]] | None = None
        self._preview_jpeg: tuple[int, bytes] | None = None

    # --- consumers ---------------------------------------------------------------------------

    def add_listener(self, callback: Callable[[ScanEvent], None]) -> None:
        """Call `callback(event)` for each newly presented code (in the decode thread: keep it
        short, or hand the event to your own thread; see subscribe)."""
        with self._lock:
            self._listeners.append(callback)

    def subscribe(self, maxsize: int = 64) -> queue.Queue:
        """A queue that receives every ScanEvent. When the consumer falls behind, the oldest
        events are dropped (a visitor who waited that long has already scanned again)."""
        events: queue.Queue = queue.Queue(maxsize=maxsize)

        def put(event: ScanEvent) -> None:
            while True:
                try:
                    events.put_nowait(event)
                    return
                except queue.Full:
                    try:
                        events.get_nowait()
                        logger.warning("camera: scan queue full, dropped the oldest event")
                    except queue.Empty:
                        pass

        self.add_listener(put)
        return events

    def add_skip_listener(self, callback: Callable[[Frame], None]) -> None:
        """Called with each still image that could not be read (frame.error says why)."""
        with self._lock:
            self._skip_listeners.append(callback)

    # --- lifecycle (core.workers.Worker) -----------------------------------------------------

    def start(self) -> None:
        if self._threads:
            raise RuntimeError("camera worker already started")
        if self.spec.kind == "none":
            self._set_status(OFF, "disabled")
            return
        if isinstance(self._decoder, str):
            try:
                self._decoder = make_decoder(self._decoder)
            except DecoderUnavailable as exc:  # e.g. libzbar0 missing: say so, keep the kiosk up
                self._set_status(ERROR, str(exc))
                return
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # we report status
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._capture_loop, name="camera-capture", daemon=True),
            threading.Thread(target=self._decode_loop, name="camera-decode", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            logger.warning("camera: %s still running after %.1f s", ", ".join(alive), timeout)
        self._set_status(OFF, "stopped")
        with self._preview:
            self._preview.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the worker has finished its source (only a worker without `reopen`
        finishes by itself); True when it has."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    def status(self) -> str:
        return str(self._status)

    def status_info(self) -> CameraStatus:
        return replace(self._status, frames=self._frame_count, codes=self._code_count)

    # --- preview ----------------------------------------------------------------------------

    def preview_jpeg(self, after: int = 0, timeout: float = 1.0) -> tuple[int, bytes] | None:
        """The latest decoded frame as a JPEG with found codes outlined, once there is one newer
        than `after` (a sequence number this returns); None on timeout or when stopped.
        Rendered on demand, once per frame, however many screens are watching."""
        with self._preview:
            if not self._preview.wait_for(
                lambda: self._preview_seq > after or self._stop.is_set(), timeout
            ) or self._preview_seq <= after:
                return None
            seq, latest = self._preview_seq, self._preview_frame
            if self._preview_jpeg is not None and self._preview_jpeg[0] == seq:
                return self._preview_jpeg
        image, detections = latest
        rendered = (seq, render_preview(image, detections))
        with self._preview:
            if self._preview_seq == seq:
                self._preview_jpeg = rendered
        return rendered

    # --- the threads ----------------------------------------------------------------------

    def _set_status(self, state: str, detail: str = "") -> None:
        with self._lock:
            previous = self._status
            if previous.state == state and previous.detail == detail:
                return
            self._status = CameraStatus(state, detail, previous.source, self._utcnow(),
                                        self._frame_count, self._code_count)
        if state in (RECONNECTING, ERROR, ABSENT):
            logger.warning("camera %s: %s%s", previous.source, state,
                           f" ({detail})" if detail else "")
        else:
            logger.info("camera %s: %s%s", previous.source, state,
                        f" ({detail})" if detail else "")

    def _capture_loop(self) -> None:
        delay = self._backoff_initial_s
        been_ok = False
        try:
            while not self._stop.is_set():
                try:
                    source = self._opener(self.spec, done=self._done if self._reopen else None)
                except SourceUnavailable as exc:
                    self._set_status(RECONNECTING if been_ok else ABSENT, str(exc))
                    if not self._reopen:
                        return
                    self._stop.wait(delay)
                    delay = min(delay * 2, self._backoff_max_s)
                    continue
                except SourceError as exc:
                    self._set_status(ERROR, str(exc))
                    if not self._reopen:
                        return
                    self._stop.wait(self._backoff_max_s)
                    continue
                ended = False
                try:
                    if not source.live:  # a file or folder is "ok" once it is there
                        been_ok = True
                        self._set_status(OK)
                    while not self._stop.is_set():
                        frame = source.read()
                        if frame is None:
                            ended = True
                            break
                        if self._status.state != OK:  # a camera is "ok" once frames come
                            been_ok = True
                            self._set_status(OK)
                        delay = self._backoff_initial_s
                        self._frame_count += 1
                        self._hand_over(frame, live=source.live)
                except SourceLost as exc:
                    been_ok = True
                    self._set_status(RECONNECTING, f"lost {exc}")
                except Exception as exc:  # a driver fault must not kill the kiosk
                    logger.exception("camera %s: capture failed", self.spec.describe())
                    self._set_status(ERROR, type(exc).__name__)
                finally:
                    source.close()
                if self._stop.is_set():
                    return
                if not self._reopen:  # `scan`: the run ends with its source
                    if ended:
                        self._set_status(OFF, "finished")
                    return
                if ended:
                    self._stop.wait(self._poll_s)  # a watched folder or file: look again
                    continue
                self._stop.wait(delay)
                delay = min(delay * 2, self._backoff_max_s)
        finally:
            self._put_end()

    def _hand_over(self, frame: Frame, *, live: bool) -> None:
        if live:
            # Latest frame wins: a decoder that falls behind skips frames, never lags.
            while True:
                try:
                    self._frames.put_nowait(frame)
                    return
                except queue.Full:
                    try:
                        self._frames.get_nowait()
                    except queue.Empty:
                        pass
        # Files: wait for the decoder (lossless), but stay responsive to stop().
        while not self._stop.is_set():
            try:
                self._frames.put(frame, timeout=0.2)
                return
            except queue.Full:
                continue

    def _put_end(self) -> None:
        while True:
            try:
                self._frames.put_nowait(_END)
                return
            except queue.Full:
                try:
                    self._frames.get_nowait()
                except queue.Empty:
                    pass

    def _decode_loop(self) -> None:
        while True:
            try:
                frame = self._frames.get(timeout=0.2)
            except queue.Empty:
                if self._stop.is_set() and not self._threads[0].is_alive():
                    return
                continue
            if frame is _END:
                return
            try:
                self._decode_frame(frame)
            except Exception:  # one bad frame must not stop the camera
                logger.exception("camera: decoding a frame failed")

    def _decode_frame(self, frame: Frame) -> None:
        if frame.image is None:
            logger.warning("camera: skipped an unreadable image (%s)",
                           frame.error.code if frame.error else "unknown")
            for callback in list(self._skip_listeners):
                try:
                    callback(frame)
                except Exception:
                    logger.exception("camera: a skip listener failed")
            return
        detections = self._decoder.decode(to_gray(frame.image), thorough=frame.still)
        with self._preview:
            self._preview_seq += 1
            self._preview_frame = (frame.image, tuple(detections))
            self._preview.notify_all()
        for detection in detections:
            if not frame.still and not self._dedupe.is_new(detection.text, frame.t_s):
                continue
            try:
                code = parse_code(detection.text)
            except Exception:  # a parser bug: report the code as unrecognised, keep going
                logger.exception("camera: a code parser failed")
                code = ScannedCode("unknown", detection.text)
            event = ScanEvent(
                code=code,
                corners=detection.corners,
                seen_at=self._utcnow(),
                frame=None if frame.still else frame.index,
                file=frame.file,
            )
            self._code_count += 1
            logger.info("camera: %s code read (%d so far)", code.kind, self._code_count)
            for callback in list(self._listeners):
                try:
                    callback(event)
                except Exception:
                    logger.exception("camera: a scan listener failed")
