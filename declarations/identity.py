"""Who the visitor is, as text: ID numbers (CCCD, CMND, passports), Vietnamese and international
phone numbers, personal names, countries. Pure functions; rules from reference/declaration-form.md
§4. Checks return `Problem` codes (hard = reject, soft = "please check") instead of raising."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache

from declarations.messages import Problem, problem


class IdType(StrEnum):
    cccd = "cccd"
    cmnd = "cmnd"
    passport_vn = "passport_vn"
    passport_foreign = "passport_foreign"
    other = "other"


# §4.1: first three digits of a CCCD = province where the birth was registered. The 2025 merger
# did not renumber cards, so this is the 63-province table.
CCCD_PROVINCE_CODES = {
    "001": "Hà Nội", "002": "Hà Giang", "004": "Cao Bằng", "006": "Bắc Kạn",
    "008": "Tuyên Quang", "010": "Lào Cai", "011": "Điện Biên", "012": "Lai Châu",
    "014": "Sơn La", "015": "Yên Bái", "017": "Hòa Bình", "019": "Thái Nguyên",
    "020": "Lạng Sơn", "022": "Quảng Ninh", "024": "Bắc Giang", "025": "Phú Thọ",
    "026": "Vĩnh Phúc", "027": "Bắc Ninh", "030": "Hải Dương", "031": "Hải Phòng",
    "033": "Hưng Yên", "034": "Thái Bình", "035": "Hà Nam", "036": "Nam Định",
    "037": "Ninh Bình", "038": "Thanh Hóa", "040": "Nghệ An", "042": "Hà Tĩnh",
    "044": "Quảng Bình", "045": "Quảng Trị", "046": "Thừa Thiên Huế", "048": "Đà Nẵng",
    "049": "Quảng Nam", "051": "Quảng Ngãi", "052": "Bình Định", "054": "Phú Yên",
    "056": "Khánh Hòa", "058": "Ninh Thuận", "060": "Bình Thuận", "062": "Kon Tum",
    "064": "Gia Lai", "066": "Đắk Lắk", "067": "Đắk Nông", "068": "Lâm Đồng",
    "070": "Bình Phước", "072": "Tây Ninh", "074": "Bình Dương", "075": "Đồng Nai",
    "077": "Bà Rịa–Vũng Tàu", "079": "Hồ Chí Minh", "080": "Long An", "082": "Tiền Giang",
    "083": "Bến Tre", "084": "Trà Vinh", "086": "Vĩnh Long", "087": "Đồng Tháp",
    "089": "An Giang", "091": "Kiên Giang", "092": "Cần Thơ", "093": "Hậu Giang",
    "094": "Sóc Trăng", "095": "Bạc Liêu", "096": "Cà Mau",
}

# ---------------------------------------------------------------------------------------------
# ID numbers

_ID_SEPARATORS = re.compile(r"[\s\-]+")
_ALNUM = re.compile(r"[A-Z0-9]+")
_PASSPORT_VN = re.compile(r"[A-Z]\d{7}")
_FOREIGN_PASSPORT_LENGTH = (5, 20)


def clean_id_number(raw: str) -> str:
    """Uppercase, without spaces and hyphens (how people copy numbers off a card)."""
    return _ID_SEPARATORS.sub("", unicodedata.normalize("NFC", raw)).upper()


def classify_id(number: str, nationality: str | None = "VN") -> IdType:
    """§4.4 order for a cleaned number. A foreign national holds no CCCD or CMND, so for them an
    all-digit number is a passport (US passports, for one, have 9 digits)."""
    vietnamese = nationality in (None, "VN")
    if not number.isascii() or not _ALNUM.fullmatch(number):
        return IdType.other
    if vietnamese and len(number) == 12 and number.isdigit() and number[:3] in CCCD_PROVINCE_CODES:
        return IdType.cccd
    if vietnamese and len(number) == 9 and number.isdigit():
        return IdType.cmnd
    if vietnamese and _PASSPORT_VN.fullmatch(number):
        return IdType.passport_vn
    return IdType.passport_foreign


@dataclass(frozen=True)
class CccdInfo:
    province_code: str
    province_name: str
    birth_year: int
    gender: str  # "male" / "female"


def parse_cccd(number: str) -> CccdInfo | None:
    """What a 12-digit personal identification number says; None if it is not one (§4.1)."""
    if len(number) != 12 or not number.isascii() or not number.isdigit():
        return None
    province_name = CCCD_PROVINCE_CODES.get(number[:3])
    if province_name is None:
        return None
    century_sex = int(number[3])
    birth_year = (19 + century_sex // 2) * 100 + int(number[4:6])
    return CccdInfo(number[:3], province_name, birth_year,
                    "male" if century_sex % 2 == 0 else "female")


@dataclass(frozen=True)
class IdCheck:
    number: str = ""
    id_type: IdType = IdType.other
    error: Problem | None = None
    warnings: tuple[Problem, ...] = field(default=())


def check_id_number(raw: str, *, nationality: str | None, birth_year: int | None = None,
                    gender: str | None = None) -> IdCheck:
    """Hard and soft checks of an ID number. Soft checks compare a CCCD with the birth year and
    gender the visitor typed: slips are common, so they only ask to check (§4.1)."""
    number = clean_id_number(raw)
    if not number:
        return IdCheck(error=problem("id_required"))
    if not number.isascii() or not _ALNUM.fullmatch(number):
        return IdCheck(number, error=problem("id_chars"))
    id_type = classify_id(number, nationality)
    vietnamese = nationality in (None, "VN")
    if vietnamese and number.isdigit():
        if len(number) == 12 and id_type is not IdType.cccd:
            return IdCheck(number, id_type, problem("cccd_province"))
        if len(number) not in (9, 12):
            return IdCheck(number, id_type, problem("id_vn_length"))
    if id_type is IdType.passport_foreign:
        low, high = _FOREIGN_PASSPORT_LENGTH
        if not low <= len(number) <= high:
            return IdCheck(number, id_type, problem("passport_length"))
    warnings: list[Problem] = []
    info = parse_cccd(number) if id_type is IdType.cccd else None
    if info is not None:
        if birth_year is not None and birth_year != info.birth_year:
            warnings.append(problem("cccd_birth_year", year=info.birth_year))
        if gender in ("male", "female") and gender != info.gender:
            warnings.append(problem(f"cccd_gender_{info.gender}"))
    return IdCheck(number, id_type, None, tuple(warnings))


# ---------------------------------------------------------------------------------------------
# Phone numbers (§4.5)

# 11-digit numbers were converted to 10 digits in 2018; people still type the old ones.
OLD_MOBILE_PREFIXES = {
    "0162": "032", "0163": "033", "0164": "034", "0165": "035", "0166": "036",
    "0167": "037", "0168": "038", "0169": "039",
    "0120": "070", "0121": "079", "0122": "077", "0126": "076", "0128": "078",
    "0123": "083", "0124": "084", "0125": "085", "0127": "081", "0129": "082",
    "0186": "056", "0188": "058",
    "0199": "059",
}
MOBILE_PREFIX_CARRIERS = {
    **{p: "Viettel" for p in ("032", "033", "034", "035", "036", "037", "038", "039",
                              "086", "096", "097", "098")},
    **{p: "VinaPhone" for p in ("081", "082", "083", "084", "085", "088", "091", "094")},
    **{p: "MobiFone" for p in ("070", "076", "077", "078", "079", "089", "090", "093")},
    **{p: "Vietnamobile" for p in ("052", "056", "058", "092")},
    **{p: "Gmobile" for p in ("059", "099")},
    "087": "iTel",
    "055": "Wintel",
}
_NATIONAL_MOBILE = re.compile(r"0[35789]\d{8}")
_E164 = re.compile(r"\+[1-9]\d{6,14}")
# Spaces, dots, dashes and brackets are how people group digits; anything else is a typo.
_PHONE_PUNCTUATION = re.compile(r"[\s.\-()/]+")
PHONE_MAX_INPUT = 32


@dataclass(frozen=True)
class PhoneCheck:
    e164: str | None = None
    error: Problem | None = None
    warnings: tuple[Problem, ...] = field(default=())


def check_phone(raw: str, *, nationality: str | None = "VN") -> PhoneCheck:
    """Normalise to E.164. Vietnamese mobiles: hard shape check, soft known-prefix check, old
    11-digit numbers converted. Foreign nationals may instead give any international number."""
    text = unicodedata.normalize("NFKC", raw).strip()
    if not text:
        return PhoneCheck(error=problem("phone_required"))
    if len(text) > PHONE_MAX_INPUT:
        return PhoneCheck(error=problem("phone_invalid"))
    compact = _PHONE_PUNCTUATION.sub("", text)
    if compact.startswith("00"):  # international dialling prefix, same as "+"
        compact = "+" + compact[2:]
    plus = compact.startswith("+")
    digits = compact[1:] if plus else compact
    if not digits.isascii() or not digits.isdigit():
        return PhoneCheck(error=problem("phone_digits"))
    if plus and not digits.startswith("84"):
        if nationality in (None, "VN"):
            return PhoneCheck(error=problem("phone_vn_only"))
        if not _E164.fullmatch(compact):
            return PhoneCheck(error=problem("phone_invalid"))
        return PhoneCheck(compact)
    national, warnings = _vietnamese_national(digits, international=plus)
    if national is None or not _NATIONAL_MOBILE.fullmatch(national):
        return PhoneCheck(error=problem("phone_invalid"))
    e164 = "+84" + national[1:]
    if national[:3] not in MOBILE_PREFIX_CARRIERS:
        warnings.append(problem("phone_unknown_prefix", prefix=national[:3]))
    return PhoneCheck(e164, None, tuple(warnings))


def _vietnamese_national(digits: str, *, international: bool) -> tuple[str | None, list[Problem]]:
    """Digits → "0xxxxxxxxx", or None. `84` is dropped only when it is the country code (an 11
    digit string, or after a "+"), so the bare national number 84x xxx xxx is not mangled."""
    warnings: list[Problem] = []
    if digits.startswith("84") and (international or len(digits) in (11, 12)):
        digits = digits[2:]
    elif international:
        return None, warnings
    if not digits.startswith("0") and len(digits) in (9, 10):
        digits = "0" + digits
    if len(digits) == 11 and digits[:4] in OLD_MOBILE_PREFIXES:
        digits = OLD_MOBILE_PREFIXES[digits[:4]] + digits[4:]
        warnings.append(problem("phone_converted", phone=format_phone(digits)))
    if len(digits) != 10:
        return None, warnings
    return digits, warnings


def phone_carrier(e164: str) -> str | None:
    if not e164.startswith("+84"):
        return None
    return MOBILE_PREFIX_CARRIERS.get("0" + e164[3:5])


def format_phone(number: str) -> str:
    """Display form: Vietnamese numbers in the national form "0912 345 678", others as E.164."""
    if number.startswith("+84"):
        number = "0" + number[3:]
    if len(number) == 10 and number.startswith("0") and number.isdigit():
        return f"{number[:4]} {number[4:7]} {number[7:]}"
    return number


# ---------------------------------------------------------------------------------------------
# Names and free text

NAME_MIN, NAME_MAX = 2, 100
_NAME_PUNCTUATION = {" ", "'", "-", "."}
# Phones' smart punctuation turns ' into ’; people mean the same apostrophe.
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'"})
_WHITESPACE = re.compile(r"\s+")


def normalise_text(raw: str) -> str:
    """NFC, trimmed, every run of whitespace as one space."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFC", raw)).strip()


