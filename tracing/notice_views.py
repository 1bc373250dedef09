"""The tracer's exposure notices: mark an index case's visits as an exposure (from the contact
list), see for each contact whether and how the notice was delivered, and resend."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from core import clock
from core.auth import roles_required
from core.db import db
from core.input_limits import valid_id
from core.models import Role
from notices.services import exposures_with_notices, resend
from notices.worker import delivery_settings
from tracing import errors, notify
from tracing.errors import message_for
from tracing.parsing import InputError, parse_minutes

bp = Blueprint("tracing_notices", __name__, url_prefix="/tracing")


@bp.post("/notices")
@roles_required(Role.tracer, Role.admin)
def mark_exposure():
    form = request.form
    try:
        ids = [int(v) for v in form.getlist("visit_id")]
        if not ids or not all(valid_id(i) for i in ids):
            raise InputError("visit_id", message_for("no_index_visits"))
        before = parse_minutes(form.get("before_min"), field="before_min", default=0)
        after = parse_minutes(form.get("after_min"), field="after_min", default=30)
        min_overlap = parse_minutes(form.get("min_overlap_min"), field="min_overlap_min",
                                    default=notify.DEFAULT_MIN_OVERLAP_MIN)
        result = notify.notify_exposure(
            session=db.session, visit_ids=ids, before_min=before, after_min=after,
            min_overlap_min=min_overlap, settings=delivery_settings(current_app),
            actor=current_user._get_current_object(), now=clock.now())
    except ValueError:
        abort(400)
    except InputError as exc:
        return render_template("core/error.html", status=422, message=exc.message), 422
    except errors.TracingError as exc:
        return render_template("core/error.html", status=422,
                               message=message_for(exc.code)), 422
    flash(_("%(n)d visitor(s) notified.", n=len(result["notified"])), "success")
    return redirect(url_for("tracing_notices.notices", _anchor=f"exposure-{result['exposure_id']}"))


@bp.get("/notices")
@roles_required(Role.tracer, Role.admin)
def notices():
    return render_template("tracing/notices.html",
                           exposures=exposures_with_notices(session=db.session))


@bp.post("/notices/<int:notice_id>/resend")
@roles_required(Role.tracer, Role.admin)
def resend_notice(notice_id: int):
    notice = resend(session=db.session, notice_id=notice_id,
                    actor=current_user._get_current_object(), now=clock.now())
    if notice is None:
        abort(404)
    flash(_("The notice will be sent again."), "success")
    return redirect(url_for("tracing_notices.notices", _anchor=f"notice-{notice_id}"))
