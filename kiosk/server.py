"""The kiosk's HTTP server: granian parses HTTP in Rust, in this very process; the app runs on a
pool of Python threads once a request has arrived whole.

The kiosk is one process (DESIGN.md, process model): its camera and BLE threads, its event bus
and its caches live beside the web server. waitress, the server it had, parsed HTTP and moved
every request between its threads in Python: for a small JSON POST that was most of the request's
cost (bench/, README Benchmarks). Here granian does the sockets and the parsing on a Rust thread
and hands each request to an asyncio loop (RSGI), which

- reads the body whole, within BODY_TIMEOUT_S and MAX_CONTENT_LENGTH, holding no thread while
  the client sends it (a client that sends a head and then a trickle, or nothing, ties up no
  thread the door needs: the WSGI interface of granian would call the app at once and leave a
  thread blocked on each such body);
- calls the Flask app on one of `threads` threads (the ordinary requests' plus the streams', as
  before), with a WSGI environ built here from what granian parsed;
- sends an answer of known length in one piece, and anything else (the event stream, the camera
  preview, an export file) chunk by chunk as the app yields it; when the client has gone, the
  app's iterator is closed (a stream gives its slot back).

granian runs its workers as threads only on free-threaded Python, because several workers as
threads of one interpreter gain nothing under the GIL. The kiosk runs exactly one worker, so
that concern does not arise: `_OneWorkerThread` lifts the check for one worker, nothing else.
The granian version is pinned in requirements.txt; tests/hardening/test_server_abuse.py tries
what an attacker would against the real `kiosk run`."""
from __future__ import annotations

import asyncio
import io
import json
import logging
import signal
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from granian.constants import HTTPModes, Interfaces, Loops
from granian.http import HTTP1Settings
from granian.log import LogLevels
from granian.rsgi import ProtocolClosed, ProtocolError
from granian.server.mt import MTServer

logger = logging.getLogger(__name__)

# granian's own messages go through the kiosk's logging (its default writes to stdout).
_LOGGING = {"loggers": {"_granian": {"handlers": [], "propagate": True},
                        "granian.access": {"handlers": [], "propagate": False}}}
# A client has this long to send a request's head once connected (granian's default: 30 s)...
HEADER_READ_TIMEOUT_MS = 10_000
# ...and this long to send its body (a phone on a weak signal posting a photo of a card).
BODY_TIMEOUT_S = 30.0
# Bodies over SMALL_BODY_BYTES being received at once may hold this much memory together; past
# it such a request is refused (503) instead of read (each body is also capped by
# MAX_CONTENT_LENGTH).
BODY_BUDGET_BYTES = 64 * 1024 * 1024
# A body of at most this many bytes (every JSON request) is read in one piece.
SMALL_BODY_BYTES = 64 * 1024
# An answer with a Content-Length up to this is sent in one piece; a longer one, or one without
# a length (a stream), chunk by chunk.
WHOLE_ANSWER_BYTES = 1024 * 1024
# Connections granian serves at once (the rest wait in the kernel's queue); a connection that
# has not sent its head within HEADER_READ_TIMEOUT_MS is closed. deploy/khaibao-kiosk.service
# allows the process the file descriptors for them.
BACKPRESSURE = 1024
_END = object()
_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _OneWorkerThread(MTServer):
    """granian's thread-worker server, allowed under the GIL: it runs one worker here."""

    def _check_gil(self):
        if self.workers != 1:  # several worker threads under the GIL: refuse, as granian does
            super()._check_gil()


def _problem(status: int, code: str, vi: str, en: str, retry_after: int | None = None):
    """An answer of the server's own, in the app's error shape (core/errors.py); `message` in
    the kiosk's first language, as the app has not seen the request."""
    body = json.dumps({"code": code, "message": vi, "message_vi": vi, "message_en": en,
                       "errors": {}}, ensure_ascii=False).encode()
    headers = [("content-type", "application/json"), ("connection", "close")]
    if retry_after is not None:
        headers.append(("retry-after", str(retry_after)))
    return status, headers, body


_SLOW_BODY = _problem(408, "request_timeout", "Gửi yêu cầu quá lâu. Vui lòng thử lại.",
                      "The request took too long to arrive. Please try again.")
_TOO_LARGE = _problem(413, "request_entity_too_large", "Nội dung gửi lên quá lớn.",
                      "The request body is too large.")
