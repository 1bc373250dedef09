"""Triage: any symptom, any exposure or ≥ 37.5 °C sends the visitor to reception (by default)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from declarations.questions import EXPOSURES, SYMPTOMS
from declarations.rules import (
    CLEAR,
    DEFAULT_RULES,
    NEEDS_REVIEW,
    RulesConfigError,
    rules_from_config,
    triage,
)


def answers(symptoms=(), exposures=(), travel_14d=False, body_temperature_c=None):
    return SimpleNamespace(symptoms=symptoms, exposures=exposures, travel_14d=travel_14d,
                           body_temperature_c=body_temperature_c)


def test_nothing_declared_is_clear():
    decision = triage(answers())
    assert (decision.status, decision.reasons, decision.rules_version) == (
        CLEAR, (), "default-1")


@pytest.mark.parametrize("symptom", list(SYMPTOMS))
def test_any_symptom_needs_review(symptom):
    decision = triage(answers(symptoms=[symptom]))
    assert decision.status == NEEDS_REVIEW
    assert decision.reasons == (f"symptom:{symptom}",)


@pytest.mark.parametrize("exposure", list(EXPOSURES))
def test_any_exposure_needs_review(exposure):
    decision = triage(answers(exposures=[exposure]))
    assert (decision.status, decision.reasons) == (NEEDS_REVIEW, (f"exposure:{exposure}",))


@pytest.mark.parametrize("temperature,status", [
    (None, CLEAR), (36.5, CLEAR), (37.4, CLEAR), (37.5, NEEDS_REVIEW), (39.0, NEEDS_REVIEW),
])
def test_temperature_threshold(temperature, status):
    assert triage(answers(body_temperature_c=temperature)).status == status


def test_travel_alone_is_clear_by_default_and_reasons_are_listed_in_order():
    assert triage(answers(travel_14d=True)).status == CLEAR
    decision = triage(answers(symptoms=["cough", "fever"], exposures=[
        "contact_symptomatic_person"], body_temperature_c=38.0))
    assert decision.reasons == ("symptom:fever", "symptom:cough",
                                "exposure:contact_symptomatic_person", "temperature")


def test_configured_rules_change_the_outcome_and_the_version():
    rules = rules_from_config({"flag_symptoms": ["fever"], "flag_exposures": [],
                               "flag_travel": True, "fever_threshold_c": 38})
    assert rules.version.startswith("custom-") and len(rules.version) <= 32
    assert triage(answers(symptoms=["cough"]), rules).status == CLEAR
    assert triage(answers(symptoms=["fever"]), rules).status == NEEDS_REVIEW
    assert triage(answers(exposures=list(EXPOSURES)), rules).status == CLEAR
    assert triage(answers(travel_14d=True), rules).reasons == ("travel",)
    assert triage(answers(body_temperature_c=37.9), rules).status == CLEAR
    assert triage(answers(), rules).rules_version == rules.version
    other = rules_from_config({"flag_symptoms": ["fever", "cough"]})
    assert other.version != rules.version
    assert rules_from_config({"flag_symptoms": ["fever"], "flag_exposures": [],
                              "flag_travel": True, "fever_threshold_c": 38.0}).version \
        == rules.version  # same content, same version


def test_config_defaults_and_explicit_version():
    assert rules_from_config(None) is DEFAULT_RULES
    assert rules_from_config({}) is DEFAULT_RULES
    assert rules_from_config({"fever_threshold_c": 37.5}).version == "default-1"
    assert rules_from_config({"fever_threshold_c": None, "version": "site-2"}).version == "site-2"
    assert triage(answers(body_temperature_c=41.0),
                  rules_from_config({"fever_threshold_c": None})).status == CLEAR


@pytest.mark.parametrize("config", [
    {"flag_symptom": ["fever"]},
    {"flag_symptoms": "fever"},
    {"flag_symptoms": ["headache"]},
    {"flag_exposures": 3},
    {"flag_exposures": [["contact_symptomatic_person"]]},
    {"flag_travel": "yes"},
    {"fever_threshold_c": "37.5"},
    {"fever_threshold_c": 50},
    {"fever_threshold_c": True},
    {"version": ""},
    {"version": "x" * 33},
    ["fever"],
])
def test_bad_config_is_refused_with_a_reason(config):
    with pytest.raises(RulesConfigError):
        rules_from_config(config)


@given(st.lists(st.sampled_from(list(SYMPTOMS))), st.lists(st.sampled_from(list(EXPOSURES))),
       st.one_of(st.none(), st.floats(34.0, 42.0)), st.booleans())
def test_default_rule_is_exactly_the_issue_text(symptoms, exposures, temperature, travel):
    decision = triage(answers(symptoms, exposures, travel, temperature))
    flagged = bool(symptoms) or bool(exposures) or (temperature is not None and temperature >= 37.5)
    assert decision.status == (NEEDS_REVIEW if flagged else CLEAR)
