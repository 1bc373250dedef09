"""Command line for tracers and administrators: `trace contacts`, `export visits`, `purge`,
`visits import` and `report adoption` (flask --app app …). Every query and export is audited as
the OS user."""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from core.cli import bilingual, cli_actor
from core.clock import now
from core.db import db
from core.services import get_venue
from tracing import (
    adoption,
    adoption_export,
    contact_query,
    errors,
    exporting,
    notify,
    search,
)
from tracing.adoption import REPORT_ERRORS, ReportError, parse_day
from tracing.counts import adoption_report, unit_adoption_report
from tracing.errors import message_for
from tracing.exports import ExportError, ExportFile
from tracing.parsing import (
    DEFAULT_AFTER_MIN,
    DEFAULT_BEFORE_MIN,
    MAX_BUFFER_MIN,
    InputError,
    parse_window,
)
from tracing.purge import purge_personal_data

trace_cli = AppGroup("trace", help="Contact tracing.")
export_cli = AppGroup("export", help="Exports (CSV, XLSX, PDF), audited.")
visits_cli = AppGroup("visits", help="Visit lists.")

TIME_HELP = ("ISO 8601 (2026-03-10T09:00+07:00); without an offset it is Việt Nam time; a bare "
             "date is that whole local day")


def _fail(message, field: str | None = None) -> click.ClickException:
    prefix = f"{field}: " if field else ""
    return click.ClickException(prefix + bilingual(message))


def _window(since: str, until: str):
    try:
        return parse_window(since, until)
    except InputError as exc:
        raise _fail(exc.message, f"--{exc.field}") from None


def _write(export: ExportFile, output: str) -> None:
    """Copy the finished file out in chunks; never leave half a file behind."""
    path = Path(output)
    try:
        with path.open("wb") as handle:
            for chunk in export.chunks():
                handle.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    finally:
        export.close()


@trace_cli.command("notify")
@click.option("--phone", help="The index case's phone number.")
@click.option("--id-number", help="The index case's CCCD/CMND/passport number.")
@click.option("--since", required=True, help=TIME_HELP)
@click.option("--until", required=True, help=TIME_HELP)
@click.option("--before-min", type=click.IntRange(0, MAX_BUFFER_MIN),
              default=DEFAULT_BEFORE_MIN, show_default=True,
              help="Buffer before the index case's check-in.")
@click.option("--after-min", type=click.IntRange(0, MAX_BUFFER_MIN),
              default=DEFAULT_AFTER_MIN, show_default=True,
              help="Buffer after the index case's check-out.")
@click.option("--min-overlap-min", type=click.IntRange(0, 24 * 60),
              default=notify.DEFAULT_MIN_OVERLAP_MIN, show_default=True,
              help="Only visitors who overlapped at least this long are notified.")
@click.option("--deliver/--no-deliver", default=True, show_default=True,
              help="Try the e-mails and SMS once now (the kiosk's worker retries later).")
def trace_notify(phone, id_number, since, until, before_min, after_min, min_overlap_min,
                 deliver):
    """Mark an index case's visits as an exposure: notices to the co-present visitors; prints
    JSON naming who was notified and how."""
    from notices.services import deliver_due
    from notices.worker import delivery_settings

    if bool(phone) == bool(id_number):
        raise click.UsageError("give exactly one of --phone or --id-number")
    window = _window(since, until)
    moment = now()
    settings = delivery_settings(current_app)
    with db.new_session() as session:
        try:
            index = search.resolve_index(session=session, phone=phone, id_number=id_number,
                                           since=window.since, until=window.until, now=moment)
            result = notify.notify_exposure(
                session=session, visit_ids=[v.id for v in index], before_min=before_min,
                after_min=after_min, min_overlap_min=min_overlap_min, settings=settings,
                actor=cli_actor(), now=moment)
            if deliver and (settings.smtp_url or settings.sms_webhook_url):
                deliver_due(session=session, settings=settings, now=moment)
                result = notify.refresh(session, result)
        except errors.TracingError as exc:
            raise _fail(message_for(exc.code)) from None
    click.echo(json.dumps(result, ensure_ascii=False, indent=2))


@trace_cli.command("contacts")
@click.option("--phone", help="The index case's phone number.")
@click.option("--id-number", help="The index case's CCCD/CMND/passport number.")
@click.option("--since", required=True, help=TIME_HELP)
@click.option("--until", required=True, help=TIME_HELP)
@click.option("--before-min", type=click.IntRange(0, MAX_BUFFER_MIN),
              default=DEFAULT_BEFORE_MIN, show_default=True,
              help="Buffer before the index case's check-in.")
