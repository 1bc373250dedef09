"""The adoption report by administrative unit and period reproduces a table computed by hand,
in JSON, CSV, XLSX, PDF and on the admin page, with the declared and the detected app users
apart and together, period totals and a grand total, and app users per 1,000 people once unit
populations are imported."""
from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlmodel import select

from ble_beacon.models import Encounter
from tests.conftest import T0  # noqa: F401  (the clock fixture starts there)
from tracing.models import UnitPopulation

# Visitors: A (home Ba Đình, Hà Nội) said Bluezone; B (home Hoàn Kiếm) said none; C (home Thủ
# Dầu Một, TP HCM) was never asked (an older API caller); D (home Ba Đình) said VNeID, PC-Covid.
# Venues: HK in phường Hoàn Kiếm and CN in phường Cửa Nam (Hà Nội, 01), TD in phường Thủ Dầu
# Một (TP Hồ Chí Minh, 79).
VISITS = [  # (visitor, venue, local check-in, phone heard)
    ("A", "HK", "2026-03-10T08:00", False),
    ("B", "HK", "2026-03-10T09:00", True),
    ("C", "CN", "2026-03-10T10:00", False),
    ("A", "CN", "2026-03-11T08:00", False),
    ("D", "TD", "2026-03-16T08:00", True),
    ("C", "HK", "2026-03-16T09:00", True),
    ("B", "HK", "2026-03-17T09:00", False),
]

# By hand. Week 2026-W11 (9–15 March): CN had C and A (A said so); HK had A (said) and B (heard):
# 3 people, A said, B heard. Week W12: HK had C (heard) and B; TD had D (said and heard).
VENUE_WEEK = [  # period, unit, people, declared, detected, app users, share %
    ("2026-W11", "CN", 2, 1, 0, 1, 50.0),
    ("2026-W11", "HK", 2, 1, 1, 2, 100.0),
    ("2026-W11", "*", 3, 1, 1, 2, 66.7),
    ("2026-W12", "HK", 2, 0, 1, 1, 50.0),
    ("2026-W12", "TD", 1, 1, 1, 1, 100.0),
    ("2026-W12", "*", 3, 1, 2, 2, 66.7),
    ("", "*", 4, 2, 3, 4, 100.0),
]
# By the venue's province and month, populations 01: 1,000 and 79: 500 imported.
PROVINCE_MONTH = [  # period, unit, people, declared, detected, users, share %, population, ‰
    ("2026-03", "01", 3, 1, 2, 3, 100.0, 1000, 3.0),
    ("2026-03", "79", 1, 1, 1, 1, 100.0, 500, 2.0),
    ("2026-03", "*", 4, 2, 3, 4, 100.0, 1500, 2.7),
    ("", "*", 4, 2, 3, 4, 100.0, 1500, 2.7),
]
# By the visitors' own ward and day, 10 March only: Ba Đình (A said), Hoàn Kiếm (B heard), Thủ
# Dầu Một (C neither).
HOME_WARD_DAY = [
    ("2026-03-10", "00004", 1, 1, 0, 1, 100.0),
    ("2026-03-10", "00070", 1, 0, 1, 1, 100.0),
    ("2026-03-10", "25747", 1, 0, 0, 0, 0.0),
    ("2026-03-10", "*", 3, 1, 1, 2, 66.7),
    ("", "*", 3, 1, 1, 2, 66.7),
]


