"""The kiosk's HTTP server (kiosk/server.py) against clients that try things, on the real
`flask kiosk run` at its shipped defaults: a body sent as a trickle or never finished, a head that
never ends, a body announced or sent larger than the cap, uploads that try to fill the memory.
Whatever they do, the door (/healthz, the phone form, a declaration, a check-in) answers."""
from __future__ import annotations

import json
import socket
import time

import pytest

from kiosk import server as kiosk_server
from tests.hardening.test_streams import ANSWER_S, _ordinary_requests_answer, server  # noqa: F401


def _pid_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def _connect(running) -> socket.socket:
    return socket.create_connection(("127.0.0.1", running.port), timeout=ANSWER_S)


def _answer(sock: socket.socket, timeout: float) -> bytes:
    """What the server sent before closing or within `timeout` seconds."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), None)
            if length is not None and len(body) >= length:
                break
    except (TimeoutError, ConnectionResetError):
        pass
    return data


def _bilingual(answer: bytes, status: int) -> dict:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ", 2)[1] == str(status).encode(), answer[:200]
    message = json.loads(body)
    assert set(message) == {"code", "message", "message_vi", "message_en", "errors"}
    assert message["message"] == message["message_vi"]
    assert message["message_vi"] and message["message_en"]
    assert message["message_vi"] != message["message_en"]
    return message


def _post_head(length: int | None, path: str = "/api/v1/declarations",
               content_type: str = "application/json") -> bytes:
    framing = (f"Content-Length: {length}" if length is not None
               else "Transfer-Encoding: chunked")
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
            f"{framing}\r\n\r\n").encode()


def test_the_shipped_limits():
    """The figures the tests below hold the server to (each test fails if its guard is
    loosened)."""
    assert kiosk_server.BODY_TIMEOUT_S == 30.0
    assert kiosk_server.HEADER_READ_TIMEOUT_MS == 10_000
    assert kiosk_server.BODY_BUDGET_BYTES == 64 * 1024 * 1024


def test_bodies_sent_as_a_trickle_hold_no_thread_the_door_needs(server):  # noqa: F811
    """More unfinished bodies than the server has threads (8 + 8): the door answers meanwhile,
    and each slow client is told 408 once BODY_TIMEOUT_S has passed."""
    slow = []
    try:
        for _ in range(40):
            sock = _connect(server)
            sock.sendall(_post_head(1000) + b'{"venue_code": "HQ", "full_na')
            slow.append(sock)
        started = time.monotonic()
        _ordinary_requests_answer(server, 1)
        assert time.monotonic() - started < ANSWER_S
        # Still sending a byte now and then does not buy more time.
        for sock in slow[:5]:
            sock.sendall(b"m")
        answers = [_answer(sock, kiosk_server.BODY_TIMEOUT_S + 15) for sock in slow]
        waited = time.monotonic() - started
    finally:
        for sock in slow:
            sock.close()
    for answer in answers:
        assert _bilingual(answer, 408)["code"] == "request_timeout"
    assert waited < kiosk_server.BODY_TIMEOUT_S + 15
    _ordinary_requests_answer(server, 2)


def test_heads_that_never_end_are_cut_off(server):  # noqa: F811
    """300 connections that send half a request line and nothing more: the door answers at
    once, and the server closes them all once HEADER_READ_TIMEOUT_MS has passed."""
    silent = []
    try:
        for _ in range(300):
            sock = _connect(server)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 12")
            silent.append(sock)
        started = time.monotonic()
        _ordinary_requests_answer(server, 3)
        assert time.monotonic() - started < ANSWER_S
        deadline = started + kiosk_server.HEADER_READ_TIMEOUT_MS / 1000 + 5
        closed = 0
        for sock in silent:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = sock.recv(4096)
            except TimeoutError:
                continue
            except ConnectionResetError:
                data = b""
            if data == b"" or data.startswith(b"HTTP/1.1 408"):
                closed += 1
    finally:
        for sock in silent:
            sock.close()
    assert closed == 300


def test_a_body_announced_over_the_cap_is_refused_unread(server):  # noqa: F811
    pid = server.process.pid
    before = _pid_rss_mb(pid)
    sock = _connect(server)
    try:
        sock.sendall(_post_head(200 * 1024 * 1024))
        answer = _answer(sock, ANSWER_S)
        # Nothing of the 200 MB was waited for: the answer came before any of it was sent.
        assert _bilingual(answer, 413)["code"] == "request_entity_too_large"
    finally:
        sock.close()
    assert _pid_rss_mb(pid) - before < 20


def test_a_chunked_body_over_the_cap_is_refused_once_it_passes_it(server):  # noqa: F811
    pid = server.process.pid
    before = _pid_rss_mb(pid)
    sock = _connect(server)
    chunk = b"x" * 65536
    sent = 0
    answer = b""
    try:
        sock.sendall(_post_head(None))
        sock.settimeout(0.05)
        while sent < 64 * 1024 * 1024:
            try:
                sock.sendall(b"10000\r\n" + chunk + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
            try:
                answer = sock.recv(65536)
                break
            except TimeoutError:
                continue
        answer += _answer(sock, ANSWER_S)
    finally:
        sock.close()
    assert _bilingual(answer, 413)["code"] == "request_entity_too_large"
    # Refused soon after the cap (8 MiB), not after all 64 MiB arrived.
    assert sent < 16 * 1024 * 1024
    assert _pid_rss_mb(pid) - before < 40


def test_large_uploads_cannot_fill_the_memory_or_crowd_out_the_door(server):  # noqa: F811
    """Nine uploads of almost 8 MB each, none finished: they may hold BODY_BUDGET_BYTES (64 MB)
    together, so one is refused with 503 and Retry-After; the door's own small requests are read
    regardless."""
    part = b"x" * (8_000_000 - 1)
    uploads = []
    try:
        for _ in range(9):
            sock = _connect(server)
            sock.sendall(_post_head(8_000_000, content_type="application/octet-stream"))
            uploads.append(sock)
        refused = []
        for sock in uploads:
            try:
                sock.sendall(part)
            except (BrokenPipeError, ConnectionResetError):
                pass
        for sock in uploads:
            answer = _answer(sock, 2.0)
            if answer:
                refused.append(answer)
        assert len(refused) >= 1
        for answer in refused:
            assert _bilingual(answer, 503)["code"] == "busy"
            assert b"retry-after: " in answer.lower()
        _ordinary_requests_answer(server, 4)
    finally:
        for sock in uploads:
            sock.close()


@pytest.mark.parametrize("name", ["X_Forwarded_For", "Content_Length", "Host_"])
def test_a_header_name_with_an_underscore_never_reaches_the_app(name):
    """X_Forwarded_For would become HTTP_X_FORWARDED_FOR in the environ, the same key as a
    proxy's X-Forwarded-For: dropped."""
    environ = kiosk_server._environ(_Scope({name: "203.0.113.9", "x-forwarded-for": "10.0.0.1"}),
                                    b"")
    assert environ["HTTP_X_FORWARDED_FOR"] == "10.0.0.1"
    assert not any("203.0.113.9" in str(value) for value in environ.values())


