"""Scan-to-paint benchmark (not a test): what the person at the door sees. From the moment a
camera frame holding a visitor's personal QR leaves the camera driver until the kiosk page in real
Chromium has painted the result card, by the page's own clock.

Everything between is the kiosk's own, as in bench_scan_to_screen.py (CameraWorker, zxing-cpp,
the check-in consumer, handle_scan on a migrated SQLite database, the event broker, the server
of `kiosk run`), plus the door screen itself: /kiosk opened by a paired screen in Debian's
Chromium (Playwright, headless), its screen.js reading GET /kiosk/events and drawing the card.
The page records the moment the card was painted: a MutationObserver sees the card filled, then two animation frames
(the first runs before that frame's paint, the second once it has been presented), read as
performance.timeOrigin + performance.now(), the same wall clock as the camera side's time.time().

    python bench/bench_scan_to_paint.py [--quick]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_scan_to_screen import door  # noqa: E402

TARGET_P95_MS = 100.0

# In the page before its own scripts: each time the result card is filled and shown, note when
# it was painted (the wall clock, ms) and whose name it shows.
PAINT_PROBE = """
window.__paints = [];
document.addEventListener('DOMContentLoaded', function () {
  var card = document.getElementById('card');
  new MutationObserver(function () {
    if (card.hidden) { return; }
    var name = document.getElementById('card-name').textContent;
    requestAnimationFrame(function () {
      requestAnimationFrame(function () {
        window.__paints.push({name: name, at: performance.timeOrigin + performance.now()});
      });
    });
  }).observe(card, {attributes: true, childList: true, subtree: true, characterData: true});
});
"""


def chromium_path() -> str | None:
    return os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which(
        "chromium-browser")


def _paints(pipeline, port: int, path: str) -> tuple[list, int]:
    """Each visitor holds up their code in turn; when the door screen in Chromium paints them."""
    from kiosk_setup import screen_cookie
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        feed = pipeline.feed
        pipeline.manager.start()
        url = f"http://127.0.0.1:{port}"
        name, _, value = screen_cookie(pipeline.app).partition("=")
        browser = playwright.chromium.launch(
            executable_path=path, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update"])
        latencies, lost = [], 0
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 800},
                                          locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh")
            context.add_cookies([{"name": name, "value": value, "url": url}])
            context.add_init_script(PAINT_PROBE)
            page = context.new_page()
            page.goto(url + "/kiosk")
            page.wait_for_function("() => document.body.dataset.stream === 'open'",
                                   timeout=15_000)
            for i in range(len(pipeline.tokens)):
                label = f"scan{i}"
                # The card shows the visitor's name in capitals (kiosk_setup names them).
                shown = json.dumps(f"Nguyễn Văn Khách {i}".upper())
                first_paint = f"() => window.__paints.find(p => p.name === {shown})"
                feed.show(label, pipeline.frames[i])
                try:
                    page.wait_for_function(first_paint, timeout=5_000)
                except Exception:  # noqa: BLE001 - a scan never painted counts as lost
                    lost += 1
                    feed.show(None)
                    continue
                feed.show(None)
                painted = page.evaluate(first_paint)
                latencies.append(painted["at"] - feed.entered_wall[label] * 1000)
                time.sleep(0.15)  # the visitor walks on; the next one steps up
        finally:
            browser.close()
    return latencies, lost


def measure(scans: int) -> dict:
    path = chromium_path()
    if path is None:
        raise RuntimeError("Chromium is not installed (make bench installs Debian's chromium)")
    from kiosk.server import serve_while

    with door(scans, "khaibao-bench-paint-", {"PUBLIC_URL": "http://127.0.0.1"}) as pipeline:
        latencies, lost = serve_while(pipeline.app,
                                      lambda port: _paints(pipeline, port, path))
    latencies.sort()
    return {"scans": scans, "painted": len(latencies), "lost": lost,
            "p50_ms": round(statistics.median(latencies), 1),
            "p95_ms": round(latencies[max(0, round(0.95 * len(latencies)) - 1)], 1),
            "max_ms": round(latencies[-1], 1)}


def run(quick: bool = False) -> list[dict]:
    result = measure(5 if quick else 60)
    met = result["p95_ms"] <= TARGET_P95_MS and result["lost"] == 0
    row = {
        "figure": "scan to paint",
        "how": (f"{result['scans']} visitors, each a fresh signed personal QR held up to a 30 fps "
                "1280×720 live source feeding the kiosk's CameraWorker; check-in on SQLite; the "
                "door screen /kiosk open in Debian's Chromium (Playwright, headless, 1280×800, a "
                "paired screen); from the first frame with the code leaving the camera driver to "
                "the result card painted (the page's MutationObserver, then two animation "
                "frames, on performance.timeOrigin + performance.now())"),
        "target": f"p95 ≤ {TARGET_P95_MS:.0f} ms",
        "measured": (f"p95 {result['p95_ms']:.0f} ms, median {result['p50_ms']:.0f} ms "
                     f"({result['painted']}/{result['scans']} cards painted)"),
        "comparison": "scan to screen (the event read over HTTP, no page) is the row above; the "
                      "difference is the browser: the stream's delivery to the page, screen.js "
                      "and a frame's paint (up to 16.7 ms at 60 Hz)",
        "met": met,
        "data": result,
    }
    if not met:
        row["miss"] = ("p95 above the target or a card not painted on this machine (the camera, "
                       "the server and Chromium share 2 cores)")
    return [row]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes")
    args = parser.parse_args()
    json.dump(run(args.quick), sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
