"""4. Bad input: what the earlier fuzzing did not reach. Non-UTF-8 bytes into `beacon parse`,
arbitrary bytes into `visits import`, arbitrary check-in bodies, and hostile image uploads to
POST /api/v1/scan (too many bytes, too many pixels, truncated, not an image): always a clear
bilingual error, nothing stored, never a crash."""
from __future__ import annotations

import codecs
import io
import json
import struct
import zlib

import pytest
import segno
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests.conftest import T0
from tests.hardening.conftest import HARDENING, counts
from visits.models import Visit


@pytest.fixture
def client(screen):
    """Scans here come from the kiosk's own (paired) screen; it declares as a phone would."""
    return screen

GAEN = json.dumps({"address": "5E:11:22:33:44:55", "rssi": -60,
                   "service_uuids": ["fd6f"], "service_data": {"fd6f": "00" * 20}})


# --- BLE advertisement records: `beacon parse` on raw bytes -------------------------------------

def run_parse_bytes(runner, data: bytes):
    with runner.app.app_context():  # as under `flask`, which pushes one for every command
        result = runner.invoke(args=["beacon", "parse"], input=data)
    return result, [json.loads(line) for line in result.stdout.splitlines()]


def test_beacon_parse_reports_a_non_utf8_line_and_carries_on(runner):
    result, out = run_parse_bytes(runner, b'{"address": "\xff\xfe"}\n' + GAEN.encode() + b"\n\xc3\n")
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 1
    assert [o.get("error") for o in out] == ["not_utf8", None, "not_utf8"]
    assert out[0]["message_vi"] == "Dòng này không phải văn bản UTF-8."
    assert out[0]["message_en"] == "The line is not UTF-8 text."
    assert out[1]["protocol"] == "gaen" and out[1]["line"] == 2


@HARDENING
@given(st.lists(st.binary(max_size=120), max_size=6))
def test_beacon_parse_survives_any_bytes(runner, chunks):
    data = b"\n".join(chunks) + b"\n" + GAEN.encode() + b"\n"
    result, out = run_parse_bytes(runner, data)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code in (0, 1)
    assert out and out[-1].get("protocol") == "gaen"  # the good last line is still read
    for o in out:
        if "error" in o:
            assert o["message_vi"] and o["message_en"]


# --- CSV imports: `visits import` on raw bytes --------------------------------------------------

HEADER = b"venue_code,full_name,phone,id_number,checked_in_at,checked_out_at\n"
GOOD_ROW = ("HQ,Nguyễn Văn An,0912345678,001090012345,2026-03-10T08:00:00+07:00,"
            "2026-03-10T08:30:00+07:00\n").encode()


def _import(runner, tmp_path, data: bytes):
    path = tmp_path / "list.csv"
    path.write_bytes(data)
    return runner.invoke(args=["visits", "import", str(path)])


@pytest.mark.parametrize("data, says", [
    (codecs.BOM_UTF16_LE + (HEADER + GOOD_ROW).decode().encode("utf-16-le"), "CSV UTF-8"),
    (HEADER + "HQ,Trân Đưc,0912345678,001090012345,".encode("cp1258")
     + b"2026-03-10T08:00+07:00,\n", "CSV UTF-8"),
    (codecs.BOM_UTF8 + HEADER + b"HQ," + b"A" * 300_000 + b",0912345678,001090012345,"
     b"2026-03-10T08:00+07:00,\n", "CSV"),
    (HEADER + b"HQ,Nguy\x00n,0912345678,001090012345,2026-03-10T08:00+07:00,\n", "full_name"),
    (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "UTF-8"),
    (b"", ""),
], ids=["utf16", "cp1258", "huge-field", "nul", "binary", "empty"])
def test_bad_csv_files_are_refused_clearly_and_store_nothing(runner, session, venue, clock,
                                                             tmp_path, data, says):
    clock.set(T0.replace(hour=12))
    result = _import(runner, tmp_path, data)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert says in result.output
    assert counts(session) == (0, 0, 0)


def test_a_bom_and_a_good_file_still_import(runner, session, venue, clock, tmp_path):
    clock.set(T0.replace(hour=12))
    result = _import(runner, tmp_path, codecs.BOM_UTF8 + HEADER + GOOD_ROW)
    assert result.exit_code == 0, result.output
    assert counts(session) == (1, 0, 1)


@HARDENING
@given(prefix=st.sampled_from([b"", codecs.BOM_UTF8, HEADER, codecs.BOM_UTF8 + HEADER]),
       body=st.binary(max_size=400))
def test_visits_import_survives_any_bytes(runner, session, venue, tmp_path, prefix, body):
    result = _import(runner, tmp_path, prefix + body)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    if result.exit_code != 0:
        assert result.exit_code == 1 and result.output.strip()
        assert counts(session) == (0, 0, 0)


