"""The benchmark harness end to end on tiny sizes: `bench/run.py --quick` runs each module in its
own process and writes results that follow the row contract. Shape only: nothing here depends on
how fast anything is (the targets live in bench/, never in `make test`)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# bench1's modules; another helper's modules have their own test.
MODULES = ("decode", "camera", "scan_to_screen", "scan_to_paint", "ble", "kiosk_process")
FIELDS = {"figure": str, "how": str, "target": str, "measured": str, "comparison": str,
          "data": dict}


def test_quick_run_fills_every_row_of_each_module(tmp_path):
    process = subprocess.run(
        [sys.executable, "bench/run.py", "--quick", "--only", ",".join(MODULES),
         "--output", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert process.returncode == 0, process.stderr[-2000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["quick"] is True
    assert {"cpu", "cores", "ram_gb", "os", "python", "packages", "date"} <= set(results["machine"])
    measured_modules = {row["module"] for row in results["rows"]}
    assert set(MODULES) <= measured_modules
    for row in results["rows"]:
        if row["module"] not in MODULES:
            continue  # not run here: kept as "not yet measured"
        for field, kind in FIELDS.items():
            assert isinstance(row.get(field), kind), (row.get("figure"), field)
            if kind is str:
                assert row[field].strip(), (row["figure"], field)
        assert row["data"], row["figure"]  # raw numbers, not a placeholder for a failed module
        assert row["met"] in (True, False, None)
        if row["met"] is None:  # could not be measured: the row must say why
            assert row.get("miss"), row["figure"]
        else:
            assert not row["measured"].startswith("not "), row
    table = (tmp_path / "results.md").read_text()
    assert "| figure | target | measured | comparison | met |" in table
    for row in results["rows"]:
        assert row["figure"] in table


def test_a_missing_module_gives_a_not_yet_measured_row(tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import run
    finally:
        sys.path.remove(str(ROOT / "bench"))
    monkeypatch.setitem(run.MODULES, "absent", ["a figure nobody measured"])
    rows, seconds = run.run_module("absent", quick=True)
    assert [(r["figure"], r["measured"], r["met"]) for r in rows] == [
        ("a figure nobody measured", "not yet measured", None)]
    assert rows[0]["miss"] and seconds == 0.0
