"""Real Chromium: a tracer finds the index case by an accent-free name, picks the visits, sees the
ranked contacts and downloads the CSV."""
from __future__ import annotations

import pytest

from tests.tracing.conftest import EXPECTED_CONTACTS

pytestmark = pytest.mark.browser


def test_tracer_finds_contacts_and_downloads_csv(live_server, page, scenario, make_user,
                                                 tmp_path):
    make_user("tracer", username="thu", display_name="Lê Thu")
    page.goto(live_server.url + "/login?next=/tracing/")
    page.get_by_label("Tên đăng nhập").fill("thu")
    page.get_by_label("Mật khẩu").fill("correct horse battery")
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(live_server.url + "/tracing/")

    page.get_by_label("Số điện thoại, số giấy tờ hoặc họ tên").fill("nguyen van an")
    page.get_by_label("Lượt vào từ ngày").fill("2026-03-10")
    page.get_by_label("Đến hết ngày").fill("2026-03-12")
    page.get_by_role("button", name="Tìm", exact=True).click()
    page.get_by_text("Tìm thấy 2 người").wait_for()

    # Two people fold to "nguyen van an": the tracer ticks only the index case's two visits.
    page.get_by_label("Lượt vào BVHK lúc 23:00 10/03/2026").first.check()
    page.get_by_label("Lượt vào UBND lúc 08:00 12/03/2026").check()
    page.get_by_role("button", name="Tìm người tiếp xúc").click()
    page.wait_for_url("**/tracing/contacts?**")

    rows = page.locator("#contacts tbody tr")
    assert rows.count() == len(EXPECTED_CONTACTS)
    names = [rows.nth(i).locator("td").nth(1).inner_text() for i in range(rows.count())]
    assert names == [c[0] for c in EXPECTED_CONTACTS]
    assert rows.nth(0).locator("td").nth(8).inner_text() == "100,0"  # a decimal comma
    assert page.locator("#devices tbody tr").count() == 3

    with page.expect_download() as info:
        page.get_by_role("link", name="CSV").click()
    download = info.value
    assert download.suggested_filename.startswith("tiep-xuc_BVHK-UBND_")
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    data = target.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    for name, *_ in EXPECTED_CONTACTS:
        assert name in text


def test_the_import_page_shows_vietnamese_in_its_monospace_font(live_server, page, make_user):
    """The sample row is monospace: the bundled font (no CDN) has every Vietnamese letter, so
    'Liễu' is drawn in it, not patched from another font or shown as a box."""
    from tests.support.pages import horizontal_overflow, sign_in, untranslated

    make_user("tracer", username="thu")
    sign_in(page, live_server.url, "thu", then="/tracing/import")
    sample = page.locator("pre.sample")
    assert "Trần Thị Liễu" in sample.inner_text()
    assert sample.evaluate("el => getComputedStyle(el).fontFamily").startswith('"KhaiBao Mono"')
    page.wait_for_function("""() => document.fonts.ready.then(() =>
        [...document.fonts].some(f => f.family.replace(/"/g, '') === 'KhaiBao Mono'
                                      && f.status === 'loaded'))""")
    assert horizontal_overflow(page) == 0
    assert untranslated(page) == []


def test_the_bundled_monospace_font_has_every_vietnamese_letter():
    import unicodedata
    from pathlib import Path

    from fontTools.ttLib import TTFont

    root = Path(__file__).resolve().parents[2]
    font = TTFont(root / "static" / "fonts" / "NotoSansMono-Vietnamese.ttf")
    cmap = font.getBestCmap()
    vowels, consonants = "aăâeêioôơuưy", "bcdđghklmnpqrstvx"
    marks = ("", "\u0300", "\u0301", "\u0303", "\u0309", "\u0323")  # huyền sắc ngã hỏi nặng
    wanted = {unicodedata.normalize("NFC", base + mark)
              for letter in vowels for base in (letter, letter.upper()) for mark in marks}
    wanted |= set(consonants + consonants.upper())
    missing = sorted(ch for ch in wanted if len(ch) == 1 and ord(ch) not in cmap)
    assert missing == []
    assert "ễ" in wanted and ord("ễ") in cmap
