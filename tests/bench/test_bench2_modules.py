"""bench2's benchmark modules (check-in/declaration over HTTP, contact query, export) through the
harness on tiny sizes: every row follows the contract. Shape only, never speed. Where a tool or a
database is missing here (wrk, PostgreSQL), the rows must still be there, saying why."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULES = ("http", "contacts", "export")
FIGURES = {
    "http": {"check-in throughput (PostgreSQL)", "declaration submit (PostgreSQL)",
             "check-in throughput (SQLite)", "declaration submit (SQLite)",
             "check-in latency at 800/s (PostgreSQL, open loop)",
             "declaration latency at 250/s (PostgreSQL, open loop)",
             "check-in latency at 400/s (SQLite, open loop)",
             "declaration latency at 250/s (SQLite, open loop)"},
    "contacts": {"contact query"},
}
FIELDS = {"figure": str, "how": str, "target": str, "measured": str, "comparison": str,
          "data": dict}


def test_quick_run_fills_every_row_of_bench2s_modules(tmp_path):
    process = subprocess.run(
        [sys.executable, "bench/run.py", "--quick", "--only", ",".join(MODULES),
         "--output", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr[-2000:]
    results = json.loads((tmp_path / "results.json").read_text())
    rows = [row for row in results["rows"] if row["module"] in MODULES]
    for module, figures in FIGURES.items():
        assert figures <= {row["figure"] for row in rows if row["module"] == module}
    assert len([row for row in rows if row["module"] == "export"]) == 2  # CSV and XLSX
    for row in rows:
        for field, kind in FIELDS.items():
            assert isinstance(row.get(field), kind), (row.get("figure"), field)
        assert row["figure"].strip() and row["target"].strip(), row
        assert row["met"] in (True, False, None)
        if row["met"] is None:  # could not be measured here: the row says why
            assert row.get("miss"), row["figure"]
        else:
            assert row["data"] and row["measured"].strip(), row["figure"]
            assert row["comparison"].strip(), row["figure"]
            if row["met"] is False:
                assert row.get("miss"), row["figure"]
