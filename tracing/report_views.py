"""Administrator page: the adoption report by unit (venue, ward, province, or the visitors' own
ward or province) and period (day, week, month), with a server-drawn SVG chart (no script: the
CSP forbids inline script), downloads (JSON, CSV, XLSX, PDF) and the import of unit populations."""
from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from core import clock
from core.auth import roles_required
from core.db import db
from core.models import Role
from core.services import list_venues
from tracing import adoption, adoption_export
from tracing.adoption import ReportError, parse_day, report_error
from tracing.counts import import_populations, unit_adoption_report, unit_populations
from tracing.errors import message_for
from tracing.exports import ExportError

# Administrators' reports live under /admin with the other admin pages.
bp = Blueprint("tracing_reports", __name__)

# Populations files are a few thousand lines at most (3,321 wards).
MAX_POPULATION_FILE_BYTES = 1024 * 1024


def _request_report():
    """since/until/by/period/venue from the query string; the last DEFAULT_DAYS days by venue
    and day by default."""
    until = (parse_day(request.args["until"]) if request.args.get("until")
             else adoption.local_day(clock.now()))
    since = (parse_day(request.args["since"]) if request.args.get("since")
             else until - timedelta(days=adoption.DEFAULT_DAYS - 1))
    venue = (request.args.get("venue") or "").strip().upper() or None
    return unit_adoption_report(session=db.session, since=since, until=until,
                                by=request.args.get("by") or "venue",
                                period=request.args.get("period") or "day",
                                venue_codes=[venue] if venue else None,
                                lang=str(get_locale() or "vi")), venue


def _page(report=None, venue=None, error=None, status=200, population_errors=()):
    context = _page_context(report, venue)
    context.update(error=error, population_errors=list(population_errors))
    return render_template("tracing/adoption.html", **context), status


@bp.get("/admin/adoption")
@roles_required(Role.admin)
def adoption_page():
    try:
        report, venue = _request_report()
    except ReportError as exc:
        return _page(error=report_error(exc.code), status=400)
    return _page(report, venue)


@bp.get("/admin/adoption.<fmt>")
@roles_required(Role.admin)
def adoption_download(fmt: str):
    if fmt not in adoption_export.FORMATS:
        return Response(_("Unknown format.") + "\n", status=404, mimetype="text/plain")
    try:
        report, _venue = _request_report()
        made = adoption_export.build(report, fmt)
    except ReportError as exc:
        return Response(report_error(exc.code) + "\n", status=400, mimetype="text/plain")
    except ExportError as exc:
        return Response(str(message_for(exc.code)) + "\n", status=400, mimetype="text/plain")
    name = adoption_export.filename(report, fmt)
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if isinstance(made, bytes):
        return Response(made, mimetype="application/json", headers=headers)
    return Response(made.chunks(), mimetype=made.mimetype, headers=headers)


# Kept for links and bookmarks made before the other formats.
@bp.get("/admin/adoption.csv", endpoint="adoption_csv")
@roles_required(Role.admin)
def _adoption_csv():
    return adoption_download("csv")


@bp.post("/admin/adoption/populations")
@roles_required(Role.admin)
def adoption_populations():
    """CSV `unit code, population`: a file with any bad line is refused whole, each problem
    with its line number."""
    upload = request.files.get("file")
    data = upload.read(MAX_POPULATION_FILE_BYTES + 1) if upload else b""
    problems: list[str] = []
    found = {}
    if not data:
        problems.append(_("Choose a CSV file: unit code, population."))
    elif len(data) > MAX_POPULATION_FILE_BYTES:
        problems.append(_("The file is larger than 1 MB."))
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            problems.append(_("The file is not UTF-8 text."))
        else:
            found, bad = adoption.parse_populations(text)
            problems += [(_("Line %(n)d: %(problem)s", n=n, problem=adoption.POPULATION_ERRORS[c])
                          if n else str(adoption.POPULATION_ERRORS[c])) for n, c in bad]
    if problems:
        try:
            report, venue = _request_report()
        except ReportError:
            report, venue = None, None
        return _page(report, venue, status=422, population_errors=problems)
    count = import_populations(session=db.session, populations=found,
                               actor=current_user._get_current_object(), now=clock.now())
    flash(_("Populations of %(count)d unit(s) imported.", count=count), "success")
    return redirect(url_for("tracing_reports.adoption_page", **request.args))


def _page_context(report, venue) -> dict:
    return dict(
        report=report,
        chart=(adoption.period_chart(report.rows, report.since, report.until, report.period)
               if report else None),
        grand=report.rows[-1] if report else None, venues=list_venues(session=db.session),
        venue=venue, error=None, args=request.args, groupings=adoption.GROUPINGS,
        periods=adoption.PERIODS, populations=len(unit_populations(session=db.session)),
        population_errors=[], formats=("csv", "xlsx", "pdf", "json"))