@pytest.fixture
def scenario(session, clock, make_venue, make_visitor, make_visit):
    from declarations.models import Declaration

    venues = {"HK": make_venue(code="HK", name="UBND phường Hoàn Kiếm", ward_code="00070"),
              "CN": make_venue(code="CN", name="UBND phường Cửa Nam", ward_code="00073"),
              "TD": make_venue(code="TD", name="UBND phường Thủ Dầu Một", ward_code="25747")}
    homes = {"A": ("01", "00004", ["bluezone"]), "B": ("01", "00070", ["none"]),
             "C": ("79", "25747", None), "D": ("01", "00004", ["vneid", "pc_covid"])}
    people, declarations = {}, {}
    for n, (key, (province, ward, apps)) in enumerate(homes.items()):
        people[key] = make_visitor(full_name=f"Khách {key}", phone_e164=f"+8491234567{n}",
                                   id_number=f"00109001234{n}", province_code=province,
                                   ward_code=ward)
        declaration = Declaration(
            visitor_id=people[key].id, submitted_at=clock.now(), source="phone_form",
            travel_14d=False, symptoms=[], exposures=[], tracing_apps=apps, status="clear",
            rules_version="default-1", consent_processing=True, consent_sensitive_health=True,
            consent_text_version="test", consent_at=clock.now())
        session.add(declaration)
        session.commit()
        declarations[key] = declaration
    for n, (who, where, at, heard) in enumerate(VISITS):
        checked_in_at = datetime.fromisoformat(at + ":00+07:00")
        visit = make_visit(visitor=people[who], venue=venues[where], checked_in_at=checked_in_at,
                           declaration_id=declarations[who].id)
        if heard:
            session.add(Encounter(venue_id=venues[where].id, protocol="bluezone",
                                  rolling_id=f"{n:024x}", first_seen_at=checked_in_at,
                                  last_seen_at=checked_in_at, count=3, rssi_min=-70,
                                  rssi_max=-60, rssi_mean=-65.0, proximity="near",
                                  visit_id=visit.id))
    session.commit()
    return venues


def _from_json(rows, population=False):
    out = []
    for r in rows:
        unit = r["unit_code"]
        line = (r["period"], unit, r["people"], r["declared"], r["detected"], r["app_users"],
                round(100 * r["share"], 1) if r["share"] is not None else None)
        if population:
            line += (r["population"], round(1000 * r["per_population"], 1))
        out.append(line)
    return out


def _report(runner, *args):
    result = runner.invoke(args=["report", "adoption", "--since", "2026-03-09",
                                 "--until", "2026-03-22", *args])
    assert result.exit_code == 0, result.output
    return result


def _import_populations(client, admin, login):
    login(admin)
    response = client.post("/admin/adoption/populations", data={
        "file": (io.BytesIO("mã đơn vị,dân số\n01,1000\n79,500\n".encode()), "dan-so.csv")},
        content_type="multipart/form-data")
    assert response.status_code == 302


@pytest.fixture
def admin(make_user):
    return make_user("admin")


def test_json_by_venue_and_week_and_by_home_ward_and_day(runner, scenario):
    body = json.loads(_report(runner, "--by", "venue", "--period", "week").output)
    assert (body["by"], body["period"]) == ("venue", "week")
    assert _from_json(body["rows"]) == VENUE_WEEK
    body = json.loads(runner.invoke(args=[
        "report", "adoption", "--since", "2026-03-10", "--until", "2026-03-10",
        "--by", "home-ward", "--period", "day"]).output)
    assert _from_json(body["rows"]) == HOME_WARD_DAY
    assert body["rows"][0]["unit_name"] == "Phường Ba Đình"


