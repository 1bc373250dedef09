"""Export: a venue visit list of 100,000 generated rows exported as CSV and as XLSX through the real
service (`tracing.exporting.export_visits`: query → file → SHA-256 → audit), on a scratch SQLite
file migrated by Alembic (the kiosk's own database). Time and peak RSS growth are measured in a
fresh process per format, so one export's peak cannot hide another's.

Comparison, measured in the same run and also in fresh processes: the same rows read with one
plain SQL query (tuples, no service) and written with no formatting at all — with csv.writer (the
floor of a CSV file), and with openpyxl's write-only workbook (the usual Python XLSX library, which
the service used before its own streaming writer, tracing/xlsx.py).

    python bench/bench_export.py [--quick]     # prints the rows as JSON
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scratch import ROOT, failed_row, migrate, row  # noqa: E402

START = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)   # 08:00 in Hà Nội
SURNAMES = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng")
MIDDLE = ("Văn", "Thị", "Hữu", "Ngọc", "Minh", "Thu", "Quốc", "Đức")
GIVEN = ("An", "Bình", "Cường", "Dũng", "Hương", "Lan", "Mai", "Ngọc Ánh", "Tuấn", "Yến")
TARGETS = {"csv": (2.0, "CSV ≤ 2 s, peak RSS growth ≤ 50 MB"),
           "xlsx": (10.0, "XLSX ≤ 10 s, peak RSS growth ≤ 50 MB")}
RSS_LIMIT_MB = 50


def populate(url: str, rows: int) -> None:
    """A venue and `rows` visitors with one visit each, inserted in bulk."""
    import sqlalchemy as sa

    from app import import_models
    from core.db import create_engine_for_url
    from core.models import Venue
    from visits.models import Visit, Visitor

    import_models()  # every table on SQLModel.metadata

    migrate(url)
    engine = create_engine_for_url(url)
    with engine.begin() as conn:
        conn.execute(sa.insert(Venue), [{"code": "BENCH", "name": "Trụ sở UBND (bench)",
                                         "is_active": True, "created_at": START}])
        batch = 10000
        for first in range(0, rows, batch):
            people, visits = [], []
            for i in range(first, min(rows, first + batch)):
                name = (f"{SURNAMES[i % 10]} {MIDDLE[(i // 10) % 8]} "
                        f"{GIVEN[(i // 80) % 10]} {i}")
                people.append({"id": i + 1, "full_name": name, "name_folded": name.lower(),
                               "nationality": "VN", "phone_e164": f"+849{i:08d}",
                               "id_number": f"001090{i:06d}", "id_type": "cccd",
                               "created_at": START, "updated_at": START})
                checked_in = START + timedelta(seconds=7 * i)
                visits.append({"visitor_id": i + 1, "venue_id": 1, "checked_in_at": checked_in,
                               "checked_out_at": checked_in + timedelta(minutes=45),
                               "opened_by": "scan", "closed_by": "scan", "status": "clear"})
            conn.execute(sa.insert(Visitor), people)
            conn.execute(sa.insert(Visit), visits)
    engine.dispose()


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_service(url: str, fmt: str, rows: int) -> dict:
    """In a fresh process: one export through the service, its time and peak RSS growth."""
    from app import create_app
    from core.db import db
    from core.services import get_venue
    from tracing import exporting
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "CAMERA_SOURCE": "none",
                      "BLE": "off", "INSTANCE_PATH": tempfile.mkdtemp()})
    with app.app_context(), db.new_session(app) as session:
        venue = get_venue(session=session, code="BENCH")
        until = START + timedelta(seconds=7 * rows + 3600)
        before = _rss_mb()
        started = time.perf_counter()
        export = exporting.export_visits(session=session, venue=venue, since=START, until=until,
                                        fmt=fmt, now=until, actor="bench", channel="bench")
        with open(os.devnull, "wb") as sink:
            for chunk in export.chunks():
                sink.write(chunk)
        seconds = time.perf_counter() - started
        growth = _rss_mb() - before
    return {"rows": export.row_count, "bytes": export.size, "seconds": seconds,
            "rss_growth_mb": growth}


def measure_floor(url: str, fmt: str, rows: int) -> dict:
    """In a fresh process: the same rows, one plain query, written with no formatting."""
    import csv

    import sqlalchemy as sa

    from core.db import create_engine_for_url

    engine = create_engine_for_url(url)
    query = sa.text(
        "SELECT v.id, 'BENCH', p.full_name, p.phone_e164, p.id_number, v.checked_in_at, "
        "v.checked_out_at, v.closed_by, v.status FROM visit v JOIN visitor p "
        "ON p.id = v.visitor_id WHERE v.venue_id = 1 ORDER BY v.checked_in_at, v.id")
    before = _rss_mb()
    started = time.perf_counter()
    count = 0
    with engine.connect() as conn, tempfile.TemporaryFile() as out:
        result = conn.execution_options(stream_results=True, yield_per=1000).execute(query)
        if fmt == "csv":
            import io

            text = io.TextIOWrapper(out, encoding="utf-8", newline="")
            writer = csv.writer(text)
            for record in result:
                writer.writerow(record)
                count += 1
            text.flush()
            text.detach()
        else:
            from openpyxl import Workbook

            workbook = Workbook(write_only=True)
            sheet = workbook.create_sheet("Lượt vào")
            for record in result:
                sheet.append(list(record))
                count += 1
            workbook.save(out)
    seconds = time.perf_counter() - started
    engine.dispose()
    return {"rows": count, "seconds": seconds, "rss_growth_mb": _rss_mb() - before}


def _child(kind: str, url: str, fmt: str, rows: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, url, fmt, str(rows)],
                         check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(quick: bool) -> list[dict]:
    rows = 2_000 if quick else 100_000
    how = (f"{rows:,} visits of one venue exported by tracing.exporting.export_visits (query, "
           f"file, SHA-256, audit) from a scratch SQLite database, each format in a fresh "
           f"process; peak RSS growth from getrusage")
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="khaibao-bench-export-") as scratch:
            url = f"sqlite:///{scratch}/bench.db"
            started = time.perf_counter()
            populate(url, rows)
            populate_s = time.perf_counter() - started
            for fmt in ("csv", "xlsx"):
                results.append((fmt, _child("service", url, fmt, rows),
                                _child("floor", url, fmt, rows)))
    except Exception as exc:
        detail = getattr(exc, "stderr", "") or ""
        return [failed_row(f"export {fmt.upper()} ({rows:,} rows)", how=how,
                           target=TARGETS[fmt][1],
                           error=f"{type(exc).__name__}: {exc} {detail[-800:]}")
                for fmt in ("csv", "xlsx")]
    out = []
    for fmt, service, floor in results:
        limit, target = TARGETS[fmt]
        seconds, growth = service["seconds"], service["rss_growth_mb"]
        met = seconds <= limit and growth <= RSS_LIMIT_MB and service["rows"] == rows
        data = {"rows": service["rows"], "seconds": round(seconds, 2),
                "rows_per_s": round(service["rows"] / seconds),
                "rss_growth_mb": round(growth, 1), "file_mb": round(service["bytes"] / 1e6, 1),
                "floor_seconds": round(floor["seconds"], 2),
                "floor_rss_growth_mb": round(floor["rss_growth_mb"], 1),
                "populate_s": round(populate_s, 1)}
        floor_name = "csv.writer" if fmt == "csv" else "openpyxl write-only"
        miss = None
        if not met:
            reasons = []
            if seconds > limit:
                reasons.append(f"{seconds:.1f} s against {floor['seconds']:.1f} s for "
                               f"{floor_name} on plain query tuples: the rest is per-row "
                               f"work in the service (ORM rows, time-zone conversion, "
                               f"formatting)")
            if growth > RSS_LIMIT_MB:
                reasons.append(f"peak RSS grew {growth:.0f} MB: rows are held, not streamed")
            miss = "; ".join(reasons) or "row count differs"
        out.append(row(
            f"export {fmt.upper()} ({rows:,} rows)", how=how, target=target,
            measured=f"{seconds:.2f} s ({data['rows_per_s']:,} rows/s), peak RSS +{growth:.0f} MB",
            comparison=(f"floor (csv.writer on one plain query, no formatting) "
                        f"{floor['seconds']:.2f} s: the service takes "
                        f"{seconds / floor['seconds']:.1f}× the floor" if fmt == "csv" else
                        f"openpyxl write-only on one plain query, no formatting: "
                        f"{floor['seconds']:.2f} s, peak RSS +{floor['rss_growth_mb']:.0f} MB; "
                        f"the service, formatting included, takes "
                        f"{seconds / floor['seconds']:.2f}× its time"),
            met=met, data=data, miss=miss))
    return out


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        _, _, kind, url, fmt, rows = sys.argv
        measure = measure_service if kind == "service" else measure_floor
        print(json.dumps(measure(url, fmt, int(rows))))
    else:
        print(json.dumps(run("--quick" in sys.argv), indent=2, ensure_ascii=False))
