"""The kiosk's HTTP client for the central server: JSON over HTTP(S) with a connect timeout and a
read timeout on every call, so a dead or silent link is noticed in seconds and never holds up
anything but the sync worker."""
from __future__ import annotations

import http.client
import json
import socket
import ssl
from urllib.parse import urlsplit

# Connect: a reachable server answers a SYN within a second or two even over 3G.
CONNECT_TIMEOUT_S = 5.0
# Read: the central server stores a batch in well under a second; longer means a silent link.
READ_TIMEOUT_S = 20.0


class Unreachable(Exception):
    """The central server could not be reached or did not answer in time (nothing was lost)."""


class Refused(Exception):
    """The central server answered with an error (revoked credential, refused batch)."""

    def __init__(self, status: int, code: str):
        super().__init__(f"{status} {code}")
        self.status = status
        self.code = code


class CentralClient:
    def __init__(self, base_url: str, token: str, *, connect_timeout_s: float = CONNECT_TIMEOUT_S,
                 read_timeout_s: float = READ_TIMEOUT_S):
        parts = urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("KIOSK_CENTRAL_URL must be an http:// or https:// address")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path
        self.token = token
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s

    def _connection(self) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port,
                                               timeout=self.connect_timeout_s,
                                               context=ssl.create_default_context())
        return http.client.HTTPConnection(self.host, self.port, timeout=self.connect_timeout_s)

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        connection = self._connection()
        try:
            try:
                connection.connect()  # bounded by the connect timeout
            except (OSError, socket.timeout) as exc:
                raise Unreachable(type(exc).__name__) from None
            connection.sock.settimeout(self.read_timeout_s)  # each read (and send) from now on
            payload = json.dumps(body, separators=(",", ":")).encode() if body is not None \
                else None
            headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
            if payload is not None:
                headers["Content-Type"] = "application/json"
            try:
                connection.request(method, self.prefix + path, body=payload, headers=headers)
                response = connection.getresponse()
                data = response.read()
            except (OSError, socket.timeout, http.client.HTTPException) as exc:
                raise Unreachable(type(exc).__name__) from None
        finally:
            connection.close()
        try:
            answer = json.loads(data) if data else {}
        except ValueError:
            answer = {}
        if response.status >= 500 and response.status != 503:
            raise Unreachable(f"status {response.status}")
        if response.status == 503:
            raise Unreachable("unavailable")
        if response.status >= 400:
            raise Refused(response.status, str(answer.get("code", "error"))[:40])
        return answer if isinstance(answer, dict) else {}