# --- check-in bodies: arbitrary JSON, payloads of every kind ------------------------------------

payloads = st.one_of(
    st.text(max_size=200),
    st.text(max_size=120).map(lambda t: "KB2." + t),
    st.text(max_size=120).map(lambda t: "KB1." + t),
    st.lists(st.text(alphabet=st.characters(blacklist_characters="|"), max_size=20),
             min_size=5, max_size=9).map("|".join),
    st.text(max_size=60).map(lambda t: "https://kiosk.test/v/HQ?k=" + t),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=3),
    max_leaves=8)


@HARDENING
@given(body=st.one_of(
    st.fixed_dictionaries({"venue_code": st.sampled_from(["HQ", "hq", "NOPE", ""]),
                           "payload": payloads}),
    st.dictionaries(st.sampled_from(["venue_code", "payload", "x"]), json_values, max_size=3),
    json_values))
def test_checkins_with_any_body_are_a_clear_4xx_and_store_nothing(client, session, venue, body):
    response = client.post("/api/v1/checkins", data=json.dumps(body),
                           content_type="application/json")
    assert response.status_code in (400, 422), response.get_json()
    answer = response.get_json()
    assert answer["code"] and answer["message_vi"] and answer["message_en"]
    assert counts(session) == (0, 0, 0)


# --- image uploads to POST /api/v1/scan ---------------------------------------------------------

def _qr_png(text: str = "KB2.hello") -> bytes:
    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="png", scale=8, border=4)
    return buffer.getvalue()


def _qr_jpeg(text: str = "KB2.hello") -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.open(io.BytesIO(_qr_png(text))).convert("L").save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _png_bomb(width: int, height: int) -> bytes:
    """A real, complete PNG of white pixels: a few hundred kB that unpack to width*height bytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    packer = zlib.compressobj(9)
    row = b"\x00" + b"\xff" * width
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data)
            + chunk(b"IEND", b""))


def _post(client, data: bytes):
    return client.post("/api/v1/scan", data={
        "venue_code": "HQ", "image": (io.BytesIO(data), "frame.png")})


def _visits(session) -> int:
    session.expire_all()
    return session.execute(select(func.count()).select_from(Visit)).scalar_one()


def assert_bilingual_refusal(response, status: int, code: str | None = None):
    assert response.status_code == status
    body = response.get_json()
    if code is not None:
        assert body["code"] == code
    assert body["message_vi"] and body["message_en"] and body["message_vi"] != body["message_en"]


@pytest.mark.parametrize("app_config", [{"MAX_CONTENT_LENGTH": 256 * 1024}])
def test_an_upload_beyond_the_size_limit_is_a_bilingual_413(client, session, venue, app_config):
    response = _post(client, _qr_png() + b"\x00" * (300 * 1024))
    assert_bilingual_refusal(response, 413)
    assert response.get_json()["message_vi"] == "Tệp tải lên quá lớn."
    assert _visits(session) == 0


@pytest.mark.parametrize("make, code", [
    (lambda: _qr_png()[: len(_qr_png()) // 2], "image_truncated"),
    (lambda: _qr_jpeg()[: len(_qr_jpeg()) // 2], "image_truncated"),
    (lambda: b"PK\x03\x04" + b"\x00" * 200, "not_an_image"),
    (lambda: "Xin chào, đây là văn bản".encode(), "not_an_image"),
    (lambda: b"", "empty_image"),
    (lambda: _png_bomb(9000, 9000), "image_too_large"),  # 81 MP: under Pillow's own guard
], ids=["png-truncated", "jpeg-truncated", "zip", "text", "empty", "png-bomb-81mp"])
def test_hostile_images_are_a_clear_bilingual_422(client, session, venue, make, code):
    response = _post(client, make())
    assert_bilingual_refusal(response, 422, code)
    assert set(response.get_json()["errors"]) == {"image"}
    assert _visits(session) == 0


@pytest.mark.parametrize("app_config", [{"IMAGE_MAX_PIXELS": 100_000}])
def test_the_pixel_limit_is_applied_before_decoding(client, session, venue, app_config):
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (400, 300), 255).save(buffer, format="PNG")  # 120 000 pixels
    assert_bilingual_refusal(_post(client, buffer.getvalue()), 422, "image_too_large")
    small = io.BytesIO()
    Image.new("L", (300, 300), 255).save(small, format="PNG")  # 90 000 pixels: decoded
    assert _post(client, small.getvalue()).get_json()["code"] == "no_code_found"


@HARDENING
@given(data=st.binary(max_size=2000))
def test_any_bytes_as_an_image_are_a_4xx(client, session, venue, data):
    response = _post(client, data)
    assert response.status_code == 422
    assert response.get_json()["message_en"]
    assert _visits(session) == 0
