"""Exposure notices: the visitors who shared a place with an index case are told where and when,
and what to do (never who the case was), on their personal page, at their next kiosk scan, by
e-mail and through an SMS gateway; and hosts told of their visitors' arrival. Below declarations,
the door and the tracer, which all use it; above visits."""


def init_app(app) -> None:
    """Register the delivery worker (e-mail and SMS, with retries)."""
    from core.workers import JOB, register_builder
    from notices.cli import notices_cli
    from notices.views import bp
    from notices.worker import build_delivery_worker

    app.register_blueprint(bp)
    app.cli.add_command(notices_cli)
    register_builder(app, build_delivery_worker, kind=JOB)
