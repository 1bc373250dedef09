"""A TCP proxy for the link between a kiosk and the central server, which a test can cut
(silently: packets vanish, no RST, as when a 4G link drops), restore, or hold (requests go
through, answers are kept back: the central server has stored a batch the kiosk never hears
about)."""
from __future__ import annotations

import socket
import threading

UP, DOWN, HOLD = "up", "down", "hold"


class LinkProxy:
    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1"):
        self.upstream = (upstream_host, upstream_port)
        self.mode = UP
        self.requests = 0  # chunks sent upstream (a request under way)
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name="proxy", daemon=True).start()

    def cut(self) -> None:
        self.mode = DOWN

    def hold(self) -> None:
        self.mode = HOLD

    def restore(self) -> None:
        self.mode = UP

    def _accept(self) -> None:
        self._listener.settimeout(0.2)
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                continue
            with self._lock:
                self._sockets.append(client)
            if self.mode == DOWN:
                continue  # accepted by "the network", never answered: a silent link
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.append(server)
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False),
                             daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, upstream: bool) -> None:
        source.settimeout(0.2)
        held = []
        while not self._closed.is_set():
            try:
                data = source.recv(65536)
            except socket.timeout:
                if not upstream and self.mode == UP and held:
                    data = b""
                else:
                    continue
            except OSError:
                break
            if not data and not held:
                break
            if self.mode == DOWN:
                continue  # swallowed: neither side hears anything more
            if not upstream and self.mode == HOLD:
                held.append(data)
                continue
            try:
                if held:
                    target.sendall(b"".join(held))
                    held = []
                if data:
                    target.sendall(data)
                    if upstream:
                        self.requests += 1
                else:
                    break
            except OSError:
                break
        for s in (source, target):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            for s in self._sockets:
                try:
                    s.close()
                except OSError:
                    pass
        self._listener.close()