@click.option("--after-min", type=click.IntRange(0, MAX_BUFFER_MIN),
              default=DEFAULT_AFTER_MIN, show_default=True,
              help="Buffer after the index case's check-out.")
@click.option("--format", "fmt", type=click.Choice(["json", "csv", "xlsx", "pdf"]),
              default="json", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="Write to this file (needed for xlsx and pdf).")
def trace_contacts(phone, id_number, since, until, before_min, after_min, fmt, output):
    """Co-present visitors (with overlap minutes) and nearby rolling IDs of an index case."""
    if bool(phone) == bool(id_number):
        raise click.UsageError("give exactly one of --phone or --id-number")
    if fmt in ("xlsx", "pdf") and not output:
        raise click.UsageError(f"--format {fmt} needs -o FILE")
    window = _window(since, until)
    moment = now()
    query = {"by": "phone" if phone else "id_number", "since": window.since.isoformat(),
             "until": window.until.isoformat()}
    with db.new_session() as session:
        try:
            index = search.resolve_index(session=session, phone=phone, id_number=id_number,
                                           since=window.since, until=window.until, now=moment)
            ids = [v.id for v in index]
            if fmt == "json":
                report = contact_query.query_contacts(
                    session=session, visit_ids=ids, before_min=before_min, after_min=after_min,
                    now=moment, actor=cli_actor(), channel="cli", query=query,
                    since=window.since, until=window.until)
                text = json.dumps(report.as_json(), ensure_ascii=False, indent=2) + "\n"
                if output:
                    Path(output).write_text(text, encoding="utf-8")
                else:
                    click.echo(text, nl=False)
                return
            export = exporting.export_contacts(
                session=session, visit_ids=ids, before_min=before_min, after_min=after_min,
                fmt=fmt, now=moment, actor=cli_actor(), channel="cli", query=query,
                since=window.since, until=window.until)
        except errors.TracingError as exc:
            raise _fail(message_for(exc.code)) from None
        except ExportError as exc:
            raise _fail(message_for(exc.code)) from None
    if output:
        _write(export, output)
        click.echo(f"{export.row_count} rows, sha256 {export.sha256} → {output}", err=True)
    else:
        # The binary side of standard output (click.get_binary_stream is deprecated).
        stdout = sys.stdout.buffer
        try:
            for chunk in export.chunks():
                stdout.write(chunk)
            stdout.flush()
        finally:
            export.close()


@export_cli.command("visits")
@click.option("--venue", "venue_code", required=True, help="Venue code.")
@click.option("--since", required=True, help=TIME_HELP)
@click.option("--until", required=True, help=TIME_HELP)
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx", "pdf"]), required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), required=True)
def export_visits(venue_code, since, until, fmt, output):
    """Everyone at a venue during a time range, as a file."""
    window = _window(since, until)
    with db.new_session() as session:
        venue = get_venue(session=session, code=venue_code)
        if venue is None:
            raise _fail(message_for("venue_not_found"), "--venue")
        try:
            export = exporting.export_visits(session=session, venue=venue, since=window.since,
                                            until=window.until, fmt=fmt, now=now(),
                                            actor=cli_actor(), channel="cli")
        except ExportError as exc:
            raise _fail(message_for(exc.code)) from None
    _write(export, output)
    click.echo(f"{export.row_count} rows, sha256 {export.sha256} → {output}")


@click.command("purge")
@click.option("--days", type=click.IntRange(min=1), default=None,
              help="Keep this many days (default: KIOSK_RETENTION_DAYS).")
@with_appcontext
def purge(days):
    """Hard-delete personal data older than the retention period (counts are kept)."""
    days = days or current_app.config["RETENTION_DAYS"]
    with db.new_session() as session:
        result = purge_personal_data(session=session, now=now(), days=days,
                                              actor=cli_actor())
    click.echo(
        f"purged data before {result.cutoff.isoformat()}: {result.visits} visits, "
        f"{result.encounters} encounters, {result.declarations} declarations, "
        f"{result.visitors} visitors; {result.days_folded} venue-days kept as counts"
    )