_BUSY = _problem(503, "busy", "Máy chủ đang bận. Vui lòng thử lại sau giây lát.",
                 "The server is busy. Please try again in a moment.", retry_after=2)
_SERVER_ERROR = _problem(500, "internal_error", "Máy chủ gặp lỗi. Vui lòng thử lại.",
                         "The server failed. Please try again.")


class _TooLarge(Exception):
    pass


class _Busy(Exception):
    pass


class WSGIBridge:
    """The RSGI application granian calls: each request to the WSGI `app` on `threads` threads,
    once its body has arrived."""

    def __init__(self, app, *, threads: int, max_body: int | None,
                 body_timeout_s: float = BODY_TIMEOUT_S, body_budget: int = BODY_BUDGET_BYTES):
        self.app = app
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="http")
        self.max_body = max_body
        self.body_timeout_s = body_timeout_s
        self.body_budget = body_budget
        self.buffered = 0  # bytes of bodies being received (touched by the loop's thread only)

    async def __rsgi__(self, scope, protocol):
        if scope.proto != "http":
            return
        try:
            body = await self._body(scope, protocol)
        except _TooLarge:
            protocol.response_bytes(*_TOO_LARGE)
            return
        except _Busy:
            protocol.response_bytes(*_BUSY)
            return
        except TimeoutError:
            protocol.response_bytes(*_SLOW_BODY)
            return
        except (ProtocolClosed, ProtocolError, OSError):
            return  # the client left while sending
        loop = asyncio.get_running_loop()
        status, headers, chunks, rest = await loop.run_in_executor(
            self.pool, self._call, _environ(scope, body))
        if rest is None:
            protocol.response_bytes(status, headers, b"".join(chunks))
            return
        await self._stream(loop, protocol, status, headers, chunks, rest)

    async def _body(self, scope, protocol) -> bytes:
        headers = scope.headers
        if "content-length" not in headers and "transfer-encoding" not in headers:
            return b""
        declared = headers.get("content-length")
        expected = int(declared) if declared is not None and declared.isdigit() else None
        if expected is not None and self.max_body is not None and expected > self.max_body:
            raise _TooLarge
        async with asyncio.timeout(self.body_timeout_s):
            if expected is not None and expected <= SMALL_BODY_BYTES:
                # A declaration, a check-in: read whole, outside the budget, so large uploads
                # never crowd out the door's own requests (at most BACKPRESSURE at once).
                return await protocol()
            return await self._large_body(protocol)

    async def _large_body(self, protocol) -> bytes:
        """Any other body (a photo, a chunked upload): counted against the budget as it
        arrives, so a client that only announces a large body holds nothing."""
        received = bytearray()
        try:
            async for chunk in protocol:
                if self.buffered + len(chunk) > self.body_budget:
                    raise _Busy
                received += chunk
                self.buffered += len(chunk)
                if self.max_body is not None and len(received) > self.max_body:
                    raise _TooLarge
            return bytes(received)
        finally:
            self.buffered -= len(received)

    def _call(self, environ):
        """On a pool thread: run the app; its whole answer when short, else what it wrote so far
        and the iterable to stream."""
        started = {}
        written: list[bytes] = []

        def start_response(status, headers, exc_info=None):
            if exc_info is not None and "status" in started:
                raise exc_info[1].with_traceback(exc_info[2])
            started["status"] = int(status.split(" ", 1)[0])
            started["headers"] = list(headers)
            return written.append

        result = None
        try:
            result = self.app(environ, start_response)
            headers = started["headers"]
            length = next((value for name, value in headers
                           if name.lower() == "content-length"), None)
            if environ["REQUEST_METHOD"] == "HEAD" or (
                    length is not None and length.isdigit()
                    and int(length) <= WHOLE_ANSWER_BYTES):
                try:
                    chunks = written + [chunk for chunk in result if chunk]
                finally:
                    _close(result)
                return started["status"], headers, chunks, None
            return started["status"], headers, written, result
        except Exception:  # Flask answers its own errors: this is the server's last resort
            logger.exception("the app failed outside its error handlers")
            if result is not None:
                _close(result)
            return (*_SERVER_ERROR[:2], [_SERVER_ERROR[2]], None)

    async def _stream(self, loop, protocol, status, headers, chunks, rest):
        transport = protocol.response_stream(status, headers)
        try:
            iterator = iter(rest)
            for chunk in chunks:
                await transport.send_bytes(chunk)
            while True:
                chunk = await loop.run_in_executor(self.pool, next, iterator, _END)
                if chunk is _END:
                    break
                if chunk:
                    await transport.send_bytes(chunk)
        except (ProtocolClosed, ProtocolError, OSError):
            pass  # the client has gone (a screen reloaded): closing below gives back its slot
        except Exception:
            logger.exception("a streamed answer failed")
        finally:
            await loop.run_in_executor(self.pool, _close, rest)


