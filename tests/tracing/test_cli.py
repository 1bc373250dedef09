"""The tracing CLI as DESIGN.md documents it: trace contacts, export visits, purge."""
from __future__ import annotations

import csv
import hashlib
import io
import json

from sqlmodel import select

from core.models import AuditEvent
from tests.tracing.conftest import (
    EXPECTED_DEVICES,
    contact_summary,
    device_summary,
    expected_contacts,
)


def test_trace_contacts_json_matches_the_hand_computed_scenario(runner, scenario, session):
    result = runner.invoke(args=["trace", "contacts", "--phone", "0912345678",
                                 "--since", "2026-03-10", "--until", "2026-03-12",
                                 "--format", "json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert [v["id"] for v in body["index"]["visits"]] == [scenario.visits["I1"].id,
                                                         scenario.visits["I2"].id]
    assert body["before_min"] == 0 and body["after_min"] == 30
    assert contact_summary(body["contacts"]) == expected_contacts(scenario)
    assert device_summary(body["encounters"]) == EXPECTED_DEVICES
    event = session.exec(select(AuditEvent)).one()
    assert event.action == "contacts.query" and event.actor.startswith("cli")
    assert event.row_count == 7


def test_trace_contacts_by_id_number_with_a_before_buffer(runner, scenario):
    result = runner.invoke(args=["trace", "contacts", "--id-number", "001090012345",
                                 "--since", "2026-03-12T00:00+07:00",
                                 "--until", "2026-03-12T23:59+07:00", "--before-min", "15"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert [(c["visitor"]["full_name"], c["overlap_min"]) for c in body["contacts"]] == [
        ("Bùi Thị Lan", 90), ("Đỗ Văn Minh", 10), ("Nguyễn Văn Ân", 10)]


def person_names(rows: list[list[str]]) -> list[str]:
    name = rows[0].index("Họ và tên")
    return [row[name] for row in rows[1:] if row[0] == "Người"]


def test_trace_contacts_csv_to_standard_output(runner, scenario, session):
    """Without -o the export goes to standard output, the same bytes as a file, audited."""
    result = runner.invoke(args=["trace", "contacts", "--phone", "0912345678",
                                 "--since", "2026-03-10", "--until", "2026-03-12",
                                 "--format", "csv"])
    assert result.exit_code == 0, result.output
    data = result.stdout_bytes
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert person_names(rows) == [name for name, *_ in expected_contacts(scenario)]
    event = session.exec(select(AuditEvent)).one()
    assert event.action == "contacts.export"
    assert event.file_sha256 == hashlib.sha256(data).hexdigest()


def test_trace_contacts_csv_file_is_audited_with_its_hash(runner, scenario, session, tmp_path):
    out = tmp_path / "contacts.csv"
    result = runner.invoke(args=["trace", "contacts", "--phone", "+84912345678",
                                 "--since", "2026-03-10", "--until", "2026-03-12",
                                 "--format", "csv", "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert person_names(rows) == [name for name, *_ in expected_contacts(scenario)]
    # One table: a header, then people and phones heard, told apart by the "Loại" column.
    assert rows[0][0] == "Loại" and {row[0] for row in rows[1:]} == {"Người", "Thiết bị"}
    assert len(rows) == 1 + 7 + 3
    event = session.exec(select(AuditEvent)).one()
    assert event.action == "contacts.export"
    assert event.file_sha256 == hashlib.sha256(data).hexdigest()
    assert event.row_count == 7 + 3
    assert event.details["format"] == "csv"


def test_unknown_index_case_is_a_clear_error(runner, scenario, session):
    result = runner.invoke(args=["trace", "contacts", "--phone", "0999999999",
                                 "--since", "2026-03-10", "--until", "2026-03-12"])
    assert result.exit_code == 1
    assert "Không có ai" in result.output and "Nobody with this phone" in result.output
    assert session.exec(select(AuditEvent)).all() == []


def test_bad_time_and_missing_identifier_are_refused(runner, scenario):
    result = runner.invoke(args=["trace", "contacts", "--phone", "0912345678",
                                 "--since", "hôm qua", "--until", "2026-03-12"])
    assert result.exit_code == 1 and "--since" in result.output
    result = runner.invoke(args=["trace", "contacts", "--since", "2026-03-10",
                                 "--until", "2026-03-12"])
    assert result.exit_code == 2 and "--phone or --id-number" in result.output
    result = runner.invoke(args=["trace", "contacts", "--phone", "0912345678", "--since",
                                 "2026-03-10", "--until", "2026-03-12", "--format", "xlsx"])
    assert result.exit_code == 2 and "-o FILE" in result.output


def test_export_visits_writes_a_named_audited_file(runner, scenario, session, tmp_path):
    out = tmp_path / "visits.xlsx"
    result = runner.invoke(args=["export", "visits", "--venue", "bvhk", "--since",
                                 "2026-03-10T22:00+07:00", "--until", "2026-03-11T01:00+07:00",
                                 "--format", "xlsx", "-o", str(out)])
    assert result.exit_code == 0, result.output
    from openpyxl import load_workbook

    sheet = load_workbook(out).active
    names = [row[2] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert names == ["Trần Thị Bình", "Lê Văn Cường", "Đặng Văn Hùng", "Nguyễn Văn An",
                     "Ngô Thị Khánh", "Vũ Thị Giang", "Phạm Thị Dung"]
    event = session.exec(select(AuditEvent)).one()
    assert (event.action, event.row_count) == ("visits.export", 7)
    assert event.file_sha256 == hashlib.sha256(out.read_bytes()).hexdigest()
    assert event.details["filename"] == "luot-vao_BVHK_20260310-2200_20260311-0100.xlsx"


def test_export_visits_unknown_venue(runner, scenario, tmp_path):
    result = runner.invoke(args=["export", "visits", "--venue", "NOPE", "--since", "2026-03-10",
                                 "--until", "2026-03-11", "--format", "csv",
                                 "-o", str(tmp_path / "x.csv")])
    assert result.exit_code == 1 and "venue" in result.output
    assert not (tmp_path / "x.csv").exists()