@visits_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True))
def visits_import(file):
    """Import a paper sign-in list (CSV: venue_code,full_name,phone,id_number,checked_in_at,
    checked_out_at; times in ISO 8601 with offset). A file with any bad row is refused whole."""
    from tracing.importing import ImportRejected, import_visits

    data = Path(file).read_bytes()
    with db.new_session() as session:
        try:
            result = import_visits(session=session, data=data, now=now(),
                                   retention_days=current_app.config["RETENTION_DAYS"],
                                   actor=cli_actor(), channel="cli", filename=Path(file).name)
        except ImportRejected as exc:
            for problem in exc.problems:
                where = f"line {problem.line}" + (f" ({problem.column})" if problem.column else "")
                click.echo(f"{where}: {bilingual(problem.message)}", err=True)
            raise click.ClickException(
                f"{Path(file).name}: {len(exc.problems)} problem(s); nothing was imported"
            ) from None
    click.echo(f"imported {result.visits} visits ({result.new_visitors} new visitors), "
               f"sha256 {result.sha256}")


report_cli = AppGroup("report", help="Reports.")

def _legacy_adoption(since: str, until: str, fmt: str, venues: tuple[str, ...],
                     output: str | None) -> None:
    """The venue × day table scripts have read since the first release (kept counts included)."""
    try:
        first, last = parse_day(since), parse_day(until)
        with db.new_session() as session:
            report = adoption_report(session=session, since=first, until=last,
                                     venue_codes=list(venues) or None)
    except ReportError as exc:
        raise click.UsageError(bilingual(REPORT_ERRORS[exc.code])) from None

    def write(out) -> None:
        if fmt == "json":
            json.dump({"since": report.since.isoformat(), "until": report.until.isoformat(),
                       "rows": [row.to_json() for row in report.rows]}, out,
                      ensure_ascii=False, indent=1)
            out.write("\n")
        else:
            csv.writer(out, lineterminator="\r\n").writerows(adoption.csv_rows(report.rows))

    if output:
        with open(output, "w", encoding="utf-8-sig" if fmt == "csv" else "utf-8",
                  newline="") as handle:
            write(handle)
        click.echo(gettext("%(count)d row(s) written to %(path)s.", count=len(report.rows),
                           path=output), err=True)
    else:
        write(sys.stdout)


@report_cli.command("adoption")
@click.option("--since", required=True, help="First day, YYYY-MM-DD (Việt Nam calendar day).")
@click.option("--until", required=True, help="Last day, included.")
@click.option("--by", "by", type=click.Choice(adoption.GROUPINGS),
              help="Group by the venue, its ward or province, or the visitors' own (declared) "
                   "ward or province (default: venue).")
@click.option("--period", type=click.Choice(adoption.PERIODS), help="default: day")
@click.option("--format", "fmt", type=click.Choice(adoption_export.FORMATS), default="json",
              show_default=True)
@click.option("--venue", "venues", multiple=True, help="Venue code (repeat; default: all).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="Write to this file (needed for XLSX and PDF).")
def report_adoption(since: str, until: str, by: str, period: str, fmt: str,
                    venues: tuple[str, ...], output: str | None) -> None:
    """Per unit and period: people, app users (declared and detected, apart and together),
    share; with imported populations, app users per 1,000 people too. Without --by and --period,
    JSON and CSV keep their earlier shape (per venue and day, from the kept daily counts too)."""
    if by is None and period is None and fmt in ("json", "csv"):
        _legacy_adoption(since, until, fmt, venues, output)
        return
    by, period = by or "venue", period or "day"
    try:
        first, last = parse_day(since), parse_day(until)
        with db.new_session() as session:
            report = unit_adoption_report(session=session, since=first, until=last, by=by,
                                          period=period, venue_codes=list(venues) or None)
    except ReportError as exc:
        raise click.UsageError(bilingual(REPORT_ERRORS[exc.code])) from None
    if fmt in ("xlsx", "pdf") and not output:
        raise click.UsageError(bilingual(_l("Give -o FILE for an XLSX or PDF file.")))
    try:
        if output:
            with open(output, "wb") as handle:
                count = adoption_export.write(report, fmt, handle)
            click.echo(gettext("%(count)d row(s) written to %(path)s.", count=count,
                               path=output), err=True)
        else:
            adoption_export.write(report, fmt, sys.stdout.buffer)
    except ExportError as exc:
        raise click.ClickException(bilingual(message_for(exc.code))) from None


COMMANDS = (trace_cli, export_cli, visits_cli, purge, report_cli)
