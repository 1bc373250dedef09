"""THE declaration schema: one validation for the phone form, the kiosk touchscreen and the JSON
API. It takes a plain mapping (a JSON object, or a form turned into one by `form_to_mapping`) and
returns either a clean declaration or field errors, plus soft "please check" warnings. Any value
of any type in any field gives a field error, never an exception."""
from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from core import admin_units
from declarations.identity import (
    check_id_number,
    check_name,
    check_phone,
    country_codes,
    fold,
    normalise_text,
)
from declarations.messages import Problem, problem
from declarations.questions import (
    CONDITIONS,
    DEFAULT_TRACING_APPS,
    EXPOSURES,
    GENDERS,
    NO_TRACING_APP,
    SYMPTOMS,
    VISIT_PURPOSES,
)
from declarations.venue_links import normalise_venue_code

# Fields that a form sends as several values under one name.
LIST_FIELDS = ("symptoms", "exposures", "conditions", "tracing_apps")

MAX_LENGTHS = {
    "street_address": 255,
    "email": 254,
    "travel_places": 1000,
    "visitor_company": 200,
    "host_name": 100,
    "host_department": 100,
    "visit_purpose_note": 200,
}
BIRTH_YEAR_MIN = 1900
TEMPERATURE_RANGE = (34.0, 42.0)

_TRUE = {"true", "1", "yes", "on", "có"}
_FALSE = {"false", "0", "no", "off", "không"}
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")


@dataclass(frozen=True)
class CleanDeclaration:
    """A valid declaration, normalised, with what is derived from it (id type, E.164 phone,
    folded name, unit names at declaring time, consent proof)."""

    lang: str
    full_name: str
    name_folded: str
    birth_year: int
    gender: str
    nationality: str
    id_number: str | None
    id_type: str | None
    phone_e164: str | None
    email: str | None
    province_code: str
    province_name: str
    ward_code: str
    ward_name: str
    street_address: str
    travel_14d: bool
    travel_places: str | None
    symptoms: tuple[str, ...]
    exposures: tuple[str, ...]
    conditions: tuple[str, ...] | None
    # Apps the visitor says they run (keys of KIOSK_TRACING_APPS, or ("none",)); None when not
    # asked (an API caller that predates the question).
    tracing_apps: tuple[str, ...] | None
    visitor_company: str | None
    host_name: str | None
    host_department: str | None
    visit_purpose: str | None
    visit_purpose_note: str | None
    body_temperature_c: float | None
    declared_for_other: bool
    consent_processing: bool
    consent_sensitive_health: bool
    consent_text_version: str
    consent_at: datetime
    venue_code: str | None = None


@dataclass(frozen=True)
class ValidationResult:
    declaration: CleanDeclaration | None
    errors: dict[str, Problem] = field(default_factory=dict)
    warnings: dict[str, Problem] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.declaration is not None


# The pages ask each symptom and exposure as its own Có / Không question (tokhaiyte's table):
# the form sends `symptoms.fever=yes|no` ..., and this marker says it did.
EACH_ANSWER_MARKER = "answer_each"
ANSWERED_LISTS = {"symptoms": SYMPTOMS, "exposures": EXPOSURES}


class EachAnswered(dict):
    """{key: answer} for every key of a list, from a page that asked each one (never from JSON:
    the declaration API keeps its lists of keys)."""


def form_to_mapping(form) -> dict:
    """A werkzeug MultiDict (or anything with keys/get/getlist) as the schema's plain mapping.
    A page that asks each symptom and exposure on its own gives them as {key: answer} (None for
    a question left unanswered); otherwise they are lists of keys, as in the JSON API."""
    data = {key: (form.getlist(key) if key in LIST_FIELDS else form.get(key))
            for key in form.keys() if "." not in key and key != EACH_ANSWER_MARKER}
    if form.get(EACH_ANSWER_MARKER):
        for name, allowed in ANSWERED_LISTS.items():
            data[name] = EachAnswered({key: form.get(f"{name}.{key}") for key in allowed})
    return data


