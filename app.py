"""KhaiBao Kiosk: the application factory. Config, extensions, blueprints, CLI groups; nothing else."""
from __future__ import annotations

import importlib
import importlib.util
import os

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from core import errors, i18n, input_limits, security, settings
from core.auth import login_manager
from core.cli import COMMANDS as CORE_COMMANDS
from core.clock import SystemClock
from core.db import db
from core.workers import WorkerManager

csrf = CSRFProtect()

# The feature packages, lowest first: each builds only on core and the ones before it (the
# import-graph test holds them to it). This module, `kiosk run` and migrations/env.py compose the
# product and may know them all; nothing below them does.
FEATURES = ("ble_beacon", "visits", "notices", "declarations", "kiosk", "tracing", "sync")


def import_models() -> None:
    """Put every table on SQLModel.metadata (Alembic, tests, benchmarks): core's and each
    feature's `models` module."""
    importlib.import_module("core.models")
    for name in FEATURES:
        if importlib.util.find_spec(f"{name}.models") is not None:
            importlib.import_module(f"{name}.models")


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        instance_relative_config=True,
        # KIOSK_INSTANCE_PATH: another instance folder (database, secret, keys) for this process.
        instance_path=(test_config or {}).get("INSTANCE_PATH")
        or os.environ.get("KIOSK_INSTANCE_PATH") or None,
    )
    settings.load(app, test_config)
    app.json.sort_keys = False  # keep documented key order in API answers
    if app.config["TRUSTED_PROXIES"]:
        hops = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    # Extensions (created unbound, attached here).
    db.init_app(app)
    input_limits.init_app(app)  # before the blueprints (ids in URLs) and the rate limiter
    login_manager.init_app(app)
    csrf.init_app(app)
    i18n.init_app(app)
    errors.init_app(app)
    security.init_app(app)
    app.extensions["clock"] = SystemClock()
    app.extensions["workers"] = WorkerManager()  # empty: workers start only from `kiosk run`

    # Core's own pages and commands, then each feature registers its blueprints, CLI, API
    # description and workers.
    from core.admin import bp as admin_bp
    from core.views import bp as core_bp

    app.register_blueprint(core_bp)
    app.register_blueprint(admin_bp)
    for command in CORE_COMMANDS:
        app.cli.add_command(command)
    for name in FEATURES:
        module = importlib.import_module(name)
        if hasattr(module, "init_app"):
            module.init_app(app)
    return app
