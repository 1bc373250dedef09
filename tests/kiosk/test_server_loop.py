"""The kiosk server runs on the event loop it was tested on (asyncio's), whatever else is
installed: granian's default would take rloop or uvloop whenever either can be imported."""
from __future__ import annotations

import asyncio
import urllib.request

from flask import Flask
from granian._loops import loops

from kiosk.server import serve_while


def test_the_server_keeps_asyncio_s_loop_when_another_is_installed(monkeypatch):
    built = []

    def stand_in_rloop():  # what an installed rloop would be to granian
        built.append("rloop")
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        return loop

    monkeypatch.setitem(loops._data, "rloop", (stand_in_rloop, {}))
    app = Flask(__name__)
    app.add_url_rule("/ping", "ping", lambda: "pong")

    def ask(port):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=10) as answer:
            return answer.status, answer.read()

    assert serve_while(app, ask) == (200, b"pong")
    assert built == []
