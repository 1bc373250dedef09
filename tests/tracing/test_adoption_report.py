"""The adoption report as administrators and scripts get it (`report adoption` and the admin page
with its server-drawn chart, no script), and the service behind them on the database."""
from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta
from types import MappingProxyType

import pytest
from sqlmodel import select

from ble_beacon.aggregation import Encounter as Sighting
from ble_beacon.models import Encounter
from ble_beacon.services import record_encounters
from core.models import Kiosk
from tests.conftest import T0
from tracing import adoption, counts
from tracing.adoption import ReportError
from tracing.models import DailyVenueStat


@pytest.fixture
def scenario(session, make_venue, make_visitor, make_visit):
    """DEMO on 10 March: 4 visitors, 1 with a detected phone; 11 March: 1 of 1."""
    demo = make_venue(code="DEMO", name="Trụ sở UBND phường Tràng Tiền", unit="UBND phường")
    day1 = datetime.fromisoformat("2026-03-10T08:00:00+07:00")
    people = [make_visitor(full_name=f"Khách {i}", phone_e164=f"+8491234567{i}") for i in range(4)]
    visits = [make_visit(visitor=p, venue=demo, checked_in_at=day1 + timedelta(minutes=i))
              for i, p in enumerate(people)]
    visits.append(make_visit(visitor=people[0], venue=demo,
                             checked_in_at=day1 + timedelta(days=1)))
    for n, visit in enumerate((visits[0], visits[4])):
        session.add(Encounter(venue_id=demo.id, protocol="bluezone", rolling_id=f"{n:024x}",
                              first_seen_at=visit.checked_in_at, last_seen_at=visit.checked_in_at,
                              count=3, rssi_min=-70, rssi_max=-60, rssi_mean=-65.0,
                              proximity="near", visit_id=visit.id))
    session.commit()
    return demo


