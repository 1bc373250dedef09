"""Builds admin_units.json, the project's own list of Vietnam's 34 provinces and their wards
(two levels, in force since 1 July 2025), with the official GSO codes.

The facts come from the `vietnam-provinces` package on PyPI (GPL-3.0; we read its data as facts,
it is not a dependency of the kiosk). It was made once with:

    python3 -m venv /tmp/vp && /tmp/vp/bin/pip install vietnam-provinces==2025.10.1
    /tmp/vp/bin/python core/data/build_admin_units.py

which reads the package's `data/nested-divisions.json` (data retrieved 2025-10-18) and writes
core/data/admin_units.json next to this script. Rerun it the same way when the
government changes a unit; the tests pin 34 provinces and 3,321 wards.

Output shape (compact JSON):
    {"source": ..., "provinces": [
        {"code": "01", "name": "Thành phố Hà Nội", "ascii_name": "Ha Noi", "type": "thanh_pho",
         "wards": [["00004", "Phường Ba Đình", "phuong", "Ba Dinh"], ...]}, ...]}
Codes are GSO codes as zero-padded strings (2 digits for provinces, 5 for wards). `ascii_name` is
the unaccented short name from the source's `short_codename`, for English pages and search.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

PROVINCE_TYPES = {"tỉnh": "tinh", "thành phố trung ương": "thanh_pho"}
WARD_TYPES = {"phường": "phuong", "xã": "xa", "đặc khu": "dac_khu"}


def ascii_name(codename: str) -> str:
    return " ".join(part.capitalize() for part in codename.split("_"))


def convert(nested: list[dict], source: str) -> dict:
    provinces = []
    for province in sorted(nested, key=lambda p: p["code"]):
        wards = [
            [f"{w['code']:05d}", w["name"], WARD_TYPES[w["division_type"]],
             ascii_name(w["short_codename"])]
            for w in sorted(province["wards"], key=lambda w: w["code"])
        ]
        provinces.append({
            "code": f"{province['code']:02d}",
            "name": province["name"],
            "ascii_name": ascii_name(province["codename"]),
            "type": PROVINCE_TYPES[province["division_type"]],
            "wards": wards,
        })
    return {"source": source, "effective": "2025-07-01", "provinces": provinces}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("admin_units.json"))
    args = parser.parse_args(argv)
    import vietnam_provinces  # only present in the throwaway build venv

    source = (f"GSO codes via vietnam-provinces {vietnam_provinces.__version__} "
              f"(data {vietnam_provinces.__data_version__})")
    nested = json.loads(Path(vietnam_provinces.NESTED_DIVISIONS_JSON_PATH).read_text("utf-8"))
    data = convert(nested, source)
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    args.output.write_text(text + "\n", encoding="utf-8")
    wards = sum(len(p["wards"]) for p in data["provinces"])
    print(f"{args.output}: {len(data['provinces'])} provinces, {wards} wards", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
