"""Venue QR links: signed per venue; a link edited to another venue does not verify."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from declarations.venue_links import (
    build_venue_url,
    normalise_venue_code,
    parse_venue_url,
    venue_signature,
    verify_venue_signature,
)

SECRET = "test-secret-key"


def test_build_and_verify():
    url = build_venue_url("https://khaibao.example.vn/", "demo", SECRET)
    link = parse_venue_url(url)
    assert url.startswith("https://khaibao.example.vn/v/DEMO?k=")
    assert (link.base_url, link.venue_code) == ("https://khaibao.example.vn", "DEMO")
    assert len(link.signature) == 16
    assert verify_venue_signature("DEMO", link.signature, SECRET)
    assert verify_venue_signature("demo", link.signature, SECRET)


def test_a_signature_is_valid_for_its_venue_only():
    signature = venue_signature("DEMO", SECRET)
    assert not verify_venue_signature("DEMO2", signature, SECRET)
    assert not verify_venue_signature("OTHER", signature, SECRET)
    assert not verify_venue_signature("DEMO", signature, "another-secret")
    assert not verify_venue_signature("DEMO", signature[:-1], SECRET)
    assert not verify_venue_signature("DEMO", signature + "A", SECRET)
    assert not verify_venue_signature("DEMO", "", SECRET)
    assert not verify_venue_signature("DEMO", None, SECRET)
    assert not verify_venue_signature("DEMO", "ñ" * 16, SECRET)
    assert not verify_venue_signature("../x", signature, SECRET)


def test_signatures_differ_between_venues_and_are_stable():
    assert venue_signature("A1", SECRET) != venue_signature("A2", SECRET)
    assert venue_signature("A1", SECRET) == venue_signature("a1", SECRET.encode())


def test_base_url_with_a_path_prefix():
    url = build_venue_url("https://example.vn/khaibao", "HQ-1", SECRET)
    assert url == f"https://example.vn/khaibao/v/HQ-1?k={venue_signature('HQ-1', SECRET)}"
    assert parse_venue_url(url).base_url == "https://example.vn/khaibao"


@pytest.mark.parametrize("code,normal", [
    ("demo", "DEMO"), (" HQ_1 ", "HQ_1"), ("a-b", "A-B"), ("", None), ("-A", None),
    ("A B", None), ("Ă", None), ("A" * 33, None), (None, None), (12, None),
])
def test_venue_code_shape(code, normal):
    assert normalise_venue_code(code) == normal


def test_bad_venue_codes_cannot_be_signed():
    with pytest.raises(ValueError):
        venue_signature("no/slash", SECRET)
    with pytest.raises(ValueError):
        venue_signature("DEMO", "")


@pytest.mark.parametrize("text", [
    "KB1.AAAA", "http://x/v/DEMO", "ftp://x/v/DEMO?k=abc", "http://x/w/DEMO?k=abc",
    "http://x/v/demo?k=abc", "http://x/v/DEMO?k=a&k=b", "/v/DEMO?k=abc", "http://[::1/v/A?k=a",
])
def test_parse_refuses_what_is_not_a_venue_link(text):
    assert parse_venue_url(text) is None


@settings(deadline=None)
@given(st.text(max_size=100))
def test_parse_never_raises(text):
    parse_venue_url(text)


@settings(deadline=None)
@given(st.from_regex(r"[A-Z0-9][A-Z0-9_-]{0,31}", fullmatch=True),
       st.from_regex(r"[A-Z0-9][A-Z0-9_-]{0,31}", fullmatch=True))
def test_no_venue_signature_verifies_another_venue(code, other):
    signature = venue_signature(code, SECRET)
    assert verify_venue_signature(code, signature, SECRET)
    assert verify_venue_signature(other, signature, SECRET) == (code == other)
