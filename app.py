"""KhaiBao Kiosk: the application factory. Config, extensions, blueprints, CLI groups; nothing else."""
from __future__ import annotations

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


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        instance_relative_config=True,
        instance_path=(test_config or {}).get("INSTANCE_PATH"),
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

    # Blueprints.
    from ble_beacon.views import bp as ble_beacon_bp
    from core.admin import bp as admin_bp
    from core.views import bp as core_bp
    from declarations.views import bp as declarations_bp
    from kiosk.views import bp as kiosk_bp
    from tracing.api import bp as tracing_api_bp
    from tracing.views import bp as tracing_bp

    app.register_blueprint(core_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(declarations_bp)
    app.register_blueprint(kiosk_bp)
    app.register_blueprint(ble_beacon_bp)
    app.register_blueprint(tracing_bp)
    app.register_blueprint(tracing_api_bp)

    # CLI groups.
    from ble_beacon.cli import beacon, report_cli
    from declarations.cli import keys_cli
    from kiosk.cli import kiosk_cli, scan
    from tracing.cli import COMMANDS as TRACING_COMMANDS

    for command in (*CORE_COMMANDS, kiosk_cli, scan, keys_cli, beacon, report_cli,
                    *TRACING_COMMANDS):
        app.cli.add_command(command)
    return app
