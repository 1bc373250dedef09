"""Personal QR tokens: compact, Ed25519-signed, verified offline with public keys only; tampered,
truncated, expired and unknown-key tokens are refused with their reason."""
from __future__ import annotations

import base64
import os
import stat
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from declarations import tokens
from declarations.tokens import (
    MAX_ID,
    MAX_TOKEN_LENGTH,
    KeyRing,
    TokenError,
    generate_keyring,
    load_keyring,
    load_public_keys,
    retire_key,
    rotate_signing_key,
)

NOW = datetime(2026, 3, 10, 2, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)
RING = generate_keyring()


def reason(ring, text, now=NOW, max_age=30 * DAY):
    with pytest.raises(TokenError) as caught:
        ring.verify(text, now=now, max_age=max_age)
    return caught.value.reason


def test_round_trip():
    token = RING.issue(visitor_id=42, declaration_id=4242, now=NOW)
    assert token.startswith("KB1.")
    claims = RING.verify(token, now=NOW + DAY, max_age=30 * DAY)
    assert (claims.visitor_id, claims.declaration_id, claims.issued_at) == (42, 4242, NOW)
    assert claims.key_id == RING.signing_key_id
    assert RING.public_only().verify(token, now=NOW, max_age=None) == claims


def test_longest_possible_token_fits_in_120_characters():
    token = RING.issue(visitor_id=MAX_ID, declaration_id=MAX_ID,
                       now=datetime(2105, 12, 31, tzinfo=timezone.utc))
    assert len(token) <= MAX_TOKEN_LENGTH == 120
    assert RING.verify(token, now=datetime(2105, 12, 31, tzinfo=timezone.utc), max_age=None)


def test_typical_token_is_short_and_url_safe():
    token = RING.issue(visitor_id=1234, declaration_id=56789, now=NOW)
    assert len(token) <= 108
    assert set(token[4:]) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@pytest.mark.parametrize("bad", [0, -1, MAX_ID + 1, True, 1.0, "1"])
def test_ids_out_of_range_cannot_be_signed(bad):
    with pytest.raises(ValueError):
        RING.issue(visitor_id=bad, declaration_id=1, now=NOW)


def test_naive_time_cannot_be_signed():
    with pytest.raises(ValueError):
        RING.issue(visitor_id=1, declaration_id=1, now=datetime(2026, 1, 1))


def test_verification_only_ring_cannot_sign():
    with pytest.raises(RuntimeError):
        RING.public_only().issue(visitor_id=1, declaration_id=1, now=NOW)


# --- Rejections -------------------------------------------------------------------------------

def _flip(token: str, index: int) -> str:
    """Change one character of the base64 part to another valid base64 character."""
    chars = list(token)
    chars[index] = "A" if chars[index] != "A" else "B"
    return "".join(chars)


def test_every_single_character_change_is_refused():
    token = RING.issue(visitor_id=7, declaration_id=9, now=NOW)
    for index in range(4, len(token)):
        tampered = _flip(token, index)
        assert reason(RING, tampered) in ("bad_signature", "malformed", "unknown_key"), index


def test_changed_claims_with_the_old_signature_are_a_bad_signature():
    token = RING.issue(visitor_id=7, declaration_id=9, now=NOW)
    raw = base64.urlsafe_b64decode(token[4:] + "=" * (-len(token[4:]) % 4))
    forged = bytearray(raw)
    forged[8] = 8  # visitor id 7 → 8, key id untouched
    text = "KB1." + base64.urlsafe_b64encode(bytes(forged)).rstrip(b"=").decode()
    assert reason(RING, text) == "bad_signature"


def test_every_truncation_is_refused_as_truncated():
    token = RING.issue(visitor_id=7, declaration_id=9, now=NOW)
    for length in range(4, len(token)):
        assert reason(RING, token[:length]) == "truncated", length


@pytest.mark.parametrize("text", [
    "", "KB1", "KB2.AAAA", "kb1.AAAA", "https://example.com/v/DEMO?k=x", "KB1.AA==AA",
    "KB1.!!!!", "KB1." + "A" * 200, "079090001234|NGUYEN VAN A|1990-01-01|0|1|",
])
def test_not_tokens_are_malformed(text):
    assert reason(RING, text) == "malformed"


def test_extra_characters_after_a_token_are_malformed():
    token = RING.issue(visitor_id=7, declaration_id=9, now=NOW)
    for extra in ("A", "AA", "AAA", "AAAA"):
        assert reason(RING, token + extra) == "malformed", extra


def test_surrounding_whitespace_from_a_scanner_is_ignored():
    token = RING.issue(visitor_id=7, declaration_id=9, now=NOW)
    assert RING.verify(f" {token}\r\n", now=NOW, max_age=None).visitor_id == 7


def test_expiry_and_clock_skew():
    token = RING.issue(visitor_id=7, declaration_id=9, now=NOW)
    assert RING.verify(token, now=NOW + 30 * DAY, max_age=30 * DAY)
    assert reason(RING, token, now=NOW + 30 * DAY + timedelta(seconds=1)) == "expired"
    assert RING.verify(token, now=NOW + 3650 * DAY, max_age=None)  # no limit asked
    # Issued a little in the future (kiosk clock behind): fine; far in the future: refused.
    assert RING.verify(token, now=NOW - timedelta(minutes=4), max_age=DAY)
    assert reason(RING, token, now=NOW - timedelta(minutes=6)) == "not_yet_valid"


def test_unknown_key_id():
    other = generate_keyring()
    token = other.issue(visitor_id=7, declaration_id=9, now=NOW)
    assert reason(RING, token) == "unknown_key"


