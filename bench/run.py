"""Run the benchmarks and write bench/results.json and bench/results.md.

    python bench/run.py [--only decode,camera] [--quick] [--render] [--output DIR]

Each module `bench/bench_<name>.py` has `run(quick: bool) -> list[dict]` (the row contract is in
the README's Benchmarks section). Modules run in a fixed order, each in its own subprocess, so one
module's memory and threads never colour another's figures and a crash gives rows that say so
(met = null) while the run goes on. A module that is not there yet gives a "not yet measured" row.

With --only, the rows of the other modules are kept from the previous results.json, so the file
always holds every figure. --quick runs the same code on tiny sizes (seconds, for the harness
test); its results are labelled as such and go to results-quick.{json,md} unless --output is given.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

# The fixed order, and what a missing module's placeholder row is called.
MODULES = {
    "decode": ["decode per 1280×720 frame"],
    "camera": ["camera loop"],
    "scan_to_screen": ["scan to screen"],
    "scan_to_paint": ["scan to paint"],
    "ble": ["BLE ingest"],
    "http": ["check-in throughput", "declaration submit", "check-in latency (open loop)",
             "declaration latency (open loop)"],
    "contacts": ["contact query"],
    "export": ["export"],
    "kiosk_process": ["kiosk process"],
    "sync": ["central ingest (20 kiosks)",
             "central ingest at 2,000 visits/s (20 kiosks, open loop)",
             "catch-up (5,000 visits + 50,000 encounters)"],
}
# A module that runs longer than this is stopped (its rows say so); the kiosk soak is 10 minutes.
TIMEOUT_S = {"kiosk_process": 20 * 60, "sync": 25 * 60}
DEFAULT_TIMEOUT_S = 10 * 60
FIELDS = ("figure", "how", "target", "measured", "comparison", "met", "data")
PACKAGES = ("opencv-python-headless", "zxing-cpp", "pyzbar", "numpy", "bleak", "dbus-fast",
            "Flask", "SQLAlchemy", "psycopg", "granian", "gunicorn")


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    os_name = platform.platform()
    try:
        release = dict(line.split("=", 1) for line in
                       Path("/etc/os-release").read_text().splitlines() if "=" in line)
        os_name = release.get("PRETTY_NAME", os_name).strip('"') + f" (kernel {platform.release()})"
    except OSError:
        pass
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gb": ram_gb, "os": os_name,
            "python": platform.python_version(), "packages": versions,
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}


def _load() -> float | None:
    try:
        return round(os.getloadavg()[0], 1)
    except OSError:
        return None


def machine_line(info: dict) -> str:
    packages = ", ".join(f"{k} {v}" for k, v in info["packages"].items() if v)
    return (f"{info['cpu']}, {info['cores']} cores, {info['ram_gb']} GB RAM; {info['os']}; "
            f"Python {info['python']}; {packages}; {info['date']}")


def placeholder(module: str, measured: str, miss: str) -> list[dict]:
    return [{"figure": figure, "how": f"bench/bench_{module}.py", "target": "", "measured":
             measured, "comparison": "", "met": None, "data": {}, "miss": miss, "module": module}
            for figure in MODULES[module]]


def run_module(module: str, quick: bool) -> tuple[list[dict], float]:
    """The module's rows from a subprocess (or rows that say why there are none)."""
    if not (BENCH / f"bench_{module}.py").is_file():
        return placeholder(module, "not yet measured", f"bench/bench_{module}.py is missing"), 0.0
    with tempfile.TemporaryDirectory(prefix="khaibao-bench-") as tmp:
        out = Path(tmp) / "rows.json"
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        started = time.monotonic()
        try:
            process = subprocess.run(
                [sys.executable, str(Path(__file__).resolve()), "--child", module, "--rows-to",
                 str(out)] + (["--quick"] if quick else []),
                cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True,
                timeout=TIMEOUT_S.get(module, DEFAULT_TIMEOUT_S))
        except subprocess.TimeoutExpired as exc:
            seconds = time.monotonic() - started
            tail = (exc.stderr or "")[-500:] if isinstance(exc.stderr, str) else ""
            return placeholder(module, "not measured (timed out)",
                               f"stopped after {seconds:.0f} s. {tail}".strip()), seconds
        seconds = time.monotonic() - started
        sys.stderr.write(process.stderr)
        if process.returncode != 0 or not out.is_file():
            tail = process.stderr.strip().splitlines()[-1:] or [f"exit {process.returncode}"]
            return placeholder(module, "not measured (the benchmark failed)",
                               f"bench_{module} failed: {tail[0][:300]}"), seconds
        rows = json.loads(out.read_text())
    for row in rows:
        for field in FIELDS:
            row.setdefault(field, None if field == "met" else ({} if field == "data" else ""))
    return rows, seconds


