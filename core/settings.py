"""Configuration defaults and the loading order: defaults → instance/config.py → KIOSK_* environment
→ test config. Every tunable constant of the product lives here with a one-line why."""
from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from flask import Flask

ENV_PREFIX = "KIOSK"


class Defaults:
    # Database: None means a SQLite file in instance/ (the kiosk works with no network).
    DATABASE_URL: str | None = None
    # SQLite: a write waits this long for another writer's lock, then the caller gets a clear
    # "busy, try again" (503) instead of hanging; 10 s rides out any normal burst at a door.
    DATABASE_BUSY_TIMEOUT_S = 10.0
    # Venue code this kiosk serves; `make run` seeds a DEMO venue so a new install shows something.
    VENUE = "DEMO"
    # Base URL that visitors' phones can reach; None means the server's own address.
    PUBLIC_URL: str | None = None
    # Camera: auto | none | device index | file | folder | stream URL.
    CAMERA_SOURCE = "auto"
    # zxing-cpp measured 10-20x faster and more robust than pyzbar (reference/qr-decoding.md).
    DECODER = "zxing"
    # BLE scanner: auto | off | adapter name (hci0).
    BLE = "auto"
    # Active also gets scan responses (iOS local names); passive sends nothing on air but needs
    # BlueZ >= 5.56 --experimental, and falls back to active when refused (ble-formats.md §8).
    BLE_SCAN_MODE = "active"
    # Venue beacon: off | ibeacon | eddystone. Off by default: transmitting is a policy decision.
    BLE_BEACON = "off"
    # 21 days covers a 14-day incubation window plus reporting lag (England NHS used 21).
    RETENTION_DAYS = 21
    # A declaration older than this asks the visitor to re-confirm (tokhaiyte practice: daily).
    DECLARATION_FRESH_HOURS = 24
    # Check-in/check-out at the door. A second scan sooner than this after check-in is the same
    # person still at the door (or the camera seeing the code again), not someone leaving.
    MIN_STAY_MIN = 5
    # A scan this soon after a scan check-out repeats that answer instead of checking in again.
    REPEAT_SCAN_S = 60
    # Open visits close automatically after this long when the venue sets neither a closing time
    # nor a maximum stay: a long working day; a forgotten check-out must not overlap everything.
    MAX_STAY_MIN = 12 * 60
    # How often the automatic check-out job looks for overdue visits (a minute is fine-grained
    # enough for tracing overlaps measured in minutes).
    AUTO_CHECKOUT_INTERVAL_S = 60
    # A touchscreen question (re-confirm a stale declaration, health questions after an ID-card
    # scan) stays answerable this long: a visitor answers in seconds, a ticket must not linger.
    CONFIRM_TTL_S = 300
    # Event-stream heartbeat: a stream that writes this often notices a gone screen within
    # seconds (the write fails) and frees its slot; proxies drop streams silent for ~30-60 s.
    EVENTS_HEARTBEAT_S = 2
    # Long-lived responses (event streams and camera previews together) one process serves at
    # once: a door screen holds two, a desk one. More are refused (503), never queued. 0: this
    # process serves none (a central server's sync workers; deploy/ gives streams their own).
    STREAM_LIMIT = 8
    # The kiosk screen returns to the idle screen after this long without a scan or a touch.
    SCREEN_IDLE_S = 20
    # The underlying-conditions list is sensitive and useless for door triage: off by default.
    COLLECT_CONDITIONS = False
    # The contact-tracing / health apps the declaration asks about (keys, in order; "none" is
    # always offered). The provincial adoption tables counted Bluezone, then PC-Covid and VNeID.
    TRACING_APPS = ("bluezone", "pc_covid", "vneid", "other")
    # Exposure notices: e-mail through SMTP (smtp://host:port) and SMS through an HTTP gateway;
    # both off by default (then the personal page and the kiosk card still carry the notice).
    SMTP_URL = None
    SMS_WEBHOOK_URL = None
    NOTICE_SENDER = "khaibao@localhost"
    # A mail server or gateway down for a while must not lose a notice: retry with backoff
    # (30 s, 1, 2, 4 min…), then show it failed to the tracer, who can resend.
    NOTICE_MAX_ATTEMPTS = 5
    NOTICE_RETRY_S = 30
    NOTICE_INTERVAL_S = 5
    # A personal QR older than this is refused ("please declare again"); the phone's remembered
    # visitor cookie lasts as long. Never longer than RETENTION_DAYS, whatever is set here: a
    # code must not outlive the data it stands for (declarations.tokens.code_lifetime).
    TOKEN_MAX_AGE_DAYS = 21
    # How often each process reads the token keys' version (one row): a `keys retire` or
    # `keys rotate` acts in every running process within this many seconds.
    KEY_CHECK_S = 2
    # None = the default triage rules (declarations/rules.py); a mapping overrides them, e.g.
    # {"flag_symptoms": ["fever"], "fever_threshold_c": 38.0}. The rule version is stored.
    TRIAGE_RULES = None
    # Threads that run the app for ordinary requests (pages, the API) under `kiosk run`
    # (kiosk/server.py), which adds STREAM_LIMIT more for the streams, so open streams never take
    # these. Requests beyond them wait in the server's queue, holding no thread. The process has
    # one interpreter lock and SQLite one writer: more threads only contend for them (bench: 3,
    # 5 and 8 threads served a rush of check-ins alike).
    SERVER_THREADS = 8
    # Number of reverse proxies in front of a central server (0 on a kiosk device).
    TRUSTED_PROXIES = 0
    # Host names requests may name (others get a 400 before the app sees them): None means this
    # machine's loopback names and KIOSK_PUBLIC_URL's host. A forged Host header reaches no link.
    ALLOWED_HOSTS: list[str] | None = None
    # Languages offered; Vietnamese is the default, English the toggle.
    LANGUAGES = ("vi", "en")
    BABEL_DEFAULT_LOCALE = "vi"
    BABEL_DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
    # Each feature package owns its catalogue; Flask-Babel merges them.
    BABEL_TRANSLATION_DIRECTORIES = (
        "core/translations;visits/translations;declarations/translations;kiosk/translations;"
        "ble_beacon/translations;tracing/translations;notices/translations;sync/translations"
    )
    # Session cookie: never readable by scripts, not sent on cross-site requests.
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_NAME = "khaibao_session"
    # A staff session ends after a working shift.
    PERMANENT_SESSION_LIFETIME = 12 * 3600
    # CSRF tokens last as long as the session (receptionists keep a page open all day).
    WTF_CSRF_TIME_LIMIT = None
    # Rate limits ("N per minute"): sign-in attempts per client address and per account.
    LOGIN_RATE_LIMIT = "10 per minute"
    LOGIN_ACCOUNT_RATE_LIMIT = "20 per hour"
    # Public writes (declarations, the declaration form, scans, check-ins) per client address:
    # a venue's guest Wi-Fi or a carrier NAT puts a whole queue behind one address, so allow a
    # shift change (~2 a second) while holding a script to that. The door's own screen and
    # signed-in/bearer staff are exempt (core/security.py trusted_caller).
    PUBLIC_RATE_LIMIT = "120 per minute"
    # The same writes per venue, for every caller: a busy door at shift change (hundreds within
    # minutes, several doors and screens) must pass; a flood aimed at one venue must not.
    VENUE_RATE_LIMIT = "600 per minute"
    # Limits are counted in process memory (one kiosk process); a central server with several
    # workers points this at Redis or Memcached (redis://host:6379) to share the counts.
    RATELIMIT_STORAGE_URI = "memory://"
    # If that shared store cannot be reached, count in this process's memory until it is back:
    # the door keeps working and the limits still hold per worker.
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    # Every limit above is on in production; only a test that fuzzes the API turns them off.
    RATELIMIT_ENABLED = True
    RATELIMIT_HEADERS_ENABLED = True
    # An installation (a central server and its kiosks): on a kiosk, the central server's address
    # and this device's credential (`flask device enrol` on the central server). Unset: a
    # stand-alone kiosk that forwards nothing.
    CENTRAL_URL: str | None = None
    DEVICE_TOKEN: str | None = None
    # A sync round this often: a check-in reaches the tracers within seconds, a revocation made
    # centrally reaches the door well within a minute.
    SYNC_INTERVAL_S = 10
    # Every sync call gives up on connecting after this long, and on each read after this long:
    # a dead or silent link is noticed in seconds and only the sync worker ever waits for it.
    SYNC_CONNECT_TIMEOUT_S = 5.0
    SYNC_READ_TIMEOUT_S = 20.0
    # The desk warns when the oldest change not yet on the central server is older than this.
    SYNC_BACKLOG_WARN_MIN = 15
    # Once everything is on the central server, a kiosk keeps closed visits, encounters and
    # declarations this many hours, then only visitors' uids (sync/trim.py).
    KEEP_FORWARDED_H = 24
    # PostgreSQL: give up connecting after this long, and cancel a statement running longer
    # (a central server unreachable or stuck answers 503 in seconds instead of hanging requests).
    DATABASE_CONNECT_TIMEOUT_S = 5
    DATABASE_STATEMENT_TIMEOUT_S = 30
    # Live events (desk and door screens) across the worker processes of a central server:
    # redis://host:6379/0. Unset: delivered within the one process (a kiosk device).
    EVENTS_URL: str | None = None
    # Uploads are camera frames or CSV lists; anything larger is refused outright.
    MAX_CONTENT_LENGTH = 8 * 1024 * 1024
    # An uploaded frame is refused above this many pixels before it is decoded: 25 MP admits any
    # phone photo, while a small PNG claiming 40000x40000 would need gigabytes once unpacked.
    IMAGE_MAX_PIXELS = 25_000_000


