"""The code registry: each payload type recognised with its fields, everything else "unknown",
and no input (fuzzed) ever raises or leaks a masked number or the card's address."""
from __future__ import annotations

from dataclasses import asdict
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk import codes
from kiosk.codes import KINDS, parse_code

CCCD = ("001090012345|123456789|Nguyễn Văn An|01021990|Nam|"
        "Số 1 Tràng Tiền, Hoàn Kiếm, Hà Nội|01012021")
NATIONAL = "******012345|NGUYEN VAN A|1990-**-**|0|3a7f09c2d1|<1<<0912345678"
TOKEN = "KB2.ASNFZ4mrze8BI0VnAAAAAGk3Yc8ABtUCPPgb4s4SYktl2ZUFQdJfMKTkO2vdJYPIUKyrPgGtWh-Yj9pL"
OLD_TOKEN = "KB1.eyJ2IjoxLCJ2aSI6NDJ9.c2lnbmF0dXJl"  # the first format: still "ours"
VENUE = "https://kiosk.example.vn/v/DEMO?k=abc123_-"


# --- personal token -------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    TOKEN, OLD_TOKEN, "KB2.a", "KB2." + "A" * 116, "KB1." + "A" * 116, "KB1.abc.def.ghi",
    "KB2.-_-_", " KB2.abc\r\n",
])
def test_personal_tokens(text):
    code = parse_code(text)
    assert code.kind == "token"
    assert code.text == text.strip()


@pytest.mark.parametrize("text", [
    "KB1.", "KB2.", "KB2." + "A" * 117, "KB3.abc", "kb2.abc", "KB2.ab=c", "KB2.ab c",
    "KB2.ab+c", "KB2.ab/c", "xKB2.abc", "KB2.abc\x00",
])
def test_not_personal_tokens(text):
    assert parse_code(text).kind == "unknown"


# --- venue QR --------------------------------------------------------------------------------

@pytest.mark.parametrize("text, venue", [
    (VENUE, "DEMO"),
    ("http://127.0.0.1:5000/v/HN_01-A?k=x", "HN_01-A"),
    ("https://host/kiosk/v/B7?lang=vi&k=sig", "B7"),
    ("kiosk://anything/v/" + "Z" * 32 + "?k=s", "Z" * 32),
    ("https://host/v/OLD/v/NEW?k=s", "NEW"),
])
def test_venue_codes(text, venue):
    code = parse_code(text)
    assert code.kind == "venue"
    assert code.venue_code == venue
    assert code.hint is not None


@pytest.mark.parametrize("text", [
    "https://kiosk.example.vn/v/DEMO",             # no signature
    "https://kiosk.example.vn/v/DEMO?k=",          # empty signature
    "https://kiosk.example.vn/v/demo?k=abc",       # lower case is not a venue code
    "https://kiosk.example.vn/v/DEMO/?k=abc",      # not the venue path
    "https://kiosk.example.vn/v/DE MO?k=abc",
    "https://kiosk.example.vn/v/" + "A" * 33 + "?k=abc",
    "https://kiosk.example.vn/x/DEMO?k=abc",
    "/v/DEMO?k=abc",                               # no scheme or host
    "https://[::1/v/DEMO?k=abc",                   # malformed host
    "https://kiosk.example.vn/vv/DEMO?k=abc",
])
def test_not_venue_codes(text):
    assert parse_code(text).kind == "unknown"


# --- CCCD chip-card QR -----------------------------------------------------------------------

def test_cccd_fields_and_no_address():
    code = parse_code(CCCD)
    assert code.kind == "cccd"
    identity = code.identity
    assert identity.id_number == "001090012345"
    assert identity.full_name == "Nguyễn Văn An"
    assert identity.birth_date == date(1990, 2, 1)
    assert identity.birth_year == 1990
    assert identity.gender == "male"
    assert code.warnings == ()
    kept = repr(asdict(identity))
    assert "Tràng Tiền" not in kept and "123456789" not in kept


@pytest.mark.parametrize("sex, gender", [("Nam", "male"), ("Nữ", "female"), ("NỮ", "female"),
                                         ("Nu\u0303", "female"), ("nu", "female"), ("?", None),
                                         ("", None)])
def test_cccd_sex(sex, gender):
    code = parse_code(f"001190012345||Trần Thị Bình|15081990|{sex}|Huế|")
    assert code.kind == "cccd"
    assert code.identity.gender == gender


