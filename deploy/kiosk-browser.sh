#!/usr/bin/env bash
# Opens the kiosk screen full-screen in Chromium's kiosk mode once the local server answers.
# Run it from the touchscreen user's graphical session (see khaibao-browser.service).
set -euo pipefail
url=${KIOSK_SCREEN_URL:-http://127.0.0.1:5000/kiosk}
for _ in $(seq 1 60); do
  curl -fsS -o /dev/null "http://127.0.0.1:${PORT:-5000}/healthz" && break
  sleep 1
done
browser=$(command -v chromium || command -v chromium-browser)
exec "$browser" --kiosk --noerrdialogs --disable-infobars --no-first-run \
  --disable-session-crashed-bubble --disable-translate --overscroll-history-navigation=0 \
  --check-for-update-interval=31536000 --autoplay-policy=no-user-gesture-required \
  --user-data-dir="${XDG_RUNTIME_DIR:-/tmp}/khaibao-browser" "$url"
