"""Export benchmark (not a test): a venue visit list of N generated rows (100,000 by default)
exported as CSV and XLSX through the real service (SQLite query → file → SHA-256 → audit),
measuring time and peak memory growth. Each format runs in a fresh process so one export's peak
does not hide another's; the row count is also run at a tenth of the size, to show whether memory
grows with the rows (it should not: rows stream from the database into the file).

    python bench/bench_export.py [--rows N] [--formats csv,xlsx]

Prints a summary to stderr and the results as JSON to stdout.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

START = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)   # 08:00 in Hà Nội
SURNAMES = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng")
MIDDLE = ("Văn", "Thị", "Hữu", "Ngọc", "Minh", "Thu", "Quốc", "Đức")
GIVEN = ("An", "Bình", "Cường", "Dũng", "Hương", "Lan", "Mai", "Ngọc Ánh", "Tuấn", "Yến")


def _populate(url: str, rows: int) -> None:
    """A venue and `rows` visitors with one visit each, inserted in bulk."""
    import sqlalchemy as sa
    from alembic import command

    import core.model_registry  # noqa: F401
    from core.cli import alembic_config
    from core.db import create_engine_for_url
    from core.models import Venue
    from declarations.models import Visitor
    from kiosk.models import Visit

    command.upgrade(alembic_config(url), "head")
    engine = create_engine_for_url(url)
    with engine.begin() as conn:
        conn.execute(sa.insert(Venue), [{"code": "BENCH", "name": "Trụ sở UBND (bench)",
                                         "is_active": True, "created_at": START}])
        batch = 5000
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


def _measure(url: str, fmt: str, rows: int) -> dict:
    """Run in a fresh process: one export, its time and how far the peak RSS rose."""
    from app import create_app
    from core.db import db
    from core.services import get_venue
    from tracing import services

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "CAMERA_SOURCE": "none",
                      "BLE": "off", "INSTANCE_PATH": tempfile.mkdtemp()})
    with app.app_context(), db.new_session(app) as session:
        venue = get_venue(session=session, code="BENCH")
        until = START + timedelta(seconds=7 * rows + 3600)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        export = services.export_visits(session=session, venue=venue, since=START, until=until,
                                        fmt=fmt, now=until, actor="bench", channel="bench")
        with open(os.devnull, "wb") as sink:
            for chunk in export.chunks():
                sink.write(chunk)
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"format": fmt, "rows": export.row_count, "bytes": export.size,
            "seconds": round(seconds, 2), "rows_per_s": round(export.row_count / seconds),
            "peak_rss_growth_mb": round((after - before) / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--formats", default="csv,xlsx")
    parser.add_argument("--child", nargs=3, metavar=("URL", "FORMAT", "ROWS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, fmt, rows = args.child
        print(json.dumps(_measure(url, fmt, int(rows))))
        return

    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for rows in (max(1, args.rows // 10), args.rows):
            url = f"sqlite:///{scratch}/bench-{rows}.db"
            print(f"generating {rows} visits…", file=sys.stderr)
            _populate(url, rows)
            for fmt in args.formats.split(","):
                out = subprocess.run([sys.executable, __file__, "--child", url, fmt, str(rows)],
                                     check=True, capture_output=True, text=True, cwd=ROOT)
                result = json.loads(out.stdout.strip().splitlines()[-1])
                results.append(result)
                print(f"{fmt:>4} {result['rows']:>7} rows: {result['seconds']:>6.2f} s, "
                      f"{result['rows_per_s']:>7} rows/s, {result['bytes'] / 1e6:6.1f} MB file, "
                      f"peak RSS +{result['peak_rss_growth_mb']} MB", file=sys.stderr)
    print(json.dumps({"benchmark": "export", "python": platform.python_version(),
                      "machine": platform.machine(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
