"""Contact tracing: the tracer console and API, contact and visit lists, exports, paper-list
import, the retention purge, daily counts and the adoption report."""
from __future__ import annotations


def init_app(app) -> None:
    """Register the console, the API, the admin reports, the CLI, the API document's part and the
    nightly retention purge."""
    from core import openapi
    from core.workers import register_builder
    from tracing import openapi as tracing_openapi
    from tracing.api import bp as api_bp
    from tracing.cli import COMMANDS
    from tracing.notice_views import bp as notices_bp
    from tracing.report_views import bp as reports_bp
    from tracing.views import bp
    from tracing.worker import build_retention_worker

    for blueprint in (bp, api_bp, reports_bp, notices_bp):
        app.register_blueprint(blueprint)
    for command in COMMANDS:
        app.cli.add_command(command)
    openapi.register(app, tracing_openapi)
    register_builder(app, build_retention_worker)
