"""The two consent statements a visitor ticks (reference §7.2-7.3), in Vietnamese and English.

They live here rather than in the translation catalogue on purpose: consent must be provable, so
the exact words are versioned with the code. Change a word → bump CONSENT_TEXT_VERSION. The
version stored with a declaration also carries the retention days and a digest of the rendered
texts, so a changed operator name or retention period is a different consent too."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

CONSENT_TEXT_VERSION = "2026.1"

DEFAULT_OPERATOR = {"vi": "đơn vị quản lý tòa nhà", "en": "the building operator"}

_PROCESSING = {
    "vi": (
        "Tôi đồng ý để {operator} thu thập và xử lý họ tên, số điện thoại, số giấy tờ tùy thân, "
        "địa chỉ liên lạc và các câu trả lời khai báo y tế của tôi chỉ nhằm mục đích phòng, chống "
        "dịch bệnh và quản lý ra vào tòa nhà. Tôi được biết thông tin về sức khỏe là dữ liệu cá "
        "nhân nhạy cảm. Dữ liệu được lưu {days} ngày rồi xóa; tôi có quyền xem, chỉnh sửa, rút lại "
        "sự đồng ý và yêu cầu xóa theo Luật Bảo vệ dữ liệu cá nhân số 91/2025/QH15 và Nghị định "
        "số 356/2025/NĐ-CP."
    ),
    "en": (
        "I agree that {operator} may collect and process my name, phone number, ID number, "
        "contact address and health-declaration answers solely for epidemic prevention and "
        "building-access management. I understand that health information is sensitive personal "
        "data. The data is kept for {days} days and then deleted; I may access, correct, withdraw "
        "consent and request deletion under Vietnam's Law on Personal Data Protection No. "
        "91/2025/QH15 and Decree No. 356/2025/ND-CP."
    ),
}

_SENSITIVE_HEALTH = {
    "vi": (
        "Tôi được biết thông tin sức khỏe (triệu chứng, lịch sử tiếp xúc, nhiệt độ cơ thể) là dữ "
        "liệu cá nhân nhạy cảm theo Luật Bảo vệ dữ liệu cá nhân số 91/2025/QH15 và Nghị định số "
        "356/2025/NĐ-CP, và tôi đồng ý để {operator} xử lý các thông tin này chỉ cho mục đích nêu "
        "trên."
    ),
    "en": (
        "I understand that my health information (symptoms, contact history, body temperature) is "
        "sensitive personal data under Law No. 91/2025/QH15 and Decree No. 356/2025/ND-CP, and I "
        "agree that {operator} may process it only for the purpose above."
    ),
}

# Not consent, a separate notice (tokhaiyte's red warning, reference §1).
FALSE_DECLARATION_WARNING = {
    "vi": "Khuyến cáo: Khai báo thông tin sai là vi phạm pháp luật Việt Nam và có thể xử lý "
          "hình sự",
    "en": "Warning: Declaring false information is a violation of Vietnamese law and may be "
          "subject to criminal handling",
}


@dataclass(frozen=True)
class ConsentTexts:
    version: str
    processing: str
    sensitive_health: str


def _operator(operator: str | None, lang: str) -> str:
    return operator.strip() if operator and operator.strip() else DEFAULT_OPERATOR[lang]


def consent_version(*, retention_days: int, operator: str | None = None) -> str:
    """E.g. "2026.1-21d-3f9a0c12": template version, retention days, digest of both languages'
    rendered texts (the version changes whenever any word the visitor read changes)."""
    digest = hashlib.sha256()
    for lang in ("vi", "en"):
        for template in (_PROCESSING, _SENSITIVE_HEALTH):
            text = template[lang].format(operator=_operator(operator, lang), days=retention_days)
            digest.update(text.encode("utf-8") + b"\0")
    return f"{CONSENT_TEXT_VERSION}-{retention_days}d-{digest.hexdigest()[:8]}"


def consent_texts(lang: str, *, retention_days: int, operator: str | None = None) -> ConsentTexts:
    """The two statements as shown next to the checkboxes, in `lang` ("vi" or "en")."""
    lang = lang if lang in ("vi", "en") else "vi"
    who = _operator(operator, lang)
    return ConsentTexts(
        version=consent_version(retention_days=retention_days, operator=operator),
        processing=_PROCESSING[lang].format(operator=who, days=retention_days),
        sensitive_health=_SENSITIVE_HEALTH[lang].format(operator=who, days=retention_days),
    )