def _close(result) -> None:
    close = getattr(result, "close", None)
    if close is not None:
        close()


def _environ(scope, body: bytes) -> dict:
    host, _, port = scope.server.rpartition(":")
    client, _, client_port = scope.client.rpartition(":")
    environ = {
        "REQUEST_METHOD": scope.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": scope.path.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope.query_string,
        "SERVER_NAME": host.strip("[]") or "localhost",
        "SERVER_PORT": port or "80",
        "SERVER_PROTOCOL": f"HTTP/{scope.http_version}",
        "REMOTE_ADDR": client.strip("[]"),
        "REMOTE_PORT": client_port,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if body or "content-length" in scope.headers or "transfer-encoding" in scope.headers:
        environ["CONTENT_LENGTH"] = str(len(body))
    for name, value in scope.headers.items():
        name = name.lower()
        if "_" in name:
            # X_Forwarded_For would become HTTP_X_FORWARDED_FOR, the proxy's own header: such
            # names are dropped, as waitress, nginx and Apache drop them.
            continue
        if name == "content-type":
            environ["CONTENT_TYPE"] = value
            continue
        if name in ("content-length", "transfer-encoding"):
            continue  # the body arrived whole: its length is above
        key = "HTTP_" + name.upper().replace("-", "_")
        if key in environ:  # a header sent twice: one value, as RFC 9110 joins them
            value = f"{environ[key]}{'; ' if key == 'HTTP_COOKIE' else ','}{value}"
        environ[key] = value
    return environ


def create_server(app, *, host: str, port: int, threads: int) -> tuple[_OneWorkerThread,
                                                                        WSGIBridge]:
    """A server for the WSGI `app` on host:port, calling it on up to `threads` threads. `serve`
    runs it in the calling (main) thread until SIGINT or SIGTERM."""
    bridge = WSGIBridge(app, threads=threads, max_body=getattr(app, "config", {}).get(
        "MAX_CONTENT_LENGTH"))
    server = _OneWorkerThread(
        "kiosk", address=host, port=port, interface=Interfaces.RSGI, workers=1,
        # The standard loop, named: granian's default ("auto") would take rloop or uvloop
        # whenever either happens to be installed, untested here and faster by nothing measured.
        loop=Loops.asyncio,
        http=HTTPModes.http1, websockets=False, backpressure=BACKPRESSURE,
        http1_settings=HTTP1Settings(header_read_timeout=HEADER_READ_TIMEOUT_MS),
        log_level=LogLevels.error, log_dictconfig=_LOGGING, log_access=False,
    )
    return server, bridge


def serve(server: _OneWorkerThread, bridge: WSGIBridge) -> None:
    """Serve until SIGINT or SIGTERM, or until `stop` (granian's handlers while it serves; the
    ones before are put back after). Call from the main thread."""
    before = {number: signal.getsignal(number) for number in _SIGNALS}
    try:
        server.serve(target_loader=lambda: bridge, wrap_loader=False)
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)
        bridge.pool.shutdown(wait=False, cancel_futures=True)


def stop(server: _OneWorkerThread) -> None:
    """End `serve` from any thread, as SIGTERM would."""
    server.signal_handler_interrupt()


def serve_while(app, work, *, threads: int = 4, host: str = "127.0.0.1"):
    """Serve `app` as `kiosk run` does on a free port while `work(port)` runs on another thread;
    return what it returned (or raise what it raised). For a benchmark or test that needs the
    real server beside objects of its own process (a simulated camera, a database session).
    Call from the main thread."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        port = probe.getsockname()[1]
    server, bridge = create_server(app, host=host, port=port, threads=threads)
    outcome: dict = {}

    def run():
        try:
            _wait_for_port(host, port)
            outcome["value"] = work(port)
        except BaseException as exc:  # handed to the caller below
            outcome["error"] = exc
        finally:
            stop(server)

    worker = threading.Thread(target=run, name="serve-while", daemon=True)
    worker.start()
    serve(server, bridge)
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _wait_for_port(host: str, port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)
