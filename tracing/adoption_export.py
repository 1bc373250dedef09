"""The adoption report by unit and period as files: JSON, and CSV, XLSX and PDF through the
tracer's exporters (tracing/exports.py). Vietnamese headers; numbers stay numbers."""
from __future__ import annotations

import io
import json

from tracing import exports
from tracing.adoption import TOTAL, UNKNOWN_UNIT
from tracing.counts import UnitReport

FORMATS = ("json", "csv", "xlsx", "pdf")

GROUPING_WORDS = {
    "venue": "địa điểm", "ward": "phường/xã của địa điểm",
    "province": "tỉnh/thành phố của địa điểm", "home-ward": "phường/xã nơi ở của khách",
    "home-province": "tỉnh/thành phố nơi ở của khách",
}
PERIOD_WORDS = {"day": "ngày", "week": "tuần", "month": "tháng"}


def percent(part: int, whole: int | None) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def per_thousand(part: int, whole: int | None) -> float | None:
    return round(1000 * part / whole, 1) if whole else None


def unit_words(row) -> str:
    if row.unit_code == TOTAL:
        return "Tổng cả kỳ" if row.period is None else "Tổng"
    if row.unit_code == UNKNOWN_UNIT:
        return "Chưa xác định"
    return row.unit_name


def table(report: UnitReport) -> exports.Table:
    columns = [exports.Column("Kỳ", width=0.9), exports.Column("Mã đơn vị", "id", 0.7),
               exports.Column("Đơn vị", width=2.0), exports.Column("Số người", "number", 0.7),
               exports.Column("Tự khai có ứng dụng", "number", 0.9),
               exports.Column("Máy quét phát hiện", "number", 0.9),
               exports.Column("Dùng ứng dụng", "number", 0.8),
               exports.Column("Tỷ lệ (%)", "number", 0.7)]
    if report.has_population:
        columns += [exports.Column("Dân số", "number", 0.8),
                    exports.Column("Dùng ứng dụng / 1.000 dân", "number", 0.9)]

    def rows():
        for row in report.rows:
            cells = [row.period_label or "Cả kỳ",
                     "" if row.unit_code in (TOTAL, UNKNOWN_UNIT) else row.unit_code,
                     unit_words(row), row.people, row.declared, row.detected, row.app_users,
                     percent(row.app_users, row.people)]
            if report.has_population:
                cells += [row.population, per_thousand(row.app_users, row.population)]
            yield cells

    title = (f"Tỷ lệ dùng ứng dụng theo {GROUPING_WORDS[report.by]}, "
             f"theo {PERIOD_WORDS[report.period]}")
    return exports.Table(title, columns, rows())


def subtitle(report: UnitReport) -> list[str]:
    return [f"Từ {report.since.strftime('%d/%m/%Y')} đến {report.until.strftime('%d/%m/%Y')}. "
            "Mỗi người được tính một lần trong mỗi đơn vị và kỳ; là người dùng ứng dụng khi tự "
            "khai có ứng dụng hoặc máy quét Bluetooth phát hiện điện thoại của họ."]


def build(report: UnitReport, fmt: str) -> exports.ExportFile | bytes:
    """The finished file: bytes for JSON, an ExportFile (hashed, in a temporary file) else."""
    stem = (f"ty-le-ung-dung_{report.by}_{report.period}_"
            f"{report.since.strftime('%Y%m%d')}_{report.until.strftime('%Y%m%d')}")
    if fmt == "json":
        return json.dumps(report.to_json(), ensure_ascii=False, indent=1).encode() + b"\n"
    return exports.build(fmt, [table(report)], filename=stem,
                         title="Báo cáo tỷ lệ dùng ứng dụng truy vết", subtitle=subtitle(report))


def filename(report: UnitReport, fmt: str) -> str:
    return (f"ty-le-ung-dung_{report.by}_{report.period}_"
            f"{report.since.strftime('%Y%m%d')}_{report.until.strftime('%Y%m%d')}.{fmt}")


def write(report: UnitReport, fmt: str, out: io.BufferedIOBase) -> int:
    """Write the file to `out`; returns the number of table rows."""
    made = build(report, fmt)
    if isinstance(made, bytes):
        out.write(made)
        return len(report.rows)
    try:
        for chunk in made.chunks():
            out.write(chunk)
    finally:
        made.close()
    return made.row_count