def test_report_adoption_json(runner, scenario):
    """Without --by and --period: the venue × day shape scripts already read."""
    result = runner.invoke(args=["report", "adoption", "--since", "2026-03-10",
                                 "--until", "2026-03-11T23:00:00+07:00", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["since"], data["until"]) == ("2026-03-10", "2026-03-11")
    got = [(r["day"], r["visitors"], r["visitors_with_app"], r["share"]) for r in data["rows"]]
    assert got == [("2026-03-10", 4, 1, 0.25), ("2026-03-11", 1, 1, 1.0)]
    assert data["rows"][0]["venue_name"] == "Trụ sở UBND phường Tràng Tiền"


def test_report_adoption_csv_to_a_file_opens_in_spreadsheets(runner, scenario, tmp_path):
    out = tmp_path / "adoption.csv"
    result = runner.invoke(args=["report", "adoption", "--since", "2026-03-10", "--until",
                                 "2026-03-10", "--format", "csv", "-o", str(out)])
    assert result.exit_code == 0, result.output
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # byte-order mark: Excel reads Vietnamese right
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == list(adoption.CSV_HEADER)
    assert rows[1] == ["DEMO", "Trụ sở UBND phường Tràng Tiền", "UBND phường", "2026-03-10",
                       "4", "4", "1", "0.25"]


@pytest.mark.parametrize(("args", "vietnamese", "english"), [
    (["--since", "10/03/2026", "--until", "2026-03-11"], "Hãy nhập ngày", "YYYY-MM-DD"),
    (["--since", "2026-03-10T08:00:00", "--until", "2026-03-11"], "độ lệch UTC", "UTC offset"),
    (["--since", "2026-03-12", "--until", "2026-03-11"], "Ngày kết thúc", "before its start"),
    (["--since", "2026-03-10", "--until", "2026-03-11", "--venue", "NOPE"],
     "Không có địa điểm", "No venue"),
])
def test_report_adoption_refuses_bad_input_in_both_languages(runner, scenario, args, vietnamese,
                                                              english):
    result = runner.invoke(args=["report", "adoption", *args])
    assert result.exit_code == 2
    assert vietnamese in result.output and english in result.output
    assert "Traceback" not in result.output


def test_beacon_parse_under_the_app_explains_in_both_languages(app, runner):
    with app.app_context():  # what `flask --app app` does for every command of the app
        result = runner.invoke(args=["beacon", "parse"], input="{oops\n")
    assert result.exit_code == 1
    (line,) = [json.loads(x) for x in result.stdout.splitlines()]
    assert line["error"] == "invalid_json"
    assert line["message_vi"] == "Dòng này không phải JSON hợp lệ."
    assert line["message_en"] == "The line is not valid JSON."
    assert line["message"] == line["message_vi"]  # the kiosk's default language


def test_chart_geometry():
    days = [(date(2026, 3, 10), 4, 1), (date(2026, 3, 11), 0, 0), (date(2026, 3, 12), 2, 2)]
    chart = adoption.chart(days, width=300, height=140)
    full = chart.plot_bottom - chart.plot_top
    assert [b.share for b in chart.bars] == [0.25, None, 1.0]
    assert [b.height for b in chart.bars] == [full * 0.25, 0, full]
    assert chart.bars[2].y == chart.plot_top
    assert chart.bars[0].x < chart.bars[1].x < chart.bars[2].x


def test_daily_totals_fill_every_day_of_the_range():
    row = adoption.AdoptionRow("A", "A", None, date(2026, 3, 11), 3, 2, 1)
    totals = adoption.daily_totals([row, row], date(2026, 3, 10), date(2026, 3, 12))
    assert totals == [(date(2026, 3, 10), 0, 0), (date(2026, 3, 11), 4, 2),
                      (date(2026, 3, 12), 0, 0)]


# --- The admin page ------------------------------------------------------------------------------
@pytest.fixture
def admin(make_user, login):
    user = make_user(role="admin")
    login(user)
    return user


def test_admin_page_shows_the_table_and_an_svg_chart(client, scenario, admin):
    page = client.get("/admin/adoption?since=2026-03-10&until=2026-03-16")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Tỷ lệ sử dụng ứng dụng" in html  # Vietnamese by default
    assert ("1 trên 4 người (25,0 %) dùng ứng dụng: 0 người tự khai, kiosk phát hiện 1 người."
            in html)
    assert html.count('<rect class="bar') == 7  # one bar per day of the range
    assert html.count('<rect class="bar empty"') == 5
    assert "<script" not in html
    assert "25,0 %" in html and "2026-03-10" in html


def test_admin_page_defaults_to_the_last_two_weeks_in_english(client, scenario, admin, clock):
    client.get("/lang/en")
    html = client.get("/admin/adoption").get_data(as_text=True)
    assert "App adoption" in html
    until = adoption.local_day(T0)
    assert f'value="{(until - timedelta(days=13)).isoformat()}"' in html
    assert html.count('<rect class="bar') == 14


def test_admin_page_refuses_a_bad_range_with_a_message(client, scenario, admin):
    page = client.get("/admin/adoption?since=2026-03-12&until=2026-03-01")
    assert page.status_code == 400
    assert "Ngày kết thúc đứng trước ngày bắt đầu." in page.get_data(as_text=True)


def test_admin_page_csv_download(client, scenario, admin):
    response = client.get("/admin/adoption.csv?since=2026-03-10&until=2026-03-11&venue=demo")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff") and "DEMO,Trụ sở UBND phường Tràng Tiền" in text
    assert text.splitlines()[0].lstrip("\ufeff").startswith("Kỳ,Mã đơn vị,Đơn vị,Số người")


def test_admin_page_is_for_administrators_only(client, scenario, make_user, login):
    assert client.get("/admin/adoption").status_code in (302, 401)
    login(make_user(role="receptionist"))
    assert client.get("/admin/adoption").status_code == 403


# --- the service, on the database ------------------------------------------------------------

@pytest.fixture
def venue(make_venue):
    return make_venue(code="DEMO", name="Trụ sở UBND phường", unit="UBND phường Tràng Tiền")


@pytest.fixture
def kiosk(session, venue):
    device = Kiosk(venue_id=venue.id, name="entrance-1", created_at=T0)
    session.add(device)
    session.commit()
    return device


@pytest.fixture
def heard(session, venue, kiosk):
    """Put encounters in the database as the scanner would have written them."""

    def put(rolling_id, *, first):
        record_encounters(session=session, venue_id=venue.id, kiosk_id=kiosk.id, encounters=[
            Sighting(protocol="bluezone", rolling_id=rolling_id, key_type="rolling_id",
                     first_seen_at=first, last_seen_at=first, count=1, rssi_min=-80,
                     rssi_max=-70, rssi_mean=-75.0, proximity="near", closed=False,
                     details=MappingProxyType({}))])
        return session.exec(select(Encounter).where(Encounter.rolling_id == rolling_id)).one()

    return put


def test_adoption_per_venue_and_local_day(session, make_venue, make_visitor, make_visit, venue,
                                          kiosk, heard):
    other = make_venue(code="SCHOOL", name="Trường THCS", unit="Phòng GD")
    an = make_visitor()
    binh = make_visitor(full_name="Trần Thị Bình", phone_e164="+84987654321")
    cuong = make_visitor(full_name="Lê Văn Cường", phone_e164="+84911111111")
    day1 = datetime.fromisoformat("2026-03-10T08:00:00+07:00")
    # 23:30 on 10 March in Hà Nội is still 10 March there (16:30 UTC).
    late = datetime.fromisoformat("2026-03-10T23:30:00+07:00")
    day2 = datetime.fromisoformat("2026-03-11T00:30:00+07:00")
    v1 = make_visit(visitor=an, venue=venue, checked_in_at=day1)
    make_visit(visitor=an, venue=venue, checked_in_at=late)  # same person, same day: once
    make_visit(visitor=binh, venue=venue, checked_in_at=late)
    v4 = make_visit(visitor=cuong, venue=venue, checked_in_at=day2)
    make_visit(visitor=binh, venue=other, checked_in_at=day1)
    for visit, rolling in ((v1, "a1" * 12), (v4, "a2" * 12)):
        enc = heard(rolling, first=visit.checked_in_at)
        enc.visit_id = visit.id
        session.add(enc)
    session.commit()

    report = counts.adoption_report(session=session, since=date(2026, 3, 10),
                                      until=date(2026, 3, 11))
    got = [(r.venue_code, r.day.isoformat(), r.visits, r.visitors, r.visitors_with_app)
           for r in report.rows]
    assert got == [
        ("DEMO", "2026-03-10", 3, 2, 1),
        ("DEMO", "2026-03-11", 1, 1, 1),
        ("SCHOOL", "2026-03-10", 1, 1, 0),
    ]
    assert report.rows[0].share == 0.5 and report.rows[0].unit == "UBND phường Tràng Tiền"
    only_school = counts.adoption_report(session=session, since=date(2026, 3, 10),
                                           until=date(2026, 3, 10), venue_codes=["school"])
    assert [r.venue_code for r in only_school.rows] == ["SCHOOL"]
    assert [t[1:] for t in report.daily_totals()] == [(3, 1), (1, 1)]


def test_purged_days_keep_their_counts(session, venue):
    session.add(DailyVenueStat(venue_id=venue.id, day=date(2026, 2, 1), visits=40, visitors=30,
                               visitors_with_app=12, encounters=55, computed_at=T0))
    session.commit()
    report = counts.adoption_report(session=session, since=date(2026, 2, 1),
                                      until=date(2026, 2, 1))
    (row,) = report.rows
    assert (row.visitors, row.visitors_with_app, row.share) == (30, 12, 0.4)


@pytest.mark.parametrize(("since", "until", "code"), [
    (date(2026, 3, 2), date(2026, 3, 1), "until_before_since"),
    (date(2025, 1, 1), date(2026, 3, 1), "range_too_long"),
])
def test_bad_ranges_are_refused(session, since, until, code):
    with pytest.raises(ReportError) as caught:
        counts.adoption_report(session=session, since=since, until=until)
    assert caught.value.code == code


def test_unknown_venue_is_refused(session, venue):
    with pytest.raises(ReportError) as caught:
        counts.adoption_report(session=session, since=date(2026, 3, 1),
                                 until=date(2026, 3, 1), venue_codes=["NOPE"])
    assert caught.value.code == "unknown_venue"
