"""Forms of the shared pages (sign-in, staff accounts, venues)."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    HiddenField,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TimeField,
)
from wtforms.validators import AnyOf, DataRequired, EqualTo, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget


class LoginForm(FlaskForm):
    username = StringField(
        _l("Username"), validators=[DataRequired(_l("Enter your username.")), Length(max=64)]
    )
    password = PasswordField(
        _l("Password"), validators=[DataRequired(_l("Enter your password.")), Length(max=200)]
    )


class PasswordForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"),
        validators=[DataRequired(_l("Enter your current password.")), Length(max=200)])
    new_password = PasswordField(
        _l("New password"),
        validators=[DataRequired(_l("Enter a new password.")), Length(max=200)])
    confirm_password = PasswordField(
        _l("New password again"),
        validators=[DataRequired(_l("Enter the new password again.")),
                    EqualTo("new_password", _l("The two new passwords are not the same."))])


ROLE_NAMES = {"receptionist": _l("Receptionist"), "tracer": _l("Contact tracer"),
              "admin": _l("Administrator")}


class UserForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(_l("Enter a username.")), Length(max=64)])
    display_name = StringField(_l("Display name"), validators=[Length(max=100)])
    role = SelectField(
        _l("Role"),
        choices=[SelectChoice(role, name) for role, name in ROLE_NAMES.items()],
    )


class VenueChoices(SelectMultipleField):
    """Venue codes as a list of checkboxes. The choices are the view's (every venue); a code that
    is not one reaches the service, which says so in both languages."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, validate_choice=False, **kwargs)


class NewUserForm(UserForm):
    venues = VenueChoices(_l("Venues (receptionists only)"))


class UserVenuesForm(FlaskForm):
    venues = VenueChoices(_l("Venues this receptionist works at"))


class UserActiveForm(FlaskForm):
    active = HiddenField(validators=[AnyOf(["0", "1"])])


class VenueForm(FlaskForm):
    code = StringField(_l("Venue code"), validators=[DataRequired(_l("Enter a venue code.")), Length(max=32)])
    name = StringField(_l("Venue name"), validators=[DataRequired(_l("Enter the venue name.")), Length(max=200)])
    address = StringField(_l("Address"), validators=[Length(max=300)])
    unit = StringField(_l("Organisation / unit"), validators=[Length(max=200)])
    # Choices are filled by the view from core.admin_units; core.services.check_ward judges them.
    province_code = SelectField(_l("Province / city"), validate_choice=False)
    ward_code = SelectField(_l("Ward / commune"), validate_choice=False)
    closing_time = TimeField(_l("Closing time (open visits are checked out)"),
                             validators=[Optional()])
    max_stay_min = IntegerField(_l("Maximum stay (minutes)"),
                                validators=[Optional(), NumberRange(min=1, max=24 * 60)])


class VenueEditForm(VenueForm):
    code = None  # the code is printed on posters: it never changes
