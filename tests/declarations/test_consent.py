"""Consent texts: versioned, both languages, retention days filled in, current law cited."""
from __future__ import annotations

from declarations.consent import CONSENT_TEXT_VERSION, consent_texts, consent_version


def test_texts_cite_the_current_law_and_the_retention_period():
    vi = consent_texts("vi", retention_days=21, operator="Công ty ABC")
    en = consent_texts("en", retention_days=21, operator="ABC Company")
    assert "Công ty ABC" in vi.processing and "21 ngày" in vi.processing
    assert "91/2025/QH15" in vi.processing and "356/2025/NĐ-CP" in vi.processing
    assert "dữ liệu cá nhân nhạy cảm" in vi.processing
    assert "dữ liệu cá nhân nhạy cảm" in vi.sensitive_health
    assert "ABC Company" in en.processing and "21 days" in en.processing
    assert "91/2025/QH15" in en.processing and "356/2025/ND-CP" in en.processing
    assert "sensitive personal data" in en.sensitive_health
    assert "13/2023" not in vi.processing + en.processing  # superseded decree


def test_without_an_operator_name_a_neutral_one_is_used():
    assert "đơn vị quản lý tòa nhà" in consent_texts("vi", retention_days=21).processing
    assert "the building operator" in consent_texts("en", retention_days=21).processing
    assert "đơn vị quản lý tòa nhà" in consent_texts("xx", retention_days=21).processing


def test_version_names_the_template_and_changes_with_anything_the_visitor_reads():
    base = consent_version(retention_days=21)
    assert base.startswith(f"{CONSENT_TEXT_VERSION}-21d-") and len(base) <= 32
    assert consent_version(retention_days=21) == base
    assert consent_version(retention_days=28) != base
    assert consent_version(retention_days=21, operator="Công ty ABC") != base
    assert consent_texts("vi", retention_days=21).version == base
    assert consent_texts("en", retention_days=21).version == base