def child(module: str, quick: bool, rows_to: Path) -> None:
    import importlib

    sys.path.insert(0, str(BENCH))
    sys.path.insert(0, str(ROOT))
    rows = importlib.import_module(f"bench_{module}").run(quick=quick)
    rows_to.write_text(json.dumps(rows, ensure_ascii=False, default=str))


def _cell(text) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def render(results: dict) -> str:
    met_word = {True: "yes", False: "**no**", None: "not measured"}
    lines = ["# Benchmark results", ""]
    if results.get("quick"):
        lines += ["**Quick run** (tiny sizes, to check the harness): the figures mean nothing.", ""]
    lines += [f"Machine: {machine_line(results['machine'])}.", "",
              "Generated by `make bench` (`bench/run.py`); how to run and what each figure "
              "means: README, section Benchmarks.", "",
              "| figure | target | measured | comparison | met |", "|---|---|---|---|---|"]
    for row in results["rows"]:
        lines.append("| " + " | ".join(_cell(row.get(k)) for k in
                                         ("figure", "target", "measured", "comparison"))
                     + f" | {met_word.get(row.get('met'), row.get('met'))} |")
    lines += ["", "## Notes", ""]
    for row in results["rows"]:
        parts = [f"**{row['figure']}**: {row.get('how', '')}".rstrip()]
        if row.get("miss"):
            parts.append(f"*Miss:* {row['miss']}")
        if row.get("note"):
            parts.append(row["note"])
        lines.append("- " + " ".join(parts))
    timing = results.get("modules") or {}
    if timing:
        lines += ["", "Time per module (with the 1-minute load average before → after it, on "
                  f"{results['machine']['cores']} cores): " + ", ".join(
                      f"{name} {info['seconds']:.0f} s" + (
                          f" (load {info['load'][0]} → {info['load'][1]})"
                          if info.get("load") and None not in info["load"] else "")
                      for name, info in timing.items()) + "."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated modules: " + ",".join(MODULES))
    parser.add_argument("--quick", action="store_true", help="tiny sizes (checks the harness)")
    parser.add_argument("--render", action="store_true",
                        help="re-render results.md from results.json and stop")
    parser.add_argument("--output", type=Path, default=None,
                        help="directory for results.json/.md (default bench/)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--rows-to", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.quick, args.rows_to)
        return

    output = args.output or BENCH
    stem = "results-quick" if args.quick and args.output is None else "results"
    json_path, md_path = output / f"{stem}.json", output / f"{stem}.md"
    if args.render:
        md_path.write_text(render(json.loads(json_path.read_text())))
        print(f"wrote {md_path}")
        return
    only = [name.strip() for name in args.only.split(",") if name.strip()] or list(MODULES)
    unknown = [name for name in only if name not in MODULES]
    if unknown:
        parser.error(f"unknown module {', '.join(unknown)}: use {', '.join(MODULES)}")

    previous = {}
    if json_path.is_file() and set(only) != set(MODULES):
        try:
            old = json.loads(json_path.read_text())
            if bool(old.get("quick")) == args.quick:
                previous = old
        except (OSError, ValueError):
            previous = {}
    rows_by_module: dict[str, list[dict]] = {}
    timing: dict[str, dict] = dict(previous.get("modules") or {})
    for row in previous.get("rows", []):
        rows_by_module.setdefault(row.get("module"), []).append(row)
    for name in MODULES:
        if name not in only:
            continue
        print(f"== {name}", file=sys.stderr, flush=True)
        # The machine is shared: the load average around each module says how much of it the
        # module had (the figures of a run under heavy load are not comparable with a quiet one).
        load_before = _load()
        rows, seconds = run_module(name, args.quick)
        for row in rows:
            row["module"] = name
            print(f"   {row['figure']}: {row['measured']} (met: {row['met']})", file=sys.stderr)
        rows_by_module[name] = rows
        timing[name] = {"seconds": round(seconds, 1), "load": [load_before, _load()]}
    results = {
        "machine": machine(),
        "quick": args.quick,
        "modules": {name: timing[name] for name in MODULES if name in timing},
        "rows": [row for name in MODULES
                 for row in rows_by_module.get(name) or placeholder(name, "not yet measured",
                                                                    "not run yet")],
    }
    output.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n")
    md_path.write_text(render(results))
    print(f"wrote {json_path} and {md_path}", file=sys.stderr)


if __name__ == "__main__":
    main()
