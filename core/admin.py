"""Administrator pages: staff accounts and venues."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from core import admin_units, clock
from core.auth import AuthError, create_user, generate_password, roles_required
from core.db import db
from core.forms import (
    ROLE_NAMES,
    NewUserForm,
    UserActiveForm,
    UserVenuesForm,
    VenueEditForm,
    VenueForm,
)
from core.models import Role, User
from core.public_url import public_url_message
from core.services import (
    VenueError,
    WardError,
    create_venue,
    get_venue,
    list_venues,
    update_venue,
)
from core.staff import StaffError, list_users, set_user_active, set_user_venues, user_venues

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _venue_choices() -> list[tuple[str, str]]:
    return [(v.code, f"{v.code} — {v.name}") for v in list_venues(session=db.session)]


@bp.route("/users", methods=["GET", "POST"])
@roles_required(Role.admin)
def users():
    form = NewUserForm()
    form.venues.choices = _venue_choices()
    new_password = None
    if form.validate_on_submit():
        password = generate_password()
        try:
            user = create_user(session=db.session, username=form.username.data,
                               role=form.role.data, password=password,
                               display_name=form.display_name.data or None,
                               venue_codes=form.venues.data or (), now=clock.now())
        except AuthError as exc:
            db.session.rollback()
            form.username.errors.append(str(exc))
        except StaffError as exc:
            db.session.rollback()
            form.venues.errors.append(exc.message)
        else:
            new_password = (user.username, password)
            form = NewUserForm(formdata=None)
            form.venues.choices = _venue_choices()
    return render_template("core/admin_users.html", form=form,
                           users=list_users(session=db.session), new_password=new_password,
                           role_names=ROLE_NAMES)


def _staff_member(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@roles_required(Role.admin)
def user_edit(user_id: int):
    """One account: the venues a receptionist works at, and disabling or enabling it."""
    user = _staff_member(user_id)
    assigned = [v.code for v in user_venues(session=db.session, user=user)]
    form = UserVenuesForm(data={"venues": assigned})
    form.venues.choices = _venue_choices()
    if form.validate_on_submit():
        try:
            set_user_venues(session=db.session, user=user, codes=form.venues.data or (),
                            actor=current_user._get_current_object(), now=clock.now())
        except StaffError as exc:
            db.session.rollback()
            form.venues.errors.append(exc.message)
        else:
            flash(_("Venues of %(name)s saved.", name=user.username), "success")
            return redirect(url_for("admin.user_edit", user_id=user.id))
    return render_template("core/admin_user_edit.html", user=user, form=form,
                           active_form=UserActiveForm(data={"active": "0" if user.is_active
                                                            else "1"}),
                           receptionist=user.role == Role.receptionist, role_names=ROLE_NAMES)


@bp.post("/users/<int:user_id>/active")
@roles_required(Role.admin)
def user_active(user_id: int):
    """Disable an account (its sessions and API tokens stop at once) or enable it again."""
    user = _staff_member(user_id)
    form = UserActiveForm()
    if not form.validate_on_submit():
        abort(400)
    active = form.active.data == "1"
    try:
        set_user_active(session=db.session, user=user, active=active,
                        actor=current_user._get_current_object(), now=clock.now())
    except StaffError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        flash(_("Account %(name)s enabled.", name=user.username) if active
              else _("Account %(name)s disabled.", name=user.username), "success")
    return redirect(url_for("admin.user_edit", user_id=user.id))


def _unit_pickers(form, venue=None) -> None:
    """Province → ward pickers from the built-in list: the wards of the province chosen (or of
    the venue's ward), so the form works without script; static/core/unit_picker.js refreshes
    the wards when the province changes."""
    lang = str(get_locale() or "vi")
    if venue is not None and not form.is_submitted():
        ward = admin_units.ward(venue.ward_code or "")
        form.province_code.data = ward.province_code if ward else ""
        form.ward_code.data = venue.ward_code or ""
    choose = "— " + _("choose") + " —"
    form.province_code.choices = [("", choose)] + [
        (p.code, p.label(lang)) for p in admin_units.provinces()]
    form.ward_code.choices = [("", choose)] + [
        (w.code, w.label(lang)) for w in admin_units.wards_of(form.province_code.data or "")]


def _ward_of_form(form) -> str | None:
    """The ward chosen, checked against the list and the province (raises WardError)."""
    from core.services import check_ward

    return check_ward(form.ward_code.data, form.province_code.data)


def unit_label(ward_code: str | None, lang: str = "vi") -> str:
    """"Phường Hoàn Kiếm, Thành phố Hà Nội" for a venue list."""
    ward = admin_units.ward(ward_code or "")
    if ward is None:
        return ""
    province = admin_units.province(ward.province_code)
    return f"{ward.label(lang)}, {province.label(lang)}" if province else ward.label(lang)


@bp.app_template_filter("unit_label")
def _unit_label_filter(ward_code):
    return unit_label(ward_code, str(get_locale() or "vi"))


@bp.route("/venues", methods=["GET", "POST"])
@roles_required(Role.admin)
def venues():
    form = VenueForm()
    _unit_pickers(form)
    if form.validate_on_submit():
        try:
            ward_code = _ward_of_form(form)
            venue = create_venue(session=db.session, code=form.code.data, name=form.name.data,
                                 address=form.address.data or None, unit=form.unit.data or None,
                                 closing_time=form.closing_time.data,
                                 max_stay_min=form.max_stay_min.data, ward_code=ward_code,
                                 now=clock.now())
        except WardError as exc:
            form.ward_code.errors.append(str(exc))
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
    _unit_pickers(form, venue)
    if form.validate_on_submit():
        try:
            ward_code = _ward_of_form(form)
            update_venue(session=db.session, venue=venue, name=form.name.data,
                         address=form.address.data, unit=form.unit.data,
                         closing_time=form.closing_time.data,
                         max_stay_min=form.max_stay_min.data, ward_code=ward_code)
        except WardError as exc:
            db.session.rollback()
            form.ward_code.errors.append(str(exc))
        except VenueError as exc:
            form.name.errors.append(str(exc))
        else:
            flash(_("Venue %(code)s saved.", code=venue.code), "success")
            return redirect(url_for("admin.venues"))
    return render_template("core/admin_venue_edit.html", form=form, venue=venue)
