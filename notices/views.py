"""Hosts' pages: an administrator keeps a venue's host list and turns host notices on or off;
a host (a staff member linked to a host entry) sees their visitors' arrivals on their own page."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from core import clock
from core.auth import roles_required
from core.db import db
from core.models import Role
from core.services import get_venue
from notices.hosts import (
    RECENT,
    HostError,
    add_host,
    arrivals_for,
    hosts_of,
    remove_host,
    set_hosts_enabled,
)

bp = Blueprint("notices", __name__)


def _venue(code: str):
    venue = get_venue(session=db.session, code=code)
    if venue is None:
        abort(404)
    return venue


@bp.route("/admin/venues/<code>/hosts", methods=["GET", "POST"])
@roles_required(Role.admin)
def venue_hosts(code: str):
    venue = _venue(code)
    error, status = None, 200
    if request.method == "POST":
        action = request.form.get("action")
        if action == "enabled":
            set_hosts_enabled(session=db.session, venue=venue,
                              enabled=request.form.get("enabled") == "1")
            flash(_("Host notices turned on.") if venue.hosts_enabled
                  else _("Host notices turned off."), "success")
            return redirect(url_for("notices.venue_hosts", code=venue.code))
        if action == "add":
            try:
                add_host(session=db.session, venue=venue, name=request.form.get("name", ""),
                         email=request.form.get("email"), username=request.form.get("username"),
                         now=clock.now())
            except HostError as exc:
                db.session.rollback()
                error, status = str(exc.message), 422
            else:
                flash(_("Host added."), "success")
                return redirect(url_for("notices.venue_hosts", code=venue.code))
        elif action == "remove":
            try:
                host_id = int(request.form.get("host_id", ""))
            except ValueError:
                abort(400)
            if not remove_host(session=db.session, venue=venue, host_id=host_id):
                abort(404)
            flash(_("Host removed."), "success")
            return redirect(url_for("notices.venue_hosts", code=venue.code))
        elif error is None:
            abort(400)
    return render_template("notices/venue_hosts.html", venue=venue,
                           hosts=hosts_of(session=db.session, venue=venue), error=error,
                           form=request.form if error else {}), status


@bp.get("/host")
@login_required
def host_page():
    """The host's own page: who arrived to see them in the last day."""
    arrivals = arrivals_for(session=db.session, user=current_user._get_current_object(),
                            since=clock.now() - RECENT)
    return render_template("notices/host.html", arrivals=arrivals)
