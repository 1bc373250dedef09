"""Issue 15 point 5: twenty concurrent declarations of one person make one visitor and one open
visit. Real threads against the app on a real threaded HTTP server, on the suite's database."""
from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request

import pytest
import sqlalchemy as sa

from tests.hardening.test_ids import BODY
from tests.hardening.test_takeover import VICTIM

CONCURRENT = 20


@pytest.fixture
def venue(make_venue, clock):
    return make_venue(code="HQ", name="Trụ sở chính", unit="Công ty ABC")


def _all_at_once(work, n=CONCURRENT) -> list:
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i):
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # reported below, never lost in a thread
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def _counts(session) -> tuple[int, int, int]:
    session.expire_all()
    return tuple(session.execute(sa.text(sql)).scalar_one() for sql in (
        "SELECT COUNT(*) FROM visitor", "SELECT COUNT(*) FROM visit",
        "SELECT COUNT(*) FROM visit WHERE checked_out_at IS NULL"))


def test_twenty_identical_declarations_at_once_make_one_visitor_and_one_visit(
        live_server, session, venue):
    def post(_):
        request = urllib.request.Request(
            live_server.url + "/api/v1/declarations", method="POST",
            data=json.dumps(BODY).encode(), headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            return exc.code, json.load(exc)

    results = _all_at_once(post)
    assert all(isinstance(r, tuple) and r[0] == 201 for r in results), results
    assert len({body["visitor_id"] for _, body in results}) == 1
    assert len({body["visit_id"] for _, body in results}) == 1
    assert _counts(session) == (1, 1, 1)


def test_twenty_declarations_from_one_phone_at_once_open_one_visit(app, session, venue):
    """The same person's phone (their remember-me cookie) sending twenty different answers at
    once: one visitor, one open visit that follows the answers."""
    from declarations.venue_links import venue_path

    link = venue_path("HQ", "test-secret-key")
    phone = app.test_client()
    first = phone.post(link, data={**VICTIM, "confirm_warnings": "1"})
    assert first.status_code == 302
    cookie = phone.get_cookie("khaibao_visitor").value
    phone.post("/forget")  # nothing else of this browser
    visitors, _, open_before = _counts(session)
    session.execute(sa.text("UPDATE visit SET checked_out_at = checked_in_at"))
    session.commit()

    def declare(i):
        client = app.test_client()
        client.set_cookie("khaibao_visitor", cookie)
        answer = client.post(link, data={**VICTIM, "body_temperature_c": f"36.{i % 10}",
                                         "visit_purpose_note": f"lần {i}",
                                         "confirm_warnings": "1"})
        return answer.status_code, re.search(r"/d/(\d+)", answer.headers.get("Location", ""))

    results = _all_at_once(declare)
    assert all(isinstance(r, tuple) and r[0] == 302 and r[1] for r in results), results
    assert _counts(session)[0] == visitors
    assert _counts(session)[2] == 1  # one open visit, whichever answer came last

