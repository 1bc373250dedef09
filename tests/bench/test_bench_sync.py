"""The sync benchmark module (central ingest, catch-up) through the harness on tiny sizes: its
rows follow the contract. Shape only, never speed; without PostgreSQL the rows say why."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIELDS = {"figure": str, "how": str, "target": str, "measured": str, "comparison": str,
          "data": dict}


def test_quick_run_fills_every_row(tmp_path):
    process = subprocess.run(
        [sys.executable, "bench/run.py", "--quick", "--only", "sync", "--output", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert process.returncode == 0, process.stderr[-2000:]
    rows = [row for row in json.loads((tmp_path / "results.json").read_text())["rows"]
            if row["module"] == "sync"]
    assert [row["figure"].split(" (")[0] for row in rows] == [
        "central ingest", "central ingest at 150 visits/s", "catch-up"]
    for row in rows:
        for field, kind in FIELDS.items():
            assert isinstance(row.get(field), kind), (row["figure"], field)
        assert row["met"] in (True, False, None)
        if row["met"] is None:
            assert row.get("miss"), row["figure"]
        else:
            assert row["data"] and not row["measured"].startswith("not "), row
            if row["met"] is False:
                assert row.get("miss"), row["figure"]
