"""The declaration's questions: field labels and the keys of every choice list, with labels.
English is the msgid, the Vietnamese (reference/declaration-form.md, verbatim where it gives one)
is in the package catalogue. Keys are what the API and the database store."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

# §3.1: the 2020 tokhaiyte symptom table.
SYMPTOMS = {
    "fever": _l("Fever"),
    "cough": _l("Cough"),
    "shortness_of_breath": _l("Difficulty breathing / shortness of breath"),
    "pneumonia": _l("Pneumonia"),
    "sore_throat": _l("Sore throat"),
    "fatigue": _l("Fatigue"),
}

# §3.2: contact in the last 14 days (tokhaiyte English wording).
EXPOSURES = {
    "contact_confirmed_or_suspected": _l("Sick or suspected person, infected with COVID-19"),
    "contact_from_affected_country": _l("People from countries with COVID-19 disease"),
    "contact_symptomatic_person": _l(
        "People with manifestations (fever, cough, shortness of breath, pneumonia)"
    ),
}

# §3.3: only offered when KIOSK_COLLECT_CONDITIONS is on, never exported.
CONDITIONS = {
    "chronic_liver_disease": _l("Chronic liver disease"),
    "chronic_blood_disease": _l("Chronic blood disorder"),
    "chronic_lung_disease": _l("Chronic lung disease"),
    "chronic_kidney_disease": _l("Chronic kidney disease"),
    "heart_disease": _l("Cardiovascular (heart) disease"),
    "hypertension": _l("High blood pressure"),
    "hiv_or_immunodeficiency": _l("HIV or weakened immune system"),
    "organ_or_marrow_transplant": _l("Organ or bone-marrow transplant recipient"),
    "diabetes": _l("Diabetes"),
    "cancer": _l("Cancer"),
    "pregnant": _l("Pregnant"),
}

GENDERS = {
    "male": _l("Male"),
    "female": _l("Female"),
    "other": _l("Other"),
}

# §2.E: why an office visitor came.
VISIT_PURPOSES = {
    "meeting": _l("Meeting"),
    "delivery": _l("Delivery"),
    "interview": _l("Interview"),
    "maintenance": _l("Maintenance"),
    "other": _l("Other purpose"),
}

# Contact-tracing and health apps a visitor may run (KIOSK_TRACING_APPS lists the keys asked
# about, in order); "none" is always offered and excludes the others. Product names are not
# translated.
TRACING_APP_LABELS = {
    "bluezone": "Bluezone",
    "pc_covid": "PC-Covid",
    "vneid": "VNeID",
    "sskdt": _l("Digital health book (Sổ sức khỏe điện tử)"),
    "ncovi": "NCOVI",
    "other": _l("Another contact-tracing or health app"),
}
NO_TRACING_APP = "none"
DEFAULT_TRACING_APPS = ("bluezone", "pc_covid", "vneid", "other")


def tracing_app_choices(keys=DEFAULT_TRACING_APPS) -> dict:
    """{key: label} for the configured apps, then "none"."""
    choices = {key: TRACING_APP_LABELS.get(key, key) for key in keys}
    choices[NO_TRACING_APP] = _l("I use none of these apps")
    return choices


LANGUAGES = {"vi": "Tiếng Việt", "en": "English"}

LABELS = {
    "lang": _l("Language"),
    "declared_for_other": _l("Declaring for someone else"),
    "personal_heading": _l("Personal information"),
    "full_name": _l("Full name (CAPITAL LETTERS)"),
    "birth_year": _l("Year of Birth"),
    "gender": _l("Gender"),
    "nationality": _l("Nationality"),
    "id_number": _l("Passport number / ID card"),
    "address_heading": _l("Contact address in Vietnam"),
    "province_code": _l("Province"),
    "ward_code": _l("Ward"),
    "street_address": _l("House no., street, residential group / hamlet"),
    "phone": _l("Phone"),
    "email": _l("Email"),
    "travel_14d": _l(
        "In the last 14 days, which regions/ countries/ territories have you traveled to "
        "(may travel across multiple places)"
    ),
    "travel_places": _l("Places you have been to"),
    "symptoms": _l("In the past 14 days, have you had any of the following signs?"),
    "exposures": _l("During the past 14 days, you were in contact with"),
    "conditions": _l("Do you currently have any of the following conditions?"),
    "tracing_apps": _l("Which contact-tracing or health apps do you have on your phone?"),
    "visit_heading": _l("Your visit"),
    "visitor_company": _l("Organisation / company"),
    "host_name": _l("Person to meet"),
    "host_department": _l("Department"),
    "visit_purpose": _l("Purpose of visit"),
    "visit_purpose_note": _l("Please describe"),
    "body_temperature_c": _l("Body temperature (°C)"),
    "consent_processing": _l("Consent to processing"),
    "consent_sensitive_health": _l("Sensitive health data"),
    "yes": _l("Yes"),
    "no": _l("No"),
    "choose": _l("Choose"),
}
