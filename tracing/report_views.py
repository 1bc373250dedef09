"""Administrator page: the adoption report (share of visitors whose contact-tracing phone was
detected, per venue and day) with a server-drawn SVG chart and a CSV download."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

from flask import Blueprint, Response, render_template, request

from core import clock
from core.auth import roles_required
from core.db import db
from core.models import Role
from core.services import list_venues
from tracing import adoption
from tracing.adoption import ReportError, parse_day, report_error
from tracing.counts import adoption_report

# Administrators' reports live under /admin with the other admin pages.
bp = Blueprint("tracing_reports", __name__)


def _request_report():
    """since/until/venue from the query string; the last DEFAULT_DAYS days by default."""
    until = (parse_day(request.args["until"]) if request.args.get("until")
             else adoption.local_day(clock.now()))
    since = (parse_day(request.args["since"]) if request.args.get("since")
             else until - timedelta(days=adoption.DEFAULT_DAYS - 1))
    venue = (request.args.get("venue") or "").strip().upper() or None
    report = adoption_report(session=db.session, since=since, until=until,
                             venue_codes=[venue] if venue else None)
    return report, venue


@bp.get("/admin/adoption")
@roles_required(Role.admin)
def adoption_page():
    venues = list_venues(session=db.session)
    try:
        report, venue = _request_report()
    except ReportError as exc:
        return render_template("tracing/adoption.html", report=None, chart=None,
                               venues=venues, error=report_error(exc.code),
                               args=request.args), 400
    totals = report.daily_totals()
    visitors = sum(v for _, v, _ in totals)
    with_app = sum(w for _, _, w in totals)
    return render_template("tracing/adoption.html", report=report,
                           chart=adoption.chart(totals), venues=venues, venue=venue,
                           visitors=visitors, with_app=with_app, error=None, args=request.args)


@bp.get("/admin/adoption.csv")
@roles_required(Role.admin)
def adoption_csv():
    try:
        report, venue = _request_report()
    except ReportError as exc:
        return Response(report_error(exc.code) + "\n", status=400,
                        mimetype="text/plain")
    buffer = io.StringIO()
    buffer.write("\ufeff")  # spreadsheets need the byte-order mark to read Vietnamese right
    csv.writer(buffer, lineterminator="\r\n").writerows(adoption.csv_rows(report.rows))
    name = f"adoption-{venue or 'all'}-{report.since.isoformat()}-{report.until.isoformat()}.csv"
    return Response(buffer.getvalue(), mimetype="text/csv",  # werkzeug adds the charset
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
