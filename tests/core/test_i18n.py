"""Every catalogue is complete: no empty Vietnamese string, placeholders kept."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOGS = sorted(ROOT.glob("*/translations/*/LC_MESSAGES/messages.po"))
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def test_there_is_a_vietnamese_catalogue():
    assert any(p.parts[-3] == "vi" for p in CATALOGS)


@pytest.mark.parametrize("path", CATALOGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_catalogue_complete_and_placeholders_match(path):
    with path.open("rb") as handle:
        catalog = read_po(handle)
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings), f"untranslated: {ids[0]!r}"
        assert not message.fuzzy, f"fuzzy: {ids[0]!r}"
        assert sorted(PLACEHOLDER.findall(ids[0])) == sorted(PLACEHOLDER.findall(strings[0])), ids[0]


PACKAGES = ("core", "visits", "notices", "declarations", "kiosk", "ble_beacon", "tracing", "sync")


def _source_messages(package: str) -> set[str]:
    from babel.messages.extract import extract_from_dir

    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None}
    found = set()
    roots = [ROOT / package, ROOT / "templates" / package]
    for root in roots:
        if not root.is_dir():
            continue
        method_map = [("**.py", "python"), ("**.html", "jinja2")]
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(root), method_map, keywords=keywords
        ):
            found.add(message if isinstance(message, str) else message[0])
    if package == "core":
        from babel.messages.extract import extract_from_file

        for _line, message, _comments, _context in extract_from_file(
            "jinja2", str(ROOT / "templates" / "base.html"), keywords=keywords
        ):
            found.add(message)
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_every_message_in_the_code_is_in_its_package_catalogue(package):
    messages = _source_messages(package)
    if not messages:
        pytest.skip(f"{package} has no user-facing messages yet")
    path = ROOT / package / "translations" / "vi" / "LC_MESSAGES" / "messages.po"
    assert path.exists(), f"{package} has messages but no Vietnamese catalogue: run make messages"
    with path.open("rb") as handle:
        catalog = read_po(handle)
    known = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}
    missing = sorted(messages - known)
    assert missing == [], f"not in {package}'s catalogue (run make messages, translate): {missing}"


def test_numbers_are_written_as_each_language_writes_them():
    from core.i18n import format_number

    assert format_number(38.2, lang="vi") == "38,2"
    assert format_number(38.2, lang="en") == "38.2"
    assert format_number(1234.56, lang="vi") == "1.234,6"
    assert format_number(12.25, 0, lang="vi") == "12"
    assert format_number(None) == ""


def test_one_word_for_the_kiosk_in_vietnamese():
    """"kiosk", never "ki-ốt": people read one word for one thing on every page and poster."""
    offenders = []
    for path in ROOT.glob("**/*"):
        if ".venv" in path.parts or ".git" in path.parts or not path.is_file():
            continue
        if path.suffix in (".po", ".py", ".html", ".js") and path.name != "test_i18n.py":
            if "ki-ốt" in path.read_text(encoding="utf-8", errors="ignore").casefold():
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