def test_every_format_with_populations(runner, client, scenario, admin, login, session,
                                       tmp_path):
    _import_populations(client, admin, login)
    assert {p.code: p.population for p in session.exec(select(UnitPopulation))} == {
        "01": 1000, "79": 500}
    args = ("--by", "province", "--period", "month")
    body = json.loads(_report(runner, *args).output)
    assert _from_json(body["rows"], population=True) == PROVINCE_MONTH

    expected_cells = [
        ("2026-03", "01", "Thành phố Hà Nội", 3, 1, 2, 3, 100, 1000, 3),
        ("2026-03", "79", "Thành phố Hồ Chí Minh", 1, 1, 1, 1, 100, 500, 2),
        ("2026-03", "", "Tổng", 4, 2, 3, 4, 100, 1500, 2.7),
        ("Cả kỳ", "", "Tổng cả kỳ", 4, 2, 3, 4, 100, 1500, 2.7),
    ]
    header = ["Kỳ", "Mã đơn vị", "Đơn vị", "Số người", "Tự khai có ứng dụng",
              "Máy quét phát hiện", "Dùng ứng dụng", "Tỷ lệ (%)", "Dân số",
              "Dùng ứng dụng / 1.000 dân"]

    csv_path = tmp_path / "r.csv"
    _report(runner, *args, "--format", "csv", "-o", str(csv_path))
    raw = csv_path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert table[0] == header
    as_text = [tuple(str(c) for c in row) for row in expected_cells]
    as_text = [tuple(c if c != "" else "" for c in row) for row in as_text]
    # Codes of digits stay text in spreadsheets (="01"), numbers as written.
    assert table[1:] == [[c if i != 1 or not c else f'="{c}"' for i, c in enumerate(row)]
                         for row in as_text]

    xlsx_path = tmp_path / "r.xlsx"
    _report(runner, *args, "--format", "xlsx", "-o", str(xlsx_path))
    sheet = load_workbook(xlsx_path, read_only=True).worksheets[0]
    values = [tuple("" if v is None else v for v in row) for row in sheet.iter_rows(values_only=True)]
    assert list(values[0]) == header
    assert values[1:] == expected_cells

    pdf_path = tmp_path / "r.pdf"
    _report(runner, *args, "--format", "pdf", "-o", str(pdf_path))
    text = " ".join(page.extract_text() for page in PdfReader(pdf_path).pages)
    text = re.sub(r"\s+", " ", text)
    assert "Báo cáo tỷ lệ dùng ứng dụng truy vết" in text
    for cells in expected_cells:
        line = " ".join(str(c).replace(".", ",") for c in cells if c != "")
        assert line in text, line

    page = client.get("/admin/adoption?since=2026-03-09&until=2026-03-22&by=province"
                      "&period=month").get_data(as_text=True)
    rows = re.findall(r"<tr class=\"(?:total)?\">(.*?)</tr>", page, re.S)
    cells = [re.sub(r"<[^>]+>", "", " ".join(re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)))
             for r in rows]
    cells = [re.sub(r"\s+", " ", c).strip() for c in cells]
    assert cells == [
        "2026-03 Thành phố Hà Nội 3 1 2 3 100,0 % 1000 3,0",
        "2026-03 Thành phố Hồ Chí Minh 1 1 1 1 100,0 % 500 2,0",
        "2026-03 Tổng 4 2 3 4 100,0 % 1500 2,7",
        "Cả kỳ Tổng 4 2 3 4 100,0 % 1500 2,7",
    ]
    for fmt, mimetype in (("csv", "text/csv"), ("xlsx", "spreadsheetml"), ("pdf", "pdf"),
                          ("json", "json")):
        response = client.get(f"/admin/adoption.{fmt}?since=2026-03-09&until=2026-03-22"
                              "&by=province&period=month")
        assert response.status_code == 200 and mimetype in response.mimetype
    assert json.loads(client.get("/admin/adoption.json?since=2026-03-09&until=2026-03-22&by="
                                 "venue&period=week").data)["rows"][0]["unit_code"] == "CN"


def test_the_page_draws_a_chart_without_script(client, scenario, admin, login):
    login(admin)
    page = client.get("/admin/adoption?since=2026-03-09&until=2026-03-22&by=venue"
                      "&period=week").get_data(as_text=True)
    svg = page[page.index("<svg"):page.index("</svg>")]
    assert svg.count('<rect class="bar') == 2  # one bar per week
    assert "67" in svg and "<script" not in page.split("</main>")[0]


def test_a_bad_populations_file_is_refused_whole_with_line_numbers(client, scenario, admin,
                                                                  login, session):
    login(admin)
    response = client.post("/admin/adoption/populations", data={
        "file": (io.BytesIO(b"01,1000\n99999,5\n79,many\n"), "p.csv")},
        content_type="multipart/form-data")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Dòng 2" in page and "Dòng 3" in page
    assert session.exec(select(UnitPopulation)).all() == []


@pytest.mark.parametrize("args, vietnamese", [
    (("--by", "district"), None),
    (("--period", "year"), None),
])
def test_bad_groupings_are_refused(runner, scenario, args, vietnamese):
    result = runner.invoke(args=["report", "adoption", "--since", "2026-03-09",
                                 "--until", "2026-03-22", *args])
    assert result.exit_code != 0