def test_cccd_soft_checks_warn_without_rejecting():
    # Digit 4 = 1: a woman born in the 1900s; the card says a man born in 1991.
    code = parse_code("001190012345||Trần Bình|15081991|Nam|Huế|01012021")
    assert code.kind == "cccd"
    assert set(code.warnings) == {codes.BIRTH_YEAR_MISMATCH, codes.GENDER_MISMATCH}


def test_cccd_born_in_the_2000s():
    code = parse_code("079305001234||Lê Thị Cúc|02032005|Nữ|TP HCM|10102022")
    assert code.identity.birth_year == 2005 and code.warnings == ()


def test_cccd_garbled_name_is_not_prefilled():
    code = parse_code("001090012345||<script>|01021990|Nam|x|01012021")
    assert code.kind == "cccd"
    assert code.identity.full_name is None


def test_cccd_name_spaces_normalised():
    code = parse_code("001090012345||  Nguyễn   Văn\tAn |01021990|Nam|x|01012021")
    assert code.identity.full_name == "Nguyễn Văn An"


def test_cccd_tolerates_extra_fields():
    assert parse_code(CCCD + "|extra").kind == "cccd"


@pytest.mark.parametrize("text", [
    "003090012345||An|01021990|Nam|x|01012021",    # 003 is no province
    "00109001234||An|01021990|Nam|x|01012021",     # 11 digits
    "00109001234A||An|01021990|Nam|x|01012021",
    "001090012345||An|31021990|Nam|x|01012021",    # 31 February
    "001090012345||An|0102199|Nam|x|01012021",
    "001090012345||An|01021890|Nam|x|01012021",    # before 1900
    "001090012345||An|01021990|Nam|x|99999999",    # bad issue date
    "001090012345|12345|An|01021990|Nam|x|01012021",  # old number neither 9 nor 12 digits
    "001090012345||An|01021990|Nam|x",             # six fields
    "００１０９００１２３４５||An|01021990|Nam|x|01012021",  # full-width digits
])
def test_not_cccd(text):
    assert parse_code(text).kind == "unknown"


# --- 2021 unified personal QR --------------------------------------------------------------------

def test_national_qr_masked_number_is_never_an_id():
    code = parse_code(NATIONAL)
    assert code.kind == "national_qr"
    identity = code.identity
    assert identity.id_number is None
    assert identity.id_masked is True
    assert identity.full_name == "NGUYEN VAN A"
    assert identity.birth_year == 1990
    assert identity.birth_date is None
    assert identity.gender == "male"
    assert "012345" not in repr(asdict(identity))
    assert "0912345678" not in repr(asdict(identity))  # the phone in EXT is not kept


def test_national_qr_unmasked():
    code = parse_code("079190001234|TRAN THI B|1990-01-31|1|QID123|<2")
    assert code.kind == "national_qr"
    assert code.identity.id_number == "079190001234"
    assert code.identity.birth_date == date(1990, 1, 31)
    assert code.identity.gender == "female"
    assert code.warnings == ()


def test_national_qr_passport_and_partial_mask():
    code = parse_code("b1234567|JOHN SMITH|1985-06-**|0|Q9|")
    assert code.identity.id_number == "B1234567"
    assert code.identity.birth_date is None and code.identity.birth_year == 1985
    assert code.identity.gender is None


def test_national_qr_soft_checks():
    code = parse_code("079090001234|TRAN THI B|1991-01-31|0|Q|<2")
    assert set(code.warnings) == {codes.BIRTH_YEAR_MISMATCH, codes.GENDER_MISMATCH}


@pytest.mark.parametrize("text", [
    "******012345|NGUYEN VAN A|1990-**-**|2|QID|",    # declared-by flag 0/1 only
    "******012345|NGUYEN VAN A|1990-**-**|0||",       # no QID
    "******012345|NGUYEN VAN A|90-01-01|0|QID|",
    "******012345|NGUYEN VAN A|1990-13-01|0|QID|",
    "******012345|NGUYEN VAN A|1990-13-**|0|QID|",
    "******012345|NGUYEN VAN A|1990-02-30|0|QID|",
    "****|NGUYEN VAN A|1990-**-**|0|QID|",            # too short for a document number
    "0790 9000 1234|A|1990-01-01|0|QID|",
    "******012345|NGUYEN VAN A|1990-**-**|0|QID",     # five fields
])
def test_not_national_qr(text):
    assert parse_code(text).kind == "unknown"


# --- anything else ----------------------------------------------------------------------------

