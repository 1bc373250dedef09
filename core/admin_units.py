"""Vietnam's administrative units since 1 July 2025 (34 provinces → wards, no district level), from
the project's own data file (core/data/admin_units.json, GSO codes). Loaded once."""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA_PATH = Path(__file__).with_name("data") / "admin_units.json"

# Unit types as stored in the data file, with their English words for English pages.
PROVINCE_TYPES_EN = {"tinh": "Province", "thanh_pho": "City"}
WARD_TYPES_EN = {"phuong": "Ward", "xa": "Commune", "dac_khu": "Special Zone"}


@dataclass(frozen=True)
class Province:
    code: str
    name: str
    ascii_name: str
    type: str

    def label(self, lang: str = "vi") -> str:
        """"Thành phố Hà Nội" in Vietnamese, "Ha Noi City" in English."""
        if lang == "vi":
            return self.name
        return f"{self.ascii_name} {PROVINCE_TYPES_EN[self.type]}"


@dataclass(frozen=True)
class Ward:
    code: str
    name: str
    ascii_name: str
    type: str
    province_code: str

    def label(self, lang: str = "vi") -> str:
        """"Phường Ba Đình" in Vietnamese, "Ba Dinh Ward" in English."""
        if lang == "vi":
            return self.name
        return f"{self.ascii_name} {WARD_TYPES_EN[self.type]}"


@dataclass(frozen=True)
class _Table:
    source: str
    provinces: tuple[Province, ...]
    province_by_code: dict[str, Province]
    wards_by_province: dict[str, tuple[Ward, ...]]
    ward_by_code: dict[str, Ward]


@cache
def _table() -> _Table:
    raw = json.loads(DATA_PATH.read_text(encoding="utf-8"))
    provinces = []
    wards_by_province: dict[str, tuple[Ward, ...]] = {}
    for item in raw["provinces"]:
        province = Province(item["code"], item["name"], item["ascii_name"], item["type"])
        provinces.append(province)
        wards_by_province[province.code] = tuple(
            Ward(code, name, ascii_name, kind, province.code)
            for code, name, kind, ascii_name in item["wards"]
        )
    return _Table(
        source=raw["source"],
        provinces=tuple(provinces),
        province_by_code={p.code: p for p in provinces},
        wards_by_province=wards_by_province,
        ward_by_code={w.code: w for ws in wards_by_province.values() for w in ws},
    )


def source() -> str:
    """Where the data came from (shown on the admin pages and in the API)."""
    return _table().source


def provinces() -> tuple[Province, ...]:
    """All 34 provinces in GSO code order."""
    return _table().provinces


def province(code: str) -> Province | None:
    return _table().province_by_code.get(code) if isinstance(code, str) else None


def wards_of(province_code: str) -> tuple[Ward, ...]:
    """The wards of one province in GSO code order; empty for an unknown province."""
    if not isinstance(province_code, str):
        return ()
    return _table().wards_by_province.get(province_code, ())


def ward(code: str) -> Ward | None:
    return _table().ward_by_code.get(code) if isinstance(code, str) else None


def ward_count() -> int:
    return len(_table().ward_by_code)
