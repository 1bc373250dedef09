"""Door triage of a declaration: "clear" or "needs_review" (amber screen, see reception). The one
place the rules live. Each decision carries the rule set's version, stored with the declaration,
so a later change of rules never rewrites what a past decision was based on."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from declarations.questions import EXPOSURES, SYMPTOMS

CLEAR = "clear"
NEEDS_REVIEW = "needs_review"

DEFAULT_RULES_VERSION = "default-1"


class Answers(Protocol):
    symptoms: Iterable[str]
    exposures: Iterable[str]
    travel_14d: bool
    body_temperature_c: float | None


@dataclass(frozen=True)
class TriageRules:
    """Default (issue 3): any symptom, any exposure or ≥ 37.5 °C → needs_review."""

    # Which answers send a visitor to reception; a key missing here is still stored, not acted on.
    flag_symptoms: frozenset[str] = frozenset(SYMPTOMS)
    flag_exposures: frozenset[str] = frozenset(EXPOSURES)
    flag_travel: bool = False
    # 37.5 °C is the common fever cut-off for non-contact thermometers at doors; None = ignore.
    fever_threshold_c: float | None = 37.5
    version: str = DEFAULT_RULES_VERSION


DEFAULT_RULES = TriageRules()


@dataclass(frozen=True)
class TriageDecision:
    status: str
    reasons: tuple[str, ...]  # e.g. ("symptom:fever", "temperature"), for the receptionist
    rules_version: str


def triage(answers: Answers, rules: TriageRules = DEFAULT_RULES) -> TriageDecision:
    reasons = [f"symptom:{key}" for key in SYMPTOMS
               if key in rules.flag_symptoms and key in set(answers.symptoms)]
    reasons += [f"exposure:{key}" for key in EXPOSURES
                if key in rules.flag_exposures and key in set(answers.exposures)]
    if rules.flag_travel and answers.travel_14d:
        reasons.append("travel")
    temperature = answers.body_temperature_c
    if (rules.fever_threshold_c is not None and temperature is not None
            and temperature >= rules.fever_threshold_c):
        reasons.append("temperature")
    return TriageDecision(NEEDS_REVIEW if reasons else CLEAR, tuple(reasons), rules.version)


class RulesConfigError(ValueError):
    """KIOSK_TRIAGE_RULES is wrong; the message says which key and what is allowed."""


_KEYS = {"flag_symptoms", "flag_exposures", "flag_travel", "fever_threshold_c", "version"}


def rules_from_config(config: Mapping | None) -> TriageRules:
    """Build rules from a settings mapping (KIOSK_TRIAGE_RULES), e.g.
    {"flag_symptoms": ["fever", "cough"], "fever_threshold_c": 38.0}. Keys left out keep the
    default. Without an explicit "version", a custom rule set is versioned "custom-<digest>" of
    its content, so two different rule sets never share a version."""
    if not config:
        return DEFAULT_RULES
    if not isinstance(config, Mapping):
        raise RulesConfigError("triage rules must be a mapping")
    unknown = set(config) - _KEYS
    if unknown:
        raise RulesConfigError(f"unknown triage rule keys: {', '.join(sorted(unknown))}")
    symptoms = _key_set(config, "flag_symptoms", SYMPTOMS, DEFAULT_RULES.flag_symptoms)
    exposures = _key_set(config, "flag_exposures", EXPOSURES, DEFAULT_RULES.flag_exposures)
    travel = config.get("flag_travel", DEFAULT_RULES.flag_travel)
    if not isinstance(travel, bool):
        raise RulesConfigError("flag_travel must be true or false")
    threshold = config.get("fever_threshold_c", DEFAULT_RULES.fever_threshold_c)
    if threshold is not None:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) \
                or not 34.0 <= threshold <= 42.0:
            raise RulesConfigError("fever_threshold_c must be a number from 34.0 to 42.0, or null")
        threshold = float(threshold)
    content = {"flag_symptoms": sorted(symptoms), "flag_exposures": sorted(exposures),
               "flag_travel": travel, "fever_threshold_c": threshold}
    version = config.get("version")
    if version is None:
        if (symptoms, exposures, travel, threshold) == (
                DEFAULT_RULES.flag_symptoms, DEFAULT_RULES.flag_exposures,
                DEFAULT_RULES.flag_travel, DEFAULT_RULES.fever_threshold_c):
            version = DEFAULT_RULES_VERSION
        else:
            digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
            version = f"custom-{digest[:12]}"
    elif not isinstance(version, str) or not 1 <= len(version) <= 32:
        raise RulesConfigError("version must be a text of 1 to 32 characters")
    return TriageRules(symptoms, exposures, travel, threshold, version)


def _key_set(config: Mapping, name: str, allowed: Mapping, default: frozenset) -> frozenset:
    if name not in config:
        return default
    value = config[name]
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise RulesConfigError(f"{name} must be a list of keys")
    try:
        keys = frozenset(value)
    except TypeError:
        raise RulesConfigError(f"{name} must be a list of keys") from None
    unknown = keys - set(allowed)
    if unknown:
        raise RulesConfigError(
            f"{name}: unknown keys {', '.join(sorted(map(str, unknown)))}; "
            f"allowed: {', '.join(allowed)}"
        )
    return keys