def test_the_environ_the_app_sees():
    scope = _Scope([("host", "kiosk.test"), ("cookie", "a=1"), ("cookie", "b=2"),
                    ("accept", "text/html"), ("accept", "*/*"),
                    ("content-type", "application/json"), ("transfer-encoding", "chunked")],
                   path="/v/Đ a", query="q=%C4%90+x", client="[2001:db8::7]:51000",
                   method="POST")
    environ = kiosk_server._environ(scope, b'{"a": 1}')
    assert environ["PATH_INFO"] == "/v/Đ a".encode().decode("latin-1")  # WSGI: bytes as latin-1
    assert environ["QUERY_STRING"] == "q=%C4%90+x"
    assert environ["REMOTE_ADDR"] == "2001:db8::7"
    assert environ["HTTP_COOKIE"] == "a=1; b=2"
    assert environ["HTTP_ACCEPT"] == "text/html,*/*"
    assert environ["CONTENT_TYPE"] == "application/json"
    assert environ["CONTENT_LENGTH"] == "8"  # the body arrived whole: chunking is over
    assert "HTTP_TRANSFER_ENCODING" not in environ
    assert environ["wsgi.input"].read() == b'{"a": 1}'
    assert environ["SERVER_NAME"] == "127.0.0.1" and environ["SERVER_PORT"] == "5000"


class _Headers:
    def __init__(self, items):
        self._items = list(items.items()) if isinstance(items, dict) else list(items)

    def items(self):
        return list(self._items)

    def get(self, key, default=None):
        return next((v for k, v in self._items if k == key), default)

    def __contains__(self, key):
        return any(k == key for k, _ in self._items)


class _Scope:
    """What granian hands the bridge for a request (granian.rsgi.Scope), for the environ's
    pure logic."""

    def __init__(self, headers, *, path="/", query="", client="127.0.0.1:40000",
                 method="GET"):
        self.proto, self.http_version, self.scheme = "http", "1.1", "http"
        self.method, self.path, self.query_string = method, path, query
        self.server, self.client = "127.0.0.1:5000", client
        self.headers = _Headers(headers)
