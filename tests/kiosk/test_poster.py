"""The venue poster: A4, the venue's signed link as a QR of at least 15 × 15 cm that decodes,
Vietnamese instructions with correct diacritics; admin page and CLI."""
from __future__ import annotations

import io
import unicodedata

import pytest
import zxingcpp
from PIL import ImageOps
from pypdf import PdfReader

from declarations.venue_links import build_venue_url, verify_venue_signature
from kiosk.poster import PosterVenue, render_poster

MM_PER_PT = 25.4 / 72


def text_of(pdf: bytes) -> str:
    return unicodedata.normalize("NFC", PdfReader(io.BytesIO(pdf)).pages[0].extract_text())


def qr_placements(page) -> list[tuple[float, float]]:
    """(width, height) in mm of every image drawn on the page (the `cm` before each `Do`)."""
    from pypdf.generic import ContentStream

    sizes, matrix = [], None
    for operands, operator in ContentStream(page.get_contents(), page.pdf).operations:
        if operator == b"cm":
            matrix = [float(x) for x in operands]
        elif operator == b"Do" and matrix is not None:
            sizes.append((matrix[0] * MM_PER_PT, matrix[3] * MM_PER_PT))
    return sizes


def decode_embedded_qr(pdf: bytes) -> list[str]:
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    [image] = page.images
    # Paper around the symbol is the quiet zone; give the decoder the same.
    picture = ImageOps.expand(image.image.convert("L"), border=80, fill=255)
    return [result.text for result in zxingcpp.read_barcodes(picture)]


def test_poster_is_a4_with_a_large_qr_and_vietnamese_text():
    url = "https://khaibao.example.vn/v/HQ?k=AbCdEfGhIjKlMnOp"
    pdf = render_poster(PosterVenue("HQ", "Trụ sở chính — Sở Y tế", "Số 1 Tràng Tiền, Hà Nội",
                                    url))
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (round(float(box.width) * MM_PER_PT), round(float(box.height) * MM_PER_PT)) == (210, 297)
    text = text_of(pdf)
    for expected in ("KHAI BÁO Y TẾ", "Trụ sở chính — Sở Y tế", "Số 1 Tràng Tiền, Hà Nội",
                     "Quét mã QR này bằng camera điện thoại, điền tờ khai y tế và bấm Gửi.",
                     "đưa mã QR cá nhân hoặc thẻ CCCD vào camera của kiosk",
                     "Hãy cài ứng dụng truy vết tiếp xúc (Bluezone / PC-Covid) và bật Bluetooth.",
                     "Scan this QR code with your phone's camera", url):
        assert expected in " ".join(text.split()), expected
    [(width, height)] = qr_placements(reader.pages[0])
    assert width >= 150 and height >= 150
    assert decode_embedded_qr(pdf) == [url]


@pytest.fixture
def app_config():
    return {"VENUE": "HQ", "PUBLIC_URL": "https://khaibao.example.vn"}


def test_admin_downloads_the_poster_of_a_venue(app, client, make_user, login, venue):
    login(make_user("admin"))
    assert "/kiosk/venues/HQ/poster.pdf" in client.get("/admin/venues").get_data(as_text=True)
    response = client.get("/kiosk/venues/HQ/poster.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert 'filename="poster-HQ.pdf"' in response.headers["Content-Disposition"]
    [url] = decode_embedded_qr(response.data)
    assert url == build_venue_url("https://khaibao.example.vn", "HQ", app.config["SECRET_KEY"])
    assert verify_venue_signature("HQ", url.split("k=")[1], app.config["SECRET_KEY"])
    assert client.get("/kiosk/venues/NOPE/poster.pdf").status_code == 404


def test_only_admins_print_posters(client, make_user, login, venue):
    assert client.get("/kiosk/venues/HQ/poster.pdf").status_code == 302
    login(make_user("receptionist"))
    assert client.get("/kiosk/venues/HQ/poster.pdf").status_code == 403


def test_poster_from_the_command_line(runner, venue, tmp_path):
    out = tmp_path / "poster.pdf"
    result = runner.invoke(args=["venue", "poster", "--code", "hq", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "KHAI BÁO Y TẾ" in text_of(out.read_bytes())
    assert decode_embedded_qr(out.read_bytes())[0].startswith("https://khaibao.example.vn/v/HQ?k=")
    result = runner.invoke(args=["venue", "poster", "--code", "NOPE", "-o", str(out)])
    assert result.exit_code != 0 and "no venue NOPE" in result.output


@pytest.mark.parametrize("public_url", [None, "http://127.0.0.1:5000", "http://localhost"])
def test_no_dead_venue_qr_anywhere_without_a_public_address(app, client, make_venue, make_user,
                                                            login, public_url):
    """Without KIOSK_PUBLIC_URL (or with one on this machine) phones cannot open the venue QR:
    the door shows none, the QR image and the poster are refused, the desk, the admin page and
    /healthz say why, as the CLI poster does."""
    app.config.update(PUBLIC_URL=public_url, VENUE="HQ")
    make_venue(code="HQ", name="Trụ sở")
    door = client.get("/kiosk").get_data(as_text=True)
    assert 'class="venue-qr"' not in door and "/kiosk/venue-qr.svg" not in door
    assert "Vui lòng khai báo tại quầy lễ tân." in door
    assert "127.0.0.1" not in door and "KIOSK_PUBLIC_URL" not in door  # nothing technical
    assert client.get("/kiosk/venue-qr.svg").status_code == 404
    assert client.get("/healthz").get_json()["components"]["public_url"].startswith("warning: ")

    login(make_user("admin", username="quantri"))
    admin = client.get("/admin/venues").get_data(as_text=True)
    assert 'id="public-url-warning"' in admin and "KIOSK_PUBLIC_URL" in admin
    assert "/kiosk/venues/HQ/poster.pdf" not in admin
    refused = client.get("/kiosk/venues/HQ/poster.pdf")
    assert refused.status_code == 409 and refused.mimetype == "text/html"
    assert "KIOSK_PUBLIC_URL" in refused.get_data(as_text=True)
    desk = client.get("/kiosk/desk").get_data(as_text=True)
    assert 'id="public-url-warning"' in desk


def test_with_a_public_address_the_venue_qr_and_poster_are_there(app, client, make_venue,
                                                                  make_user, login):
    app.config.update(PUBLIC_URL="https://kiosk.example.vn", VENUE="HQ")
    make_venue(code="HQ", name="Trụ sở")
    door = client.get("/kiosk").get_data(as_text=True)
    assert "/kiosk/venue-qr.svg" in door
    assert client.get("/kiosk/venue-qr.svg").status_code == 200
    login(make_user("admin", username="quantri"))
    assert 'id="public-url-warning"' not in client.get("/admin/venues").get_data(as_text=True)
    assert 'id="public-url-warning"' not in client.get("/kiosk/desk").get_data(as_text=True)
    assert client.get("/kiosk/venues/HQ/poster.pdf").mimetype == "application/pdf"
