"""Personal QR tokens (format 2): compact, Ed25519-signed, naming the visitor's global identity and
their declaration's time and triage flag; verified offline with public keys only; tampered,
truncated, expired, unknown-key and first-format tokens are refused with their reason."""
from __future__ import annotations

import base64
import math
import os
import stat
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.db import new_uid
from declarations import tokens
from declarations.tokens import (
    MAX_DECLARED_MIN,
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
UID = "0123456789abcdef01234567"
OTHER_UID = "fedcba9876543210fedcba98"


def issue(ring=RING, *, uid=UID, declared_at=NOW, flagged=False, now=NOW):
    return ring.issue(visitor_uid=uid, declared_at=declared_at, flagged=flagged, now=now)


def reason(ring, text, now=NOW, max_age=30 * DAY):
    with pytest.raises(TokenError) as caught:
        ring.verify(text, now=now, max_age=max_age)
    return caught.value.reason


def _raw(token: str) -> bytearray:
    body = token[4:]
    return bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def _text(raw: bytes, prefix: str = "KB2.") -> str:
    return prefix + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


def test_round_trip():
    token = issue(declared_at=NOW - timedelta(hours=3), flagged=True, now=NOW)
    assert token.startswith("KB2.")
    claims = RING.verify(token, now=NOW + DAY, max_age=30 * DAY)
    assert (claims.visitor_uid, claims.issued_at) == (UID, NOW)
    assert (claims.declared_at, claims.flagged, claims.declaration_status) == (
        NOW - timedelta(hours=3), True, "needs_review")
    assert claims.key_id == RING.signing_key_id
    assert RING.public_only().verify(token, now=NOW, max_age=None) == claims


def test_the_code_names_the_global_identity_not_a_row_id():
    """Two servers with different row ids for the same person issue codes naming the same uid,
    and any verifier with the public key reads it: the code works at every door."""
    uid = new_uid()
    assert len(uid) == 24 and int(uid, 16) >= 0
    other_door = generate_keyring()
    both = KeyRing({**RING.public_keys, **other_door.public_keys})
    assert {both.verify(issue(ring, uid=uid), now=NOW, max_age=None).visitor_uid
            for ring in (RING, other_door)} == {uid}
    assert new_uid() != new_uid()


def test_the_declaration_time_is_rounded_up_never_fresher_than_it_was():
    made = NOW - timedelta(minutes=10, seconds=1)
    claims = RING.verify(issue(declared_at=made), now=NOW, max_age=None)
    assert claims.declared_at == NOW - timedelta(minutes=11)
    assert claims.declared_at <= made
    # A declaration "after" its code (another clock): read as made when the code was issued.
    claims = RING.verify(issue(declared_at=NOW + timedelta(minutes=3)), now=NOW, max_age=None)
    assert claims.declared_at == NOW
    # Older than the field holds (about two years): read as that old, which is stale anyway.
    claims = RING.verify(issue(declared_at=NOW - timedelta(days=3000)), now=NOW, max_age=None)
    assert claims.declared_at == NOW - timedelta(minutes=MAX_DECLARED_MIN)


def test_longest_possible_token_fits_in_120_characters():
    late = datetime(2105, 12, 31, tzinfo=timezone.utc)
    token = issue(uid="f" * 24, declared_at=late - timedelta(days=3650), flagged=True, now=late)
    assert len(token) == MAX_TOKEN_LENGTH == 120
    assert RING.verify(token, now=late, max_age=None).flagged


def test_typical_token_is_url_safe():
    token = issue(declared_at=NOW - timedelta(minutes=5))
    assert len(token) <= 118
    assert set(token[4:]) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@pytest.mark.parametrize("bad", ["", "0123", "0123456789ABCDEF01234567", 42, None,
                                 "0123456789abcdef0123456g", "0123456789abcdef012345678"])
def test_a_uid_that_is_not_24_hex_digits_cannot_be_signed(bad):
    with pytest.raises(ValueError):
        issue(uid=bad)


def test_naive_times_and_a_non_boolean_flag_cannot_be_signed():
    with pytest.raises(ValueError):
        issue(now=datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        issue(declared_at=datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        issue(flagged=1)


def test_verification_only_ring_cannot_sign():
    with pytest.raises(RuntimeError):
        issue(RING.public_only())


# --- Rejections -------------------------------------------------------------------------------

def _flip(token: str, index: int) -> str:
    """Change one character of the base64 part to another valid base64 character."""
    chars = list(token)
    chars[index] = "A" if chars[index] != "A" else "B"
    return "".join(chars)


def test_every_single_character_change_is_refused():
    token = issue(declared_at=NOW - timedelta(minutes=90))
    for index in range(4, len(token)):
        tampered = _flip(token, index)
        assert reason(RING, tampered) in ("bad_signature", "malformed", "unknown_key",
                                          "truncated"), index


@pytest.mark.parametrize("offset,value", [
    (8, 0x11),          # another visitor's uid, key id untouched
    (20, 0x01),         # the declaration: made just now and clear instead of flagged
])
def test_changed_claims_with_the_old_signature_are_a_bad_signature(offset, value):
    token = issue(declared_at=NOW - timedelta(minutes=40), flagged=True)
    forged = _raw(token)
    assert forged[offset] != value
    forged[offset] = value
    assert reason(RING, _text(forged)) == "bad_signature"


def test_every_truncation_is_refused_as_truncated():
    token = issue()
    for length in range(4, len(token)):
        assert reason(RING, token[:length]) == "truncated", length


@pytest.mark.parametrize("text", [
    "", "KB2", "KB3.AAAA", "kb2.AAAA", "https://example.com/v/DEMO?k=x", "KB2.AA==AA",
    "KB2.!!!!", "KB2." + "A" * 200, "079090001234|NGUYEN VAN A|1990-01-01|0|1|",
])
def test_not_tokens_are_malformed(text):
    assert reason(RING, text) == "malformed"


def test_first_format_codes_are_refused_as_superseded_with_a_clear_message(render):
    """A format-1 code named row ids: it is recognised as ours and refused, saying why."""
    for old in ("KB1.eyJ2IjoxLCJ2aSI6NDJ9.c2lnbmF0dXJl", "KB1.AAAA", " KB1.x\r\n"):
        assert reason(RING, old) == "superseded"
    problem = TokenError("superseded").problem
    assert render(problem, "en") == ("This QR code is from an earlier version of the system; "
                                     "please declare again to get a new one")
    assert render(problem, "vi") == ("Mã QR này thuộc phiên bản cũ của hệ thống; vui lòng "
                                     "khai báo lại để nhận mã mới")


def test_a_declaration_field_longer_than_three_bytes_or_not_minimal_is_malformed():
    token = issue()
    raw = _raw(token)
    body, signature = raw[:20], raw[21:]
    for declared in (b"\x80\x80\x80\x01", b"\x80\x00"):
        assert reason(RING, _text(body + declared + signature)) == "malformed", declared


def test_extra_characters_after_a_token_are_malformed():
    token = issue()
    for extra in ("A", "AA", "AAA", "AAAA"):
        assert reason(RING, token + extra) == "malformed", extra


def test_surrounding_whitespace_from_a_scanner_is_ignored():
    token = issue()
    assert RING.verify(f" {token}\r\n", now=NOW, max_age=None).visitor_uid == UID


def test_expiry_and_clock_skew():
    token = issue()
    assert RING.verify(token, now=NOW + 30 * DAY, max_age=30 * DAY)
    assert reason(RING, token, now=NOW + 30 * DAY + timedelta(seconds=1)) == "expired"
    assert RING.verify(token, now=NOW + 3650 * DAY, max_age=None)  # no limit asked
    # Issued a little in the future (kiosk clock behind): fine; far in the future: refused.
    assert RING.verify(token, now=NOW - timedelta(minutes=4), max_age=DAY)
    assert reason(RING, token, now=NOW - timedelta(minutes=6)) == "not_yet_valid"


def test_unknown_key_id():
    assert reason(RING, issue(generate_keyring())) == "unknown_key"


def test_a_key_id_swapped_onto_another_keys_signature_is_refused():
    raw = _raw(issue(generate_keyring()))
    raw[:4] = bytes.fromhex(RING.signing_key_id)
    assert reason(RING, _text(raw)) == "bad_signature"


def test_a_first_format_signature_is_no_second_format_token():
    """Domain separation: the same bytes signed under format 1's context do not verify."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    ring = KeyRing({tokens.key_id_of(key.public_key()): key.public_key()}, key)
    raw = _raw(issue(ring))
    body = bytes(raw[:21])
    raw[21:] = key.sign(b"KhaiBao personal token v1\0" + body)
    assert reason(ring, _text(raw)) == "bad_signature"


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
@given(st.binary(max_size=100), st.sampled_from(["KB1.", "KB2."]))
def test_arbitrary_bytes_after_the_prefix_are_refused(data, prefix):
    text = prefix + base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    with pytest.raises(TokenError):
        RING.verify(text, now=NOW, max_age=None)


@settings(deadline=None, max_examples=100)
@given(st.binary(min_size=12, max_size=12), st.booleans(),
       st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2105, 1, 1),
                    timezones=st.just(timezone.utc)),
       st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=800)))
def test_any_claims_round_trip_within_120_characters(uid, flagged, issued, age):
    declared = max(issued - age, datetime(1970, 1, 1, tzinfo=timezone.utc))
    token = issue(uid=uid.hex(), declared_at=declared, flagged=flagged, now=issued)
    assert len(token) <= 120
    claims = RING.verify(token, now=issued, max_age=None)
    assert (claims.visitor_uid, claims.flagged) == (uid.hex(), flagged)
    assert claims.issued_at == issued.replace(microsecond=0)
    # To the minute, rounded up (never fresher than it was), within the field's range.
    minutes = min(MAX_DECLARED_MIN, max(0, math.ceil(
        (claims.issued_at - declared).total_seconds() / 60)))
    assert claims.declared_at == claims.issued_at - timedelta(minutes=minutes)


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
    old_token = issue(first, uid=UID)

    new_kid = rotate_signing_key(keys)
    second = load_keyring(keys)
    assert second.signing_key_id == new_kid != first.signing_key_id
    assert not (keys / f"{first.signing_key_id}.private.pem").exists()  # old private key gone
    new_token = issue(second, uid=OTHER_UID)
    assert second.verify(old_token, now=NOW, max_age=None).visitor_uid == UID
    assert second.verify(new_token, now=NOW, max_age=None).visitor_uid == OTHER_UID

    # A kiosk that only has the public keys verifies both.
    kiosk = KeyRing(load_public_keys(keys))
    assert kiosk.verify(old_token, now=NOW, max_age=None).key_id == first.signing_key_id
    assert kiosk.verify(new_token, now=NOW, max_age=None).key_id == new_kid

    retire_key(keys, first.signing_key_id)
    third = load_keyring(keys)
    assert reason(third, old_token) == "unknown_key"
    assert third.verify(new_token, now=NOW, max_age=None).visitor_uid == OTHER_UID


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
