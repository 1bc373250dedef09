"""Issue 15 point 6: after the retention purge nothing personal remains about someone whose every
visit is past retention, however recently their record was made (a paper list imported
yesterday brings visits from weeks ago). Checked by searching every column of every table."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import SQLModel

from tests.conftest import T0

# Someone on a paper sign-in list, and someone who declared on their phone.
PAPER = ("Lê Thị Hồng Nhung", "0901234567", "079190001234")
PHONE = ("Phạm Quốc Khánh", "0934567890", "001085004321")


def needles(person) -> list[str]:
    from declarations.identity import fold

    name, phone, id_number = person
    return [name, name.upper(), fold(name), phone, "+84" + phone[1:], id_number]


def everything_stored(session) -> str:
    """Every value of every row of every table, as text (JSON columns included)."""
    session.expire_all()
    parts = []
    for table in SQLModel.metadata.sorted_tables:
        for row in session.execute(sa.select(table)).all():
            parts.extend(str(value) for value in row)
    return "\n".join(parts)


def test_purge_removes_people_whose_visits_are_all_past_retention(app, session, runner, clock,
                                                                  make_venue, tmp_path):
    make_venue(code="HQ", name="Trụ sở chính")
    client = app.test_client()
    body = {"venue_code": "HQ", "lang": "vi", "full_name": PHONE[0], "birth_year": 1985,
            "gender": "male", "nationality": "VN", "id_number": PHONE[2], "phone": PHONE[1],
            "province_code": "01", "ward_code": "00004", "street_address": "Số 5 Hàng Bài",
            "travel_14d": False, "symptoms": [], "exposures": [],
            "consent_processing": True, "consent_sensitive_health": True}
    assert client.post("/api/v1/declarations", json=body).status_code == 201
    # Twenty days later the paper list of that very first day is typed in and imported.
    visited = (T0 + timedelta(hours=1)).isoformat()
    left = (T0 + timedelta(hours=2)).isoformat()
    sheet = tmp_path / "so-ky.csv"
    sheet.write_text("venue_code,full_name,phone,id_number,checked_in_at,checked_out_at\n"
                     f"HQ,{PAPER[0]},{PAPER[1]},{PAPER[2]},{visited},{left}\n", encoding="utf-8")
    clock.advance(days=20)
    imported = runner.invoke(args=["visits", "import", str(sheet)])
    assert imported.exit_code == 0, imported.output
    stored = everything_stored(session)
    assert all(n in stored for n in (PAPER[0], "+84" + PAPER[1][1:], PAPER[2]))  # the search works

    clock.advance(days=2)  # every visit of both people is now past the 21 days kept
    purged = runner.invoke(args=["purge"])
    assert purged.exit_code == 0, purged.output
    stored = everything_stored(session)
    for person in (PAPER, PHONE):
        for needle in needles(person):
            assert needle not in stored, f"{needle!r} is still stored after the purge"
    # The days are kept as counts.
    assert session.execute(sa.text("SELECT SUM(visits) FROM daily_venue_stat")).scalar_one() == 2