@dataclass(frozen=True)
class NameCheck:
    name: str = ""
    error: Problem | None = None


def check_name(raw: str) -> NameCheck:
    """Letters (any script, with Vietnamese diacritics), spaces, ' - . only; 2-100 characters."""
    name = normalise_text(raw).translate(_APOSTROPHES)
    if not name:
        return NameCheck(error=problem("name_required"))
    for char in name:
        if char not in _NAME_PUNCTUATION and unicodedata.category(char)[0] not in "LM":
            return NameCheck(name, problem("name_chars"))
    if not any(unicodedata.category(char)[0] == "L" for char in name):
        return NameCheck(name, problem("name_chars"))
    if not NAME_MIN <= len(name) <= NAME_MAX:
        return NameCheck(name, problem("name_length"))
    return NameCheck(name)


def display_name(name: str) -> str:
    """Names are shown in capitals, as on the tokhaiyte form ("NGUYỄN VĂN AN")."""
    return name.upper()


_FOLD_EXTRA = str.maketrans({"đ": "d", "ð": "d", "ł": "l", "ø": "o"})


def fold(text: str) -> str:
    """Lower-case and without diacritics, for search: "Nguyễn Văn Đức" → "nguyen van duc". đ is a
    letter of its own in Unicode (not d + a mark), so it is mapped explicitly."""
    decomposed = unicodedata.normalize("NFD", text.casefold().translate(_FOLD_EXTRA))
    stripped = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return _WHITESPACE.sub(" ", stripped.casefold()).strip()


# ---------------------------------------------------------------------------------------------
# Countries (nationality)

# Babel's territory list has regions and codes ISO 3166-1 never assigned; these are not
# nationalities. XK (Kosovo) stays: its passports exist.
_NOT_COUNTRIES = {"AC", "CP", "CQ", "DG", "EA", "EU", "EZ", "IC", "QO", "TA", "UN", "XA", "XB",
                  "ZZ"}


@cache
def country_codes() -> frozenset[str]:
    from babel import Locale

    return frozenset(code for code in Locale("en").territories
                     if len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES)


@cache
def countries(lang: str = "vi") -> tuple[tuple[str, str], ...]:
    """(code, name) in the given language, Việt Nam first, then by name."""
    from babel import Locale

    names = Locale(lang if lang in ("vi", "en") else "vi").territories
    rest = sorted((c for c in country_codes() if c != "VN"), key=lambda c: fold(names[c]))
    return tuple((code, names[code]) for code in ["VN", *rest])


def country_name(code: str, lang: str = "vi") -> str:
    from babel import Locale

    if code not in country_codes():
        return code
    return Locale(lang if lang in ("vi", "en") else "vi").territories[code]
