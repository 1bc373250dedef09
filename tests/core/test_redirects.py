"""No open redirect: ?next= on the language toggle and after signing in only ever leads to a page
of this site, read as a browser reads the Location header."""
from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import pytest

from core.security import safe_next
from tests.conftest import PASSWORD

SITE = "http://kiosk.test/"

# Each of these, sent as ?next=, would take a browser to evil.example on today's main or on a
# naive check (tabs and newlines are dropped by browsers, a backslash is read as a slash).
HOSTILE = [
    "/\t/evil.example/x",
    "/\n/evil.example/x",
    "/\r\n/evil.example/x",
    "\t//evil.example/x",
    "//evil.example/x",
    "///evil.example/x",
    "/\\evil.example",
    "\\/evil.example",
    "\\\\evil.example",
    "https://evil.example",
    "https:evil.example",
    "javascript:alert(1)",
    " //evil.example",
    "evil.example",
]
SAFE = ["/", "/kiosk", "/kiosk/desk?venue=HQ", "/tracing/?q=a#b", "/a//b"]


def where_a_browser_goes(location: str) -> str:
    """The host a browser would open for this Location (WHATWG: tab/LF/CR dropped, a backslash
    is a slash in http(s) URLs)."""
    cleaned = re.sub(r"[\t\n\r]", "", location).strip().replace("\\", "/")
    return urlsplit(urljoin(SITE, cleaned)).netloc


@pytest.mark.parametrize("target", HOSTILE)
def test_the_language_toggle_never_leads_to_another_site(client, target):
    response = client.get("/lang/en", query_string={"next": target})
    assert response.status_code == 302
    assert where_a_browser_goes(response.headers["Location"]) == "kiosk.test", \
        response.headers["Location"]


@pytest.mark.parametrize("target", HOSTILE)
def test_signing_in_never_leads_to_another_site(client, make_user, target):
    user = make_user("admin")
    response = client.post("/login", query_string={"next": target},
                           data={"username": user.username, "password": PASSWORD})
    assert response.status_code == 302
    assert where_a_browser_goes(response.headers["Location"]) == "kiosk.test", \
        response.headers["Location"]


def test_the_reported_redirect_now_goes_home(client):
    """The issue's own example: /lang/en?next=/%09/evil.example/x answered //evil.example/x."""
    response = client.get("/lang/en?next=/%09/evil.example/x")
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("target", SAFE)
def test_pages_of_this_site_are_still_followed(client, make_user, target):
    response = client.get("/lang/en", query_string={"next": target})
    assert response.headers["Location"] == target
    user = make_user("admin")
    response = client.post("/login", query_string={"next": target},
                           data={"username": user.username, "password": PASSWORD})
    assert response.headers["Location"] == target


@pytest.mark.parametrize("target", HOSTILE + ["/\x00/evil.example", "/\x7f//evil.example", None,
                                             "", 42])
def test_safe_next_falls_back_for_anything_off_site(target):
    assert safe_next(target, "/home") == "/home"