def test_a_key_id_swapped_onto_another_keys_signature_is_refused():
    other = generate_keyring()
    token = other.issue(visitor_id=7, declaration_id=9, now=NOW)
    raw = bytearray(base64.urlsafe_b64decode(token[4:] + "=" * (-len(token[4:]) % 4)))
    raw[:4] = bytes.fromhex(RING.signing_key_id)
    text = "KB1." + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    assert reason(RING, text) == "bad_signature"


def test_every_reason_has_a_bilingual_message(render):
    for why in TokenError.REASONS:
        problem = TokenError(why).problem
        assert render(problem, "vi") != render(problem, "en")
    assert render(TokenError("expired").problem, "vi") == "Mã QR đã hết hạn, vui lòng khai báo lại"


@settings(deadline=None, max_examples=300)
@given(st.text(max_size=130))
def test_arbitrary_text_is_refused_never_crashes(text):
    with pytest.raises(TokenError):
        RING.verify(text, now=NOW, max_age=None)


@settings(deadline=None, max_examples=300)
@given(st.binary(max_size=100))
def test_arbitrary_bytes_after_the_prefix_are_refused(data):
    text = "KB1." + base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    with pytest.raises(TokenError):
        RING.verify(text, now=NOW, max_age=None)


@settings(deadline=None, max_examples=100)
@given(st.integers(1, MAX_ID), st.integers(1, MAX_ID),
       st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2105, 1, 1),
                    timezones=st.just(timezone.utc)))
def test_any_claims_round_trip_within_120_characters(visitor_id, declaration_id, issued):
    token = RING.issue(visitor_id=visitor_id, declaration_id=declaration_id, now=issued)
    assert len(token) <= 120
    claims = RING.verify(token, now=issued, max_age=None)
    assert (claims.visitor_id, claims.declaration_id) == (visitor_id, declaration_id)
    assert claims.issued_at == issued.replace(microsecond=0)


# --- Key files and rotation -------------------------------------------------------------------

def test_first_use_creates_a_signing_key_with_private_file_permissions(tmp_path):
    keys = tmp_path / "instance" / "keys"
    ring = load_keyring(keys)
    kid = ring.signing_key_id
    assert (keys / "current").read_text().strip() == kid
    private = keys / f"{kid}.private.pem"
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
    assert (keys / f"{kid}.public.pem").exists()
    # Loading again gives the same key, not a new one.
    assert load_keyring(keys).signing_key_id == kid


def test_without_create_an_empty_directory_has_no_keys(tmp_path):
    ring = load_keyring(tmp_path / "keys", create=False)
    assert ring.signing_key is None and ring.public_keys == {}


def test_rotation_keeps_old_tokens_valid_until_the_key_is_retired(tmp_path):
    keys = tmp_path / "keys"
    first = load_keyring(keys)
    old_token = first.issue(visitor_id=1, declaration_id=1, now=NOW)

    new_kid = rotate_signing_key(keys)
    second = load_keyring(keys)
    assert second.signing_key_id == new_kid != first.signing_key_id
    assert not (keys / f"{first.signing_key_id}.private.pem").exists()  # old private key gone
    new_token = second.issue(visitor_id=2, declaration_id=2, now=NOW)
    assert second.verify(old_token, now=NOW, max_age=None).visitor_id == 1
    assert second.verify(new_token, now=NOW, max_age=None).visitor_id == 2

    # A kiosk that only has the public keys verifies both.
    kiosk = KeyRing(load_public_keys(keys))
    assert kiosk.verify(old_token, now=NOW, max_age=None).key_id == first.signing_key_id
    assert kiosk.verify(new_token, now=NOW, max_age=None).key_id == new_kid

    retire_key(keys, first.signing_key_id)
    third = load_keyring(keys)
    assert reason(third, old_token) == "unknown_key"
    assert third.verify(new_token, now=NOW, max_age=None).visitor_id == 2


def test_the_current_key_cannot_be_retired(tmp_path):
    keys = tmp_path / "keys"
    ring = load_keyring(keys)
    with pytest.raises(ValueError):
        retire_key(keys, ring.signing_key_id)
    with pytest.raises(ValueError):
        retire_key(keys, "../../etc")
    with pytest.raises(FileNotFoundError):
        retire_key(keys, "00000000")


def test_a_race_on_first_use_leaves_one_key(tmp_path, monkeypatch):
    keys = tmp_path / "keys"
    winner = load_keyring(keys)
    # Another process created `current` between our read and our write.
    answers = iter([None, winner.signing_key_id])
    monkeypatch.setattr(tokens, "_read_current", lambda directory: next(answers))
    loser = load_keyring(keys)
    assert loser.signing_key_id == winner.signing_key_id
    assert sorted(p.name for p in keys.glob("*.pem")) == sorted(
        [f"{winner.signing_key_id}.private.pem", f"{winner.signing_key_id}.public.pem"])


def _load_kid(directory, barrier, queue):
    barrier.wait()
    try:
        queue.put(load_keyring(directory).signing_key_id)
    except BaseException as exc:  # reported to the test, not lost in a child process
        queue.put(repr(exc))


def test_processes_starting_together_agree_on_one_key(tmp_path):
    import multiprocessing

    context = multiprocessing.get_context("fork")
    barrier, queue = context.Barrier(6), context.Queue()
    workers = [context.Process(target=_load_kid, args=(tmp_path / "keys", barrier, queue))
               for _ in range(6)]
    for worker in workers:
        worker.start()
    kids = {queue.get(timeout=60) for _ in workers}
    for worker in workers:
        worker.join(timeout=60)
    assert len(kids) == 1
    assert len(list((tmp_path / "keys").glob("*.private.pem"))) == 1
