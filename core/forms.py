"""Forms of the shared pages (sign-in)."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, PasswordField, SelectChoice, SelectField, StringField, TimeField
from wtforms.validators import DataRequired, Length, NumberRange, Optional


class LoginForm(FlaskForm):
    username = StringField(
        _l("Username"), validators=[DataRequired(_l("Enter your username.")), Length(max=64)]
    )
    password = PasswordField(
        _l("Password"), validators=[DataRequired(_l("Enter your password.")), Length(max=200)]
    )


class UserForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(_l("Enter a username.")), Length(max=64)])
    display_name = StringField(_l("Display name"), validators=[Length(max=100)])
    role = SelectField(
        _l("Role"),
        choices=[SelectChoice("receptionist", _l("Receptionist")),
                 SelectChoice("tracer", _l("Contact tracer")),
                 SelectChoice("admin", _l("Administrator"))],
    )


class VenueForm(FlaskForm):
    code = StringField(_l("Venue code"), validators=[DataRequired(_l("Enter a venue code.")), Length(max=32)])
    name = StringField(_l("Venue name"), validators=[DataRequired(_l("Enter the venue name.")), Length(max=200)])
    address = StringField(_l("Address"), validators=[Length(max=300)])
    unit = StringField(_l("Organisation / unit"), validators=[Length(max=200)])
    closing_time = TimeField(_l("Closing time (open visits are checked out)"),
                             validators=[Optional()])
    max_stay_min = IntegerField(_l("Maximum stay (minutes)"),
                                validators=[Optional(), NumberRange(min=1, max=24 * 60)])


class VenueEditForm(VenueForm):
    code = None  # the code is printed on posters: it never changes
