"""Check-in throughput and declaration submit, over HTTP against a real server.

The real app, served as deploy/ serves it, on a scratch PostgreSQL database (a central server:
gunicorn with deploy/gunicorn.conf.py, sync workers, as deploy/khaibao-central.service runs it)
and on a scratch SQLite file (a kiosk device: `flask kiosk run`, one process, as
deploy/khaibao-kiosk.service runs it), migrated by Alembic, ANALYZEd after the data is
generated (as a live database with autovacuum would be).
Closed loop, wrk (32 connections, each sending its next request when the last is answered: the
peak rate) posts:
- `POST /api/v1/checkins` with real Ed25519-signed personal tokens of many visitors (generated
  visitors and declarations, tokens issued with the server's own key ring), each request a new
  (visitor, venue) pair so every one is a real check-in, authorised by a receptionist's bearer
  token made with the real `issue_api_token`;
- `POST /api/v1/declarations`, each body a different person (a new visitor, declaration, visit
  and token each).
The same server's `GET /healthz` (one database round trip) is measured in the same run: the
ceiling of this server on this machine. Open loop, bench/openloop.py offers a fixed rate
(check-ins 800/s on PostgreSQL and 400/s on SQLite, declarations 250/s) on a schedule and counts
each latency from the request's scheduled send time: the latency a door sees at that load.
Rate limits are raised for the run through the environment (KIOSK_PUBLIC_RATE_LIMIT,
KIOSK_VENUE_RATE_LIMIT), not switched off.

    python bench/bench_http.py [--quick]     # prints the rows as JSON
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from openloop import open_loop  # noqa: E402
from scratch import (  # noqa: E402
    ROOT,
    failed_row,
    migrate,
    row,
    scratch_postgres,
    scratch_sqlite,
)

CONNECTIONS = 32
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"
WORKERS = 3  # KHAIBAO_WORKERS for deploy/gunicorn.conf.py: what measured best on 2 cores
OPEN_SECONDS = 10
OPEN_CHECKIN_RATE = {"postgresql": 800, "sqlite": 400}
OPEN_DECLARATION_RATE = 250
OPEN_CHECKIN_TARGET = "p99 ≤ 50 ms at the offered rate, no errors"
OPEN_DECLARATION_TARGET = "p99 ≤ 100 ms at the offered rate, no errors"
HIGH_LIMIT = "1000000 per minute"
VENUES = 8
SURNAMES = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng")
GIVEN = ("An", "Bình", "Cường", "Dũng", "Hương", "Lan", "Mai", "Ngọc Ánh", "Tuấn", "Yến")

CHECKIN_TARGET = {"postgresql": "≥ 1,000/s with p99 ≤ 50 ms, no errors",
                  "sqlite": "≥ 500/s, no errors"}
DECLARATION_TARGET = "≥ 300/s, p99 ≤ 100 ms, no errors"

LUA = r"""
-- Each connection posts the next body of the list; bodies are spread over wrk's threads so no
-- two requests carry the same body (until the list runs out and wraps).
-- Globals, not locals: setup() sets `id` in each thread and done() reads `non2xx` back.
bodies, counter, threads, non2xx, id, nthreads = {}, 0, {}, 0, 0, 1
local path, auth = os.getenv("BENCH_PATH"), os.getenv("BENCH_AUTH")

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  nthreads = tonumber(os.getenv("BENCH_THREADS"))
  for line in io.lines(os.getenv("BENCH_BODIES")) do bodies[#bodies + 1] = line end
  counter = id
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  if auth ~= nil and auth ~= "" then wrk.headers["Authorization"] = "Bearer " .. auth end
end

function request()
  local body = bodies[(counter % #bodies) + 1]
  counter = counter + nthreads
  return wrk.format(nil, path, nil, body)
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if non2xx <= 3 then io.stderr:write("status " .. status .. ": " .. body:sub(1, 300) .. "\n") end
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + (t:get("non2xx") or 0) end
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "non2xx": %d, "connect_errors": %d, ' ..
    '"read_errors": %d, "write_errors": %d, "timeouts": %d, "p50_us": %d, "p90_us": %d, ' ..
    '"p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, bad, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""

GET_LUA = r"""
threads, non2xx = {}, 0
function setup(thread) table.insert(threads, thread) end
function response(status, headers, body)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
end
function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + (t:get("non2xx") or 0) end
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "non2xx": %d, "connect_errors": %d, ' ..
    '"read_errors": %d, "write_errors": %d, "timeouts": %d, "p50_us": %d, "p90_us": %d, ' ..
    '"p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, bad, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _phone(i: int) -> str:
    return f"091{i:07d}"


def _id_number(i: int) -> str:
    return f"001090{i:06d}"


def _name(i: int) -> str:
    return f"{SURNAMES[i % 10]} Văn {GIVEN[(i // 10) % 10]}"


# --- data ----------------------------------------------------------------------------------------

def populate(url: str, instance: Path, visitors: int) -> dict:
    import sqlalchemy as sa
    from sqlmodel import Session

    from app import import_models
    from core.auth import issue_api_token
    from core.db import create_engine_for_url, new_uid
    from core.models import Role, User, Venue
    from declarations.consent import consent_version
    from declarations.identity import fold
    from declarations.models import Declaration
    from declarations.rules import DEFAULT_RULES
    from declarations.tokens import load_keyring
    from visits.models import Visitor

    import_models()  # every table on SQLModel.metadata

    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    engine = create_engine_for_url(url)
    keyring = load_keyring(instance / "keys")
    venues = [{"id": n + 1, "code": f"BENCH{n + 1}", "name": f"Điểm kiểm tra {n + 1}",
               "is_active": True, "created_at": now} for n in range(VENUES)]
    version = consent_version(retention_days=21, operator=None)
    uids = [new_uid() for _ in range(visitors)]
    with engine.begin() as conn:
        conn.execute(sa.insert(Venue), venues)
        for first in range(0, visitors, 5000):
            people, declarations = [], []
            for i in range(first, min(visitors, first + 5000)):
                name = _name(i)
                people.append({"id": i + 1, "uid": uids[i], "full_name": name, "name_folded": fold(name),
                               "birth_year": 1990, "gender": "male", "nationality": "VN",
                               "phone_e164": "+84" + _phone(i)[1:], "id_number": _id_number(i),
                               "id_type": "cccd", "created_at": now, "updated_at": now})
                declarations.append({
                    "id": i + 1, "visitor_id": i + 1, "venue_id": 1, "submitted_at": now,
                    "lang": "vi", "source": "phone_form", "travel_14d": False,
                    "symptoms": [], "exposures": [], "declared_for_other": False,
                    "status": "clear", "rules_version": DEFAULT_RULES.version,
                    "consent_processing": True, "consent_sensitive_health": True,
                    "consent_text_version": version, "consent_at": now})
            conn.execute(sa.insert(Visitor), people)
            conn.execute(sa.insert(Declaration), declarations)
    if engine.dialect.name == "postgresql":  # ids were given: move the sequences past them
        with engine.begin() as conn:
            for table in ("venue", "visitor", "declaration"):
                conn.execute(sa.text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"))
    # Planner statistics, as autovacuum would have gathered them on a live database (without
    # them PostgreSQL scans every open visit of a venue to find one visitor's).
    with engine.begin() as conn:
        conn.execute(sa.text("ANALYZE"))
    with Session(engine) as session:
        user = User(username="bench-desk", role=Role.receptionist.value, password_hash="!",
                    created_at=now)
        session.add(user)
        session.commit()
        bearer = issue_api_token(session=session, user=user, now=now)
    engine.dispose()
    tokens = [keyring.issue(visitor_uid=uids[i], declared_at=now, flagged=False, now=now)
              for i in range(visitors)]
    return {"tokens": tokens, "bearer": bearer, "venue_codes": [v["code"] for v in venues]}


def checkin_bodies(tokens: list[str], venue_codes: list[str]) -> list[str]:
    """Every (visitor, venue) pair once, venue by venue: each is a new check-in."""
    return [json.dumps({"venue_code": code, "payload": token})
            for code in venue_codes for token in tokens]


def declaration_bodies(count: int, offset: int) -> list[str]:
    """`count` different people (not among the generated visitors) declaring at BENCH1."""
    out = []
    for n in range(count):
        i = offset + n
        out.append(json.dumps({
            "venue_code": "BENCH1", "lang": "vi", "full_name": _name(i), "birth_year": 1990,
            "gender": "male", "nationality": "VN", "id_number": _id_number(i),
            "phone": _phone(i), "email": None, "province_code": "01", "ward_code": "00004",
            "street_address": "Số 1 Tràng Tiền", "travel_14d": False, "travel_places": None,
            "symptoms": [], "exposures": [], "visitor_company": None, "host_name": None,
            "visit_purpose": None, "body_temperature_c": None, "declared_for_other": False,
            "consent_processing": True, "consent_sensitive_health": True},
            ensure_ascii=False))
    return out


# --- server and load ----------------------------------------------------------------------------

def server_label(kind: str) -> str:
    """How each database is served, as deploy/ serves it."""
    if kind == "postgresql":
        return f"gunicorn {WORKERS} sync workers (deploy/gunicorn.conf.py)"
    return ("`flask kiosk run` (granian's HTTP/1 in Rust, the app on threads of one process, "
            "as deploy/khaibao-kiosk.service)")


@contextlib.contextmanager
def serve(url: str, instance: Path, kind: str = "postgresql"):
    """The real app as deploy/ serves it; yields the base URL. PostgreSQL is a central
    server's database: gunicorn with deploy/gunicorn.conf.py. SQLite is a kiosk device's:
    `flask kiosk run` (kiosk/server.py, one process, its threads; writers queue on the process
    lock)."""
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": url, "KIOSK_SECRET_KEY": "bench-secret-key",
           "KIOSK_CAMERA_SOURCE": "none", "KIOSK_BLE": "off",
           "KIOSK_PUBLIC_RATE_LIMIT": HIGH_LIMIT, "KIOSK_VENUE_RATE_LIMIT": HIGH_LIMIT,
           "KIOSK_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    log = open(instance / "server.log", "wb")
    if kind == "postgresql":
        env["KHAIBAO_BIND"] = f"127.0.0.1:{port}"
        env["KHAIBAO_WORKERS"] = str(WORKERS)
        gunicorn = Path(sys.executable).with_name("gunicorn")
        factory = f"app:create_app({{'INSTANCE_PATH': {str(instance)!r}}})"
        command = [str(gunicorn), "--config", str(GUNICORN_CONF), "--log-level", "warning",
                   factory]
    else:
        env["KIOSK_INSTANCE_PATH"] = str(instance)
        command = [str(Path(sys.executable).with_name("flask")), "--app", "app", "kiosk", "run",
                   "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    _SERVER_SESSIONS[base] = proc.pid
    try:
        import urllib.request

        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError("the server exited: "
                                   + (instance / "server.log").read_text()[-2000:])
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not answer /healthz within 60 s")
            time.sleep(0.2)
        # Every worker imports the app lazily on its first request: warm them all up.
        for _ in range(WORKERS * 8):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(base + "/healthz", timeout=5).read()
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


# The session (process group leader) of each server serve() started: its CPU is measured.
_SERVER_SESSIONS: dict[str, int] = {}


def cpu_seconds(base: str) -> dict[str, float]:
    """CPU seconds (user + system) used so far by the server at `base` (every process of its
    session: gunicorn's master and workers, or `kiosk run`) and by PostgreSQL (every process of
    the machine's server), from /proc."""
    session, tick = _SERVER_SESSIONS[base], os.sysconf("SC_CLK_TCK")
    used = {"server": 0.0, "postgresql": 0.0}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # gone meanwhile
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        seconds = (int(fields[11]) + int(fields[12])) / tick
        if int(fields[3]) == session:
            used["server"] += seconds
        elif name.startswith("postgres"):
            used["postgresql"] += seconds
    return used


def with_cpu(base: str, result_of) -> dict:
    """`result_of()` (a wrk run), with the CPU milliseconds per request it cost the server and
    PostgreSQL."""
    before = cpu_seconds(base)
    result = result_of()
    after = cpu_seconds(base)
    requests = max(1, result["requests"])
    result["cpu_ms_per_request"] = {name: round(1000 * (after[name] - before[name]) / requests, 2)
                                    for name in after}
    return result


def wrk(base: str, path: str, seconds: float, *, bodies_file: Path | None = None,
        bearer: str | None = None, scratch: Path) -> dict:
    threads = 2
    script = scratch / ("post.lua" if bodies_file else "get.lua")
    script.write_text(LUA if bodies_file else GET_LUA)
    env = {**os.environ, "BENCH_PATH": path, "BENCH_AUTH": bearer or "",
           "BENCH_BODIES": str(bodies_file or ""), "BENCH_THREADS": str(threads)}
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(CONNECTIONS), "-d", f"{seconds:g}s",
         "--timeout", "10s", "-s", str(script), base + path],
        env=env, capture_output=True, text=True, timeout=seconds + 60)
    line = next((l for l in out.stdout.splitlines() if l.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result: {out.stdout[-500:]} {out.stderr[-500:]}")
    result = json.loads(line[len("BENCH "):])
    result["per_s"] = result["requests"] / (result["duration_us"] / 1e6)
    result["errors"] = (result["non2xx"] + result["connect_errors"] + result["read_errors"]
                        + result["write_errors"] + result["timeouts"])
    if out.stderr.strip():
        result["first_errors"] = out.stderr.strip()[:600]
    return result


def _count(url: str, sql: str) -> int:
    import sqlalchemy as sa

    from core.db import create_engine_for_url

    engine = create_engine_for_url(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(sql)).scalar_one())
    finally:
        engine.dispose()


def settle(base: str, timeout_s: float = 60.0) -> None:
    """Wait until the server has worked off what the last phase left queued (a sync worker
    still answers requests whose client gave up), so each phase starts on an idle server."""
    import urllib.request

    deadline = time.monotonic() + timeout_s
    quick = 0
    while time.monotonic() < deadline and quick < 5:
        started = time.perf_counter()
        with contextlib.suppress(OSError):
            urllib.request.urlopen(base + "/healthz", timeout=10).read()
        quick = quick + 1 if time.perf_counter() - started < 0.05 else 0
        time.sleep(0.2)


def _unused(bodies: list[str], used: int) -> list[str]:
    """The bodies after the first `used` (plus a margin for wrk's threads), then the rest."""
    start = min(len(bodies) - 1, used + 64)
    return bodies[start:] + bodies[:start]


def _load() -> str:
    """The machine's load averages when the run ended (it is shared)."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def _ms(us: float) -> float:
    return round(us / 1000, 1)


def _fmt_rate(rate: float) -> str:
    return f"{rate:,.0f}/s"


# --- one database --------------------------------------------------------------------------------

def measure(kind: str, url: str, quick: bool) -> dict:
    seconds = 1 if quick else 15
    ceiling_s = 1 if quick else 8
    visitors = 100 if quick else 4000
    declarations = 500 if quick else 12000
    scratch = Path(tempfile.mkdtemp(prefix="khaibao-bench-http-"))
    try:
        instance = scratch / "instance"
        instance.mkdir()
        started = time.perf_counter()
        migrate(url)
        data = populate(url, instance, visitors)
        checkins = scratch / "checkins.jsonl"
        bodies = checkin_bodies(data["tokens"], data["venue_codes"])
        checkins.write_text("\n".join(bodies) + "\n")
        decls = scratch / "declarations.jsonl"
        decl_bodies = declaration_bodies(declarations, visitors)
        decls.write_text("\n".join(decl_bodies) + "\n")
        setup_s = time.perf_counter() - started
        open_seconds = 1 if quick else OPEN_SECONDS
        with serve(url, instance, kind) as base:
            ceiling = wrk(base, "/healthz", ceiling_s, scratch=scratch)
            settle(base)
            checkin = with_cpu(base, lambda: wrk(
                base, "/api/v1/checkins", seconds, bodies_file=checkins, bearer=data["bearer"],
                scratch=scratch))
            settle(base)
            decl = with_cpu(base, lambda: wrk(base, "/api/v1/declarations", seconds,
                                              bodies_file=decls, scratch=scratch))
            settle(base)
            # Open loop on bodies the closed loop did not use: each still a new check-in or a
            # new person.
            rate = OPEN_CHECKIN_RATE[kind]
            checkin_open = open_loop(base + "/api/v1/checkins", rate=rate, seconds=open_seconds,
                                     bodies=_unused(bodies, checkin["requests"]),
                                     bearer=data["bearer"])
            settle(base)
            decl_open = open_loop(base + "/api/v1/declarations", rate=OPEN_DECLARATION_RATE,
                                  seconds=open_seconds,
                                  bodies=_unused(decl_bodies, decl["requests"]))
        scan_visits = _count(url, "SELECT count(*) FROM visit WHERE opened_by = 'scan'")
        new_declarations = _count(url, "SELECT count(*) FROM declaration") - visitors
        return {"kind": kind, "setup_s": round(setup_s, 1), "ceiling": ceiling,
                "checkin": checkin, "declaration": decl, "checkin_bodies": len(bodies),
                "declaration_bodies": declarations, "visits_opened_by_scan": scan_visits,
                "declarations_stored": new_declarations, "checkin_open": checkin_open,
                "declaration_open": decl_open, "load": _load()}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _rows_for(result: dict) -> list[dict]:
    kind = result["kind"]
    label = "PostgreSQL" if kind == "postgresql" else "SQLite"
    ceiling, checkin, decl = result["ceiling"], result["checkin"], result["declaration"]
    server = f"{server_label(kind)}, wrk {CONNECTIONS} connections (closed loop)"
    ceiling_text = (f"same server's GET /healthz ceiling {_fmt_rate(ceiling['per_s'])} "
                    f"(p99 {_ms(ceiling['p99_us'])} ms)")
    rows = []

    rate, p99 = checkin["per_s"], _ms(checkin["p99_us"])
    if kind == "postgresql":
        met = rate >= 1000 and p99 <= 50 and checkin["errors"] == 0
    else:
        met = rate >= 500 and checkin["errors"] == 0
    share = rate / ceiling["per_s"] if ceiling["per_s"] else 0
    data = {"per_s": round(rate, 1), "p50_ms": _ms(checkin["p50_us"]),
            "p90_ms": _ms(checkin["p90_us"]), "p99_ms": p99, "max_ms": _ms(checkin["max_us"]),
            "requests": checkin["requests"], "errors": checkin["errors"],
            "non2xx": checkin["non2xx"], "seconds": round(checkin["duration_us"] / 1e6, 1),
            "visits_opened_by_scan": result["visits_opened_by_scan"],
            "distinct_bodies": result["checkin_bodies"],
            "ceiling_per_s": round(ceiling["per_s"], 1), "ceiling_p99_ms": _ms(ceiling["p99_us"]),
            "setup_s": result["setup_s"], "cpu_ms_per_request": checkin.get("cpu_ms_per_request")}
    rows.append(row(
        f"check-in throughput ({label})",
        how=(f"{server}; POST /api/v1/checkins with signed personal tokens of "
             f"{result['checkin_bodies'] // VENUES:,} visitors at {VENUES} venues (each request "
             f"a new check-in), receptionist bearer token; rate limits raised via "
             f"KIOSK_PUBLIC_RATE_LIMIT/KIOSK_VENUE_RATE_LIMIT"),
        target=CHECKIN_TARGET[kind],
        measured=(f"{_fmt_rate(rate)}, p50 {data['p50_ms']} ms, p99 {p99} ms, "
                  f"{checkin['errors']} errors ({result['visits_opened_by_scan']:,} check-ins "
                  f"stored)"),
        comparison=_joined(f"{ceiling_text}: check-ins reach {share:.0%} of it",
                           _cpu_text(kind, checkin, "check-in")),
        met=met, data=data,
        miss=None if met else _checkin_miss(kind, rate, p99, checkin, ceiling, result["load"])))

    rate, p99 = decl["per_s"], _ms(decl["p99_us"])
    met = rate >= 300 and p99 <= 100 and decl["errors"] == 0
    share = rate / ceiling["per_s"] if ceiling["per_s"] else 0
    data = {"per_s": round(rate, 1), "p50_ms": _ms(decl["p50_us"]), "p90_ms": _ms(decl["p90_us"]),
            "p99_ms": p99, "max_ms": _ms(decl["max_us"]), "requests": decl["requests"],
            "errors": decl["errors"], "non2xx": decl["non2xx"],
            "seconds": round(decl["duration_us"] / 1e6, 1),
            "declarations_stored": result["declarations_stored"],
            "ceiling_per_s": round(ceiling["per_s"], 1),
            "cpu_ms_per_request": decl.get("cpu_ms_per_request")}
    rows.append(row(
        f"declaration submit ({label})",
        how=(f"{server}; POST /api/v1/declarations, each body a different person (visitor, "
             f"declaration, check-in and signed token stored per request); rate limits raised "
             f"via KIOSK_PUBLIC_RATE_LIMIT/KIOSK_VENUE_RATE_LIMIT"),
        target=DECLARATION_TARGET,
        measured=(f"{_fmt_rate(rate)}, p50 {data['p50_ms']} ms, p99 {p99} ms, "
                  f"{decl['errors']} errors"),
        comparison=_joined(f"{ceiling_text}: declarations reach {share:.0%} of it",
                           _cpu_text(kind, decl, "declaration")),
        met=met, data=data,
        miss=None if met else _declaration_miss(kind, rate, p99, decl, ceiling,
                                                result["load"])))

    for figure, result_key, target, path, bound in (
            (f"check-in latency at {OPEN_CHECKIN_RATE[kind]}/s ({label}, open loop)",
             "checkin_open", OPEN_CHECKIN_TARGET, "POST /api/v1/checkins", 50),
            (f"declaration latency at {OPEN_DECLARATION_RATE}/s ({label}, open loop)",
             "declaration_open", OPEN_DECLARATION_TARGET, "POST /api/v1/declarations", 100)):
        got = result[result_key]
        met = got["p99_ms"] <= bound and got["errors"] == 0 and got["answered"] == got["requests"]
        rows.append(row(
            figure,
            how=(f"{server_label(kind)}; bench/openloop.py "
                 f"sends {path} on a fixed schedule ({got['offered_per_s']:,}/s for "
                 f"{got['requests'] / got['offered_per_s']:g} s, a new connection each, bodies the "
                 f"closed loop did not use) and counts each latency from the request's scheduled "
                 f"send time, so a server falling behind shows as latency; machine load "
                 f"{result['load']} (1, 5, 15 min) at the end"),
            target=target,
            measured=(f"p50 {got['p50_ms']} ms, p99 {got['p99_ms']} ms, max {got['max_ms']} ms; "
                      f"{got['answered']:,}/{got['requests']:,} answered "
                      f"({got['answered_per_s']:,.0f}/s), {got['errors']} errors"),
            comparison=(f"the generator's own lag: p99 {got['send_lag_p99_ms']} ms, max "
                        f"{got['send_lag_max_ms']} ms (counted in the latencies)"),
            met=met, data={**got, "load": result["load"]},
            miss=None if met else (
                f"p99 {got['p99_ms']} ms at {got['offered_per_s']:,}/s offered"
                + (f", {got['errors']} errors ({got['statuses']})" if got["errors"] else "")
                + f"; server, database and load generator share 2 cores with other jobs "
                  f"(load {result['load']})")))
    return rows


def _errors_text(result: dict) -> str:
    return f"; first errors: {result['first_errors']}" if result.get("first_errors") else ""


def _joined(*parts: str) -> str:
    return "; ".join(part for part in parts if part)


def _cpu_text(kind: str, result: dict, what: str) -> str:
    """What a request cost in CPU (measured during the run) and the rate that bounds."""
    cpu = result.get("cpu_ms_per_request") or {}
    server = cpu.get("server", 0)
    if not server:
        return ""
    cores = server * result["per_s"] / 1000
    if kind == "postgresql":
        database = cpu.get("postgresql", 0)
        total = server + database
        return (f"CPU per {what}: server {server:.2f} ms, PostgreSQL {database:.2f} ms; both "
                f"cores would serve at most {_fmt_rate(2000 / total)} with nothing else running "
                f"(wrk takes its share too)")
    return (f"CPU per {what}: {server:.2f} ms in the server process (SQLite's work included), "
            f"which used {cores:.2f} cores: its Python runs one thread at a time (one "
            f"interpreter lock)")


def _checkin_miss(kind, rate, p99, result, ceiling, load) -> str:
    if result["errors"]:
        return f"{result['errors']} requests failed{_errors_text(result)}"
    cpu = _cpu_text(kind, result, "check-in")
    if kind == "postgresql":
        return (f"{_fmt_rate(rate)} (p99 {p99} ms), machine load {load} at the end. {cpu}; the "
                f"target leaves 2 ms of CPU per check-in for server, PostgreSQL and wrk together. "
                f"A check-in is 3 statements and a commit (the visitor read with their lock, "
                f"their stay, the visit and its phone link in one); one statement backed by a "
                f"unique index on open visits would save two round trips and the row lock, not "
                f"possible while a central server keeps each door's open visit until they are "
                f"merged")
    server = (result.get("cpu_ms_per_request") or {}).get("server", 0)
    bound = (f"one interpreter serves at most {_fmt_rate(1000 / server)} at that cost, and "
             f"500/s needs at most 2.00 ms per check-in; " if server else "")
    return (f"{_fmt_rate(rate)} (p99 {p99} ms), machine load {load} at the end. {cpu}; "
            f"{bound}or a kiosk whose requests use both cores (several processes sharing the "
            f"one SQLite writer). A check-in is 4 statements and a commit: the visitor, their "
            f"stay, the visit, its phone link")


def _declaration_miss(kind, rate, p99, result, ceiling, load) -> str:
    if result["errors"]:
        return f"{result['errors']} requests failed{_errors_text(result)}"
    writer = ("; on SQLite each holds the one writer from its first statement through its "
              "commit, whose fsync (synchronous=FULL: nothing acknowledged is lost) takes about "
              "a millisecond" if kind == "sqlite" else "")
    return (f"{_fmt_rate(rate)}, p99 {p99} ms, machine load {load} at the end. "
            f"{_cpu_text(kind, result, 'declaration')}: each declaration is validated, triaged, "
            f"stored (visitor, declaration, visit) and signed (Ed25519){writer}. With "
            f"{CONNECTIONS} connections kept busy the mean latency is {CONNECTIONS} ÷ rate, so p99 ≤ 100 ms "
            f"needs more than {_fmt_rate(CONNECTIONS / 0.1)} in this closed loop")


def run(quick: bool) -> list[dict]:
    rows = []
    for kind, make in (("postgresql", scratch_postgres), ("sqlite", scratch_sqlite)):
        label = "PostgreSQL" if kind == "postgresql" else "SQLite"
        try:
            if shutil.which("wrk") is None:
                raise RuntimeError("wrk is not installed (make bench installs it)")
            with make("http") as url:
                rows.extend(_rows_for(measure(kind, url, quick)))
        except Exception as exc:  # one database failing must not lose the other's rows
            for figure, target in (
                    (f"check-in throughput ({label})", CHECKIN_TARGET[kind]),
                    (f"declaration submit ({label})", DECLARATION_TARGET),
                    (f"check-in latency at {OPEN_CHECKIN_RATE[kind]}/s ({label}, open loop)",
                     OPEN_CHECKIN_TARGET),
                    (f"declaration latency at {OPEN_DECLARATION_RATE}/s ({label}, open loop)",
                     OPEN_DECLARATION_TARGET)):
                rows.append(failed_row(figure, target=target,
                                       how="the deployed server + wrk and bench/openloop.py",
                                       error=f"{type(exc).__name__}: {exc}"))
    return rows


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=2, ensure_ascii=False))