VALID_DECODERS = ("zxing", "zbar")


class ConfigError(RuntimeError):
    """A configuration value is wrong; the message says which and what is allowed."""


def _strip_prefix(config) -> None:
    """instance/config.py may use the environment names (KIOSK_VENUE = ...) or the bare ones."""
    for key in [k for k in config if k.startswith(ENV_PREFIX + "_")]:
        config[key[len(ENV_PREFIX) + 1:]] = config.pop(key)


def load(app: Flask, test_config: dict | None) -> None:
    app.config.from_object(Defaults)
    app.config.from_pyfile("config.py", silent=True)
    _strip_prefix(app.config)
    app.config.from_prefixed_env(ENV_PREFIX)
    if os.environ.get("DATABASE_URL"):
        app.config["DATABASE_URL"] = os.environ["DATABASE_URL"]
    if test_config:
        app.config.from_mapping(test_config)
    _finalise(app)


def _finalise(app: Flask) -> None:
    config = app.config
    if not config.get("DATABASE_URL"):
        config["DATABASE_URL"] = "sqlite:///" + str(Path(app.instance_path) / "kiosk.db")
    if not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = _instance_secret(Path(app.instance_path))
    config["DECODER"] = str(config["DECODER"]).lower()
    if config["DECODER"] not in VALID_DECODERS:
        raise ConfigError(
            f"KIOSK_DECODER={config['DECODER']!r} is not one of {', '.join(VALID_DECODERS)}"
        )
    for key, minimum in (("RETENTION_DAYS", 1), ("DECLARATION_FRESH_HOURS", 1),
                         ("TOKEN_MAX_AGE_DAYS", 1), ("KEY_CHECK_S", 1),
                         ("MIN_STAY_MIN", 0), ("REPEAT_SCAN_S", 0), ("MAX_STAY_MIN", 1),
                         ("AUTO_CHECKOUT_INTERVAL_S", 1), ("CONFIRM_TTL_S", 10),
                         ("EVENTS_HEARTBEAT_S", 1), ("SCREEN_IDLE_S", 5),
                         ("STREAM_LIMIT", 0), ("SERVER_THREADS", 1),
                         ("IMAGE_MAX_PIXELS", 1), ("SYNC_INTERVAL_S", 1),
                         ("SYNC_BACKLOG_WARN_MIN", 1), ("KEEP_FORWARDED_H", 1),
                         ("DATABASE_CONNECT_TIMEOUT_S", 1),
                         ("DATABASE_STATEMENT_TIMEOUT_S", 1)):
        try:
            config[key] = int(config[key])
        except (TypeError, ValueError):
            raise ConfigError(f"KIOSK_{key} must be a whole number, got {config[key]!r}") from None
        if config[key] < minimum:
            raise ConfigError(f"KIOSK_{key} must be at least {minimum}")
    try:
        config["DATABASE_BUSY_TIMEOUT_S"] = float(config["DATABASE_BUSY_TIMEOUT_S"])
    except (TypeError, ValueError):
        raise ConfigError("KIOSK_DATABASE_BUSY_TIMEOUT_S must be a number of seconds, got "
                          f"{config['DATABASE_BUSY_TIMEOUT_S']!r}") from None
    if not 0 < config["DATABASE_BUSY_TIMEOUT_S"] <= 600:
        raise ConfigError("KIOSK_DATABASE_BUSY_TIMEOUT_S must be between 0 and 600 seconds")
    for key in ("SYNC_CONNECT_TIMEOUT_S", "SYNC_READ_TIMEOUT_S"):
        try:
            config[key] = float(config[key])
        except (TypeError, ValueError):
            raise ConfigError(f"KIOSK_{key} must be a number of seconds, got "
                              f"{config[key]!r}") from None
        if not 0 < config[key] <= 600:
            raise ConfigError(f"KIOSK_{key} must be between 0 and 600 seconds")
    if config.get("CENTRAL_URL"):
        config["CENTRAL_URL"] = str(config["CENTRAL_URL"]).strip().rstrip("/")
        if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", config["CENTRAL_URL"]):
            raise ConfigError("KIOSK_CENTRAL_URL must be an http:// or https:// address, got "
                              f"{config['CENTRAL_URL']!r}")
        if not config.get("DEVICE_TOKEN"):
            raise ConfigError("KIOSK_CENTRAL_URL is set but KIOSK_DEVICE_TOKEN is not: enrol the "
                              "device on the central server (flask device enrol) and set both")
    if config.get("EVENTS_URL") and not re.fullmatch(r"(rediss?|unix)://\S+",
                                                      str(config["EVENTS_URL"])):
        raise ConfigError("KIOSK_EVENTS_URL must be a redis://, rediss:// or unix:// address, "
                          f"got {config['EVENTS_URL']!r}")
    config["VENUE"] = str(config["VENUE"]).strip().upper()
    config["BLE"] = str(config["BLE"]).strip()
    if config["BLE"].lower() in ("auto", "off"):
        config["BLE"] = config["BLE"].lower()
    elif not re.fullmatch(r"[A-Za-z0-9_]{1,32}", config["BLE"]):
        raise ConfigError(f"KIOSK_BLE={config['BLE']!r} is not auto, off or an adapter name (hci0)")
    for key, allowed in (("BLE_SCAN_MODE", ("active", "passive")),
                         ("BLE_BEACON", ("off", "ibeacon", "eddystone"))):
        config[key] = str(config[key]).strip().lower()
        if config[key] not in allowed:
            raise ConfigError(f"KIOSK_{key}={config[key]!r} is not one of {', '.join(allowed)}")
    config["CAMERA_SOURCE"] = str(config["CAMERA_SOURCE"]).strip()
    apps = config["TRACING_APPS"]
    keys = tuple(k.strip().lower() for k in (apps.split(",") if isinstance(apps, str) else apps)
                 if str(k).strip())
    if (not keys or len(set(keys)) != len(keys) or "none" in keys
            or not all(re.fullmatch(r"[a-z0-9_]{1,32}", k) for k in keys)):
        raise ConfigError(f"KIOSK_TRACING_APPS={apps!r} must list app keys (a-z, 0-9, _) "
                          "separated by commas, without 'none' (always offered)")
    config["TRACING_APPS"] = keys
    if config.get("PUBLIC_URL"):
        config["PUBLIC_URL"] = str(config["PUBLIC_URL"]).rstrip("/")
    config["ALLOWED_HOSTS"] = _allowed_hosts(config.get("ALLOWED_HOSTS"), config.get("PUBLIC_URL"))


LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1")


def _allowed_hosts(value, public_url: str | None) -> list[str]:
    """KIOSK_ALLOWED_HOSTS as a list (a JSON list or comma-separated names), else the loopback
    names and the public address's host."""
    from urllib.parse import urlsplit

    if isinstance(value, str):
        value = [name.strip() for name in value.split(",")]
    if value:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ConfigError("KIOSK_ALLOWED_HOSTS must be host names separated by commas")
        return [v for v in value if v]
    hosts = list(LOOPBACK_HOSTS)
    if public_url:
        host = urlsplit(str(public_url)).hostname
        if host and host not in hosts:
            hosts.append(host)
    return hosts


def _instance_secret(instance: Path) -> str:
    """Generated once into instance/secret_key so sessions and signed links survive restarts."""
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its secret
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    return secret
