"""The touchscreen's health answers: the declaration's keys, rules and messages; any input gives
field errors, never an exception."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk.answers import validate_health_answers

VERSION = "2026.1-21d-abcdef12"


def ok(**overrides):
    return {"travel_14d": False, "symptoms": [], "exposures": [], "consent_processing": True,
            "consent_sensitive_health": True, "consent_text_version": VERSION, **overrides}


def test_clean_answers():
    result = validate_health_answers(ok(symptoms=["cough", "fever", "cough"], lang="en",
                                        exposures="contact_symptomatic_person"),
                                     consent_version=VERSION)
    answers = result.answers
    assert result.errors == {}
    assert answers.symptoms == ("fever", "cough")  # the list's own order, no duplicates
    assert answers.exposures == ("contact_symptomatic_person",)
    assert (answers.travel_14d, answers.travel_places, answers.lang) == (False, None, "en")
    assert answers.phone_e164 is None and answers.body_temperature_c is None


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"travel_14d": None}, "travel_14d", "travel_required"),
        ({"travel_14d": "maybe"}, "travel_14d", "travel_required"),
        ({"travel_14d": True}, "travel_places", "travel_places_required"),
        ({"travel_14d": "yes", "travel_places": "   "}, "travel_places", "travel_places_required"),
        ({"travel_14d": True, "travel_places": "x" * 1001}, "travel_places", "too_long"),
        ({"symptoms": ["headache"]}, "symptoms", "symptoms_invalid"),
        # The touchscreen asks each sign: one left unanswered is named, not taken as No.
        ({"symptoms": {"fever": "yes"}}, "symptoms", "answer_each"),
        ({"symptoms": {"fever": "maybe"}}, "symptoms", "symptoms_invalid"),
        ({"exposures": {"headache": "no"}}, "exposures", "exposure"),
        ({"exposures": [1]}, "exposures", "exposure"),
        ({"consent_processing": False}, "consent_processing", "consent_required"),
        ({"consent_sensitive_health": "no"}, "consent_sensitive_health", "consent_required"),
        ({"consent_text_version": "2025.9-21d-00000000"}, "consent_processing",
         "consent_changed"),
        ({"phone": 912345678}, "phone", "phone_invalid"),
    ],
)
def test_each_problem_is_named_on_its_field(overrides, field, code):
    result = validate_health_answers(ok(**overrides), consent_version=VERSION)
    assert result.answers is None
    assert result.errors[field].code == code
    assert str(result.errors[field])  # a sentence, not just a code


def test_travel_places_and_phone_when_asked():
    result = validate_health_answers(
        ok(travel_14d="có", travel_places="  Đà   Nẵng ", phone="+84 912 345 678"),
        consent_version=VERSION, ask_phone=True)
    assert result.answers.travel_places == "Đà Nẵng"
    assert result.answers.phone_e164 == "+84912345678"
    bad = validate_health_answers(ok(phone="12345"), consent_version=VERSION, ask_phone=True)
    assert "phone" in bad.errors
    # Not asked: a phone sent anyway is not used.
    assert validate_health_answers(ok(phone="0912345678"),
                                   consent_version=VERSION).answers.phone_e164 is None


def test_not_a_mapping():
    assert validate_health_answers(["travel_14d"], consent_version=VERSION).errors["body"].code \
        == "body_not_object"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=5),
    max_leaves=20,
)


@given(data=st.dictionaries(
    st.sampled_from(["travel_14d", "travel_places", "symptoms", "exposures", "phone", "lang",
                     "consent_processing", "consent_sensitive_health", "consent_text_version"]),
    json_values, max_size=9), ask_phone=st.booleans())
def test_any_input_gives_answers_or_field_errors(data, ask_phone):
    result = validate_health_answers(data, consent_version=VERSION, ask_phone=ask_phone)
    assert (result.answers is None) == bool(result.errors)
    if result.answers is not None:
        assert set(result.answers.symptoms) <= {"fever", "cough", "shortness_of_breath",
                                                "pneumonia", "sore_throat", "fatigue"}
