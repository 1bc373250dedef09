"""ID numbers, phone numbers, names and countries (reference/declaration-form.md §4)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from declarations.identity import (
    CCCD_PROVINCE_CODES,
    IdType,
    check_id_number,
    check_name,
    check_phone,
    classify_id,
    clean_id_number,
    countries,
    country_codes,
    country_name,
    display_name,
    fold,
    format_phone,
    parse_cccd,
    phone_carrier,
)


def codes(check):
    return None if check.error is None else check.error.code


# --- ID numbers -----------------------------------------------------------------------------

def test_cccd_province_table_has_the_63_codes():
    assert len(CCCD_PROVINCE_CODES) == 63
    assert CCCD_PROVINCE_CODES["001"] == "Hà Nội"
    assert CCCD_PROVINCE_CODES["079"] == "Hồ Chí Minh"
    assert CCCD_PROVINCE_CODES["096"] == "Cà Mau"
    assert "003" not in CCCD_PROVINCE_CODES and "097" not in CCCD_PROVINCE_CODES


@pytest.mark.parametrize("number,nationality,expected", [
    ("001090012345", "VN", IdType.cccd),
    ("079301000001", "VN", IdType.cccd),
    ("123456789", "VN", IdType.cmnd),
    ("000000000", "VN", IdType.cmnd),  # shape only: §4.2 says so
    ("B1234567", "VN", IdType.passport_vn),
    ("C7654321", "VN", IdType.passport_vn),
    ("B1234567", "FR", IdType.passport_foreign),
    ("123456789", "US", IdType.passport_foreign),  # a US passport has 9 digits
    ("001090012345", "US", IdType.passport_foreign),
    ("003090012345", "VN", IdType.passport_foreign),  # §4.4: not a province → step 4
    ("X12345678", "VN", IdType.passport_foreign),
    ("AB-12", "VN", IdType.other),
    ("", "VN", IdType.other),
    ("Ö1234567", "DE", IdType.other),
])
def test_classification_follows_the_reference_order(number, nationality, expected):
    assert classify_id(number, nationality) is expected


def test_clean_id_number_uppercases_and_drops_spaces_and_hyphens():
    assert clean_id_number(" 001 090 012-345 ") == "001090012345"
    assert clean_id_number("b1234567") == "B1234567"
    assert clean_id_number("ab\t12 cd") == "AB12CD"


@pytest.mark.parametrize("number,year,gender", [
    ("001090012345", 1990, "male"),
    ("001190012345", 1990, "female"),
    ("079203000001", 2003, "male"),
    ("079305000001", 2005, "female"),
    ("048400000001", 2100, "male"),
    ("048599000001", 2199, "female"),
    ("096999000001", 2399, "female"),
    ("096899000001", 2399, "male"),
])
def test_parse_cccd_century_sex_digit(number, year, gender):
    info = parse_cccd(number)
    assert (info.birth_year, info.gender) == (year, gender)
    assert info.province_code == number[:3]


@pytest.mark.parametrize("number", ["00109001234", "0010900123456", "003090012345", "00109001234A",
                                    "００１０９００１２３４５"])
def test_parse_cccd_refuses_non_cccd(number):
    assert parse_cccd(number) is None


def test_cccd_consistent_with_birth_year_and_gender_has_no_warning():
    check = check_id_number("001090012345", nationality="VN", birth_year=1990, gender="male")
    assert (check.number, check.id_type, check.error, check.warnings) == (
        "001090012345", IdType.cccd, None, ())


def test_cccd_soft_checks_ask_to_check_birth_year_and_gender():
    check = check_id_number("001090012345", nationality="VN", birth_year=1991, gender="female")
    assert check.error is None
    assert [w.code for w in check.warnings] == ["cccd_birth_year", "cccd_gender_male"]
    assert dict(check.warnings[0].params) == {"year": 1990}
    check = check_id_number("001190012345", nationality="VN", birth_year=1990, gender="male")
    assert [w.code for w in check.warnings] == ["cccd_gender_female"]
    # "other" gender is never contradicted.
    assert check_id_number("001190012345", nationality="VN", birth_year=1990,
                           gender="other").warnings == ()


@pytest.mark.parametrize("raw,nationality,code", [
    ("", "VN", "id_required"),
    ("   ", "VN", "id_required"),
    ("0010900123á5", "VN", "id_chars"),
    ("001.090.012.345", "VN", "id_chars"),
    ("003090012345", "VN", "cccd_province"),
    ("1234567890", "VN", "id_vn_length"),
    ("12345", "VN", "id_vn_length"),
    ("AB12", "FR", "passport_length"),
    ("A" * 21, "FR", "passport_length"),
])
def test_id_hard_errors(raw, nationality, code):
    assert codes(check_id_number(raw, nationality=nationality)) == code


@pytest.mark.parametrize("raw,nationality,id_type", [
    ("123456789", "VN", IdType.cmnd),
    ("b 123 4567", "VN", IdType.passport_vn),
    ("X1234567Z", "VN", IdType.passport_foreign),  # dual nationals carry foreign passports
    ("1234567890", "US", IdType.passport_foreign),
    ("c01x00t47", "DE", IdType.passport_foreign),
])
def test_id_accepted(raw, nationality, id_type):
    check = check_id_number(raw, nationality=nationality)
    assert check.error is None and check.id_type is id_type


@settings(deadline=None)
@given(st.text(max_size=40), st.sampled_from(["VN", "US", "FR", None]),
       st.one_of(st.none(), st.integers(1900, 2030)), st.sampled_from([None, "male", "female"]))
def test_id_check_never_raises_and_accepted_numbers_are_clean(raw, nationality, year, gender):
    check = check_id_number(raw, nationality=nationality, birth_year=year, gender=gender)
    if check.error is None:
        assert check.number.isascii() and check.number.isalnum() and check.number.isupper() \
            or check.number.isdigit()
        assert check.id_type is not IdType.other


# --- Phones -----------------------------------------------------------------------------------

@pytest.mark.parametrize("raw,e164", [
    ("0912345678", "+84912345678"),
    ("0912 345 678", "+84912345678"),
    ("0912.345.678", "+84912345678"),
    ("(091) 234-5678", "+84912345678"),
    ("912345678", "+84912345678"),
    ("84912345678", "+84912345678"),
    ("+84912345678", "+84912345678"),
    ("+84 912 345 678", "+84912345678"),
    ("+840912345678", "+84912345678"),
    ("0084912345678", "+84912345678"),
    ("０９１２３４５６７８", "+84912345678"),  # full-width digits from some keyboards
    ("0845123456", "+84845123456"),  # VinaPhone 084: the leading 0 keeps "84" as a prefix
    ("845123456", "+84845123456"),
    ("0321234567", "+84321234567"),
    ("0551234567", "+84551234567"),  # Wintel: in use, in our known-prefix table
    ("0871234567", "+84871234567"),  # iTel
])
def test_vietnamese_mobiles_normalise_to_e164(raw, e164):
    check = check_phone(raw, nationality="VN")
    assert check.error is None, check.error
    assert check.e164 == e164
    assert check.warnings == ()


@pytest.mark.parametrize("raw,e164", [
    ("01623456789", "+84323456789"),   # Viettel 0162 → 032
    ("0120 345 6789", "+84703456789"),  # MobiFone 0120 → 070
    ("+84 1663456789", "+84363456789"),
    ("84 199 345 6789", "+84593456789"),  # Gmobile 0199 → 059
])
def test_old_eleven_digit_numbers_are_converted_with_a_note(raw, e164):
    check = check_phone(raw, nationality="VN")
    assert check.e164 == e164
    assert [w.code for w in check.warnings] == ["phone_converted"]


def test_unknown_prefix_is_a_soft_warning():
    check = check_phone("0801234567", nationality="VN")
    assert check.e164 == "+84801234567"
    assert [w.code for w in check.warnings] == ["phone_unknown_prefix"]
    assert dict(check.warnings[0].params) == {"prefix": "080"}
    assert check_phone("0951234567").warnings[0].code == "phone_unknown_prefix"


@pytest.mark.parametrize("raw,code", [
    ("", "phone_required"),
    ("  ", "phone_required"),
    ("09123abc78", "phone_digits"),
    ("0912-345-678 ext", "phone_digits"),
    ("091234567", "phone_invalid"),       # 9 digits with a 0: too short
    ("09123456789", "phone_invalid"),     # 11 digits, not an old prefix
    ("0241234567", "phone_invalid"),      # landline (hard check: mobiles only)
    ("0112345678", "phone_invalid"),
    ("+1 415 555 2671", "phone_vn_only"),  # a Vietnamese national with a foreign number
    ("+84", "phone_invalid"),
    ("0" * 40, "phone_invalid"),
])
def test_phone_hard_errors(raw, code):
    assert codes(check_phone(raw, nationality="VN")) == code


@pytest.mark.parametrize("raw,e164", [
    ("+1 415 555 2671", "+14155552671"),
    ("+33 6 12 34 56 78", "+33612345678"),
    ("0044 7700 900123", "+447700900123"),
    ("0912345678", "+84912345678"),  # a foreigner with a Vietnamese SIM
])
def test_foreigners_may_give_international_numbers(raw, e164):
    check = check_phone(raw, nationality="US")
    assert check.error is None and check.e164 == e164


@pytest.mark.parametrize("raw", ["+0123456789", "+12345", "+1234567890123456", "4155552671"])
def test_foreign_numbers_must_be_e164(raw):
    assert codes(check_phone(raw, nationality="US")) == "phone_invalid"


@settings(deadline=None)
@given(st.text(max_size=40), st.sampled_from(["VN", "US", None]))
def test_phone_check_never_raises_and_results_are_e164(raw, nationality):
    check = check_phone(raw, nationality=nationality)
    assert (check.e164 is None) == (check.error is not None)
    if check.e164:
        assert check.e164.startswith("+") and check.e164[1:].isdigit()
        assert 8 <= len(check.e164) <= 16


@settings(deadline=None)
@given(st.sampled_from(["3", "5", "7", "8", "9"]), st.text("0123456789", min_size=8, max_size=8),
       st.sampled_from(["0{}", "+84{}", "84{}", "{}", "0{} ", "+84 {}"]))
def test_every_spelling_of_a_mobile_gives_the_same_e164(first, rest, template):
    national = "0" + first + rest
    check = check_phone(template.format(national[1:]))
    assert check.e164 == "+84" + national[1:]
    assert check.error is None


def test_phone_display_and_carrier():
    assert format_phone("+84912345678") == "0912 345 678"
    assert format_phone("0912345678") == "0912 345 678"
    assert format_phone("+14155552671") == "+14155552671"
    assert phone_carrier("+84912345678") == "VinaPhone"
    assert phone_carrier("+84981234567") == "Viettel"
    assert phone_carrier("+84801234567") is None
    assert phone_carrier("+14155552671") is None


# --- Names ------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw,name", [
    ("Nguyễn Văn An", "Nguyễn Văn An"),
    ("  nguyễn   văn\tan  ", "nguyễn văn an"),
    ("Nguye\u0302\u0303n Va\u0306n An", "Nguyễn Văn An"),  # decomposed input → NFC
    ("O’Brien", "O'Brien"),   # iPhone smart apostrophe
    ("Jean-Luc Picard", "Jean-Luc Picard"),
    ("J. R. R. Tolkien", "J. R. R. Tolkien"),
    ("Đỗ Thị Hương", "Đỗ Thị Hương"),
    ("李小龍", "李小龍"),
    ("Ли", "Ли"),
])
def test_names_are_normalised(raw, name):
    check = check_name(raw)
    assert check.error is None
    assert check.name == name


@pytest.mark.parametrize("raw,code", [
    ("", "name_required"),
    ("   ", "name_required"),
    ("A", "name_length"),
    ("A" * 101, "name_length"),
    ("Nguyen Van 2", "name_chars"),
    ("Nguyễn_Văn", "name_chars"),
    ("Nguyen\x00Van", "name_chars"),
    ("<script>", "name_chars"),
    ("'-.", "name_chars"),
    ("Tom 😀", "name_chars"),
])
def test_bad_names(raw, code):
    assert codes(check_name(raw)) == code


def test_display_name_is_upper_case_with_diacritics():
    assert display_name("Nguyễn Văn Đức") == "NGUYỄN VĂN ĐỨC"
    assert display_name("đỗ thị ơn") == "ĐỖ THỊ ƠN"


@pytest.mark.parametrize("text,folded", [
    ("Nguyễn Văn An", "nguyen van an"),
    ("NGUYỄN VĂN AN", "nguyen van an"),
    ("Đỗ Đức Đạt", "do duc dat"),
    ("đường  Trần   Hưng Đạo", "duong tran hung dao"),
    ("Phường Ba Đình", "phuong ba dinh"),
    ("Nguye\u0302\u0303n", "nguyen"),
])
def test_fold_for_search(text, folded):
    assert fold(text) == folded


def test_folded_query_matches_folded_name():
    assert fold("nguyen van an") == fold("Nguyễn Văn An")
    assert fold("dang") == fold("Đặng") and fold("Dang") == fold("đặng")


@settings(deadline=None)
@given(st.text(max_size=60))
def test_name_and_fold_never_raise(raw):
    check = check_name(raw)
    if check.error is None:
        assert 2 <= len(check.name) <= 100 and check.name == check.name.strip()
        assert "  " not in check.name
    folded = fold(raw)
    assert folded == fold(folded)


# --- Countries --------------------------------------------------------------------------------

def test_countries_are_iso_codes_with_vietnamese_and_english_names():
    all_codes = country_codes()
    assert {"VN", "US", "FR", "CN", "KR", "JP", "LA", "KH", "XK"} <= all_codes
    assert not {"EU", "UN", "ZZ", "001", "QO"} & all_codes
    assert 245 <= len(all_codes) <= 252
    assert countries("vi")[0] == ("VN", "Việt Nam")
    assert countries("en")[0] == ("VN", "Vietnam")
    assert country_name("US", "vi") == "Hoa Kỳ"
    assert country_name("US", "en") == "United States"
    assert country_name("ZZ", "vi") == "ZZ"
    assert len(countries("vi")) == len(all_codes)