def answered_keys(value, allowed: Mapping, *, each=(EachAnswered,)) -> tuple[str, ...]:
    """The keys answered Yes, from either shape: a list of keys (the API: absent means No), or
    one answer per key ({key: yes/no}, the pages: every key must be answered; `each` says which
    mapping types are taken as that). Raises ValueError("unanswered", keys) when a key has no
    answer, ValueError("invalid") otherwise."""
    if isinstance(value, each):
        if len(value) > len(allowed) or any(key not in allowed for key in value):
            raise ValueError("invalid")
        chosen, unanswered = set(), []
        for key in allowed:
            answer = value.get(key)
            word = answer.strip().casefold() if isinstance(answer, str) else answer
            if word is True or word in _TRUE:
                chosen.add(key)
            elif word is False or word in _FALSE:
                continue
            elif word is None or word == "":
                unanswered.append(key)
            else:
                raise ValueError("invalid")
        if unanswered:
            raise ValueError("unanswered", tuple(unanswered))
        return tuple(key for key in allowed if key in chosen)
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or len(value) > 4 * len(allowed):
        raise ValueError("invalid")
    if not all(isinstance(item, str) and item in allowed for item in value):
        raise ValueError("invalid")
    return tuple(key for key in allowed if key in set(value))


def check_tracing_apps(value, keys=DEFAULT_TRACING_APPS, *, required: bool) -> tuple[str, ...] | None:
    """The apps a visitor runs: keys of `keys` in their order, or ("none",). Absent (None) is
    "not asked" unless `required`; an empty answer is never an answer. Raises
    ValueError(message code)."""
    if value is None and not required:
        return None
    if isinstance(value, str):
        value = [value] if value else []
    if value is None or (isinstance(value, (list, tuple)) and len(value) == 0):
        raise ValueError("tracing_apps_required")
    allowed = (*keys, NO_TRACING_APP)
    if (not isinstance(value, (list, tuple)) or len(value) > 2 * len(allowed)
            or not all(isinstance(item, str) and item in allowed for item in value)):
        raise ValueError("tracing_apps_invalid")
    chosen = set(value)
    if NO_TRACING_APP in chosen:
        if len(chosen) > 1:
            raise ValueError("tracing_apps_none_alone")
        return (NO_TRACING_APP,)
    return tuple(key for key in keys if key in chosen)


def _tracing_apps(value, keys, required: bool):
    try:
        return check_tracing_apps(value, keys, required=required)
    except ValueError as exc:
        raise _Invalid(problem(exc.args[0])) from None


class _Missing(Exception):
    """Internal: a required value is absent."""


class _Invalid(Exception):
    def __init__(self, problem_: Problem):
        super().__init__(problem_.code)
        self.problem = problem_


def _safe_text(value: str, max_len: int) -> str:
    """Normalised text; refuses control characters, lone surrogates (they cannot be stored as
    UTF-8) and overlong input before doing any work on it."""
    if len(value) > 4 * max_len + 64:
        raise _Invalid(problem("too_long", max=max_len))
    for char in value:
        category = unicodedata.category(char)
        if category == "Cs" or (category == "Cc" and not char.isspace()):
            raise _Invalid(problem("bad_characters"))
    text = normalise_text(value)
    if len(text) > max_len:
        raise _Invalid(problem("too_long", max=max_len))
    return text


