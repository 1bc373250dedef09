"""The touchscreen's health answers (after a stale-declaration "something changed" or an ID-card
scan): the health part of the declaration plus consent, and an optional phone number. Pure; the
keys, rules and messages are the declaration schema's own (declarations/schema.py), so an answer
means the same on the phone form and at the kiosk."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from declarations.identity import check_phone, normalise_text
from declarations.messages import Problem, problem
from declarations.questions import EXPOSURES, SYMPTOMS
from declarations.questions import DEFAULT_TRACING_APPS
from declarations.schema import MAX_LENGTHS, answered_keys, check_tracing_apps

_TRUE = {"true", "yes", "1", "on", "có"}
_FALSE = {"false", "no", "0", "off", "không"}


@dataclass(frozen=True)
class HealthAnswers:
    lang: str
    travel_14d: bool
    travel_places: str | None
    symptoms: tuple[str, ...]
    exposures: tuple[str, ...]
    consent_text_version: str
    phone_e164: str | None = None
    body_temperature_c: float | None = None  # the triage rules read it; the kiosk never asks
    # The apps the visitor says they run; None from a caller that does not ask (older scripts).
    tracing_apps: tuple[str, ...] | None = None


@dataclass(frozen=True)
class AnswersResult:
    answers: HealthAnswers | None
    errors: dict[str, Problem] = field(default_factory=dict)


def _bool(value) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().casefold() in _TRUE:
        return True
    if isinstance(value, str) and value.strip().casefold() in _FALSE:
        return False
    return None


def _keys(value, allowed: Mapping, invalid_code: str, errors: dict, name: str):
    """A list of keys (absent means No) or one Yes/No answer per key, as on the phone form."""
    try:
        # The touchscreen sends one answer per key ({key: "yes"|"no"}), scripts lists of keys.
        return answered_keys(value, allowed, each=(Mapping,))
    except ValueError as exc:
        errors[name] = problem("answer_each" if exc.args[0] == "unanswered" else invalid_code)
        return None


def validate_health_answers(data, *, consent_version: str, ask_phone: bool = False,
                            tracing_app_keys=DEFAULT_TRACING_APPS) -> AnswersResult:
    """Any value of any type gives field errors, never an exception."""
    if not isinstance(data, Mapping):
        return AnswersResult(None, {"body": problem("body_not_object")})
    errors: dict[str, Problem] = {}
    lang = data.get("lang") if data.get("lang") in ("vi", "en") else "vi"

    travel = _bool(data.get("travel_14d"))
    places = None
    if travel is None:
        errors["travel_14d"] = problem("travel_required")
    elif travel:
        raw = data.get("travel_places")
        places = normalise_text(raw) if isinstance(raw, str) else ""
        if not places:
            errors["travel_places"] = problem("travel_places_required")
        elif len(places) > MAX_LENGTHS["travel_places"]:
            errors["travel_places"] = problem("too_long", max=MAX_LENGTHS["travel_places"])
    symptoms = _keys(data.get("symptoms"), SYMPTOMS, "symptoms_invalid", errors, "symptoms")
    exposures = _keys(data.get("exposures"), EXPOSURES, "exposure", errors, "exposures")
    # The touchscreen always sends the question (an empty answer is refused); a script that
    # predates it may leave it out.
    tracing_apps = None
    try:
        tracing_apps = check_tracing_apps(data.get("tracing_apps"), tracing_app_keys,
                                          required="tracing_apps" in data)
    except ValueError as exc:
        errors["tracing_apps"] = problem(exc.args[0])

    for name in ("consent_processing", "consent_sensitive_health"):
        if _bool(data.get(name)) is not True:
            errors[name] = problem("consent_required")
    if data.get("consent_text_version") != consent_version:
        errors["consent_processing"] = problem("consent_changed")

    phone = None
    raw_phone = data.get("phone")
    if ask_phone and isinstance(raw_phone, str) and raw_phone.strip():
        if len(raw_phone) > 64:
            errors["phone"] = problem("phone_invalid")
        else:
            checked = check_phone(raw_phone, nationality="VN")
            if checked.error:
                errors["phone"] = checked.error
            else:
                phone = checked.e164
    elif raw_phone is not None and not isinstance(raw_phone, str):
        errors["phone"] = problem("phone_invalid")

    if errors:
        return AnswersResult(None, errors)
    return AnswersResult(HealthAnswers(
        lang=lang, travel_14d=travel, travel_places=places, symptoms=symptoms,
        exposures=exposures, consent_text_version=consent_version, phone_e164=phone,
        tracing_apps=tracing_apps))
