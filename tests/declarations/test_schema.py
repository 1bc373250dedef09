"""The one declaration schema (form and API): clean results, field errors, soft warnings, and
never an exception whatever arrives in any field."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from declarations.consent import consent_version
from declarations.messages import MESSAGES
from declarations.schema import CleanDeclaration, form_to_mapping, validate_declaration

NOW = datetime(2026, 3, 10, 2, 0, tzinfo=timezone.utc)
VERSION = consent_version(retention_days=21)

# DESIGN.md's declaration JSON, verbatim.
DESIGN_EXAMPLE = {
    "venue_code": "DEMO", "lang": "vi",
    "full_name": "Nguyễn Văn An", "birth_year": 1990, "gender": "male", "nationality": "VN",
    "id_number": "001090012345", "phone": "0912345678", "email": None,
    "province_code": "01", "ward_code": "00004", "street_address": "Số 1 Tràng Tiền",
    "travel_14d": False, "travel_places": None,
    "symptoms": ["fever", "cough", "shortness_of_breath", "pneumonia", "sore_throat", "fatigue"],
    "exposures": ["contact_confirmed_or_suspected", "contact_from_affected_country",
                  "contact_symptomatic_person"],
    "tracing_apps": ["bluezone"],
    "visitor_company": None, "host_name": None, "visit_purpose": None, "body_temperature_c": None,
    "declared_for_other": False,
    "consent_processing": True, "consent_sensitive_health": True,
}
FIELDS = sorted(set(DESIGN_EXAMPLE) | {"host_department", "visit_purpose_note", "conditions",
                                       "consent_text_version"})


def healthy(**changes):
    data = dict(DESIGN_EXAMPLE, symptoms=[], exposures=[])
    data.update(changes)
    return data


def validate(data, **options):
    return validate_declaration(data, now=NOW, consent_version=VERSION, **options)


def error_codes(result):
    return {field: problem.code for field, problem in result.errors.items()}


def test_the_design_example_is_valid_and_cleaned():
    result = validate(DESIGN_EXAMPLE)
    assert result.ok and result.errors == {} and result.warnings == {}
    d = result.declaration
    assert isinstance(d, CleanDeclaration)
    assert (d.full_name, d.name_folded) == ("Nguyễn Văn An", "nguyen van an")
    assert (d.id_number, d.id_type, d.phone_e164) == ("001090012345", "cccd", "+84912345678")
    assert (d.province_code, d.province_name) == ("01", "Thành phố Hà Nội")
    assert (d.ward_code, d.ward_name) == ("00004", "Phường Ba Đình")
    assert d.symptoms == tuple(DESIGN_EXAMPLE["symptoms"])
    assert d.exposures == tuple(DESIGN_EXAMPLE["exposures"])
    assert d.conditions is None
    assert (d.consent_processing, d.consent_sensitive_health) == (True, True)
    assert (d.consent_text_version, d.consent_at) == (VERSION, NOW)
    assert d.venue_code == "DEMO" and d.lang == "vi"


def test_empty_mapping_reports_every_required_field():
    assert error_codes(validate({})) == {
        "full_name": "name_required",
        "birth_year": "birth_year_required",
        "gender": "gender_required",
        "nationality": "nationality_required",
        "id_number": "id_required",
        "phone": "phone_required",
        "province_code": "province_required",
        "ward_code": "ward_required",
        "street_address": "address_required",
        "travel_14d": "travel_required",
        "consent_processing": "consent_required",
        "consent_sensitive_health": "consent_required",
    }


def test_venue_code_is_required_only_when_asked():
    data = healthy()
    del data["venue_code"]
    assert validate(data).ok
    assert error_codes(validate(data, require_venue=True)) == {"venue_code": "venue_code"}
    assert validate(healthy(venue_code=" demo ")).declaration.venue_code == "DEMO"
    assert error_codes(validate(healthy(venue_code="no such/venue"))) == {
        "venue_code": "venue_code"}


def test_a_form_submission_is_validated_like_json():
    form = MultiDict([
        ("csrf_token", "x"), ("lang", "en"), ("full_name", "  trần   thị  bình "),
        ("birth_year", "2001"), ("gender", "female"), ("nationality", "VN"),
        ("id_number", "079 301 000 001"), ("phone", "+84 912 345 678"), ("email", ""),
        ("province_code", "79"), ("ward_code", admin_ward("79")), ("street_address", "12 Lê Lợi"),
        ("travel_14d", "yes"), ("travel_places", "Đà Nẵng, Huế"),
        ("symptoms", "cough"), ("symptoms", "fever"), ("symptoms", "cough"),
        ("exposures", "contact_symptomatic_person"),
        ("visitor_company", ""), ("host_name", "Chị Lan"), ("host_department", "Kế toán"),
        ("visit_purpose", "meeting"), ("body_temperature_c", "37,5"),
        ("consent_processing", "on"), ("consent_sensitive_health", "on"),
        ("consent_text_version", VERSION),
    ])
    result = validate(form_to_mapping(form))
    assert result.errors == {}
    d = result.declaration
    assert d.full_name == "trần thị bình" and d.name_folded == "tran thi binh"
    assert (d.birth_year, d.gender, d.id_type, d.lang) == (2001, "female", "cccd", "en")
    assert d.travel_14d is True and d.travel_places == "Đà Nẵng, Huế"
    assert d.symptoms == ("fever", "cough")  # reference order, no duplicates
    assert d.exposures == ("contact_symptomatic_person",)
    assert d.body_temperature_c == 37.5
    assert (d.email, d.visitor_company, d.host_name) == (None, None, "Chị Lan")
    assert d.declared_for_other is False


def admin_ward(province_code):
    from core import admin_units

    return admin_units.wards_of(province_code)[0].code


def test_a_form_with_nothing_ticked_has_empty_lists():
    form = MultiDict({k: v for k, v in healthy().items()
                      if k not in ("symptoms", "exposures") and v is not None
                      and not isinstance(v, bool)})
    form.update({"travel_14d": "no", "consent_processing": "on",
                 "consent_sensitive_health": "on"})
    result = validate(form_to_mapping(form))
    assert result.ok, result.errors
    assert result.declaration.symptoms == () and result.declaration.exposures == ()


@pytest.mark.parametrize("field,value,code", [
    ("full_name", "A", "name_length"),
    ("full_name", "Nguyễn Văn 3", "name_chars"),
    ("full_name", 42, "name_required"),
    ("birth_year", 1899, "birth_year_min"),
    ("birth_year", 2027, "birth_year_future"),
    ("birth_year", "90", "birth_year_digits"),
    ("birth_year", 1990.0, "birth_year_digits"),
    ("birth_year", True, "birth_year_digits"),
    ("gender", "nam", "gender_required"),
    ("nationality", "Vietnam", "nationality_required"),
    ("nationality", "EU", "nationality_required"),
    ("id_number", "0010900123á5", "id_chars"),
    ("id_number", "003090012345", "cccd_province"),
    ("id_number", 1090012345, "id_chars"),
    ("phone", "0241234567", "phone_invalid"),
    ("phone", "09 12 34 56 7x", "phone_digits"),
    ("phone", 912345678, "phone_invalid"),
    ("email", "an@", "email"),
    ("email", "an@example", "email"),
    ("province_code", "02", "province_required"),
    ("province_code", 1, "province_required"),
    ("ward_code", "99999", "ward_required"),
    ("ward_code", "25747", "ward_not_in_province"),  # Thủ Dầu Một (Hồ Chí Minh) with Hà Nội
    ("street_address", "   ", "address_required"),
    ("street_address", "x" * 256, "too_long"),
    ("street_address", "Số 1\x00", "bad_characters"),
    ("street_address", "Số 1 \ud800", "bad_characters"),
    ("travel_14d", "maybe", "travel_required"),
    ("symptoms", ["fever", "headache"], "symptoms_invalid"),
    ("symptoms", {"fever": True}, "symptoms_invalid"),
    ("symptoms", [["fever"]], "symptoms_invalid"),
    ("exposures", ["contact"], "exposure"),
    ("exposures", 1, "exposure"),
    ("visitor_company", ["ACME"], "invalid"),
    ("host_name", "y" * 101, "too_long"),
    ("visit_purpose", "party", "visit_purpose"),
    ("visit_purpose", "other", "visit_purpose_note"),
    ("body_temperature_c", 33.9, "temperature"),
    ("body_temperature_c", 42.1, "temperature"),
    ("body_temperature_c", float("nan"), "temperature"),
    ("body_temperature_c", "37.5°", "temperature"),
    ("body_temperature_c", True, "temperature"),
    ("declared_for_other", "perhaps", "choose_yes_no"),
    ("lang", "fr", "lang"),
    ("consent_processing", False, "consent_required"),
    ("consent_processing", "off", "consent_required"),
    ("consent_sensitive_health", None, "consent_required"),
    ("consent_text_version", "2020.1-21d-00000000", "consent_changed"),
])
def test_one_bad_field_gives_exactly_its_error(field, value, code):
    result = validate(healthy(**{field: value}))
    target = {"consent_text_version": "consent_processing"}.get(field, field)
    if (field, value) == ("visit_purpose", "other"):
        target = "visit_purpose_note"
    assert error_codes(result) == {target: code}
    assert result.declaration is None


def test_travel_places_required_when_travelled_and_dropped_when_not():
    assert error_codes(validate(healthy(travel_14d=True))) == {
        "travel_places": "travel_places_required"}
    result = validate(healthy(travel_14d=False, travel_places="Paris"))
    assert result.ok and result.declaration.travel_places is None
    assert validate(healthy(travel_14d="true", travel_places=" Paris ")).declaration \
        .travel_places == "Paris"


def test_codes_may_omit_leading_zeros():
    d = validate(healthy(province_code="1", ward_code="4")).declaration
    assert (d.province_code, d.ward_code) == ("01", "00004")


def test_soft_warnings_keep_the_declaration():
    result = validate(healthy(birth_year=1991, phone="0801234567"))
    assert result.ok
    assert {k: p.code for k, p in result.warnings.items()} == {
        "id_number": "cccd_birth_year", "phone": "phone_unknown_prefix"}


def test_a_foreign_visitor():
    result = validate(healthy(nationality="us", id_number="123456789", phone="+1 415 555 2671",
                              email="ann@example.com"))
    d = result.declaration
    assert (d.nationality, d.id_type, d.phone_e164, d.email) == (
        "US", "passport_foreign", "+14155552671", "ann@example.com")


def test_a_dependant_needs_no_phone_or_id_number():
    data = healthy(full_name="Nguyễn Bé Na", birth_year=2019, gender="female",
                   declared_for_other=True)
    del data["phone"], data["id_number"]
    assert error_codes(validate(data)) == {"id_number": "id_required", "phone": "phone_required"}
    d = validate(data, dependant=True).declaration
    assert (d.phone_e164, d.id_number, d.id_type, d.declared_for_other) == (None, None, None, True)
    # Given anyway, they are still checked.
    assert error_codes(validate(healthy(phone="12"), dependant=True)) == {
        "phone": "phone_invalid"}


def test_other_purpose_keeps_its_note():
    d = validate(healthy(visit_purpose="other", visit_purpose_note=" Nộp hồ sơ ")).declaration
    assert (d.visit_purpose, d.visit_purpose_note) == ("other", "Nộp hồ sơ")
    d = validate(healthy(visit_purpose="delivery", visit_purpose_note="x")).declaration
    assert (d.visit_purpose, d.visit_purpose_note) == ("delivery", None)


def test_conditions_are_dropped_unless_the_setting_is_on():
    data = healthy(conditions=["diabetes", "hypertension"])
    assert validate(data).declaration.conditions is None
    d = validate(data, collect_conditions=True).declaration
    assert d.conditions == ("hypertension", "diabetes")
    assert validate(healthy(), collect_conditions=True).declaration.conditions == ()
    assert error_codes(validate(healthy(conditions=["flu"]), collect_conditions=True)) == {
        "conditions": "conditions_invalid"}


def test_consent_must_be_two_explicit_ticks():
    for value in (True, "on", "true", "1", "yes", 1):
        assert validate(healthy(consent_processing=value, consent_sensitive_health=value)).ok
    for value in (None, "", False, "off", 0, "no", "đồng ý", [True], {"a": 1}):
        result = validate(healthy(consent_processing=value))
        assert error_codes(result) == {"consent_processing": "consent_required"}, value


def test_a_non_object_body_is_one_error():
    for body in (None, [], [DESIGN_EXAMPLE], "x", 3):
        assert error_codes(validate(body)) == {"body": "body_not_object"}


@pytest.mark.parametrize("code,vi", [
    ("name_required", "Bạn chưa nhập họ tên"),
    ("id_required", "Bạn chưa nhập CMT, hộ chiếu"),
    ("id_chars", "Số hộ chiếu hoặc CMND chỉ được nhập chữ không dấu và số"),
    ("birth_year_required", "Bạn chưa nhập năm sinh"),
    ("birth_year_min", "Vui lòng nhập giá trị lớn hơn hoặc bằng năm 1900"),
    ("gender_required", "Bạn chưa chọn giới tính"),
    ("nationality_required", "Bạn chưa chọn quốc tịch"),
    ("province_required", "Bạn chưa chọn tỉnh, thành"),
    ("ward_required", "Bạn chưa chọn phường, xã"),
    ("address_required", "Bạn chưa nhập địa chỉ"),
    ("phone_required", "Bạn chưa nhập điện thoại"),
    ("phone_invalid", "Số điện thoại không hợp lệ"),
    ("phone_digits", "Số điện thoại chỉ được nhập giá trị là số"),
    ("email", "Email không đúng định dạng"),
    ("exposure", "Bạn chưa chọn lịch sử tiếp xúc"),
    ("travel_places_required", "Bạn chưa nhập những nơi đã đi qua trong vòng 14 ngày qua"),
])
def test_reference_messages_are_verbatim_in_vietnamese(render, code, vi):
    from declarations.messages import problem

    assert render(problem(code), "vi") == vi
    assert render(problem(code), "en") == str(MESSAGES[code])


def test_errors_render_in_both_languages_with_parameters(render):
    result = validate(healthy(birth_year=1991, street_address="x" * 300))
    assert render(result.errors["street_address"], "vi") == "Vui lòng nhập tối đa 255 ký tự"
    assert render(result.errors["street_address"], "en") == "Please enter at most 255 characters"
    warning = result.warnings["id_number"]
    assert render(warning, "vi") == "Vui lòng kiểm tra lại: số CCCD này ứng với năm sinh 1990"
    assert render(warning, "en") == (
        "Please check: this CCCD number belongs to someone born in 1990")


# --- Fuzzing ----------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=8,
)


def _check_result(result, render):
    assert (result.declaration is None) == bool(result.errors)
    assert set(result.errors) <= set(FIELDS) | {"body"}
    for problem in [*result.errors.values(), *result.warnings.values()]:
        assert render(problem, "vi") and render(problem, "en")


@settings(deadline=None, max_examples=300,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(FIELDS), json_values)
def test_any_json_value_in_any_field_gives_field_errors_not_exceptions(render, field, value):
    result = validate(healthy(**{field: value}), collect_conditions=True)
    _check_result(result, render)
    if not result.ok:
        assert set(result.errors) <= {field, "consent_processing", "travel_places",
                                      "visit_purpose_note", "id_number", "phone", "ward_code"}


@settings(deadline=None, max_examples=200,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=10), json_values, max_size=12),
       st.booleans(), st.booleans())
def test_arbitrary_mappings_never_raise(render, data, dependant, conditions):
    result = validate(data, dependant=dependant, collect_conditions=conditions)
    _check_result(result, render)


@settings(deadline=None, max_examples=100)
@given(st.text(max_size=300))
def test_valid_results_are_json_and_database_safe(name_suffix):
    result = validate(healthy(street_address="Số " + name_suffix))
    if result.ok:
        text = result.declaration.street_address
        text.encode("utf-8")  # no lone surrogates
        assert "\x00" not in text and len(text) <= 255
        json.dumps(result.declaration.__dict__, default=str)


def _each_answer_form(**answers):
    """The phone form as it posts now: every sign and contact its own Có / Không."""
    from declarations.questions import EXPOSURES, SYMPTOMS

    form = MultiDict({k: v for k, v in healthy().items()
                      if k not in ("symptoms", "exposures") and v is not None
                      and not isinstance(v, bool)})
    form.update({"travel_14d": "no", "consent_processing": "yes",
                 "consent_sensitive_health": "yes", "answer_each": "1"})
    for key in list(SYMPTOMS):
        form[f"symptoms.{key}"] = "no"
    for key in list(EXPOSURES):
        form[f"exposures.{key}"] = "no"
    for name, value in answers.items():
        if value is None:
            form.pop(name.replace("__", "."), None)
        else:
            form[name.replace("__", ".")] = value
    return form


def test_each_sign_and_contact_is_an_explicit_answer():
    result = validate(form_to_mapping(_each_answer_form(
        symptoms__cough="yes", exposures__contact_symptomatic_person="yes")))
    assert result.errors == {}
    assert result.declaration.symptoms == ("cough",)
    assert result.declaration.exposures == ("contact_symptomatic_person",)
    # One question skipped is an error on its list, not a silent No.
    result = validate(form_to_mapping(_each_answer_form(symptoms__fatigue=None)))
    assert error_codes(result) == {"symptoms": "answer_each"}
    result = validate(form_to_mapping(_each_answer_form(
        exposures__contact_from_affected_country=None)))
    assert error_codes(result) == {"exposures": "answer_each"}
    # Only yes/no answers and only known keys.
    assert error_codes(validate(form_to_mapping(_each_answer_form(symptoms__fever="maybe")))) \
        == {"symptoms": "symptoms_invalid"}
    form = _each_answer_form()
    form["symptoms.headache"] = "yes"  # not one of ours: ignored, as any unknown form field
    assert validate(form_to_mapping(form)).errors == {}


def test_the_api_keeps_its_lists_of_keys():
    # A JSON object per key is not the API's shape: only the pages' own form gives one.
    from declarations.questions import SYMPTOMS

    result = validate(healthy(symptoms={key: "no" for key in SYMPTOMS}))
    assert error_codes(result) == {"symptoms": "symptoms_invalid"}
    assert validate(healthy(symptoms=["fever"])).declaration.symptoms == ("fever",)