def _optional_text(data: Mapping, name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Invalid(problem("invalid"))
    return _safe_text(value, MAX_LENGTHS[name]) or None


def _required_text(data: Mapping, name: str, missing_code: str) -> str:
    try:
        text = _optional_text(data, name)
    except _Invalid as exc:
        if exc.problem.code == "invalid":
            raise _Invalid(problem(missing_code)) from None
        raise
    if text is None:
        raise _Invalid(problem(missing_code))
    return text


def _bool(value, *, invalid_code: str = "choose_yes_no") -> bool | None:
    """True/False from JSON booleans, 0/1, or form words; None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and len(value) <= 10:
        word = value.strip().casefold()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise _Invalid(problem(invalid_code))


def _choice(value, choices, missing_code: str) -> str:
    if isinstance(value, str) and value.strip() in choices:
        return value.strip()
    raise _Invalid(problem(missing_code))


def _keys(value, allowed: Mapping, invalid_code: str) -> tuple[str, ...]:
    """Any subset of `allowed` keys (see answered_keys), in `allowed`'s order."""
    try:
        return answered_keys(value, allowed)
    except ValueError as exc:
        if exc.args[0] == "unanswered":
            raise _Invalid(problem("answer_each")) from None
        raise _Invalid(problem(invalid_code)) from None


def _code(value, width: int, missing_code: str) -> str:
    """A GSO code as text; "1" and "01" mean the same province."""
    if isinstance(value, str):
        value = value.strip()
        if value.isascii() and value.isdigit() and 1 <= len(value) <= width:
            return value.zfill(width)
    raise _Invalid(problem(missing_code))


def _birth_year(value, now: datetime) -> int:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _Invalid(problem("birth_year_required"))
    if isinstance(value, str):
        value = value.strip()
        if not (value.isascii() and value.isdigit() and len(value) == 4):
            raise _Invalid(problem("birth_year_digits"))
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 9999:
        raise _Invalid(problem("birth_year_digits"))
    if value < BIRTH_YEAR_MIN:
        raise _Invalid(problem("birth_year_min"))
    if value > now.year:
        raise _Invalid(problem("birth_year_future"))
    return value


def _temperature(value) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        # Vietnamese write the decimal with a comma: "37,5".
        text = value.strip().replace(",", ".")
        if not re.fullmatch(r"\d{1,2}(\.\d{1,2})?", text):
            raise _Invalid(problem("temperature"))
        value = float(text)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Invalid(problem("temperature"))
    try:
        value = float(value)
    except OverflowError:  # an integer beyond any float (10**400)
        raise _Invalid(problem("temperature")) from None
    low, high = TEMPERATURE_RANGE
    if not math.isfinite(value) or not low <= value <= high:
        raise _Invalid(problem("temperature"))
    return round(value, 1)


def _email(data: Mapping) -> str | None:
    email = _optional_text(data, "email")
    if email is None:
        return None
    if not _EMAIL.fullmatch(email):
        raise _Invalid(problem("email"))
    return email


class _Collector:
    def __init__(self):
        self.errors: dict[str, Problem] = {}
        self.warnings: dict[str, Problem] = {}

    def run(self, name: str, func, *args, **kwargs):
        """func(*args) or None after recording its field error."""
        try:
            return func(*args, **kwargs)
        except _Invalid as exc:
            self.errors[name] = exc.problem
            return None


def validate_declaration(data, *, now: datetime, consent_version: str, dependant: bool = False,
                         collect_conditions: bool = False,
                         require_venue: bool = False,
                         id_optional: bool = False,
                         tracing_app_keys=DEFAULT_TRACING_APPS,
                         require_tracing_apps: bool = False) -> ValidationResult:
    """Validate one declaration.

    `consent_version`: the version of the consent texts shown now (consent.consent_version); a
    form that showed other texts is refused. `dependant`: someone declared for by another person
    (a child, an elderly relative), who may have no phone and no ID number. `collect_conditions`:
    KIOSK_COLLECT_CONDITIONS; when off, any conditions sent are dropped, not stored.
    `id_optional`: a receptionist checking in someone who has no ID document with them (the
    phone is still required). `tracing_app_keys`: KIOSK_TRACING_APPS; the pages ask the question
    (`require_tracing_apps`), an API caller may leave `tracing_apps` out."""
    if not isinstance(data, Mapping):
        return ValidationResult(None, {"body": problem("body_not_object")})
    c = _Collector()
    get = data.get

    venue_code = None
    raw_venue = get("venue_code")
    if raw_venue is not None or require_venue:
        venue_code = normalise_venue_code(raw_venue) if isinstance(raw_venue, str) else None
        if venue_code is None:
            c.errors["venue_code"] = problem("venue_code")
    lang = get("lang")
    if lang is None or lang == "":
        lang = "vi"
    elif lang not in ("vi", "en"):
        c.errors["lang"] = problem("lang")
        lang = "vi"

    # Personal information.
    name = None
    raw_name = get("full_name")
    if raw_name is None or not isinstance(raw_name, str):
        c.errors["full_name"] = problem("name_required")
    elif len(raw_name) > 1000:
        c.errors["full_name"] = problem("name_length")
    else:
        checked = check_name(raw_name)
        if checked.error:
            c.errors["full_name"] = checked.error
        else:
            name = checked.name
    birth_year = c.run("birth_year", _birth_year, get("birth_year"), now)
    gender = c.run("gender", _choice, get("gender"), GENDERS, "gender_required")
    nationality = c.run("nationality", _nationality, get("nationality"))

    id_number = id_type = None
    raw_id = get("id_number")
    if raw_id is not None and not isinstance(raw_id, str):
        c.errors["id_number"] = problem("id_chars")
    elif raw_id is not None and len(raw_id) > 64:
        c.errors["id_number"] = problem("passport_length")
    elif raw_id is None or not raw_id.strip():
        if not (dependant or id_optional):
            c.errors["id_number"] = problem("id_required")
    else:
        checked_id = check_id_number(raw_id, nationality=nationality or "VN",
                                     birth_year=birth_year, gender=gender)
        if checked_id.error:
            c.errors["id_number"] = checked_id.error
        else:
            id_number, id_type = checked_id.number, str(checked_id.id_type)
            if checked_id.warnings:
                c.warnings["id_number"] = checked_id.warnings[0]

    phone = None
    raw_phone = get("phone")
    if raw_phone is not None and (not isinstance(raw_phone, str) or len(raw_phone) > 64):
        c.errors["phone"] = problem("phone_invalid")
    elif raw_phone is None or not raw_phone.strip():
        if not dependant:
            c.errors["phone"] = problem("phone_required")
    else:
        checked_phone = check_phone(raw_phone, nationality=nationality or "VN")
        if checked_phone.error:
            c.errors["phone"] = checked_phone.error
        else:
            phone = checked_phone.e164
            if checked_phone.warnings:
                c.warnings["phone"] = checked_phone.warnings[0]
    email = c.run("email", _email, data)

    # Contact address: two levels since 1 July 2025; codes and names as they are today.
    province = ward = None
    province_code = c.run("province_code", _code, get("province_code"), 2, "province_required")
    if province_code is not None:
        province = admin_units.province(province_code)
        if province is None:
            c.errors["province_code"] = problem("province_required")
    ward_code = c.run("ward_code", _code, get("ward_code"), 5, "ward_required")
    if ward_code is not None:
        ward = admin_units.ward(ward_code)
        if ward is None:
            c.errors["ward_code"] = problem("ward_required")
        elif province is not None and ward.province_code != province.code:
            c.errors["ward_code"] = problem("ward_not_in_province")
    street = c.run("street_address", _required_text, data, "street_address", "address_required")

    # Health questions.
    travel = c.run("travel_14d", _bool, get("travel_14d"), invalid_code="travel_required")
    travel_places = None
    if travel is None and "travel_14d" not in c.errors:
        c.errors["travel_14d"] = problem("travel_required")
    elif travel:
        travel_places = c.run("travel_places", _required_text, data, "travel_places",
                              "travel_places_required")
    symptoms = c.run("symptoms", _keys, get("symptoms"), SYMPTOMS, "symptoms_invalid")
    exposures = c.run("exposures", _keys, get("exposures"), EXPOSURES, "exposure")
    conditions = None
    if collect_conditions:
        conditions = c.run("conditions", _keys, get("conditions"), CONDITIONS,
                           "conditions_invalid")
    tracing_apps = c.run("tracing_apps", _tracing_apps, get("tracing_apps"), tracing_app_keys,
                         require_tracing_apps)

    # Office visit.
    company = c.run("visitor_company", _optional_text, data, "visitor_company")
    host_name = c.run("host_name", _optional_text, data, "host_name")
    host_department = c.run("host_department", _optional_text, data, "host_department")
    purpose = None
    raw_purpose = get("visit_purpose")
    if raw_purpose is not None and raw_purpose != "":
        purpose = c.run("visit_purpose", _choice, raw_purpose, VISIT_PURPOSES, "visit_purpose")
    purpose_note = None
    if purpose == "other":
        purpose_note = c.run("visit_purpose_note", _required_text, data, "visit_purpose_note",
                             "visit_purpose_note")
    temperature = c.run("body_temperature_c", _temperature, get("body_temperature_c"))
    for_other = c.run("declared_for_other", _bool, get("declared_for_other"))

    # Consent: two explicit ticks, for the texts shown now.
    consents = {}
    for name_ in ("consent_processing", "consent_sensitive_health"):
        try:
            ticked = _bool(get(name_), invalid_code="consent_required")
        except _Invalid:
            ticked = None
        if ticked is not True:
            c.errors[name_] = problem("consent_required")
        consents[name_] = ticked is True
    shown_version = get("consent_text_version")
    if shown_version is not None and shown_version != consent_version:
        c.errors["consent_processing"] = problem("consent_changed")

    if c.errors:
        return ValidationResult(None, c.errors, c.warnings)
    return ValidationResult(
        CleanDeclaration(
            lang=lang,
            full_name=name,
            name_folded=fold(name),
            birth_year=birth_year,
            gender=gender,
            nationality=nationality,
            id_number=id_number,
            id_type=id_type,
            phone_e164=phone,
            email=email,
            province_code=province.code,
            province_name=province.name,
            ward_code=ward.code,
            ward_name=ward.name,
            street_address=street,
            travel_14d=travel,
            travel_places=travel_places,
            symptoms=symptoms,
            exposures=exposures,
            conditions=conditions,
            tracing_apps=tracing_apps,
            visitor_company=company,
            host_name=host_name,
            host_department=host_department,
            visit_purpose=purpose,
            visit_purpose_note=purpose_note,
            body_temperature_c=temperature,
            declared_for_other=bool(for_other),
            consent_processing=True,
            consent_sensitive_health=True,
            consent_text_version=consent_version,
            consent_at=now,
            venue_code=venue_code,
        ),
        {},
        c.warnings,
    )


def _nationality(value) -> str:
    if isinstance(value, str):
        code = value.strip().upper()
        if code in country_codes():
            return code
    raise _Invalid(problem("nationality_required"))
