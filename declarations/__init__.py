"""The health declaration: questions, validation, triage, the visitor's own pages and personal QR
codes."""
from __future__ import annotations


def init_app(app) -> None:
    """Register the phone flow's pages and API, its CLI and its part of the API document."""
    from core import openapi
    from declarations import openapi as declarations_openapi
    from declarations.cli import keys_cli
    from declarations.views import bp

    app.register_blueprint(bp)
    app.cli.add_command(keys_cli)
    openapi.register(app, declarations_openapi)
