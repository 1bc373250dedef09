"""Administrator pages: staff accounts and venues."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from sqlmodel import select

from core import clock
from core.auth import AuthError, create_user, generate_password, roles_required
from core.db import db
from core.forms import UserForm, VenueEditForm, VenueForm
from core.models import Role, User
from core.public_url import public_url_message
from core.services import VenueError, create_venue, get_venue, list_venues, update_venue

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/users", methods=["GET", "POST"])
@roles_required(Role.admin)
def users():
    form = UserForm()
    new_password = None
    if form.validate_on_submit():
        password = generate_password()
        try:
            user = create_user(session=db.session, username=form.username.data,
                               role=form.role.data, password=password,
                               display_name=form.display_name.data or None, now=clock.now())
        except AuthError as exc:
            form.username.errors.append(str(exc))
        else:
            new_password = (user.username, password)
            form = UserForm(formdata=None)
    rows = db.session.exec(select(User).order_by(User.username)).all()
    return render_template("core/admin_users.html", form=form, users=rows,
                           new_password=new_password)


@bp.route("/venues", methods=["GET", "POST"])
@roles_required(Role.admin)
def venues():
    form = VenueForm()
    if form.validate_on_submit():
        try:
            venue = create_venue(session=db.session, code=form.code.data, name=form.name.data,
                                 address=form.address.data or None, unit=form.unit.data or None,
                                 closing_time=form.closing_time.data,
                                 max_stay_min=form.max_stay_min.data, now=clock.now())
        except VenueError as exc:
            form.code.errors.append(str(exc))
        else:
            flash(_("Venue %(code)s created.", code=venue.code), "success")
            return redirect(url_for("admin.venues"))
    return render_template("core/admin_venues.html", form=form,
                           venues=list_venues(session=db.session),
                           public_url_warning=public_url_message(
                               current_app.config.get("PUBLIC_URL")))


@bp.route("/venues/<code>", methods=["GET", "POST"])
@roles_required(Role.admin)
def venue_edit(code: str):
    venue = get_venue(session=db.session, code=code)
    if venue is None:
        abort(404)
    form = VenueEditForm(obj=venue)
    if form.validate_on_submit():
        try:
            update_venue(session=db.session, venue=venue, name=form.name.data,
                         address=form.address.data, unit=form.unit.data,
                         closing_time=form.closing_time.data,
                         max_stay_min=form.max_stay_min.data)
        except VenueError as exc:
            form.name.errors.append(str(exc))
        else:
            flash(_("Venue %(code)s saved.", code=venue.code), "success")
            return redirect(url_for("admin.venues"))
    return render_template("core/admin_venue_edit.html", form=form, venue=venue)
