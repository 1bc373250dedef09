"""The shipped admin-unit data: 34 provinces, 3,321 wards since 1 July 2025, GSO codes."""
from __future__ import annotations

import json
import unicodedata

from core import admin_units

# reference/declaration-form.md §6, in the order listed there (which is GSO code order).
PROVINCE_NAMES = [
    "Hà Nội", "Cao Bằng", "Tuyên Quang", "Điện Biên", "Lai Châu", "Sơn La", "Lào Cai",
    "Thái Nguyên", "Lạng Sơn", "Quảng Ninh", "Bắc Ninh", "Phú Thọ", "Hải Phòng", "Hưng Yên",
    "Ninh Bình", "Thanh Hóa", "Nghệ An", "Hà Tĩnh", "Quảng Trị", "Huế", "Đà Nẵng", "Quảng Ngãi",
    "Gia Lai", "Khánh Hòa", "Đắk Lắk", "Lâm Đồng", "Đồng Nai", "Hồ Chí Minh", "Tây Ninh",
    "Đồng Tháp", "Vĩnh Long", "An Giang", "Cần Thơ", "Cà Mau",
]


def test_34_provinces_in_code_order_matching_the_reference_list():
    provinces = admin_units.provinces()
    assert len(provinces) == 34
    assert [p.code for p in provinces] == sorted(p.code for p in provinces)
    for province, name in zip(provinces, PROVINCE_NAMES):
        assert province.name.endswith(name), (province.code, province.name, name)


def test_3321_wards_with_unique_five_digit_codes():
    all_wards = [w for p in admin_units.provinces() for w in admin_units.wards_of(p.code)]
    assert len(all_wards) == 3321 == admin_units.ward_count()
    codes = [w.code for w in all_wards]
    assert len(set(codes)) == len(codes)
    assert all(len(code) == 5 and code.isdigit() for code in codes)
    assert {w.type for w in all_wards} == {"phuong", "xa", "dac_khu"}


def test_known_ward_counts_and_types():
    assert len(admin_units.wards_of("01")) == 126  # Hà Nội
    assert len(admin_units.wards_of("79")) == 168  # TP Hồ Chí Minh
    assert len(admin_units.wards_of("46")) == 40   # Huế
    assert sum(len(admin_units.wards_of(p.code)) for p in admin_units.provinces()
               if p.type == "thanh_pho") == 126 + 114 + 40 + 94 + 168 + 103
    special = [w.name for w in admin_units.wards_of("79") if w.type == "dac_khu"]
    assert special == ["Đặc khu Côn Đảo"]


def test_lookups_by_code():
    hanoi = admin_units.province("01")
    assert hanoi.name == "Thành phố Hà Nội"
    assert hanoi.ascii_name == "Ha Noi"
    assert hanoi.label("vi") == "Thành phố Hà Nội"
    assert hanoi.label("en") == "Ha Noi City"
    assert admin_units.province("96").label("en") == "Ca Mau Province"
    ba_dinh = admin_units.ward("00004")  # the DESIGN.md example address
    assert (ba_dinh.name, ba_dinh.province_code, ba_dinh.type) == ("Phường Ba Đình", "01", "phuong")
    assert ba_dinh.label("en") == "Ba Dinh Ward"
    assert ba_dinh in admin_units.wards_of("01")


def test_unknown_codes_and_wrong_types_give_nothing():
    assert admin_units.province("02") is None  # Hà Giang merged into Tuyên Quang
    assert admin_units.province("1") is None
    assert admin_units.province(1) is None
    assert admin_units.ward("99999") is None
    assert admin_units.ward(None) is None
    assert admin_units.wards_of("02") == ()
    assert admin_units.wards_of(["01"]) == ()


def test_names_are_nfc_and_ascii_names_are_ascii():
    for province in admin_units.provinces():
        assert unicodedata.is_normalized("NFC", province.name)
        assert province.ascii_name.isascii()
        for ward in admin_units.wards_of(province.code):
            assert unicodedata.is_normalized("NFC", ward.name)
            assert ward.ascii_name.isascii() and ward.ascii_name


def test_data_file_is_compact_and_names_its_source():
    text = admin_units.DATA_PATH.read_text(encoding="utf-8")
    assert "\n" not in text.rstrip("\n") and ": " not in text
    assert len(text.encode()) < 200_000
    assert "vietnam-provinces" in json.loads(text)["source"]
    assert "vietnam-provinces" in admin_units.source()
