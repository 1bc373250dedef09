#!/usr/bin/env bash
# Opens the kiosk screen full-screen in Chromium's kiosk mode once the local server answers.
# Run it from the touchscreen user's graphical session (see khaibao-browser.service).
set -euo pipefail
url=${KIOSK_SCREEN_URL:-http://127.0.0.1:5000/kiosk}
for _ in $(seq 1 60); do
  curl -fsS -o /dev/null "http://127.0.0.1:${PORT:-5000}/healthz" && break
  sleep 1
done
# The screen proves itself with a cookie it got by pairing (not by being on this machine): the
# first start pairs it with a one-time link made here by the service account's CLI; later starts
# find the cookie in the browser profile (KIOSK_SCREEN_PAIR=always pairs again, the old record
# is then revoked).
profile="${KIOSK_BROWSER_PROFILE:-$HOME/.config/khaibao-browser}"
if [ ! -e "$profile/.paired" ] || [ "${KIOSK_SCREEN_PAIR:-}" = always ]; then
  app_dir=${KIOSK_APP_DIR:-/opt/khaibao}
  url=$(cd "$app_dir" && .venv/bin/flask --app app kiosk pair --name "$(hostname) screen" \
        --base-url "http://127.0.0.1:${PORT:-5000}" | tail -n 1)
  mkdir -p "$profile" && touch "$profile/.paired"
fi
browser=$(command -v chromium || command -v chromium-browser)
exec "$browser" --kiosk --noerrdialogs --disable-infobars --no-first-run \
  --disable-session-crashed-bubble --disable-translate --overscroll-history-navigation=0 \
  --check-for-update-interval=31536000 --autoplay-policy=no-user-gesture-required \
  --user-data-dir="$profile" "$url"