@pytest.mark.parametrize("payload", [
    "", "   ", "hello", "https://example.com/", "WIFI:S:x;;", b"\xff\xfe\x00garbage", b"",
    "x" * (codes.MAX_PAYLOAD_CHARS + 1), "|" * 50, "KB1",
])
def test_unknown(payload):
    code = parse_code(payload)
    assert code.kind == "unknown"
    assert code.hint is not None


def test_bytes_are_read_as_utf8():
    assert parse_code(CCCD.encode("utf-8")).kind == "cccd"
    assert parse_code(TOKEN.encode()).kind == "token"


def test_repr_never_shows_personal_data():
    # A code object that ends up in a log line must not carry the payload along.
    shown = " ".join(repr(parse_code(text)) for text in (CCCD, NATIONAL, TOKEN))
    for secret in ("001090012345", "Nguyễn", "NGUYEN", "1990", "012345", TOKEN):
        assert secret not in shown


def test_registry_covers_every_kind():
    assert {kind for kind, _ in codes.PARSERS} | {"unknown"} == set(KINDS)


# --- fuzzing -----------------------------------------------------------------------------------

def _check(code, payload):
    assert code.kind in KINDS
    if code.kind in ("cccd", "national_qr"):
        identity = code.identity
        assert identity is not None
        if identity.id_number is not None:
            assert "*" not in identity.id_number
    else:
        assert code.identity is None
    if code.kind == "venue":
        assert code.venue_code


@settings(max_examples=400)
@given(st.binary(max_size=600))
def test_fuzz_bytes(payload):
    _check(parse_code(payload), payload)


@settings(max_examples=400)
@given(st.text(max_size=400))
def test_fuzz_text(payload):
    _check(parse_code(payload), payload)


_field = st.text(alphabet=st.characters(blacklist_characters="|"), max_size=30)


@settings(max_examples=400)
@given(st.lists(st.one_of(_field, st.from_regex(r"[0-9]{8,12}", fullmatch=True),
                          st.sampled_from(["Nam", "Nữ", "0", "1", "1990-**-**", "*****1234567"])),
                min_size=5, max_size=9))
def test_fuzz_pipe_separated(fields):
    text = "|".join(fields)
    _check(parse_code(text), text)


@settings(max_examples=300)
@given(st.text(max_size=60), st.text(max_size=40), st.text(max_size=30))
def test_fuzz_urls(host, code, signature):
    text = f"https://{host}/v/{code}?k={signature}"
    _check(parse_code(text), text)


_names = st.text(alphabet="AĂÂBCDĐEÊGHIKLMNOÔƠPQRSTUƯVXYaăâbcdđeêghiklmnoôơpqrstuưvxyàáạảãềếệ ",
                 min_size=1, max_size=40).filter(lambda s: s.strip())


@settings(max_examples=300)
@given(
    province=st.sampled_from(sorted(codes.PROVINCE_CODES)),
    born=st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31)),
    female=st.booleans(),
    rest=st.from_regex(r"[0-9]{6}", fullmatch=True),
    name=_names,
    address=st.text(alphabet=st.characters(blacklist_characters="|", min_codepoint=32),
                    min_size=12, max_size=60).map(lambda s: "ADDR#" + s),
)
def test_generated_cccd_round_trip(province, born, female, rest, name, address):
    digit = (born.year // 100 - 19) * 2 + int(female)
    number = f"{province}{digit}{born.year % 100:02d}{rest}"
    text = f"{number}||{name}|{born:%d%m%Y}|{'Nữ' if female else 'Nam'}|{address}|01012021"
    code = parse_code(text)
    assert code.kind == "cccd"
    assert code.identity.id_number == number
    assert code.identity.birth_date == born
    assert code.identity.gender == ("female" if female else "male")
    assert code.identity.full_name == " ".join(name.split())
    assert code.warnings == ()
    assert "ADDR#" not in repr(asdict(code.identity))


@settings(max_examples=300)
@given(
    number=st.from_regex(r"[0-9]{12}", fullmatch=True),
    mask=st.integers(min_value=1, max_value=12),
    year=st.integers(min_value=1900, max_value=2100),
    gender=st.sampled_from(["0", "1", "2", "x"]),
)
def test_generated_masked_national_qr(number, mask, year, gender):
    masked = "*" * mask + number[mask:]
    code = parse_code(f"{masked}|NGUYEN VAN A|{year}-**-**|0|QID|<{gender}<")
    assert code.kind == "national_qr"
    assert code.identity.id_number is None and code.identity.id_masked
    assert code.identity.birth_year == year
