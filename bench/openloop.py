"""An open-loop HTTP load generator: requests leave on a fixed schedule (`rate` per second)
whether or not earlier ones were answered, and each latency is counted from the moment the
request was *scheduled* to leave, not from when it was sent. A server that falls behind therefore
shows it as latency (as wrk2 does), where a closed-loop tool such as wrk just sends less and
reports the waiting it avoided as nothing ("coordinated omission").

Plain asyncio sockets, one connection per request (`Connection: close`, as a sync gunicorn worker
answers anyway): little work per request, so the generator stays far below the rates it offers.
Its own lag (how late it got each request out) is reported next to the latencies, so a
generator starved of CPU cannot pass for a slow server.

    python bench/openloop.py URL RATE SECONDS [BODIES.jsonl] [--bearer TOKEN]
"""
from __future__ import annotations

import asyncio
import json
import sys
import time
from urllib.parse import urlsplit

TIMEOUT_S = 10.0


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of `values`; 0.0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(round(p / 100 * len(ordered) + 0.5))))
    return ordered[rank - 1]


def _request(method: str, host: str, path: str, body: bytes | None,
             headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: close",
             *(f"{k}: {v}" for k, v in headers.items())]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


async def _one(host: str, port: int, payload: bytes) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(payload)
        status_line = await reader.readline()
        await reader.read()  # the server closes the connection after the answer
        parts = status_line.split()
        return int(parts[1]) if len(parts) >= 2 else 0
    finally:
        writer.close()


async def _run(url: str, rate: float, seconds: float, bodies: list[bytes] | None,
               headers: dict[str, str], method: str) -> dict:
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or 80
    path = parts.path or "/"
    count = max(1, int(rate * seconds))
    payloads = ([_request(method, parts.netloc, path, b, headers) for b in bodies] if bodies
                else [_request(method, parts.netloc, path, None, headers)])
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    lags: list[float] = []
    statuses: dict[str, int] = {}
    errors = {"timeouts": 0, "connect": 0, "other": 0}

    async def fire(i: int, scheduled: float) -> None:
        lags.append(loop.time() - scheduled)
        try:
            status = await asyncio.wait_for(_one(host, port, payloads[i % len(payloads)]),
                                            TIMEOUT_S)
        except asyncio.TimeoutError:
            errors["timeouts"] += 1
            return
        except ConnectionError:
            errors["connect"] += 1
            return
        except OSError:
            errors["other"] += 1
            return
        latencies.append(loop.time() - scheduled)
        statuses[str(status)] = statuses.get(str(status), 0) + 1

    tasks = []
    start = loop.time() + 0.05
    sent = 0
    while sent < count:
        now = loop.time()
        due = min(count, int((now - start) * rate) + 1) if now >= start else 0
        while sent < due:  # everything whose time has come, late ones included
            tasks.append(asyncio.ensure_future(fire(sent, start + sent / rate)))
            sent += 1
        if sent < count:
            await asyncio.sleep(max(0.0, start + sent / rate - loop.time()))
    await asyncio.gather(*tasks)
    elapsed = loop.time() - start
    answered = len(latencies)
    non2xx = sum(n for code, n in statuses.items() if not code.startswith("2"))
    ms = [x * 1000 for x in latencies]
    return {
        "offered_per_s": rate, "requests": count, "answered": answered,
        "answered_per_s": answered / elapsed if elapsed > 0 else 0.0,
        "seconds": round(elapsed, 2), "statuses": statuses, "non2xx": non2xx,
        "errors": non2xx + sum(errors.values()), **errors,
        "p50_ms": round(percentile(ms, 50), 1), "p90_ms": round(percentile(ms, 90), 1),
        "p99_ms": round(percentile(ms, 99), 1), "max_ms": round(max(ms, default=0.0), 1),
        "send_lag_p99_ms": round(percentile([x * 1000 for x in lags], 99), 1),
        "send_lag_max_ms": round(max(lags, default=0.0) * 1000, 1),
    }


def open_loop(url: str, *, rate: float, seconds: float, bodies: list[str] | None = None,
              bearer: str | None = None, method: str | None = None) -> dict:
    """Offer `rate` requests per second to `url` for `seconds` (POSTing `bodies` in turn, one
    each, when given); latencies in ms from each request's scheduled send time."""
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    encoded = [b.encode() for b in bodies] if bodies else None
    return asyncio.run(_run(url, rate, seconds, encoded, headers,
                            method or ("POST" if bodies else "GET")))


if __name__ == "__main__":
    args = sys.argv[1:]
    token = None
    if "--bearer" in args:
        at = args.index("--bearer")
        token = args[at + 1]
        del args[at:at + 2]
    target, offered, duration = args[0], float(args[1]), float(args[2])
    lines = None
    if len(args) > 3:
        with open(args[3], encoding="utf-8") as handle:
            lines = [line.rstrip("\n") for line in handle if line.strip()]
    print(json.dumps(open_loop(target, rate=offered, seconds=duration, bodies=lines,
                               bearer=token), indent=2))
