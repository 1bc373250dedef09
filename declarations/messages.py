"""Every validation and token message of the declaration, keyed by a stable code. The English text
is the msgid here; the Vietnamese (the reference's exact tokhaiyte wording where it has one) is in
declarations/translations/vi/LC_MESSAGES/messages.po. Pure code returns `Problem`s; whoever shows
them renders them in the visitor's language (str() under the request's or a forced locale)."""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

MESSAGES = {
    # The request as a whole.
    "body_not_object": _l("The request body must be a JSON object."),
    # Generic shapes.
    "invalid": _l("Invalid value"),
    "too_long": _l("Please enter at most %(max)d characters"),
    "bad_characters": _l("This field contains characters that are not allowed"),
    "choose_yes_no": _l("Please choose Yes or No"),
    "lang": _l("Please choose Vietnamese or English"),
    "venue_code": _l("Invalid venue code"),
    # Personal information (reference §3.4 where it has the wording).
    "name_required": _l("Full name field is required"),
    "name_length": _l("The full name must be 2 to 100 characters long"),
    "name_chars": _l("The name may contain only letters, spaces and the characters ' - ."),
    "birth_year_required": _l("Please enter your year of birth"),
    "birth_year_digits": _l("The year of birth must be 4 digits"),
    "birth_year_min": _l("The year of birth must be 1900 or later"),
    "birth_year_future": _l("The year of birth cannot be in the future"),
    "gender_required": _l("Please select gender"),
    "nationality_required": _l("Please select nationality"),
    "id_required": _l("Passport number or other legal document field is required"),
    "id_chars": _l("Passport/ID number may contain only unaccented letters and digits"),
    "id_vn_length": _l("A CCCD number has 12 digits and a CMND number 9 digits"),
    "cccd_province": _l("The first three digits of a CCCD number must be a province code"),
    "passport_length": _l("A passport number has 5 to 20 letters or digits"),
    # Soft: shown as "please check", the declaration is still accepted.
    "cccd_birth_year": _l("Please check: this CCCD number belongs to someone born in %(year)d"),
    "cccd_gender_male": _l("Please check: this CCCD number belongs to a man"),
    "cccd_gender_female": _l("Please check: this CCCD number belongs to a woman"),
    # Contact.
    "phone_required": _l("Phone field is required"),
    "phone_invalid": _l("Invalid phone number"),
    "phone_digits": _l("Phone number may contain digits only"),
    "phone_vn_only": _l("Please enter a Vietnamese mobile number"),
    "phone_unknown_prefix": _l("Please check: %(prefix)s is not a known Vietnamese mobile prefix"),
    "phone_converted": _l("Your old 11-digit number was changed to the new number %(phone)s"),
    "email": _l("Email address invalid"),
    "province_required": _l("Please select province"),
    "ward_required": _l("Please select ward"),
    "ward_not_in_province": _l("This ward is not in the selected province"),
    "address_required": _l("Staying address field is required"),
    # Health questions.
    "travel_required": _l("Please answer the question about where you have been"),
    "travel_places_required": _l(
        "Please enter the places you have been to in the last 14 days"
    ),
    "symptoms_invalid": _l("Please choose signs from the list"),
    "exposure": _l("Please answer the contact-history questions"),
    "answer_each": _l("Please answer Yes or No for each item"),
    "conditions_invalid": _l("Please choose conditions from the list"),
    "tracing_apps_required": _l("Please tick the apps you use, or “I use none of these apps”"),
    "tracing_apps_invalid": _l("Please choose apps from the list"),
    "tracing_apps_none_alone": _l("“I use none of these apps” cannot be ticked with an app"),
    # Office visit.
    "visit_purpose": _l("Please choose the purpose of your visit"),
    "visit_purpose_note": _l("Please describe the purpose of your visit"),
    "temperature": _l("Body temperature must be between 34.0 and 42.0 °C"),
    # Consent.
    "consent_required": _l("Please tick this box to send the declaration"),
    "consent_changed": _l("The consent text has changed; please read it again and tick the box"),
    # Personal QR tokens.
    "token_malformed": _l("This QR code is not a KhaiBao personal code"),
    "token_truncated": _l("This QR code is incomplete; please scan it again"),
    "token_bad_signature": _l("This QR code is not valid: its signature does not match"),
    "token_unknown_key": _l("This QR code was signed with an unknown or retired key"),
    "token_expired": _l("This QR code has expired; please declare again"),
    "token_not_yet_valid": _l("This QR code is dated in the future; check the device clock"),
    "token_unknown_visitor": _l("We have no record for this QR code; please declare again"),
    "token_revoked": _l("This QR code has been withdrawn; please declare again"),
    "token_superseded": _l("This QR code is from an earlier version of the system; please "
                           "declare again to get a new one"),
    "unsupported_code": _l("This kind of code cannot be used to check in here"),
    "venue_unknown": _l("There is no such venue"),
}


@dataclass(frozen=True)
class Problem:
    """A message code plus its parameters. `str()` renders it in the current locale."""

    code: str
    params: tuple[tuple[str, object], ...] = ()

    def __post_init__(self):
        if self.code not in MESSAGES:
            raise KeyError(f"unknown message code {self.code!r}")

    def __str__(self) -> str:
        text = str(MESSAGES[self.code])
        return text % dict(self.params) if self.params else text


def problem(code: str, **params) -> Problem:
    return Problem(code, tuple(sorted(params.items())))
